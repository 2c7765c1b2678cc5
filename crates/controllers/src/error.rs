//! The crate's error type.

use ferrokube_apimachinery::labels::LabelError;

/// Errors raised by controllers, the scheduler and hollow nodes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("API request failed: {0}")]
    Kube(#[from] kube::Error),
    /// A label selector in an object could not be converted.
    #[error("invalid label selector: {0}")]
    Selector(#[from] LabelError),
    /// An object could not be (de)serialized.
    #[error("serialization failed: {0}")]
    Json(#[from] serde_json::Error),
    /// A required field of an object was absent.
    #[error("object is missing {0}")]
    Missing(&'static str),
    /// A CronJob schedule did not parse.
    #[error("unparseable schedule {schedule:?}: {reason}")]
    Schedule {
        /// The schedule text.
        schedule: String,
        /// Why it did not parse.
        reason: String,
    },
    /// A value in an object was out of range or malformed.
    #[error("invalid value: {0}")]
    Invalid(String),
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True when the API answered 404 Not Found (the object is already gone).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Kube(kube::Error::Api(s)) if s.code == 404)
    }

    /// True when the API answered 409 Conflict / AlreadyExists.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Kube(kube::Error::Api(s)) if s.code == 409)
    }
}

/// True when a kube error is a 404 from the API server.
pub fn kube_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// True when a kube error is a 409 from the API server.
pub fn kube_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}
