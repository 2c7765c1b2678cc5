//! The HTTP face of the API server: routing, authentication, health and version endpoints,
//! discovery, OpenAPI, and the one generic resource handler.

pub mod audit;
pub mod authz;
pub mod codec;
pub mod computed;
pub mod deadline;
pub mod discovery;
pub mod flow_control;
pub mod health;
pub mod issuer_discovery;
pub mod kubelet_client;
pub mod link_rewrite;
pub mod log_stream;
pub mod loopback;
pub mod metrics;
pub mod page_codec;
pub mod proxy;
pub mod request;
pub mod resources;
pub mod reverse_proxy;
pub mod serve;
pub mod watch;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ferrokube_auth::{Authenticator, UserInfo};
use serde_json::json;

use crate::registry::Registry;

/// Shared state of the HTTP layer.
pub struct AppState {
    /// The served kinds over the store.
    pub registry: Registry,
    /// Who is calling.
    pub authenticator: Authenticator,
    /// What they may do (RBAC over an index kept current from the store).
    pub authorizer: Arc<crate::rbac::Authorizer>,
    /// `host:port` clients reach us at (discovery's serverAddressByClientCIDRs).
    pub advertise_address: String,
    /// Request metrics served at `/metrics`.
    pub metrics: metrics::ApiMetrics,
    /// Priority and fairness: seats per priority level.
    pub flow_control: Arc<crate::flowcontrol::FlowControl>,
    /// The audit log, when `--audit-policy-file` and `--audit-log-path` are given.
    pub audit: Option<Arc<crate::audit::Auditor>>,
    /// How kubelets are dialed: their CA and our client certificate ([`kubelet_client`]).
    pub kubelet_tls: Arc<rustls::ClientConfig>,
    /// The longest a non-long-running request may take (`--request-timeout`).
    pub request_timeout: std::time::Duration,
    /// The remote group-versions of APIServices with a service, and how to reach them.
    pub aggregator: crate::aggregator::Aggregator,
}

/// Who a TLS connection's client certificate names (None: no certificate), resolved once
/// when the connection is accepted and attached to each of its requests.
#[derive(Clone, Default)]
pub struct PeerCertificates(
    pub Option<Arc<Result<Option<ferrokube_auth::UserInfo>, ferrokube_auth::AuthError>>>,
);

/// Builds the router.
pub fn router(state: Arc<AppState>) -> Router {
    // Every path is authenticated, authorized, counted, then given a seat by flow control
    // (the layer added last runs first).
    Router::new()
        .route("/healthz", get(health::all))
        .route("/livez", get(health::all))
        .route("/readyz", get(health::all))
        .route("/healthz/{check}", get(health::one))
        .route("/livez/{check}", get(health::one))
        .route("/readyz/{check}", get(health::one))
        .route("/version", get(version))
        .route("/metrics", get(metrics::serve))
        .route(
            ferrokube_auth::oidc_discovery::OPENID_CONFIGURATION_PATH,
            get(issuer_discovery::openid_configuration),
        )
        .route(
            ferrokube_auth::oidc_discovery::JWKS_PATH,
            get(issuer_discovery::key_set),
        )
        .route("/openapi/{*rest}", axum::routing::any(openapi))
        .route(
            crate::ha::members::MEMBERS_PATH,
            get(crate::ha::members::list),
        )
        .route(
            "/ferrokube/members/{id}",
            axum::routing::delete(crate::ha::members::remove),
        )
        .fallback(resources::handle)
        .with_state(state.clone())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            flow_control::dispatch,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::record,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            authz::authorize,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), audit::audit))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            deadline::enforce,
        ))
}

/// Paths a request without credentials may reach as `system:anonymous` (upstream's anonymous
/// authenticator limited to these paths, as its structured authentication configuration
/// allows); RBAC then decides: `system:public-info-viewer` grants the health and version
/// paths, and the issuer discovery documents answer 403 until an admin binds
/// `system:service-account-issuer-discovery` to `system:unauthenticated` (as upstream's docs
/// do for relying parties outside the cluster). Any other path without credentials is a 401.
const ANONYMOUS_PATHS: &[&str] = &[
    "/healthz",
    "/livez",
    "/readyz",
    "/version",
    "/.well-known/openid-configuration",
    "/openid/v1/jwks",
];

/// The OpenAPI router, built on first use: generating the documents costs time and memory a
/// server that no client asks for them need not spend at start-up. Rebuilt when the served
/// kinds change (CRDs).
async fn openapi(State(state): State<Arc<AppState>>, req: Request) -> Response {
    use tower::ServiceExt;
    let router = crate::openapi::router(&state.registry, &state.aggregator).await;
    // The outer `{*rest}` match left its path parameters in the extensions; the inner router
    // would append its own to them and its `Path` extractor would then see two.
    let (mut parts, body) = req.into_parts();
    parts.extensions = axum::http::Extensions::new();
    let req = Request::from_parts(parts, body);
    match router {
        Ok(router) => match router.clone().oneshot(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        },
        Err(e) => crate::status::ApiError::internal(format!("generating OpenAPI documents: {e}"))
            .into_response(),
    }
}

/// `/version`: we claim the Kubernetes version whose API we serve.
async fn version() -> Response {
    codec::json_value(
        StatusCode::OK,
        &json!({
            "major": "1",
            "minor": "33",
            "emulationMajor": "1",
            "emulationMinor": "33",
            "minCompatibilityMajor": "1",
            "minCompatibilityMinor": "32",
            "gitVersion": format!("v1.33.0-ferrokube.{}", env!("CARGO_PKG_VERSION")),
            "gitCommit": "",
            "gitTreeState": "clean",
            "buildDate": "1970-01-01T00:00:00Z",
            "goVersion": "rust",
            "compiler": "rustc",
            "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
        }),
    )
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Authenticates every API request by client certificate or bearer token; 401 otherwise.
async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let cert_user = req
        .extensions()
        .get::<PeerCertificates>()
        .and_then(|p| p.0.as_deref().cloned());
    let auth_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match authenticate_request(&state, cert_user, auth_header.as_deref()).await {
        Ok(user) => {
            if let Err(why) =
                crate::registry::bound_tokens::still_valid(&state.registry.store, &user).await
            {
                tracing::debug!(user = %user.name, %why, "refusing a revoked token");
                return unauthorized();
            }
            req.extensions_mut().insert::<UserInfo>(user);
            next.run(req).await
        }
        Err(ferrokube_auth::AuthError::NoCredentials)
            if ANONYMOUS_PATHS.contains(&req.uri().path()) =>
        {
            req.extensions_mut().insert(UserInfo::anonymous());
            next.run(req).await
        }
        Err(_) => unauthorized(),
    }
}

/// The whole authenticator chain: a client certificate first, then a bootstrap token (checked
/// against its Secret in the store), then the other bearer-token sources.
pub async fn authenticate_request(
    state: &AppState,
    cert_user: Option<Result<Option<UserInfo>, ferrokube_auth::AuthError>>,
    auth_header: Option<&str>,
) -> Result<UserInfo, ferrokube_auth::AuthError> {
    if !matches!(cert_user, Some(Ok(Some(_)))) {
        let store = &state.registry.store;
        if let Some(user) =
            crate::registry::bootstrap_tokens::authenticate(store, auth_header).await
        {
            return Ok(user);
        }
    }
    state
        .authenticator
        .authenticate_with(cert_user, auth_header)
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(ferrokube_auth::unauthorized_status()),
    )
        .into_response()
}
