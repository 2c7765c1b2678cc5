//! Error type shared by the kubelet's layers.

use std::time::Duration;

/// Everything that can go wrong inside the node agent.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    /// The container engine rejected or failed a request.
    #[error("container runtime: {0}")]
    Runtime(String),
    /// The requested container, exec session or image does not exist in the engine.
    #[error("not found: {0}")]
    NotFound(String),
    /// The image is absent and pulling is forbidden (policy Never or `--no-image-pull`).
    #[error("{0}")]
    ImageNeverPull(String),
    /// Pulling the image failed.
    #[error("failed to pull image: {0}")]
    ImagePull(String),
    /// A call to the Kubernetes API failed.
    #[error("kubernetes api: {0}")]
    Api(#[from] kube::Error),
    /// Local file system work (volumes, data dir) failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A pod spec could not be turned into containers (bad reference, missing key, ...).
    #[error("invalid pod spec: {0}")]
    InvalidSpec(String),
    /// An operation did not finish in time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// A streaming peer sent bytes that do not follow the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl From<bollard::errors::Error> for KubeletError {
    fn from(e: bollard::errors::Error) -> Self {
        match &e {
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                message,
            } => KubeletError::NotFound(message.clone()),
            _ => KubeletError::Runtime(e.to_string()),
        }
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = KubeletError> = std::result::Result<T, E>;
