//! The kubelet's serving certificate: issued by the cluster CA through a
//! CertificateSigningRequest (signer `kubernetes.io/kubelet-serving`), kept in the agent's data
//! dir, reused across restarts while it is valid and names the node's current addresses, and
//! renewed at 70–90% of its lifetime (upstream's certificate manager). Until the first
//! certificate arrives the server answers no TLS handshake, as upstream's kubelet with
//! `serverTLSBootstrap` does.

pub mod request;
pub mod store;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

pub use store::SubjectName;

/// The first wait after a failed request; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The serving identity currently in use; rustls asks it at every handshake, so a renewed
/// certificate applies to the next connection without restarting the listener.
#[derive(Debug, Default)]
pub struct CertSlot {
    current: RwLock<Option<Arc<CertifiedKey>>>,
}

impl CertSlot {
    fn set(&self, key: Arc<CertifiedKey>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(key);
    }

    /// Whether a certificate is installed.
    pub fn ready(&self) -> bool {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }
}

impl ResolvesServerCert for CertSlot {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// What the certificate is for.
#[derive(Debug, Clone)]
pub struct ServingCertConfig {
    /// The node name (CN `system:node:<name>`).
    pub node_name: String,
    /// The names it must cover (the node's addresses and hostname).
    pub names: Vec<SubjectName>,
    /// Where it is kept.
    pub path: PathBuf,
}

/// Installs a stored certificate when it is still usable, then keeps the slot filled: requests
/// a certificate when there is none, and renews it at its rotation deadline. Runs until
/// aborted.
pub async fn run(client: kube::Client, cfg: ServingCertConfig, slot: Arc<CertSlot>) {
    let mut current = store::load(&cfg.path).filter(|c| usable(c, &cfg.names));
    loop {
        if let Some(cert) = current.take() {
            match store::certified_key(&cert) {
                Ok(key) => {
                    slot.set(key);
                    let deadline = store::CertFacts::of_pem(&cert.cert_pem)
                        .map(|f| f.rotation_deadline(rand::random::<f64>()))
                        .unwrap_or_else(|_| store::now_secs());
                    tokio::time::sleep(store::until(deadline)).await;
                }
                Err(e) => tracing::warn!(error = %e, "serving certificate is unusable"),
            }
        }
        // The certificate in the slot (if any) keeps serving while we ask for the next one.
        current = Some(obtain_with_retries(&client, &cfg).await);
    }
}

/// Requests certificates until one is issued, backing off between failures; stores it.
async fn obtain_with_retries(client: &kube::Client, cfg: &ServingCertConfig) -> store::StoredCert {
    let mut backoff = FIRST_BACKOFF;
    loop {
        match request::obtain(client, &cfg.node_name, &cfg.names).await {
            Ok(cert) => {
                if let Err(e) = store::save(&cfg.path, &cert) {
                    let path = cfg.path.display();
                    tracing::warn!(error = %e, %path, "cannot store the serving certificate");
                }
                tracing::info!(node = %cfg.node_name, "kubelet serving certificate issued");
                return cert;
            }
            Err(e) => {
                tracing::warn!(error = %e, "no kubelet serving certificate yet; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

fn usable(cert: &store::StoredCert, names: &[SubjectName]) -> bool {
    store::CertFacts::of_pem(&cert.cert_pem).is_ok_and(|f| f.usable_for(names, store::now_secs()))
}

/// The names a node's serving certificate covers: its InternalIP, the address it listens on
/// when specific, and its hostname (the node name) when that is a DNS name.
pub fn names_for(
    node_name: &str,
    node_ip: std::net::IpAddr,
    listen: std::net::IpAddr,
) -> Vec<SubjectName> {
    let mut names = vec![SubjectName::Ip(node_ip)];
    if !listen.is_unspecified() && listen != node_ip {
        names.push(SubjectName::Ip(listen));
    }
    if is_dns_name(node_name) {
        names.push(SubjectName::Dns(node_name.to_string()));
    }
    names
}

fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests;
