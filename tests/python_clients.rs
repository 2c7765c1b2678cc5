//! The Python client libraries real users reach for — the official `kubernetes` client, kr8s
//! and lightkube — each running its own script (tests/python/) against a fresh server. A
//! missing Python library fails the test: `.ci/run` installs them.

mod support;

use std::process::Command;

use support::TestCluster;

/// Runs `tests/python/<script>` with the cluster's kubeconfig; it prints `ok` when every check
/// in it held.
fn run_script(cluster: &TestCluster, script: &str, namespace: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let out = Command::new("python3")
        .arg(&path)
        .arg(namespace)
        .env("KUBECONFIG", cluster.kubeconfig())
        .env("HOME", cluster.scratch())
        .output()
        .expect("running python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("ok"),
        "{script} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}\nserver log tail:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        tail(&cluster.logs(), 40),
    );
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_kubernetes_client() {
    let cluster = TestCluster::start().await;
    run_script(&cluster, "official_client.py", "py-official");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kr8s_client() {
    let cluster = TestCluster::start().await;
    run_script(&cluster, "kr8s_client.py", "py-kr8s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightkube_client() {
    let cluster = TestCluster::start().await;
    run_script(&cluster, "lightkube_client.py", "py-lightkube");
}

/// Upstream's "ServiceAccountIssuerDiscovery should support OIDC discovery of service account
/// issuer": a TokenRequest token verified against the discovery document and key set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_account_issuer_discovery() {
    let cluster = TestCluster::start().await;
    run_script(&cluster, "issuer_discovery_client.py", "py-oidc");
}
