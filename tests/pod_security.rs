//! PodSecurity admission through kubectl, as a cluster operator uses it: namespace labels pick
//! the level, violating pods are refused with upstream's message, warn mode prints kubectl's
//! `Warning:` lines (also for Deployments), relabelling a namespace reports the existing pods it
//! would refuse, bad labels are refused, controllers' pods are held to the level too, and the
//! audit mode and enforced policy reach the audit log as upstream's audit annotations.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams};
use serde_json::Value;
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

const AUDIT_EVERYTHING: &str =
    "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n";

const DEPLOYMENT: &str = r#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
  "spec": {"selector": {"matchLabels": {"app": "web"}}, "replicas": 0,
    "template": {"metadata": {"labels": {"app": "web"}},
      "spec": {"containers": [{"name": "app", "image": "busybox"}]}}}}"#;

/// The audit events of `verb` on `resource` named `name` (ResponseComplete stage).
fn audit_events_of(log: &std::path::Path, verb: &str, resource: &str, name: &str) -> Vec<Value> {
    support::audit::events(log)
        .into_iter()
        .filter(|e| {
            e["verb"] == verb
                && e["objectRef"]["resource"] == resource
                && e["objectRef"]["name"] == name
                && e["stage"] == "ResponseComplete"
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_mode_and_enforced_policy_reach_the_audit_log() {
    let (options, log, _audit_dir) = support::audit::options(AUDIT_EVERYTHING);
    let cluster = TestCluster::start_with(options).await;
    let plain = write(&cluster, "plain.json", PLAIN_POD);
    let privileged = write(&cluster, "privileged.json", PRIVILEGED_POD);
    let deployment = write(&cluster, "deployment.json", DEPLOYMENT);
    stdout_ok("create ns", &cluster.kubectl(&["create", "ns", "audited"]));
    stdout_ok(
        "label",
        &cluster.kubectl(&[
            "label",
            "ns",
            "audited",
            "pod-security.kubernetes.io/enforce=baseline",
            "pod-security.kubernetes.io/audit=restricted",
        ]),
    );
    let out = cluster.kubectl(&["-n", "audited", "create", "-f", &plain]);
    assert!(out.status.success(), "audit mode never refuses: {out:?}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("Warning"),
        "audit mode never warns: {out:?}"
    );
    let out = cluster.kubectl(&["-n", "audited", "create", "-f", &privileged]);
    assert!(!out.status.success(), "baseline is enforced: {out:?}");
    stdout_ok(
        "deployment",
        &cluster.kubectl(&["-n", "audited", "create", "-f", &deployment]),
    );
    stdout_ok(
        "default ns pod",
        &cluster.kubectl(&["create", "-f", &plain]),
    );

    let event = |resource: &'static str, name: &'static str, ns: &'static str| {
        let log = log.clone();
        async move {
            eventually(Duration::from_secs(10), || async {
                audit_events_of(&log, "create", resource, name)
                    .into_iter()
                    .find(|e| e["objectRef"]["namespace"] == ns)
            })
            .await
            .unwrap_or_else(|| panic!("no audit event for {resource}/{name} in {ns}"))
        }
    };
    let admitted = event("pods", "plain", "audited").await;
    let annotations = &admitted["annotations"];
    assert_eq!(
        annotations["pod-security.kubernetes.io/enforce-policy"], "baseline:latest",
        "{admitted}"
    );
    assert_eq!(
        annotations["pod-security.kubernetes.io/audit-violations"],
        format!("would violate PodSecurity \"restricted:latest\": {RESTRICTED_DETAIL}"),
        "{admitted}"
    );
    assert_eq!(admitted["responseStatus"]["code"], 201);

    let refused = event("pods", "root", "audited").await;
    assert_eq!(refused["responseStatus"]["code"], 403, "{refused}");
    assert_eq!(
        refused["annotations"]["pod-security.kubernetes.io/enforce-policy"], "baseline:latest",
        "{refused}"
    );
    assert!(
        refused["annotations"]["pod-security.kubernetes.io/audit-violations"]
            .as_str()
            .is_some_and(|v| v.contains(
                "privileged (container \"app\" must not set securityContext.privileged=true)"
            )),
        "{refused}"
    );

    let workload = event("deployments", "web", "audited").await;
    assert!(
        workload["annotations"]["pod-security.kubernetes.io/audit-violations"]
            .as_str()
            .is_some_and(|v| v.starts_with("would violate PodSecurity \"restricted:latest\"")),
        "a template breaking the audit level is audited: {workload}"
    );
    assert!(
        workload["annotations"]
            .get("pod-security.kubernetes.io/enforce-policy")
            .is_none(),
        "only pods are enforced: {workload}"
    );

    let unlabelled = event("pods", "plain", "default").await;
    assert_eq!(
        unlabelled["annotations"]["pod-security.kubernetes.io/enforce-policy"], "privileged:latest",
        "{unlabelled}"
    );
    assert!(unlabelled["annotations"]
        .get("pod-security.kubernetes.io/audit-violations")
        .is_none());
}

const ADMISSION_CONFIG: &str = r#"
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults:
      enforce: baseline
      warn: restricted
    exemptions:
      usernames: ["jane"]
      namespaces: ["trusted"]
      runtimeClasses: ["sandboxed"]
"#;

/// `--admission-control-config-file` with a PodSecurityConfiguration: unlabelled namespaces get
/// the configured levels, labels still override them, and exempt namespaces, users and runtime
/// classes are let through; a broken configuration stops the server with a clear message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_wide_defaults_and_exemptions() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("admission.yaml");
    std::fs::write(&config, ADMISSION_CONFIG).unwrap();
    let cluster = TestCluster::start_with(support::ClusterOptions::default().arg(&format!(
        "--admission-control-config-file={}",
        config.display()
    )))
    .await;
    let plain = write(&cluster, "plain.json", PLAIN_POD);
    let privileged = write(&cluster, "privileged.json", PRIVILEGED_POD);

    // The default namespace has no labels: the configured defaults apply.
    let out = cluster.kubectl(&["create", "-f", &privileged]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr
                .contains("pods \"root\" is forbidden: violates PodSecurity \"baseline:latest\""),
        "{out:?}"
    );
    let out = cluster.kubectl(&["create", "-f", &plain]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("Warning: would violate PodSecurity \"restricted:latest\""),
        "the configured warn level: {out:?}"
    );

    // Labels override the defaults.
    stdout_ok("ns", &cluster.kubectl(&["create", "ns", "lab"]));
    stdout_ok(
        "label",
        &cluster.kubectl(&[
            "label",
            "ns",
            "lab",
            "pod-security.kubernetes.io/enforce=privileged",
        ]),
    );
    stdout_ok(
        "privileged in lab",
        &cluster.kubectl(&["-n", "lab", "create", "-f", &privileged]),
    );

    // An exempt namespace, even when labelled, with upstream's warning on the label.
    stdout_ok("ns", &cluster.kubectl(&["create", "ns", "trusted"]));
    let out = cluster.kubectl(&[
        "label",
        "ns",
        "trusted",
        "pod-security.kubernetes.io/enforce=restricted",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "namespace \"trusted\" is exempt from Pod Security, and the policy (enforce=restricted:latest) will be ignored"
        ),
        "{out:?}"
    );
    stdout_ok(
        "privileged in trusted",
        &cluster.kubectl(&["-n", "trusted", "create", "-f", &privileged]),
    );

    // An exempt user (impersonated by the admin, allowed to create pods by RBAC).
    stdout_ok(
        "rbac",
        &cluster.kubectl(&[
            "create",
            "clusterrolebinding",
            "jane-admin",
            "--clusterrole=cluster-admin",
            "--user=jane",
        ]),
    );
    let as_jane = PRIVILEGED_POD.replace("\"root\"", "\"janes\"");
    let as_jane = write(&cluster, "janes.json", &as_jane);
    stdout_ok(
        "privileged as jane",
        &cluster.kubectl(&["create", "-f", &as_jane, "--as=jane"]),
    );

    // An exempt runtime class.
    stdout_ok(
        "runtimeclass",
        &cluster.kubectl(&[
            "create",
            "-f",
            &write(
                &cluster,
                "rc.json",
                r#"{"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                "metadata": {"name": "sandboxed"}, "handler": "runc"}"#,
            ),
        ]),
    );
    let sandboxed = PRIVILEGED_POD.replace(
        "\"hostNetwork\": true,",
        "\"hostNetwork\": true, \"runtimeClassName\": \"sandboxed\",",
    );
    let sandboxed = write(
        &cluster,
        "sandboxed.json",
        &sandboxed.replace("\"root\"", "\"boxed\""),
    );
    stdout_ok(
        "privileged in a sandbox",
        &cluster.kubectl(&["create", "-f", &sandboxed]),
    );

    // A broken configuration: the server refuses to start and says what is wrong.
    std::fs::write(
        &config,
        ADMISSION_CONFIG.replace("enforce: baseline", "enforce: strict"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferrokube"))
        .args(["server", "--listen", "127.0.0.1:0", "--no-agent"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg(format!(
            "--admission-control-config-file={}",
            config.display()
        ))
        .output()
        .expect("run ferrokube");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("plugin PodSecurity: defaults.enforce: Invalid value: \"strict\""),
        "{stderr}"
    );
}
