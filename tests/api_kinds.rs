//! Kinds beyond the workload core, through the real kubectl: node.k8s.io RuntimeClass with
//! its pod admission, the storage.k8s.io CSI kinds with their printer columns, and
//! VolumeAttributesClass with its fixed driver and parameters.

mod support;

use std::io::Write;
use std::process::{Output, Stdio};

use support::{stdout_ok, TestCluster};

fn kubectl_stdin(cluster: &TestCluster, args: &[&str], input: &str) -> Output {
    let mut child = cluster
        .kubectl_command(std::path::Path::new("kubectl"), args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    support::output_within("kubectl", child, support::COMMAND_TIMEOUT)
}

const CLASS: &str = "apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: sandboxed}
handler: runsc
overhead: {podFixed: {cpu: 250m, memory: 64Mi}}
scheduling:
  nodeSelector: {sandbox: \"true\"}
  tolerations: [{key: sandbox, operator: Exists, effect: NoSchedule}]
";

fn pod(name: &str, class: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  runtimeClassName: {class}
  containers: [{{name: c, image: busybox}}]
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_classes_admit_pods() {
    let cluster = TestCluster::start().await;
    stdout_ok(
        "create class",
        &kubectl_stdin(&cluster, &["apply", "-f", "-"], CLASS),
    );
    let table = stdout_ok("get", &cluster.kubectl(&["get", "runtimeclass"]));
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "HANDLER", "AGE"], "{table}");
    assert!(
        table.contains("sandboxed") && table.contains("runsc"),
        "{table}"
    );

    // A pod naming a class that does not exist is refused, and not stored.
    let refused = kubectl_stdin(&cluster, &["create", "-f", "-"], &pod("ghost", "missing"));
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(
            r#"pods "ghost" is forbidden: pod rejected: RuntimeClass "missing" not found"#
        ),
        "{stderr}"
    );
    assert!(!cluster.kubectl(&["get", "pod", "ghost"]).status.success());

    // A pod of an existing class gets its overhead and scheduling constraints.
    stdout_ok(
        "create pod",
        &kubectl_stdin(&cluster, &["create", "-f", "-"], &pod("boxed", "sandboxed")),
    );
    let got = stdout_ok(
        "get pod",
        &cluster.kubectl(&[
            "get",
            "pod",
            "boxed",
            "-o",
            "jsonpath={.spec.overhead.cpu} {.spec.nodeSelector.sandbox} {.spec.tolerations[*].key}",
        ]),
    );
    assert!(got.starts_with("250m true"), "{got}");
    assert!(got.contains("sandbox"), "{got}");
}

const CSI: &str = "apiVersion: storage.k8s.io/v1
kind: CSIDriver
metadata: {name: hostpath.csi.example.com}
spec: {attachRequired: false, podInfoOnMount: true, volumeLifecycleModes: [Persistent, Ephemeral]}
---
apiVersion: storage.k8s.io/v1
kind: CSINode
metadata: {name: n1}
spec:
  drivers: [{name: hostpath.csi.example.com, nodeID: n1}]
---
apiVersion: storage.k8s.io/v1
kind: VolumeAttachment
metadata: {name: va1}
spec: {attacher: hostpath.csi.example.com, nodeName: n1, source: {persistentVolumeName: pv1}}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csi_kinds_are_served() {
    let cluster = TestCluster::start().await;
    stdout_ok(
        "apply",
        &kubectl_stdin(&cluster, &["apply", "-f", "-"], CSI),
    );
    let drivers = stdout_ok("get csidrivers", &cluster.kubectl(&["get", "csidrivers"]));
    assert!(
        drivers.contains("ATTACHREQUIRED") && drivers.contains("Persistent,Ephemeral"),
        "{drivers}"
    );
    let nodes = stdout_ok("get csinodes", &cluster.kubectl(&["get", "csinodes"]));
    let row: Vec<&str> = nodes.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..2], ["n1", "1"], "{nodes}");
    let vas = stdout_ok("get va", &cluster.kubectl(&["get", "volumeattachments"]));
    let row: Vec<&str> = vas.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        &row[..5],
        ["va1", "hostpath.csi.example.com", "pv1", "n1", "false"],
        "{vas}"
    );
    // The status subresource is the only way to mark it attached.
    stdout_ok(
        "patch status",
        &cluster.kubectl(&[
            "patch",
            "volumeattachment",
            "va1",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"attached":true}}"#,
        ]),
    );
    let attached = stdout_ok(
        "get",
        &cluster.kubectl(&[
            "get",
            "volumeattachment",
            "va1",
            "-o",
            "jsonpath={.status.attached}",
        ]),
    );
    assert_eq!(attached, "true");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_classes_resolve_pod_priority() {
    let cluster = TestCluster::start().await;
    let system = stdout_ok("get pc", &cluster.kubectl(&["get", "priorityclass"]));
    assert!(
        system.contains("system-node-critical") && system.contains("2000001000"),
        "{system}"
    );
    let plain = "apiVersion: v1
kind: Pod
metadata: {name: plain}
spec: {containers: [{name: c, image: busybox}]}
";
    stdout_ok(
        "plain pod",
        &kubectl_stdin(&cluster, &["create", "-f", "-"], plain),
    );
    let prio = |pod: &str| {
        stdout_ok(
            "get",
            &cluster.kubectl(&[
                "get",
                "pod",
                pod,
                "-o",
                "jsonpath={.spec.priority} {.spec.priorityClassName} {.spec.preemptionPolicy}",
            ]),
        )
    };
    assert_eq!(prio("plain").trim(), "0  PreemptLowerPriority");

    let classes = "apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high}
value: 1000
preemptionPolicy: Never
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: everyone}
value: 10
globalDefault: true
";
    stdout_ok(
        "classes",
        &kubectl_stdin(&cluster, &["apply", "-f", "-"], classes),
    );
    let high = pod("important", "x").replace("runtimeClassName: x", "priorityClassName: high");
    stdout_ok(
        "high pod",
        &kubectl_stdin(&cluster, &["create", "-f", "-"], &high),
    );
    assert_eq!(prio("important"), "1000 high Never");
    let defaulted = plain.replace("name: plain", "name: later");
    stdout_ok(
        "defaulted pod",
        &kubectl_stdin(&cluster, &["create", "-f", "-"], &defaulted),
    );
    assert_eq!(prio("later"), "10 everyone PreemptLowerPriority");

    let ghost = pod("ghost", "x").replace("runtimeClassName: x", "priorityClassName: nope");
    let refused = kubectl_stdin(&cluster, &["create", "-f", "-"], &ghost);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(r#"pods "ghost" is forbidden: no PriorityClass with name nope was found"#),
        "{stderr}"
    );
    assert!(!cluster.kubectl(&["get", "pod", "ghost"]).status.success());

    // A class's value and preemption policy are fixed once it exists (upstream's 422s).
    let changed = cluster.kubectl(&[
        "patch",
        "priorityclass",
        "high",
        "--type=merge",
        "-p",
        r#"{"value":2000,"preemptionPolicy":"PreemptLowerPriority"}"#,
    ]);
    let stderr = String::from_utf8_lossy(&changed.stderr);
    assert!(!changed.status.success(), "{stderr}");
    assert!(
        stderr.contains("value: Forbidden: may not be changed in an update."),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "preemptionPolicy: Invalid value: \"PreemptLowerPriority\": field is immutable"
        ),
        "{stderr}"
    );
    stdout_ok(
        "label pc",
        &cluster.kubectl(&["label", "priorityclass", "high", "tier=gold"]),
    );
}

/// `kubectl get cs`: the control plane's health, computed on each read (scheduler and
/// controller-manager hold their leases, the store answers), with upstream's deprecation
/// warning; read-only, as upstream serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_statuses_report_health() {
    let c = TestCluster::start().await;
    let healthy = support::eventually(std::time::Duration::from_secs(20), || async {
        let out = c.kubectl(&["get", "cs"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success() && text.matches("Healthy").count() == 3).then_some((text, out))
    })
    .await;
    let (table, out) = healthy.expect("three healthy components");
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["NAME", "STATUS", "MESSAGE", "ERROR"]);
    let names: Vec<&str> = rows[1..].iter().map(|r| r[0]).collect();
    assert_eq!(names, ["scheduler", "controller-manager", "etcd-0"]);
    assert!(
        rows[1..].iter().all(|r| r[1..] == ["Healthy", "ok"]),
        "{table}"
    );
    let warning = String::from_utf8_lossy(&out.stderr);
    assert!(
        warning.contains("v1 ComponentStatus is deprecated in v1.19+"),
        "{warning}"
    );

    let one = stdout_ok(
        "get cs",
        &c.kubectl(&["get", "componentstatus", "etcd-0", "-o", "json"]),
    );
    let one: serde_json::Value = serde_json::from_str(&one).expect("json");
    assert_eq!(one["kind"], "ComponentStatus");
    assert_eq!(one["conditions"][0]["type"], "Healthy");
    assert_eq!(one["conditions"][0]["status"], "True");

    // The Python client's typed list.
    let script = "from kubernetes import client, config\n\
        config.load_kube_config()\n\
        items = client.CoreV1Api().list_component_status().items\n\
        assert sorted(i.metadata.name for i in items) == ['controller-manager', 'etcd-0', 'scheduler'], items\n\
        assert all(i.conditions[0].status == 'True' for i in items), items\n\
        print('ok')\n";
    let py = std::process::Command::new("python3")
        .args(["-c", script])
        .env("KUBECONFIG", c.kubeconfig())
        .env("HOME", c.scratch())
        .output()
        .expect("python3");
    assert_eq!(
        String::from_utf8_lossy(&py.stdout).trim(),
        "ok",
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );

    // Bad input: upstream's 404 and 405, nothing else served.
    let http = c.http();
    let url = format!("{}/api/v1/componentstatuses", c.base_url());
    let missing = http.get(format!("{url}/nope")).send().await.expect("get");
    assert_eq!(missing.status().as_u16(), 404);
    let body: serde_json::Value = missing.json().await.expect("status");
    assert_eq!(body["message"], "componentstatuses \"nope\" not found");
    let create = http
        .post(&url)
        .json(&serde_json::json!({"apiVersion": "v1", "kind": "ComponentStatus", "metadata": {"name": "x"}}))
        .send()
        .await
        .expect("post");
    assert_eq!(create.status().as_u16(), 405);
    let delete = http
        .delete(format!("{url}/etcd-0"))
        .send()
        .await
        .expect("delete");
    assert_eq!(delete.status().as_u16(), 405);
    let watch = http
        .get(format!("{url}?watch=true"))
        .send()
        .await
        .expect("watch");
    assert_eq!(watch.status().as_u16(), 405);
    let anonymous = c
        .anonymous_http()
        .get(&url)
        .send()
        .await
        .expect("anonymous");
    assert_eq!(anonymous.status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volume_attributes_classes_fix_their_driver_and_parameters() {
    let cluster = TestCluster::start().await;
    let class = "apiVersion: storage.k8s.io/v1
kind: VolumeAttributesClass
metadata: {name: gold}
driverName: csi.example.com
parameters: {iops: \"3000\"}
";
    let out = kubectl_stdin(&cluster, &["create", "-f", "-"], class);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = stdout_ok("get vac", &cluster.kubectl(&["get", "vac"]));
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "DRIVERNAME", "AGE"], "{table}");
    assert!(
        table.contains("gold") && table.contains("csi.example.com"),
        "{table}"
    );
    // Labels may change; the driver and the parameters may not (upstream's 422s).
    stdout_ok(
        "label",
        &cluster.kubectl(&["label", "volumeattributesclass", "gold", "tier=gold"]),
    );
    let changed = cluster.kubectl(&[
        "patch",
        "vac",
        "gold",
        "--type=merge",
        "-p",
        r#"{"driverName":"other.example.com","parameters":{"iops":"1"}}"#,
    ]);
    let err = String::from_utf8_lossy(&changed.stderr);
    assert!(!changed.status.success(), "{err}");
    assert!(
        err.contains("driverName: Forbidden: updates to driverName are forbidden."),
        "{err}"
    );
    assert!(
        err.contains("parameters: Forbidden: updates to parameters are forbidden."),
        "{err}"
    );
    let empty = kubectl_stdin(
        &cluster,
        &["create", "-f", "-"],
        "apiVersion: storage.k8s.io/v1\nkind: VolumeAttributesClass\nmetadata: {name: none}\ndriverName: csi.example.com\n",
    );
    let err = String::from_utf8_lossy(&empty.stderr);
    assert!(
        err.contains("parameters: Required value: must contain at least one key/value pair"),
        "{err}"
    );
}
