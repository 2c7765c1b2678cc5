use super::*;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

fn self_signed(dn: DistinguishedName) -> CertificateDer<'static> {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::default();
    params.distinguished_name = dn;
    params.self_signed(&key).expect("cert").der().clone()
}

struct Rejecting;

impl TokenAuthenticator for Rejecting {
    fn authenticate_token(&self, token: &str) -> Result<Option<UserInfo>, AuthError> {
        if token.starts_with("jwt.") {
            Err(AuthError::TokenRejected("token has expired".into()))
        } else {
            Ok(None)
        }
    }
}

fn authenticator() -> Authenticator {
    let tokens =
        crate::tokenfile::StaticTokens::parse("secret,alice,uid-a,\"dev,ops\"\n").expect("tokens");
    Authenticator::new()
        .with_token_authenticator(Arc::new(tokens))
        .with_token_authenticator(Arc::new(Rejecting))
}

// Behaviour of upstream bearertoken_test.go.
#[test]
fn bearer_header_parsing() {
    let cases: &[(&str, Option<&str>)] = &[
        ("Bearer token", Some("token")),
        ("bearer token", Some("token")),
        ("BEARER token", Some("token")),
        ("  Bearer token  ", Some("token")),
        ("Bearer token extra", Some("token")),
        ("Bearer", None),
        ("Bearer ", None),
        ("Bearer  token", None),
        ("Basic dXNlcjpwYXNz", None),
        ("", None),
    ];
    for (header, want) in cases {
        assert_eq!(bearer_token(header), *want, "header {header:?}");
    }
}

#[test]
fn tokens_map_to_users_with_authenticated_group() {
    let auth = authenticator();
    let alice = auth
        .authenticate(None, Some("Bearer secret"))
        .expect("alice");
    assert_eq!(alice.name, "alice");
    assert_eq!(alice.uid, "uid-a");
    assert_eq!(alice.groups, vec!["dev", "ops", ALL_AUTHENTICATED]);
}

#[test]
fn bad_or_missing_credentials() {
    let auth = authenticator();
    assert_eq!(
        auth.authenticate(None, Some("Bearer nope")),
        Err(AuthError::InvalidBearerToken)
    );
    assert_eq!(
        auth.authenticate(None, Some("Bearer jwt.expired")),
        Err(AuthError::TokenRejected("token has expired".into()))
    );
    assert_eq!(auth.authenticate(None, None), Err(AuthError::NoCredentials));
    assert_eq!(
        auth.authenticate(None, Some("Basic Zm9vOmJhcg==")),
        Err(AuthError::NoCredentials)
    );
    assert_eq!(
        auth.authenticate(Some(&[]), None),
        Err(AuthError::NoCredentials)
    );

    // Anonymous only covers the absence of credentials, never a bad one.
    let anon = authenticator().with_anonymous(true);
    assert_eq!(anon.authenticate(None, None), Ok(UserInfo::anonymous()));
    assert_eq!(
        anon.authenticate(None, Some("Bearer nope")),
        Err(AuthError::InvalidBearerToken)
    );
}

#[test]
fn client_certificate_identity() {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "jane");
    dn.push(DnType::OrganizationName, "system:masters");
    // rcgen keeps one value per attribute type; a custom entry with O's OID adds a second O.
    dn.push(DnType::CustomDnType(vec![2, 5, 4, 10]), "team-b");
    let cert = self_signed(dn);
    let user = authenticator()
        .authenticate(Some(std::slice::from_ref(&cert)), Some("Bearer secret"))
        .expect("user");
    // The certificate wins over the token, as x509 precedes tokens upstream.
    assert_eq!(user.name, "jane");
    assert_eq!(
        user.groups,
        vec!["system:masters", "team-b", ALL_AUTHENTICATED]
    );
    let id = &user.extra[CREDENTIAL_ID_KEY];
    assert_eq!(id.len(), 1);
    assert!(id[0].starts_with("X509SHA256=") && id[0].len() == "X509SHA256=".len() + 64);
}

#[test]
fn certificate_without_common_name_falls_through() {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "nobody");
    let cert = self_signed(dn);
    let certs = std::slice::from_ref(&cert);
    let auth = authenticator();
    assert_eq!(
        auth.authenticate(Some(certs), None),
        Err(AuthError::NoCredentials)
    );
    assert_eq!(
        auth.authenticate(Some(certs), Some("Bearer secret"))
            .map(|u| u.name),
        Ok("alice".to_string())
    );
}

#[test]
fn garbage_certificate_is_an_error_unless_a_token_succeeds() {
    let junk = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01]);
    let certs = std::slice::from_ref(&junk);
    let auth = authenticator().with_anonymous(true);
    assert!(matches!(
        auth.authenticate(Some(certs), None),
        Err(AuthError::InvalidClientCertificate(_))
    ));
    assert_eq!(
        auth.authenticate(Some(certs), Some("Bearer secret"))
            .map(|u| u.name),
        Ok("alice".to_string())
    );
}

#[test]
fn authenticated_group_is_not_duplicated() {
    let user = UserInfo {
        name: "bob".into(),
        groups: vec![ALL_AUTHENTICATED.into()],
        ..UserInfo::default()
    };
    assert_eq!(add_authenticated_group(user.clone()), user);
    assert_eq!(
        add_authenticated_group(UserInfo::anonymous()),
        UserInfo::anonymous()
    );
}

#[test]
fn constant_time_comparison() {
    assert!(crate::bootstrap_token::constant_time_eq(b"abc", b"abc"));
    assert!(!crate::bootstrap_token::constant_time_eq(b"abc", b"abd"));
    assert!(!crate::bootstrap_token::constant_time_eq(b"abc", b"abcd"));
}

#[test]
fn status_body_and_user_info_json() {
    assert_eq!(
        unauthorized_status().to_string(),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#
    );
    let json = serde_json::to_value(UserInfo::anonymous()).expect("json");
    assert_eq!(
        json,
        serde_json::json!({"username": "system:anonymous", "groups": ["system:unauthenticated"]})
    );
}
