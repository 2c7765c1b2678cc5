//! rustls configurations: the API server's serving config (client certificates optional, as
//! kube-apiserver does) and client configs for in-process callers.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

use crate::certs::IssuedCertificate;
use crate::error::PkiError;

/// ALPN protocols the API server offers: HTTP/2 first (Go clients prefer it), then HTTP/1.1.
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The ring provider, passed explicitly so we never depend on (or race for) a process-wide
/// default provider, which panics when several crypto backends are compiled in.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs_from_pem(pem: &str) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid_pem(format!("certificate: {e}")))?;
    if certs.is_empty() {
        return Err(invalid_pem("no certificate in PEM".into()));
    }
    Ok(certs)
}

fn key_from_pem(pem: &str) -> Result<PrivateKeyDer<'static>, PkiError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| invalid_pem(format!("private key: {e}")))
}

fn invalid_pem(reason: String) -> PkiError {
    PkiError::InvalidPem {
        path: "<memory>".into(),
        reason,
    }
}

fn roots(ca_der: &CertificateDer<'static>) -> Result<Arc<RootCertStore>, PkiError> {
    let mut roots = RootCertStore::empty();
    roots.add(ca_der.clone())?;
    Ok(Arc::new(roots))
}

/// Builds the serving config: `cert_pem`/`key_pem` as the server identity, client certificates
/// requested and verified against `ca_der` but not required (bearer tokens and anonymous
/// requests must still get through to the HTTP layer).
pub fn server_config(
    cert_pem: &str,
    key_pem: &str,
    ca_der: &CertificateDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, PkiError> {
    let provider = provider();
    let verifier =
        WebPkiClientVerifier::builder_with_provider(roots(ca_der)?, Arc::clone(&provider))
            .allow_unauthenticated()
            .build()?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs_from_pem(cert_pem)?, key_from_pem(key_pem)?)?;
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// Builds a client config trusting only `ca_der`, optionally presenting `identity`.
pub fn client_config(
    ca_der: &CertificateDer<'static>,
    identity: Option<&IssuedCertificate>,
) -> Result<Arc<rustls::ClientConfig>, PkiError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca_der)?);
    let mut config = match identity {
        Some(id) => builder
            .with_client_auth_cert(certs_from_pem(&id.cert_pem)?, key_from_pem(&id.key_pem)?)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// Builds a client config trusting the certificates of a PEM bundle (an APIService's
/// `caBundle`), optionally presenting `identity`; HTTP/1.1 only.
pub fn client_config_from_pem(
    roots_pem: &str,
    identity: Option<&IssuedCertificate>,
) -> Result<Arc<rustls::ClientConfig>, PkiError> {
    let mut roots = RootCertStore::empty();
    for cert in certs_from_pem(roots_pem)? {
        roots.add(cert)?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(id) => builder
            .with_client_auth_cert(certs_from_pem(&id.cert_pem)?, key_from_pem(&id.key_pem)?)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The identity in `identity` as rustls wants it (certificate chain and key), for callers
/// that build their own config.
pub fn identity_der(
    identity: &IssuedCertificate,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), PkiError> {
    Ok((
        certs_from_pem(&identity.cert_pem)?,
        key_from_pem(&identity.key_pem)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_pem_is_an_error_not_a_panic() {
        let ca = crate::certs::new_ca().expect("ca");
        let ca_der = crate::certs::cert_der_from_pem(&ca.cert_pem).expect("der");
        assert!(server_config("nope", "nope", &ca_der).is_err());
        assert!(server_config(&ca.cert_pem, "nope", &ca_der).is_err());
        let bad = IssuedCertificate {
            cert_pem: ca.cert_pem.clone(),
            key_pem: String::new(),
        };
        assert!(client_config(&ca_der, Some(&bad)).is_err());
    }

    #[test]
    fn server_config_offers_h2_and_http11() {
        let ca = crate::certs::new_ca().expect("ca");
        let ca_der = crate::certs::cert_der_from_pem(&ca.cert_pem).expect("der");
        // A CA cert/key is a valid identity for rustls; ALPN is what matters here.
        let config = server_config(&ca.cert_pem, &ca.key_pem, &ca_der).expect("config");
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }
}
