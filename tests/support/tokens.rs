//! A service-account token issuer over a fresh PKI, for tests that need real tokens without a
//! server (decoders and fuzzers of the JWT path).

use ferrokube_auth::{ObjectRef, Pki, PkiOptions, ServiceAccountTokens, TokenGrant};
use tempfile::TempDir;

/// An issuer with keys of its own; keep the directory alive as long as the issuer.
pub fn issuer() -> (TempDir, ServiceAccountTokens) {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = PkiOptions {
        tls_sans: vec![],
        server_url: "https://127.0.0.1:6443".into(),
    };
    let pki = Pki::load_or_create(dir.path(), &options).expect("pki");
    let tokens = ServiceAccountTokens::from_pki(&pki).expect("tokens");
    (dir, tokens)
}

/// A valid 10-minute API token for `dev/ci`, signed by `tokens`.
pub fn issue(tokens: &ServiceAccountTokens) -> String {
    let grant = TokenGrant {
        namespace: "dev".into(),
        service_account: ObjectRef {
            name: "ci".into(),
            uid: "u1".into(),
        },
        audiences: tokens.api_audiences().to_vec(),
        expiration_seconds: 600,
        pod: None,
        secret: None,
        node: None,
        warn_after: None,
    };
    tokens
        .issue(&grant, chrono::Utc::now().timestamp())
        .expect("issue")
        .token
}
