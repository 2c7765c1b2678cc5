//! ValidatingAdmissionPolicy end to end, through kubectl as the upstream documentation's
//! example goes: a policy bound by namespace label denies a Deployment with upstream's
//! message, a Warn binding prints kubectl warnings (messageExpression and variables), a
//! parameterised policy reads its limit from a ConfigMap (matchConditions, reasons and codes),
//! and a broken expression fails closed or open as its failurePolicy says.

mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, PostParams};
use support::{eventually, stdout_ok, TestCluster};

const REPLICA_LIMIT: &str = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: replicalimit-policy.example.com}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: ["apps"]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["deployments"]
  validations:
  - expression: "object.spec.replicas <= 5"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: replicalimit-binding-test.example.com}
spec:
  policyName: replicalimit-policy.example.com
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels: {environment: test}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: team-label}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["configmaps"]}
  variables:
  - {name: labels, expression: "has(object.metadata.labels) ? object.metadata.labels : {}"}
  validations:
  - expression: "'team' in variables.labels"
    messageExpression: "'configmap ' + object.metadata.name + ' has no team label'"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: team-label-warn}
spec:
  policyName: team-label
  validationActions: [Warn]
  matchResources:
    namespaceSelector:
      matchLabels: {environment: test}
"#;

const PARAMETERISED: &str = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: param-limit}
spec:
  paramKind: {apiVersion: v1, kind: ConfigMap}
  matchConstraints:
    resourceRules:
    - {apiGroups: ["apps"], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["deployments"]}
  matchConditions:
  - {name: not-skipped, expression: "!object.metadata.name.startsWith('skip-')"}
  validations:
  - expression: "object.spec.replicas <= int(params.data.maxReplicas)"
    message: "too many replicas for this namespace"
    reason: Forbidden
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: param-limit}
spec:
  policyName: param-limit
  validationActions: [Deny]
  paramRef: {name: limits, parameterNotFoundAction: Deny}
  matchResources:
    namespaceSelector:
      matchLabels: {environment: params}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: broken}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["secrets"]}
  validations:
  - expression: "object.data.missing.size() > 0"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: broken}
spec:
  policyName: broken
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels: {environment: params}
"#;

fn apply(cluster: &TestCluster, name: &str, manifest: &str) {
    let path = cluster.scratch().join(name);
    std::fs::write(&path, manifest).unwrap();
    stdout_ok(
        "apply",
        &cluster.kubectl(&["apply", "-f", path.to_str().unwrap()]),
    );
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Waits until the policy set took effect (they are followed from the store).
async fn until_refused(cluster: &TestCluster, args: &[&str]) -> String {
    let refused = eventually(Duration::from_secs(10), || async {
        let out = cluster.kubectl(args);
        (!out.status.success()).then(|| stderr_of(&out))
    })
    .await;
    refused.unwrap_or_else(|| panic!("never refused: kubectl {args:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_deny_warn_and_take_parameters() {
    let cluster = TestCluster::start().await;
    for (ns, env) in [("t", "test"), ("p", "params"), ("free", "prod")] {
        stdout_ok("ns", &cluster.kubectl(&["create", "ns", ns]));
        stdout_ok(
            "label",
            &cluster.kubectl(&["label", "ns", ns, &format!("environment={env}")]),
        );
    }
    apply(&cluster, "limit.yaml", REPLICA_LIMIT);
    let big = [
        "-n",
        "t",
        "create",
        "deployment",
        "big",
        "--image=busybox",
        "--replicas=9",
    ];
    let stderr = until_refused(&cluster, &big).await;
    assert!(
        stderr.contains("deployments.apps \"big\" is forbidden: ValidatingAdmissionPolicy 'replicalimit-policy.example.com' with binding 'replicalimit-binding-test.example.com' denied request: failed expression: object.spec.replicas <= 5"),
        "{stderr}"
    );
    stdout_ok(
        "small",
        &cluster.kubectl(&[
            "-n",
            "t",
            "create",
            "deployment",
            "small",
            "--image=busybox",
            "--replicas=3",
        ]),
    );
    // An update of the object is checked; `kubectl scale` writes deployments/scale, which a
    // rule for `deployments` does not match (upstream's subresource rules).
    let patch = r#"{"spec":{"replicas":8}}"#;
    let out = cluster.kubectl(&["-n", "t", "patch", "deployment", "small", "-p", patch]);
    assert!(!out.status.success(), "an update past the limit: {out:?}");
    let out = cluster.kubectl(&["-n", "t", "scale", "deployment", "small", "--replicas=8"]);
    assert!(out.status.success(), "{out:?}");
    stdout_ok(
        "unbound ns",
        &cluster.kubectl(&[
            "-n",
            "free",
            "create",
            "deployment",
            "big",
            "--image=busybox",
            "--replicas=9",
        ]),
    );

    let out = cluster.kubectl(&["-n", "t", "create", "configmap", "loose"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stderr_of(&out).contains("Warning: Validation failed for ValidatingAdmissionPolicy 'team-label' with binding 'team-label-warn': configmap loose has no team label"),
        "{out:?}"
    );

    apply(&cluster, "params.yaml", PARAMETERISED);
    let three = [
        "-n",
        "p",
        "create",
        "deployment",
        "three",
        "--image=busybox",
        "--replicas=3",
    ];
    let stderr = until_refused(&cluster, &three).await;
    assert!(
        stderr.contains("no params found for policy binding with `Deny` parameterNotFoundAction"),
        "{stderr}"
    );
    stdout_ok(
        "params",
        &cluster.kubectl(&[
            "-n",
            "p",
            "create",
            "configmap",
            "limits",
            "--from-literal=maxReplicas=2",
        ]),
    );
    let deployments: Api<Deployment> = Api::namespaced(cluster.client().await, "p");
    let manifest: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "three"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "three"}},
            "template": {"metadata": {"labels": {"app": "three"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}))
    .unwrap();
    match deployments.create(&PostParams::default(), &manifest).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
            assert!(
                s.message
                    .ends_with("denied request: too many replicas for this namespace"),
                "{}",
                s.message
            );
        }
        other => panic!("expected a 403, got {other:?}"),
    }
    stdout_ok(
        "skip",
        &cluster.kubectl(&[
            "-n",
            "p",
            "create",
            "deployment",
            "skip-me",
            "--image=busybox",
            "--replicas=9",
        ]),
    );
    stdout_ok(
        "raise",
        &cluster.kubectl(&[
            "-n",
            "p",
            "patch",
            "configmap",
            "limits",
            "-p",
            r#"{"data":{"maxReplicas":"4"}}"#,
        ]),
    );
    stdout_ok("now fits", &cluster.kubectl(&three));

    // failurePolicy Fail: an expression that errors denies, with the error.
    let out = cluster.kubectl(&[
        "-n",
        "p",
        "create",
        "secret",
        "generic",
        "s",
        "--from-literal=a=b",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("expression 'object.data.missing.size() > 0' resulted in error"),
        "{out:?}"
    );
    stdout_ok(
        "fail open",
        &cluster.kubectl(&[
            "patch",
            "validatingadmissionpolicy",
            "broken",
            "--type=merge",
            "-p",
            r#"{"spec":{"failurePolicy":"Ignore"}}"#,
        ]),
    );
    let allowed = eventually(Duration::from_secs(10), || async {
        let out = cluster.kubectl(&[
            "-n",
            "p",
            "create",
            "secret",
            "generic",
            "s",
            "--from-literal=a=b",
        ]);
        out.status.success().then_some(())
    })
    .await;
    assert!(
        allowed.is_some(),
        "failurePolicy Ignore did not let the secret in"
    );
    let listed = stdout_ok(
        "get",
        &cluster.kubectl(&[
            "get",
            "validatingadmissionpolicies,validatingadmissionpolicybindings",
        ]),
    );
    assert!(
        listed.contains("replicalimit-policy.example.com") && listed.contains("param-limit"),
        "{listed}"
    );
}
