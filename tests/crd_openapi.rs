//! CRD schemas in `/openapi/v2` (JSON and gnostic protobuf) and `/openapi/v3`, followed live as
//! the CRD changes, through real clients: kubectl's v2 explain (protobuf), its v3 explain, and
//! `create --validate=strict`; a version renamed or no longer served takes its definition with
//! it. And defaults added to a CRD's schema show on objects stored before them, on every read
//! (kube-rs get, list, watch and create), as upstream's storage decoder applies them.

mod support;

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::core::GroupVersionKind;
use serde_json::{json, Value};
use support::{eventually, stdout_ok, TestCluster};

const GADGETS: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.openapi.example.com}
spec:
  group: openapi.example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    selectableFields: [{jsonPath: .spec.name}]
    schema:
      openAPIV3Schema:
        description: Gadget CRD for testing
        type: object
        properties:
          spec:
            description: Specification of the Gadget
            type: object
            required: [name]
            properties:
              name: {description: Name of the gadget., type: string}
              size: {description: Size in parts., type: integer}
              note: {description: Optional note., type: string, nullable: true}
  - name: v2
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
";

const V1: &str = "com.example.openapi.v1.Gadget";
const V2: &str = "com.example.openapi.v2.Gadget";
const V3: &str = "com.example.openapi.v3.Gadget";

/// The `/openapi/v2` definitions, as JSON.
async fn v2_definitions(cluster: &TestCluster) -> Value {
    let doc: Value = cluster
        .http()
        .get(format!("{}/openapi/v2", cluster.base_url()))
        .header("Accept", "application/json")
        .send()
        .await
        .expect("GET /openapi/v2")
        .json()
        .await
        .expect("v2 JSON");
    doc["definitions"].clone()
}

/// Waits until `check` holds on the v2 definitions, returning them.
async fn v2_until(cluster: &TestCluster, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    eventually(Duration::from_secs(20), || async {
        Some(v2_definitions(cluster).await).filter(|d| check(d))
    })
    .await
    .unwrap_or_else(|| panic!("/openapi/v2 never got {what}"))
}

fn kubectl_ok(cluster: &TestCluster, args: &[&str]) -> String {
    stdout_ok(
        &format!("kubectl {}", args.join(" ")),
        &cluster.kubectl(args),
    )
}

fn patch_crd(cluster: &TestCluster, patch: &str) {
    kubectl_ok(
        cluster,
        &[
            "patch",
            "crd",
            "gadgets.openapi.example.com",
            "--type=json",
            "-p",
            patch,
        ],
    );
}

/// Both versions published with the upstream v2 reductions; protobuf served too.
async fn published(cluster: &TestCluster) {
    let defs = v2_until(cluster, "both Gadget versions", |d| {
        d.get(V1).is_some() && d.get(V2).is_some()
    })
    .await;
    let v1 = &defs[V1];
    assert_eq!(v1["description"], "Gadget CRD for testing");
    assert_eq!(
        v1["x-kubernetes-group-version-kind"],
        json!([{"group": "openapi.example.com", "kind": "Gadget", "version": "v1"}])
    );
    assert_eq!(
        v1["properties"]["metadata"]["$ref"],
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert_eq!(v1["properties"]["spec"]["required"], json!(["name"]));
    assert_eq!(
        v1["x-kubernetes-selectable-fields"],
        json!([{"fieldPath": "spec.name"}])
    );
    // v2 has no nullable: the property is left untyped.
    assert_eq!(
        v1["properties"]["spec"]["properties"]["note"],
        json!({"description": "Optional note."})
    );
    // A root preserving unknown fields is a bare object in v2 ...
    assert_eq!(
        defs[V2],
        json!({"type": "object", "x-kubernetes-group-version-kind":
            [{"group": "openapi.example.com", "kind": "Gadget", "version": "v2"}]})
    );
    // ... and keeps its schema in v3.
    let v3: Value = cluster
        .http()
        .get(format!(
            "{}/openapi/v3/apis/openapi.example.com/v2",
            cluster.base_url()
        ))
        .send()
        .await
        .expect("GET v3")
        .json()
        .await
        .expect("v3 JSON");
    assert_eq!(
        v3["components"]["schemas"][V2]["x-kubernetes-preserve-unknown-fields"],
        true
    );
    let resp = cluster
        .http()
        .get(format!("{}/openapi/v2", cluster.base_url()))
        .header(
            "Accept",
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
        )
        .send()
        .await
        .expect("GET /openapi/v2 protobuf");
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .contains("protobuf"));
    let body = resp.bytes().await.expect("protobuf body");
    assert!(body.windows(V1.len()).any(|w| w == V1.as_bytes()));
}

/// kubectl reads the schema through both documents and validates against it.
fn kubectl_uses_the_schema(cluster: &TestCluster) {
    let v2 = kubectl_ok(
        cluster,
        &[
            "explain",
            "--output",
            "plaintext-openapiv2",
            "--api-version=openapi.example.com/v1",
            "gadgets.spec",
        ],
    );
    for expected in [
        "Specification of the Gadget",
        "size",
        "<integer>",
        "Size in parts.",
    ] {
        assert!(v2.contains(expected), "{expected:?} missing from:\n{v2}");
    }
    // v2 is the preferred version (kube-aware ordering), so v1 is asked for by name.
    let v3 = kubectl_ok(
        cluster,
        &["explain", "--api-version=openapi.example.com/v1", "gadgets"],
    );
    for expected in ["Gadget CRD for testing", "spec", "<Object>"] {
        assert!(v3.contains(expected), "{expected:?} missing from:\n{v3}");
    }
    let unknown = cluster.scratch().join("unknown.yaml");
    std::fs::write(
        &unknown,
        "apiVersion: openapi.example.com/v1\nkind: Gadget\nmetadata: {name: g1, namespace: default}\nspec: {name: a, bogus: 1}\n",
    )
    .expect("write gadget");
    let path = unknown.display().to_string();
    let out = cluster.kubectl(&["create", "--validate=strict", "-f", &path]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "unknown field accepted");
    assert!(stderr.contains(r#"unknown field "spec.bogus""#), "{stderr}");
    let ok = cluster.scratch().join("ok.yaml");
    std::fs::write(
        &ok,
        "apiVersion: openapi.example.com/v1\nkind: Gadget\nmetadata: {name: g1, namespace: default}\nspec: {name: a, size: 2}\n",
    )
    .expect("write gadget");
    kubectl_ok(
        cluster,
        &[
            "create",
            "--validate=strict",
            "-f",
            &ok.display().to_string(),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_schemas_are_published_and_follow_the_crd() {
    let cluster =
        TestCluster::start_with(support::ClusterOptions::default().arg("--no-controllers")).await;
    let file = cluster.scratch().join("gadgets.yaml");
    std::fs::write(&file, GADGETS).expect("write CRD");
    kubectl_ok(&cluster, &["create", "-f", &file.display().to_string()]);
    kubectl_ok(
        &cluster,
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=10s",
            "crd/gadgets.openapi.example.com",
        ],
    );
    published(&cluster).await;
    kubectl_uses_the_schema(&cluster);

    // Renaming v2 to v3 moves its definition.
    patch_crd(
        &cluster,
        r#"[{"op":"replace","path":"/spec/versions/1/name","value":"v3"}]"#,
    );
    v2_until(&cluster, "v3 instead of v2", |d| {
        d.get(V3).is_some() && d.get(V2).is_none() && d.get(V1).is_some()
    })
    .await;
    // A version no longer served is no longer published.
    patch_crd(
        &cluster,
        r#"[{"op":"replace","path":"/spec/versions/1/served","value":false}]"#,
    );
    v2_until(&cluster, "v3 gone", |d| {
        d.get(V3).is_none() && d.get(V1).is_some()
    })
    .await;
    kubectl_ok(&cluster, &["delete", "crd", "gadgets.openapi.example.com"]);
    v2_until(&cluster, "v1 gone", |d| d.get(V1).is_none()).await;
}

const DEFAULTED: &str = "defaulted.defaults.example.com";

/// `a` and `b` are plain strings until the test adds defaults to them.
fn defaulted_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": DEFAULTED},
        "spec": {
            "group": "defaults.example.com",
            "scope": "Cluster",
            "names": {"plural": "defaulted", "singular": "defaultedone", "kind": "Defaulted"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "a": {"type": "string"}, "b": {"type": "string"}}}},
            }],
        },
    }))
    .expect("CRD")
}

async fn field_after(api: &Api<DynamicObject>, name: &str, field: &str) -> Option<Value> {
    let obj = api.get(name).await.ok()?;
    obj.data.get(field).cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defaults_added_to_the_crd_show_on_stored_objects() {
    let cluster =
        TestCluster::start_with(support::ClusterOptions::default().arg("--no-controllers")).await;
    let client = cluster.client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &defaulted_crd())
        .await
        .expect("create CRD");
    let gvk = GroupVersionKind::gvk("defaults.example.com", "v1", "Defaulted");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "defaulted");
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let cr1 = DynamicObject::new("cr-1", &ar);
    eventually(Duration::from_secs(10), || async {
        api.create(&PostParams::default(), &cr1).await.ok()
    })
    .await
    .expect("create cr-1");

    let patch = |ops: Value| {
        let crds = crds.clone();
        async move {
            let patch: json_patch::Patch = serde_json::from_value(ops).expect("patch");
            crds.patch(
                DEFAULTED,
                &PatchParams::default(),
                &Patch::Json::<()>(patch),
            )
            .await
            .expect("patch CRD");
        }
    };
    let a = "/spec/versions/0/schema/openAPIV3Schema/properties/a/default";
    let b = "/spec/versions/0/schema/openAPIV3Schema/properties/b/default";
    patch(json!([{"op": "add", "path": a, "value": "A"}])).await;
    let got = eventually(Duration::from_secs(10), || async {
        field_after(&api, "cr-1", "a").await
    })
    .await;
    assert_eq!(got, Some(json!("A")), "cr-1 never defaulted on read");
    let listed = api.list(&ListParams::default()).await.expect("list");
    assert_eq!(listed.items[0].data["a"], "A");
    // A watch's events carry it too.
    let mut events = api
        .watch(&WatchParams::default().timeout(5), "0")
        .await
        .expect("watch")
        .boxed();
    match events.next().await {
        Some(Ok(WatchEvent::Added(obj))) => assert_eq!(obj.data["a"], "A"),
        other => panic!("expected the Added event of cr-1, got {other:?}"),
    }

    let cr2 = api
        .create(&PostParams::default(), &DynamicObject::new("cr-2", &ar))
        .await
        .expect("create cr-2");
    assert_eq!(cr2.data["a"], "A");

    patch(json!([{"op": "remove", "path": a}, {"op": "add", "path": b, "value": "B"}])).await;
    let got = eventually(Duration::from_secs(10), || async {
        field_after(&api, "cr-2", "b").await
    })
    .await;
    assert_eq!(got, Some(json!("B")), "cr-2 never defaulted b on read");
    // cr-2 stored `a` when it was created; cr-1 never did, so it loses it with the default.
    assert_eq!(field_after(&api, "cr-2", "a").await, Some(json!("A")));
    assert_eq!(field_after(&api, "cr-1", "a").await, None);
}
