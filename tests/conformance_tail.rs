//! Smaller upstream-conformance behaviours, each driven by kubectl or kube-rs as upstream's e2e
//! drives them: `allowPrivilegeEscalation: false` sets the no_new_privs bit in the container;
//! immutable ConfigMaps and Secrets refuse data changes; Secrets' `stringData` is folded into
//! `data`; invalid sysctl names are refused with upstream's message; a status condition sent with
//! a `null` lastTransitionTime (as Go clients send an unset time) is accepted; a stateful pod
//! refused by the kubelet over a taken host port is recreated until it runs; eviction marks the
//! pod `DisruptionTarget`; new volumes and claims read `Pending` through their status, whose
//! subresource takes merge patches and updates.

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

/// Upstream's "StatefulSet Should recreate evicted statefulset": a stateful pod that names a
/// node whose host port another pod holds is refused by the kubelet (Failed, reason NodePorts,
/// as upstream's admission), deleted and recreated by the controller until the port is free,
/// then runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateful_pod_refused_over_a_host_port_is_recreated_until_it_runs() {
    use futures::StreamExt;
    use k8s_openapi::api::apps::v1::StatefulSet;
    let (_serial, _sweep, c, node) = cluster("e2e-ss-port").await;
    let client = c.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let conflict = json!([{"name": "conflict", "containerPort": 21017, "hostPort": 21017}]);
    let container = json!({"name": "c", "image": "busybox", "imagePullPolicy": "Never",
        "command": ["sleep", "3600"], "ports": conflict});
    create(
        &pods,
        json!({"metadata": {"name": "test-pod"}, "spec": {"nodeName": node,
            "terminationGracePeriodSeconds": 0, "containers": [container.clone()]}}),
    )
    .await;
    wait_pod(&pods, "test-pod", "running", running).await;
    let mut events = kube::runtime::watcher(
        pods.clone(),
        kube::runtime::watcher::Config::default().fields("metadata.name=ss-0"),
    )
    .boxed();
    let set: StatefulSet = serde_json::from_value(json!({"metadata": {"name": "ss"},
        "spec": {"replicas": 1, "serviceName": "test", "selector": {"matchLabels": {"app": "ss"}},
            "template": {"metadata": {"labels": {"app": "ss"}},
                "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                    "containers": [container]}}}}))
    .unwrap();
    Api::<StatefulSet>::namespaced(client, "default")
        .create(&Default::default(), &set)
        .await
        .expect("create statefulset");
    // The refused pod is seen Failed in upstream's words, then deleted.
    let mut refused: Option<String> = None;
    let deleted = tokio::time::timeout(POD_WAIT, async {
        while let Some(ev) = events.next().await {
            match ev {
                Ok(kube::runtime::watcher::Event::Apply(p)) if phase(&p) == "Failed" => {
                    let status = p.status.clone().unwrap_or_default();
                    assert_eq!(status.reason.as_deref(), Some("NodePorts"), "{status:?}");
                    assert_eq!(
                        status.message.as_deref(),
                        Some("Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports")
                    );
                    refused = p.metadata.uid.clone();
                }
                Ok(kube::runtime::watcher::Event::Delete(p)) if refused.is_some() => {
                    return p.metadata.uid;
                }
                _ => {}
            }
        }
        None
    })
    .await;
    let first = deleted
        .ok()
        .flatten()
        .expect("ss-0 was never refused and deleted");
    pods.delete(
        "test-pod",
        &kube::api::DeleteParams::default().grace_period(0),
    )
    .await
    .expect("delete test-pod");
    let pod = wait_pod(&pods, "ss-0", "running again", |p| {
        running(p) && p.metadata.uid.as_ref() != Some(&first)
    })
    .await;
    assert!(pod.status.and_then(|s| s.reason).is_none());
}

/// Upstream's eviction marks the pod `DisruptionTarget=True` (reason `EvictionByEvictionAPI`)
/// before deleting it, so a Job's podFailurePolicy can ignore evictions; a resourceVersion
/// precondition is checked against the pod as the client saw it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_marks_the_pod_as_a_disruption_target() {
    let cluster = TestCluster::start().await;
    let client = cluster.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // A finalizer keeps the evicted pod readable once it is marked for deletion; no scheduler
    // writes to it meanwhile.
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "evictee",
        "finalizers": ["example.com/hold"]},
        "spec": {"schedulerName": "none-such", "containers": [{"name": "c", "image": "busybox"}]}}))
    .unwrap();
    let made = pods
        .create(&kube::api::PostParams::default(), &pod)
        .await
        .unwrap();
    // A policy/v1 Eviction as client-go sends it (kube-rs spells `deleteOptions` its own way).
    let evict = |preconditions: serde_json::Value| {
        let (http, base) = (cluster.http(), cluster.base_url());
        async move {
            let body = json!({"apiVersion": "policy/v1", "kind": "Eviction",
                "metadata": {"name": "evictee", "namespace": "default"},
                "deleteOptions": {"preconditions": preconditions}});
            let r = http
                .post(format!(
                    "{base}/api/v1/namespaces/default/pods/evictee/eviction"
                ))
                .json(&body)
                .send()
                .await
                .expect("evict");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    let (code, body) = evict(json!({"resourceVersion": "1"})).await;
    assert_eq!(code, 409, "{body}");
    let untouched = pods.get("evictee").await.unwrap();
    assert!(untouched.metadata.deletion_timestamp.is_none());
    let no_condition = untouched
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default();
    assert!(no_condition.iter().all(|c| c.type_ != "DisruptionTarget"));
    let (code, body) = evict(json!({
        "resourceVersion": kube::ResourceExt::resource_version(&made),
        "uid": kube::ResourceExt::uid(&made)}))
    .await;
    assert_eq!(code, 201, "{body}");
    let evicted = pods.get("evictee").await.unwrap();
    assert!(evicted.metadata.deletion_timestamp.is_some());
    let conditions = evicted.status.unwrap().conditions.unwrap_or_default();
    let target = conditions
        .iter()
        .find(|c| c.type_ == "DisruptionTarget")
        .unwrap_or_else(|| panic!("no DisruptionTarget: {conditions:?}"));
    assert_eq!(target.status, "True");
    assert_eq!(target.reason.as_deref(), Some("EvictionByEvictionAPI"));
    assert_eq!(target.message.as_deref(), Some("Eviction API: evicting"));
    assert!(target.last_transition_time.is_some());
    pods.patch(
        "evictee",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
}

/// Upstream's "PersistentVolumes CSI Conformance should apply changes to a pv/pvc status" reads
/// the status subresource right after create: a new claim is `Pending` and a new volume
/// `Pending` (or already bound), with upstream's defaults (reclaim policy Retain, Filesystem).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_volumes_and_claims_read_pending_through_their_status() {
    let cluster = TestCluster::start().await;
    use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
    let client = cluster.client().await;
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client, "default");
    let pv: PersistentVolume = serde_json::from_value(json!({"metadata": {"name": "status-pv"},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
            "storageClassName": "none-such",
            "csi": {"driver": "e2e-driver", "volumeHandle": "e2e-status-conformance"}}}))
    .unwrap();
    let pvc: PersistentVolumeClaim = serde_json::from_value(json!({
        "metadata": {"name": "status-pvc"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "other-class",
            "resources": {"requests": {"storage": "1Gi"}}}}))
    .unwrap();
    pvs.create(&Default::default(), &pv)
        .await
        .expect("create pv");
    pvcs.create(&Default::default(), &pvc)
        .await
        .expect("create pvc");
    let claim = pvcs.get_status("status-pvc").await.expect("claim status");
    let phase = claim.status.as_ref().and_then(|s| s.phase.as_deref());
    assert_eq!(phase, Some("Pending"), "{claim:?}");
    let mode = claim.spec.as_ref().and_then(|s| s.volume_mode.as_deref());
    assert_eq!(mode, Some("Filesystem"));
    let volume = pvs.get_status("status-pv").await.expect("volume status");
    let phase = volume.status.as_ref().and_then(|s| s.phase.as_deref());
    assert!(matches!(phase, Some("Pending" | "Available")), "{volume:?}");
    let policy = volume
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_reclaim_policy.as_deref());
    assert_eq!(policy, Some("Retain"));
    status_patches_and_updates_apply(&cluster);
}

/// The rest of that spec, through kubectl: merge patches of both statuses (a claim condition;
/// a volume's reason and message), then read-modify-write updates of the status subresource.
fn status_patches_and_updates_apply(c: &TestCluster) {
    let patch = |object: &str, body: &str| -> serde_json::Value {
        let out = kubectl_ok(
            c,
            &[
                "patch",
                object,
                "--subresource=status",
                "--type=merge",
                "-p",
                body,
                "-o",
                "json",
            ],
        );
        serde_json::from_str(&out).expect("patched object")
    };
    let condition = |obj: &serde_json::Value, kind: &str| -> serde_json::Value {
        obj["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == kind).cloned())
            .unwrap_or_else(|| panic!("no {kind} condition in {obj}"))
    };
    let claim = patch(
        "pvc/status-pvc",
        r#"{"status":{"conditions":[{"type":"StatusPatched","status":"True",
            "reason":"E2E patchedStatus","message":"Set from e2e test"}]}}"#,
    );
    let patched = condition(&claim, "StatusPatched");
    assert_eq!(patched["reason"], "E2E patchedStatus", "{claim}");
    assert_eq!(patched["message"], "Set from e2e test", "{claim}");
    let volume = patch(
        "pv/status-pv",
        r#"{"status":{"message":"StatusPatched","reason":"E2E patchStatus"}}"#,
    );
    assert_eq!(volume["status"]["reason"], "E2E patchStatus", "{volume}");
    assert_eq!(volume["status"]["message"], "StatusPatched", "{volume}");

    let update = |object: &str, change: &dyn Fn(&mut serde_json::Value)| -> serde_json::Value {
        let mut obj: serde_json::Value =
            serde_json::from_str(&kubectl_ok(c, &["get", object, "-o", "json"])).expect("json");
        change(&mut obj);
        let file = write(c, "status-update.json", &obj);
        let out = kubectl_ok(
            c,
            &["replace", "--subresource=status", "-f", &file, "-o", "json"],
        );
        serde_json::from_str(&out).expect("updated object")
    };
    let claim = update("pvc/status-pvc", &|claim| {
        let conditions = claim["status"]["conditions"]
            .as_array_mut()
            .expect("conditions");
        conditions.push(json!({"type": "StatusUpdated", "status": "True",
            "reason": "E2E updateStatus", "message": "Set from e2e test"}));
    });
    let updated = condition(&claim, "StatusUpdated");
    assert_eq!(updated["reason"], "E2E updateStatus", "{claim}");
    assert_eq!(condition(&claim, "StatusPatched")["status"], "True");
    let volume = update("pv/status-pv", &|volume| {
        volume["status"]["reason"] = json!("E2E updateStatus");
        volume["status"]["message"] = json!("StatusUpdated");
    });
    assert_eq!(volume["status"]["reason"], "E2E updateStatus", "{volume}");
    assert_eq!(volume["status"]["message"], "StatusUpdated", "{volume}");
}

/// Upstream's "API chunking should support continue listing from the last key if the original
/// version has been compacted away, though the list is inconsistent": once the store compacts
/// (here every 2 s instead of 5 minutes) a first page's continue token answers 410 Expired with
/// a new token in the Status; that one lists the rest at the latest revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_continue_token_offers_an_inconsistent_continuation() {
    use k8s_openapi::api::core::v1::{ConfigMap, PodTemplate};
    use kube::api::ListParams;
    let options = support::ClusterOptions::default()
        .arg("--etcd-compaction-interval")
        .arg("2s");
    let cluster = TestCluster::start_with(options).await;
    let client = cluster.client().await;
    let templates: Api<PodTemplate> = Api::namespaced(client.clone(), "default");
    const TOTAL: usize = 40;
    for i in 0..TOTAL {
        let t: PodTemplate = serde_json::from_value(json!({
            "metadata": {"name": format!("template-{i:04}")},
            "template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}))
        .unwrap();
        templates
            .create(&Default::default(), &t)
            .await
            .expect("create");
    }
    let first = templates
        .list(&ListParams::default().limit(4))
        .await
        .expect("first page");
    let first_token = first.metadata.continue_.clone().expect("a continue token");
    let first_rv = first.metadata.resource_version.clone();

    // Writes move the revision on; the compactor soon passes the first page's revision.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let (http, base) = (cluster.http(), cluster.base_url());
    let mut status = serde_json::Value::Null;
    for i in 0..60 {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("tick-{i}")}})).unwrap();
        cms.create(&Default::default(), &cm).await.expect("tick");
        let r = http
            .get(format!("{base}/api/v1/namespaces/default/podtemplates"))
            .query(&[("limit", "4"), ("continue", first_token.as_str())])
            .send()
            .await
            .expect("list");
        if r.status() == 410 {
            status = r.json().await.expect("Status");
            break;
        }
        assert_eq!(r.status(), 200);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(status["reason"], "Expired", "{status}");
    assert!(status["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("The provided continue parameter is too old")));
    let inconsistent = status["metadata"]["continue"]
        .as_str()
        .expect("a continue token in the Status")
        .to_string();

    let mut found = 4;
    let mut token = inconsistent;
    loop {
        let page = templates
            .list(&ListParams::default().limit(4).continue_token(&token))
            .await
            .expect("inconsistent continuation");
        assert_ne!(page.metadata.resource_version, first_rv);
        for t in &page.items {
            assert_eq!(
                kube::ResourceExt::name_any(t),
                format!("template-{found:04}")
            );
            found += 1;
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(next) => {
                let remaining = page.metadata.remaining_item_count.expect("remaining");
                assert_eq!(remaining as usize + found, TOTAL);
                token = next;
            }
            None => break,
        }
    }
    assert_eq!(found, TOTAL);
}
