//! `ferrokube bench scheduler`: scheduler throughput with hollow nodes (upstream
//! scheduler_perf's SchedulingBasic shape: N nodes, M pods created as fast as the API takes
//! them, pods bound per second), the time for a 1,000-replica Deployment to become fully
//! available on 100 hollow nodes, and the idle RSS the controller manager and scheduler add to
//! the server. Figures are printed, not asserted.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::watcher;
use kube::Client;
use serde_json::json;
use tokio::sync::Mutex;

use super::{create_namespace, BenchArgs, ServerProcess};

/// Starts a server child process (no agent) with extra flags on `dir`.
fn start_server(dir: &Path, extra: &[&str]) -> anyhow::Result<ServerProcess> {
    let flags: Vec<&str> = std::iter::once("--no-agent")
        .chain(extra.iter().copied())
        .collect();
    Ok(ServerProcess::start_with(dir, &flags)?.0)
}

/// Hollow nodes `0..count` running in this process.
struct Hollow {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Hollow {
    fn start(client: &Client, count: usize) -> Self {
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let client = client.clone();
        let task = tokio::spawn(async move {
            let until = async move {
                let _ = rx.await;
            };
            if let Err(e) = ferrokube_controllers::run_hollow_nodes(client, count, until).await {
                eprintln!("hollow nodes failed: {e:#}");
            }
        });
        Hollow { stop, task }
    }

    /// Stops the nodes (they deregister) while the server still runs.
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(60), self.task).await;
    }
}

/// Waits until `count` nodes are registered.
async fn wait_nodes(client: &Client, count: usize) -> anyhow::Result<Duration> {
    let began = Instant::now();
    let nodes: Api<Node> = Api::all(client.clone());
    loop {
        let n = nodes
            .list_metadata(&ListParams::default())
            .await?
            .items
            .len();
        if n >= count {
            return Ok(began.elapsed());
        }
        anyhow::ensure!(
            began.elapsed() < Duration::from_secs(1800),
            "only {n}/{count} nodes registered"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn bench_pod(i: usize) -> Pod {
    serde_json::from_value(
        json!({"metadata": {"name": format!("pod-{i}"), "labels": {"bench": "scheduler"}},
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
            "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}}}]}}),
    )
    .expect("static pod")
}

/// Phase 1: M pods on N nodes; pods bound per second.
async fn throughput(root: &Path, nodes: usize, pods: usize) -> anyhow::Result<()> {
    let server = start_server(&root.join("throughput"), &[])?;
    let client = server.client().await?;
    let hollow = Hollow::start(&client, nodes);
    let reg = wait_nodes(&client, nodes).await?;
    println!(
        "{nodes} hollow nodes registered in {:.1} s",
        reg.as_secs_f64()
    );
    create_namespace(&client, "sched").await?;
    let api: Api<Pod> = Api::namespaced(client.clone(), "sched");

    // Count bindings from a watch so the measurement itself costs the API little.
    let bound: Arc<Mutex<(HashSet<String>, Option<Instant>)>> = Arc::default();
    let watch = {
        let (bound, api) = (bound.clone(), api.clone());
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(watcher(api, watcher::Config::default()));
            while let Some(ev) = stream.next().await {
                if let Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) = ev {
                    if p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some() {
                        let mut b = bound.lock().await;
                        if let Some(name) = p.metadata.name {
                            if b.0.insert(name) {
                                b.1 = Some(Instant::now());
                            }
                        }
                    }
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let began = Instant::now();
    let workers = 64;
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let api = api.clone();
            tokio::spawn(async move {
                let mut i = w;
                while i < pods {
                    api.create(&PostParams::default(), &bench_pod(i)).await?;
                    i += workers;
                }
                Ok::<_, kube::Error>(())
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    let created = began.elapsed();
    println!(
        "created {pods} pods in {:.1} s ({:.0} pods/s)",
        created.as_secs_f64(),
        pods as f64 / created.as_secs_f64()
    );
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let (n, last) = {
            let b = bound.lock().await;
            (b.0.len(), b.1)
        };
        if n >= pods {
            let took = last.unwrap_or_else(Instant::now) - began;
            println!(
                "scheduled {pods} pods on {nodes} nodes in {:.1} s: {:.0} pods/s (first create to last binding)",
                took.as_secs_f64(),
                pods as f64 / took.as_secs_f64()
            );
            break;
        }
        if Instant::now() > deadline {
            println!("gave up: {n}/{pods} pods scheduled after 30 min");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    watch.abort();
    hollow.stop().await;
    drop(server);
    Ok(())
}

/// Phase 2: a 1,000-replica Deployment on 100 hollow nodes until fully available.
async fn deployment(root: &Path) -> anyhow::Result<()> {
    let server = start_server(&root.join("deployment"), &[])?;
    let client = server.client().await?;
    let hollow = Hollow::start(&client, 100);
    wait_nodes(&client, 100).await?;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "big"},
        "spec": {"replicas": 1000, "selector": {"matchLabels": {"app": "big"}},
            "template": {"metadata": {"labels": {"app": "big"}},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}}}))
    .context("deployment")?;
    let began = Instant::now();
    api.create(&PostParams::default(), &d).await?;
    let outcome = loop {
        let st = api.get_status("big").await?.status.unwrap_or_default();
        if st.available_replicas.unwrap_or(0) >= 1000 && st.updated_replicas.unwrap_or(0) >= 1000 {
            println!(
                "1,000-replica Deployment fully available on 100 hollow nodes in {:.1} s",
                began.elapsed().as_secs_f64()
            );
            break Ok(());
        }
        if began.elapsed() > Duration::from_secs(1200) {
            println!(
                "gave up: Deployment at {}/1000 available after 20 min",
                st.available_replicas.unwrap_or(0)
            );
            break Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    hollow.stop().await;
    drop(server);
    outcome
}

/// Phase 3: idle RSS of a server with and without the controller manager and scheduler.
async fn idle_rss(root: &Path) -> anyhow::Result<()> {
    let with = start_server(&root.join("rss-with"), &[])?;
    let without = start_server(&root.join("rss-without"), &["--no-controllers"])?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (a, b) = (with.memory()?.rss, without.memory()?.rss);
    println!(
        "idle RSS: server with controllers+scheduler {} MiB, without {} MiB; controller manager + scheduler ≈ {} MiB",
        a / 1024,
        b / 1024,
        a.saturating_sub(b) / 1024
    );
    Ok(())
}

/// Runs the scheduler benchmark.
pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let root = std::env::temp_dir().join(format!("ferrokube-bench-sched-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    println!(
        "ferrokube bench scheduler  ({} cores, {} nodes, {} pods, data under {})",
        std::thread::available_parallelism()?,
        args.nodes,
        args.pods,
        root.display()
    );
    throughput(&root, args.nodes, args.pods).await?;
    deployment(&root).await?;
    idle_rss(&root).await?;
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}
