//! The cluster PKI on disk: CA, serving and admin certificates, the service-account signing key
//! and the bootstrap (join) token, created on first start and reused afterwards.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::Rng;
use rcgen::{Issuer, KeyPair, PublicKeyData};
use rustls::pki_types::CertificateDer;

use crate::certs::{self, IssuedCertificate, San};
use crate::error::PkiError;
use crate::files::{self, PUBLIC_MODE, SECRET_MODE};
use crate::{kubeconfig, tls};

/// User name of the admin client certificate.
pub const ADMIN_USER: &str = "admin";
/// Group of the admin client certificate; upstream RBAC grants it everything.
pub const ADMIN_GROUP: &str = "system:masters";

/// Names the serving certificate always carries, besides the machine's host name: loopback, and
/// the in-cluster names of the `kubernetes` Service that pods use to reach the API.
const DEFAULT_SANS: &[&str] = &[
    "localhost",
    "127.0.0.1",
    "::1",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
];

/// What the serving certificate must cover beyond the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PkiOptions {
    /// Extra subject alternative names (DNS names or IP addresses), like k3s `--tls-san`.
    /// Put the `kubernetes` Service ClusterIP here so in-cluster clients can verify the server.
    pub tls_sans: Vec<String>,
    /// The URL clients will use; its host is added to the serving certificate's SANs.
    pub server_url: String,
}

/// File locations under `<data_dir>/pki`.
#[derive(Debug, Clone)]
struct PkiPaths {
    dir: PathBuf,
}

impl PkiPaths {
    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// The loaded key material of one cluster, plus the TLS serving config built from it.
pub struct Pki {
    data_dir: PathBuf,
    ca: IssuedCertificate,
    ca_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    serving: IssuedCertificate,
    serving_sans: Vec<San>,
    admin: IssuedCertificate,
    service_account_key_pem: String,
    service_account_public_key_pem: String,
    bootstrap_token: String,
    server_tls: Arc<rustls::ServerConfig>,
}

impl fmt::Debug for Pki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Private keys and the bootstrap token must never reach logs.
        f.debug_struct("Pki")
            .field("data_dir", &self.data_dir)
            .field("ca_fingerprint", &self.ca_fingerprint())
            .field("serving_sans", &self.serving_sans)
            .finish_non_exhaustive()
    }
}

impl Pki {
    /// Loads `<data_dir>/pki`, creating whatever is missing and re-issuing leaf certificates that
    /// are expiring, signed by another CA, or (serving) missing a requested SAN.
    pub fn load_or_create(
        data_dir: impl AsRef<Path>,
        options: &PkiOptions,
    ) -> Result<Pki, PkiError> {
        let data_dir = data_dir.as_ref().to_path_buf();
        let paths = PkiPaths {
            dir: data_dir.join("pki"),
        };
        files::ensure_private_dir(&paths.dir)?;

        let ca = load_or_create_ca(&paths)?;
        let ca_der =
            certs::cert_der_from_pem(&ca.cert_pem).map_err(|reason| PkiError::InvalidPem {
                path: paths.file("ca.crt"),
                reason,
            })?;
        let ca_key = parse_key(&ca.key_pem, &paths.file("ca.key"))?;
        let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key)?;

        let wanted = wanted_sans(options)?;
        let (serving, serving_sans) = load_or_issue_serving(&paths, &ca_der, &issuer, &wanted)?;
        let admin = load_or_issue_leaf(&paths, "admin", &ca_der, || {
            certs::issue_client(&issuer, ADMIN_USER, Some(ADMIN_GROUP))
        })?;
        let (service_account_key_pem, service_account_public_key_pem) =
            load_or_create_service_account_key(&paths)?;
        let bootstrap_token = load_or_create_bootstrap_token(&paths.file("join-token"))?;
        let server_tls = tls::server_config(&serving.cert_pem, &serving.key_pem, &ca_der)?;

        Ok(Pki {
            data_dir,
            ca,
            ca_der,
            issuer,
            serving,
            serving_sans,
            admin,
            service_account_key_pem,
            service_account_public_key_pem,
            bootstrap_token,
            server_tls,
        })
    }

    /// The data directory this PKI lives under.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// `<data_dir>/pki`.
    pub fn pki_dir(&self) -> PathBuf {
        self.data_dir.join("pki")
    }

    /// `<data_dir>/kubeconfig.yaml`, where the admin kubeconfig conventionally goes.
    pub fn default_kubeconfig_path(&self) -> PathBuf {
        self.data_dir.join("kubeconfig.yaml")
    }

    /// `<data_dir>/tokens.csv`, the static bearer-token file (kube-apiserver `--token-auth-file`).
    pub fn token_file_path(&self) -> PathBuf {
        self.data_dir.join("tokens.csv")
    }

    /// `<data_dir>/pki/join-token`, the 0600 file holding the bootstrap token.
    pub fn bootstrap_token_path(&self) -> PathBuf {
        self.pki_dir().join("join-token")
    }

    /// The CA certificate, PEM.
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca.cert_pem
    }

    /// The CA certificate, DER.
    pub fn ca_cert_der(&self) -> &CertificateDer<'static> {
        &self.ca_der
    }

    /// SHA-256 fingerprint of the CA certificate, lower-case hex; stable across restarts.
    pub fn ca_fingerprint(&self) -> String {
        certs::sha256_hex(&self.ca_der)
    }

    /// The CA private key, PEM (shared with servers joining the cluster).
    pub(crate) fn ca_key_pem(&self) -> &str {
        &self.ca.key_pem
    }

    /// The CA as an rcgen issuer.
    pub(crate) fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }

    /// The serving certificate, PEM.
    pub fn serving_cert_pem(&self) -> &str {
        &self.serving.cert_pem
    }

    /// The subject alternative names the current serving certificate covers.
    pub fn serving_sans(&self) -> &[San] {
        &self.serving_sans
    }

    /// The admin client certificate (CN=admin, O=system:masters) and key, PEM.
    pub fn admin_credentials(&self) -> &IssuedCertificate {
        &self.admin
    }

    /// The service-account token signing key (ECDSA P-256, PKCS#8 PEM) for future ES256 JWTs.
    pub fn service_account_key_pem(&self) -> &str {
        &self.service_account_key_pem
    }

    /// The public half of the service-account signing key (SPKI PEM), for token verification.
    pub fn service_account_public_key_pem(&self) -> &str {
        &self.service_account_public_key_pem
    }

    /// The bootstrap/join token agents present as a bearer token.
    pub fn bootstrap_token(&self) -> &str {
        &self.bootstrap_token
    }

    /// Issues a new client certificate signed by the cluster CA (e.g. `system:node:<name>` in
    /// `system:nodes` for an agent); nothing is written to disk.
    pub fn issue_client_certificate(
        &self,
        common_name: &str,
        organization: Option<&str>,
    ) -> Result<IssuedCertificate, PkiError> {
        certs::issue_client(&self.issuer, common_name, organization)
    }

    /// A signer of certificate signing requests with the cluster CA (owned, for a controller).
    pub fn request_signer(&self) -> Result<crate::signer::RequestSigner, PkiError> {
        crate::signer::RequestSigner::new(&self.ca)
    }

    /// The rustls server config: serving certificate, optional client certificates verified
    /// against the CA, ALPN `h2` and `http/1.1`.
    pub fn server_tls_config(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.server_tls)
    }

    /// A rustls client config trusting the CA and presenting the admin certificate, for
    /// in-process clients.
    pub fn admin_client_tls_config(&self) -> Result<Arc<rustls::ClientConfig>, PkiError> {
        tls::client_config(&self.ca_der, Some(&self.admin))
    }

    /// A rustls client config trusting the CA without presenting any client certificate.
    pub fn anonymous_client_tls_config(&self) -> Result<Arc<rustls::ClientConfig>, PkiError> {
        tls::client_config(&self.ca_der, None)
    }

    /// The admin kubeconfig (cluster/user/context `ferrokube`/`admin`/`ferrokube`) as YAML.
    pub fn kubeconfig_yaml(&self, server_url: &str) -> Result<String, PkiError> {
        kubeconfig::admin_kubeconfig(&self.ca.cert_pem, &self.admin, server_url).to_yaml()
    }

    /// Writes the admin kubeconfig to `path` with mode 0600, since it embeds the admin key.
    pub fn write_kubeconfig(
        &self,
        path: impl AsRef<Path>,
        server_url: &str,
    ) -> Result<(), PkiError> {
        let yaml = self.kubeconfig_yaml(server_url)?;
        files::write_atomic(path.as_ref(), yaml.as_bytes(), SECRET_MODE)
    }
}

fn parse_key(pem: &str, path: &Path) -> Result<KeyPair, PkiError> {
    KeyPair::from_pem(pem).map_err(|e| PkiError::InvalidPem {
        path: path.to_path_buf(),
        reason: format!("private key: {e}"),
    })
}

fn load_or_create_ca(paths: &PkiPaths) -> Result<IssuedCertificate, PkiError> {
    let cert_path = paths.file("ca.crt");
    let key_path = paths.file("ca.key");
    match (
        files::read_optional(&cert_path)?,
        files::read_optional(&key_path)?,
    ) {
        (Some(cert_pem), Some(key_pem)) => {
            let der =
                certs::cert_der_from_pem(&cert_pem).map_err(|reason| PkiError::InvalidPem {
                    path: cert_path.clone(),
                    reason,
                })?;
            let key = parse_key(&key_pem, &key_path)?;
            let cert = certs::parse_der(&der).map_err(|reason| PkiError::InvalidPem {
                path: cert_path.clone(),
                reason,
            })?;
            if cert.public_key().raw != key.subject_public_key_info().as_slice() {
                return Err(PkiError::InvalidPem {
                    path: key_path,
                    reason: "CA private key does not match ca.crt".into(),
                });
            }
            Ok(IssuedCertificate { cert_pem, key_pem })
        }
        (None, None) => {
            let ca = certs::new_ca()?;
            // Key first: a crash in between leaves an orphan key, which the next start reports
            // rather than pairing a certificate with nothing.
            files::write_atomic(&key_path, ca.key_pem.as_bytes(), SECRET_MODE)?;
            files::write_atomic(&cert_path, ca.cert_pem.as_bytes(), PUBLIC_MODE)?;
            tracing::info!(path = %cert_path.display(), "created cluster CA");
            Ok(ca)
        }
        (Some(_), None) => Err(PkiError::IncompleteCa {
            present: cert_path,
            missing: key_path,
        }),
        (None, Some(_)) => Err(PkiError::IncompleteCa {
            present: key_path,
            missing: cert_path,
        }),
    }
}

/// Loads `<name>.crt`/`<name>.key` if they still pass [`certs::LeafStatus::reusable`]; otherwise
/// issues and stores a new pair.
fn load_or_issue_leaf(
    paths: &PkiPaths,
    name: &str,
    ca_der: &CertificateDer<'_>,
    issue: impl FnOnce() -> Result<IssuedCertificate, PkiError>,
) -> Result<IssuedCertificate, PkiError> {
    if let Some((existing, status)) = load_leaf(paths, name, ca_der)? {
        if status.reusable() {
            return Ok(existing);
        }
    }
    store_leaf(paths, name, issue()?)
}

fn load_leaf(
    paths: &PkiPaths,
    name: &str,
    ca_der: &CertificateDer<'_>,
) -> Result<Option<(IssuedCertificate, certs::LeafStatus)>, PkiError> {
    let cert_path = paths.file(&format!("{name}.crt"));
    let key_path = paths.file(&format!("{name}.key"));
    let (Some(cert_pem), Some(key_pem)) = (
        files::read_optional(&cert_path)?,
        files::read_optional(&key_path)?,
    ) else {
        return Ok(None);
    };
    // Unreadable leaf material is regenerated rather than fatal: the CA can always re-issue it.
    let status = KeyPair::from_pem(&key_pem).ok().and_then(|key| {
        let der = certs::cert_der_from_pem(&cert_pem).ok()?;
        certs::inspect_leaf(&der, ca_der, &key).ok()
    });
    match status {
        Some(status) => Ok(Some((IssuedCertificate { cert_pem, key_pem }, status))),
        None => {
            tracing::warn!(cert = %cert_path.display(), "unreadable certificate; re-issuing");
            Ok(None)
        }
    }
}

fn store_leaf(
    paths: &PkiPaths,
    name: &str,
    issued: IssuedCertificate,
) -> Result<IssuedCertificate, PkiError> {
    let cert_path = paths.file(&format!("{name}.crt"));
    files::write_atomic(
        &paths.file(&format!("{name}.key")),
        issued.key_pem.as_bytes(),
        SECRET_MODE,
    )?;
    files::write_atomic(&cert_path, issued.cert_pem.as_bytes(), PUBLIC_MODE)?;
    tracing::info!(path = %cert_path.display(), "issued certificate");
    Ok(issued)
}

fn load_or_issue_serving(
    paths: &PkiPaths,
    ca_der: &CertificateDer<'_>,
    issuer: &Issuer<'static, KeyPair>,
    wanted: &[San],
) -> Result<(IssuedCertificate, Vec<San>), PkiError> {
    let mut sans = wanted.to_vec();
    if let Some((existing, status)) = load_leaf(paths, "server", ca_der)? {
        if status.reusable() && status.covers(wanted) {
            return Ok((existing, status.sans));
        }
        // Keep names an older start asked for so clients using them keep working.
        if status.signed_by_ca {
            for san in status.sans {
                if !sans.contains(&san) {
                    sans.push(san);
                }
            }
        }
    }
    let issued = store_leaf(paths, "server", certs::issue_serving(issuer, &sans)?)?;
    Ok((issued, sans))
}

/// Defaults, the machine's host name, the server URL's host and the requested extra SANs.
fn wanted_sans(options: &PkiOptions) -> Result<Vec<San>, PkiError> {
    let mut sans = Vec::new();
    let mut add = |san: San| {
        if !sans.contains(&san) {
            sans.push(san);
        }
    };
    for name in DEFAULT_SANS {
        add(San::parse(name)?);
    }
    // A host name that is not a valid DNS name (rare, but possible) is simply not certified.
    if let Some(host) = hostname::get().ok().and_then(|h| h.into_string().ok()) {
        if let Ok(san) = San::parse(&host) {
            add(san);
        }
    }
    if let Some(host) = url_host(&options.server_url)? {
        let san = San::parse(&host)?;
        // Listening on 0.0.0.0 / :: is not an address anyone can dial or verify.
        if !matches!(&san, San::Ip(ip) if ip.is_unspecified()) {
            add(san);
        }
    }
    for extra in &options.tls_sans {
        add(San::parse(extra)?);
    }
    Ok(sans)
}

/// Extracts the host from `https://host:port/path` (also bare `host:port` and `[v6]:port`).
pub(crate) fn url_host(url: &str) -> Result<Option<String>, PkiError> {
    let url = url.trim();
    if url.is_empty() {
        return Ok(None);
    }
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split_once(']')
            .map(|(h, _)| h)
            .ok_or_else(|| PkiError::InvalidServerUrl(url.to_string()))?
    } else {
        match host_port.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            Some(_) => return Err(PkiError::InvalidServerUrl(url.to_string())),
            None => host_port,
        }
    };
    if host.is_empty() {
        return Err(PkiError::InvalidServerUrl(url.to_string()));
    }
    Ok(Some(host.to_string()))
}

fn load_or_create_service_account_key(paths: &PkiPaths) -> Result<(String, String), PkiError> {
    let key_path = paths.file("service-account.key");
    let pub_path = paths.file("service-account.pub");
    let key = match files::read_optional(&key_path)? {
        Some(pem) => parse_key(&pem, &key_path)?,
        None => {
            let key = KeyPair::generate()?;
            files::write_atomic(&key_path, key.serialize_pem().as_bytes(), SECRET_MODE)?;
            key
        }
    };
    let public_pem = key.public_key_pem();
    // Derived data: rewrite when missing or stale so verifiers never see a mismatched key.
    if files::read_optional(&pub_path)?.as_deref() != Some(public_pem.as_str()) {
        files::write_atomic(&pub_path, public_pem.as_bytes(), PUBLIC_MODE)?;
    }
    Ok((key.serialize_pem(), public_pem))
}

/// Makes `token` the join token of a data dir that has none yet (`<data_dir>/pki/join-token`),
/// so a deployment can choose the token before the first start (a Helm chart's Secret). An
/// existing token is kept — it is the cluster's — and `Ok(false)` says so.
pub fn seed_bootstrap_token(data_dir: &Path, token: &str) -> Result<bool, PkiError> {
    let token = token.trim();
    if !is_bootstrap_token(token) {
        return Err(PkiError::MalformedBootstrapToken {
            path: PathBuf::from("--token"),
        });
    }
    let dir = data_dir.join("pki");
    files::ensure_private_dir(&dir)?;
    let path = dir.join("join-token");
    if files::read_optional(&path)?.is_some() {
        return Ok(false);
    }
    files::write_atomic(&path, format!("{token}\n").as_bytes(), SECRET_MODE)?;
    Ok(true)
}

/// Bootstrap tokens follow upstream's `[a-z0-9]{6}.[a-z0-9]{16}` (token id . secret) shape.
pub(crate) fn is_bootstrap_token(token: &str) -> bool {
    let valid = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    token
        .split_once('.')
        .is_some_and(|(id, secret)| valid(id, 6) && valid(secret, 16))
}

fn generate_bootstrap_token() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let mut pick = |n: usize| -> String {
        (0..n)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect()
    };
    let id = pick(6);
    let secret = pick(16);
    format!("{id}.{secret}")
}

fn load_or_create_bootstrap_token(path: &Path) -> Result<String, PkiError> {
    if let Some(contents) = files::read_optional(path)? {
        let token = contents.trim();
        if !is_bootstrap_token(token) {
            return Err(PkiError::MalformedBootstrapToken {
                path: path.to_path_buf(),
            });
        }
        return Ok(token.to_string());
    }
    let token = generate_bootstrap_token();
    files::write_atomic(path, format!("{token}\n").as_bytes(), SECRET_MODE)?;
    Ok(token)
}

#[cfg(test)]
#[path = "pki_tests.rs"]
mod tests;
