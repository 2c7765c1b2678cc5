//! Ephemeral containers on the real Docker engine: `kubectl debug --target` adds one through
//! `pods/ephemeralcontainers`, the kubelet starts it in the pod's network namespace and the
//! target's PID namespace and reports it in `ephemeralContainerStatuses`, and `kubectl exec`
//! and `kubectl debug -i` (attach) reach it; upstream's 422s for anything but an addition of a
//! plain container, and RBAC on the subresource.

mod kubelet_common;
mod support;

use std::io::Write;
use std::process::Stdio;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kubelet_common::*;
use serde_json::{json, Value};
use support::TestCluster;

fn ephemeral_running(p: &Pod, name: &str) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.ephemeral_container_statuses.as_ref())
        .and_then(|l| l.iter().find(|c| c.name == name))
        .and_then(|c| c.state.as_ref()?.running.as_ref())
        .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_containers_join_the_pod() {
    let (_serial, _sweep, c, _node) = cluster("e2e-debug").await;
    let pods: Api<Pod> = Api::namespaced(c.client().await, "default");
    create(
        &pods,
        json!({"metadata": {"name": "target"}, "spec": {"terminationGracePeriodSeconds": 0,
            "containers": [{"name": "app", "image": "busybox", "imagePullPolicy": "Never",
                "command": ["httpd", "-f", "-p", "8080", "-h", "/"]}]}}),
    )
    .await;
    wait_pod(&pods, "target", "running", running).await;

    // kubectl debug (non-interactive): the container joins the pod.
    kubectl_ok(
        &c,
        &[
            "debug",
            "target",
            "--image=busybox",
            "--image-pull-policy=Never",
            "--target=app",
            "-c",
            "sleeper",
            "--",
            "sleep",
            "3600",
        ],
    );
    let pod = wait_pod(&pods, "target", "debuggable", |p| {
        ephemeral_running(p, "sleeper")
    })
    .await;
    let ec = &pod
        .spec
        .as_ref()
        .and_then(|s| s.ephemeral_containers.clone())
        .expect("ephemeral")[0];
    assert_eq!(ec.target_container_name.as_deref(), Some("app"));
    // Same network namespace (the app's port on localhost) and the target's processes.
    let page = kubectl_ok(
        &c,
        &[
            "exec",
            "target",
            "-c",
            "sleeper",
            "--",
            "wget",
            "-qO-",
            "http://127.0.0.1:8080/etc/hostname",
        ],
    );
    assert_eq!(page.trim(), "target");
    let ps = kubectl_ok(&c, &["exec", "target", "-c", "sleeper", "--", "ps"]);
    assert!(
        ps.contains("httpd -f -p 8080"),
        "target's processes visible: {ps}"
    );

    // kubectl debug -i attaches to the new container's stdin and output.
    let mut child = c
        .kubectl_command(
            std::path::Path::new("kubectl"),
            &[
                "debug",
                "target",
                "-i",
                "--image=busybox",
                "--image-pull-policy=Never",
                "--target=app",
                "-c",
                "shell",
                "--",
                "sh",
            ],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl debug -i");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"echo marco-$((20+22)); exit\n")
        .expect("write");
    let out = support::output_within("kubectl debug -i", child, support::COMMAND_TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("marco-42"),
        "debug -i output ({}): {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
    );
    let pod = pods.get("target").await.expect("pod");
    let statuses = pod
        .status
        .clone()
        .and_then(|s| s.ephemeral_container_statuses)
        .unwrap_or_default();
    let names: Vec<&str> = statuses.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["sleeper", "shell"]);
    assert!(
        statuses.iter().all(|s| !s.ready),
        "ephemeral containers are never ready"
    );
    assert_eq!(pod.status.and_then(|s| s.phase).as_deref(), Some("Running"));

    bad_input(&c).await;
    rbac(&c);
}

/// Upstream's 422s: only additions, of containers without ports, probes or resources, whose
/// target exists; never on create. Nothing is written.
async fn bad_input(c: &TestCluster) {
    let http = c.http();
    let url = format!(
        "{}/api/v1/namespaces/default/pods/target/ephemeralcontainers",
        c.base_url()
    );
    let current: Value = http
        .get(&url)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("pod");
    assert_eq!(current["kind"], "Pod");
    let put = |body: Value| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let resp = http.put(&url).json(&body).send().await.expect("put");
            let code = resp.status().as_u16();
            (code, resp.json::<Value>().await.expect("status"))
        }
    };
    // Unconditional updates (no resourceVersion): the kubelet may write the pod's status
    // meanwhile, and a stale version would be a 409 before any validation.
    let with = |list: Value| {
        let mut pod = current.clone();
        pod["spec"]["ephemeralContainers"] = list;
        if let Some(meta) = pod["metadata"].as_object_mut() {
            meta.remove("resourceVersion");
        }
        pod
    };
    let existing = current["spec"]["ephemeralContainers"].clone();
    let mut changed = existing.clone();
    changed[0]["image"] = json!("other");
    let mut extra = existing.as_array().expect("list").clone();
    extra.push(
        json!({"name": "bad", "image": "busybox", "ports": [{"containerPort": 80}],
        "readinessProbe": {"exec": {"command": ["true"]}}, "targetContainerName": "nope"}),
    );
    let cases = [
        (with(changed), "spec.ephemeralContainers[0]: Forbidden: existing ephemeral containers \"sleeper\" may not be changed"),
        (with(json!([])), "spec.ephemeralContainers: Forbidden: existing ephemeral containers \"sleeper\" may not be removed"),
        (with(json!(extra)), "spec.ephemeralContainers[2].ports: Forbidden: cannot be set for an Ephemeral Container"),
    ];
    for (body, message) in cases {
        let (code, status) = put(body).await;
        assert_eq!(code, 422, "{status}");
        assert_eq!(status["reason"], "Invalid");
        let text = status["message"].as_str().unwrap_or("");
        assert!(
            text.starts_with("Pod \"target\" is invalid: ") && text.contains(message),
            "{text}"
        );
    }
    let after: Value = http
        .get(&url)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("pod");
    assert_eq!(
        after["spec"]["ephemeralContainers"], current["spec"]["ephemeralContainers"],
        "nothing written"
    );

    // The main resource neither sets them on create nor changes them on update.
    let pods: Api<Pod> = Api::namespaced(c.client().await, "default");
    let with_debugger: Pod = serde_json::from_value(json!({"metadata": {"name": "born-debugged"},
        "spec": {"containers": [{"name": "a", "image": "busybox"}],
            "ephemeralContainers": [{"name": "d", "image": "busybox"}]}}))
    .expect("pod");
    let err = pods
        .create(&PostParams::default(), &with_debugger)
        .await
        .expect_err("ephemeral containers on create");
    assert!(
        err.to_string()
            .contains("spec.ephemeralContainers: Forbidden: cannot be set on create"),
        "{err}"
    );
    // Fresh: the kubelet may have written the pod's status since.
    let mut main: Value = http
        .get(&url)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("pod");
    main["spec"]["ephemeralContainers"] = json!([]);
    let pod_url = format!("{}/api/v1/namespaces/default/pods/target", c.base_url());
    let resp = http
        .put(&pod_url)
        .json(&main)
        .send()
        .await
        .expect("put pod");
    assert_eq!(resp.status().as_u16(), 200);
    let kept: Value = resp.json().await.expect("pod");
    assert_eq!(
        kept["spec"]["ephemeralContainers"],
        after["spec"]["ephemeralContainers"]
    );
}

/// Patching the pod does not grant adding debug containers.
fn rbac(c: &TestCluster) {
    kubectl_ok(
        c,
        &[
            "create",
            "role",
            "editor",
            "--verb=get,list,watch,patch,update",
            "--resource=pods",
        ],
    );
    kubectl_ok(
        c,
        &[
            "create",
            "rolebinding",
            "editor",
            "--role=editor",
            "--user=mallory",
        ],
    );
    let err = kubectl_fails(
        c,
        &[
            "debug",
            "target",
            "--image=busybox",
            "-c",
            "sneaky",
            "--as=mallory",
            "--",
            "true",
        ],
    );
    assert!(
        err.contains("pods \"target\" is forbidden") && err.contains("pods/ephemeralcontainers"),
        "{err}"
    );
}
