//! Signing CertificateSigningRequests with the cluster CA: the signer controller decides
//! lifetime and usages; this only turns a verified request into a certificate.

use std::time::Duration;

use rcgen::{
    CertificateSigningRequestParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::certs::IssuedCertificate;
use crate::error::PkiError;

/// How far back a certificate's validity starts, for clocks a little behind (upstream's
/// signer backdates by five minutes; short-lived certificates by a tenth of their lifetime).
const BACKDATE: Duration = Duration::from_secs(300);

/// The key usages a CertificateSigningRequest may ask for and we can put in a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// `digital signature`
    DigitalSignature,
    /// `key encipherment`
    KeyEncipherment,
    /// `client auth`
    ClientAuth,
    /// `server auth`
    ServerAuth,
}

impl Usage {
    /// Parses upstream's usage string; None for usages we do not issue.
    pub fn parse(s: &str) -> Option<Usage> {
        Some(match s {
            "digital signature" => Usage::DigitalSignature,
            "key encipherment" => Usage::KeyEncipherment,
            "client auth" => Usage::ClientAuth,
            "server auth" => Usage::ServerAuth,
            _ => return None,
        })
    }
}

/// The cluster CA as a signer of requests.
pub struct RequestSigner {
    issuer: Issuer<'static, KeyPair>,
    ca_not_after: Option<time::OffsetDateTime>,
}

impl std::fmt::Debug for RequestSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestSigner").finish_non_exhaustive()
    }
}

impl RequestSigner {
    pub(crate) fn new(ca: &IssuedCertificate) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(&ca.key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, key)?;
        let ca_not_after = crate::certs::cert_der_from_pem(&ca.cert_pem)
            .ok()
            .and_then(|der| {
                crate::certs::parse_der(&der)
                    .ok()
                    .map(|c| c.validity().not_after.to_datetime())
            });
        Ok(RequestSigner {
            issuer,
            ca_not_after,
        })
    }

    /// Signs `csr` (already parsed and its signature verified) for `ttl` with `usages`; the
    /// certificate never outlives the CA. Returns the certificate's PEM.
    pub fn sign(
        &self,
        mut csr: CertificateSigningRequestParams,
        usages: &[Usage],
        ttl: Duration,
    ) -> Result<String, PkiError> {
        let now = time::OffsetDateTime::now_utc();
        let p = &mut csr.params;
        // A short-lived certificate is backdated by a tenth of its lifetime at most: a full
        // five minutes would put a renewing client's 70% mark in the past at once.
        p.not_before = now - BACKDATE.min(ttl / 10);
        p.not_after = now + ttl;
        if let Some(limit) = self.ca_not_after {
            p.not_after = p.not_after.min(limit);
        }
        p.is_ca = IsCa::ExplicitNoCa;
        p.serial_number = Some(crate::certs::random_serial());
        p.use_authority_key_identifier_extension = true;
        p.key_usages = usages
            .iter()
            .filter_map(|u| match u {
                Usage::DigitalSignature => Some(KeyUsagePurpose::DigitalSignature),
                Usage::KeyEncipherment => Some(KeyUsagePurpose::KeyEncipherment),
                _ => None,
            })
            .collect();
        p.extended_key_usages = usages
            .iter()
            .filter_map(|u| match u {
                Usage::ClientAuth => Some(ExtendedKeyUsagePurpose::ClientAuth),
                Usage::ServerAuth => Some(ExtendedKeyUsagePurpose::ServerAuth),
                _ => None,
            })
            .collect();
        Ok(csr.signed_by(&self.issuer)?.pem())
    }
}
