//! A node's client credentials for TLS bootstrap (upstream kubelet's `bootstrap` and
//! `certificate` managers): a fresh key and certificate request for `system:node:<name>` in
//! `system:nodes`, the validity of the certificate the CA returned, and when to renew it.

use std::time::{Duration, SystemTime};

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

use crate::error::PkiError;
use crate::rbac::bootstrap::{NODES_GROUP, NODE_USER_PREFIX};

/// A private key (PKCS#8 PEM) and a certificate request (PEM) signed with it.
pub struct NodeClientRequest {
    /// The new private key, ECDSA P-256 like upstream's kubelet.
    pub key_pem: String,
    /// The PKCS#10 request: CN `system:node:<name>`, O `system:nodes`.
    pub csr_pem: String,
}

impl std::fmt::Debug for NodeClientRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key must never reach logs.
        f.debug_struct("NodeClientRequest").finish_non_exhaustive()
    }
}

/// The usages a node client request asks for (ECDSA keys: no `key encipherment`, as upstream).
pub const NODE_CLIENT_USAGES: &[&str] = &["digital signature", "client auth"];

/// A new key and request for node `node_name`'s client certificate.
pub fn node_client_request(node_name: &str) -> Result<NodeClientRequest, PkiError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, NODES_GROUP);
    dn.push(DnType::CommonName, format!("{NODE_USER_PREFIX}{node_name}"));
    params.distinguished_name = dn;
    let csr = params.serialize_request(&key)?;
    Ok(NodeClientRequest {
        key_pem: key.serialize_pem(),
        csr_pem: csr.pem()?,
    })
}

/// What a client certificate says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateValidity {
    /// Subject common name (the user).
    pub common_name: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
}

/// Reads the first certificate of `pem`.
pub fn certificate_validity(pem: &str) -> Result<CertificateValidity, String> {
    let der = crate::certs::cert_der_from_pem(pem)?;
    let cert = crate::certs::parse_der(&der)?;
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_string();
    let to_system = |t: x509_parser::time::ASN1Time| {
        let secs = t.timestamp();
        if secs >= 0 {
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
        } else {
            SystemTime::UNIX_EPOCH
        }
    };
    Ok(CertificateValidity {
        common_name,
        not_before: to_system(cert.validity().not_before),
        not_after: to_system(cert.validity().not_after),
    })
}

/// Upstream's `nextRotationDeadline`: 70% of the lifetime plus up to a fifth more of that
/// (`wait.Jitter(0.7 * total, 0.2)`), so a fleet does not renew at once. `jitter` is a random
/// number in [0, 1).
pub fn rotation_deadline(validity: &CertificateValidity, jitter: f64) -> SystemTime {
    let total = validity
        .not_after
        .duration_since(validity.not_before)
        .unwrap_or_default();
    let base = total.mul_f64(0.7);
    validity.not_before + base + base.mul_f64(0.2 * jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_name_the_node() {
        let req = node_client_request("n1").unwrap();
        let parsed = rcgen::CertificateSigningRequestParams::from_pem(&req.csr_pem).unwrap();
        let dn = &parsed.params.distinguished_name;
        assert_eq!(
            dn.get(&DnType::CommonName),
            Some(&rcgen::DnValue::Utf8String("system:node:n1".into()))
        );
        assert!(req.key_pem.contains("PRIVATE KEY"));
    }

    #[test]
    fn deadlines_fall_between_70_and_84_percent() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let v = CertificateValidity {
            common_name: String::new(),
            not_before: start,
            not_after: start + Duration::from_secs(1000),
        };
        assert_eq!(rotation_deadline(&v, 0.0), start + Duration::from_secs(700));
        assert_eq!(rotation_deadline(&v, 1.0), start + Duration::from_secs(840));
        let mid = rotation_deadline(&v, 0.5);
        assert!(mid > start + Duration::from_secs(700) && mid < start + Duration::from_secs(840));
    }

    #[test]
    fn validity_of_an_issued_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::Pki::load_or_create(
            dir.path(),
            &crate::PkiOptions {
                tls_sans: vec![],
                server_url: "https://127.0.0.1:6443".into(),
            },
        )
        .unwrap();
        let cert = pki
            .issue_client_certificate("system:node:n1", Some("system:nodes"))
            .unwrap();
        let v = certificate_validity(&cert.cert_pem).unwrap();
        assert_eq!(v.common_name, "system:node:n1");
        assert!(v.not_before < SystemTime::now() && v.not_after > SystemTime::now());
        assert!(certificate_validity("garbage").is_err());
    }
}
