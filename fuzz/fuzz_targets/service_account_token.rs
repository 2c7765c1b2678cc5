//! Bearer tokens checked as service-account JWTs by an authenticator with a fresh signing key
//! (the seeds are well-formed tokens of another key). A token accepted as anyone but the one
//! service account this key ever signed for is a forgery: the assertion makes it a crash.
#![no_main]

use std::sync::OnceLock;

use ferrokube_auth::{
    ObjectRef, Pki, PkiOptions, ServiceAccountTokens, TokenAuthenticator, TokenGrant,
};
use libfuzzer_sys::fuzz_target;

struct Issuer {
    tokens: ServiceAccountTokens,
    _dir: tempfile::TempDir,
}

fn issuer() -> &'static Issuer {
    static ISSUER: OnceLock<Issuer> = OnceLock::new();
    ISSUER.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = PkiOptions {
            tls_sans: vec![],
            server_url: "https://127.0.0.1:6443".into(),
        };
        let pki = Pki::load_or_create(dir.path(), &options).expect("pki");
        let tokens = ServiceAccountTokens::from_pki(&pki).expect("tokens");
        let grant = TokenGrant {
            namespace: "dev".into(),
            service_account: ObjectRef {
                name: "ci".into(),
                uid: "u1".into(),
            },
            audiences: tokens.api_audiences().to_vec(),
            expiration_seconds: 3600,
            pod: None,
            secret: None,
            node: None,
            warn_after: None,
        };
        // One real token, so the key has signed something a forgery could be made from.
        tokens
            .issue(&grant, chrono::Utc::now().timestamp())
            .expect("issue");
        Issuer { tokens, _dir: dir }
    })
}

fuzz_target!(|data: &[u8]| {
    let issuer = issuer();
    let token = String::from_utf8_lossy(data);
    if let Ok(Some(user)) = issuer.tokens.authenticate_token(&token) {
        // Base64 may spell the same bytes more than one way; the claims must be the issued ones.
        assert_eq!(
            user.name, "system:serviceaccount:dev:ci",
            "forged token {token:?}"
        );
    }
});
