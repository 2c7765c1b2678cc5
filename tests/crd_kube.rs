//! A kube-rs `#[derive(CustomResource)]` type round-trips through a CRD we serve: create, get,
//! list, replace, merge patch, server-side apply, status patch, a runtime watcher seeing
//! Added/Modified/Deleted, schema defaults applied and unknown fields pruned, and deleting the
//! CRD removing its objects.

mod support;

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event};
use kube::{CustomResource, CustomResourceExt, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use support::{eventually, TestCluster};

/// The spec of a Gizmo.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "tools.example.com",
    version = "v1",
    kind = "Gizmo",
    namespaced,
    status = "GizmoStatus",
    shortname = "gz",
    category = "gadgets"
)]
pub struct GizmoSpec {
    /// What the gizmo does.
    pub purpose: String,
    /// How many; the schema defaults it to 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(default = "default_count")]
    pub count: Option<i64>,
}

fn default_count() -> Option<i64> {
    Some(3)
}

/// The observed state of a Gizmo.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct GizmoStatus {
    /// Whether the gizmo works.
    pub ready: bool,
}

/// The aggregated discovery document of `/apis` (v2) and its ETag.
async fn aggregated(cluster: &TestCluster) -> (String, serde_json::Value) {
    let resp = cluster
        .http()
        .get(format!("{}/apis", cluster.base_url()))
        .header(
            "Accept",
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
        )
        .send()
        .await
        .expect("GET /apis");
    let etag = resp
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (etag, resp.json().await.expect("discovery JSON"))
}

/// Right after Established, the resource is in legacy and aggregated discovery (under a new
/// ETag) and its schema in both OpenAPI documents.
async fn served_everywhere(cluster: &TestCluster, etag_before: &str) {
    let http = cluster.http();
    let base = cluster.base_url();
    let legacy: serde_json::Value = http
        .get(format!("{base}/apis/tools.example.com/v1"))
        .send()
        .await
        .expect("GET group-version")
        .json()
        .await
        .expect("resource list");
    let names: Vec<&str> = legacy["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["gizmos", "gizmos/status"]);
    assert_eq!(legacy["resources"][0]["shortNames"], json!(["gz"]));
    assert_eq!(legacy["resources"][0]["categories"], json!(["gadgets"]));
    let (etag, doc) = aggregated(cluster).await;
    assert!(
        !etag.is_empty() && etag != etag_before,
        "ETag did not change"
    );
    let group = doc["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|g| g["metadata"]["name"] == "tools.example.com")
        .expect("group in aggregated discovery");
    assert_eq!(group["versions"][0]["resources"][0]["resource"], "gizmos");
    let v3: serde_json::Value = http
        .get(format!("{base}/openapi/v3/apis/tools.example.com/v1"))
        .send()
        .await
        .expect("GET v3")
        .json()
        .await
        .expect("v3 JSON");
    let def = &v3["components"]["schemas"]["com.example.tools.v1.Gizmo"];
    assert_eq!(
        def["x-kubernetes-group-version-kind"],
        json!([{"group": "tools.example.com", "version": "v1", "kind": "Gizmo"}])
    );
    assert_eq!(
        def["properties"]["spec"]["properties"]["purpose"]["type"],
        "string"
    );
    let v2: serde_json::Value = http
        .get(format!("{base}/openapi/v2"))
        .header("Accept", "application/json")
        .send()
        .await
        .expect("GET v2")
        .json()
        .await
        .expect("v2 JSON");
    assert!(v2["definitions"]["com.example.tools.v1.Gizmo"].is_object());
}

fn gizmo(name: &str, purpose: &str) -> Gizmo {
    Gizmo::new(
        name,
        GizmoSpec {
            purpose: purpose.into(),
            count: None,
        },
    )
}

async fn established(crds: &Api<CustomResourceDefinition>, name: &str) -> bool {
    eventually(Duration::from_secs(5), || async {
        let crd = crds.get(name).await.ok()?;
        let conditions = crd.status?.conditions?;
        conditions
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
            .then_some(())
    })
    .await
    .is_some()
}

#[tokio::test]
async fn derived_custom_resource_round_trips() {
    let cluster =
        TestCluster::start_with(support::ClusterOptions::default().arg("--no-controllers")).await;
    let client = cluster.client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = Gizmo::crd();
    let crd_name = crd.name_any();
    let (etag_before, _) = aggregated(&cluster).await;
    crds.create(&PostParams::default(), &crd)
        .await
        .expect("create CRD");
    assert!(established(&crds, &crd_name).await, "CRD never Established");
    served_everywhere(&cluster, &etag_before).await;
    let stored = crds.get(&crd_name).await.expect("get CRD");
    let status = stored.status.expect("CRD status");
    assert_eq!(
        status.accepted_names.expect("accepted names").plural,
        "gizmos"
    );
    assert_eq!(status.stored_versions, Some(vec!["v1".to_string()]));

    let api: Api<Gizmo> = Api::namespaced(client.clone(), "default");
    let mut events = watcher::watcher(api.clone(), watcher::Config::default()).boxed();
    // The watcher's initial listing ends with InitDone before anything is created.
    loop {
        match events
            .try_next()
            .await
            .expect("watch")
            .expect("watch ended")
        {
            Event::InitDone => break,
            _ => continue,
        }
    }

    // Create: defaults applied, unknown fields pruned (with a warning, not an error).
    let mut raw = serde_json::to_value(gizmo("g1", "spin")).unwrap();
    raw["spec"]["bogus"] = json!(true);
    let created: Gizmo = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(raw.clone()).unwrap(),
        )
        .await
        .expect("create");
    assert_eq!(created.spec.count, Some(3), "schema default not applied");
    let as_json = api
        .get_opt("g1")
        .await
        .expect("get")
        .map(|g| serde_json::to_value(g).unwrap())
        .expect("g1 exists");
    assert!(as_json["spec"].get("bogus").is_none());
    assert_eq!(created.metadata.generation, Some(1));

    // An unknown field sent raw is dropped by the server, not kept.
    let pruned: serde_json::Value = api
        .patch(
            "g1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"extra": "x"}})),
        )
        .await
        .map(|g: Gizmo| serde_json::to_value(g).unwrap())
        .expect("merge patch");
    assert!(pruned["spec"].get("extra").is_none(), "{pruned}");

    let list = api.list(&ListParams::default()).await.expect("list");
    assert_eq!(list.items.len(), 1);

    // Replace.
    let mut current = api.get("g1").await.expect("get");
    current.spec.purpose = "whirl".into();
    let replaced = api
        .replace("g1", &PostParams::default(), &current)
        .await
        .expect("replace");
    assert_eq!(replaced.spec.purpose, "whirl");
    assert_eq!(replaced.metadata.generation, Some(2));

    // Merge patch.
    let patched = api
        .patch(
            "g1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"count": 7}})),
        )
        .await
        .expect("merge patch");
    assert_eq!(patched.spec.count, Some(7));

    // Server-side apply.
    let applied = api
        .patch(
            "g2",
            &PatchParams::apply("gizmo-test"),
            &Patch::Apply(json!({
                "apiVersion": "tools.example.com/v1",
                "kind": "Gizmo",
                "metadata": {"name": "g2"},
                "spec": {"purpose": "hum"},
            })),
        )
        .await
        .expect("server-side apply");
    assert_eq!(applied.spec.purpose, "hum");
    assert_eq!(applied.spec.count, Some(3));
    let managers: Vec<String> = applied
        .metadata
        .managed_fields
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(managers.contains(&"gizmo-test".to_string()), "{managers:?}");

    // Status through the status subresource; the main resource ignores status.
    let with_status = api
        .patch_status(
            "g1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": true}})),
        )
        .await
        .expect("status patch");
    assert_eq!(with_status.status, Some(GizmoStatus { ready: true }));
    assert_eq!(
        with_status.metadata.generation,
        Some(3),
        "status bumped generation"
    );
    let ignored = api
        .patch(
            "g1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": false}})),
        )
        .await
        .expect("main patch");
    assert_eq!(ignored.status, Some(GizmoStatus { ready: true }));

    // Invalid objects are 422s naming the field (sent untyped: the typed client cannot).
    let raw_api: Api<kube::core::DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &kube::discovery::ApiResource::erase::<Gizmo>(&()),
    );
    let invalid = raw_api
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "tools.example.com/v1", "kind": "Gizmo",
                "metadata": {"name": "bad2"}, "spec": {"purpose": "x", "count": "many"},
            }))
            .unwrap(),
        )
        .await
        .expect_err("a string count was accepted");
    match invalid {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 422);
            assert!(status.message.contains("spec.count"), "{}", status.message);
        }
        other => panic!("unexpected error {other:?}"),
    }

    // Delete one, then the CRD: the watcher sees it all, the objects go with the CRD.
    api.delete("g1", &DeleteParams::default())
        .await
        .expect("delete");
    let mut seen = (false, false, false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen != (true, true, true) && tokio::time::Instant::now() < deadline {
        let next = tokio::time::timeout(Duration::from_secs(5), events.try_next()).await;
        match next {
            Ok(Ok(Some(Event::Apply(g)))) if g.name_any() == "g1" => {
                if g.metadata.generation == Some(1) {
                    seen.0 = true;
                } else {
                    seen.1 = true;
                }
            }
            Ok(Ok(Some(Event::Delete(g)))) if g.name_any() == "g1" => seen.2 = true,
            Ok(Ok(Some(_))) => {}
            other => panic!("watch ended early: {other:?}"),
        }
    }
    assert_eq!(
        seen,
        (true, true, true),
        "added/modified/deleted not all seen"
    );

    crds.delete(&crd_name, &DeleteParams::default())
        .await
        .expect("delete CRD");
    let gone = eventually(Duration::from_secs(10), || async {
        crds.get_opt(&crd_name).await.ok()?.is_none().then_some(())
    })
    .await;
    assert!(gone.is_some(), "CRD still present");
    crds.create(&PostParams::default(), &Gizmo::crd())
        .await
        .expect("re-create CRD");
    assert!(established(&crds, &crd_name).await);
    let left = api.list(&ListParams::default()).await.expect("list");
    assert!(
        left.items.is_empty(),
        "objects outlived their CRD: {:?}",
        left.items
    );
}

/// Server-side apply on a custom object follows its schema's list types: two managers each own
/// their own item of a `map` list and of a `set` list, while an `atomic` list set differently by
/// another manager conflicts.
#[tokio::test]
async fn server_side_apply_honours_the_schema_list_types() {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    let cluster =
        TestCluster::start_with(support::ClusterOptions::default().arg("--no-controllers")).await;
    let client = cluster.client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "routers.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "routers", "kind": "Router"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                   "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                     "spec": {"type": "object", "properties": {
                       "routes": {"type": "array", "x-kubernetes-list-type": "map",
                                  "x-kubernetes-list-map-keys": ["host"],
                                  "items": {"type": "object", "required": ["host"], "properties": {
                                    "host": {"type": "string"}, "backend": {"type": "string"}}}},
                       "tags": {"type": "array", "x-kubernetes-list-type": "set",
                                "items": {"type": "string"}},
                       "args": {"type": "array", "items": {"type": "string"}}}}}}}}]}
    }))
    .expect("CRD");
    crds.create(&PostParams::default(), &crd)
        .await
        .expect("create CRD");
    assert!(established(&crds, "routers.example.com").await);

    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("example.com", "v1", "Router"));
    let routers: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &resource);
    let config = |spec: serde_json::Value| {
        json!({"apiVersion": "example.com/v1", "kind": "Router",
               "metadata": {"name": "r"}, "spec": spec})
    };
    routers
        .patch(
            "r",
            &PatchParams::apply("alice"),
            &Patch::Apply(config(json!({"routes": [{"host": "a", "backend": "x"}],
                                        "tags": ["blue"], "args": ["-v"]}))),
        )
        .await
        .expect("alice applies");
    let merged = routers
        .patch(
            "r",
            &PatchParams::apply("bob"),
            &Patch::Apply(config(json!({"routes": [{"host": "b", "backend": "y"}],
                                        "tags": ["green"]}))),
        )
        .await
        .expect("bob's items merge with alice's");
    let spec = &merged.data["spec"];
    assert_eq!(spec["routes"].as_array().map(Vec::len), Some(2), "{spec}");
    assert_eq!(spec["tags"], json!(["blue", "green"]));
    assert_eq!(spec["args"], json!(["-v"]));

    // Alice re-applies without her route: only hers goes, bob's stays.
    let after = routers
        .patch(
            "r",
            &PatchParams::apply("alice"),
            &Patch::Apply(config(json!({"tags": ["blue"], "args": ["-v"]}))),
        )
        .await
        .expect("alice drops her route");
    assert_eq!(
        after.data["spec"]["routes"],
        json!([{"host": "b", "backend": "y"}])
    );

    let err = routers
        .patch(
            "r",
            &PatchParams::apply("bob"),
            &Patch::Apply(config(json!({"routes": [{"host": "b", "backend": "y"}],
                                        "tags": ["green"], "args": ["-q"]}))),
        )
        .await
        .expect_err("the atomic list belongs to alice");
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 409, "{status:?}");
            assert!(status.message.contains(".spec.args"), "{status:?}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}
