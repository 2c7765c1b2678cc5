//! CustomResourceDefinitions through stock kubectl (1.32 on PATH and `kubectl.1.33` beside it):
//! apply a CRD with two versions, status and scale subresources, printer columns, short names
//! and a category; wait for Established; apply, re-apply, list (wide), explain and scale a
//! custom object; bad objects and non-structural CRDs are 422s naming the fields; deleting the
//! CRD deletes its objects.

mod support;

use std::path::Path;
use std::process::Output;

use support::{kubectls, stdout_ok, TestCluster};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/crd");

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The whitespace-separated cells of each output line.
fn rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

fn lifecycle(cluster: &TestCluster, kubectl: &Path) {
    let k = |args: &[&str]| cluster.kubectl_bin(kubectl, args);
    let what = kubectl.display().to_string();

    let out = stdout_ok(&what, &k(&["apply", "-f", &fixture("crd.yaml")]));
    assert!(out.contains("widgets.example.com created"), "{out}");
    stdout_ok(
        &what,
        &k(&[
            "wait",
            "--for=condition=Established",
            "--timeout=10s",
            "crd/widgets.example.com",
        ]),
    );
    let out = stdout_ok(&what, &k(&["get", "crd"]));
    assert!(out.contains("widgets.example.com"), "{out}");

    let out = stdout_ok(&what, &k(&["apply", "-f", &fixture("widget.yaml")]));
    assert!(out.contains("widget.example.com/blue-one created"), "{out}");
    let out = stdout_ok(&what, &k(&["apply", "-f", &fixture("widget.yaml")]));
    assert!(
        out.contains("widget.example.com/blue-one unchanged"),
        "{out}"
    );

    // Printer columns: priority 1 (Size) only with -o wide.
    let wide = rows(&stdout_ok(&what, &k(&["get", "widgets", "-o", "wide"])));
    assert_eq!(
        wide[0],
        ["NAME", "COLOR", "REPLICAS", "SIZE", "AGE"],
        "{wide:?}"
    );
    assert_eq!(wide[1][..4], ["blue-one", "blue", "2", "large"], "{wide:?}");
    let narrow = rows(&stdout_ok(&what, &k(&["get", "wid"])));
    assert_eq!(
        narrow[0],
        ["NAME", "COLOR", "REPLICAS", "AGE"],
        "{narrow:?}"
    );
    assert_eq!(narrow[1][..3], ["blue-one", "blue", "2"], "{narrow:?}");
    let category = stdout_ok(&what, &k(&["get", "toys"]));
    assert!(category.contains("blue-one"), "{category}");
    let resources = stdout_ok(&what, &k(&["api-resources", "--api-group=example.com"]));
    assert!(
        resources.contains("widgets") && resources.contains("wid") && resources.contains("Widget"),
        "{resources}"
    );

    // The other served version reads the same object under its own apiVersion.
    let beta = stdout_ok(
        &what,
        &k(&[
            "get",
            "widgets.v1beta1.example.com",
            "blue-one",
            "-o",
            "jsonpath={.apiVersion} {.spec.color}",
        ]),
    );
    assert_eq!(beta, "example.com/v1beta1 blue");

    let explain = stdout_ok(&what, &k(&["explain", "widget.spec"]));
    for expected in [
        "The desired state of the widget.",
        "color\t<string> -required-",
        "The widget's color.",
        "replicas\t<integer>",
        "parts\t<[]Object>",
    ] {
        assert!(
            explain.contains(expected),
            "{expected:?} missing from:\n{explain}"
        );
    }
    let recursive = stdout_ok(&what, &k(&["explain", "widgets", "--recursive"]));
    for expected in [
        "spec\t<Object>",
        "parts\t<[]Object>",
        "count\t<integer>",
        "status\t<Object>",
    ] {
        assert!(
            recursive.contains(expected),
            "{expected:?} missing from:\n{recursive}"
        );
    }

    let out = stdout_ok(&what, &k(&["scale", "widget", "blue-one", "--replicas=5"]));
    assert!(out.contains("scaled"), "{out}");
    let replicas = stdout_ok(
        &what,
        &k(&[
            "get",
            "widget",
            "blue-one",
            "-o",
            "jsonpath={.spec.replicas}",
        ]),
    );
    assert_eq!(replicas, "5");

    // Strategic merge patch is refused for custom resources, as upstream does; merge works.
    let smp = k(&[
        "patch",
        "widget",
        "blue-one",
        "-p",
        r#"{"spec":{"size":"small"}}"#,
    ]);
    assert!(!smp.status.success());
    // kubectl words the 415 itself, as it does against upstream.
    assert!(
        stderr(&smp).contains("strategic-merge-patch+json is not supported"),
        "{}",
        stderr(&smp)
    );
    stdout_ok(
        &what,
        &k(&[
            "patch",
            "widget",
            "blue-one",
            "--type=merge",
            "-p",
            r#"{"spec":{"size":"small"}}"#,
        ]),
    );

    // Unknown fields: kubectl's default strict validation names them; with warnings only, the
    // object is stored pruned and defaulted.
    let strict = k(&["apply", "-f", &fixture("unknown-field-widget.yaml")]);
    assert!(!strict.status.success(), "unknown fields were accepted");
    let err = stderr(&strict);
    assert!(
        err.contains(r#"unknown field "spec.bogus""#)
            && err.contains(r#"unknown field "spec.parts[0].extra""#),
        "{err}"
    );
    let warned = k(&[
        "apply",
        "--validate=warn",
        "-f",
        &fixture("unknown-field-widget.yaml"),
    ]);
    stdout_ok(&what, &warned);
    assert!(
        stderr(&warned).contains(r#"unknown field "spec.bogus""#),
        "{}",
        stderr(&warned)
    );
    let spec = stdout_ok(
        &what,
        &k(&["get", "widget", "odd-one", "-o", "jsonpath={.spec}"]),
    );
    let spec: serde_json::Value = serde_json::from_str(&spec).expect("spec JSON");
    assert_eq!(
        spec,
        serde_json::json!({"color": "red", "parts": [{"name": "a"}], "replicas": 1, "size": "medium"})
    );

    let bad = k(&["apply", "-f", &fixture("bad-widget.yaml")]);
    assert!(!bad.status.success(), "a bad widget was accepted");
    let err = stderr(&bad);
    assert!(err.contains("is invalid"), "{err}");
    assert!(
        err.contains("spec.color") && err.contains("spec.replicas"),
        "{err}"
    );

    let nonstructural = k(&["apply", "-f", &fixture("nonstructural-crd.yaml")]);
    assert!(
        !nonstructural.status.success(),
        "a non-structural CRD was accepted"
    );
    let err = stderr(&nonstructural);
    assert!(
        err.contains("is invalid") && err.contains("properties[spec].type"),
        "{err}"
    );

    let out = stdout_ok(&what, &k(&["delete", "crd", "widgets.example.com"]));
    assert!(out.contains("deleted"), "{out}");
    let crds = stdout_ok(&what, &k(&["get", "crd", "-o", "name"]));
    assert!(!crds.contains("widgets"), "{crds}");
    // A new CRD of the same name starts empty: the old objects went with the old CRD.
    stdout_ok(&what, &k(&["apply", "-f", &fixture("crd.yaml")]));
    stdout_ok(
        &what,
        &k(&[
            "wait",
            "--for=condition=Established",
            "--timeout=10s",
            "crd/widgets.example.com",
        ]),
    );
    let left = k(&["get", "widgets", "-A", "-o", "name"]);
    assert_eq!(
        String::from_utf8_lossy(&left.stdout).trim(),
        "",
        "{}",
        stderr(&left)
    );
    stdout_ok(&what, &k(&["delete", "crd", "widgets.example.com"]));
}

#[tokio::test]
async fn crd_lifecycle_with_kubectl() {
    for kubectl in kubectls() {
        let cluster =
            TestCluster::start_with(support::ClusterOptions::default().arg("--no-controllers"))
                .await;
        lifecycle(&cluster, &kubectl);
    }
}

/// A server restarted with a CRD in its store serves the custom resource from its first request.
#[tokio::test]
async fn crds_survive_a_restart() {
    let mut cluster =
        TestCluster::start_with(support::ClusterOptions::default().arg("--no-controllers")).await;
    let k = |c: &TestCluster, args: &[&str]| stdout_ok("kubectl", &c.kubectl(args));
    k(&cluster, &["apply", "-f", &fixture("crd.yaml")]);
    k(
        &cluster,
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=10s",
            "crd/widgets.example.com",
        ],
    );
    k(&cluster, &["apply", "-f", &fixture("widget.yaml")]);
    cluster.restart().await;
    let url = format!(
        "{}/apis/example.com/v1/namespaces/default/widgets/blue-one",
        cluster.base_url()
    );
    let resp = cluster.http().get(&url).send().await.expect("GET widget");
    assert_eq!(resp.status(), 200);
    let out = k(
        &cluster,
        &["get", "wid", "blue-one", "-o", "jsonpath={.spec.color}"],
    );
    assert_eq!(out, "blue");
}
