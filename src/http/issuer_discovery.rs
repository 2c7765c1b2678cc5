//! Service-account issuer discovery: the OpenID configuration and key set of the token issuer,
//! served like upstream's `ServiceAccountIssuerDiscovery` handlers (non-resource URLs, granted
//! by RBAC's `system:service-account-issuer-discovery` to every service account).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::AppState;
use crate::status::ApiError;

/// Upstream lets caches keep both documents for an hour: keys rotate far slower than that.
const CACHE_CONTROL: &str = "public, max-age=3600";

/// `GET /.well-known/openid-configuration`.
pub async fn openid_configuration(State(state): State<Arc<AppState>>) -> Response {
    match state.authenticator.service_account_tokens() {
        Some(tokens) => document(&tokens.openid_configuration(), "application/json"),
        None => ApiError::not_found_path().into_response(),
    }
}

/// `GET /openid/v1/jwks`.
pub async fn key_set(State(state): State<Arc<AppState>>) -> Response {
    match state.authenticator.service_account_tokens() {
        Some(tokens) => document(&tokens.key_set(), "application/jwk-set+json"),
        None => ApiError::not_found_path().into_response(),
    }
}

fn document(value: &Value, content_type: &'static str) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut resp = (StatusCode::OK, body).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    resp
}
