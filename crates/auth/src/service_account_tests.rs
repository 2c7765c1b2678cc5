use super::*;
use rcgen::KeyPair;

fn tokens() -> ServiceAccountTokens {
    let key = KeyPair::generate().expect("key");
    ServiceAccountTokens::new(
        &key.serialize_pem(),
        &key.public_key_pem(),
        SERVICE_ACCOUNT_ISSUER,
    )
    .expect("tokens")
}

fn grant(audiences: &[&str], expiration_seconds: i64) -> TokenGrant {
    TokenGrant {
        namespace: "team".into(),
        service_account: ObjectRef {
            name: "builder".into(),
            uid: "sa-uid".into(),
        },
        audiences: audiences.iter().map(|a| a.to_string()).collect(),
        expiration_seconds,
        pod: Some(ObjectRef {
            name: "web".into(),
            uid: "pod-uid".into(),
        }),
        secret: None,
        node: None,
        warn_after: None,
    }
}

fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

#[test]
fn issued_tokens_authenticate_as_the_service_account() {
    let t = tokens();
    let issued = t
        .issue(&grant(&[SERVICE_ACCOUNT_ISSUER], 3600), now())
        .expect("issue");
    assert_eq!(issued.expires_at - now(), 3600);
    let user = t
        .authenticate_token(&issued.token)
        .expect("valid")
        .expect("recognised");
    assert_eq!(user.name, "system:serviceaccount:team:builder");
    assert_eq!(user.uid, "sa-uid");
    assert_eq!(
        user.groups,
        vec!["system:serviceaccounts", "system:serviceaccounts:team"]
    );
    assert_eq!(user.extra[POD_NAME_KEY], vec!["web".to_string()]);
    assert_eq!(user.extra[POD_UID_KEY], vec!["pod-uid".to_string()]);
    assert!(user.extra[CREDENTIAL_ID_KEY][0].starts_with("JTI="));
}

#[test]
fn header_carries_es256_and_the_key_id() {
    let t = tokens();
    let issued = t
        .issue(&grant(&[SERVICE_ACCOUNT_ISSUER], 600), now())
        .expect("issue");
    let header = jsonwebtoken::decode_header(&issued.token).expect("header");
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.kid.as_deref(), Some(t.key_id.as_str()));
    assert_eq!(t.key_id.len(), 43, "base64url of a SHA-256 digest");
}

#[test]
fn wrong_audience_expired_foreign_key_and_tampering_are_rejected() {
    let t = tokens();
    let other_audience = t
        .issue(&grant(&["vault"], 3600), now())
        .expect("issue")
        .token;
    assert!(matches!(
        t.authenticate_token(&other_audience),
        Err(AuthError::TokenRejected(_))
    ));

    let expired = t
        .issue(&grant(&[SERVICE_ACCOUNT_ISSUER], 600), now() - 3600)
        .expect("issue")
        .token;
    assert!(t.authenticate_token(&expired).is_err());

    let foreign = tokens()
        .issue(&grant(&[SERVICE_ACCOUNT_ISSUER], 600), now())
        .expect("issue")
        .token;
    assert!(
        t.authenticate_token(&foreign).is_err(),
        "signed by another key"
    );

    // Swap the payload for one naming another account; the signature no longer matches.
    let good = t
        .issue(&grant(&[SERVICE_ACCOUNT_ISSUER], 600), now())
        .expect("issue")
        .token;
    let mut g = grant(&[SERVICE_ACCOUNT_ISSUER], 600);
    g.service_account.name = "admin".into();
    let evil = t.issue(&g, now()).expect("issue").token;
    let parts: Vec<&str> = good.split('.').collect();
    let evil_payload = evil.split('.').nth(1).expect("payload");
    let tampered = format!("{}.{}.{}", parts[0], evil_payload, parts[2]);
    assert!(t.authenticate_token(&tampered).is_err());
}

#[test]
fn tokens_of_other_kinds_are_left_to_other_authenticators() {
    let t = tokens();
    assert_eq!(t.authenticate_token("abcdef.0123456789abcdef"), Ok(None));
    assert_eq!(t.authenticate_token("not-a-jwt"), Ok(None));
    let key = KeyPair::generate().expect("key");
    let elsewhere = ServiceAccountTokens::new(
        &key.serialize_pem(),
        &key.public_key_pem(),
        "https://elsewhere.example",
    )
    .expect("tokens");
    let token = elsewhere
        .issue(&grant(&["https://elsewhere.example"], 600), now())
        .expect("issue")
        .token;
    assert_eq!(t.authenticate_token(&token), Ok(None));
}
