//! Upstream's "Secrets should be consumable from pods in volume as non-root with defaultMode and
//! fsGroup set" and its Projected-secret twin: a pod running as uid 1000 with fsGroup 1001
//! reads a secret written with mode 0440, because the kubelet hands the volume's files to the
//! fsGroup and runs the container with the fsGroup as a supplementary group.

mod kubelet_common;
mod support;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use kubelet_common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_volumes_as_non_root_with_default_mode_and_fs_group() {
    let (_serial, _sweep, c, _node) = cluster("e2e-fsgroup").await;
    let manifest = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "secret-test"},
         "stringData": {"data-1": "value-1"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pod-secrets"},
         "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
            "securityContext": {"runAsUser": 1000, "fsGroup": 1001},
            "volumes": [
                {"name": "secret-volume",
                 "secret": {"secretName": "secret-test", "defaultMode": 0o440}},
                {"name": "projected-volume",
                 "projected": {"defaultMode": 0o440,
                    "sources": [{"secret": {"name": "secret-test"}}]}}],
            "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "Never",
                "command": ["sh", "-c",
                    "id -u; id -G; for d in secret-volume projected-volume; do \
                     f=/etc/$d/data-1; echo \"$(cat $f) $(stat -Lc '%A %g' $f)\"; done"],
                "volumeMounts": [
                    {"name": "secret-volume", "mountPath": "/etc/secret-volume"},
                    {"name": "projected-volume", "mountPath": "/etc/projected-volume"}]}]}}]});
    default_service_account(&c).await;
    let path = c.scratch().join("fsgroup.json");
    std::fs::write(&path, manifest.to_string()).expect("write manifest");
    kubectl_ok(&c, &["apply", "-f", path.to_str().expect("utf-8")]);

    let pods: Api<Pod> = Api::namespaced(c.client().await, "default");
    let pod = wait_pod(&pods, "pod-secrets", "finished", |p| {
        matches!(phase(p), "Succeeded" | "Failed")
    })
    .await;
    let log = pods
        .logs("pod-secrets", &LogParams::default())
        .await
        .expect("logs");
    assert_eq!(phase(&pod), "Succeeded", "log: {log}");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines[0], "1000", "log: {log}");
    assert!(
        lines[1].split_whitespace().any(|g| g == "1001"),
        "fsGroup is not a supplementary group: {log}"
    );
    // Upstream's mounttest expects exactly `-r--r-----` (0440 is already read-only for the
    // group: the fsGroup mask adds nothing) and the content.
    assert_eq!(lines[2..], ["value-1 -r--r----- 1001"; 2], "log: {log}");
}
