//! Service-account issuer discovery (upstream's `ServiceAccountIssuerDiscovery`): the OpenID
//! Connect discovery document served at `/.well-known/openid-configuration` and the JSON Web
//! Key Set at `/openid/v1/jwks`, so any OIDC library can verify our service-account tokens
//! without calling TokenReview.

use base64::Engine;
use serde_json::{json, Value};

/// Path of the discovery document (relative to the issuer URL, as OIDC discovery requires).
pub const OPENID_CONFIGURATION_PATH: &str = "/.well-known/openid-configuration";
/// Path of the key set the discovery document points at.
pub const JWKS_PATH: &str = "/openid/v1/jwks";

/// DER header of a SubjectPublicKeyInfo holding an uncompressed P-256 point: SEQUENCE {
/// SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (66 bytes, 0 unused bits) }.
const P256_SPKI_HEADER: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The DER body of a PEM block (the SPKI of a public key).
pub(crate) fn pem_der(pem: &str) -> Result<Vec<u8>, String> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .map_err(|e| format!("service-account public key: {e}"))
}

/// The public JWK (RFC 7518 §6.2) of a P-256 SPKI, as upstream publishes it: `use: sig`,
/// the token signing `alg`, and the same `kid` the tokens carry in their header.
pub(crate) fn p256_jwk(spki_der: &[u8], kid: &str) -> Result<Value, String> {
    let point = spki_der
        .strip_prefix(&P256_SPKI_HEADER[..])
        .filter(|p| p.len() == 65 && p[0] == 0x04)
        .ok_or("service-account public key: not an uncompressed P-256 key")?;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    Ok(json!({
        "use": "sig",
        "kty": "EC",
        "kid": kid,
        "crv": "P-256",
        "alg": "ES256",
        "x": b64(&point[1..33]),
        "y": b64(&point[33..65]),
    }))
}

/// The key set document: every key tokens may be signed with.
pub(crate) fn key_set(keys: &[Value]) -> Value {
    json!({ "keys": keys })
}

/// The discovery document. `jwks_uri` is under the issuer URL: the issuer names the
/// `kubernetes` Service, so a pod resolves both through cluster DNS and trusts them with its
/// mounted cluster CA (what upstream's conformance pod does with its in-cluster config).
pub(crate) fn openid_configuration(issuer: &str, algorithms: &[&str]) -> Value {
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{}{JWKS_PATH}", issuer.trim_end_matches('/')),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algorithms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwk_carries_the_point_coordinates_and_kid() {
        let mut der = P256_SPKI_HEADER.to_vec();
        der.push(0x04);
        der.extend((0u8..64).collect::<Vec<_>>());
        let jwk = p256_jwk(&der, "kid-1").expect("jwk");
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        assert_eq!(jwk["kid"], "kid-1");
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-256");
        let x = b64.decode(jwk["x"].as_str().unwrap()).unwrap();
        let y = b64.decode(jwk["y"].as_str().unwrap()).unwrap();
        assert_eq!(x, (0u8..32).collect::<Vec<_>>());
        assert_eq!(y, (32u8..64).collect::<Vec<_>>());
    }

    #[test]
    fn jwk_refuses_other_keys() {
        assert!(p256_jwk(&[0x30, 0x00], "k").is_err());
        let mut compressed = P256_SPKI_HEADER.to_vec();
        compressed.extend([0x02; 65]);
        assert!(p256_jwk(&compressed, "k").is_err());
    }

    #[test]
    fn discovery_document_points_at_the_key_set_under_the_issuer() {
        let doc = openid_configuration("https://kubernetes.default.svc.cluster.local", &["ES256"]);
        assert_eq!(
            doc["jwks_uri"],
            "https://kubernetes.default.svc.cluster.local/openid/v1/jwks"
        );
        assert_eq!(doc["response_types_supported"], json!(["id_token"]));
        assert_eq!(doc["subject_types_supported"], json!(["public"]));
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            json!(["ES256"])
        );
    }
}
