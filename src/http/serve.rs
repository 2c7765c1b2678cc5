//! Serving the router over TLS: accept, handshake, attach the user the peer's client
//! certificate names to every request of the connection, and serve HTTP/1.1 or HTTP/2 (with
//! upgrades for streaming).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tower_http::normalize_path::NormalizePath;

use super::PeerCertificates;

/// How long a client may take to finish the TLS handshake (upstream's 10 s), and to send a
/// request's headers: a slow client cannot hold a connection (and its task) open forever.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Accepts connections until the listener fails; each connection is served on its own task.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (tcp, peer) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            if let Err(err) = serve_connection(acceptor, tcp, peer, app).await {
                tracing::debug!(%peer, "connection ended: {err}");
            }
        });
    }
}

async fn serve_connection(
    acceptor: TlsAcceptor,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await??;
    // rustls verified the chain against the CA; only the leaf names the user.
    let cert_user = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| Arc::new(ferrokube_auth::client_cert_user(leaf)));
    let peer_certs = PeerCertificates(cert_user);
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(peer_certs.clone());
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            // Upstream's router ignores a trailing slash (`/version/`, `/api/`, `/apis/apps/`):
            // clients such as kr8s send it. The proxy subresources pass it on, so the request
            // as sent stays available to them.
            let original = axum::extract::OriginalUri(req.uri().clone());
            req.extensions_mut().insert(original);
            NormalizePath::trim_trailing_slash(app.clone()).oneshot(req.map(axum::body::Body::new))
        });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT);
    builder
        .serve_connection_with_upgrades(TokioIo::new(stream), service)
        .await
}
