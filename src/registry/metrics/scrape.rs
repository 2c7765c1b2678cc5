//! One scrape of one kubelet's `/metrics/resource` over the API server's verified kubelet TLS
//! (the same client certificate logs and exec use, authorized for `nodes/metrics`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::header::HOST;
use hyper::Request;

use super::parse::{decode, NodeScrape};

/// How long one kubelet may take to answer (metrics-server's default scrape timeout is 10 s;
/// a read waits for it, so ours is shorter).
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(3);

/// The largest answer read (a node with hundreds of pods stays far below it).
const MAX_BODY: usize = 8 << 20;

/// Scrapes the kubelet at `addr` (`host:port`).
pub async fn scrape(config: Arc<rustls::ClientConfig>, addr: String) -> Result<NodeScrape, String> {
    tokio::time::timeout(SCRAPE_TIMEOUT, fetch(config, &addr))
        .await
        .map_err(|_| format!("scraping {addr}: timed out"))?
        .map_err(|e| format!("scraping {addr}: {e}"))
}

async fn fetch(config: Arc<rustls::ClientConfig>, addr: &str) -> Result<NodeScrape, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let tls = crate::http::kubelet_client::handshake(config, tcp, addr)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(tls)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = Request::get("/metrics/resource")
        .header(HOST, addr)
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("kubelet answered {}", resp.status()));
    }
    let body = Limited::new(resp.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(decode(&String::from_utf8_lossy(&body)))
}
