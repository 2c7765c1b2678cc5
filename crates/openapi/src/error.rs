//! Errors of generating, loading and serializing documents.

use std::path::PathBuf;

/// What can go wrong building or loading OpenAPI documents.
#[derive(Debug, thiserror::Error)]
pub enum OpenApiError {
    /// A committed document could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file or directory being read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A committed document is not valid JSON.
    #[error("parsing {what}: {source}")]
    Parse {
        /// Which document.
        what: String,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// A document's top level is not a JSON object.
    #[error("document {0} is not a JSON object")]
    NotAnObject(String),
    /// A kind's schema function returned an inline schema instead of a `$ref` to a definition.
    #[error("schema of {0} is not a reference to a named definition")]
    NotAReference(String),
    /// A document could not be serialized.
    #[error("serializing a document: {0}")]
    Serialize(serde_json::Error),
}
