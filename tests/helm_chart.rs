//! charts/ferrokube driven by Helm v4 itself (helm-python-sdk, tests/python/helm_chart.py)
//! against a ferrokube the test starts, whose agent runs the chart's pods on Docker from an
//! image `ferrokube images build` made of this very binary: lint, template, install (the
//! server inside the pod becomes Ready and answers through its pod IP), upgrade, rollback,
//! uninstall; and three replicas forming one raft cluster.

mod kubelet_common;
mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kubelet_common::{cluster, is_ready, kubectl_ok};
use serde_json::{json, Value};
use support::{eventually, stdout_ok, TestCluster};

const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/ferrokube");

/// A server in a pod starts (PKI, store, controllers) in seconds; a debug build on a busy
/// 2-core machine, several at once, takes longer.
const POD_READY: Duration = Duration::from_secs(240);

/// An image of this binary under a tag no one else uses, removed when dropped.
struct Image {
    repository: String,
    tag: String,
}

impl Image {
    fn build() -> Image {
        let tag = format!("chart-{}-{}", std::process::id(), rand::random::<u32>());
        let reference = format!("ferrokube:{tag}");
        let out = Command::new(env!("CARGO_BIN_EXE_ferrokube"))
            .args(["images", "build", "--tag", &reference])
            .output()
            .expect("running ferrokube images build");
        stdout_ok("ferrokube images build", &out);
        let image = Image {
            repository: "ferrokube".into(),
            tag,
        };
        // The image runs on its own: binary, libraries and loader are all in it.
        let out = Command::new("docker")
            .args(["run", "--rm", "--pull", "never", &reference, "--version"])
            .output()
            .expect("docker run");
        let version = stdout_ok("docker run ferrokube --version", &out);
        assert_eq!(
            version.trim(),
            format!("ferrokube {}", env!("CARGO_PKG_VERSION"))
        );
        image
    }

    fn values(&self, extra: Value) -> Value {
        let mut v = json!({"image": {"repository": self.repository, "tag": self.tag}});
        for (k, x) in extra.as_object().expect("object") {
            v[k] = x.clone();
        }
        v
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let reference = format!("{}:{}", self.repository, self.tag);
        let _ = Command::new("docker")
            .args(["rmi", "-f", &reference])
            .output();
    }
}

/// Runs one Helm action of the driver; its JSON answer.
fn helm(c: Option<&TestCluster>, args: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/helm_chart.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).args(args);
    if let Some(c) = c {
        cmd.env("KUBECONFIG", c.kubeconfig())
            .env("HOME", c.scratch());
    }
    let out = cmd.output().expect("running python3");
    let text = stdout_ok(&format!("helm_chart.py {}", args[0]), &out);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn render(values: &Value) -> Vec<Value> {
    let answer = helm(
        None,
        &["template", CHART, &values.to_string(), "fk", "apps"],
    );
    answer.as_array().expect("objects").clone()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
}

#[test]
fn chart_lints_and_renders_one_server_or_an_ha_set() {
    let report = helm(None, &["lint", CHART, "{}"]);
    assert_eq!(report["errors"], json!([]), "{report}");
    let severe: Vec<&Value> = report["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["severity"].as_i64() >= Some(2))
        .collect();
    assert!(severe.is_empty(), "{report}");

    let one = render(&json!({}));
    let sts = find(&one, "StatefulSet", "fk-ferrokube").expect("statefulset");
    assert_eq!(sts["spec"]["replicas"], 1);
    assert_eq!(sts["spec"]["serviceName"], "fk-ferrokube-peers");
    assert!(find(&one, "PodDisruptionBudget", "fk-ferrokube").is_none());
    let container = &sts["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["imagePullPolicy"], "Never");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/livez");
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(args.contains(&"--no-agent"), "{args:?}");
    assert!(
        args.contains(
            &"--join=https://fk-ferrokube-0.fk-ferrokube-peers.apps.svc.cluster.local:7443"
        ),
        "{args:?}"
    );
    let headless = find(&one, "Service", "fk-ferrokube-peers").expect("headless service");
    assert_eq!(headless["spec"]["clusterIP"], "None");
    assert_eq!(headless["spec"]["publishNotReadyAddresses"], true);
    assert!(find(&one, "Service", "fk-ferrokube").is_some());
    let secret = find(&one, "Secret", "fk-ferrokube-join-token").expect("token secret");
    let token = decode(secret["data"]["token"].as_str().expect("token"));
    let (id, rest) = token.split_once('.').expect("id.secret");
    assert!(id.len() == 6 && rest.len() == 16, "{token}");
    assert!(token
        .bytes()
        .all(|b| b == b'.' || b.is_ascii_lowercase() || b.is_ascii_digit()));

    let three = render(&json!({"replicas": 3}));
    let sts = find(&three, "StatefulSet", "fk-ferrokube").expect("statefulset");
    assert_eq!(sts["spec"]["replicas"], 3);
    let pdb = find(&three, "PodDisruptionBudget", "fk-ferrokube").expect("pdb");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
}

fn decode(b64: &str) -> String {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    String::from_utf8(bytes).expect("utf-8")
}

/// Waits until pod `name` is Ready; its IP.
async fn ready_pod(pods: &Api<Pod>, name: &str) -> String {
    let found = eventually(POD_READY, || async {
        pods.get(name).await.ok().filter(is_ready)
    })
    .await;
    let Some(pod) = found else {
        let last = pods.get(name).await.ok().and_then(|p| p.status);
        panic!("pod {name} never became Ready; last status: {last:#?}")
    };
    pod.status
        .and_then(|s| s.pod_ip)
        .expect("a ready pod has an IP")
}

/// Runs `ferrokube <command> --data-dir /var/lib/ferrokube` inside the server pod `pod`.
fn in_pod(c: &TestCluster, ns: &str, pod: &str, command: &str) -> String {
    kubectl_ok(
        c,
        &[
            "-n",
            ns,
            "exec",
            pod,
            "--",
            "/ferrokube",
            command,
            "--data-dir",
            "/var/lib/ferrokube",
        ],
    )
}

/// The admin kubeconfig the server in `pod` wrote, pointed at its pod IP.
fn inner_kubeconfig(c: &TestCluster, ns: &str, pod: &str, ip: &str) -> std::path::PathBuf {
    let text = in_pod(c, ns, pod, "kubeconfig");
    let text = text.replace("https://127.0.0.1:6443", &format!("https://{ip}:6443"));
    let path = c.scratch().join(format!("inner-{pod}.yaml"));
    std::fs::write(&path, text).expect("writing the inner kubeconfig");
    path
}

/// kubectl against the ferrokube running in a pod.
fn inner_kubectl(c: &TestCluster, kubeconfig: &Path, args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", c.scratch())
        .output()
        .expect("kubectl");
    stdout_ok(&format!("inner kubectl {}", args.join(" ")), &out)
}

fn members(c: &TestCluster, ns: &str, pod: &str) -> String {
    in_pod(c, ns, pod, "members")
}

fn revision(release: &Value) -> i64 {
    release["version"]
        .as_i64()
        .or(release["revision"].as_i64())
        .unwrap_or_else(|| panic!("no revision in {release}"))
}

async fn pod_annotation(pods: &Api<Pod>, name: &str, key: &str) -> Option<String> {
    let pod = pods.get(name).await.ok()?;
    pod.metadata.annotations?.get(key).cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_installs_upgrades_rolls_back_and_uninstalls_on_ferrokube() {
    let image = Image::build();
    let (_serial, _sweep, c, _node) = cluster("chart").await;
    let ns = "chart-one";
    kubectl_ok(&c, &["create", "namespace", ns]);
    let client = c.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let values = image.values(json!({}));

    let installed = helm(Some(&c), &["install", CHART, &values.to_string(), "fk", ns]);
    assert_eq!(revision(&installed), 1, "{installed}");
    let ip = ready_pod(&pods, "fk-ferrokube-0").await;

    // The server inside answers: anonymous /readyz on the pod IP, and an authenticated
    // kubectl with the admin kubeconfig it wrote (its certificate names the pod IP).
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("reqwest");
    let readyz = http
        .get(format!("https://{ip}:6443/readyz"))
        .send()
        .await
        .expect("GET /readyz through the pod IP");
    assert!(readyz.status().is_success(), "{}", readyz.status());
    let inner = inner_kubeconfig(&c, ns, "fk-ferrokube-0", &ip);
    let namespaces = inner_kubectl(&c, &inner, &["get", "ns", "-o", "name"]);
    assert!(namespaces.contains("namespace/kube-system"), "{namespaces}");
    inner_kubectl(
        &c,
        &inner,
        &["create", "configmap", "kept", "--from-literal=a=1"],
    );
    let listing = members(&c, ns, "fk-ferrokube-0");
    assert!(listing.contains("leader"), "{listing}");

    // The chart's Secret is the cluster's join token: the server published it as its own
    // bootstrap-token Secret.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let token = secret_token(&secrets, "fk-ferrokube-join-token").await;
    let (id, _) = token.split_once('.').expect("token form");
    inner_kubectl(
        &c,
        &inner,
        &[
            "-n",
            "kube-system",
            "get",
            "secret",
            &format!("bootstrap-token-{id}"),
        ],
    );

    // Upgrade: a pod annotation changes the template, the set rolls the pod; the data and
    // the token survive.
    let upgraded_values = image.values(json!({"podAnnotations": {"example.com/rev": "two"}}));
    let upgraded = helm(
        Some(&c),
        &["upgrade", CHART, &upgraded_values.to_string(), "fk", ns],
    );
    assert_eq!(revision(&upgraded), 2, "{upgraded}");
    let rolled = eventually(POD_READY, || async {
        (pod_annotation(&pods, "fk-ferrokube-0", "example.com/rev")
            .await
            .as_deref()
            == Some("two"))
        .then_some(())
    })
    .await;
    assert!(rolled.is_some(), "the upgrade never rolled pod 0");
    let ip = ready_pod(&pods, "fk-ferrokube-0").await;
    assert_eq!(
        secret_token(&secrets, "fk-ferrokube-join-token").await,
        token
    );
    let inner = inner_kubeconfig(&c, ns, "fk-ferrokube-0", &ip);
    let kept = inner_kubectl(
        &c,
        &inner,
        &["get", "configmap", "kept", "-o", "jsonpath={.data.a}"],
    );
    assert_eq!(kept, "1", "the data dir outlived the pod");

    // Rollback to revision 1: a third revision without the annotation.
    let rolled_back = helm(Some(&c), &["rollback", "fk", ns, "1"]);
    assert_eq!(revision(&rolled_back), 3, "{rolled_back}");
    let history = helm(Some(&c), &["history", "fk", ns]);
    assert_eq!(history.as_array().map(Vec::len), Some(3), "{history}");
    let back = eventually(POD_READY, || async {
        let pod = pods.get("fk-ferrokube-0").await.ok()?;
        let annotated = pod
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key("example.com/rev"));
        (!annotated && is_ready(&pod)).then_some(())
    })
    .await;
    assert!(
        back.is_some(),
        "the rollback never brought back the first template"
    );
    assert_eq!(
        secret_token(&secrets, "fk-ferrokube-join-token").await,
        token
    );

    // Uninstall: the release's objects are gone.
    helm(Some(&c), &["uninstall", "fk", ns]);
    let gone = eventually(Duration::from_secs(120), || async {
        let left = kubectl_ok(
            &c,
            &[
                "-n",
                ns,
                "get",
                "statefulsets,services,secrets,pods",
                "-o",
                "name",
            ],
        );
        (!left.contains("fk-ferrokube")).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "left after uninstall: {}",
        kubectl_ok(&c, &["-n", ns, "get", "all", "-o", "name"])
    );
}

async fn secret_token(secrets: &Api<Secret>, name: &str) -> String {
    let secret = secrets.get(name).await.expect("token secret");
    let bytes = secret
        .data
        .and_then(|d| d.get("token").cloned())
        .expect("token key");
    String::from_utf8(bytes.0).expect("utf-8 token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_form_one_raft_cluster() {
    let image = Image::build();
    let (_serial, _sweep, c, _node) = cluster("chart-ha").await;
    let ns = "chart-ha";
    kubectl_ok(&c, &["create", "namespace", ns]);
    let pods: Api<Pod> = Api::namespaced(c.client().await, ns);
    let values = image.values(json!({"replicas": 3}));
    let installed = helm(Some(&c), &["install", CHART, &values.to_string(), "ha", ns]);
    assert_eq!(revision(&installed), 1, "{installed}");
    let mut ips = Vec::new();
    for i in 0..3 {
        ips.push(ready_pod(&pods, &format!("ha-ferrokube-{i}")).await);
    }
    // Every server lists the same three members, one leader, by their stable names.
    let listing = members(&c, ns, "ha-ferrokube-2");
    let rows: Vec<&str> = listing
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(rows.len(), 3, "{listing}");
    assert_eq!(
        rows.iter().filter(|r| r.contains("leader")).count(),
        1,
        "{listing}"
    );
    for i in 0..3 {
        assert!(
            listing.contains(&format!("ha-ferrokube-{i}.ha-ferrokube-peers")),
            "{listing}"
        );
    }
    // A write through one server is read through another.
    let first = inner_kubeconfig(&c, ns, "ha-ferrokube-1", &ips[1]);
    inner_kubectl(
        &c,
        &first,
        &["create", "configmap", "shared", "--from-literal=k=v"],
    );
    let last = inner_kubeconfig(&c, ns, "ha-ferrokube-2", &ips[2]);
    let read = inner_kubectl(
        &c,
        &last,
        &["get", "configmap", "shared", "-o", "jsonpath={.data.k}"],
    );
    assert_eq!(read, "v");

    // Pod 0, the one that started the cluster, is deleted: the set recreates it, it restarts
    // from its volume as the member it was (not a new cluster) and serves what the others wrote.
    let old_uid = pods
        .get("ha-ferrokube-0")
        .await
        .expect("pod 0")
        .metadata
        .uid;
    kubectl_ok(
        &c,
        &["-n", ns, "delete", "pod", "ha-ferrokube-0", "--wait=false"],
    );
    let replaced = eventually(POD_READY, || async {
        let pod = pods.get("ha-ferrokube-0").await.ok()?;
        (pod.metadata.uid != old_uid && is_ready(&pod)).then_some(())
    })
    .await;
    assert!(replaced.is_some(), "pod 0 never came back Ready");
    let ip0 = ready_pod(&pods, "ha-ferrokube-0").await;
    let zero = inner_kubeconfig(&c, ns, "ha-ferrokube-0", &ip0);
    let read = inner_kubectl(
        &c,
        &zero,
        &["get", "configmap", "shared", "-o", "jsonpath={.data.k}"],
    );
    assert_eq!(read, "v");
    let listing = members(&c, ns, "ha-ferrokube-0");
    let rows = listing.lines().skip(1).filter(|l| !l.trim().is_empty());
    assert_eq!(rows.count(), 3, "{listing}");
    helm(Some(&c), &["uninstall", "ha", ns]);
}
