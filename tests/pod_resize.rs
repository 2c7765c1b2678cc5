//! In-place pod resize (`pods/resize`) on the real Docker engine with stock kubectl and the
//! Python client: a running container gets more cpu and memory without a restart, the engine's
//! limits and the pod's status follow; a resize changing the QoS class and a plain `kubectl
//! replace` changing resources are refused with upstream's messages; a `RestartContainer`
//! policy restarts the container; a resize beyond the node is Infeasible.

mod kubelet_common;
mod support;

use std::process::Command;

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kubelet_common::*;
use serde_json::{json, Value};
use support::TestCluster;

/// A running busybox pod `name` with the given container resources and memory resize policy.
fn resizable(name: &str, resources: Value, memory_policy: &str) -> Value {
    json!({"metadata": {"name": name}, "spec": {"terminationGracePeriodSeconds": 1,
        "containers": [{"name": "main", "image": "busybox",
            "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
            "resources": resources,
            "resizePolicy": [
                {"resourceName": "cpu", "restartPolicy": "NotRequired"},
                {"resourceName": "memory", "restartPolicy": memory_policy}]}]}})
}

fn resources(cpu: (&str, &str), memory: (&str, &str)) -> Value {
    json!({"requests": {"cpu": cpu.0, "memory": memory.0},
        "limits": {"cpu": cpu.1, "memory": memory.1}})
}

/// The kubectl arguments of a resize of `pod` by `patch`.
fn resize_args<'a>(pod: &'a str, patch: &'a str) -> [&'a str; 7] {
    [
        "patch",
        "pod",
        pod,
        "--subresource",
        "resize",
        "--patch",
        patch,
    ]
}

/// `kubectl patch pod <name> --subresource resize` with these container resources.
fn resize_ok(c: &TestCluster, pod: &str, resources: &Value) -> String {
    kubectl_ok(c, &resize_args(pod, &resize_patch(resources)))
}

/// The same resize, expected to be refused; its stderr.
fn resize_refused(c: &TestCluster, pod: &str, resources: &Value) -> String {
    kubectl_fails(c, &resize_args(pod, &resize_patch(resources)))
}

fn resize_patch(r: &Value) -> String {
    json!({"spec": {"containers": [{"name": "main", "resources": r}]}}).to_string()
}

/// The status's `resources` of container `main`, as JSON.
fn status_resources(p: &Pod) -> Value {
    container_status(p, "main")
        .and_then(|s| s.resources.as_ref())
        .map(|r| serde_json::to_value(r).expect("resources json"))
        .unwrap_or(Value::Null)
}

fn restarts(p: &Pod) -> i32 {
    container_status(p, "main").map_or(-1, |s| s.restart_count)
}

/// The engine's (NanoCpus, Memory, CpuShares) of the pod's current `main` container.
fn engine_limits(p: &Pod) -> String {
    let id = container_id(p).expect("container id");
    let out = Command::new("docker")
        .args([
            "inspect",
            "--format",
            "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}} {{.HostConfig.CpuShares}}",
            id.trim_start_matches("docker://"),
        ])
        .output()
        .expect("docker inspect");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn has_condition(p: &Pod, kind: &str, reason: &str) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == kind && c.reason.as_deref() == Some(reason))
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resize_in_place_restart_and_refusals() {
    let (_serial, _sweep, c, _node) = cluster("e2e-resize").await;
    let pods: Api<Pod> = Api::namespaced(c.client().await, "default");
    let before = resources(("100m", "200m"), ("32Mi", "64Mi"));
    create(&pods, resizable("live", before.clone(), "NotRequired")).await;
    create(
        &pods,
        resizable("again", before.clone(), "RestartContainer"),
    )
    .await;
    // A container without a cpu request gets upstream's minimum shares (2), not the engine's
    // default 1024.
    create(&pods, resizable("besteffort", json!({}), "NotRequired")).await;

    // Every running container reports what is applied, resized or not.
    let live = wait_pod(&pods, "live", "running with status resources", |p| {
        running(p) && status_resources(p) == before
    })
    .await;
    assert_eq!(live.metadata.generation, Some(1));
    assert_eq!(engine_limits(&live), "200000000 67108864 102");
    let besteffort = wait_pod(&pods, "besteffort", "running", running).await;
    assert_eq!(engine_limits(&besteffort), "0 0 2");
    let discovery = kubectl_ok(&c, &["get", "--raw", "/api/v1"]);
    assert!(discovery.contains("\"pods/resize\""), "{discovery}");

    // More cpu and memory, in place.
    let after = resources(("150m", "300m"), ("48Mi", "96Mi"));
    resize_ok(&c, "live", &after);
    let live = wait_pod(&pods, "live", "resized", |p| status_resources(p) == after).await;
    assert_eq!(restarts(&live), 0);
    // A resize is a spec change: generation 1 became 2, and the kubelet observed it.
    assert_eq!(live.metadata.generation, Some(2));
    let observed = live.status.as_ref().and_then(|s| s.observed_generation);
    assert_eq!(observed, Some(2));
    let via_resize = kubectl_ok(
        &c,
        &[
            "get",
            "--raw",
            "/api/v1/namespaces/default/pods/live/resize",
        ],
    );
    let via_resize: Value = serde_json::from_str(&via_resize).expect("pod json");
    assert_eq!(via_resize["spec"]["containers"][0]["resources"], after);
    assert_eq!(engine_limits(&live), "300000000 100663296 153");
    let allocated = container_status(&live, "main").and_then(|s| s.allocated_resources.clone());
    assert_eq!(
        serde_json::to_value(allocated).expect("json"),
        json!({"cpu": "150m", "memory": "48Mi"})
    );
    python_reads_status_resources(&c);

    // Requests equal to limits would make the Burstable pod Guaranteed.
    let guaranteed = resources(("300m", "300m"), ("96Mi", "96Mi"));
    let err = resize_refused(&c, "live", &guaranteed);
    assert!(
        err.contains(
            "spec: Invalid value: \"Burstable\": Pod QOS Class may not change as a result of resizing"
        ),
        "{err}"
    );
    // Only the resize subresource changes resources.
    let err = kubectl_fails(
        &c,
        &[
            "patch",
            "pod",
            "live",
            "--patch",
            &resize_patch(&resources(("150m", "400m"), ("48Mi", "96Mi"))),
        ],
    );
    assert!(
        err.contains("pod updates may not change fields other than `spec.containers[*].image`"),
        "{err}"
    );
    replace_changing_resources_is_refused(&c);

    // Memory with a RestartContainer policy: a new container with the new limit.
    wait_pod(&pods, "again", "running", running).await;
    let bigger = resources(("100m", "200m"), ("32Mi", "128Mi"));
    resize_ok(&c, "again", &bigger);
    let again = wait_pod(&pods, "again", "restarted with more memory", |p| {
        running(p) && restarts(p) == 1 && status_resources(p) == bigger
    })
    .await;
    assert_eq!(engine_limits(&again), "200000000 134217728 102");

    // More cpu than the node has: Infeasible, nothing applied.
    let huge = resources(("1000", "1000"), ("48Mi", "96Mi"));
    resize_ok(&c, "live", &huge);
    let live = wait_pod(&pods, "live", "infeasible", |p| {
        has_condition(p, "PodResizePending", "Infeasible")
    })
    .await;
    assert_eq!(status_resources(&live), after);
    assert_eq!(restarts(&live), 0);

    quota_charges_what_a_resize_adds(&c).await;
}

/// A resize is charged to the namespace's quota by what it adds.
async fn quota_charges_what_a_resize_adds(c: &TestCluster) {
    kubectl_ok(c, &["create", "namespace", "tight"]);
    kubectl_ok(
        c,
        &[
            "create",
            "quota",
            "q",
            "--hard=requests.memory=100Mi",
            "-n",
            "tight",
        ],
    );
    let known = support::eventually(POD_WAIT, || async {
        let used = kubectl_ok(
            c,
            &[
                "get",
                "quota",
                "q",
                "-n",
                "tight",
                "-o",
                "jsonpath={.status.used}",
            ],
        );
        (!used.trim().is_empty()).then_some(())
    })
    .await;
    assert!(known.is_some(), "quota usage never computed");
    let pods: Api<Pod> = Api::namespaced(c.client().await, "tight");
    let small = resources(("100m", "200m"), ("32Mi", "64Mi"));
    create(&pods, resizable("held", small, "NotRequired")).await;
    let within = resources(("100m", "200m"), ("64Mi", "64Mi"));
    let resize = |r: &Value| {
        vec![
            "patch".to_string(),
            "pod".into(),
            "held".into(),
            "-n".into(),
            "tight".into(),
            "--subresource".into(),
            "resize".into(),
            "--patch".into(),
            resize_patch(r),
        ]
    };
    let args = resize(&within);
    kubectl_ok(c, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let beyond = resources(("100m", "200m"), ("128Mi", "128Mi"));
    let args = resize(&beyond);
    let err = kubectl_fails(c, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        err.contains("pods \"held\" is forbidden: exceeded quota: q"),
        "{err}"
    );
}

/// `kubectl replace` of the pod with other resources: refused as upstream's pod update.
fn replace_changing_resources_is_refused(c: &TestCluster) {
    let current = kubectl_ok(c, &["get", "pod", "live", "-o", "json"]);
    let mut pod: Value = serde_json::from_str(&current).expect("pod json");
    pod["spec"]["containers"][0]["resources"]["limits"]["cpu"] = json!("500m");
    let path = c.scratch().join("replace.json");
    std::fs::write(&path, pod.to_string()).expect("write pod");
    let err = kubectl_fails(c, &["replace", "-f", &path.to_string_lossy()]);
    assert!(
        err.contains("is invalid: spec: Forbidden: pod updates may not change fields other than"),
        "{err}"
    );
}

/// The official Python client reads the applied resources from the status.
fn python_reads_status_resources(c: &TestCluster) {
    let script = r#"
from kubernetes import client, config
config.load_kube_config()
pod = client.CoreV1Api().read_namespaced_pod("live", "default")
status = pod.status.container_statuses[0]
assert status.resources.limits == {"cpu": "300m", "memory": "96Mi"}, status.resources
assert status.allocated_resources == {"cpu": "150m", "memory": "48Mi"}, status
print("ok")
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .env("KUBECONFIG", c.kubeconfig())
        .env("HOME", c.scratch())
        .output()
        .expect("running python3");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "python: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
