//! The peer transport over HTTPS: every call is a `POST https://<addr>/peer/<route>` with a
//! postcard body, over HTTP/2 (one multiplexed connection per peer, negotiated by ALPN),
//! presenting this server's peer certificate and trusting only the cluster CA.

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
        // Every peer is a ferrokube server, whose listener speaks HTTP/2.
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            // Snapshot chunks are 1 MiB: let the flow-control window grow to them rather than
            // wait for a window update every 64 KiB.
            .http2_adaptive_window(true)
            // A peer that vanished without a FIN is found by pings, not by the next timeout.
            .http2_keep_alive_interval(Duration::from_secs(5))
            .http2_keep_alive_timeout(Duration::from_secs(5))
            .http2_keep_alive_while_idle(true)
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
