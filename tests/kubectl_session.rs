//! The issue's kubectl session, driven through the real `kubectl` binaries against the real server
//! binary, asserting on what kubectl prints.

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{stdout_ok, TestCluster};

const POD_YAML: &str = "apiVersion: v1
kind: Pod
metadata:
  name: p
  labels:
    app: demo
spec:
  containers:
  - name: c
    image: busybox
    command: [\"sleep\", \"3600\"]
";

/// The kubectl on PATH, resolved through symlinks (the gcloud layout keeps the versioned
/// binaries `kubectl.1.27` .. `kubectl.1.33` beside it).
fn kubectl_dir() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let found = std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())?;
    std::fs::canonicalize(found)
        .ok()?
        .parent()
        .map(Path::to_path_buf)
}

/// A versioned kubectl beside the one on PATH, if this machine has it.
fn versioned_kubectl(version: &str) -> Option<PathBuf> {
    let bin = kubectl_dir()?.join(format!("kubectl.{version}"));
    bin.is_file().then_some(bin)
}

/// Parses kubectl's YAML output.
fn yaml(text: &str) -> serde_json::Value {
    serde_yaml_ng::from_str(text)
        .unwrap_or_else(|e| panic!("kubectl printed invalid YAML ({e}):\n{text}"))
}

/// The lines of a table whose first column is `name`.
fn row<'a>(table: &'a str, name: &str) -> Option<&'a str> {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
}

/// The core of the session, shared by every kubectl version: namespace, configmap (a protobuf body
/// from kubectl 1.32+), get -o yaml, label and selection, merge and JSON patch, a pod from a
/// file, get and describe, delete.
fn core_flow(cluster: &TestCluster, kubectl: &Path) {
    let k = |args: &[&str]| cluster.kubectl_bin(kubectl, args);
    let ok = |args: &[&str]| stdout_ok(&format!("kubectl {}", args.join(" ")), &k(args));

    assert_eq!(
        ok(&["create", "ns", "demo"]).trim(),
        "namespace/demo created"
    );
    assert_eq!(
        ok(&[
            "-n",
            "demo",
            "create",
            "configmap",
            "cfg",
            "--from-literal=a=1"
        ])
        .trim(),
        "configmap/cfg created"
    );

    let list = yaml(&ok(&["-n", "demo", "get", "cm", "-o", "yaml"]));
    assert_eq!(list["kind"], "List");
    let items = list["items"].as_array().expect("items");
    // Ours; the root-CA publisher may already have added kube-root-ca.crt (as upstream).
    let ours: Vec<&serde_json::Value> = items
        .iter()
        .filter(|i| i["metadata"]["name"] != "kube-root-ca.crt")
        .collect();
    assert_eq!(ours.len(), 1, "{list}");
    let cm = ours[0];
    assert_eq!(cm["kind"], "ConfigMap");
    assert_eq!(cm["apiVersion"], "v1");
    assert_eq!(cm["metadata"]["name"], "cfg");
    assert_eq!(cm["metadata"]["namespace"], "demo");
    assert_eq!(cm["data"]["a"], "1");
    for field in ["uid", "resourceVersion", "creationTimestamp"] {
        assert!(
            cm["metadata"][field]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "metadata.{field} missing: {cm}"
        );
    }

    assert_eq!(
        ok(&["-n", "demo", "label", "cm", "cfg", "tier=web"]).trim(),
        "configmap/cfg labeled"
    );
    let selected = ok(&["-n", "demo", "get", "cm", "-l", "tier=web"]);
    assert!(
        selected.starts_with("NAME"),
        "table header expected:\n{selected}"
    );
    assert!(
        selected
            .lines()
            .next()
            .is_some_and(|h| h.contains("DATA") && h.contains("AGE")),
        "{selected}"
    );
    let cfg_row = row(&selected, "cfg")
        .unwrap_or_else(|| panic!("cfg not selected by tier=web:\n{selected}"));
    assert_eq!(
        cfg_row.split_whitespace().nth(1),
        Some("1"),
        "DATA column: {cfg_row}"
    );
    let none = k(&["-n", "demo", "get", "cm", "-l", "tier=db"]);
    assert!(none.status.success());
    assert_eq!(String::from_utf8_lossy(&none.stdout).trim(), "");
    assert!(String::from_utf8_lossy(&none.stderr).contains("No resources found in demo namespace."));
    let set_based = ok(&[
        "-n",
        "demo",
        "get",
        "cm",
        "-l",
        "tier in (web,db)",
        "-o",
        "name",
    ]);
    assert_eq!(set_based.trim(), "configmap/cfg");

    let merge = ok(&[
        "-n",
        "demo",
        "patch",
        "cm",
        "cfg",
        "--type=merge",
        "-p",
        r#"{"data":{"b":"2"}}"#,
    ]);
    assert_eq!(merge.trim(), "configmap/cfg patched");
    let data = ok(&["-n", "demo", "get", "cm", "cfg", "-o", "jsonpath={.data}"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&data).expect("data JSON"),
        serde_json::json!({"a": "1", "b": "2"})
    );
    let json = ok(&[
        "-n",
        "demo",
        "patch",
        "cm",
        "cfg",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/data/a"}]"#,
    ]);
    assert_eq!(json.trim(), "configmap/cfg patched");
    let data = ok(&["-n", "demo", "get", "cm", "cfg", "-o", "jsonpath={.data}"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&data).expect("data JSON"),
        serde_json::json!({"b": "2"})
    );
    let label = ok(&[
        "-n",
        "demo",
        "get",
        "cm",
        "cfg",
        "-o",
        "jsonpath={.metadata.labels.tier}",
    ]);
    assert_eq!(label, "web", "patches must keep the label");

    let pod_file = cluster.scratch().join("pod.yaml");
    std::fs::write(&pod_file, POD_YAML).expect("writing pod.yaml");
    let pod_path = pod_file.to_str().expect("utf-8 temp path");
    assert_eq!(
        ok(&["-n", "demo", "create", "-f", pod_path]).trim(),
        "pod/p created"
    );
    let pods = ok(&["-n", "demo", "get", "pods"]);
    let header: Vec<&str> = pods
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{pods}"
    );
    let p = row(&pods, "p").unwrap_or_else(|| panic!("pod p not listed:\n{pods}"));
    assert_eq!(p.split_whitespace().nth(1), Some("0/1"), "{p}");

    // describe lists the pod's events with a field selector on involvedObject.*: it must succeed.
    // Column widths follow the longest label (e.g. "Service Account:"), so compare words.
    let describe = ok(&["-n", "demo", "describe", "pod", "p"]);
    let words = |line: &str| line.split_whitespace().collect::<Vec<_>>().join(" ");
    for expected in [
        "Name: p",
        "Namespace: demo",
        "Labels: app=demo",
        "Image: busybox",
        "Events:",
    ] {
        assert!(
            describe.lines().any(|l| words(l).starts_with(expected)),
            "describe lacks {expected:?}:\n{describe}"
        );
    }
    assert!(
        describe
            .lines()
            .next()
            .is_some_and(|l| l.split_whitespace().eq(["Name:", "p"])),
        "{describe}"
    );

    let deleted = ok(&["-n", "demo", "delete", "cm", "cfg"]);
    assert!(
        deleted.starts_with("configmap \"cfg\" deleted"),
        "{deleted}"
    );
    let gone = k(&["-n", "demo", "get", "cm", "cfg"]);
    assert!(!gone.status.success());
    let stderr = String::from_utf8_lossy(&gone.stderr);
    assert!(stderr.contains(r#"configmaps "cfg" not found"#), "{stderr}");
}

/// The discovery-ish commands a user runs first.
fn first_look(cluster: &TestCluster) {
    let version = stdout_ok("kubectl version", &cluster.kubectl(&["version"]));
    assert!(version.contains("Server Version: v1.33."), "{version}");

    let resources = stdout_ok(
        "kubectl api-resources",
        &cluster.kubectl(&["api-resources"]),
    );
    let header: Vec<&str> = resources
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    );
    for expected in [
        ["configmaps", "cm", "v1", "true", "ConfigMap"],
        ["namespaces", "ns", "v1", "false", "Namespace"],
        ["pods", "po", "v1", "true", "Pod"],
        ["deployments", "deploy", "apps/v1", "true", "Deployment"],
        ["cronjobs", "cj", "batch/v1", "true", "CronJob"],
        [
            "ingresses",
            "ing",
            "networking.k8s.io/v1",
            "true",
            "Ingress",
        ],
    ] {
        assert!(
            resources
                .lines()
                .any(|l| l.split_whitespace().eq(expected.iter().copied())),
            "api-resources lacks {expected:?}:\n{resources}"
        );
    }
    for expected in [
        ["leases", "coordination.k8s.io/v1"],
        ["storageclasses", "storage.k8s.io/v1"],
    ] {
        assert!(
            resources
                .lines()
                .any(|l| l.starts_with(expected[0]) && l.contains(expected[1])),
            "api-resources lacks {expected:?}:\n{resources}"
        );
    }

    let ns = stdout_ok("kubectl get ns", &cluster.kubectl(&["get", "ns"]));
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let r = row(&ns, name).unwrap_or_else(|| panic!("namespace {name} missing:\n{ns}"));
        assert_eq!(r.split_whitespace().nth(1), Some("Active"), "{r}");
    }

    let raw = stdout_ok(
        "kubectl get --raw /version",
        &cluster.kubectl(&["get", "--raw", "/version"]),
    );
    let v: serde_json::Value = serde_json::from_str(&raw).expect("/version is JSON");
    assert_eq!(v["major"], "1");
    assert_eq!(v["minor"], "33");
    assert!(
        v["gitVersion"]
            .as_str()
            .is_some_and(|g| g.starts_with("v1.33.")),
        "{v}"
    );
}

/// Reads a file that a background process is writing.
fn read_file(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    text
}

/// Waits until `path` contains `needle`, or panics with what it does contain.
fn wait_for_text(path: &Path, needle: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = read_file(path);
        if text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} never showed {needle:?}; it has:\n{text}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_session() {
    let cluster = TestCluster::start().await;
    first_look(&cluster);
    let kubectl = Path::new("kubectl");

    // Watch in the background the way a user would in a second terminal.
    stdout_ok("create ns", &cluster.kubectl(&["create", "ns", "watched"]));
    stdout_ok(
        "create cm",
        &cluster.kubectl(&[
            "-n",
            "watched",
            "create",
            "configmap",
            "cfg",
            "--from-literal=a=1",
        ]),
    );
    let watch_out = cluster.scratch().join("watch.out");
    let mut watch = cluster
        .kubectl_command(
            kubectl,
            &["-n", "watched", "get", "cm", "-w", "--output-watch-events"],
        )
        .stdout(std::fs::File::create(&watch_out).expect("watch output"))
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w");
    // The initial list arrives as ADDED; the watch that follows starts at the list's revision, so
    // nothing written after this point can be missed.
    wait_for_text(&watch_out, "ADDED", Duration::from_secs(20));

    stdout_ok(
        "label",
        &cluster.kubectl(&["-n", "watched", "label", "cm", "cfg", "tier=web"]),
    );
    stdout_ok(
        "patch",
        &cluster.kubectl(&[
            "-n",
            "watched",
            "patch",
            "cm",
            "cfg",
            "--type=merge",
            "-p",
            r#"{"data":{"b":"2"}}"#,
        ]),
    );
    stdout_ok(
        "delete",
        &cluster.kubectl(&["-n", "watched", "delete", "cm", "cfg"]),
    );
    let text = wait_for_text(&watch_out, "DELETED", Duration::from_secs(20));
    let _ = watch.kill();
    let _ = watch.wait();
    let events: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        events.first().map(|e| e[..3].to_vec()),
        Some(vec!["EVENT", "NAME", "DATA"]),
        "{text}"
    );
    // Only our object's events: the namespace's kube-root-ca.crt shows up as ADDED too.
    let kinds: Vec<(&str, &str, &str)> = events[1..]
        .iter()
        .map(|e| (e[0], e[1], e[2]))
        .filter(|e| e.1 == "cfg")
        .collect();
    assert_eq!(
        kinds,
        [
            ("ADDED", "cfg", "1"),
            ("MODIFIED", "cfg", "1"),
            ("MODIFIED", "cfg", "2"),
            ("DELETED", "cfg", "2")
        ],
        "watch output:\n{text}"
    );

    // The full session again, in a fresh namespace, through the same commands a user types.
    core_flow(&cluster, kubectl);
    delete_namespace(&cluster, kubectl);
}

/// `kubectl delete ns demo`, waiting like a user does.
fn delete_namespace(cluster: &TestCluster, kubectl: &Path) {
    let out = cluster.kubectl_bin(kubectl, &["delete", "ns", "demo", "--timeout=30s"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(r#"namespace "demo" deleted"#), "{stdout}");
    assert!(
        out.status.success(),
        "kubectl delete ns did not finish: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let get = cluster.kubectl_bin(kubectl, &["get", "ns", "demo"]);
    assert!(
        !get.status.success(),
        "namespace demo still exists after kubectl delete returned"
    );
}

/// Runs the core flow with a versioned kubectl next to the one on PATH.
async fn versioned_core_flow(version: &str) {
    let Some(kubectl) = versioned_kubectl(version) else {
        eprintln!("note: kubectl.{version} not found beside the kubectl on PATH; skipping");
        return;
    };
    let cluster = TestCluster::start().await;
    core_flow(&cluster, &kubectl);
    let out = stdout_ok(
        "delete ns",
        &cluster.kubectl_bin(&kubectl, &["delete", "ns", "demo", "--wait=false"]),
    );
    assert!(out.contains(r#"namespace "demo" deleted"#), "{out}");
    // Gone already (namespace controller running) or Terminating (not yet): never still Active.
    let get = cluster.kubectl_bin(
        &kubectl,
        &["get", "ns", "demo", "-o", "jsonpath={.status.phase}"],
    );
    if get.status.success() {
        assert_eq!(String::from_utf8_lossy(&get.stdout), "Terminating");
    } else {
        assert!(String::from_utf8_lossy(&get.stderr).contains(r#"namespaces "demo" not found"#));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_flow_kubectl_1_33() {
    versioned_core_flow("1.33").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_flow_kubectl_1_32() {
    versioned_core_flow("1.32").await;
}
