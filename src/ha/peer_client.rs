//! The peer transport over HTTPS: every call is a `POST https://<addr>/peer/<route>` with a
//! postcard body, on pooled HTTP/1.1 connections, presenting this server's peer certificate
//! and trusting only the cluster CA.

use std::time::Duration;

use ferrokube_auth::pki_types::CertificateDer;
use ferrokube_auth::IssuedCertificate;
use ferrokube_store::{PeerTransport, TransportError};

/// How long connecting (TCP + TLS) to a peer may take; a dead peer must not hold up raft.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// [`PeerTransport`] over reqwest with mutual TLS.
pub struct PeerClient {
    http: reqwest::Client,
}

impl PeerClient {
    /// A client trusting `ca` and presenting `identity` (the peer certificate).
    pub fn new(ca: &CertificateDer<'static>, identity: &IssuedCertificate) -> anyhow::Result<Self> {
        let mut tls = (*ferrokube_auth::client_config(ca, Some(identity))?).clone();
        // reqwest is built here without HTTP/2: offer only what it speaks.
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(PeerClient { http })
    }
}

impl PeerTransport for PeerClient {
    fn call(
        &self,
        addr: &str,
        route: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> ferrokube_store::raft::transport::BoxFuture<Result<Vec<u8>, TransportError>> {
        let request = self
            .http
            .post(format!("https://{addr}/peer/{route}"))
            .timeout(timeout)
            .header("content-type", "application/octet-stream")
            .body(body);
        Box::pin(async move {
            let resp = request.send().await.map_err(classify)?;
            let status = resp.status();
            let bytes = resp.bytes().await.map_err(classify)?;
            if !status.is_success() {
                let text = String::from_utf8_lossy(&bytes);
                return Err(TransportError::Refused(format!("{status}: {text}")));
            }
            Ok(bytes.to_vec())
        })
    }
}

/// Connection failures mean "not delivered"; anything later may have been delivered.
fn classify(e: reqwest::Error) -> TransportError {
    if e.is_connect() {
        TransportError::Unreachable(format!("{e:#}"))
    } else {
        TransportError::NoAnswer(format!("{e:#}"))
    }
}
