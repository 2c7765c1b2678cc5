//! TLS bootstrap on the real Docker engine: a `ferrokube agent` given only a bootstrap token
//! (made with kubectl) gets its CSR auto-approved, registers its Node as `system:node:<name>`,
//! runs a pod (status, logs, exec through the API server), and after a restart reuses its
//! stored certificate; an embedded agent whose certificates live a minute renews them as the
//! node (`selfnodeclient`) while its pod keeps running.

mod kubelet_common;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kubelet_common::*;
use serde_json::{json, Value};
use support::{eventually, TestCluster};

/// The client-certificate requests (agents also ask for kubelet serving certificates).
fn csrs(c: &TestCluster) -> Vec<Value> {
    let out = kubectl_ok(c, &["get", "csr", "-o", "json"]);
    let list: Value = serde_json::from_str(&out).expect("csr list");
    let all = list["items"].as_array().cloned().unwrap_or_default();
    all.into_iter()
        .filter(|r| r["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet")
        .collect()
}

fn issued_to(c: &TestCluster, username: &str) -> Vec<Value> {
    csrs(c)
        .into_iter()
        .filter(|r| r["spec"]["username"] == username)
        .filter(|r| r.pointer("/status/certificate").is_some())
        .collect()
}

/// `ferrokube agent --server --token --ca-file`: no kubeconfig, only the bootstrap token.
fn join_agent(c: &TestCluster, node: &str, token: &str, n: u32) -> Child {
    let log = std::fs::File::create(c.scratch().join(format!("agent-{n}.log"))).expect("log");
    Command::new(env!("CARGO_BIN_EXE_ferrokube"))
        .args([
            "agent",
            "--server",
            &c.base_url(),
            "--token",
            token,
            "--node-name",
            node,
        ])
        .arg("--ca-file")
        .arg(c.data_dir().join("pki/ca.crt"))
        .arg("--data-dir")
        .arg(c.scratch().join("agent-data"))
        // Killed with SIGKILL below, which would leave proxy rules behind.
        .arg("--no-proxy")
        .env("FERROKUBE_NO_IMAGE_PULL", "1")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawning ferrokube agent")
}

fn node_ready(c: &TestCluster, node: &str) -> bool {
    let out = c.kubectl(&[
        "get",
        "node",
        node,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ]);
    String::from_utf8_lossy(&out.stdout).trim() == "True"
}

fn sleeper(name: &str, node: &str) -> Value {
    json!({"metadata": {"name": name}, "spec": {"nodeName": node,
        "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "main", "image": "busybox",
            "command": ["sh", "-c", "echo hello from $HOSTNAME; sleep 3600"]}]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_joins_with_a_bootstrap_token() {
    let _serial = SERIAL.lock().await;
    import_busybox();
    let node = unique_node("join");
    let _sweep = ContainerSweep(vec![node.clone()]);
    let c = TestCluster::start().await;
    let _logs = AgentLogs(c.scratch().to_path_buf());
    kubectl_ok(
        &c,
        &[
            "create",
            "secret",
            "generic",
            "bootstrap-token-join01",
            "-n",
            "kube-system",
            "--type=bootstrap.kubernetes.io/token",
            "--from-literal=token-id=join01",
            "--from-literal=token-secret=0123456789abcdef",
            "--from-literal=usage-bootstrap-authentication=true",
        ],
    );
    let mut agent = join_agent(&c, &node, "join01.0123456789abcdef", 1);
    let ready = eventually(POD_WAIT, || async { node_ready(&c, &node).then_some(()) }).await;
    assert!(ready.is_some(), "node {node} never became Ready");

    // The bootstrap identity asked, the approver approved, the node holds the key.
    let issued = issued_to(&c, "system:bootstrap:join01");
    assert_eq!(issued.len(), 1, "{issued:#?}");
    let condition = &issued[0]["status"]["conditions"][0];
    assert_eq!(condition["reason"], "AutoApproved");
    let creds = c
        .scratch()
        .join("agent-data/pki/kubelet-client-current.pem");
    let mode = std::fs::metadata(&creds)
        .expect("credentials")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The Lease only the node itself may write exists.
    kubectl_ok(&c, &["get", "lease", &node, "-n", "kube-node-lease"]);

    let pods: Api<Pod> = Api::namespaced(c.client().await, "default");
    create(&pods, sleeper("joined", &node)).await;
    wait_pod(&pods, "joined", "Running", running).await;
    let logs = eventually(POD_WAIT, || async {
        let out = c.kubectl(&["logs", "joined"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains("hello from joined").then_some(text)
    })
    .await;
    assert!(logs.is_some(), "kubectl logs never showed the pod's output");
    assert_eq!(
        kubectl_ok(&c, &["exec", "joined", "--", "echo", "inside"]).trim(),
        "inside"
    );

    // A restarted agent reuses its certificate: no new request.
    let _ = agent.kill();
    let _ = agent.wait();
    let mut agent = join_agent(&c, &node, "join01.0123456789abcdef", 2);
    let pod = pods.get("joined").await.expect("pod");
    let before = container_id(&pod);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(node_ready(&c, &node));
    assert_eq!(issued_to(&c, "system:bootstrap:join01").len(), 1);
    assert_eq!(csrs(&c).len(), 1);
    let after = pods.get("joined").await.expect("pod");
    assert_eq!(
        container_id(&after),
        before,
        "the pod was adopted, not restarted"
    );
    kubectl_ok(&c, &["delete", "pod", "joined", "--wait=false"]);
    let gone = eventually(POD_WAIT, || async {
        pods.get_opt("joined").await.ok()?.is_none().then_some(())
    })
    .await;
    assert!(gone.is_some(), "the node did not finish deleting its pod");
    let _ = agent.kill();
    let _ = agent.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_renews_its_certificate_without_touching_pods() {
    let _serial = SERIAL.lock().await;
    import_busybox();
    let node = unique_node("rotate");
    let _sweep = ContainerSweep(vec![node.clone()]);
    let c = TestCluster::start_with(
        support::ClusterOptions::default()
            .with_agent()
            .arg("--node-name")
            .arg(&node)
            .arg("--cluster-signing-duration=60s"),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(c.client().await, "default");
    create(&pods, sleeper("steady", &node)).await;
    let first = wait_pod(&pods, "steady", "Running", running).await;
    // 70–84% of a minute: the first renewal comes within about 50 s.
    let user = format!("system:node:{node}");
    let renewed = eventually(Duration::from_secs(120), || async {
        issued_to(&c, &user).into_iter().next()
    })
    .await
    .unwrap_or_else(|| panic!("no renewal by {user}: {:#?}\n{}", csrs(&c), c.logs()));
    assert_eq!(
        renewed["status"]["conditions"][0]["message"],
        "Auto approving self kubelet client certificate after SubjectAccessReview."
    );
    // The agent keeps working under the new certificate: heartbeats, a new pod, the old pod.
    create(&pods, sleeper("after", &node)).await;
    wait_pod(&pods, "after", "Running", running).await;
    let steady = pods.get("steady").await.expect("pod");
    assert_eq!(container_id(&steady), container_id(&first));
    assert!(node_ready(&c, &node));
}
