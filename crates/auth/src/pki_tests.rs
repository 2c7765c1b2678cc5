use super::*;

fn options(sans: &[&str]) -> PkiOptions {
    PkiOptions {
        tls_sans: sans.iter().map(|s| s.to_string()).collect(),
        server_url: "https://127.0.0.1:6443".into(),
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("meta").permissions().mode() & 0o777
}

#[test]
fn create_then_reload_keeps_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Pki::load_or_create(dir.path(), &options(&[])).expect("create");
    let second = Pki::load_or_create(dir.path(), &options(&[])).expect("reload");
    assert_eq!(first.ca_fingerprint(), second.ca_fingerprint());
    assert_eq!(first.serving_cert_pem(), second.serving_cert_pem());
    assert_eq!(
        first.admin_credentials().cert_pem,
        second.admin_credentials().cert_pem
    );
    assert_eq!(
        first.service_account_key_pem(),
        second.service_account_key_pem()
    );
    assert_eq!(first.bootstrap_token(), second.bootstrap_token());
    assert!(is_bootstrap_token(first.bootstrap_token()));
    assert!(first
        .service_account_public_key_pem()
        .contains("PUBLIC KEY"));

    #[cfg(unix)]
    for (name, want) in [
        ("ca.key", 0o600),
        ("server.key", 0o600),
        ("admin.key", 0o600),
        ("service-account.key", 0o600),
        ("join-token", 0o600),
        ("ca.crt", 0o644),
    ] {
        assert_eq!(mode(&first.pki_dir().join(name)), want, "{name}");
    }

    for san in ["localhost", "127.0.0.1", "::1", "kubernetes.default.svc"] {
        let san = San::parse(san).expect("san");
        assert!(first.serving_sans().contains(&san), "{san} missing");
    }
    // The machine's host name is certified too (when it is a valid DNS name).
    if let Some(host) = hostname::get().ok().and_then(|h| h.into_string().ok()) {
        if let Ok(san) = San::parse(&host) {
            assert!(
                first.serving_sans().contains(&san),
                "host name {san} missing"
            );
        }
    }
}

#[test]
fn new_tls_san_reissues_serving_cert_with_same_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Pki::load_or_create(dir.path(), &options(&["api.example.com"])).expect("create");
    let second = Pki::load_or_create(dir.path(), &options(&["10.43.0.1", "api.example.com"]))
        .expect("reload");
    assert_eq!(first.ca_fingerprint(), second.ca_fingerprint());
    assert_ne!(first.serving_cert_pem(), second.serving_cert_pem());
    assert!(second
        .serving_sans()
        .contains(&San::parse("10.43.0.1").expect("san")));
    assert!(second
        .serving_sans()
        .contains(&San::parse("api.example.com").expect("san")));
    // The admin certificate was not touched.
    assert_eq!(
        first.admin_credentials().cert_pem,
        second.admin_credentials().cert_pem
    );
    // Dropping the extra name later keeps the current certificate (it still covers everything).
    let third = Pki::load_or_create(dir.path(), &options(&[])).expect("reload");
    assert_eq!(second.serving_cert_pem(), third.serving_cert_pem());
}

#[test]
fn missing_leaf_is_reissued_but_half_a_ca_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Pki::load_or_create(dir.path(), &options(&[])).expect("create");
    std::fs::remove_file(first.pki_dir().join("admin.key")).expect("rm");
    let second = Pki::load_or_create(dir.path(), &options(&[])).expect("reload");
    assert_ne!(
        first.admin_credentials().cert_pem,
        second.admin_credentials().cert_pem
    );

    std::fs::remove_file(first.pki_dir().join("ca.key")).expect("rm");
    assert!(matches!(
        Pki::load_or_create(dir.path(), &options(&[])),
        Err(PkiError::IncompleteCa { .. })
    ));
}

#[test]
fn malformed_inputs_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(matches!(
        Pki::load_or_create(dir.path(), &options(&["not a name"])),
        Err(PkiError::InvalidSan(_))
    ));
    let pki = Pki::load_or_create(dir.path(), &options(&[])).expect("create");
    std::fs::write(pki.bootstrap_token_path(), "short\n").expect("write");
    assert!(matches!(
        Pki::load_or_create(dir.path(), &options(&[])),
        Err(PkiError::MalformedBootstrapToken { .. })
    ));
}

#[test]
fn issued_client_certificate_authenticates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::load_or_create(dir.path(), &options(&[])).expect("create");
    let node = pki
        .issue_client_certificate("system:node:n1", Some("system:nodes"))
        .expect("issue");
    let der = crate::certs::cert_der_from_pem(&node.cert_pem).expect("der");
    let user = crate::Authenticator::new()
        .authenticate(Some(std::slice::from_ref(&der)), None)
        .expect("auth");
    assert_eq!(user.name, "system:node:n1");
    assert_eq!(user.groups, vec!["system:nodes", crate::ALL_AUTHENTICATED]);
    assert!(!format!("{node:?}").contains("PRIVATE"));
    assert!(!format!("{pki:?}").contains(pki.bootstrap_token()));
}

#[test]
fn url_host_extraction() {
    let cases: &[(&str, Option<&str>)] = &[
        ("", None),
        ("https://127.0.0.1:6443", Some("127.0.0.1")),
        ("https://[::1]:6443/", Some("::1")),
        ("https://api.example.com", Some("api.example.com")),
        (
            "https://user@host.example:443/path?q#f",
            Some("host.example"),
        ),
        ("node1:6443", Some("node1")),
    ];
    for (url, want) in cases {
        assert_eq!(url_host(url).expect("url").as_deref(), *want, "{url}");
    }
    for bad in ["https://[::1:6443", "https://host:port", "https://:6443"] {
        assert!(url_host(bad).is_err(), "{bad}");
    }
}

#[test]
fn authenticator_from_pki_reads_token_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::load_or_create(dir.path(), &options(&[])).expect("create");
    std::fs::write(pki.token_file_path(), "tok,bob,uid-b,\"g1\"\n").expect("write");
    let auth = crate::Authenticator::from_pki(&pki).expect("auth");
    let bob = auth.authenticate(None, Some("Bearer tok")).expect("bob");
    assert_eq!(bob.name, "bob");
    // The join token is a bootstrap token: the server checks it against its Secret.
    let header = format!("Bearer {}", pki.bootstrap_token());
    assert!(auth.authenticate(None, Some(&header)).is_err());

    std::fs::write(pki.token_file_path(), "tok,bob\n").expect("write");
    assert!(matches!(
        crate::Authenticator::from_pki(&pki),
        Err(PkiError::TokenFile { .. })
    ));
}

#[test]
fn a_seeded_join_token_is_the_new_clusters_and_never_replaces_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chosen = "abcdef.0123456789abcdef";
    assert!(matches!(
        seed_bootstrap_token(dir.path(), "Not-A-Token"),
        Err(PkiError::MalformedBootstrapToken { .. })
    ));
    assert!(seed_bootstrap_token(dir.path(), chosen).expect("seed"));
    let pki = Pki::load_or_create(dir.path(), &options(&[])).expect("create");
    assert_eq!(pki.bootstrap_token(), chosen);
    assert!(!seed_bootstrap_token(dir.path(), "zzzzzz.zzzzzzzzzzzzzzzz").expect("seed again"));
    let again = Pki::load_or_create(dir.path(), &options(&[])).expect("reload");
    assert_eq!(again.bootstrap_token(), chosen);
}
