use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestSpec,
};
use k8s_openapi::ByteString;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};

use super::*;

fn request(cn: &str, org: &str, sans: Vec<SanType>) -> String {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, org);
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.subject_alt_names = sans;
    params
        .serialize_request(&key)
        .expect("csr")
        .pem()
        .expect("pem")
}

fn csr(user: &str, pem: String, usages: &[&str]) -> CertificateSigningRequest {
    CertificateSigningRequest {
        spec: CertificateSigningRequestSpec {
            request: ByteString(pem.into_bytes()),
            signer_name: rules::KUBELET_SERVING.into(),
            usages: Some(usages.iter().map(|u| u.to_string()).collect()),
            username: Some(user.into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

const SERVING: [&str; 3] = ["digital signature", "key encipherment", "server auth"];

fn ip_san() -> Vec<SanType> {
    vec![SanType::IpAddress("10.0.0.7".parse().expect("ip"))]
}

#[test]
fn a_node_asking_for_itself_is_approved() {
    let pem = request("system:node:n1", "system:nodes", ip_san());
    assert_eq!(refusal(&csr("system:node:n1", pem.clone(), &SERVING)), None);
    // Without key encipherment (ECDSA keys), as upstream accepts.
    let usages = ["digital signature", "server auth"];
    assert_eq!(refusal(&csr("system:node:n1", pem, &usages)), None);
}

#[test]
fn another_nodes_name_is_left_pending() {
    let pem = request("system:node:n2", "system:nodes", ip_san());
    assert!(refusal(&csr("system:node:n1", pem, &SERVING))
        .is_some_and(|why| why.contains("may not request")));
}

#[test]
fn anyone_but_a_node_is_left_pending() {
    let pem = request("system:node:n1", "system:nodes", ip_san());
    assert!(refusal(&csr("admin", pem.clone(), &SERVING)).is_some());
    assert!(refusal(&csr("system:node:", pem, &SERVING)).is_some());
}

#[test]
fn subject_names_and_usages_must_be_the_serving_ones() {
    let email = vec![SanType::Rfc822Name("a@b.c".try_into().expect("email"))];
    let pem = request("system:node:n1", "system:nodes", email);
    assert!(refusal(&csr("system:node:n1", pem, &SERVING)).is_some());
    let pem = request("system:node:n1", "system:nodes", ip_san());
    let client = ["digital signature", "key encipherment", "client auth"];
    assert!(refusal(&csr("system:node:n1", pem.clone(), &client)).is_some());
    let extra = [
        "digital signature",
        "key encipherment",
        "server auth",
        "client auth",
    ];
    assert!(refusal(&csr("system:node:n1", pem, &extra)).is_some());
    let pem = request("system:node:n1", "system:masters", ip_san());
    assert!(refusal(&csr("system:node:n1", pem, &SERVING)).is_some());
}

#[test]
fn only_the_node_itself_is_accepted() {
    assert!(may_request_serving_cert("system:node:n1", "n1"));
    assert!(!may_request_serving_cert("system:ferrokube:agent", "n1"));
    assert!(!may_request_serving_cert("system:node:n1", "n2"));
    assert!(!may_request_serving_cert("system:node:n1x", "n1"));
    assert!(!may_request_serving_cert("system:serviceaccount:a:b", "n1"));
}
