//! PodSecurity admission through kubectl, as a cluster operator uses it: namespace labels pick
//! the level, violating pods are refused with upstream's message, warn mode prints kubectl's
//! `Warning:` lines (also for Deployments), relabelling a namespace reports the existing pods it
//! would refuse, bad labels are refused, and controllers' pods are held to the level too.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams};
use support::{eventually, stdout_ok, TestCluster};

fn write(cluster: &TestCluster, name: &str, manifest: &str) -> String {
    let path = cluster.scratch().join(name);
    std::fs::write(&path, manifest).unwrap();
    path.to_str().unwrap().to_string()
}

const PLAIN_POD: &str = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "plain"},
  "spec": {"containers": [{"name": "app", "image": "busybox", "command": ["sleep", "60"]}]}}"#;

const HARDENED_POD: &str = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hardened"},
  "spec": {"securityContext": {"runAsNonRoot": true, "runAsUser": 1000,
             "seccompProfile": {"type": "RuntimeDefault"}},
           "containers": [{"name": "app", "image": "busybox", "command": ["sleep", "60"],
             "securityContext": {"allowPrivilegeEscalation": false,
                                 "capabilities": {"drop": ["ALL"]}}}]}}"#;

const PRIVILEGED_POD: &str = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root"},
  "spec": {"hostNetwork": true,
           "containers": [{"name": "app", "image": "busybox",
             "securityContext": {"privileged": true}}]}}"#;

const RESTRICTED_DETAIL: &str = "allowPrivilegeEscalation != false (container \"app\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"app\" must set securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or container \"app\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container \"app\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforce_refuses_and_warn_warns() {
    let cluster = TestCluster::start().await;
    let plain = write(&cluster, "plain.json", PLAIN_POD);
    let hardened = write(&cluster, "hardened.json", HARDENED_POD);
    let privileged = write(&cluster, "privileged.json", PRIVILEGED_POD);
    stdout_ok("create ns", &cluster.kubectl(&["create", "ns", "dev"]));
    stdout_ok(
        "label",
        &cluster.kubectl(&[
            "label",
            "ns",
            "dev",
            "pod-security.kubernetes.io/enforce=baseline",
            "pod-security.kubernetes.io/warn=restricted",
        ]),
    );

    let out = cluster.kubectl(&["-n", "dev", "create", "-f", &privileged]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Error from server (Forbidden): error when creating")
            && stderr.contains("pods \"root\" is forbidden: violates PodSecurity \"baseline:latest\": host namespaces (hostNetwork=true), privileged (container \"app\" must not set securityContext.privileged=true)"),
        "{stderr}"
    );
    // Dry run refuses alike and writes nothing.
    let out = cluster.kubectl(&["-n", "dev", "create", "--dry-run=server", "-f", &privileged]);
    assert!(!out.status.success());
    let pods: Api<Pod> = Api::namespaced(cluster.client().await, "dev");
    assert!(pods.get_opt("root").await.unwrap().is_none());

    // Baseline-clean but not restricted: admitted, with the warn level's warning.
    let out = cluster.kubectl(&["-n", "dev", "create", "-f", &plain]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "Warning: would violate PodSecurity \"restricted:latest\": {RESTRICTED_DETAIL}"
        )),
        "{stderr}"
    );
    let out = cluster.kubectl(&["-n", "dev", "create", "-f", &hardened]);
    assert!(out.status.success(), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("Warning"));

    // A Deployment is never refused; its template gets the warning.
    let out = cluster.kubectl(&[
        "-n",
        "dev",
        "create",
        "deployment",
        "web",
        "--image=busybox",
        "--",
        "sleep",
        "60",
    ]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Warning: would violate PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"busybox\""),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relabelling_reports_existing_pods_and_bad_labels_are_refused() {
    let cluster = TestCluster::start().await;
    stdout_ok("create ns", &cluster.kubectl(&["create", "ns", "team"]));
    let plain = write(&cluster, "plain.json", PLAIN_POD);
    let privileged = write(&cluster, "privileged.json", PRIVILEGED_POD);
    stdout_ok(
        "plain",
        &cluster.kubectl(&["-n", "team", "create", "-f", &plain]),
    );
    stdout_ok(
        "root",
        &cluster.kubectl(&["-n", "team", "create", "-f", &privileged]),
    );

    let out = cluster.kubectl(&[
        "label",
        "ns",
        "team",
        "pod-security.kubernetes.io/enforce=restricted",
    ]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "Warning: existing pods in namespace \"team\" violate the new PodSecurity enforce level \"restricted:latest\"",
        "Warning: plain: allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile",
        "Warning: root: host namespaces, privileged, allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in {stderr}");
    }

    let out = cluster.kubectl(&[
        "label",
        "--overwrite",
        "ns",
        "team",
        "pod-security.kubernetes.io/enforce=strict",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Namespace \"team\" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: \"strict\": must be one of privileged, baseline, restricted"),
        "{stderr}"
    );
    let labels = stdout_ok(
        "get",
        &cluster.kubectl(&["get", "ns", "team", "-o", "jsonpath={.metadata.labels}"]),
    );
    assert!(labels.contains("\"restricted\""), "{labels}");
    let out = cluster.kubectl(&["create", "ns", "bad", "--dry-run=client", "-o", "json"]);
    let mut ns: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    ns["metadata"]["labels"] =
        serde_json::json!({"pod-security.kubernetes.io/warn-version": "1.30"});
    let path = write(&cluster, "bad-ns.json", &ns.to_string());
    let out = cluster.kubectl(&["create", "-f", &path]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("Invalid value: \"1.30\": must be \"latest\" or \"v1.x\""),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controllers_pods_are_held_to_the_level() {
    let cluster = TestCluster::start().await;
    stdout_ok("create ns", &cluster.kubectl(&["create", "ns", "locked"]));
    stdout_ok(
        "label",
        &cluster.kubectl(&[
            "label",
            "ns",
            "locked",
            "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/enforce-version=v1.33",
        ]),
    );
    let out = cluster.kubectl(&[
        "-n",
        "locked",
        "create",
        "deployment",
        "web",
        "--image=busybox",
    ]);
    assert!(out.status.success(), "{out:?}");
    let events: Api<Event> = Api::namespaced(cluster.client().await, "locked");
    let refused = eventually(Duration::from_secs(30), || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find(|e| {
            e.reason.as_deref() == Some("FailedCreate")
                && e.message.as_deref().is_some_and(|m| {
                    m.contains("is forbidden: violates PodSecurity \"restricted:v1.33\"")
                })
        })
    })
    .await;
    assert!(
        refused.is_some(),
        "no FailedCreate event naming PodSecurity"
    );
    let pods: Api<Pod> = Api::namespaced(cluster.client().await, "locked");
    assert!(pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .is_empty());
}
