//! `kubectl top` end to end (Docker): the kubelet's `/metrics/resource` feeds the API
//! server's metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics. A pod burning a CPU shows far
//! more CPU than an idle one in `kubectl top pods` (and `--containers`), the node shows in
//! `kubectl top nodes`, the Python client lists PodMetrics, an unknown pod is metrics-server's
//! 404, writes are 405, and a user without permission is 403 while `view` suffices.

mod kubelet_common;
mod support;

use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kubelet_common::*;
use serde_json::{json, Value};
use support::{eventually, TestCluster};

/// metrics-server needs two scrapes (ours: at least 10 s apart) before a pod has a rate.
const METRICS_WAIT: Duration = Duration::from_secs(90);

/// `kubectl top pods` rows as (name, millicores), once both pods are listed.
fn top_pods(c: &TestCluster) -> Option<Vec<(String, u64)>> {
    let out = c.kubectl(&["top", "pods", "--no-headers"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<(String, u64)> = stdout
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            Some((cols.first()?.to_string(), millicores(cols.get(1)?)?))
        })
        .collect();
    let has = |n: &str| rows.iter().any(|(name, _)| name == n);
    (out.status.success() && has("burn") && has("idle")).then_some(rows)
}

/// `987m` → 987; `1` → 1000.
fn millicores(s: &str) -> Option<u64> {
    match s.strip_suffix('m') {
        Some(m) => m.parse().ok(),
        None => s.parse::<u64>().ok().map(|c| c * 1000),
    }
}

/// The status code and JSON body (Null when not JSON) of a request.
async fn status_of(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.expect("request");
    let code = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    (code, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_top_shows_the_busy_pod_busier() {
    let (_serial, _sweep, c, node) = cluster("e2e-top").await;
    let pods: Api<Pod> = Api::namespaced(c.client().await, "default");
    for (name, script) in [("burn", "while :; do :; done"), ("idle", "sleep 3600")] {
        create(
            &pods,
            json!({"metadata": {"name": name, "labels": {"app": name}},
                "spec": {"terminationGracePeriodSeconds": 0, "containers": [{"name": "spin",
                    "image": "busybox", "command": ["sh", "-c", script]}]}}),
        )
        .await;
    }
    wait_pod(&pods, "burn", "Running", running).await;
    wait_pod(&pods, "idle", "Running", running).await;

    // kubectl top first looks for the group in discovery.
    let resources = kubectl_ok(&c, &["api-resources", "--api-group=metrics.k8s.io"]);
    assert!(
        resources.contains("PodMetrics") && resources.contains("NodeMetrics"),
        "{resources}"
    );

    let rows = eventually(METRICS_WAIT, || async { top_pods(&c) })
        .await
        .unwrap_or_else(|| {
            panic!(
                "kubectl top pods never listed both pods: {:?}\n{}",
                c.kubectl(&["top", "pods"]),
                c.logs()
            )
        });
    let cpu = |n: &str| {
        rows.iter()
            .find(|(name, _)| name == n)
            .map(|(_, m)| *m)
            .unwrap_or(0)
    };
    eprintln!("kubectl top pods: {rows:?}");
    // A whole core when the machine is quiet; on a loaded 2-core builder still a large share.
    assert!(
        cpu("burn") >= 100 && cpu("burn") >= 10 * cpu("idle").max(1),
        "{rows:?}"
    );

    let containers = kubectl_ok(&c, &["top", "pods", "--containers"]);
    assert!(
        containers
            .lines()
            .next()
            .is_some_and(|h| h.contains("POD") && h.contains("NAME")),
        "{containers}"
    );
    assert!(
        containers
            .lines()
            .any(|l| l.starts_with("burn") && l.contains("spin")),
        "{containers}"
    );
    let selected = kubectl_ok(&c, &["top", "pods", "-l", "app=idle", "--no-headers"]);
    assert!(
        selected.starts_with("idle") && !selected.contains("burn"),
        "{selected}"
    );

    let nodes = eventually(METRICS_WAIT, || async {
        let out = c.kubectl(&["top", "nodes", "--no-headers"]);
        let s = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success() && s.contains(&node)).then_some(s)
    })
    .await
    .expect("kubectl top nodes never listed the node");
    eprintln!("kubectl top nodes: {nodes}");

    // The kubelet's own endpoint, through nodes/proxy: upstream's series, one per container.
    let started = std::time::Instant::now();
    let raw = kubectl_ok(
        &c,
        &[
            "get",
            "--raw",
            &format!("/api/v1/nodes/{node}/proxy/metrics/resource"),
        ],
    );
    eprintln!(
        "kubectl get --raw .../proxy/metrics/resource: {:?}",
        started.elapsed()
    );
    for series in [
        "container_cpu_usage_seconds_total{container=\"spin\",namespace=\"default\",pod=\"burn\"} ",
        "container_memory_working_set_bytes{container=\"spin\",namespace=\"default\",pod=\"idle\"} ",
        "container_start_time_seconds{container=\"spin\",namespace=\"default\",pod=\"burn\"} ",
        "pod_cpu_usage_seconds_total{namespace=\"default\",pod=\"burn\"} ",
        "node_cpu_usage_seconds_total ",
        "node_memory_working_set_bytes ",
        "scrape_error 0",
    ] {
        assert!(raw.lines().any(|l| l.starts_with(series)), "no {series:?} in\n{raw}");
    }

    // The Python client through CustomObjectsApi.
    let out = Command::new("python3")
        .arg(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/metrics_client.py"),
        )
        .args(["default", &node])
        .env("KUBECONFIG", c.kubeconfig())
        .env("HOME", c.scratch())
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("ok"),
        "metrics_client.py: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    errors_and_permissions(&c).await;
}

/// metrics-server's 404s, 405 for writes, 403 without permission and 200 with `view`.
async fn errors_and_permissions(c: &TestCluster) {
    let base = format!("{}/apis/metrics.k8s.io/v1beta1", c.base_url());
    let http = c.http();
    let (code, body) = status_of(http.get(format!("{base}/namespaces/default/pods/nope"))).await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (404, Some("NotFound")),
        "{body}"
    );
    assert_eq!(body["message"], "pods \"default/nope\" not found");
    let (code, body) = status_of(http.get(format!("{base}/nodes/no-such-node"))).await;
    assert_eq!(code, 404, "{body}");
    assert_eq!(body["message"], "nodes \"no-such-node\" not found");
    let err = kubectl_fails(c, &["top", "pod", "nope"]);
    assert!(err.contains("pods \"default/nope\" not found"), "{err}");

    let create = http.post(format!("{base}/namespaces/default/pods")).json(
        &json!({"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
            "metadata": {"name": "forged"}, "timestamp": "2026-01-01T00:00:00Z",
            "window": "10s", "containers": []}),
    );
    let (code, body) = status_of(create).await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (405, Some("MethodNotAllowed")),
        "{body}"
    );
    let (code, _) = status_of(http.delete(format!("{base}/namespaces/default/pods/burn"))).await;
    assert_eq!(code, 405);

    // A service account: 403 until bound to `view`, which aggregates the metrics reader.
    kubectl_ok(c, &["create", "serviceaccount", "watcher"]);
    let token = kubectl_ok(c, &["create", "token", "watcher"])
        .trim()
        .to_string();
    let anonymous = c.anonymous_http();
    let pods_url = format!("{base}/namespaces/default/pods");
    let (code, body) = status_of(anonymous.get(&pods_url).bearer_auth(&token)).await;
    assert_eq!(code, 403, "{body}");
    assert_eq!(body["message"], "pods.metrics.k8s.io is forbidden: User \"system:serviceaccount:default:watcher\" cannot list resource \"pods\" in API group \"metrics.k8s.io\" in the namespace \"default\"");
    kubectl_ok(
        c,
        &[
            "create",
            "rolebinding",
            "watcher-view",
            "--clusterrole=view",
            "--serviceaccount=default:watcher",
        ],
    );
    let allowed = eventually(Duration::from_secs(15), || async {
        let (code, body) = status_of(anonymous.get(&pods_url).bearer_auth(&token)).await;
        (code == 200).then_some(body)
    })
    .await
    .expect("view never allowed reading PodMetrics");
    assert_eq!(allowed["kind"], "PodMetricsList");
}
