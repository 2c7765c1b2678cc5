//! CertificateSigningRequests end to end with the real kubectl: a request built from a fresh
//! key is listed with upstream's columns, approved with `kubectl certificate approve`, signed
//! by the cluster CA, and the issued certificate then authenticates as the requested user;
//! `kubectl certificate deny`; a request that does not fit its signer fails; bad PEM and
//! Approved+Denied are 422s; approving without `approve` on the signer is 403.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use serde_json::{json, Value};
use support::{eventually, stdout_ok, TestCluster};

const CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client";

fn kubectl_ok(c: &TestCluster, args: &[&str]) -> String {
    stdout_ok(&format!("kubectl {}", args.join(" ")), &c.kubectl(args))
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// A fresh key and a PEM CSR for `cn` in `orgs`.
fn request(cn: &str, orgs: &[&str]) -> (KeyPair, String) {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    for o in orgs {
        dn.push(DnType::OrganizationName, *o);
    }
    params.distinguished_name = dn;
    let csr = params.serialize_request(&key).expect("csr");
    (key, csr.pem().expect("pem"))
}

fn csr_object(name: &str, pem: &[u8], usages: &[&str]) -> Value {
    json!({
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {
            "request": b64(pem),
            "signerName": CLIENT_SIGNER,
            "expirationSeconds": 3600,
            "usages": usages,
        },
    })
}

/// `kubectl create -f` of one object written to a scratch file.
fn create(c: &TestCluster, obj: &Value) -> std::process::Output {
    let name = obj["metadata"]["name"].as_str().expect("name");
    let path = c.scratch().join(format!("{name}.json"));
    std::fs::write(&path, obj.to_string()).expect("write manifest");
    c.kubectl(&["create", "-f", path.to_str().expect("utf-8")])
}

fn get_csr(c: &TestCluster, name: &str) -> Value {
    serde_json::from_str(&kubectl_ok(c, &["get", "csr", name, "-o", "json"])).expect("json")
}

/// A kubeconfig presenting only the given client certificate.
fn cert_kubeconfig(c: &TestCluster, cert_pem: &str, key_pem: &str) -> PathBuf {
    let field = |path: &str| {
        let jsonpath = format!("jsonpath={{{path}}}");
        kubectl_ok(c, &["config", "view", "--raw", "--minify", "-o", &jsonpath])
    };
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {
            "server": field(".clusters[0].cluster.server"),
            "certificate-authority-data": field(".clusters[0].cluster.certificate-authority-data"),
        }}],
        "users": [{"name": "u", "user": {
            "client-certificate-data": b64(cert_pem.as_bytes()),
            "client-key-data": b64(key_pem.as_bytes()),
        }}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    });
    let path = c.scratch().join("issued.kubeconfig");
    std::fs::write(&path, config.to_string()).expect("writing kubeconfig");
    path
}

/// Waits for the signer to fill `status.certificate` (decoded PEM).
async fn issued_certificate(c: &TestCluster, name: &str) -> String {
    let cert = eventually(Duration::from_secs(20), || async {
        let csr = get_csr(c, name);
        let data = csr.pointer("/status/certificate")?.as_str()?.to_string();
        let pem = base64::engine::general_purpose::STANDARD
            .decode(data)
            .ok()?;
        String::from_utf8(pem).ok()
    })
    .await;
    cert.unwrap_or_else(|| panic!("{name} was never signed: {}", get_csr(c, name)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_sign_and_authenticate() {
    let c = TestCluster::start().await;
    let (key, pem) = request("jane", &["devs"]);
    let usages = ["digital signature", "key encipherment", "client auth"];
    stdout_ok(
        "create csr",
        &create(&c, &csr_object("jane", pem.as_bytes(), &usages)),
    );

    // The requester is recorded from the authenticated user, not the body.
    let stored = get_csr(&c, "jane");
    assert_eq!(stored["spec"]["username"], "admin", "{stored}");
    assert!(stored["spec"]["groups"]
        .as_array()
        .is_some_and(|g| g.contains(&json!("system:masters"))));

    let table = kubectl_ok(&c, &["get", "csr"]);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "AGE",
            "SIGNERNAME",
            "REQUESTOR",
            "REQUESTEDDURATION",
            "CONDITION"
        ]
    );
    let row = table.lines().find(|l| l.starts_with("jane ")).expect("row");
    assert!(
        row.contains(CLIENT_SIGNER) && row.contains("admin"),
        "{row}"
    );
    assert!(
        row.contains("60m") && row.trim_end().ends_with("Pending"),
        "{row}"
    );
    // Upstream's field selector on the signer.
    let selector = format!("--field-selector=spec.signerName={CLIENT_SIGNER}");
    let names = kubectl_ok(&c, &["get", "csr", &selector, "-o", "name"]);
    assert!(
        names
            .lines()
            .any(|l| l == "certificatesigningrequest.certificates.k8s.io/jane"),
        "{names}"
    );
    let none = kubectl_ok(
        &c,
        &[
            "get",
            "csr",
            "--field-selector=spec.signerName=example.com/none",
            "-o",
            "name",
        ],
    );
    assert_eq!(none.trim(), "");

    kubectl_ok(&c, &["certificate", "approve", "jane"]);
    let cert_pem = issued_certificate(&c, "jane").await;
    let row = kubectl_ok(&c, &["get", "csr", "jane", "--no-headers"]);
    assert!(row.trim_end().ends_with("Approved,Issued"), "{row}");

    // The certificate authenticates as the requested subject.
    let kubeconfig = cert_kubeconfig(&c, &cert_pem, &key.serialize_pem());
    let kc = kubeconfig.to_str().expect("utf-8");
    let whoami = kubectl_ok(&c, &["--kubeconfig", kc, "auth", "whoami", "-o", "json"]);
    let review: Value = serde_json::from_str(&whoami).expect("json");
    assert_eq!(review["status"]["userInfo"]["username"], "jane", "{review}");
    let groups = &review["status"]["userInfo"]["groups"];
    assert!(
        groups
            .as_array()
            .is_some_and(|g| g.contains(&json!("devs"))),
        "{review}"
    );

    // Deny another one: never signed.
    let (_, pem) = request("joe", &[]);
    stdout_ok(
        "create",
        &create(&c, &csr_object("joe", pem.as_bytes(), &usages)),
    );
    kubectl_ok(&c, &["certificate", "deny", "joe"]);
    let row = kubectl_ok(&c, &["get", "csr", "joe", "--no-headers"]);
    assert!(row.trim_end().ends_with("Denied"), "{row}");
    // Adding Approved to a denied request is refused: the two conditions are exclusive.
    let mut joe = get_csr(&c, "joe");
    joe["status"]["conditions"]
        .as_array_mut()
        .expect("conditions")
        .push(json!({"type": "Approved", "status": "True", "reason": "R", "message": "m"}));
    let url = format!(
        "{}/apis/certificates.k8s.io/v1/certificatesigningrequests/joe/approval",
        c.base_url()
    );
    let resp = c
        .http()
        .put(&url)
        .json(&joe)
        .send()
        .await
        .expect("PUT approval");
    assert_eq!(resp.status().as_u16(), 422);
    let status: Value = resp.json().await.expect("Status");
    assert_eq!(
        status["message"],
        "CertificateSigningRequest.certificates.k8s.io \"joe\" is invalid: status.conditions: \
         Invalid value: \"Denied\": Approved and Denied conditions are mutually exclusive"
    );

    // A request whose usages do not fit the signer fails with upstream's reason.
    let (_, pem) = request("server", &[]);
    let bad_usage = ["digital signature", "server auth"];
    stdout_ok(
        "create",
        &create(&c, &csr_object("server", pem.as_bytes(), &bad_usage)),
    );
    kubectl_ok(&c, &["certificate", "approve", "server"]);
    let failed = eventually(Duration::from_secs(20), || async {
        let csr = get_csr(&c, "server");
        let conditions = csr.pointer("/status/conditions")?.as_array()?.clone();
        conditions.into_iter().find(|c| c["type"] == "Failed")
    })
    .await
    .expect("a Failed condition");
    assert_eq!(failed["reason"], "SignerValidationFailure");
    assert_eq!(
        failed["message"],
        "invalid usage for client certificate: server auth"
    );
    assert!(get_csr(&c, "server")
        .pointer("/status/certificate")
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals() {
    let c = TestCluster::start().await;
    // Bad PEM: 422 with upstream's message, nothing stored.
    let usages = ["client auth"];
    let out = create(&c, &csr_object("bad", b"not a pem", &usages));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("is invalid: spec.request: Invalid value: []byte{0x6e, 0x6f")
            && err.contains("PEM block type must be CERTIFICATE REQUEST"),
        "{err}"
    );
    let out = c.kubectl(&["get", "csr", "bad"]);
    assert!(!out.status.success(), "bad request was stored");

    // Certificates live at least ten minutes.
    let (_, pem) = request("short", &[]);
    let mut short = csr_object("short", pem.as_bytes(), &usages);
    short["spec"]["expirationSeconds"] = json!(599);
    let out = create(&c, &short);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 600 seconds (10 minutes)"),
        "{err}"
    );

    // A signer we do not implement is stored and left pending.
    let (_, pem) = request("other", &[]);
    let mut other = csr_object("other", pem.as_bytes(), &usages);
    other["spec"]["signerName"] = json!("example.com/custom");
    stdout_ok("create", &create(&c, &other));

    // Approval needs `approve` on the signer, beyond updating the approval subresource.
    let (_, pem) = request("mine", &[]);
    stdout_ok(
        "create",
        &create(&c, &csr_object("mine", pem.as_bytes(), &usages)),
    );
    kubectl_ok(
        &c,
        &[
            "create",
            "clusterrole",
            "csr-updater",
            "--verb=get,list,update",
            "--resource=certificatesigningrequests,certificatesigningrequests/approval",
        ],
    );
    kubectl_ok(
        &c,
        &[
            "create",
            "clusterrolebinding",
            "csr-updater",
            "--clusterrole=csr-updater",
            "--user=bob",
        ],
    );
    let out = c.kubectl(&["certificate", "approve", "mine", "--as=bob"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"certificatesigningrequests.certificates.k8s.io "mine" is forbidden: user not permitted to approve requests with signerName "kubernetes.io/kube-apiserver-client""#),
        "{err}"
    );
    // Without any grant RBAC itself refuses.
    let out = c.kubectl(&["certificate", "approve", "mine", "--as=eve"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("forbidden"));
    let row = kubectl_ok(&c, &["get", "csr", "mine", "--no-headers"]);
    assert!(row.trim_end().ends_with("Pending"), "{row}");
    // With the bootstrap approver role bob may approve.
    kubectl_ok(
        &c,
        &[
            "create",
            "clusterrolebinding",
            "bob-approver",
            "--clusterrole=system:certificates.k8s.io:kube-apiserver-client-approver",
            "--user=bob",
        ],
    );
    let approved = eventually(Duration::from_secs(10), || async {
        c.kubectl(&["certificate", "approve", "mine", "--as=bob"])
            .status
            .success()
            .then_some(())
    })
    .await;
    assert!(approved.is_some());
    issued_certificate(&c, "mine").await;
    let row = kubectl_ok(&c, &["get", "csr", "other", "--no-headers"]);
    assert!(row.trim_end().ends_with("Pending"), "{row}");
}
