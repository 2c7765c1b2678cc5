//! Declarative management through the real `kubectl` binaries (1.32 on PATH and 1.33 beside it):
//! client-side apply, diff, server-side apply with conflicts, prune, strategic merge patch, edit,
//! strict field validation, and a double apply of every built-in kind we serve. `kubectl explain`
//! is in `declarative_explain.rs`.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use support::{stdout_ok, ClusterOptions, TestCluster};

const NAMESPACE: &str = "apiVersion: v1
kind: Namespace
metadata:
  name: demo
  labels:
    app: demo
";

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
  labels:
    app: demo
    tier: frontend
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: busybox:1
        command: [\"sleep\", \"3600\"]
        env:
        - name: MODE
          value: one
        - name: LEVEL
          value: info
      - name: side
        image: busybox:1
        command: [\"sleep\", \"3600\"]
";

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
  labels:
    app: demo
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
";

const CONFIGMAP: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: demo
  labels:
    app: demo
data:
  key: value
";

/// A second manager's apply configuration: only the replica count.
const OTHER_REPLICAS: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
spec:
  replicas: 5
";

/// The kubectl on PATH, resolved through symlinks (the gcloud layout keeps the versioned
/// binaries beside it).
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

/// A cluster without node agent and controllers: nothing but the test writes objects, so
/// status and annotations set by "others" are exactly the ones the test sets.
async fn quiet_cluster() -> TestCluster {
    TestCluster::start_with(ClusterOptions::default().arg("--no-controllers")).await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// kubectl's per-object result lines (`kind/name verb`), as a set.
fn lines(out: &str) -> BTreeSet<String> {
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn write(path: &Path, content: &str) {
    std::fs::write(path, content).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Writes an executable shell script.
fn script(path: &Path, body: &str) {
    write(path, &format!("#!/bin/sh\n{body}\n"));
    let status = std::process::Command::new("chmod")
        .arg("+x")
        .arg(path)
        .status()
        .expect("chmod");
    assert!(status.success());
}

struct Flow<'a> {
    cluster: &'a TestCluster,
    kubectl: &'a Path,
    app: PathBuf,
}

impl Flow<'_> {
    fn run(&self, args: &[&str]) -> Output {
        self.cluster.kubectl_bin(self.kubectl, args)
    }

    fn ok(&self, args: &[&str]) -> String {
        stdout_ok(
            &format!("{} {}", self.kubectl.display(), args.join(" ")),
            &self.run(args),
        )
    }

    fn get(&self, what: &[&str]) -> Value {
        let mut args = vec!["get", "-n", "demo", "-o", "json", "--show-managed-fields"];
        args.extend_from_slice(what);
        let out = self.ok(&args);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("kubectl printed bad JSON ({e}):\n{out}"))
    }

    fn app(&self) -> &str {
        self.app.to_str().expect("utf-8 temp path")
    }
}

/// The issue's whole session with one kubectl binary.
fn apply_flow(cluster: &TestCluster, kubectl: &Path) {
    let app = cluster.scratch().join("app");
    std::fs::create_dir_all(&app).expect("app dir");
    // kubectl applies a folder's files in name order: the namespace first.
    write(&app.join("00-namespace.yaml"), NAMESPACE);
    write(&app.join("deployment.yaml"), DEPLOYMENT);
    write(&app.join("service.yaml"), SERVICE);
    write(&app.join("configmap.yaml"), CONFIGMAP);
    let f = Flow {
        cluster,
        kubectl,
        app,
    };

    // First apply creates, second changes nothing.
    assert_eq!(
        lines(&f.ok(&["apply", "-f", f.app()])),
        set(&[
            "namespace/demo created",
            "deployment.apps/web created",
            "service/web created",
            "configmap/cfg created",
        ])
    );
    assert_eq!(
        lines(&f.ok(&["apply", "-f", f.app()])),
        set(&[
            "namespace/demo unchanged",
            "deployment.apps/web unchanged",
            "service/web unchanged",
            "configmap/cfg unchanged",
        ])
    );

    // Others touch the deployment: an annotation and the status.
    f.ok(&["annotate", "-n", "demo", "deploy", "web", "owner=ops"]);
    f.ok(&[
        "patch",
        "-n",
        "demo",
        "deploy",
        "web",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"observedGeneration":1,"replicas":7}}"#,
    ]);

    // Edit replicas, one env var, and drop a label.
    let edited = DEPLOYMENT
        .replace("replicas: 2", "replicas: 3")
        .replace("value: info", "value: debug")
        .replace("    tier: frontend\n", "");
    write(&f.app.join("deployment.yaml"), &edited);

    let diff = f.run(&["diff", "-f", f.app()]);
    assert_eq!(
        diff.status.code(),
        Some(1),
        "kubectl diff should exit 1 on differences:\nstdout:\n{}\nstderr:\n{}",
        text(&diff.stdout),
        text(&diff.stderr)
    );
    let stdout = text(&diff.stdout);
    let changes: BTreeSet<String> = stdout
        .lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .map(|l| format!("{}{}", &l[..1], l[1..].trim()))
        .collect();
    assert_eq!(
        changes,
        set(&[
            "-generation: 1",
            "+generation: 2",
            "-tier: frontend",
            "-replicas: 2",
            "+replicas: 3",
            "-value: info",
            "+value: debug",
        ]),
        "kubectl diff output:\n{stdout}"
    );
    assert!(stdout.contains("apps.v1.Deployment.demo.web"), "{stdout}");

    assert_eq!(
        lines(&f.ok(&["apply", "-f", f.app()])),
        set(&[
            "namespace/demo unchanged",
            "deployment.apps/web configured",
            "service/web unchanged",
            "configmap/cfg unchanged",
        ])
    );
    let deploy = f.get(&["deploy", "web"]);
    assert_eq!(
        deploy["metadata"]["labels"],
        serde_json::json!({"app": "demo"})
    );
    assert_eq!(deploy["metadata"]["annotations"]["owner"], "ops");
    assert_eq!(
        deploy["status"]["replicas"], 7,
        "status set by others stays"
    );
    assert_eq!(deploy["spec"]["replicas"], 3);
    let env = &deploy["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(
        env,
        &serde_json::json!([{"name": "MODE", "value": "one"}, {"name": "LEVEL", "value": "debug"}])
    );
    assert_eq!(deploy["metadata"]["generation"], 2);
    let no_diff = f.run(&["diff", "-f", f.app()]);
    assert_eq!(no_diff.status.code(), Some(0), "{}", text(&no_diff.stdout));

    // Client-side writes are recorded as Update operations of kubectl's managers.
    let managers = managers(&deploy);
    for expected in [
        "kubectl-client-side-apply/Update/",
        "kubectl-annotate/Update/",
        "kubectl-patch/Update/status",
    ] {
        assert!(managers.contains(expected), "{expected} in {managers:?}");
    }

    server_side(&f);
    patch_and_edit(&f);
    prune(&f);
    strict_validation(&f);
}

/// `manager/operation/subresource` of every managedFields entry.
fn managers(obj: &Value) -> BTreeSet<String> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    format!(
                        "{}/{}/{}",
                        e["manager"].as_str().unwrap_or(""),
                        e["operation"].as_str().unwrap_or(""),
                        e["subresource"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The fieldsV1 of one manager's entry.
fn owned<'a>(obj: &'a Value, manager: &str, operation: &str) -> Option<&'a Value> {
    obj["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager && e["operation"] == operation)
        .map(|e| &e["fieldsV1"])
}

fn server_side(f: &Flow) {
    assert_eq!(
        lines(&f.ok(&["apply", "--server-side", "-f", f.app()])),
        set(&[
            "namespace/demo serverside-applied",
            "deployment.apps/web serverside-applied",
            "service/web serverside-applied",
            "configmap/cfg serverside-applied",
        ])
    );
    let deploy = f.get(&["deploy", "web"]);
    let kubectl_owns = owned(&deploy, "kubectl", "Apply").expect("an Apply entry for kubectl");
    assert!(
        kubectl_owns.pointer("/f:spec/f:replicas").is_some(),
        "kubectl owns spec.replicas: {kubectl_owns}"
    );
    assert!(kubectl_owns
        .pointer("/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"web\"}/f:env")
        .is_some());
    assert_eq!(deploy["metadata"]["annotations"]["owner"], "ops");

    // Another manager changing kubectl's field conflicts, naming kubectl and the field.
    let other = f.cluster.scratch().join("other.yaml");
    write(&other, OTHER_REPLICAS);
    let other = other.to_str().expect("utf-8 path");
    let args = [
        "apply",
        "--server-side",
        "--field-manager=other",
        "-f",
        other,
    ];
    let conflict = f.run(&args);
    let stderr = text(&conflict.stderr);
    assert!(!conflict.status.success(), "conflict expected: {stderr}");
    assert!(
        stderr.contains("Apply failed with 1 conflict: conflict with \"kubectl\"")
            && stderr.contains(".spec.replicas"),
        "{stderr}"
    );
    assert_eq!(f.get(&["deploy", "web"])["spec"]["replicas"], 3);

    // --force-conflicts takes the field over.
    let forced = f.ok(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=other",
        "-f",
        other,
    ]);
    assert_eq!(forced.trim(), "deployment.apps/web serverside-applied");
    let deploy = f.get(&["deploy", "web"]);
    assert_eq!(deploy["spec"]["replicas"], 5);
    let others = owned(&deploy, "other", "Apply").expect("an Apply entry for other");
    assert!(others.pointer("/f:spec/f:replicas").is_some(), "{others}");
    let kubectl_owns = owned(&deploy, "kubectl", "Apply").expect("kubectl keeps its entry");
    assert!(
        kubectl_owns.pointer("/f:spec/f:replicas").is_none(),
        "ownership moved: {kubectl_owns}"
    );
}

fn patch_and_edit(f: &Flow) {
    let patched = f.ok(&[
        "patch",
        "-n",
        "demo",
        "deploy",
        "web",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"busybox:2"}]}}}}"#,
    ]);
    assert_eq!(patched.trim(), "deployment.apps/web patched");
    let deploy = f.get(&["deploy", "web"]);
    let containers = &deploy["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[0]["name"], "web");
    assert_eq!(containers[0]["image"], "busybox:2");
    assert_eq!(
        containers[0]["env"][1]["value"], "debug",
        "merged, not replaced"
    );
    assert_eq!(containers[1]["name"], "side");
    assert_eq!(containers[1]["image"], "busybox:1");

    // A valid edit is applied.
    let dir = f.cluster.scratch();
    let good = dir.join("edit-good.sh");
    script(&good, "sed -i 's/key: value/key: edited/' \"$1\"");
    let out = f
        .cluster
        .kubectl_command(f.kubectl, &["edit", "-n", "demo", "cm", "cfg"])
        .env("EDITOR", &good)
        .output()
        .expect("kubectl edit");
    assert_eq!(
        stdout_ok("kubectl edit", &out).trim(),
        "configmap/cfg edited"
    );
    assert_eq!(f.get(&["cm", "cfg"])["data"]["key"], "edited");

    // An invalid edit comes back in the editor with the server's error on top; the second
    // round saves the file for inspection and leaves it unchanged, which cancels the edit.
    let invalid_label = reopened_edit(f, "s/^    app: demo/    app: \"not valid!\"/");
    assert!(
        invalid_label.contains("# configmaps \"cfg\" was not valid:")
            && invalid_label.contains("# * metadata.labels: Invalid value: \"not valid!\""),
        "{invalid_label}"
    );
    // Strict field validation of the edit's strategic merge patch reports the unknown field.
    let unknown_field = reopened_edit(f, "s/^  name: cfg/  name: cfg\\n  bogusField: x/");
    assert!(
        unknown_field.contains("# configmaps \"cfg\" was not valid:")
            && unknown_field.contains("# * patch: Invalid value: \"map[")
            && unknown_field
                .contains("strict decoding error: unknown field \"metadata.bogusField\""),
        "{unknown_field}"
    );
    assert_eq!(f.get(&["cm", "cfg"])["metadata"]["labels"]["app"], "demo");
}

/// Runs `kubectl edit cm cfg` with an editor applying `sed_expr` in its first round and keeping
/// the file the second round (which cancels the edit); returns the second-round file.
fn reopened_edit(f: &Flow, sed_expr: &str) -> String {
    let dir = f.cluster.scratch();
    let editor = dir.join("edit-bad.sh");
    let count = dir.join("edit-count");
    let second = dir.join("edit-second-round.yaml");
    let _ = std::fs::remove_file(&count);
    let _ = std::fs::remove_file(&second);
    script(
        &editor,
        &format!(
            "n=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {count}\n\
             if [ $n -gt 1 ]; then cp \"$1\" {second}; exit 0; fi\n\
             sed -i '{sed_expr}' \"$1\"",
            count = count.display(),
            second = second.display(),
        ),
    );
    let out = f
        .cluster
        .kubectl_command(f.kubectl, &["edit", "-n", "demo", "cm", "cfg"])
        .env("EDITOR", &editor)
        .output()
        .expect("kubectl edit");
    assert!(!out.status.success(), "the edit must not be saved");
    std::fs::read_to_string(&second).unwrap_or_else(|e| {
        panic!(
            "the editor was not reopened ({e}); stderr:\n{}",
            text(&out.stderr)
        )
    })
}

fn prune(f: &Flow) {
    std::fs::remove_file(f.app.join("configmap.yaml")).expect("remove configmap.yaml");
    let out = f.ok(&["apply", "--prune", "-l", "app=demo", "-f", f.app()]);
    let result = lines(&out);
    assert!(result.contains("configmap/cfg pruned"), "{out}");
    assert!(result.contains("namespace/demo unchanged"), "{out}");
    assert!(result.contains("service/web unchanged"), "{out}");
    let gone = f.run(&["get", "-n", "demo", "cm", "cfg"]);
    assert!(!gone.status.success());
    assert!(
        text(&gone.stderr).contains("NotFound"),
        "{}",
        text(&gone.stderr)
    );
    // Objects without the label are never pruned.
    assert!(f.run(&["get", "-n", "demo", "svc", "web"]).status.success());
}

fn strict_validation(f: &Flow) {
    let bad = f.cluster.scratch().join("bad.yaml");
    write(
        &bad,
        "apiVersion: v1
kind: Pod
metadata:
  name: bad
  namespace: demo
spec:
  containers:
  - name: c
    image: busybox
    imagePulPolicy: Always
",
    );
    let out = f.run(&["create", "-f", bad.to_str().expect("utf-8 path")]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("Error from server (BadRequest)")
            && stderr.contains("unknown field \"spec.containers[0].imagePulPolicy\""),
        "{stderr}"
    );
    let missing = f.run(&["get", "-n", "demo", "pod", "bad"]);
    assert!(!missing.status.success(), "nothing stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_flow_kubectl_1_32() {
    let cluster = quiet_cluster().await;
    apply_flow(&cluster, Path::new("kubectl"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_flow_kubectl_1_33() {
    let Some(kubectl) = kubectl_dir()
        .map(|d| d.join("kubectl.1.33"))
        .filter(|p| p.is_file())
    else {
        eprintln!("kubectl.1.33 is not installed beside kubectl; skipping");
        return;
    };
    let cluster = quiet_cluster().await;
    apply_flow(&cluster, &kubectl);
}

#[path = "declarative_support/every_kind.rs"]
mod every_kind;

/// Every built-in kind we serve: `apply` twice, the second time "unchanged".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_builtin_kind_applies_twice_unchanged() {
    // The review kinds are create-only (nothing to apply twice); tests/rbac.rs covers them.
    // Computed kinds (componentstatuses) are read-only; tests/api_kinds.rs covers them.
    let served: BTreeSet<(String, String)> = ferrokube::registry::kinds::builtin_kinds()
        .iter()
        .filter(|d| d.create_only.is_none() && d.computed.is_none())
        .map(|d| (d.group.to_string(), d.kind.to_string()))
        .collect();
    let manifests = every_kind::manifests();
    let covered: BTreeSet<(String, String)> = manifests
        .iter()
        .map(|m| (m.group.to_string(), m.kind.to_string()))
        .collect();
    assert_eq!(covered, served, "one manifest per served kind");

    let cluster = quiet_cluster().await;
    let dir = cluster.scratch().join("kinds");
    std::fs::create_dir_all(&dir).expect("kinds dir");
    for (i, m) in manifests.iter().enumerate() {
        write(&dir.join(format!("{i:02}-{}.yaml", m.file)), m.yaml);
    }
    let dir = dir.to_str().expect("utf-8 path");
    let first = lines(&stdout_ok("apply", &cluster.kubectl(&["apply", "-f", dir])));
    let versions = |what: &str| -> Vec<(String, Value)> {
        let out = stdout_ok(what, &cluster.kubectl(&["get", "-f", dir, "-o", "json"]));
        let list: Value = serde_json::from_str(&out).expect("kubectl get -o json");
        list["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|o| {
                        let m = &o["metadata"];
                        (
                            format!("{}/{}", o["kind"], m["name"]),
                            m["resourceVersion"].clone(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let before = versions("get after the first apply");
    let second = lines(&stdout_ok("apply", &cluster.kubectl(&["apply", "-f", dir])));
    assert_eq!(first.len(), manifests.len(), "{first:#?}");
    assert_eq!(second.len(), manifests.len(), "{second:#?}");
    let not_created: Vec<&String> = first.iter().filter(|l| !l.ends_with(" created")).collect();
    assert!(not_created.is_empty(), "{not_created:#?}");
    // PodDisruptionBudget's `spec.selector` has patch strategy `replace`, so kubectl's three-way
    // patch for it is never empty and kubectl says "configured" against upstream servers too;
    // the server still writes nothing (checked through the resource versions below).
    let changed: Vec<&String> = second
        .iter()
        .filter(|l| !l.ends_with(" unchanged"))
        .filter(|l| l.as_str() != "poddisruptionbudget.policy/pdb configured")
        .collect();
    assert!(changed.is_empty(), "{changed:#?}");
    assert_eq!(before.len(), manifests.len());
    assert_eq!(
        versions("get after the second apply"),
        before,
        "the second apply wrote nothing"
    );
}
