//! Part of `ferrokube bench proxy`: requests per second from a client pod to an `httpd` pod,
//! straight to the pod IP and through the Service's ClusterIP (the nftables DNAT's cost).
//! Each request is its own connection (`nc`), timed from the host around one `kubectl exec`
//! running a batch, minus an empty exec's time.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, PostParams};
use serde_json::json;

use super::pods_bench::{sweep, wait_node_ready};
use super::ServerProcess;

/// Requests per batch.
const REQUESTS: usize = 500;

/// Batches per target (the best one counts: the machine is shared).
const ROUNDS: usize = 3;

/// Runs the data-path benchmark on a fresh server with its embedded agent.
pub async fn run() -> anyhow::Result<()> {
    ferrokube_kubelet::import_busybox(&[])
        .await
        .context("importing busybox (needs Docker and /bin/busybox from busybox-static)")?;
    let dir = std::env::temp_dir().join(format!("ferrokube-bench-traffic-{}", std::process::id()));
    let node = format!("bench-traffic-{}", std::process::id());
    let result = measure(&dir, &node).await;
    sweep(&node);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure(dir: &Path, node: &str) -> anyhow::Result<()> {
    let (server, _) = ServerProcess::start_with(
        dir,
        &["--node-name", node, "--service-cidr", "10.95.0.0/16"],
    )?;
    let client = server.client().await?;
    wait_node_ready(&client, node).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    for pod in [
        json!({"metadata": {"name": "srv", "labels": {"app": "srv"}}, "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "srv", "image": "busybox", "command": ["sh", "-c",
                "mkdir -p /w && echo ok > /w/i && exec httpd -f -h /w -p 8080"]}]}}),
        json!({"metadata": {"name": "cli"}, "spec": {"terminationGracePeriodSeconds": 0,
            "containers": [{"name": "cli", "image": "busybox", "command": ["sleep", "3600"]}]}}),
    ] {
        pods.create(&PostParams::default(), &serde_json::from_value(pod)?)
            .await?;
    }
    let svc: Service = serde_json::from_value(json!({"metadata": {"name": "srv"},
        "spec": {"selector": {"app": "srv"}, "ports": [{"port": 80, "targetPort": 8080}]}}))?;
    let svc = services.create(&PostParams::default(), &svc).await?;
    let cluster_ip = svc
        .spec
        .and_then(|s| s.cluster_ip)
        .context("no ClusterIP")?;
    let pod_ip = wait_pod_ip(&pods, "srv").await?;
    let kubeconfig = dir.join("kubeconfig.yaml");
    wait_answer(&kubeconfig, &cluster_ip, 80).await?;
    wait_answer(&kubeconfig, &pod_ip, 8080).await?;
    let baseline = best(|| batch(&kubeconfig, "true"))?;
    let direct = best(|| batch(&kubeconfig, &requests(&pod_ip, 8080)))?;
    let proxied = best(|| batch(&kubeconfig, &requests(&cluster_ip, 80)))?;
    for (what, took) in [("pod IP", direct), ("ClusterIP", proxied)] {
        let net = took.saturating_sub(baseline).max(Duration::from_millis(1));
        println!(
            "{REQUESTS} one-connection requests from a pod to {what}: {:.0} req/s ({:.2} ms each)",
            REQUESTS as f64 / net.as_secs_f64(),
            net.as_secs_f64() * 1000.0 / REQUESTS as f64,
        );
    }
    drop(server);
    Ok(())
}

fn requests(ip: &str, port: u16) -> String {
    format!(
        "for i in $(seq {REQUESTS}); do printf 'GET /i HTTP/1.0\\r\\n\\r\\n' | nc {ip} {port} >/dev/null; done"
    )
}

/// Runs `script` in the client pod; how long the whole `kubectl exec` took.
fn batch(kubeconfig: &Path, script: &str) -> anyhow::Result<Duration> {
    let began = Instant::now();
    let out = Command::new("kubectl")
        .args(["exec", "cli", "--", "sh", "-c", script])
        .env("KUBECONFIG", kubeconfig)
        .output()
        .context("running kubectl")?;
    if !out.status.success() {
        bail!("kubectl exec: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(began.elapsed())
}

fn best(mut run: impl FnMut() -> anyhow::Result<Duration>) -> anyhow::Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..ROUNDS {
        best = best.min(run()?);
    }
    Ok(best)
}

async fn wait_pod_ip(pods: &Api<Pod>, name: &str) -> anyhow::Result<String> {
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(60) {
        let ip = pods
            .get(name)
            .await?
            .status
            .filter(|s| s.phase.as_deref() == Some("Running"))
            .and_then(|s| s.pod_ip);
        if let Some(ip) = ip {
            return Ok(ip);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("pod {name} never ran")
}

/// Waits until the client pod gets an answer from `ip:port` (the proxy programmed, the
/// server listening).
async fn wait_answer(kubeconfig: &Path, ip: &str, port: u16) -> anyhow::Result<()> {
    let began = Instant::now();
    let probe = format!("printf 'GET /i HTTP/1.0\\r\\n\\r\\n' | nc {ip} {port} | grep -q ok");
    while began.elapsed() < Duration::from_secs(60) {
        if batch(kubeconfig, &probe).is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("no answer from {ip}:{port} inside the client pod")
}
