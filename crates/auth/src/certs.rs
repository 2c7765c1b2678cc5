//! Certificate minting (CA, serving, client) with rcgen and inspection of existing certificates
//! with x509-parser, so a restart can decide whether what is on disk is still good enough.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use rand::Rng;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::PkiError;

/// Common name of the cluster CA.
pub const CA_COMMON_NAME: &str = "ferrokube-ca";
/// Common name of the API server's serving certificate (as kubeadm names it).
pub const SERVING_COMMON_NAME: &str = "kube-apiserver";
/// CA lifetime.
pub(crate) const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Leaf (serving and client) certificate lifetime.
pub(crate) const LEAF_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Leaf certificates closer than this to expiry are re-issued on start (k3s uses 90 days too).
pub(crate) const RENEW_BEFORE: Duration = Duration::from_secs(90 * 24 * 3600);
/// Backdating of `notBefore` so nodes whose clocks lag a little still accept fresh certificates.
const BACKDATE: Duration = Duration::from_secs(3600);

/// One subject alternative name of a serving certificate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum San {
    /// A DNS name, stored lower-case since DNS matching is case-insensitive.
    Dns(String),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
}

impl San {
    /// Parses `s` as an IP address, or else as a DNS name (optionally with a leading `*.`).
    pub fn parse(s: &str) -> Result<San, PkiError> {
        let s = s.trim();
        // Accept bracketed IPv6 as people copy it from URLs.
        let unbracketed = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(s);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(San::Ip(ip));
        }
        if is_dns_name(s) {
            Ok(San::Dns(s.to_ascii_lowercase()))
        } else {
            Err(PkiError::InvalidSan(s.to_string()))
        }
    }

    fn to_rcgen(&self) -> Result<SanType, PkiError> {
        Ok(match self {
            San::Ip(ip) => SanType::IpAddress(*ip),
            San::Dns(name) => SanType::DnsName(name.as_str().try_into()?),
        })
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(name) => f.write_str(name),
            San::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// RFC 1123 host name check (what Go's x509 hostname matching expects), allowing one leading
/// wildcard label.
fn is_dns_name(s: &str) -> bool {
    let body = s.strip_prefix("*.").unwrap_or(s);
    let body = body.strip_suffix('.').unwrap_or(body);
    !body.is_empty()
        && body.len() <= 253
        && body.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A freshly minted certificate and its private key, both PEM-encoded.
#[derive(Clone)]
pub struct IssuedCertificate {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The PKCS#8 private key, PEM.
    pub key_pem: String,
}

impl fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print private keys into logs.
        f.debug_struct("IssuedCertificate")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// Creates a new self-signed ECDSA P-256 CA.
pub(crate) fn new_ca() -> Result<IssuedCertificate, PkiError> {
    let key = KeyPair::generate()?;
    let mut params = base_params(CA_COMMON_NAME, None, CA_VALIDITY);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    let cert = params.self_signed(&key)?;
    Ok(IssuedCertificate {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Issues a serving certificate for `sans`, signed by `issuer`.
pub(crate) fn issue_serving(
    issuer: &Issuer<'_, KeyPair>,
    sans: &[San],
) -> Result<IssuedCertificate, PkiError> {
    let key = KeyPair::generate()?;
    let mut params = base_params(SERVING_COMMON_NAME, None, LEAF_VALIDITY);
    params.subject_alt_names = sans.iter().map(San::to_rcgen).collect::<Result<_, _>>()?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, issuer)?;
    Ok(IssuedCertificate {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Issues a client certificate: CN becomes the user name, O the group (kube-apiserver's mapping).
pub(crate) fn issue_client(
    issuer: &Issuer<'_, KeyPair>,
    common_name: &str,
    organization: Option<&str>,
) -> Result<IssuedCertificate, PkiError> {
    let key = KeyPair::generate()?;
    let mut params = base_params(common_name, organization, LEAF_VALIDITY);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, issuer)?;
    Ok(IssuedCertificate {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Issues a server-to-server certificate: one identity for both ends of the peer connection
/// (serverAuth and clientAuth), covering the peer listener's `sans`.
pub(crate) fn issue_peer(
    issuer: &Issuer<'_, KeyPair>,
    common_name: &str,
    organization: &str,
    sans: &[San],
) -> Result<IssuedCertificate, PkiError> {
    let key = KeyPair::generate()?;
    let mut params = base_params(common_name, Some(organization), LEAF_VALIDITY);
    params.subject_alt_names = sans.iter().map(San::to_rcgen).collect::<Result<_, _>>()?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, issuer)?;
    Ok(IssuedCertificate {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn base_params(cn: &str, organization: Option<&str>, validity: Duration) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    if let Some(org) = organization {
        dn.push(DnType::OrganizationName, org);
    }
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + validity;
    params.serial_number = Some(random_serial());
    params
}

/// 128 random bits with the top bit clear, so the DER INTEGER stays positive (RFC 5280 4.1.2.2).
pub(crate) fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand::rng().fill(&mut bytes);
    bytes[0] &= 0x7f;
    SerialNumber::from_slice(&bytes)
}

/// Decodes the first certificate of a PEM document.
pub(crate) fn cert_der_from_pem(pem: &str) -> Result<CertificateDer<'static>, String> {
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| format!("no certificate: {e}"))
}

/// Parses a DER certificate, mapping parser errors to strings for error reporting.
pub(crate) fn parse_der(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    X509Certificate::from_der(der)
        .map(|(_, cert)| cert)
        .map_err(|e| format!("unparseable certificate: {e}"))
}

/// Facts about an existing leaf certificate relevant to reuse-or-reissue decisions.
#[derive(Debug)]
pub(crate) struct LeafStatus {
    /// SANs the certificate covers.
    pub sans: Vec<San>,
    /// The certificate's signature verifies against the CA's public key.
    pub signed_by_ca: bool,
    /// Time left until `notAfter` (`None` once expired).
    pub remaining: Option<Duration>,
    /// The private key on disk belongs to this certificate.
    pub key_matches: bool,
}

impl LeafStatus {
    /// Whether the certificate can keep serving: right CA, right key, not close to expiry.
    pub fn reusable(&self) -> bool {
        self.signed_by_ca && self.key_matches && self.remaining.is_some_and(|r| r > RENEW_BEFORE)
    }

    /// Whether every SAN in `wanted` is already present.
    pub fn covers(&self, wanted: &[San]) -> bool {
        wanted.iter().all(|w| self.sans.contains(w))
    }
}

/// Inspects a leaf certificate against the CA certificate and the key stored next to it.
pub(crate) fn inspect_leaf(
    leaf: &CertificateDer<'_>,
    ca: &CertificateDer<'_>,
    key: &KeyPair,
) -> Result<LeafStatus, String> {
    let cert = parse_der(leaf)?;
    let ca = parse_der(ca)?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(dns) => sans.push(San::Dns(dns.to_ascii_lowercase())),
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes) {
                        sans.push(San::Ip(ip));
                    }
                }
                _ => {}
            }
        }
    }
    let signed_by_ca = cert.verify_signature(Some(ca.public_key())).is_ok();
    let remaining = cert
        .validity()
        .time_to_expiration()
        .and_then(|d| Duration::try_from(d).ok());
    let key_matches = cert.public_key().raw == key.subject_public_key_info().as_slice();
    Ok(LeafStatus {
        sans,
        signed_by_ca,
        remaining,
        key_matches,
    })
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// SHA-256 of a DER certificate, lower-case hex (what `openssl x509 -fingerprint -sha256` shows).
pub(crate) fn sha256_hex(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn san_parsing() {
        assert_eq!(
            San::parse("127.0.0.1").ok(),
            Some(San::Ip("127.0.0.1".parse().expect("ip")))
        );
        assert_eq!(
            San::parse("[::1]").ok(),
            Some(San::Ip("::1".parse().expect("ip")))
        );
        assert_eq!(
            San::parse("API.Example.com").ok(),
            Some(San::Dns("api.example.com".into()))
        );
        assert_eq!(
            San::parse("*.example.com").ok(),
            Some(San::Dns("*.example.com".into()))
        );
        for bad in ["", "a b", "-bad.com", "bad-.com", "a..b", "x/y", "ü.com"] {
            assert!(San::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn serving_cert_is_signed_and_covers_sans() {
        let ca = new_ca().expect("ca");
        let ca_key = KeyPair::from_pem(&ca.key_pem).expect("key");
        let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).expect("issuer");
        let sans = vec![
            San::parse("localhost").expect("san"),
            San::parse("10.0.0.1").expect("san"),
        ];
        let leaf = issue_serving(&issuer, &sans).expect("leaf");
        let leaf_key = KeyPair::from_pem(&leaf.key_pem).expect("leaf key");
        let status = inspect_leaf(
            &cert_der_from_pem(&leaf.cert_pem).expect("der"),
            &cert_der_from_pem(&ca.cert_pem).expect("ca der"),
            &leaf_key,
        )
        .expect("inspect");
        assert!(status.reusable(), "{status:?}");
        assert!(status.covers(&sans));
        assert!(!status.covers(&[San::parse("other.example").expect("san")]));

        // A different CA or a different key makes the certificate unusable.
        let other_ca = new_ca().expect("other ca");
        let status = inspect_leaf(
            &cert_der_from_pem(&leaf.cert_pem).expect("der"),
            &cert_der_from_pem(&other_ca.cert_pem).expect("ca der"),
            &KeyPair::generate().expect("key"),
        )
        .expect("inspect");
        assert!(!status.signed_by_ca);
        assert!(!status.key_matches);
        assert!(!status.reusable());
    }

    #[test]
    fn ca_has_expected_subject_and_lifetime() {
        let ca = new_ca().expect("ca");
        let der = cert_der_from_pem(&ca.cert_pem).expect("der");
        let cert = parse_der(&der).expect("parse");
        let cn = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok());
        assert_eq!(cn, Some(CA_COMMON_NAME));
        assert!(cert.is_ca());
        let left = cert.validity().time_to_expiration().expect("valid");
        assert!(left.whole_days() > 9 * 365);
        assert_eq!(sha256_hex(&der).len(), 64);
    }
}
