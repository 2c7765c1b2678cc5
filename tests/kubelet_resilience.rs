//! The node agent outlives the API server: with the server killed, the pods' containers keep
//! running (and one finishes); once the server is back on the same data dir, status catches up —
//! the finished pod becomes Succeeded, the other stays Running on the same container without a
//! restart.
//!
//! The server runs without its embedded agent; a standalone `ferrokube agent` owns the node, so
//! killing the server does not kill the agent.

mod kubelet_common;
mod support;

use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams};
use kubelet_common::*;
use serde_json::json;
use support::{eventually, TestCluster};

/// How long the API server stays down at least (longer than the agent's status and lease
/// periods, so every write path sees failures).
const OUTAGE: Duration = Duration::from_secs(12);

/// The engine state (`running`, `exited`, ...) of a pod's app container, by pod uid and name.
fn engine_state(uid: &str, container: &str) -> Option<String> {
    let ids = docker_ids(&format!("label=io.kubernetes.pod.uid={uid}"));
    ids.iter().find_map(|id| {
        let out = Command::new("docker")
            .args([
                "inspect",
                "--format",
                "{{index .Config.Labels \"io.kubernetes.container.name\"}} {{.State.Status}}",
                id,
            ])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let (name, state) = text.split_once(' ')?;
        (name == container).then(|| state.to_string())
    })
}

fn uid(p: &Pod) -> String {
    p.metadata.uid.clone().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_survive_an_api_server_outage_and_status_catches_up() {
    let _serial = SERIAL.lock().await;
    import_busybox();
    let node = unique_node("e2e-outage");
    let _sweep = ContainerSweep(vec![node.clone()]);
    let mut c = TestCluster::start().await;
    let _logs = AgentLogs(c.scratch().to_path_buf());
    let agent = Background(spawn_agent(&c, &node, 1));

    let client = c.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let registered = eventually(POD_WAIT, || async { nodes.get(&node).await.ok() }).await;
    assert!(registered.is_some(), "agent {node} never registered");

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod = |name: &str, policy: &str, script: &str| {
        json!({"metadata": {"name": name}, "spec": {
            "nodeName": node, "restartPolicy": policy, "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", script]}]}})
    };
    create(&pods, pod("forever", "Always", "sleep 3600")).await;
    // Long enough to be Running before the outage starts, short enough to finish inside it.
    create(&pods, pod("short", "Never", "sleep 6; exit 0")).await;
    let forever = wait_pod(&pods, "forever", "Running", running).await;
    let short = wait_pod(&pods, "short", "Running", running).await;
    let forever_id = container_id(&forever).expect("container id");

    c.kill9();
    let down_since = std::time::Instant::now();
    // The short pod's container finishes while nobody can be told.
    let finished = eventually(POD_WAIT, || async {
        (engine_state(&uid(&short), "main").as_deref() == Some("exited")).then_some(())
    })
    .await;
    assert!(
        finished.is_some(),
        "short container state during the outage: {:?}",
        engine_state(&uid(&short), "main")
    );
    if let Some(rest) = OUTAGE.checked_sub(down_since.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    assert_eq!(
        engine_state(&uid(&forever), "main").as_deref(),
        Some("running"),
        "the long-running container keeps running while the API server is down"
    );
    let engine_id = forever_id.trim_start_matches("docker://");
    assert_eq!(
        docker_ids(&format!("id={engine_id}")),
        vec![engine_id.to_string()],
        "the long-running container is still there"
    );

    c.restart().await;
    let short = wait_pod(&pods, "short", "Succeeded after the outage", |p| {
        phase(p) == "Succeeded"
    })
    .await;
    let t = container_status(&short, "main")
        .and_then(|s| s.state.as_ref()?.terminated.clone())
        .expect("terminated state");
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));

    let forever = wait_pod(&pods, "forever", "Running after the outage", running).await;
    assert_eq!(container_id(&forever), Some(forever_id));
    assert_eq!(
        container_status(&forever, "main").map(|s| s.restart_count),
        Some(0)
    );
    // The agent reports again: exec through the restarted server reaches it.
    let host = kubectl_ok(&c, &["exec", "forever", "--", "hostname"]);
    assert_eq!(host.trim(), "forever");

    // Deleting the pods after the outage still leaves nothing behind.
    for name in ["forever", "short"] {
        pods.delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
    let gone = eventually(POD_WAIT, || async {
        containers_of(&node).is_empty().then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "containers left after delete: {:?}",
        containers_of(&node)
    );
    drop(agent);
}

/// Two clusters on one engine with the same node name: each agent owns only its own cluster's
/// containers (they carry the cluster's identity), so the second agent's start-up sweep of
/// "orphans" leaves the first cluster's pod running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_sharing_an_engine_and_a_node_name_keep_their_own_containers() {
    let (_serial, _sweep, first, node) = cluster("e2e-twin").await;
    let pods_a: Api<Pod> = Api::namespaced(first.client().await, "default");
    let sleeper = |name: &str| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
               "spec": {"terminationGracePeriodSeconds": 1,
                        "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}})
    };
    create(&pods_a, sleeper("a")).await;
    let a = wait_pod(&pods_a, "a", "Running", running).await;

    // The second cluster's agent claims the same node name (no proxy: the nft table is named
    // after the node, and one per host is enough for this test).
    let second = TestCluster::start_with(
        support::ClusterOptions::default()
            .with_agent()
            .arg("--node-name")
            .arg(&node)
            .arg("--no-proxy"),
    )
    .await;
    let pods_b: Api<Pod> = Api::namespaced(second.client().await, "default");
    create(&pods_b, sleeper("b")).await;
    let b = wait_pod(&pods_b, "b", "Running", running).await;

    // Both agents have synced and swept by now; neither touched the other's containers.
    assert_eq!(engine_state(&uid(&a), "c").as_deref(), Some("running"));
    assert_eq!(engine_state(&uid(&b), "c").as_deref(), Some("running"));
    let labels = |p: &Pod| {
        let ids = docker_ids(&format!("label=io.kubernetes.pod.uid={}", uid(p)));
        let out = Command::new("docker")
            .args([
                "inspect",
                "--format",
                "{{index .Config.Labels \"io.ferrokube.cluster\"}}",
                &ids[0],
            ])
            .output()
            .expect("docker inspect");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let (cluster_a, cluster_b) = (labels(&a), labels(&b));
    assert_eq!(cluster_a.len(), 16, "cluster label {cluster_a:?}");
    assert_ne!(cluster_a, cluster_b);
    drop(second);
    assert_eq!(
        engine_state(&uid(&a), "c").as_deref(),
        Some("running"),
        "stopping the second cluster's agent left the first one's pod alone"
    );
}
