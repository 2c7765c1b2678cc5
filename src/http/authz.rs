//! The filters between authentication and the handlers, in upstream's order: impersonation
//! (which is itself authorized), then authorization of the request's attributes. A refused
//! request is answered here, before any handler has read its body: nothing is written.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ferrokube_auth::rbac::impersonation::{self, ImpersonationError};
use ferrokube_auth::rbac::{forbidden_status_because, RequestInfo};
use ferrokube_auth::UserInfo;

use super::AppState;

/// The identity a request was authenticated as, before impersonation (what upstream's audit
/// log calls `impersonatedUser`'s counterpart); the request's [`UserInfo`] extension is whom it
/// acts as.
#[derive(Clone, Debug)]
pub struct Requester(pub UserInfo);

/// Authorizes every authenticated request; 403 with upstream's Status otherwise.
pub async fn authorize(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(requester) = req.extensions().get::<UserInfo>().cloned() else {
        return forbidden(&RequestInfo::non_resource("get", req.uri().path()), "", "");
    };
    let headers = impersonation_headers(&req);
    let user = match impersonate(&state, &requester, headers).await {
        Ok(Some(user)) => {
            req.extensions_mut().insert(Requester(requester));
            req.extensions_mut().insert(user.clone());
            user
        }
        Ok(None) => requester,
        Err(resp) => return resp,
    };
    let info =
        RequestInfo::from_request(req.method().as_str(), req.uri().path(), req.uri().query());
    let (decision, reason) = state
        .authorizer
        .authorize_explained(&state.registry.store, &user, &info)
        .await;
    if !decision.is_allowed() {
        return forbidden(&info, &user.name, &reason);
    }
    // NodeRestriction's checks that the request line decides (before any body is read).
    let registry = &state.registry;
    let restricted =
        crate::registry::admission::node_restriction::check_request(registry, &user, &info);
    if let Err(e) = restricted.await {
        return e.into_response();
    }
    next.run(req).await
}

/// The `Impersonate-*` headers as (lower-case name, value) pairs.
fn impersonation_headers(req: &Request) -> Vec<(String, String)> {
    req.headers()
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("impersonate-"))
        .filter_map(|(name, value)| {
            Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
        })
        .collect()
}

fn forbidden(info: &RequestInfo, user: &str, reason: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        axum::Json(forbidden_status_because(user, info, reason)),
    )
        .into_response()
}

/// Upstream's impersonation filter: `Impersonate-*` headers name whom the request acts as,
/// each part checked with the `impersonate` verb for the requester.
async fn impersonate(
    state: &AppState,
    requester: &UserInfo,
    headers: Vec<(String, String)>,
) -> Result<Option<UserInfo>, Response> {
    if headers.is_empty() {
        return Ok(None);
    }
    let policy = state.authorizer.policy();
    let mut result = impersonation::impersonate(&policy, requester, &headers);
    // A denial may come from an index one write behind (see `rbac::cache`).
    if matches!(result, Err(ImpersonationError::Forbidden(_)))
        && state
            .authorizer
            .catch_up(state.registry.store.current_revision())
            .await
    {
        result = impersonation::impersonate(&state.authorizer.policy(), requester, &headers);
    }
    match result {
        Ok(user) => Ok(user),
        Err(ImpersonationError::Forbidden(status)) => {
            Err((StatusCode::FORBIDDEN, axum::Json(status)).into_response())
        }
        Err(ImpersonationError::Malformed(message)) => {
            Err(crate::status::ApiError::internal(message).into_response())
        }
    }
}
