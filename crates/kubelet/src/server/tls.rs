//! The kubelet's HTTPS listener: the serving certificate from the [`CertSlot`], client
//! certificates requested and verified against the cluster CA (optional: bearer tokens must
//! still reach the authenticator), HTTP/1.1 with upgrades for the streaming protocols.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use rustls::pki_types::CertificateDer;
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::auth::PeerUser;
use crate::serving_cert::CertSlot;

/// How long a peer may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The rustls config: certificates from `slot`, client certificates verified against
/// `client_ca` (DER) when given (upstream's `--client-ca-file`; without it none are asked
/// for).
pub fn server_config(
    slot: Arc<CertSlot>,
    client_ca: &[Vec<u8>],
) -> Result<Arc<rustls::ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if client_ca.is_empty() {
        builder.with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for der in client_ca {
            roots
                .add(CertificateDer::from(der.clone()))
                .map_err(|e| format!("client CA: {e}"))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .allow_unauthenticated()
            .build()
            .map_err(|e| format!("client CA: {e}"))?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut config = builder.with_cert_resolver(slot);
    // Upgrades (exec, attach, port-forward) need HTTP/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts connections until the task is aborted; each is served on its own task.
pub async fn serve_tls(listener: TcpListener, tls: Arc<rustls::ServerConfig>, app: Router) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %e, "kubelet server cannot accept");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_connection(acceptor, tcp, app).await {
                tracing::debug!(%peer, "kubelet connection ended: {e}");
            }
        });
    }
}

async fn serve_connection(
    acceptor: TlsAcceptor,
    tcp: tokio::net::TcpStream,
    app: Router,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await??;
    let peer_user = PeerUser(
        stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(user_of_certificate),
    );
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(peer_user.clone());
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
    hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await?;
    Ok(())
}

/// The user a verified client certificate names (CN user, O groups).
fn user_of_certificate(leaf: &CertificateDer<'_>) -> Result<ferrokube_auth::UserInfo, String> {
    match ferrokube_auth::client_cert_user(leaf) {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err("client certificate names no user".into()),
        Err(e) => Err(e.to_string()),
    }
}
