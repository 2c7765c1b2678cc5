//! Smaller upstream-conformance behaviours, each driven by kubectl or kube-rs as upstream's e2e
//! drives them: `allowPrivilegeEscalation: false` sets the no_new_privs bit in the container;
//! immutable ConfigMaps and Secrets refuse data changes; Secrets' `stringData` is folded into
//! `data`; invalid sysctl names are refused with upstream's message; a status condition sent with
//! a `null` lastTransitionTime (as Go clients send an unset time) is accepted.

mod kubelet_common;
mod support;

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, LogParams};
use kubelet_common::*;
use serde_json::json;
use support::TestCluster;

fn write(c: &TestCluster, name: &str, body: &serde_json::Value) -> String {
    let path = c.scratch().join(name);
    std::fs::write(&path, body.to_string()).expect("write manifest");
    path.to_str().expect("utf-8 path").to_string()
}

fn nnp_pod(name: &str, allow: Option<bool>) -> serde_json::Value {
    let mut sc = json!({});
    if let Some(allow) = allow {
        sc["allowPrivilegeEscalation"] = json!(allow);
    }
    json!({"metadata": {"name": name}, "spec": {"restartPolicy": "Never",
        "terminationGracePeriodSeconds": 0,
        "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "Never",
            "securityContext": sc,
            "command": ["grep", "NoNewPrivs", "/proc/self/status"]}]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privilege_escalation_off_sets_no_new_privs() {
    let (_serial, _sweep, c, _node) = cluster("e2e-nnp").await;
    let pods: Api<Pod> = Api::namespaced(c.client().await, "default");
    for (name, allow, want) in [
        ("nnp-false", Some(false), "1"),
        ("nnp-true", Some(true), "0"),
        ("nnp-unset", None, "0"),
    ] {
        create(&pods, nnp_pod(name, allow)).await;
        wait_pod(&pods, name, "succeeded", |p| phase(p) == "Succeeded").await;
        let log = pods.logs(name, &LogParams::default()).await.expect("logs");
        assert_eq!(
            log.split_whitespace().collect::<Vec<_>>(),
            ["NoNewPrivs:", want],
            "{name}"
        );
    }
    logs_over_websocket(&c, "nnp-false", "NoNewPrivs:\t1\n");
}

/// Upstream's "Pods should support retrieving logs from the container over websockets": the
/// log read through a real WebSocket client (websocket-client, which the Python `kubernetes`
/// client ships with) in both of upstream's framings.
fn logs_over_websocket(c: &TestCluster, pod: &str, want: &str) {
    let script = r#"
import base64, sys, websocket
from kubernetes import client, config
config.load_kube_config()
cfg = client.Configuration.get_default_copy()
url = cfg.host.replace("https://", "wss://") + "/api/v1/namespaces/default/pods/" + sys.argv[1] + "/log?container=c"
ssl = {"ca_certs": cfg.ssl_ca_cert, "certfile": cfg.cert_file, "keyfile": cfg.key_file}
for proto in ["binary.k8s.io", "base64.binary.k8s.io"]:
    ws = websocket.create_connection(url, subprotocols=[proto], sslopt=ssl)
    assert ws.getsubprotocol() == proto, ws.getsubprotocol()
    data = b""
    while True:
        op, msg = ws.recv_data(control_frame=True)
        if op == websocket.ABNF.OPCODE_CLOSE:
            break
        data += base64.b64decode(msg) if proto.startswith("base64") else msg
    print(proto + "=" + repr(data.decode()))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, pod])
        .env("KUBECONFIG", c.kubeconfig())
        .env("HOME", c.scratch())
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for proto in ["binary.k8s.io", "base64.binary.k8s.io"] {
        let line = format!("{proto}={want:?}").replace('"', "'");
        assert!(
            stdout.lines().any(|l| l == line),
            "want {line}; got: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immutable_data_string_data_sysctls_and_null_condition_times() {
    let c = TestCluster::start().await;
    let client = c.client().await;

    // Immutable ConfigMap: data changes and unlocking are refused, metadata changes are not.
    kubectl_ok(&c, &["create", "configmap", "frozen", "--from-literal=a=1"]);
    kubectl_ok(
        &c,
        &[
            "patch",
            "configmap",
            "frozen",
            "-p",
            r#"{"immutable":true}"#,
        ],
    );
    let err = patch_refused(&c, "configmap/frozen", r#"{"data":{"a":"2"}}"#);
    assert!(
        err.contains("data: Forbidden: field is immutable when `immutable` is set"),
        "{err}"
    );
    let err = patch_refused(&c, "configmap/frozen", r#"{"immutable":false}"#);
    assert!(err.contains("immutable: Forbidden"), "{err}");
    kubectl_ok(&c, &["label", "configmap", "frozen", "x=y"]);
    let data = kubectl_ok(
        &c,
        &["get", "configmap", "frozen", "-o", "jsonpath={.data.a}"],
    );
    assert_eq!(data, "1");

    // Secrets: stringData lands in data and is not stored; immutable as ConfigMaps; type fixed.
    let manifest = write(
        &c,
        "secret.json",
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "immutable": true, "data": {"a": "eA=="}, "stringData": {"b": "hello"}}),
    );
    kubectl_ok(&c, &["create", "-f", &manifest]);
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    let s = secrets.get("s").await.expect("secret");
    assert!(s.string_data.is_none());
    let data = s.data.expect("data");
    assert_eq!(data["b"].0, b"hello");
    assert_eq!(data["a"].0, b"x");
    let err = patch_refused(&c, "secret/s", r#"{"stringData":{"a":"changed"}}"#);
    assert!(err.contains("data: Forbidden"), "{err}");
    let err = patch_refused(&c, "secret/s", r#"{"type":"kubernetes.io/tls"}"#);
    assert!(err.contains("type: Invalid value"), "{err}");

    // Sysctls: upstream's conformance case, nothing stored.
    let pod = write(
        &c,
        "sysctls.json",
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sysctls"},
            "spec": {"securityContext": {"sysctls": [
                {"name": "foo-", "value": "bar"},
                {"name": "kernel.shmmax", "value": "100000000"},
                {"name": "safe-and-unsafe", "value": "100000000"},
                {"name": "bar..", "value": "42"}]},
            "containers": [{"name": "c", "image": "busybox"}]}}),
    );
    let err = kubectl_fails(&c, &["create", "-f", &pod]);
    assert!(err.contains(r#"Invalid value: "foo-""#), "{err}");
    assert!(err.contains(r#"Invalid value: "bar..""#), "{err}");
    assert!(!err.contains("kernel.shmmax") && !err.contains("safe-and-unsafe"));
    kubectl_fails(&c, &["get", "pod", "sysctls"]);

    // A Service status condition whose time a Go client left unset arrives as null.
    kubectl_ok(&c, &["create", "service", "clusterip", "web", "--tcp=80"]);
    let mut svc: serde_json::Value =
        serde_json::from_str(&kubectl_ok(&c, &["get", "service", "web", "-o", "json"]))
            .expect("service json");
    svc["status"]["conditions"] = json!([{"type": "StatusUpdated", "status": "True",
        "reason": "E2E", "message": "Set from e2e test", "lastTransitionTime": null}]);
    let updated = write(&c, "svc.json", &svc);
    kubectl_ok(&c, &["replace", "--subresource=status", "-f", &updated]);
    let reason = kubectl_ok(
        &c,
        &[
            "get",
            "service",
            "web",
            "-o",
            "jsonpath={.status.conditions[0].reason}",
        ],
    );
    assert_eq!(reason, "E2E");
}

/// The stderr of a `kubectl patch` the server must refuse.
fn patch_refused(c: &TestCluster, object: &str, patch: &str) -> String {
    kubectl_fails(c, &["patch", object, "-p", patch])
}

/// Upstream's "Pods should allow activeDeadlineSeconds to be updated": a running pod given a
/// short deadline is killed and ends Failed with reason DeadlineExceeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_deadline_fails_the_pod() {
    let (_serial, _sweep, c, _node) = cluster("e2e-deadline").await;
    let pods: Api<Pod> = Api::namespaced(c.client().await, "default");
    create(
        &pods,
        json!({"metadata": {"name": "deadline"}, "spec": {"terminationGracePeriodSeconds": 0,
            "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "Never",
                "command": ["sleep", "3600"]}]}}),
    )
    .await;
    wait_pod(&pods, "deadline", "running", running).await;
    kubectl_ok(
        &c,
        &[
            "patch",
            "pod",
            "deadline",
            "-p",
            r#"{"spec":{"activeDeadlineSeconds":2}}"#,
        ],
    );
    let pod = wait_pod(&pods, "deadline", "failed", |p| phase(p) == "Failed").await;
    let status = pod.status.expect("status");
    assert_eq!(status.reason.as_deref(), Some("DeadlineExceeded"));
    assert_eq!(
        status.message.as_deref(),
        Some("Pod was active on the node longer than the specified deadline")
    );
    let c0 = &status.container_statuses.expect("statuses")[0];
    assert!(
        c0.state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .is_some(),
        "{c0:?}"
    );
}

/// Upstream's "Pod Generation" specs (KEP 5067): a new pod's generation is 1 whatever the
/// client set; every spec change adds one and the kubelet reports the generation it acted on
/// as `status.observedGeneration`; graceful deletion adds one more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_generation_counts_spec_changes_and_graceful_deletion() {
    let (_serial, _sweep, c, _node) = cluster("e2e-generation").await;
    let pods: Api<Pod> = Api::namespaced(c.client().await, "default");
    let created = create(
        &pods,
        json!({"metadata": {"name": "gen", "generation": 100}, "spec": {
            "activeDeadlineSeconds": 5000,
            "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "Never",
                "command": ["sleep", "3600"]}]}}),
    )
    .await;
    assert_eq!(created.metadata.generation, Some(1));
    wait_pod(&pods, "gen", "running", running).await;
    for deadline in (4990..5000).rev() {
        let patch = json!({"spec": {"activeDeadlineSeconds": deadline}});
        pods.patch("gen", &Default::default(), &kube::api::Patch::Merge(&patch))
            .await
            .expect("spec patch");
    }
    // A label is not a spec change.
    kubectl_ok(&c, &["label", "pod", "gen", "touched=yes"]);
    let pod = wait_pod(&pods, "gen", "observed at generation 11", |p| {
        p.status.as_ref().and_then(|s| s.observed_generation) == Some(11)
    })
    .await;
    assert_eq!(pod.metadata.generation, Some(11));
    let ready = pod
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready condition");
    assert_eq!(ready.observed_generation, Some(11));
    let params = kube::api::DeleteParams {
        grace_period_seconds: Some(60),
        ..Default::default()
    };
    pods.delete("gen", &params).await.expect("graceful delete");
    let deleting = pods.get("gen").await.expect("pod while terminating");
    assert!(deleting.metadata.deletion_timestamp.is_some());
    assert_eq!(deleting.metadata.generation, Some(12));
}

/// Upstream's "should reject validating/mutating webhook configurations with invalid match
/// conditions": a matchCondition that is not CEL is refused when the configuration is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_configurations_with_invalid_match_conditions_are_refused() {
    let c = TestCluster::start().await;
    for kind in [
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ] {
        let manifest = write(
            &c,
            &format!("{kind}.json"),
            &json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
                "metadata": {"name": "bad-conditions"},
                "webhooks": [{"name": "deny.example.com", "sideEffects": "None",
                    "admissionReviewVersions": ["v1"],
                    "clientConfig": {"url": "https://127.0.0.1:1/hook"},
                    "rules": [{"operations": ["CREATE"], "apiGroups": [""],
                        "apiVersions": ["v1"], "resources": ["configmaps"]}],
                    "matchConditions": [{"name": "invalid-expression-1",
                        "expression": "... [] bad expression"}]}]}),
        );
        let err = kubectl_fails(&c, &["create", "-f", &manifest]);
        assert!(
            err.contains("webhooks[0].matchConditions[0].expression")
                && err.contains("compilation failed"),
            "{kind}: {err}"
        );
    }
}

/// Upstream's "LimitRange should create a LimitRange with defaults..." bounds and "ResourceQuota
/// should capture the life of a service": requests above max are refused even under a
/// defaulted limit (quoted as written), and a LoadBalancer service uses node ports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_range_bounds_requests_and_quota_counts_load_balancer_node_ports() {
    let c = TestCluster::start().await;
    let range = write(
        &c,
        "lr.json",
        &json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr"},
            "spec": {"limits": [{"type": "Container",
                "min": {"cpu": "50m", "ephemeral-storage": "100Gi"},
                "max": {"cpu": "500m", "ephemeral-storage": "500Gi"},
                "default": {"cpu": "500m", "ephemeral-storage": "500Gi"},
                "defaultRequest": {"cpu": "100m", "ephemeral-storage": "200Gi"}}]}}),
    );
    kubectl_ok(&c, &["create", "-f", &range]);
    let pod = |name: &str, cpu: &str, storage: &str| {
        write(
            &c,
            &format!("{name}.json"),
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {"containers": [{"name": "c", "image": "busybox", "resources":
                    {"requests": {"cpu": cpu, "ephemeral-storage": storage}}}]}}),
        )
    };
    let err = kubectl_fails(&c, &["create", "-f", &pod("big", "600m", "600Gi")]);
    assert!(
        err.contains("maximum cpu usage per Container is 500m, but request is 600m"),
        "{err}"
    );
    let err = kubectl_fails(&c, &["create", "-f", &pod("small", "10m", "50Gi")]);
    assert!(
        err.contains("minimum ephemeral-storage usage per Container is 100Gi, but request is 50Gi"),
        "{err}"
    );
    default_service_account(&c).await;
    kubectl_ok(&c, &["create", "-f", &pod("fits", "200m", "300Gi")]);

    kubectl_ok(
        &c,
        &[
            "create",
            "quota",
            "q",
            "--hard=services=10,services.nodeports=1,services.loadbalancers=1",
        ],
    );
    // Until the quota controller has filled in its status, upstream's admission refuses
    // ("status unknown for quota").
    let created = support::eventually(std::time::Duration::from_secs(30), || async {
        let out = c.kubectl(&["create", "service", "nodeport", "np", "--tcp=80"]);
        out.status.success().then_some(())
    })
    .await;
    assert!(created.is_some(), "the NodePort service was never admitted");
    let err = kubectl_fails(&c, &["create", "service", "loadbalancer", "lb", "--tcp=80"]);
    assert!(err.contains("exceeded quota: q"), "{err}");
    assert!(err.contains("services.nodeports"), "{err}");
}

/// Pods are admitted once the namespace's `default` service account exists (its controller
/// makes it just after start).
async fn default_service_account(c: &TestCluster) {
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::default_namespaced(c.client().await);
    let found = support::eventually(std::time::Duration::from_secs(30), || async {
        accounts.get("default").await.ok()
    })
    .await;
    assert!(found.is_some(), "no default service account");
}
