//! CustomResourceDefinitions through stock kubectl (1.32 on PATH and `kubectl.1.33` beside it):
//! apply a CRD with two versions, status and scale subresources, printer columns, short names
//! and a category; wait for Established; apply, re-apply, list (wide), explain and scale a
//! custom object; bad objects and non-structural CRDs are 422s naming the fields; deleting the
//! CRD deletes its objects.

mod support;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};

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

/// A CRD version's `selectableFields` become field selectors of its custom resources, for
/// lists and watches, as upstream's (GA in 1.32); other fields are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectable_fields_filter_lists_and_watches() {
    let cluster =
        TestCluster::start_with(support::ClusterOptions::default().arg("--no-controllers")).await;
    let crd = cluster.scratch().join("shirts.yaml");
    std::fs::write(
        &crd,
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: shirts.stable.example.com}
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: shirts, singular: shirt, kind: Shirt}
  versions:
  - name: v1
    served: true
    storage: true
    selectableFields:
    - jsonPath: .spec.color
    - jsonPath: .spec.size
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              color: {type: string}
              size: {type: integer}
",
    )
    .expect("write");
    let shirts = cluster.scratch().join("objs.yaml");
    let shirt = |name: &str, color: &str, size: u32| {
        format!("apiVersion: stable.example.com/v1\nkind: Shirt\nmetadata: {{name: {name}, namespace: default}}\nspec: {{color: {color}, size: {size}}}\n---\n")
    };
    std::fs::write(
        &shirts,
        [
            shirt("a", "blue", 2),
            shirt("b", "blue", 3),
            shirt("c", "green", 2),
        ]
        .concat(),
    )
    .expect("write");
    let ok = |args: &[&str]| {
        let out = cluster.kubectl(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    ok(&["apply", "-f", crd.to_str().expect("utf-8")]);
    support::eventually(Duration::from_secs(20), || async {
        cluster
            .kubectl(&["apply", "-f", shirts.to_str()?])
            .status
            .success()
            .then_some(())
    })
    .await
    .expect("custom resources created");
    let names = |selector: &str| {
        ok(&["get", "shirts", "--field-selector", selector, "-o", "name"])
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names("spec.color=blue"),
        ["shirt.stable.example.com/a", "shirt.stable.example.com/b"]
    );
    assert_eq!(
        names("spec.color=blue,spec.size=2"),
        ["shirt.stable.example.com/a"]
    );
    assert_eq!(names("spec.color!=blue"), ["shirt.stable.example.com/c"]);

    let bad = cluster.kubectl(&["get", "shirts", "--field-selector", "spec.fabric=silk"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("field label not supported: spec.fabric"),
        "{err}"
    );

    // A watch sees only the matching objects.
    let client = cluster.client().await;
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        client,
        "default",
        &kube::api::ApiResource {
            group: "stable.example.com".into(),
            version: "v1".into(),
            api_version: "stable.example.com/v1".into(),
            kind: "Shirt".into(),
            plural: "shirts".into(),
        },
    );
    let list = api
        .list(&kube::api::ListParams::default().fields("spec.size=2"))
        .await
        .expect("list");
    let mut watch = api
        .watch(
            &kube::api::WatchParams::default().fields("spec.color=green"),
            &list.metadata.resource_version.unwrap_or_default(),
        )
        .await
        .expect("watch")
        .boxed();
    ok(&[
        "patch",
        "shirt",
        "a",
        "--type=merge",
        "-p",
        r#"{"spec":{"color":"green"}}"#,
    ]);
    ok(&[
        "patch",
        "shirt",
        "b",
        "--type=merge",
        "-p",
        r#"{"spec":{"size":9}}"#,
    ]);
    let event = tokio::time::timeout(Duration::from_secs(10), watch.try_next())
        .await
        .expect("event in time")
        .expect("watch ok")
        .expect("event");
    match event {
        kube::api::WatchEvent::Added(o) | kube::api::WatchEvent::Modified(o) => {
            assert_eq!(o.metadata.name.as_deref(), Some("a"))
        }
        other => panic!("unexpected {other:?}"),
    }
}
