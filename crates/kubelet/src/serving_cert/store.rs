//! The serving certificate on disk (`<data-dir>/pki/kubelet-server-current.pem`, certificate
//! then key, as upstream's `kubelet-server-current.pem`), and what we need to know about one
//! to reuse it: its lifetime and the names it covers.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

/// A name the serving certificate must cover.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SubjectName {
    /// A DNS name (the node's hostname).
    Dns(String),
    /// An IP address (the node's InternalIP, the listen address).
    Ip(IpAddr),
}

/// A certificate with its key, both PEM.
#[derive(Clone)]
pub struct StoredCert {
    /// The certificate (leaf first).
    pub cert_pem: String,
    /// The PKCS#8 private key.
    pub key_pem: String,
}

impl std::fmt::Debug for StoredCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a private key into a log.
        f.debug_struct("StoredCert").finish_non_exhaustive()
    }
}

/// Validity and names of a certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct CertFacts {
    /// `notBefore` (seconds since the epoch).
    pub not_before: i64,
    /// `notAfter` (seconds since the epoch).
    pub not_after: i64,
    /// Its subject alternative names.
    pub names: Vec<SubjectName>,
}

impl CertFacts {
    /// Parses the leaf of a PEM document.
    pub fn of_pem(pem: &str) -> Result<CertFacts, String> {
        let der = CertificateDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| format!("no certificate: {e}"))?;
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der)
            .map_err(|e| format!("unparseable certificate: {e}"))?;
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => names.push(SubjectName::Dns(d.to_string())),
                    GeneralName::IPAddress(b) => {
                        if let Some(ip) = ip_from_bytes(b) {
                            names.push(SubjectName::Ip(ip));
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(CertFacts {
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            names,
        })
    }

    /// Whether the certificate is still valid at `now` and names everything in `wanted`.
    pub fn usable_for(&self, wanted: &[SubjectName], now: i64) -> bool {
        now < self.not_after && wanted.iter().all(|w| self.names.contains(w))
    }

    /// Upstream's rotation deadline: a random point between 70% and 90% of the lifetime, so
    /// that many nodes issued at once do not all renew at once.
    pub fn rotation_deadline(&self, jitter: f64) -> i64 {
        let total = (self.not_after - self.not_before).max(0) as f64;
        self.not_before + (total * (0.7 + 0.2 * jitter.clamp(0.0, 1.0))).round() as i64
    }
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
        _ => None,
    }
}

/// Seconds since the epoch.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// How long until `deadline` (zero when past).
pub fn until(deadline: i64) -> Duration {
    Duration::from_secs(u64::try_from(deadline - now_secs()).unwrap_or(0))
}

/// The file a node agent keeps its serving certificate in.
pub fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join("pki").join("kubelet-server-current.pem")
}

/// Reads a stored certificate; None when absent or unreadable.
pub fn load(path: &Path) -> Option<StoredCert> {
    let text = std::fs::read_to_string(path).ok()?;
    let at = text.find("-----BEGIN PRIVATE KEY-----")?;
    Some(StoredCert {
        cert_pem: text[..at].to_string(),
        key_pem: text[at..].to_string(),
    })
}

/// Writes the certificate and key (0600: it holds the key) through a temporary file, so a
/// crash never leaves half a file behind.
pub fn save(path: &Path, cert: &StoredCert) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("pem.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    let mut text = cert.cert_pem.trim_end().to_string();
    text.push('\n');
    text.push_str(&cert.key_pem);
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The rustls identity of a stored certificate.
pub fn certified_key(cert: &StoredCert) -> Result<Arc<CertifiedKey>, String> {
    let chain = CertificateDer::pem_slice_iter(cert.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate: {e}"))?;
    if chain.is_empty() {
        return Err("no certificate in PEM".into());
    }
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes())
        .map_err(|e| format!("private key: {e}"))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("private key: {e}"))?;
    Ok(Arc::new(CertifiedKey::new(chain, signer)))
}
