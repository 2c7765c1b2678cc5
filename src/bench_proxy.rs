//! `ferrokube bench proxy`, the service proxy's numbers (printed, not asserted; needs root,
//! `nft` and, for the second part, Docker):
//! - endpoint change -> rule applied: a server child process (no agent, no controllers) holds
//!   a selector-less Service whose EndpointSlice the benchmark rewrites itself; an in-process
//!   service proxy (the agent's, with its own nft table and no route) programs it, and
//!   `nft list table` is polled until the new endpoint's DNAT rule is there;
//! - the proxy's cost on the data path: one-shot HTTP requests from a client pod (busybox
//!   `nc`, one connection each) to an `httpd` pod, straight to the pod IP and through the
//!   ClusterIP, on a server with its embedded agent.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, PostParams};
use serde_json::json;

use super::{ms, percentile, ServerProcess};

/// Endpoint changes measured.
const CHANGES: usize = 100;

/// Services in the table besides the measured one (a rule set of realistic size).
const OTHER_SERVICES: usize = 50;

/// Runs the proxy benchmarks.
pub async fn run() -> anyhow::Result<()> {
    rule_latency().await?;
    super::traffic_bench::run().await
}

/// Endpoint change -> rule applied.
async fn rule_latency() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("ferrokube-bench-proxy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // ClusterIPs from a range no test server or default install uses: the table is live.
    let (server, _) = ServerProcess::start_with(
        &dir,
        &[
            "--no-agent",
            "--no-controllers",
            "--service-cidr",
            "10.95.0.0/16",
        ],
    )?;
    let client = server.client().await?;
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    for i in 0..=OTHER_SERVICES {
        let svc: Service = serde_json::from_value(json!({"metadata": {"name": format!("s{i}")},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}))?;
        services.create(&PostParams::default(), &svc).await?;
        slices
            .create(&PostParams::default(), &slice(i, &[(10, i % 250 + 1)]))
            .await?;
    }
    let node = format!("bench-proxy-{}", std::process::id());
    let cfg = ferrokube_kubelet::proxy::ProxyConfig::for_node(&node);
    let table = cfg.table.clone();
    let proxy = ferrokube_kubelet::proxy::spawn(client.clone(), cfg, node);
    let result = measure(&slices, &table).await;
    proxy.stop().await;
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    let mut samples = result?;
    samples.sort();
    println!(
        "endpoint change -> rule applied ({CHANGES} changes, {} services): p50 {}  p99 {}  max {}",
        OTHER_SERVICES + 1,
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.99)),
        ms(*samples.last().unwrap_or(&Duration::ZERO)),
    );
    Ok(())
}

/// Rewrites service `s0`'s slice to a fresh backend address `CHANGES` times, each time timing
/// until the kernel table DNATs to it.
async fn measure(slices: &Api<EndpointSlice>, table: &str) -> anyhow::Result<Vec<Duration>> {
    wait_for_rule(table, "10.10.0.1:8080", Duration::from_secs(30))
        .await
        .context("the proxy never programmed the first rules")?;
    let mut samples = Vec::with_capacity(CHANGES);
    for n in 0..CHANGES {
        let (third, fourth) = (20 + n / 250, n % 250 + 1);
        let mut next = slice(0, &[(third, fourth)]);
        let current = slices.get("s0-bench").await?;
        next.metadata.resource_version = current.metadata.resource_version;
        let began = Instant::now();
        slices
            .replace("s0-bench", &PostParams::default(), &next)
            .await?;
        let want = format!("10.{third}.0.{fourth}:8080");
        wait_for_rule(table, &want, Duration::from_secs(10)).await?;
        samples.push(began.elapsed());
    }
    Ok(samples)
}

/// Polls the table until it mentions `dnat to <target>`.
async fn wait_for_rule(table: &str, target: &str, timeout: Duration) -> anyhow::Result<()> {
    let began = Instant::now();
    let needle = format!("dnat to {target}");
    while began.elapsed() < timeout {
        let out = tokio::process::Command::new("nft")
            .args(["list", "table", "ip", table])
            .output()
            .await
            .context("running nft")?;
        if String::from_utf8_lossy(&out.stdout).contains(&needle) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    bail!("no rule for {target} in table {table} after {timeout:?}")
}

/// The slice of service `s<i>` with backends `10.<a>.0.<b>:8080`.
fn slice(i: usize, backends: &[(usize, usize)]) -> EndpointSlice {
    let endpoints: Vec<_> = backends
        .iter()
        .map(
            |(a, b)| json!({"addresses": [format!("10.{a}.0.{b}")], "conditions": {"ready": true}}),
        )
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": format!("s{i}-bench"),
            "labels": {"kubernetes.io/service-name": format!("s{i}")}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints}))
    .expect("slice json")
}
