//! Authentication and authorization of every request to the kubelet, as upstream's kubelet
//! does with `--anonymous-auth=false`, `--client-ca-file`, webhook token authentication and
//! webhook authorization:
//!
//! 1. who: a client certificate verified against the cluster CA during the TLS handshake
//!    (CN user, O groups), else a bearer token the API server vouches for in a TokenReview;
//!    neither is `401 Unauthorized`;
//! 2. may they: a SubjectAccessReview for `nodes/<subresource>` of this node (see
//!    [`attributes`]); a refusal is upstream's `403 Forbidden (user=…)`.
//!
//! Answers are cached as upstream's defaults: tokens 2 minutes, allowed decisions 5 minutes,
//! denied ones 30 seconds.

pub mod attributes;
pub mod cache;
pub mod reviews;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ferrokube_auth::UserInfo;
use sha2::Digest;

use attributes::RequestAttributes;
use cache::TtlCache;
pub use reviews::Reviewer;

/// How long review answers are reused (upstream's kubelet defaults).
#[derive(Debug, Clone, Copy)]
pub struct CacheTtls {
    /// `authentication.webhook.cacheTTL` (2m).
    pub token: Duration,
    /// `authorization.webhook.cacheAuthorizedTTL` (5m).
    pub authorized: Duration,
    /// `authorization.webhook.cacheUnauthorizedTTL` (30s).
    pub unauthorized: Duration,
}

impl Default for CacheTtls {
    fn default() -> Self {
        CacheTtls {
            token: Duration::from_secs(120),
            authorized: Duration::from_secs(300),
            unauthorized: Duration::from_secs(30),
        }
    }
}

/// The identity the peer's client certificate names (rustls verified the chain against the
/// cluster CA), attached by the TLS layer to every request of the connection. `None`: no
/// certificate; `Some(Err)`: a certificate that names nobody usable.
#[derive(Debug, Clone, Default)]
pub struct PeerUser(pub Option<Result<UserInfo, String>>);

/// The kubelet's authenticator and authorizer for one node.
pub struct KubeletAuth {
    node_name: String,
    reviewer: Arc<dyn Reviewer>,
    ttls: CacheTtls,
    tokens: TtlCache<[u8; 32], Option<UserInfo>>,
    decisions: TtlCache<String, bool>,
}

impl KubeletAuth {
    /// Decisions for `node_name` through `reviewer`.
    pub fn new(node_name: impl Into<String>, reviewer: Arc<dyn Reviewer>, ttls: CacheTtls) -> Self {
        KubeletAuth {
            node_name: node_name.into(),
            reviewer,
            ttls,
            tokens: TtlCache::default(),
            decisions: TtlCache::default(),
        }
    }

    /// Who the request is from; None when nobody (a 401).
    pub async fn authenticate(
        &self,
        peer: &PeerUser,
        authorization: Option<&str>,
    ) -> Option<UserInfo> {
        match &peer.0 {
            Some(Ok(user)) => return Some(with_authenticated_group(user.clone())),
            Some(Err(e)) => {
                tracing::debug!(error = %e, "unusable client certificate");
                return None;
            }
            None => {}
        }
        let token = authorization.and_then(ferrokube_auth::bearer_token)?;
        let key: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        if let Some(known) = self.tokens.get(&key) {
            return known;
        }
        match self.reviewer.review_token(token).await {
            Ok(user) => {
                let user = user.map(with_authenticated_group);
                self.tokens.insert(key, user.clone(), self.ttls.token);
                user
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot review a bearer token");
                None
            }
        }
    }

    /// Whether `user` may make a request with `attrs`: any allowed subresource suffices.
    /// `Err` names the subresource whose review failed.
    pub async fn authorize(
        &self,
        user: &UserInfo,
        attrs: &RequestAttributes,
    ) -> Result<bool, (String, String)> {
        for sub in &attrs.subresources {
            let key = serde_json::json!([user, attrs.verb, sub, attrs.node]).to_string();
            let allowed = match self.decisions.get(&key) {
                Some(known) => known,
                None => {
                    let allowed = self
                        .reviewer
                        .review_access(user, &attrs.verb, sub, &attrs.node)
                        .await
                        .map_err(|e| (sub.to_string(), e))?;
                    let ttl = if allowed {
                        self.ttls.authorized
                    } else {
                        self.ttls.unauthorized
                    };
                    self.decisions.insert(key, allowed, ttl);
                    allowed
                }
            };
            if allowed {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The node whose kubelet this guards.
    pub fn node_name(&self) -> &str {
        &self.node_name
    }
}

/// Upstream's AuthenticatedGroupAdder: every authenticated user is in `system:authenticated`.
fn with_authenticated_group(mut user: UserInfo) -> UserInfo {
    if !user
        .groups
        .iter()
        .any(|g| g == ferrokube_auth::ALL_AUTHENTICATED)
    {
        user.groups
            .push(ferrokube_auth::ALL_AUTHENTICATED.to_string());
    }
    user
}

/// Upstream's `http.Error`: a plain-text body with a trailing newline.
fn plain(code: StatusCode, msg: &str) -> Response {
    (
        code,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        format!("{msg}\n"),
    )
        .into_response()
}

/// The middleware in front of every kubelet route.
pub async fn guard(State(auth): State<Arc<KubeletAuth>>, req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<PeerUser>()
        .cloned()
        .unwrap_or_default();
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(user) = auth.authenticate(&peer, authorization).await else {
        return plain(StatusCode::UNAUTHORIZED, "Unauthorized");
    };
    let attrs = attributes::of_request(req.method().as_str(), req.uri().path(), auth.node_name());
    match auth.authorize(&user, &attrs).await {
        Ok(true) => next.run(req).await,
        Ok(false) => {
            let msg = attributes::forbidden_message(&user.name, &attrs);
            tracing::debug!("{msg}");
            plain(StatusCode::FORBIDDEN, &msg)
        }
        Err((sub, e)) => {
            let msg = attributes::authorization_error_message(&user.name, &attrs, &sub);
            tracing::warn!(error = %e, "{msg}");
            plain(StatusCode::INTERNAL_SERVER_ERROR, &msg)
        }
    }
}

#[cfg(test)]
mod tests;
