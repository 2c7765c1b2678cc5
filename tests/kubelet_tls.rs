//! The kubelet's port with real clients (Docker): HTTPS with a serving certificate from the
//! cluster CA obtained by CSR, `401` without credentials, `403` with upstream's words for a
//! token without `nodes/proxy`, access for `system:kubelet-api-admin` and cluster admins
//! (token or client certificate), kubectl streaming through the API server over that TLS,
//! the automatic approval of a node's own serving request (and not of another node's), and
//! the certificate's reuse across a restart.

mod kubelet_common;
mod support;

use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};
use kubelet_common::*;
use serde_json::{json, Value};
use support::{eventually, TestCluster};

const SERVING_SIGNER: &str = "kubernetes.io/kubelet-serving";

/// `https://<InternalIP>:<kubelet port>` of a registered node.
async fn kubelet_url(c: &TestCluster, node: &str) -> String {
    let nodes: Api<Node> = Api::all(c.client().await);
    let node = nodes.get(node).await.expect("node");
    let status = node.status.expect("node status");
    let ip = status
        .addresses
        .unwrap_or_default()
        .into_iter()
        .find(|a| a.type_ == "InternalIP")
        .expect("InternalIP")
        .address;
    let port = status
        .daemon_endpoints
        .and_then(|d| d.kubelet_endpoint)
        .expect("kubelet endpoint")
        .port;
    format!("https://{ip}:{port}")
}

async fn get(client: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, String) {
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request to the kubelet");
    let code = resp.status().as_u16();
    (code, resp.text().await.expect("body"))
}

/// A service account token, after `bind` (kubectl args) when given.
fn token_for(c: &TestCluster, sa: &str) -> String {
    kubectl_ok(c, &["create", "serviceaccount", sa]);
    kubectl_ok(c, &["create", "token", sa]).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubelet_port_authenticates_and_authorizes() {
    let (_serial, _sweep, c, node) = cluster("e2e-ktls").await;
    let pods: Api<Pod> = Api::namespaced(c.client().await, "default");
    create(
        &pods,
        json!({"metadata": {"name": "talker"}, "spec": {"terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": "busybox",
                "command": ["sh", "-c", "echo hello-from-talker; sleep 3600"]}]}}),
    )
    .await;
    wait_pod(&pods, "talker", "Running", running).await;
    let base = kubelet_url(&c, &node).await;
    let logs = format!("{base}/containerLogs/default/talker/main");

    // No credentials: TLS verifies against the cluster CA, then 401.
    let anonymous = c.anonymous_http();
    let answered = eventually(Duration::from_secs(30), || async {
        anonymous.get(&logs).send().await.ok()
    })
    .await
    .expect("the kubelet never completed a TLS handshake");
    assert_eq!(answered.status().as_u16(), 401);
    assert_eq!(answered.text().await.expect("body"), "Unauthorized\n");
    // A client that does not trust the cluster CA refuses the kubelet's certificate.
    let untrusting = reqwest::Client::builder()
        .use_rustls_tls()
        .build()
        .expect("client");
    assert!(untrusting.get(&logs).send().await.is_err());

    // A service account without nodes/proxy: 403 with upstream's message.
    let viewer = token_for(&c, "viewer");
    assert_eq!(
        get(&anonymous, &logs, Some(&viewer)).await,
        (
            403,
            "Forbidden (user=system:serviceaccount:default:viewer, verb=get, resource=nodes, \
             subresource(s)=[proxy])\n"
                .into()
        )
    );
    let (code, body) = get(&anonymous, &format!("{base}/healthz"), Some(&viewer)).await;
    assert_eq!(code, 403);
    assert!(body.contains("subresource(s)=[healthz proxy]"), "{body}");

    // Bound to system:kubelet-api-admin: allowed.
    kubectl_ok(
        &c,
        &[
            "create",
            "clusterrolebinding",
            "ops-kubelet",
            "--clusterrole=system:kubelet-api-admin",
            "--serviceaccount=default:ops",
        ],
    );
    let can = eventually(Duration::from_secs(10), || async {
        let out = c.kubectl(&[
            "auth",
            "can-i",
            "get",
            "nodes/proxy",
            "--as=system:serviceaccount:default:ops",
        ]);
        (String::from_utf8_lossy(&out.stdout).trim() == "yes").then_some(())
    })
    .await;
    assert!(can.is_some(), "the binding never took effect");
    let ops = token_for(&c, "ops");
    let (code, body) = get(&anonymous, &logs, Some(&ops)).await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("hello-from-talker"), "{body}");

    // The admin's client certificate (system:masters): authenticated by x509 alone.
    let (code, body) = get(&c.http(), &format!("{base}/healthz"), None).await;
    assert_eq!((code, body.as_str()), (200, "ok"));
    let (code, body) = get(&c.http(), &logs, None).await;
    assert_eq!(code, 200, "{body}");

    // Through the API server, which presents its kubelet client certificate.
    let out = kubectl_ok(&c, &["exec", "talker", "--", "echo", "exec-over-tls"]);
    assert_eq!(out.trim(), "exec-over-tls");
    let out = kubectl_ok(&c, &["logs", "talker"]);
    assert!(out.contains("hello-from-talker"), "{out}");
}

fn serving_request(cn: &str, ip: &str) -> String {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::OrganizationName, "system:nodes");
    dn.push(rcgen::DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.subject_alt_names = vec![rcgen::SanType::IpAddress(ip.parse().expect("ip"))];
    params
        .serialize_request(&key)
        .expect("csr")
        .pem()
        .expect("pem")
}

/// `kubectl create -f` a kubelet-serving request as node `as_node` (impersonated).
fn create_as_node(c: &TestCluster, name: &str, cn: &str, as_node: &str) {
    let pem = serving_request(cn, "10.9.9.9");
    let obj = json!({
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {
            "request": base64::engine::general_purpose::STANDARD.encode(pem),
            "signerName": SERVING_SIGNER,
            "usages": ["digital signature", "key encipherment", "server auth"],
        },
    });
    let path = c.scratch().join(format!("{name}.json"));
    std::fs::write(&path, obj.to_string()).expect("manifest");
    let as_user = format!("--as=system:node:{as_node}");
    kubectl_ok(
        c,
        &[
            "create",
            "-f",
            path.to_str().expect("utf-8"),
            &as_user,
            "--as-group=system:nodes",
        ],
    );
}

fn conditions(csr: &CertificateSigningRequest) -> Vec<(String, String)> {
    csr.status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.type_, c.reason.unwrap_or_default()))
        .collect()
}

fn issued(csr: &CertificateSigningRequest) -> bool {
    csr.status
        .as_ref()
        .and_then(|s| s.certificate.as_ref())
        .is_some_and(|c| !c.0.is_empty())
}

/// The kubelet-serving requests whose CN names `node`.
async fn serving_requests_of(api: &Api<CertificateSigningRequest>, node: &str) -> Vec<Value> {
    let list = api.list(&ListParams::default()).await.expect("list csrs");
    list.items
        .into_iter()
        .filter(|csr| csr.spec.signer_name == SERVING_SIGNER)
        .filter(|csr| {
            let pem = String::from_utf8_lossy(&csr.spec.request.0).into_owned();
            rcgen::CertificateSigningRequestParams::from_pem(&pem).is_ok_and(|p| {
                format!("{:?}", p.params.distinguished_name)
                    .contains(&format!("system:node:{node}"))
            })
        })
        .map(|csr| serde_json::to_value(csr).expect("json"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serving_certificates_are_approved_for_the_node_itself_and_reused() {
    let (_serial, _sweep, mut c, node) = cluster("e2e-kcsr").await;
    let api: Api<CertificateSigningRequest> = Api::all(c.client().await);

    // The agent's own request: approved automatically and issued.
    let mine = eventually(Duration::from_secs(30), || async {
        let reqs = serving_requests_of(&api, &node).await;
        let csr: CertificateSigningRequest =
            serde_json::from_value(reqs.first()?.clone()).expect("csr");
        issued(&csr).then_some(csr)
    })
    .await
    .expect("the agent's serving certificate was never issued");
    assert!(
        conditions(&mine).contains(&("Approved".into(), "AutoApproved".into())),
        "{:?}",
        mine.status
    );
    let stored = c
        .data_dir()
        .join("agent")
        .join("pki")
        .join("kubelet-server-current.pem");
    // The agent stores it once it sees it issued (it polls its request).
    let saved = eventually(Duration::from_secs(10), || async {
        stored.exists().then_some(())
    })
    .await;
    assert!(saved.is_some(), "{} missing", stored.display());

    // A node asking for another node's name is left pending; asking for its own is approved.
    create_as_node(&c, "for-someone-else", "system:node:victim", "thief");
    create_as_node(&c, "for-itself", "system:node:thief", "thief");
    let own = eventually(Duration::from_secs(20), || async {
        let csr = api.get("for-itself").await.ok()?;
        issued(&csr).then_some(csr)
    })
    .await
    .expect("the node's own request was never issued");
    assert_eq!(
        conditions(&own),
        vec![("Approved".to_string(), "AutoApproved".to_string())]
    );
    let other = api.get("for-someone-else").await.expect("get");
    assert_eq!(conditions(&other), Vec::<(String, String)>::new());
    assert!(!issued(&other));

    // A restart reuses the stored certificate: no new request, and streaming still works.
    let before = serving_requests_of(&api, &node).await.len();
    c.restart().await;
    let pods: Api<Pod> = Api::namespaced(c.client().await, "default");
    create(
        &pods,
        json!({"metadata": {"name": "after"}, "spec": {"terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": "busybox", "command": ["sleep", "3600"]}]}}),
    )
    .await;
    wait_pod(&pods, "after", "Running", running).await;
    let out = kubectl_ok(&c, &["exec", "after", "--", "hostname"]);
    assert_eq!(out.trim(), "after");
    let api: Api<CertificateSigningRequest> = Api::all(c.client().await);
    assert_eq!(serving_requests_of(&api, &node).await.len(), before);
}
