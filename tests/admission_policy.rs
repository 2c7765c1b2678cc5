//! ValidatingAdmissionPolicy end to end, through kubectl as the upstream documentation's
//! example goes: a policy bound by namespace label denies a Deployment with upstream's
//! message, a Warn binding prints kubectl warnings (messageExpression and variables), a
//! parameterised policy reads its limit from a ConfigMap (matchConditions, reasons and codes),
//! and a broken expression fails closed or open as its failurePolicy says. The `Audit` action
//! and `auditAnnotations` reach the audit log; invalid policies and bindings are refused with
//! upstream's field paths; expressions naming fields the kind lacks are reported in
//! `status.typeChecking`.

mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, PostParams};
use serde_json::Value;
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

const AUDITED: &str = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: audited-keys}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["configmaps"]}
  validations:
  - expression: "true"
  - expression: "!has(object.data) || size(object.data) <= 1"
    message: "at most one key"
  auditAnnotations:
  - {key: keys, valueExpression: "'keys: ' + string(has(object.data) ? size(object.data) : 0)"}
  - {key: never, valueExpression: "null"}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: audited-keys-binding}
spec:
  policyName: audited-keys
  validationActions: [Audit]
  matchResources:
    namespaceSelector:
      matchLabels: {audit: "yes"}
"#;

const AUDIT_POLICY: &str = r#"
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  resources: [{group: "", resources: ["configmaps"]}]
- level: None
"#;

/// The `Audit` action records the failure in the request's audit event (the write goes
/// through), and the policy's audit annotations are there under `<policy>/<key>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_action_and_annotations_reach_the_audit_log() {
    let (options, log, _audit_dir) = support::audit::options(AUDIT_POLICY);
    let cluster = TestCluster::start_with(options).await;
    stdout_ok("ns", &cluster.kubectl(&["create", "ns", "audited"]));
    stdout_ok(
        "label",
        &cluster.kubectl(&["label", "ns", "audited", "audit=yes"]),
    );
    apply(&cluster, "audited.yaml", AUDITED);
    // The policy is followed from the store: create until a create's event is annotated.
    let mut attempt = 0;
    let annotated = eventually(Duration::from_secs(15), || {
        attempt += 1;
        let name = format!("two-{attempt}");
        let out = cluster.kubectl(&[
            "-n",
            "audited",
            "create",
            "configmap",
            &name,
            "--from-literal=a=1",
            "--from-literal=b=2",
        ]);
        assert!(out.status.success(), "Audit alone never refuses: {out:?}");
        let log = log.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            support::audit::events(&log).into_iter().find(|e| {
                e["verb"] == "create"
                    && e["objectRef"]["name"] == name.as_str()
                    && e["annotations"]["audited-keys/keys"].is_string()
            })
        }
    })
    .await
    .expect("an annotated create in the audit log");
    let annotations = &annotated["annotations"];
    assert_eq!(annotated["level"], "Metadata");
    assert_eq!(annotations["audited-keys/keys"], "keys: 2", "{annotated}");
    assert!(
        annotations.get("audited-keys/never").is_none(),
        "a null value is omitted: {annotated}"
    );
    let failure = annotations["validation.policy.admission.k8s.io/validation_failure"]
        .as_str()
        .unwrap_or_else(|| panic!("no validation_failure: {annotated}"));
    let failure: Value = serde_json::from_str(failure).unwrap();
    assert_eq!(
        failure,
        serde_json::json!([{"message": "at most one key", "policy": "audited-keys",
            "binding": "audited-keys-binding", "expressionIndex": 1,
            "validationActions": ["Audit"]}])
    );

    // A passing create is annotated but records no failure; an unbound namespace neither.
    stdout_ok(
        "one key",
        &cluster.kubectl(&[
            "-n",
            "audited",
            "create",
            "configmap",
            "one",
            "--from-literal=a=1",
        ]),
    );
    stdout_ok(
        "unbound",
        &cluster.kubectl(&[
            "create",
            "configmap",
            "elsewhere",
            "--from-literal=a=1",
            "--from-literal=b=2",
        ]),
    );
    let all = eventually(Duration::from_secs(10), || async {
        let all = support::audit::events(&log);
        let seen = |n: &str| {
            all.iter()
                .any(|e| e["verb"] == "create" && e["objectRef"]["name"] == n)
        };
        (seen("one") && seen("elsewhere")).then_some(all)
    })
    .await
    .expect("both creates audited");
    let event = |n: &str| {
        all.iter()
            .find(|e| e["verb"] == "create" && e["objectRef"]["name"] == n)
            .unwrap()
    };
    assert_eq!(event("one")["annotations"]["audited-keys/keys"], "keys: 1");
    assert!(event("one")["annotations"]
        .get("validation.policy.admission.k8s.io/validation_failure")
        .is_none());
    assert!(
        event("elsewhere").get("annotations").is_none(),
        "{}",
        event("elsewhere")
    );
}

const BAD_POLICY: &str = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: bad-annotations}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["configmaps"]}
  auditAnnotations:
  - {key: "not a key", valueExpression: "'x'"}
  - {key: fine, valueExpression: "object.metadata.name +"}
"#;

const BAD_BINDING: &str = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: deny-and-warn}
spec:
  policyName: anything
  validationActions: [Deny, Warn, Deny]
  matchResources:
    matchPolicy: Sometimes
    namespaceSelector:
      matchExpressions: [{key: env, operator: In, values: []}]
    resourceRules:
    - {apiGroups: ["*", "apps"], apiVersions: ["v1"], operations: ["CREATE", "PATCH"], resources: ["*", "deployments"]}
"#;

const TYPOS: &str = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: typos}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: ["apps"], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["deployments"]}
  validations:
  - expression: "object.spec.replicass <= 5"
  - expression: "object.spec.template.spec.containers.all(c, c.image != '')"
"#;

fn refused(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "not refused: {out:?}");
    stderr_of(out)
}

/// Invalid policies and bindings are refused with upstream's causes and nothing is written;
/// a policy's expressions are type-checked against the matched kinds into its status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_are_validated_and_type_checked() {
    let cluster = TestCluster::start().await;
    let write = |name: &str, manifest: &str| {
        let path = cluster.scratch().join(name);
        std::fs::write(&path, manifest).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let bad = write("bad.yaml", BAD_POLICY);
    let stderr = refused(&cluster.kubectl(&["apply", "-f", &bad]));
    assert!(
        stderr.contains("\"bad-annotations\" is invalid"),
        "{stderr}"
    );
    assert!(
        stderr.contains("spec.auditAnnotations[0].key: Invalid value: \"bad-annotations/not a key\": name part must consist of alphanumeric characters"),
        "{stderr}"
    );
    assert!(
        stderr.contains("spec.auditAnnotations[1].valueExpression: Invalid value: \"object.metadata.name +\": compilation failed"),
        "{stderr}"
    );
    let empty = BAD_POLICY.split("  auditAnnotations:").next().unwrap();
    let stderr = refused(&cluster.kubectl(&["apply", "-f", &write("empty.yaml", empty)]));
    assert!(
        stderr.contains("spec.validations: Required value: validations or auditAnnotations must contain at least one item"),
        "{stderr}"
    );
    let binding = write("binding.yaml", BAD_BINDING);
    let stderr = refused(&cluster.kubectl(&["apply", "-f", &binding]));
    assert!(
        stderr.contains("spec.validationActions[2]: Duplicate value: \"Deny\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("spec.validationActions: Invalid value: []admissionregistration.ValidationAction{\"Deny\", \"Warn\", \"Deny\"}: must not contain both Deny and Warn"),
        "{stderr}"
    );
    for cause in [
        "spec.matchResources.matchPolicy: Unsupported value: \"Sometimes\": supported values: \"Equivalent\", \"Exact\"",
        "spec.matchResources.namespaceSelector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
        "spec.matchResources.resourceRules[0].operations[1]: Unsupported value: \"PATCH\"",
        "spec.matchResources.resourceRules[0].apiGroups: Invalid value: []string{\"*\", \"apps\"}: if '*' is present, must not specify other API groups",
        "spec.matchResources.resourceRules[0].resources: Invalid value: []string{\"*\", \"deployments\"}: if '*' is present, must not specify other resources without subresources",
    ] {
        assert!(stderr.contains(cause), "{cause}\n{stderr}");
    }
    let out = cluster.kubectl(&[
        "get",
        "validatingadmissionpolicies,validatingadmissionpolicybindings",
        "-o",
        "name",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "",
        "nothing was written"
    );

    // Type checking: the typo is reported against Deployment's schema, the rest is not.
    apply(&cluster, "typos.yaml", TYPOS);
    let status_at = |generation: i64| {
        let cluster = &cluster;
        async move {
            let out = cluster.kubectl(&["get", "validatingadmissionpolicy", "typos", "-o", "json"]);
            let policy: Value = serde_json::from_slice(&out.stdout).ok()?;
            (policy["status"]["observedGeneration"] == generation).then(|| policy["status"].clone())
        }
    };
    let status = eventually(Duration::from_secs(15), || status_at(1))
        .await
        .expect("status.observedGeneration 1");
    let warnings = status["typeChecking"]["expressionWarnings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(warnings.len(), 1, "{status:#}");
    assert_eq!(warnings[0]["fieldRef"], "spec.validations[0].expression");
    assert_eq!(
        warnings[0]["warning"],
        "apps/v1, Kind=Deployment: ERROR: <input>:1:12: undefined field 'replicass'\n | object.spec.replicass <= 5\n | ...........^"
    );
    let yaml = stdout_ok(
        "yaml",
        &cluster.kubectl(&["get", "validatingadmissionpolicy", "typos", "-o", "yaml"]),
    );
    assert!(
        yaml.contains("typeChecking:") && yaml.contains("observedGeneration: 1"),
        "{yaml}"
    );

    // Fixing the expression is a new generation, checked clean.
    apply(
        &cluster,
        "typos.yaml",
        &TYPOS.replace("replicass", "replicas"),
    );
    let status = eventually(Duration::from_secs(15), || status_at(2))
        .await
        .expect("status.observedGeneration 2");
    assert!(
        status["typeChecking"].get("expressionWarnings").is_none(),
        "{status:#}"
    );
}
