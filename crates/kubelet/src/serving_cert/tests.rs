use std::net::IpAddr;

use super::store::{self, CertFacts, StoredCert, SubjectName};
use super::{names_for, request};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

/// A self-signed certificate standing in for an issued one, valid until the end of `until`.
fn self_signed(names: &[&str], until: i32) -> StoredCert {
    let key = rcgen::KeyPair::generate().expect("key");
    let sans: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = rcgen::CertificateParams::new(sans).expect("params");
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(until, 12, 31);
    let cert = params.self_signed(&key).expect("sign");
    StoredCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

#[test]
fn request_names_the_node_and_its_addresses() {
    let names = names_for("node-a", ip("10.0.0.7"), ip("0.0.0.0"));
    assert_eq!(
        names,
        vec![
            SubjectName::Ip(ip("10.0.0.7")),
            SubjectName::Dns("node-a".into())
        ]
    );
    let (_key, pem) = request::build("node-a", &names).expect("build");
    let parsed = rcgen::CertificateSigningRequestParams::from_pem(&pem).expect("parse");
    let dn: Vec<String> = parsed
        .params
        .distinguished_name
        .iter()
        .map(|(t, v)| format!("{t:?}={v:?}"))
        .collect();
    assert!(
        dn.iter().any(|d| d.contains("system:node:node-a")),
        "{dn:?}"
    );
    assert!(dn.iter().any(|d| d.contains("system:nodes")), "{dn:?}");
    assert_eq!(parsed.params.subject_alt_names.len(), 2);
}

#[test]
fn a_specific_listen_address_is_named_too_and_odd_node_names_are_not() {
    let names = names_for("Not_A_DNS_Name", ip("10.0.0.7"), ip("127.0.0.1"));
    assert_eq!(
        names,
        vec![
            SubjectName::Ip(ip("10.0.0.7")),
            SubjectName::Ip(ip("127.0.0.1"))
        ]
    );
}

#[test]
fn stored_certificate_is_reused_only_while_valid_and_covering() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = store::path_in(dir.path());
    let cert = self_signed(&["node-a", "10.0.0.7"], 2099);
    store::save(&path, &cert).expect("save");
    let loaded = store::load(&path).expect("load");
    assert!(store::certified_key(&loaded).is_ok());
    let facts = CertFacts::of_pem(&loaded.cert_pem).expect("facts");
    let wanted = names_for("node-a", ip("10.0.0.7"), ip("0.0.0.0"));
    assert!(facts.usable_for(&wanted, store::now_secs()));
    // The node moved: the stored certificate no longer names it.
    let moved = names_for("node-a", ip("10.0.0.8"), ip("0.0.0.0"));
    assert!(!facts.usable_for(&moved, store::now_secs()));
    let expired =
        CertFacts::of_pem(&self_signed(&["node-a", "10.0.0.7"], 2021).cert_pem).expect("facts");
    assert!(!expired.usable_for(&wanted, store::now_secs()));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn rotation_deadline_lies_between_70_and_90_percent() {
    let facts = CertFacts {
        not_before: 1000,
        not_after: 2000,
        names: vec![],
    };
    assert_eq!(facts.rotation_deadline(0.0), 1700);
    assert_eq!(facts.rotation_deadline(1.0), 1900);
    assert_eq!(facts.rotation_deadline(0.5), 1800);
}

#[test]
fn garbage_on_disk_is_not_a_certificate() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = store::path_in(dir.path());
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    std::fs::write(&path, "nonsense").expect("write");
    assert!(store::load(&path).is_none());
    let bad = StoredCert {
        cert_pem: "nope".into(),
        key_pem: "nope".into(),
    };
    assert!(CertFacts::of_pem(&bad.cert_pem).is_err());
    assert!(store::certified_key(&bad).is_err());
}
