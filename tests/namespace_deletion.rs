//! Namespace deletion in upstream's order (OrderedNamespaceDeletion, on by default since
//! v1.34): pods go first, and while a pod remains nothing else in the namespace is deleted; the
//! namespace's status conditions say what holds it up, in upstream's words.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{eventually, stdout_ok, TestCluster};

fn json_of(cluster: &TestCluster, args: &[&str]) -> Option<Value> {
    let out = cluster.kubectl(args);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

fn condition(ns: &Value, type_: &str) -> Option<Value> {
    ns["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_are_deleted_before_the_rest_of_the_namespace() {
    let cluster = TestCluster::start().await;
    stdout_ok(
        "create ns",
        &cluster.kubectl(&["create", "namespace", "ordered"]),
    );
    let pod = cluster.scratch().join("pod.yaml");
    std::fs::write(
        &pod,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: test-pod\n  namespace: ordered\n  \
         finalizers: [e2e.example.com/finalizer]\nspec:\n  containers:\n  - name: c\n    \
         image: busybox\n",
    )
    .expect("write pod");
    stdout_ok(
        "create pod",
        &cluster.kubectl(&["create", "-f", pod.to_str().expect("utf-8")]),
    );
    stdout_ok(
        "create cm",
        &cluster.kubectl(&[
            "create",
            "configmap",
            "test-configmap",
            "-n",
            "ordered",
            "--from-literal=key=value",
        ]),
    );
    stdout_ok(
        "delete ns",
        &cluster.kubectl(&["delete", "namespace", "ordered", "--wait=false"]),
    );

    // The controller reports the pod held by its finalizer, in upstream's words.
    let ns = eventually(Duration::from_secs(60), || async {
        let ns = json_of(&cluster, &["get", "namespace", "ordered", "-o", "json"])?;
        let remaining = condition(&ns, "NamespaceContentRemaining")?;
        (remaining["status"] == "True").then_some(ns)
    })
    .await
    .expect("NamespaceContentRemaining becomes True");
    assert_eq!(ns["status"]["phase"], "Terminating");
    let remaining = condition(&ns, "NamespaceContentRemaining").expect("condition");
    assert_eq!(
        remaining["message"],
        "Some resources are remaining: pods. has 1 resource instances"
    );
    let finalizers = condition(&ns, "NamespaceFinalizersRemaining").expect("condition");
    assert_eq!(
        finalizers["message"],
        "Some content in the namespace has finalizers remaining: e2e.example.com/finalizer in 1 resource instances"
    );
    let content = condition(&ns, "NamespaceDeletionContentFailure").expect("condition");
    assert_eq!(
        (content["status"].as_str(), content["reason"].as_str()),
        (Some("False"), Some("ContentDeleted"))
    );

    // The pod is being deleted; the configmap is untouched while the pod remains.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pod = json_of(
        &cluster,
        &["get", "pod", "test-pod", "-n", "ordered", "-o", "json"],
    )
    .expect("pod still there");
    assert!(pod["metadata"]["deletionTimestamp"].is_string(), "{pod}");
    let cm = json_of(
        &cluster,
        &[
            "get",
            "configmap",
            "test-configmap",
            "-n",
            "ordered",
            "-o",
            "json",
        ],
    )
    .expect("the configmap outlives the pod");
    assert!(cm["metadata"]["deletionTimestamp"].is_null(), "{cm}");

    // Once the finalizer goes, the pod, the configmap and the namespace follow.
    stdout_ok(
        "drop finalizer",
        &cluster.kubectl(&[
            "patch",
            "pod",
            "test-pod",
            "-n",
            "ordered",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ]),
    );
    eventually(Duration::from_secs(60), || async {
        let out = cluster.kubectl(&["get", "namespace", "ordered"]);
        (!out.status.success()).then_some(())
    })
    .await
    .expect("the namespace goes away");
}
