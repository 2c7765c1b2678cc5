//! Node identities end to end with the real kubectl (no Docker): bootstrap tokens made as
//! `bootstrap.kubernetes.io/token` Secrets authenticate as `system:bootstrap:<id>` until they
//! expire or are deleted; the server's join token is one of them; a node client certificate
//! request is auto-approved; and a node (`system:node:<name>`) is confined by the Node
//! authorizer and NodeRestriction to its own pods, Node and Lease and to what its pods
//! reference, with upstream's 403 messages.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::api::{Api, Patch, PatchParams};
use serde_json::{json, Value};
use support::{eventually, stdout_ok, ClusterOptions, TestCluster};

const KUBELET_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn kubectl_ok(c: &TestCluster, args: &[&str]) -> String {
    stdout_ok(&format!("kubectl {}", args.join(" ")), &c.kubectl(args))
}

/// A kubeconfig with the cluster's server and CA and the given user entry.
fn kubeconfig_for(c: &TestCluster, file: &str, user: Value) -> PathBuf {
    let ca = std::fs::read(c.data_dir().join("pki/ca.crt")).expect("ca.crt");
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {
            "server": c.base_url(),
            "certificate-authority-data": b64(&ca),
        }}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    });
    let path = c.scratch().join(file);
    std::fs::write(&path, config.to_string()).expect("writing kubeconfig");
    path
}

/// kubectl under another kubeconfig.
fn kubectl_as(c: &TestCluster, kubeconfig: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--kubeconfig", kubeconfig.to_str().expect("utf-8")];
    all.extend_from_slice(args);
    c.kubectl(&all)
}

fn ok_as(c: &TestCluster, kubeconfig: &Path, args: &[&str]) -> String {
    stdout_ok(
        &format!("kubectl {}", args.join(" ")),
        &kubectl_as(c, kubeconfig, args),
    )
}

/// Runs a command that must fail; returns its stderr.
fn refused_as(c: &TestCluster, kubeconfig: &Path, args: &[&str]) -> String {
    let out = kubectl_as(c, kubeconfig, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "kubectl {} should have been refused; stdout: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

fn whoami(c: &TestCluster, kubeconfig: &Path) -> Value {
    let out = ok_as(c, kubeconfig, &["auth", "whoami", "-o", "json"]);
    serde_json::from_str(&out).expect("whoami json")
}

fn create_token_secret(c: &TestCluster, id: &str, secret: &str, extra: &[&str]) {
    let name = format!("bootstrap-token-{id}");
    let id_arg = format!("--from-literal=token-id={id}");
    let secret_arg = format!("--from-literal=token-secret={secret}");
    let mut args = vec![
        "create",
        "secret",
        "generic",
        &name,
        "-n",
        "kube-system",
        "--type=bootstrap.kubernetes.io/token",
        &id_arg,
        &secret_arg,
        "--from-literal=usage-bootstrap-authentication=true",
    ];
    args.extend_from_slice(extra);
    kubectl_ok(c, &args);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_tokens_live_in_secrets() {
    let c = TestCluster::start().await;
    create_token_secret(
        &c,
        "abcdef",
        "0123456789abcdef",
        &["--from-literal=auth-extra-groups=system:bootstrappers:workers"],
    );
    let kc = kubeconfig_for(
        &c,
        "token.kubeconfig",
        json!({"token": "abcdef.0123456789abcdef"}),
    );
    // `kubectl auth whoami --token=...` against a kubeconfig that names only the cluster.
    let bare = kubeconfig_for(&c, "bare.kubeconfig", json!({}));
    let out = ok_as(
        &c,
        &bare,
        &["auth", "whoami", "--token=abcdef.0123456789abcdef"],
    );
    assert!(out.contains("system:bootstrap:abcdef"), "{out}");
    let me = whoami(&c, &kc);
    assert_eq!(
        me["status"]["userInfo"]["username"],
        "system:bootstrap:abcdef"
    );
    assert_eq!(
        me["status"]["userInfo"]["groups"],
        json!([
            "system:bootstrappers",
            "system:bootstrappers:workers",
            "system:authenticated"
        ])
    );
    // A bootstrap identity may submit requests, and do little else.
    ok_as(&c, &kc, &["get", "csr"]);
    let denied = refused_as(&c, &kc, &["get", "pods", "-A"]);
    assert!(denied.contains("cannot list resource \"pods\""), "{denied}");

    // A wrong secret, an expired token and a deleted token are 401s.
    let wrong = kubeconfig_for(
        &c,
        "wrong.kubeconfig",
        json!({"token": "abcdef.0123456789abcdee"}),
    );
    let err = refused_as(&c, &wrong, &["auth", "whoami"]);
    assert!(err.contains("Unauthorized"), "{err}");
    create_token_secret(
        &c,
        "oldold",
        "0123456789abcdef",
        &["--from-literal=expiration=2020-01-01T00:00:00Z"],
    );
    let expired = kubeconfig_for(
        &c,
        "old.kubeconfig",
        json!({"token": "oldold.0123456789abcdef"}),
    );
    let err = refused_as(&c, &expired, &["auth", "whoami"]);
    assert!(err.contains("Unauthorized"), "{err}");
    kubectl_ok(
        &c,
        &[
            "delete",
            "secret",
            "bootstrap-token-abcdef",
            "-n",
            "kube-system",
        ],
    );
    let err = refused_as(&c, &kc, &["auth", "whoami"]);
    assert!(err.contains("Unauthorized"), "{err}");

    // The join token is a bootstrap token the server keeps a Secret for.
    let join = std::fs::read_to_string(c.data_dir().join("pki/join-token")).expect("join-token");
    let join = join.trim();
    let id = join.split('.').next().expect("token id");
    kubectl_ok(
        &c,
        &[
            "get",
            "secret",
            &format!("bootstrap-token-{id}"),
            "-n",
            "kube-system",
        ],
    );
    let jc = kubeconfig_for(&c, "join.kubeconfig", json!({"token": join}));
    assert_eq!(
        whoami(&c, &jc)["status"]["userInfo"]["username"],
        format!("system:bootstrap:{id}")
    );
}

/// A node's key and an auto-approved, signed client certificate for it.
async fn node_credentials(c: &TestCluster, node: &str) -> PathBuf {
    let req = ferrokube_auth::node_credentials::node_client_request(node).expect("request");
    let name = format!("node-csr-{node}");
    let csr = json!({
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {
            "request": b64(req.csr_pem.as_bytes()),
            "signerName": KUBELET_SIGNER,
            "usages": ["digital signature", "client auth"],
        },
    });
    let path = c.scratch().join(format!("{name}.json"));
    std::fs::write(&path, csr.to_string()).expect("manifest");
    kubectl_ok(c, &["create", "-f", path.to_str().expect("utf-8")]);
    let signed = eventually(Duration::from_secs(30), || async {
        let out = c.kubectl(&["get", "csr", &name, "-o", "json"]);
        let csr: Value = serde_json::from_slice(&out.stdout).ok()?;
        let cert = csr.pointer("/status/certificate")?.as_str()?.to_string();
        Some((csr, cert))
    })
    .await;
    let (csr, cert) = signed.unwrap_or_else(|| panic!("{name} was never approved and signed"));
    // The admin may create `certificatesigningrequests/nodeclient`: the approver says so.
    let approved = &csr["status"]["conditions"][0];
    assert_eq!(approved["type"], "Approved");
    assert_eq!(approved["reason"], "AutoApproved");
    assert_eq!(
        approved["message"],
        "Auto approving kubelet client certificate after SubjectAccessReview."
    );
    let pem = base64::engine::general_purpose::STANDARD
        .decode(cert)
        .expect("base64");
    kubeconfig_for(
        c,
        &format!("{node}.kubeconfig"),
        json!({
            "client-certificate-data": b64(&pem),
            "client-key-data": b64(req.key_pem.as_bytes()),
        }),
    )
}

/// A kube-rs client from a kubeconfig file.
async fn client_for(kubeconfig: &Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("config");
    kube::Client::try_from(config).expect("client")
}

fn apply_json(
    c: &TestCluster,
    kc: Option<&PathBuf>,
    file: &str,
    obj: Value,
) -> std::process::Output {
    let path = c.scratch().join(file);
    std::fs::write(&path, obj.to_string()).expect("manifest");
    let args = ["create", "-f", path.to_str().expect("utf-8")];
    match kc {
        Some(kc) => kubectl_as(c, kc, &args),
        None => c.kubectl(&args),
    }
}

fn pod_on(name: &str, node: &str, secret: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "c", "image": "busybox", "envFrom": [{"secretRef": {"name": secret}}]}],
        },
    })
}

fn node_object(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name,
        "labels": {"kubernetes.io/hostname": name}}})
}

fn lease(name: &str) -> Value {
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_are_confined_to_their_own_objects() {
    // Nodes that never report Ready must not be tainted and emptied during the test.
    let c =
        TestCluster::start_with(ClusterOptions::default().arg("--node-monitor-grace-period=600s"))
            .await;
    let a = node_credentials(&c, "a").await;
    let b = node_credentials(&c, "b").await;
    assert_eq!(
        whoami(&c, &a)["status"]["userInfo"]["username"],
        "system:node:a"
    );

    // Registration: its own Node only, with allowed labels.
    stdout_ok(
        "node a registers",
        &apply_json(&c, Some(&a), "na.json", node_object("a")),
    );
    stdout_ok(
        "node b registers",
        &apply_json(&c, Some(&b), "nb.json", node_object("b")),
    );
    let out = apply_json(&c, Some(&a), "nc.json", node_object("c"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"nodes "c" is forbidden: node "a" is not allowed to modify node "c""#),
        "{err}"
    );

    for (name, node, secret) in [("pa", "a", "sa"), ("pb", "b", "sb")] {
        kubectl_ok(
            &c,
            &["create", "secret", "generic", secret, "--from-literal=k=v"],
        );
        stdout_ok(
            "pod",
            &apply_json(
                &c,
                None,
                &format!("{name}.json"),
                pod_on(name, node, secret),
            ),
        );
    }
    kubectl_ok(
        &c,
        &[
            "create",
            "secret",
            "generic",
            "lonely",
            "--from-literal=k=v",
        ],
    );

    // Reads follow the graph.
    ok_as(&c, &a, &["get", "secret", "sa"]);
    ok_as(&c, &a, &["get", "pod", "pa"]);
    let err = refused_as(&c, &a, &["get", "secret", "sb"]);
    assert!(err.contains(r#"secrets "sb" is forbidden: User "system:node:a" cannot get resource "secrets" in API group "" in the namespace "default": no relationship found between node 'a' and this object"#), "{err}");
    let err = refused_as(&c, &a, &["get", "secret", "lonely"]);
    assert!(
        err.contains("no relationship found between node 'a'"),
        "{err}"
    );
    let err = refused_as(&c, &a, &["get", "pod", "pb"]);
    assert!(err.contains(r#"pods "pb" is forbidden"#), "{err}");
    let err = refused_as(&c, &a, &["get", "pods", "-A"]);
    assert!(
        err.contains("can only list/watch pods with spec.nodeName field selector"),
        "{err}"
    );
    ok_as(
        &c,
        &a,
        &["get", "pods", "-A", "--field-selector=spec.nodeName=a"],
    );

    // Leases: its own.
    stdout_ok(
        "own lease",
        &apply_json(&c, Some(&a), "la.json", lease("a")),
    );
    let out = apply_json(&c, Some(&a), "lb.json", lease("b"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(r#"leases.coordination.k8s.io "b" is forbidden: can only access node lease with the same name as the requesting node"#), "{err}");
    stdout_ok(
        "b's lease",
        &apply_json(&c, Some(&b), "lb2.json", lease("b")),
    );
    let err = refused_as(&c, &a, &["get", "lease", "b", "-n", "kube-node-lease"]);
    assert!(
        err.contains("can only access node lease with the same name as the requesting node"),
        "{err}"
    );

    let csinode = |name: &str| {
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "CSINode",
            "metadata": {"name": name}, "spec": {"drivers": []}})
    };
    stdout_ok(
        "own CSINode",
        &apply_json(&c, Some(&a), "csa.json", csinode("a")),
    );
    let out = apply_json(&c, Some(&a), "csb.json", csinode("b"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"csinodes.storage.k8s.io "b" is forbidden: can only access CSINode with the same name as the requesting node"#),
        "{err}"
    );

    // Node objects: its own, and not the restricted labels.
    ok_as(&c, &a, &["label", "node", "a", "example.com/team=blue"]);
    let err = refused_as(&c, &a, &["label", "node", "b", "example.com/team=blue"]);
    assert!(
        err.contains(r#"nodes "b" is forbidden: node "a" is not allowed to modify node "b""#),
        "{err}"
    );
    let err = refused_as(
        &c,
        &a,
        &[
            "label",
            "node",
            "a",
            "node-restriction.kubernetes.io/secure=yes",
        ],
    );
    assert!(err.contains(r#"nodes "a" is forbidden: is not allowed to modify labels: node-restriction.kubernetes.io/secure"#), "{err}");
    let err = refused_as(&c, &a, &["taint", "node", "a", "k=v:NoSchedule"]);
    assert!(
        err.contains(r#"node "a" is not allowed to modify taints"#),
        "{err}"
    );

    // Pods: status and deletion of its own; only mirror pods may be created.
    // (kubectl reads pods/status before patching it, which a node may not: kube-rs patches.)
    let pods: Api<Pod> = Api::namespaced(client_for(&a).await, "default");
    let status = Patch::Merge(json!({"status": {"message": "seen"}}));
    pods.patch_status("pa", &PatchParams::default(), &status)
        .await
        .expect("own pod's status");
    match pods
        .patch_status("pb", &PatchParams::default(), &status)
        .await
    {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 403);
            assert_eq!(
                s.message,
                r#"pods "pb" is forbidden: node "a" can only update pod status for pods with spec.nodeName set to itself"#
            );
        }
        other => panic!("patching b's pod status: {other:?}"),
    }
    // Tokens only for its own pods.
    let pb_uid = kubectl_ok(&c, &["get", "pod", "pb", "-o", "jsonpath={.metadata.uid}"]);
    let accounts: Api<ServiceAccount> = Api::namespaced(client_for(&a).await, "default");
    let request = |name: &str, uid: &str| TokenRequest {
        spec: Some(TokenRequestSpec {
            bound_object_ref: Some(BoundObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some(name.into()),
                uid: Some(uid.into()),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let refused = accounts
        .create_subresource::<TokenRequest, TokenRequest>(
            "token",
            "default",
            &Default::default(),
            &request("pb", &pb_uid),
        )
        .await;
    match refused {
        Err(kube::Error::Api(s)) => assert_eq!(
            s.message,
            r#"serviceaccounts "default" is forbidden: node requested token bound to a pod scheduled on a different node"#
        ),
        other => panic!("token for b's pod: {other:?}"),
    }
    let pa_uid = kubectl_ok(&c, &["get", "pod", "pa", "-o", "jsonpath={.metadata.uid}"]);
    accounts
        .create_subresource::<TokenRequest, TokenRequest>(
            "token",
            "default",
            &Default::default(),
            &request("pa", &pa_uid),
        )
        .await
        .expect("a token for its own pod");
    let err = refused_as(&c, &a, &["delete", "pod", "pb", "--wait=false"]);
    assert!(
        err.contains(r#"node "a" can only delete pods with spec.nodeName set to itself"#),
        "{err}"
    );
    // Pods themselves are not the node's to change (the Node authorizer already says no).
    let err = refused_as(&c, &a, &["label", "pod", "pa", "x=y"]);
    assert!(
        err.contains(r#"User "system:node:a" cannot patch resource "pods""#),
        "{err}"
    );
    let out = apply_json(&c, Some(&a), "px.json", pod_on("px", "a", "sa"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(r#"pods "px" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "a" can only create mirror pods"#), "{err}");
    ok_as(&c, &a, &["delete", "pod", "pa", "--wait=false"]);
    // Nothing refused was written.
    let pb = kubectl_ok(
        &c,
        &["get", "pod", "pb", "-o", "jsonpath={.status.message}"],
    );
    assert_eq!(pb, "");
    let labels = kubectl_ok(
        &c,
        &["get", "node", "a", "-o", "jsonpath={.metadata.labels}"],
    );
    assert!(!labels.contains("node-restriction"), "{labels}");
}
