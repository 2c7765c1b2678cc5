//! MutatingAdmissionPolicy end to end: kubectl applies policies and bindings that set replicas
//! and a label (ApplyConfiguration) and an annotation (JSONPatch) on Deployments in labelled
//! namespaces; others are untouched; a parameterised policy reads replicas from a ConfigMap;
//! an IfNeeded policy is reinvoked after a later one changed the object; failurePolicy Fail
//! refuses and Ignore admits; a bad policy is refused with upstream's 422. Then upstream's
//! conformance specs (`test/e2e/apimachinery/mutatingadmissionpolicy.go`) re-expressed with
//! kube-rs: "mutate a Deployment" with and without annotations, and the API operations of both
//! kinds (discovery, create, get, list, watch, patch, update, delete, deletecollection).

mod support;

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::admissionregistration::v1::{
    MutatingAdmissionPolicy, MutatingAdmissionPolicyBinding,
};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent};
use serde_json::{json, Value};
use support::{eventually, stdout_ok, TestCluster};

const POLICIES: &str = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: replicas-and-label}
spec:
  reinvocationPolicy: Never
  matchConstraints:
    resourceRules:
    - {apiGroups: ["apps"], apiVersions: ["v1"], operations: ["CREATE"], resources: ["deployments"]}
  mutations:
  - patchType: ApplyConfiguration
    applyConfiguration:
      expression: >
        Object{spec: Object.spec{replicas: 3},
          metadata: Object.metadata{labels: {"mutated-by": "map"}}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata: {name: b-replicas}
spec:
  policyName: replicas-and-label
  matchResources:
    namespaceSelector:
      matchLabels: {environment: test}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: seen}
spec:
  reinvocationPolicy: IfNeeded
  matchConstraints:
    resourceRules:
    - {apiGroups: ["apps"], apiVersions: ["v1"], operations: ["CREATE"], resources: ["deployments"]}
  mutations:
  - patchType: ApplyConfiguration
    applyConfiguration:
      expression: >
        Object{metadata: Object.metadata{labels: {"replicas-seen": string(object.spec.replicas)}}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata: {name: a-seen}
spec:
  policyName: seen
  matchResources:
    namespaceSelector:
      matchLabels: {environment: test}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: annotate}
spec:
  reinvocationPolicy: Never
  matchConstraints:
    resourceRules:
    - {apiGroups: ["apps"], apiVersions: ["v1"], operations: ["CREATE"], resources: ["deployments"]}
  variables:
  - {name: key, expression: "'example.com/patched'"}
  mutations:
  - patchType: JSONPatch
    jsonPatch:
      expression: >
        has(object.metadata.annotations)
        ? [JSONPatch{op: "add", path: "/metadata/annotations/" + jsonpatch.escapeKey(variables.key), value: "yes"}]
        : [JSONPatch{op: "add", path: "/metadata/annotations", value: {"example.com/patched": "yes"}}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata: {name: c-annotate}
spec:
  policyName: annotate
  matchResources:
    namespaceSelector:
      matchLabels: {environment: test}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: param-replicas}
spec:
  reinvocationPolicy: Never
  paramKind: {apiVersion: v1, kind: ConfigMap}
  matchConstraints:
    resourceRules:
    - {apiGroups: ["apps"], apiVersions: ["v1"], operations: ["CREATE"], resources: ["deployments"]}
  matchConditions:
  - {name: not-skipped, expression: "!object.metadata.name.startsWith('skip-')"}
  mutations:
  - patchType: ApplyConfiguration
    applyConfiguration:
      expression: "Object{spec: Object.spec{replicas: int(params.data.replicas)}}"
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata: {name: param-replicas}
spec:
  policyName: param-replicas
  paramRef: {name: replicas, parameterNotFoundAction: Deny}
  matchResources:
    namespaceSelector:
      matchLabels: {environment: params}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: broken-fail}
spec:
  failurePolicy: Fail
  reinvocationPolicy: Never
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["configmaps"]}
  mutations:
  - patchType: ApplyConfiguration
    applyConfiguration: {expression: "Object{data: {'copy': object.data.missing}}"}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata: {name: broken-fail}
spec:
  policyName: broken-fail
  matchResources:
    namespaceSelector:
      matchLabels: {environment: test}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: broken-ignore}
spec:
  failurePolicy: Ignore
  reinvocationPolicy: Never
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["secrets"]}
  mutations:
  - patchType: JSONPatch
    jsonPatch: {expression: "[JSONPatch{op: 'remove', path: '/nope'}]"}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata: {name: broken-ignore}
spec:
  policyName: broken-ignore
  matchResources:
    namespaceSelector:
      matchLabels: {environment: test}
"#;

const BAD_POLICY: &str = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: bad}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: ["apps"], apiVersions: ["v1"], operations: ["DELETE"], resources: ["deployments"]}
  mutations:
  - patchType: JSONPatch
    applyConfiguration: {expression: "Object{}"}
"#;

fn write(cluster: &TestCluster, name: &str, manifest: &str) -> String {
    let path = cluster.scratch().join(name);
    std::fs::write(&path, manifest).unwrap();
    path.to_str().unwrap().to_owned()
}

fn kubectl_json(cluster: &TestCluster, args: &[&str]) -> Value {
    let out = stdout_ok("kubectl get", &cluster.kubectl(args));
    serde_json::from_str(&out).unwrap()
}

/// Creates the Deployment `name` until the policies (followed from the store) have mutated it
/// as `mutated` says; the last object created.
async fn create_until(
    deployments: &Api<Deployment>,
    name: &str,
    mutated: impl Fn(&Value) -> bool,
) -> Value {
    let found = eventually(Duration::from_secs(20), || async {
        let created = deployments
            .create(&PostParams::default(), &deployment(name, 1))
            .await
            .unwrap();
        let created = serde_json::to_value(created).unwrap();
        if mutated(&created) {
            return Some(created);
        }
        deployments
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
        None
    })
    .await;
    found.unwrap_or_else(|| panic!("deployment {name} was never mutated"))
}

fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "nginx"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "nginx"}},
            "template": {"metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:latest"}]}}}
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_mutate_deployments_through_kubectl() {
    let cluster = TestCluster::start().await;
    let client = cluster.client().await;
    for (ns, env) in [("mutated", "test"), ("plain", "prod"), ("params", "params")] {
        stdout_ok("create ns", &cluster.kubectl(&["create", "namespace", ns]));
        let label = format!("environment={env}");
        stdout_ok(
            "label ns",
            &cluster.kubectl(&["label", "namespace", ns, &label]),
        );
    }
    let path = write(&cluster, "policies.yaml", POLICIES);
    stdout_ok("apply", &cluster.kubectl(&["apply", "-f", &path]));
    let table = stdout_ok(
        "get",
        &cluster.kubectl(&["get", "mutatingadmissionpolicies", "param-replicas"]),
    );
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "MUTATIONS", "PARAMKIND", "AGE"]);
    assert!(table.contains("v1/ConfigMap"), "{table}");
    let table = stdout_ok(
        "get",
        &cluster.kubectl(&["get", "mutatingadmissionpolicybindings", "param-replicas"]),
    );
    assert!(table.contains("*/replicas"), "{table}");

    // ApplyConfiguration and JSONPatch, with the IfNeeded policy reinvoked after the
    // replicas changed.
    let mutated: Api<Deployment> = Api::namespaced(client.clone(), "mutated");
    let all_applied = |d: &Value| {
        d["spec"]["replicas"] == 3
            && d["metadata"]["labels"]["replicas-seen"].is_string()
            && d["metadata"]["annotations"]["example.com/patched"].is_string()
    };
    let web = create_until(&mutated, "web", all_applied).await;
    assert_eq!(web["metadata"]["labels"]["mutated-by"], "map", "{web}");
    assert_eq!(web["metadata"]["labels"]["replicas-seen"], "3", "{web}");
    assert_eq!(web["metadata"]["labels"]["app"], "nginx", "{web}");
    assert_eq!(
        web["metadata"]["annotations"]["example.com/patched"], "yes",
        "{web}"
    );
    let stored = kubectl_json(
        &cluster,
        &["get", "deploy", "web", "-n", "mutated", "-o", "json"],
    );
    assert_eq!(stored["spec"]["replicas"], 3);
    // kubectl's create (no annotations yet) goes through the other JSONPatch branch too.
    stdout_ok(
        "create deploy",
        &cluster.kubectl(&[
            "create",
            "deployment",
            "cli",
            "--image=busybox",
            "-n",
            "mutated",
        ]),
    );
    let cli = kubectl_json(
        &cluster,
        &["get", "deploy", "cli", "-n", "mutated", "-o", "json"],
    );
    assert_eq!(cli["spec"]["replicas"], 3, "{cli}");
    assert_eq!(cli["metadata"]["annotations"]["example.com/patched"], "yes");

    // A namespace no binding selects is untouched.
    let plain: Api<Deployment> = Api::namespaced(client.clone(), "plain");
    let untouched = plain
        .create(&PostParams::default(), &deployment("web", 1))
        .await
        .unwrap();
    let untouched = serde_json::to_value(untouched).unwrap();
    assert_eq!(untouched["spec"]["replicas"], 1);
    assert!(untouched["metadata"]["labels"].get("mutated-by").is_none());

    // Parameters: without the ConfigMap the binding denies; with it, its replicas apply;
    // a match condition skips the policy.
    let params: Api<Deployment> = Api::namespaced(client.clone(), "params");
    let refused = eventually(Duration::from_secs(20), || async {
        match params
            .create(&PostParams::default(), &deployment("web", 1))
            .await
        {
            Err(kube::Error::Api(status)) => Some(status),
            Err(other) => panic!("{other:?}"),
            Ok(_) => {
                let gone = params.delete("web", &DeleteParams::default()).await;
                gone.unwrap();
                None
            }
        }
    })
    .await;
    let status = refused.expect("the parameterised binding never refused");
    assert_eq!(status.code, 403);
    assert!(
        status.message.starts_with(
            "policy 'param-replicas' with binding 'param-replicas' denied request: no params found"
        ),
        "{status:?}"
    );
    stdout_ok(
        "create cm",
        &cluster.kubectl(&[
            "create",
            "configmap",
            "replicas",
            "-n",
            "params",
            "--from-literal=replicas=4",
        ]),
    );
    let web = create_until(&params, "web", |d| d["spec"]["replicas"] == 4).await;
    assert_eq!(web["spec"]["replicas"], 4);
    let skipped = params
        .create(&PostParams::default(), &deployment("skip-me", 1))
        .await
        .unwrap();
    assert_eq!(skipped.spec.unwrap().replicas, Some(1));

    // failurePolicy: Fail refuses with upstream's message, Ignore admits.
    let out = cluster.kubectl(&["create", "configmap", "c", "-n", "mutated"]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success());
    assert!(
        stderr.contains("policy 'broken-fail' with binding 'broken-fail' denied request: expression 'Object{data: {'copy': object.data.missing}}' resulted in error"),
        "{stderr}"
    );
    stdout_ok(
        "create secret",
        &cluster.kubectl(&["create", "secret", "generic", "s", "-n", "mutated"]),
    );

    // A bad policy is refused with upstream's field errors and nothing is written.
    let path = write(&cluster, "bad.yaml", BAD_POLICY);
    let out = cluster.kubectl(&["apply", "-f", &path]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success());
    for expected in [
        "The MutatingAdmissionPolicy \"bad\" is invalid: ",
        "spec.matchConstraints.resourceRules.operations: Unsupported value: \"DELETE\": supported values: \"*\", \"CREATE\", \"UPDATE\"",
        "spec.mutations[0].jsonPatch: Required value: must be specified when patchType is JSONPatch",
        "spec.reinvocationPolicy: Required value",
    ] {
        assert!(stderr.contains(expected), "{expected} not in {stderr}");
    }
    let out = cluster.kubectl(&["get", "mutatingadmissionpolicy", "bad"]);
    assert!(!out.status.success());
}

/// How a mutated Deployment is recognised.
type Check = fn(&Value) -> bool;

/// Upstream's "should mutate a Deployment" and "… with annotations" specs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_mutate_a_deployment() {
    let cluster = TestCluster::start().await;
    let client = cluster.client().await;
    support::objects::namespace(&client, "e2e-map").await;
    stdout_ok(
        "label ns",
        &cluster.kubectl(&["label", "namespace", "e2e-map", "e2e-map-unique=true"]),
    );
    let policies: Api<MutatingAdmissionPolicy> = Api::all(client.clone());
    let bindings: Api<MutatingAdmissionPolicyBinding> = Api::all(client.clone());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "e2e-map");
    let cases: [(&str, &str, Check); 2] = [
        (
            "replicas",
            "Object{spec: Object.spec{replicas: 1337}}",
            |d| d["spec"]["replicas"] == 1337,
        ),
        (
            "annotations",
            r#"Object{ metadata: Object.metadata{ annotations: { "mutated-by": "admission-policy" } } }"#,
            |d| d["metadata"]["annotations"]["mutated-by"] == "admission-policy",
        ),
    ];
    for (name, expression, mutated) in cases {
        let policy = json!({"metadata": {"name": name}, "spec": {
            "reinvocationPolicy": "Never",
            "matchConstraints": {
                "namespaceSelector": {"matchLabels": {"e2e-map-unique": "true"}},
                "resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                    "resources": ["deployments"], "operations": ["CREATE", "UPDATE"]}]},
            "mutations": [{"patchType": "ApplyConfiguration",
                "applyConfiguration": {"expression": expression}}]}});
        let created = policies
            .create(
                &PostParams::default(),
                &serde_json::from_value(policy).unwrap(),
            )
            .await
            .unwrap();
        let spec = created.spec.unwrap();
        assert_eq!(spec.failure_policy.as_deref(), Some("Fail"));
        let binding = json!({"metadata": {"name": name}, "spec": {"policyName": name,
            "matchResources": {"namespaceSelector": {"matchLabels": {"e2e-map-unique": "true"}}}}});
        bindings
            .create(
                &PostParams::default(),
                &serde_json::from_value(binding).unwrap(),
            )
            .await
            .unwrap();
        create_until(&deployments, &format!("marker-{name}"), mutated).await;
        bindings
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
        policies
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }
}

/// Upstream's "should support MutatingAdmissionPolicy API operations" and the binding's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_api_operations() {
    let cluster = TestCluster::start().await;
    let client = cluster.client().await;
    let http = cluster.http();
    let get = |path: &str| {
        let url = format!("{}{path}", cluster.base_url());
        let http = http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            assert!(r.status().is_success());
            r.json::<Value>().await.unwrap()
        }
    };
    let groups = get("/apis").await;
    let group = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "admissionregistration.k8s.io")
        .expect("admissionregistration.k8s.io in /apis");
    assert!(group["versions"].to_string().contains("\"v1\""));
    let resources = get("/apis/admissionregistration.k8s.io/v1").await;
    let names: Vec<&str> = resources["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(names.contains(&"mutatingadmissionpolicies"), "{names:?}");
    assert!(
        names.contains(&"mutatingadmissionpolicybindings"),
        "{names:?}"
    );

    let label = "example-e2e-map-label=ops";
    let policy = json!({"metadata": {"generateName": "e2e-example-map-",
        "labels": {"example-e2e-map-label": "ops"}},
        "spec": {"reinvocationPolicy": "Never",
            "matchConstraints": {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                "resources": ["deployments"], "operations": ["CREATE", "UPDATE"]}]},
            "mutations": [{"patchType": "ApplyConfiguration",
                "applyConfiguration": {"expression": "Object{spec: Object.spec{replicas: 100}}"}}]}});
    let api: Api<MutatingAdmissionPolicy> = Api::all(client.clone());
    let patch = json!({"metadata": {"annotations": {"patched": "true"}},
        "spec": {"reinvocationPolicy": "IfNeeded"}});
    api_operations(
        &api,
        policy,
        label,
        patch,
        |p: &mut MutatingAdmissionPolicy| {
            let spec = p.spec.as_mut().unwrap();
            assert_eq!(spec.reinvocation_policy.as_deref(), Some("IfNeeded"));
            spec.reinvocation_policy = Some("Never".into());
        },
    )
    .await;

    let binding = json!({"metadata": {"generateName": "e2e-example-mapb-",
        "labels": {"example-e2e-map-label": "ops"}},
        "spec": {"policyName": "replicalimit-policy.example.com",
            "matchResources": {"namespaceSelector": {"matchLabels": {"a": "b"}}}}});
    let api: Api<MutatingAdmissionPolicyBinding> = Api::all(client.clone());
    let patch = json!({"metadata": {"annotations": {"patched": "true"}}});
    api_operations(
        &api,
        binding,
        label,
        patch,
        |b: &mut MutatingAdmissionPolicyBinding| {
            b.spec.as_mut().unwrap().policy_name = Some("other-policy".into());
        },
    )
    .await;
}

/// Create three, get, list, watch from the list, merge-patch, update, see the patch in the
/// watch, delete one, delete the collection: as upstream's API operation specs.
async fn api_operations<K>(
    api: &Api<K>,
    template: Value,
    label: &str,
    patch: Value,
    update: impl Fn(&mut K),
) where
    K: kube::Resource
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + serde::Serialize
        + Send
        + 'static,
{
    let object: K = serde_json::from_value(template).unwrap();
    let mut created = Vec::new();
    for _ in 0..3 {
        created.push(api.create(&PostParams::default(), &object).await.unwrap());
    }
    let name = created[0].meta().name.clone().unwrap();
    let read = api.get(&name).await.unwrap();
    assert_eq!(read.meta().uid, created[0].meta().uid);
    let list = api
        .list(&ListParams::default().labels(label))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 3);
    let version = list.metadata.resource_version.clone().unwrap();
    let watch_params = kube::api::WatchParams::default().labels(label);
    let mut events = api.watch(&watch_params, &version).await.unwrap().boxed();
    let patched = api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let annotations = patched.meta().annotations.clone().unwrap_or_default();
    assert_eq!(annotations.get("patched").map(String::as_str), Some("true"));
    let rv = |o: &K| {
        o.meta()
            .resource_version
            .clone()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert!(rv(&patched) > rv(&read));
    let mut to_update = api.get(&name).await.unwrap();
    update(&mut to_update);
    to_update
        .meta_mut()
        .annotations
        .get_or_insert_with(Default::default)
        .insert("updated".into(), "true".into());
    let updated = api
        .replace(&name, &PostParams::default(), &to_update)
        .await
        .unwrap();
    assert_eq!(
        updated.meta().annotations.as_ref().unwrap()["updated"],
        "true"
    );
    let saw_patch = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = events.try_next().await.unwrap() {
            match event {
                WatchEvent::Modified(o)
                    if o.meta()
                        .annotations
                        .as_ref()
                        .is_some_and(|a| a.contains_key("patched")) =>
                {
                    return true
                }
                WatchEvent::Modified(_) => {}
                other => panic!("unexpected watch event {other:?}"),
            }
        }
        false
    })
    .await;
    assert_eq!(saw_patch, Ok(true));
    api.delete(&name, &DeleteParams::default()).await.unwrap();
    let gone = api.get(&name).await.unwrap_err();
    assert!(
        matches!(gone, kube::Error::Api(ref s) if s.code == 404),
        "{gone:?}"
    );
    let list = api
        .list(&ListParams::default().labels(label))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 2);
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels(label),
    )
    .await
    .unwrap();
    let list = api
        .list(&ListParams::default().labels(label))
        .await
        .unwrap();
    assert!(list.items.is_empty());
}

/// client-go (upstream's e2e clients among them) writes in protobuf: a v1 policy and binding
/// created with protobuf bodies and read back in protobuf, as upstream's "API operations" specs
/// do. k8s-pb predates the v1 kinds; the server uses their v1beta1 messages, which v1 kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_bodies_for_the_v1_kinds() {
    const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";
    let cluster = TestCluster::start().await;
    let http = cluster.http();
    let base = format!(
        "{}/apis/admissionregistration.k8s.io/v1",
        cluster.base_url()
    );
    let objects = [
        (
            "mutatingadmissionpolicies",
            json!({"apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "MutatingAdmissionPolicy", "metadata": {"name": "proto-policy"},
                "spec": {"failurePolicy": "Fail", "reinvocationPolicy": "Never",
                    "matchConstraints": {"resourceRules": [{"apiGroups": ["apps"],
                        "apiVersions": ["v1"], "operations": ["CREATE"],
                        "resources": ["deployments"]}]},
                    "mutations": [{"patchType": "ApplyConfiguration", "applyConfiguration":
                        {"expression": "Object{metadata: Object.metadata{labels: {'proto': 'yes'}}}"}}]}}),
        ),
        (
            "mutatingadmissionpolicybindings",
            json!({"apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "MutatingAdmissionPolicyBinding", "metadata": {"name": "proto-binding"},
                "spec": {"policyName": "proto-policy"}}),
        ),
    ];
    for (resource, object) in objects {
        let body = ferrokube_protobuf::encode(&object).expect("encode");
        let resp = http
            .post(format!("{base}/{resource}"))
            .header("content-type", PROTOBUF)
            .header("accept", PROTOBUF)
            .body(body)
            .send()
            .await
            .expect("post");
        let status = resp.status();
        let bytes = resp.bytes().await.expect("body");
        assert_eq!(
            status,
            201,
            "{resource}: {}",
            String::from_utf8_lossy(&bytes)
        );
        let created = ferrokube_protobuf::decode(&bytes).expect("a protobuf answer");
        assert_eq!(created["metadata"]["name"], object["metadata"]["name"]);
        assert_eq!(created["kind"], object["kind"]);
        assert_eq!(created["spec"], {
            let mut spec = object["spec"].clone();
            if resource == "mutatingadmissionpolicies" {
                // What the server defaults.
                spec["matchConstraints"]["matchPolicy"] = json!("Equivalent");
                spec["matchConstraints"]["namespaceSelector"] = json!({});
                spec["matchConstraints"]["objectSelector"] = json!({});
            }
            spec
        });
        let list = http
            .get(format!("{base}/{resource}"))
            .header("accept", PROTOBUF)
            .send()
            .await
            .expect("list");
        assert_eq!(list.status(), 200);
        let list = ferrokube_protobuf::decode(&list.bytes().await.unwrap()).expect("a list");
        assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    }
}
