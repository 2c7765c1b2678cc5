//! Request authentication the way kube-apiserver chains it: x509 client certificate first, then
//! bearer tokens (static token file, pluggable authenticators such as future
//! service-account JWTs); every success gains `system:authenticated`; a presented-but-invalid
//! credential is a 401 even when anonymous requests are allowed.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

use crate::certs;
use crate::error::{AuthError, PkiError};
use crate::pki::Pki;
use crate::service_account::ServiceAccountTokens;
use crate::tokenfile::StaticTokens;

/// Group every authenticated user belongs to.
pub const ALL_AUTHENTICATED: &str = "system:authenticated";
/// Group of anonymous requests.
pub const ALL_UNAUTHENTICATED: &str = "system:unauthenticated";
/// User name of anonymous requests.
pub const ANONYMOUS_USER: &str = "system:anonymous";
/// `extra` key upstream uses to identify the credential behind a request (audit logs).
pub const CREDENTIAL_ID_KEY: &str = "authentication.kubernetes.io/credential-id";

/// Who a request is from (upstream `user.Info`; serializes like `authentication.k8s.io/v1`
/// `UserInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserInfo {
    /// User name.
    #[serde(rename = "username")]
    pub name: String,
    /// Unique, stable id of the user, empty when the credential carries none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Group memberships.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Additional attributes (e.g. the credential id).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// The identity of a request that carried no credentials.
    pub fn anonymous() -> UserInfo {
        UserInfo {
            name: ANONYMOUS_USER.into(),
            groups: vec![ALL_UNAUTHENTICATED.into()],
            ..UserInfo::default()
        }
    }
}

/// A source of bearer-token identities (static tokens, bootstrap token, service-account JWTs).
pub trait TokenAuthenticator: Send + Sync {
    /// `Ok(Some)` when the token is recognised, `Ok(None)` when it is not this authenticator's,
    /// `Err` when it is recognisably this kind of token but invalid (expired, bad signature...).
    fn authenticate_token(&self, token: &str) -> Result<Option<UserInfo>, AuthError>;
}

/// The request authenticator: client certificates, then bearer tokens, then (optionally)
/// anonymous.
#[derive(Clone, Default)]
pub struct Authenticator {
    token_authenticators: Vec<Arc<dyn TokenAuthenticator>>,
    service_accounts: Option<Arc<ServiceAccountTokens>>,
    allow_anonymous: bool,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("token_authenticators", &self.token_authenticators.len())
            .field("allow_anonymous", &self.allow_anonymous)
            .finish()
    }
}

impl Authenticator {
    /// An authenticator accepting only client certificates; add token sources with
    /// [`Authenticator::with_token_authenticator`].
    pub fn new() -> Authenticator {
        Authenticator::default()
    }

    /// The standard chain for a cluster: client certificates, service-account JWTs, and
    /// `<data_dir>/tokens.csv` when that file exists. Anonymous requests are rejected.
    /// Bootstrap tokens live in Secrets: the server checks them against the store
    /// ([`crate::bootstrap_token`]) before this chain.
    pub fn from_pki(pki: &Pki) -> Result<Authenticator, PkiError> {
        let mut auth = Authenticator::new()
            .with_service_account_tokens(Arc::new(ServiceAccountTokens::from_pki(pki)?));
        let token_file = pki.token_file_path();
        if token_file.exists() {
            auth = auth.with_token_authenticator(Arc::new(StaticTokens::from_file(&token_file)?));
        }
        Ok(auth)
    }

    /// Appends a bearer-token source; sources are tried in the order added. This is the hook
    /// for service-account JWTs.
    pub fn with_token_authenticator(
        mut self,
        source: Arc<dyn TokenAuthenticator>,
    ) -> Authenticator {
        self.token_authenticators.push(source);
        self
    }

    /// Accepts service-account JWTs and keeps their issuer for the TokenRequest endpoint.
    pub fn with_service_account_tokens(
        mut self,
        tokens: Arc<ServiceAccountTokens>,
    ) -> Authenticator {
        self.service_accounts = Some(tokens.clone());
        self.with_token_authenticator(tokens)
    }

    /// The service-account token issuer, when this authenticator accepts such tokens.
    pub fn service_account_tokens(&self) -> Option<&Arc<ServiceAccountTokens>> {
        self.service_accounts.as_ref()
    }

    /// Whether requests without any credentials become `system:anonymous` (upstream's
    /// `--anonymous-auth`, on by default there) instead of failing.
    pub fn with_anonymous(mut self, allow: bool) -> Authenticator {
        self.allow_anonymous = allow;
        self
    }

    /// Authenticates one request from the TLS peer chain (already verified by rustls against
    /// the CA; leaf first) and the `Authorization` header value.
    pub fn authenticate(
        &self,
        peer_certs: Option<&[CertificateDer<'_>]>,
        authorization_header: Option<&str>,
    ) -> Result<UserInfo, AuthError> {
        let cert_user = peer_certs
            .and_then(|chain| chain.first())
            .map(client_cert_user);
        self.authenticate_with(cert_user, authorization_header)
    }

    /// [`Authenticator::authenticate`] with the leaf certificate already resolved by
    /// [`client_cert_user`] (a connection's certificate is the same for all its requests).
    pub fn authenticate_with(
        &self,
        cert_user: Option<Result<Option<UserInfo>, AuthError>>,
        authorization_header: Option<&str>,
    ) -> Result<UserInfo, AuthError> {
        // Upstream's union authenticator: the first success wins; errors are remembered and
        // only reported when nothing succeeded.
        let mut first_error = None;
        match cert_user {
            Some(Ok(Some(user))) => return Ok(add_authenticated_group(user)),
            Some(Err(e)) => first_error = Some(e),
            Some(Ok(None)) | None => {}
        }
        if let Some(token) = authorization_header.and_then(bearer_token) {
            match self.authenticate_token(token) {
                Ok(user) => return Ok(add_authenticated_group(user)),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        // kube-apiserver wraps the chain in a fail-on-error union before anonymous: a bad
        // credential is never downgraded to an anonymous request.
        match first_error {
            Some(e) => Err(e),
            None if self.allow_anonymous => Ok(UserInfo::anonymous()),
            None => Err(AuthError::NoCredentials),
        }
    }

    fn authenticate_token(&self, token: &str) -> Result<UserInfo, AuthError> {
        let mut first_error = None;
        for source in &self.token_authenticators {
            match source.authenticate_token(token) {
                Ok(Some(user)) => return Ok(user),
                Ok(None) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or(AuthError::InvalidBearerToken))
    }
}

/// Extracts the token from `Bearer <token>` exactly as upstream's bearertoken authenticator:
/// scheme case-insensitive, single-space separated, empty tokens ignored; other schemes are
/// "no credential", not an error.
pub fn bearer_token(header: &str) -> Option<&str> {
    let mut parts = header.trim().split(' ');
    let scheme = parts.next()?;
    let token = parts.next()?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// CN → user name, O → groups, SHA-256 of the certificate → credential id (upstream
/// `CommonNameUserConversion`). A certificate without CN identifies nobody.
pub fn client_cert_user(leaf: &CertificateDer<'_>) -> Result<Option<UserInfo>, AuthError> {
    let cert = certs::parse_der(leaf).map_err(AuthError::InvalidClientCertificate)?;
    let subject = cert.subject();
    let name = match subject.iter_common_name().next() {
        Some(cn) => cn
            .as_str()
            .map_err(|e| AuthError::InvalidClientCertificate(format!("common name: {e}")))?,
        None => return Ok(None),
    };
    if name.is_empty() {
        return Ok(None);
    }
    let groups = subject
        .iter_organization()
        .map(|o| {
            o.as_str()
                .map(str::to_string)
                .map_err(|e| AuthError::InvalidClientCertificate(format!("organization: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut extra = BTreeMap::new();
    extra.insert(
        CREDENTIAL_ID_KEY.to_string(),
        vec![format!("X509SHA256={}", certs::sha256_hex(leaf))],
    );
    Ok(Some(UserInfo {
        name: name.to_string(),
        uid: String::new(),
        groups,
        extra,
    }))
}

/// Upstream's AuthenticatedGroupAdder: append `system:authenticated` unless already present
/// (or the user is anonymous).
fn add_authenticated_group(mut user: UserInfo) -> UserInfo {
    let already = user.name == ANONYMOUS_USER
        || user
            .groups
            .iter()
            .any(|g| g == ALL_AUTHENTICATED || g == ALL_UNAUTHENTICATED);
    if !already {
        user.groups.push(ALL_AUTHENTICATED.to_string());
    }
    user
}

/// The `Status` body kube-apiserver sends with a 401.
pub fn unauthorized_status() -> serde_json::Value {
    serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401
    })
}

#[cfg(test)]
#[path = "authn_tests.rs"]
mod tests;
