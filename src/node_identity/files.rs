//! The node's client credentials on disk: certificate and key in one 0600 PEM file, like
//! upstream's `kubelet-client-current.pem`, replaced atomically on renewal.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::SystemTime;

use ferrokube_auth::node_credentials::{certificate_validity, CertificateValidity};

/// File name of the current credentials under `<data-dir>/pki/`.
pub const CURRENT_FILE: &str = "kubelet-client-current.pem";

/// A client certificate (PEM) and its private key (PEM).
#[derive(Clone)]
pub struct Credentials {
    /// The certificate (chain) the CA issued.
    pub cert_pem: String,
    /// The private key.
    pub key_pem: String,
    /// What the certificate says about itself.
    pub validity: CertificateValidity,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("validity", &self.validity)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Pairs a certificate with its key.
    pub fn new(cert_pem: String, key_pem: String) -> Result<Credentials, String> {
        let validity = certificate_validity(&cert_pem)?;
        Ok(Credentials {
            cert_pem,
            key_pem,
            validity,
        })
    }

    /// Whether these credentials name `user` and have not expired.
    pub fn usable_for(&self, user: &str) -> bool {
        self.validity.common_name == user && self.validity.not_after > SystemTime::now()
    }
}

/// Reads the credentials at `path`; None when the file does not exist.
pub fn load(path: &Path) -> Result<Option<Credentials>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let key_start = text
        .find("-----BEGIN PRIVATE KEY-----")
        .or_else(|| text.find("-----BEGIN EC PRIVATE KEY-----"))
        .ok_or("no private key")?;
    let (cert, key) = text.split_at(key_start);
    Credentials::new(cert.trim().to_string() + "\n", key.to_string()).map(Some)
}

/// Writes the credentials to `path` (0600, via a temp file and rename: a crash leaves the old
/// file or the new one, never half of either).
pub fn store(path: &Path, creds: &Credentials) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let tmp = path.with_extension("pem.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(creds.cert_pem.trim_end().as_bytes())?;
    file.write_all(b"\n")?;
    file.write_all(creds.key_pem.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let pki = ferrokube_auth::Pki::load_or_create(
            dir.path(),
            &ferrokube_auth::PkiOptions {
                tls_sans: vec![],
                server_url: "https://127.0.0.1:6443".into(),
            },
        )
        .unwrap();
        let issued = pki
            .issue_client_certificate("system:node:n1", Some("system:nodes"))
            .unwrap();
        let creds = Credentials::new(issued.cert_pem.clone(), issued.key_pem.clone()).unwrap();
        let path = dir.path().join("agent/pki").join(CURRENT_FILE);
        assert!(load(&path).unwrap().is_none());
        store(&path, &creds).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let back = load(&path).unwrap().unwrap();
        assert_eq!(back.validity, creds.validity);
        assert_eq!(back.key_pem, issued.key_pem);
        assert!(back.usable_for("system:node:n1"));
        assert!(!back.usable_for("system:node:n2"));
    }
}
