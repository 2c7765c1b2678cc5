//! The peer listener: `POST /peer/<route>` for servers of this cluster (mutual TLS with a
//! peer certificate issued by the cluster CA — anything else is 403), and `POST /join` for a
//! server that holds the join token but no certificate yet.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use ferrokube_auth::{ClusterSecrets, UserInfo, PEER_GROUP, PEER_USER_PREFIX};
use ferrokube_store::Store;

use crate::http::PeerCertificates;

/// Largest request body: an AppendEntries batch or one snapshot chunk (1 MiB) fits easily.
const MAX_BODY: usize = 256 << 20;

/// What the peer routes need.
pub struct PeerState {
    /// The local store (raft lives there).
    pub store: Store,
    /// What a joining server receives.
    pub secrets: ClusterSecrets,
}

/// Serves the peer listener until it fails.
pub fn spawn(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: Arc<PeerState>,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    let app = Router::new()
        .route("/peer/{*route}", post(peer_call))
        .route("/join", post(crate::ha::join::serve_join))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state);
    tokio::spawn(crate::http::serve::serve_tls(listener, tls, app))
}

/// Whether the connection presented a peer certificate of this cluster (rustls already
/// verified the chain against the cluster CA).
fn is_peer(certs: Option<&PeerCertificates>) -> bool {
    let user: Option<&UserInfo> = certs
        .and_then(|c| c.0.as_deref())
        .and_then(|r| r.as_ref().ok())
        .and_then(|u| u.as_ref());
    user.is_some_and(|u| {
        u.name.starts_with(PEER_USER_PREFIX) && u.groups.iter().any(|g| g == PEER_GROUP)
    })
}

async fn peer_call(
    State(state): State<Arc<PeerState>>,
    Path(route): Path<String>,
    certs: Option<Extension<PeerCertificates>>,
    body: Bytes,
) -> Response {
    if !is_peer(certs.as_ref().map(|Extension(c)| c)) {
        return (
            StatusCode::FORBIDDEN,
            "the peer port requires a peer certificate of this cluster\n",
        )
            .into_response();
    }
    match state.store.serve_peer(&route, &body).await {
        Ok(bytes) => (StatusCode::OK, bytes).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    }
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The address peers dial: the listen address, with an unspecified IP replaced by loopback.
pub fn advertised(listen: SocketAddr) -> SocketAddr {
    if listen.ip().is_unspecified() {
        SocketAddr::new([127, 0, 0, 1].into(), listen.port())
    } else {
        listen
    }
}
