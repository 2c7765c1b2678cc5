//! What servers of one cluster share (like k3s servers): the CA, the service-account signing
//! key and the join token. A joining server receives them from a member (after presenting the
//! join token) and writes them under its own `pki/` before loading its PKI, so every server
//! issues and verifies the same certificates and tokens. Peer certificates (server-to-server
//! TLS, both ends) are issued per server from the shared CA.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::certs::{self, IssuedCertificate, San};
use crate::error::PkiError;
use crate::files::{self, PUBLIC_MODE, SECRET_MODE};
use crate::pki::Pki;

/// Organization (group) of every peer certificate; the peer listener admits only it.
pub const PEER_GROUP: &str = "system:ferrokube-peers";
/// Prefix of a peer certificate's common name (`system:ferrokube-peer:<node id>`); the name
/// has no RBAC permissions on the API.
pub const PEER_USER_PREFIX: &str = "system:ferrokube-peer:";

/// The shared secrets of a cluster.
#[derive(Clone, Serialize, Deserialize)]
pub struct ClusterSecrets {
    /// The CA certificate, PEM.
    pub ca_cert_pem: String,
    /// The CA private key, PEM.
    pub ca_key_pem: String,
    /// The service-account signing key, PEM.
    pub service_account_key_pem: String,
    /// The join (bootstrap) token.
    pub join_token: String,
}

impl std::fmt::Debug for ClusterSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterSecrets").finish_non_exhaustive()
    }
}

impl ClusterSecrets {
    /// SHA-256 of the CA certificate (hex): the cluster's identity.
    pub fn ca_fingerprint(&self) -> Result<String, PkiError> {
        let der =
            certs::cert_der_from_pem(&self.ca_cert_pem).map_err(|reason| PkiError::InvalidPem {
                path: "<join response>".into(),
                reason,
            })?;
        Ok(certs::sha256_hex(&der))
    }

    /// Writes the secrets under `<data_dir>/pki/`. Leaf certificates already there were
    /// issued by this CA or are re-issued by [`Pki::load_or_create`].
    pub fn install(&self, data_dir: &Path) -> Result<(), PkiError> {
        let dir = data_dir.join("pki");
        files::ensure_private_dir(&dir)?;
        files::write_atomic(&dir.join("ca.key"), self.ca_key_pem.as_bytes(), SECRET_MODE)?;
        files::write_atomic(
            &dir.join("ca.crt"),
            self.ca_cert_pem.as_bytes(),
            PUBLIC_MODE,
        )?;
        files::write_atomic(
            &dir.join("service-account.key"),
            self.service_account_key_pem.as_bytes(),
            SECRET_MODE,
        )?;
        files::write_atomic(
            &dir.join("join-token"),
            format!("{}\n", self.join_token).as_bytes(),
            SECRET_MODE,
        )?;
        Ok(())
    }
}

/// SHA-256 (hex) of the CA certificate under `<data_dir>/pki/ca.crt`, if there is one.
pub fn installed_ca_fingerprint(data_dir: &Path) -> Result<Option<String>, PkiError> {
    let path = data_dir.join("pki").join("ca.crt");
    let Some(pem) = files::read_optional(&path)? else {
        return Ok(None);
    };
    let der = certs::cert_der_from_pem(&pem).map_err(|reason| PkiError::InvalidPem {
        path: path.clone(),
        reason,
    })?;
    Ok(Some(certs::sha256_hex(&der)))
}

impl Pki {
    /// The secrets a joining server needs.
    pub fn cluster_secrets(&self) -> ClusterSecrets {
        ClusterSecrets {
            ca_cert_pem: self.ca_cert_pem().to_string(),
            ca_key_pem: self.ca_key_pem().to_string(),
            service_account_key_pem: self.service_account_key_pem().to_string(),
            join_token: self.bootstrap_token().to_string(),
        }
    }

    /// Issues this server's peer certificate (in memory) for node `node_id` at `sans`.
    pub fn issue_peer_certificate(
        &self,
        node_id: u64,
        sans: &[String],
    ) -> Result<IssuedCertificate, PkiError> {
        let sans = sans
            .iter()
            .map(|s| San::parse(s))
            .collect::<Result<Vec<_>, _>>()?;
        let cn = format!("{PEER_USER_PREFIX}{node_id}");
        certs::issue_peer(self.issuer(), &cn, PEER_GROUP, &sans)
    }
}
