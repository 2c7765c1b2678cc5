//! Helpers shared by the `controllers_*` end-to-end tests: a server without the Docker agent,
//! hollow-node child processes, and polling helpers over kube-rs and kubectl.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams};
use kube::ResourceExt;

use crate::support::{eventually, stdout_ok, ClusterOptions, TestCluster};

/// How long controller convergence may take on a busy 2-core machine with a debug build.
pub const CONVERGE: Duration = Duration::from_secs(90);

/// Starts a server that runs the controller manager and scheduler (the fixture leaves out the
/// Docker agent unless asked).
pub async fn cluster_with(extra: &[&str]) -> TestCluster {
    let mut opts = ClusterOptions::default();
    for a in extra {
        opts = opts.arg(a);
    }
    TestCluster::start_with(opts).await
}

/// A `ferrokube hollow-nodes` child process; killed (SIGKILL, so its nodes stay registered but
/// stop heartbeating) when dropped or on [`HollowNodes::kill`].
pub struct HollowNodes {
    child: Option<Child>,
}

impl HollowNodes {
    /// Starts `hollow-<first>` .. `hollow-<first+count-1>` against the cluster.
    pub fn start(cluster: &TestCluster, first: usize, count: usize) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_ferrokube"))
            .args(["hollow-nodes", "--count", &count.to_string()])
            .args(["--first", &first.to_string()])
            .arg("--kubeconfig")
            .arg(cluster.kubeconfig())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning ferrokube hollow-nodes");
        HollowNodes { child: Some(child) }
    }

    /// Kills the process without letting it deregister its nodes (a node "dies").
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for HollowNodes {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until `n` nodes are registered and Ready.
pub async fn wait_nodes_ready(client: &kube::Client, n: usize) {
    let nodes: Api<Node> = Api::all(client.clone());
    let ok = eventually(CONVERGE, || {
        let nodes = nodes.clone();
        async move {
            let list = nodes.list(&ListParams::default()).await.ok()?;
            let ready = list
                .items
                .iter()
                .filter(|n| node_ready(n) == "True")
                .count();
            (ready >= n).then_some(())
        }
    })
    .await;
    assert!(ok.is_some(), "{n} hollow nodes did not become Ready");
}

/// The status of a node's Ready condition ("" when absent).
pub fn node_ready(n: &Node) -> String {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.clone())
        .unwrap_or_default()
}

/// Runs kubectl and asserts success, returning stdout.
pub fn kubectl_ok(cluster: &TestCluster, args: &[&str]) -> String {
    stdout_ok(
        &format!("kubectl {}", args.join(" ")),
        &cluster.kubectl(args),
    )
}

/// Pods matching `selector` in `ns` that are not being deleted.
pub async fn live_pods(client: &kube::Client, ns: &str, selector: &str) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default().labels(selector))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

/// Waits until exactly `n` live pods match `selector` and all of them are Running.
pub async fn wait_running(client: &kube::Client, ns: &str, selector: &str, n: usize) -> Vec<Pod> {
    let got = eventually(CONVERGE, || async move {
        let pods = live_pods(client, ns, selector).await;
        let running = pods
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .count();
        (pods.len() == n && running == n).then_some(pods)
    })
    .await;
    let Some(pods) = got else {
        let now = live_pods(client, ns, selector).await;
        panic!(
            "expected {n} running pods for {selector}, have {:?}",
            now.iter()
                .map(|p| (
                    p.name_any(),
                    p.status.as_ref().and_then(|s| s.phase.clone())
                ))
                .collect::<Vec<_>>()
        );
    };
    pods
}

/// Events in `ns` whose involved object is named `name`.
pub async fn events_for(client: &kube::Client, ns: &str, name: &str) -> Vec<Event> {
    // Events are recorded asynchronously (the scheduler writes them off its binding path), so
    // wait until the object has some.
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    let deadline = std::time::Instant::now() + CONVERGE;
    loop {
        let events: Vec<Event> = api
            .list(&ListParams::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some(name))
            .collect();
        if !events.is_empty() || std::time::Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The node a pod is bound to, once it is.
pub async fn wait_bound(client: &kube::Client, ns: &str, name: &str) -> String {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let node = eventually(CONVERGE, || {
        let api = api.clone();
        async move { api.get(name).await.ok()?.spec?.node_name }
    })
    .await;
    node.unwrap_or_else(|| panic!("pod {ns}/{name} was never scheduled"))
}
