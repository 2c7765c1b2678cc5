//! Error types: [`PkiError`] for setting things up (files, certificates, TLS, kubeconfig, token
//! files) and [`AuthError`] for rejecting one request's credentials.

use std::path::PathBuf;

/// Failure while creating or loading key material, building TLS configs or writing kubeconfigs.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Reading or writing a file under the data directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A PEM file exists but does not hold what it should.
    #[error("{path}: {reason}")]
    InvalidPem {
        /// The offending file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// Only half of the CA (certificate or key) is on disk; refusing to silently mint a new CA.
    #[error("incomplete CA: {present} exists but {missing} is missing")]
    IncompleteCa {
        /// The file that exists.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },
    /// A requested subject alternative name is neither an IP address nor a valid DNS name.
    #[error("invalid subject alternative name {0:?}")]
    InvalidSan(String),
    /// A server URL could not be understood.
    #[error("invalid server URL {0:?}")]
    InvalidServerUrl(String),
    /// Certificate generation or signing failed.
    #[error("certificate generation: {0}")]
    Certificate(#[from] rcgen::Error),
    /// rustls rejected the certificate/key material.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built.
    #[error("client certificate verifier: {0}")]
    ClientVerifier(#[from] rustls::server::VerifierBuilderError),
    /// Serializing the kubeconfig failed.
    #[error("kubeconfig: {0}")]
    Kubeconfig(#[from] serde_yaml_ng::Error),
    /// The bootstrap/join token file does not hold a well-formed token.
    #[error("{path}: malformed bootstrap token (expected [a-z0-9]{{6}}.[a-z0-9]{{16}})")]
    MalformedBootstrapToken {
        /// The token file.
        path: PathBuf,
    },
    /// A static token file (kube-apiserver `--token-auth-file` format) is malformed.
    #[error("token file '{path}': {reason}")]
    TokenFile {
        /// The token file.
        path: PathBuf,
        /// What was wrong (record number and problem).
        reason: String,
    },
}

impl PkiError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PkiError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Why a request's credentials were rejected; every variant answers HTTP 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credentials were presented and anonymous requests are disabled.
    #[error("Unauthorized")]
    NoCredentials,
    /// A bearer token was presented but no token authenticator recognised it.
    #[error("invalid bearer token")]
    InvalidBearerToken,
    /// The verified client certificate could not be parsed.
    #[error("x509: {0}")]
    InvalidClientCertificate(String),
    /// A pluggable token authenticator (e.g. service-account JWTs) rejected the token.
    #[error("{0}")]
    TokenRejected(String),
}
