//! Service-account tokens as upstream issues them for `serviceaccounts/<name>/token`
//! (TokenRequest): ES256 JWTs signed with `<data_dir>/pki/service-account.key`, carrying the
//! `kubernetes.io` private claims (namespace, service account, bound pod/secret/node), and the
//! authenticator that turns such a token back into `system:serviceaccount:<ns>:<name>`.

use std::collections::BTreeMap;

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::authn::{TokenAuthenticator, UserInfo, CREDENTIAL_ID_KEY};
use crate::error::{AuthError, PkiError};
use crate::pki::Pki;

/// The issuer (and default API audience) of kube-apiserver's default configuration
/// (`--service-account-issuer`, `--api-audiences`).
pub const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// User names of service accounts: `system:serviceaccount:<namespace>:<name>`.
pub const SERVICE_ACCOUNT_USER_PREFIX: &str = "system:serviceaccount:";
/// Group of every service account.
pub const ALL_SERVICE_ACCOUNTS: &str = "system:serviceaccounts";
/// `extra` keys upstream attaches for tokens bound to a pod / node.
const POD_NAME_KEY: &str = "authentication.kubernetes.io/pod-name";
const POD_UID_KEY: &str = "authentication.kubernetes.io/pod-uid";
const NODE_NAME_KEY: &str = "authentication.kubernetes.io/node-name";
const NODE_UID_KEY: &str = "authentication.kubernetes.io/node-uid";

/// An object a token is bound to (upstream `BoundObjectReference`, resolved to name + uid).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ObjectRef {
    /// Object name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Object uid.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
}

/// What a token is for (the validated TokenRequest).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenGrant {
    /// Namespace of the service account.
    pub namespace: String,
    /// The service account.
    pub service_account: ObjectRef,
    /// Intended audiences (never empty: the handler defaults them to [`api_audiences`]).
    ///
    /// [`api_audiences`]: ServiceAccountTokens::api_audiences
    pub audiences: Vec<String>,
    /// Lifetime in seconds.
    pub expiration_seconds: i64,
    /// Bound pod, if any.
    pub pod: Option<ObjectRef>,
    /// Bound secret, if any.
    pub secret: Option<ObjectRef>,
    /// Bound node (upstream adds the pod's node for pod-bound tokens).
    pub node: Option<ObjectRef>,
    /// Seconds after issue from which using the token logs a warning upstream (`warnafter`,
    /// set when a kubelet's 3607 s request was extended).
    pub warn_after: Option<i64>,
}

/// A signed token and when it expires (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The JWT.
    pub token: String,
    /// `exp` of the token.
    pub expires_at: i64,
}

/// The `kubernetes.io` private claim (upstream `privateClaims.Kubernetes`).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
struct KubernetesClaims {
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    serviceaccount: ObjectRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pod: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    warnafter: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Vec<String>,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
    #[serde(rename = "kubernetes.io")]
    kubernetes: KubernetesClaims,
}

/// Signs and verifies service-account tokens with the cluster's service-account key.
pub struct ServiceAccountTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    key_id: String,
    /// The public key as a JWK, for the issuer discovery key set.
    jwk: serde_json::Value,
    issuer: String,
    api_audiences: Vec<String>,
}

impl std::fmt::Debug for ServiceAccountTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The signing key must never reach logs.
        f.debug_struct("ServiceAccountTokens")
            .field("key_id", &self.key_id)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl ServiceAccountTokens {
    /// Tokens signed with the PKI's service-account key, issued by [`SERVICE_ACCOUNT_ISSUER`].
    pub fn from_pki(pki: &Pki) -> Result<ServiceAccountTokens, PkiError> {
        ServiceAccountTokens::new(
            pki.service_account_key_pem(),
            pki.service_account_public_key_pem(),
            SERVICE_ACCOUNT_ISSUER,
        )
        .map_err(|reason| PkiError::InvalidPem {
            path: pki.pki_dir().join("service-account.key"),
            reason,
        })
    }

    /// From a PKCS#8 P-256 private key and its SPKI public key (both PEM).
    pub fn new(
        private_pem: &str,
        public_pem: &str,
        issuer: &str,
    ) -> Result<ServiceAccountTokens, String> {
        let encoding = EncodingKey::from_ec_pem(private_pem.as_bytes())
            .map_err(|e| format!("service-account signing key: {e}"))?;
        let decoding = DecodingKey::from_ec_pem(public_pem.as_bytes())
            .map_err(|e| format!("service-account public key: {e}"))?;
        let spki = crate::oidc_discovery::pem_der(public_pem)?;
        let key_id = key_id(&spki);
        Ok(ServiceAccountTokens {
            encoding,
            decoding,
            jwk: crate::oidc_discovery::p256_jwk(&spki, &key_id)?,
            key_id,
            issuer: issuer.to_string(),
            api_audiences: vec![issuer.to_string()],
        })
    }

    /// The audiences the API server itself accepts (the default for TokenRequests without any).
    pub fn api_audiences(&self) -> &[String] {
        &self.api_audiences
    }

    /// The `iss` of every token we sign.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The OpenID discovery document for [`issuer`](Self::issuer).
    pub fn openid_configuration(&self) -> serde_json::Value {
        crate::oidc_discovery::openid_configuration(&self.issuer, &["ES256"])
    }

    /// The JSON Web Key Set holding the public key tokens are verified with.
    pub fn key_set(&self) -> serde_json::Value {
        crate::oidc_discovery::key_set(std::slice::from_ref(&self.jwk))
    }

    /// Signs a token for `grant`, valid from `now` (Unix seconds).
    pub fn issue(&self, grant: &TokenGrant, now: i64) -> Result<IssuedToken, AuthError> {
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: format!(
                "{SERVICE_ACCOUNT_USER_PREFIX}{}:{}",
                grant.namespace, grant.service_account.name
            ),
            aud: grant.audiences.clone(),
            exp: now + grant.expiration_seconds,
            iat: now,
            nbf: now,
            jti: random_jti(),
            kubernetes: KubernetesClaims {
                namespace: grant.namespace.clone(),
                serviceaccount: grant.service_account.clone(),
                pod: grant.pod.clone(),
                secret: grant.secret.clone(),
                node: grant.node.clone(),
                warnafter: grant.warn_after.map(|w| now + w),
            },
        };
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| AuthError::TokenRejected(format!("signing token: {e}")))?;
        Ok(IssuedToken {
            token,
            expires_at: claims.exp,
        })
    }

    fn validation(&self) -> Validation {
        let mut v = Validation::new(Algorithm::ES256);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&self.api_audiences);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub", "nbf"]);
        v.validate_nbf = true;
        v
    }
}

/// Upstream's key id: base64url(SHA-256(DER of the public key)), unpadded.
fn key_id(spki_der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, spki_der);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

fn random_jti() -> String {
    let bytes: [u8; 16] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The issuer a JWT claims, without verifying anything (`None` when it is not a JWT at all).
fn unverified_issuer(token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let (_, payload, _, rest) = (parts.next()?, parts.next()?, parts.next()?, parts.next());
    if rest.is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("iss")?.as_str().map(str::to_string)
}

impl TokenAuthenticator for ServiceAccountTokens {
    fn authenticate_token(&self, token: &str) -> Result<Option<UserInfo>, AuthError> {
        // Like upstream's jwtTokenAuthenticator: a token from another issuer (or no JWT at all)
        // is someone else's to judge, not an error.
        if unverified_issuer(token).as_deref() != Some(self.issuer.as_str()) {
            return Ok(None);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation())
            .map_err(|e| AuthError::TokenRejected(format!("invalid bearer token, {e}")))?;
        let claims = data.claims;
        let k8s = &claims.kubernetes;
        let expected_sub = format!(
            "{SERVICE_ACCOUNT_USER_PREFIX}{}:{}",
            k8s.namespace, k8s.serviceaccount.name
        );
        if k8s.namespace.is_empty() || k8s.serviceaccount.name.is_empty() {
            return Err(AuthError::TokenRejected(
                "invalid bearer token, token has no service account".into(),
            ));
        }
        if claims.sub != expected_sub {
            return Err(AuthError::TokenRejected(
                "invalid bearer token, subject does not match the service account".into(),
            ));
        }
        let mut extra = BTreeMap::new();
        extra.insert(
            CREDENTIAL_ID_KEY.to_string(),
            vec![format!("JTI={}", claims.jti)],
        );
        for (bound, name_key, uid_key) in [
            (&k8s.pod, POD_NAME_KEY, POD_UID_KEY),
            (&k8s.node, NODE_NAME_KEY, NODE_UID_KEY),
        ] {
            if let Some(r) = bound {
                extra.insert(name_key.to_string(), vec![r.name.clone()]);
                extra.insert(uid_key.to_string(), vec![r.uid.clone()]);
            }
        }
        Ok(Some(UserInfo {
            name: expected_sub,
            uid: k8s.serviceaccount.uid.clone(),
            groups: vec![
                ALL_SERVICE_ACCOUNTS.to_string(),
                format!("{ALL_SERVICE_ACCOUNTS}:{}", k8s.namespace),
            ],
            extra,
        }))
    }
}

#[cfg(test)]
#[path = "service_account_tests.rs"]
mod tests;
