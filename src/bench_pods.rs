//! `ferrokube bench pods`: pods on the real Docker engine, against a server child process that
//! runs the embedded agent (always in no-pull mode with the locally imported busybox):
//! - create → Running latency of 50 pods, one at a time, observed through a watch (p50/p99;
//!   upstream's pod startup SLO is 5 s at p99);
//! - the idle RSS of a standalone `ferrokube agent` process with no pods;
//! - 100 pods created at once on one node: time until all are Running.
//!
//! Figures are printed, not asserted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use serde_json::json;
use tokio::sync::mpsc;

use super::{ms, percentile, ServerProcess};

/// The label every engine container carries with its agent's node name.
const NODE_LABEL: &str = "io.ferrokube.node";

/// The label of this benchmark's pods.
const BENCH_LABEL: &str = "bench=pods";

/// How long one phase may take before the benchmark gives up.
const PHASE_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs the pod benchmarks.
pub async fn run() -> anyhow::Result<()> {
    ferrokube_kubelet::import_busybox(&[])
        .await
        .context("importing busybox (needs Docker and /bin/busybox from busybox-static)")?;
    let dir = std::env::temp_dir().join(format!("ferrokube-bench-pods-{}", std::process::id()));
    let node = format!("bench-pods-{}", std::process::id());
    let idle_node = format!("{node}-idle");
    let result = phases(&dir, &node, &idle_node).await;
    // Whatever happened, leave no containers and no data behind.
    sweep(&node);
    sweep(&idle_node);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn phases(dir: &Path, node: &str, idle_node: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let server = start_server(&dir.join("server"), node)?;
    let client = server.client().await?;
    let ready = wait_node_ready(&client, node).await?;
    println!("node {node} registered and Ready after {}", ms(ready));

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let (tx, mut running) = mpsc::unbounded_channel();
    let watch = tokio::spawn(watch_running(pods.clone(), tx));

    // 1. Startup latency, one pod at a time.
    let mut latencies = Vec::new();
    for i in 0..50 {
        let name = format!("lat-{i}");
        let began = Instant::now();
        pods.create(&PostParams::default(), &pod(&name)).await?;
        wait_for(&mut running, |n| n == name).await?;
        latencies.push(began.elapsed());
    }
    latencies.sort();
    println!(
        "pod create -> Running (watch), 50 pods one at a time: p50 {}  p99 {}  max {}",
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default()),
    );
    let cleaned = delete_all(&pods, node).await?;
    println!(
        "deleting 50 pods until their containers are gone: {}",
        ms(cleaned)
    );

    // 2. Idle RSS of a standalone agent.
    let agent = AgentProcess::start(&server, idle_node, &dir.join("agent"))?;
    wait_node_ready(&client, idle_node).await?;
    // Past start-up and several lease/status/cleanup rounds: the steady state, not the dip
    // right after the agent unmaps its start-up code (kubelet `memory` module).
    tokio::time::sleep(Duration::from_secs(40)).await;
    println!(
        "standalone agent idle RSS (no pods, 40 s after registering): {:.1} MiB",
        agent.rss_kib()? as f64 / 1024.0
    );
    drop(agent);
    let _ = Api::<Node>::all(client.clone())
        .delete(idle_node, &DeleteParams::default())
        .await;

    // 3. 100 pods at once on one node.
    let began = Instant::now();
    for i in 0..100 {
        pods.create(&PostParams::default(), &pod(&format!("burst-{i}")))
            .await?;
    }
    let created = began.elapsed();
    let mut seen = HashMap::new();
    while seen.len() < 100 {
        let name = wait_for(&mut running, |n| n.starts_with("burst-")).await?;
        seen.entry(name).or_insert_with(|| began.elapsed());
    }
    let mut each: Vec<Duration> = seen.into_values().collect();
    each.sort();
    println!(
        "100 pods on one node: created in {}, all Running after {} (per pod p50 {}  p99 {})",
        ms(created),
        ms(each.last().copied().unwrap_or_default()),
        ms(percentile(&each, 0.50)),
        ms(percentile(&each, 0.99)),
    );
    println!(
        "server RSS with 100 running pods (API + controllers + embedded agent): {:.1} MiB",
        server.memory()?.rss as f64 / 1024.0
    );
    let cleaned = delete_all(&pods, node).await?;
    println!(
        "deleting 100 pods until their containers are gone: {}",
        ms(cleaned)
    );
    watch.abort();
    Ok(())
}

fn pod(name: &str) -> Pod {
    let value = json!({
        "metadata": {"name": name, "labels": {"bench": "pods"}},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "main", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                "command": ["sleep", "3600"]}]
        }
    });
    serde_json::from_value(value).expect("static pod manifest")
}

/// Sends each pod's name once, the first time the watch sees it Running.
async fn watch_running(pods: Api<Pod>, tx: mpsc::UnboundedSender<String>) {
    let config = watcher::Config::default().labels(BENCH_LABEL);
    let mut stream = watcher::watcher(pods, config).applied_objects().boxed();
    let mut reported = std::collections::HashSet::new();
    while let Some(ev) = stream.next().await {
        let Ok(p) = ev else { continue };
        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
        let name = p.metadata.name.clone().unwrap_or_default();
        if phase == Some("Running")
            && reported.insert(p.metadata.uid.clone())
            && tx.send(name).is_err()
        {
            return;
        }
    }
}

/// Waits for the next Running report that `want` accepts.
async fn wait_for(
    running: &mut mpsc::UnboundedReceiver<String>,
    want: impl Fn(&str) -> bool,
) -> anyhow::Result<String> {
    let deadline = tokio::time::Instant::now() + PHASE_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, running.recv()).await {
            Ok(Some(name)) if want(&name) => return Ok(name),
            Ok(Some(_)) => {}
            Ok(None) => bail!("the pod watch ended"),
            Err(_) => bail!("pods did not become Running within {PHASE_TIMEOUT:?}"),
        }
    }
}

/// Deletes every bench pod and waits until the pods and their engine containers are gone.
async fn delete_all(pods: &Api<Pod>, node: &str) -> anyhow::Result<Duration> {
    let began = Instant::now();
    pods.delete_collection(
        &DeleteParams::default().grace_period(0),
        &ListParams::default().labels(BENCH_LABEL),
    )
    .await?;
    loop {
        let left = pods
            .list(&ListParams::default().labels(BENCH_LABEL))
            .await?
            .items
            .len();
        if left == 0 && containers_of(node).is_empty() {
            return Ok(began.elapsed());
        }
        if began.elapsed() > PHASE_TIMEOUT {
            bail!("{left} pods (or their containers) still there after {PHASE_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the node exists with condition Ready=True.
pub(super) async fn wait_node_ready(client: &Client, name: &str) -> anyhow::Result<Duration> {
    let began = Instant::now();
    let nodes: Api<Node> = Api::all(client.clone());
    loop {
        let ready = nodes.get_opt(name).await.ok().flatten().is_some_and(|n| {
            n.status
                .and_then(|s| s.conditions)
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        });
        if ready {
            return Ok(began.elapsed());
        }
        if began.elapsed() > Duration::from_secs(60) {
            bail!("node {name} did not become Ready (is the Docker engine reachable?)");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Engine container ids of a node (any state).
fn containers_of(node: &str) -> Vec<String> {
    Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label={NODE_LABEL}={node}"),
        ])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Force-removes every engine container of a node.
pub(super) fn sweep(node: &str) {
    for id in containers_of(node) {
        let _ = Command::new("docker").args(["rm", "-f", &id]).output();
    }
}

/// Starts `ferrokube server` with its embedded agent under `node`, in no-pull mode.
fn start_server(dir: &Path, node: &str) -> anyhow::Result<ServerProcess> {
    Ok(ServerProcess::start_with(dir, &["--node-name", node])?.0)
}

/// A standalone `ferrokube agent` child process, killed when dropped.
struct AgentProcess {
    child: Child,
}

impl AgentProcess {
    fn start(server: &ServerProcess, node: &str, dir: &Path) -> anyhow::Result<Self> {
        let kubeconfig: PathBuf = server.dir.join("kubeconfig.yaml");
        let child = Command::new(std::env::current_exe()?)
            // Killed, not stopped: a proxy would leave its rules behind.
            .args(["agent", "--no-proxy", "--node-name", node])
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--data-dir")
            .arg(dir)
            .env("FERROKUBE_NO_IMAGE_PULL", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(AgentProcess { child })
    }

    fn rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("no VmRSS in /proc/<agent>/status")
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
