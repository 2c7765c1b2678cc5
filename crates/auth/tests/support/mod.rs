//! A minimal HTTPS endpoint for tests: terminates TLS with the PKI's serving config, runs the
//! crate's [`Authenticator`] on each request and answers `/version` (200) or a 401 Status.

use std::net::SocketAddr;
use std::sync::Arc;

use ferrokube_auth::{unauthorized_status, Authenticator, UserInfo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

/// What the endpoint decided for one request.
pub type Outcome = Result<UserInfo, ferrokube_auth::AuthError>;

/// Starts the endpoint on a free loopback port; each request's authentication outcome is sent
/// on the returned channel.
pub async fn serve(
    tls: Arc<rustls::ServerConfig>,
    authenticator: Authenticator,
) -> (SocketAddr, mpsc::UnboundedReceiver<Outcome>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    let acceptor = TlsAcceptor::from(tls);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let authenticator = authenticator.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let Ok(mut stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let Some(head) = read_head(&mut stream).await else {
                    return;
                };
                let authorization = head
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .find(|(name, _)| name.trim().eq_ignore_ascii_case("authorization"))
                    .map(|(_, value)| value.trim().to_string());
                let peer = stream.get_ref().1.peer_certificates().map(<[_]>::to_vec);
                let outcome = authenticator.authenticate(peer.as_deref(), authorization.as_deref());
                let (status, body) = match &outcome {
                    Ok(_) => ("200 OK", version_body()),
                    Err(_) => ("401 Unauthorized", unauthorized_status().to_string()),
                };
                let _ = tx.send(outcome);
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, rx)
}

async fn read_head<S: AsyncReadExt + Unpin>(stream: &mut S) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(buf).ok()
}

fn version_body() -> String {
    serde_json::json!({
        "major": "1", "minor": "33", "gitVersion": "v1.33.0", "gitCommit": "0",
        "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24",
        "compiler": "gc", "platform": "linux/amd64"
    })
    .to_string()
}

/// The serving config restricted to HTTP/1.1, since this endpoint does not speak HTTP/2.
pub fn http11_only(tls: &Arc<rustls::ServerConfig>) -> Arc<rustls::ServerConfig> {
    let mut config = (**tls).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}
