//! Whole-document checks: generate for a few kinds and verify what kubectl relies on.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use k8s_openapi::api::{
    apps::v1::Deployment, core::v1::ConfigMap, core::v1::Namespace, core::v1::Pod,
};
use serde_json::Value;
use tower::ServiceExt;

use crate::schema::{collect_refs, GVK_EXTENSION};
use crate::{generate, router, ApiKind, Documents};

const ALL: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn kinds() -> Vec<ApiKind> {
    vec![
        ApiKind::of::<Pod>(ALL, &["status"]),
        ApiKind::of::<ConfigMap>(ALL, &[]),
        ApiKind::of::<Namespace>(
            &[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ],
            &["status"],
        ),
        ApiKind::of::<Deployment>(ALL, &["status", "scale"]),
    ]
}

fn docs() -> Documents {
    match generate(&kinds()) {
        Ok(docs) => docs,
        Err(error) => panic!("generate failed: {error}"),
    }
}

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or(Value::Null)
}

/// Every `$ref` in `doc` names an entry of `doc[container...]`.
fn assert_refs_resolve(doc: &Value, container: &[&str]) {
    let mut refs = BTreeSet::new();
    collect_refs(doc, &mut refs);
    assert!(!refs.is_empty());
    let mut defs = doc;
    for key in container {
        defs = &defs[*key];
    }
    for name in refs {
        assert!(defs.get(&name).is_some(), "unresolved reference {name}");
    }
}

fn has_gvk(definition: &Value, group: &str, version: &str, kind: &str) -> bool {
    definition[GVK_EXTENSION].as_array().is_some_and(|list| {
        list.iter()
            .any(|g| g["group"] == group && g["version"] == version && g["kind"] == kind)
    })
}

fn param_names(operation: &Value) -> Vec<String> {
    operation["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn v2_has_kinds_with_gvk_and_resolving_refs() {
    let docs = docs();
    let v2 = parse(&docs.v2.json);
    assert_eq!(v2["swagger"], "2.0");
    let defs = &v2["definitions"];
    assert!(has_gvk(&defs["io.k8s.api.core.v1.Pod"], "", "v1", "Pod"));
    assert!(has_gvk(
        &defs["io.k8s.api.core.v1.PodList"],
        "",
        "v1",
        "PodList"
    ));
    assert!(has_gvk(
        &defs["io.k8s.api.core.v1.Namespace"],
        "",
        "v1",
        "Namespace"
    ));
    assert!(has_gvk(
        &defs["io.k8s.api.apps.v1.Deployment"],
        "apps",
        "v1",
        "Deployment"
    ));
    assert!(has_gvk(
        &defs["io.k8s.api.autoscaling.v1.Scale"],
        "autoscaling",
        "v1",
        "Scale"
    ));
    assert!(has_gvk(
        &defs["io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"],
        "apps",
        "v1",
        "DeleteOptions"
    ));
    assert_eq!(
        defs["io.k8s.apimachinery.pkg.api.resource.Quantity"]["type"],
        "string"
    );
    assert_eq!(
        defs["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]["format"],
        "date-time"
    );
    assert_eq!(
        defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"],
        "int-or-string"
    );
    // metadata is optional, as upstream publishes it.
    assert!(defs["io.k8s.api.core.v1.ConfigMap"]
        .get("required")
        .is_none());
    assert_refs_resolve(&v2, &["definitions"]);

    let post = &v2["paths"]["/api/v1/namespaces/{namespace}/configmaps"]["post"];
    assert_eq!(post["x-kubernetes-action"], "post");
    assert_eq!(post[GVK_EXTENSION]["kind"], "ConfigMap");
    assert!(param_names(post).contains(&"fieldValidation".to_string()));
    assert_eq!(
        post["parameters"][0]["schema"]["$ref"],
        "#/definitions/io.k8s.api.core.v1.ConfigMap"
    );
    let list = &v2["paths"]["/api/v1/namespaces/{namespace}/configmaps"]["get"];
    for name in [
        "labelSelector",
        "fieldSelector",
        "limit",
        "continue",
        "watch",
        "resourceVersion",
        "resourceVersionMatch",
        "allowWatchBookmarks",
        "sendInitialEvents",
        "timeoutSeconds",
    ] {
        assert!(
            param_names(list).contains(&name.to_string()),
            "list lacks {name}"
        );
    }
    let delete = &v2["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["delete"];
    for name in [
        "dryRun",
        "gracePeriodSeconds",
        "propagationPolicy",
        "orphanDependents",
    ] {
        assert!(
            param_names(delete).contains(&name.to_string()),
            "delete lacks {name}"
        );
    }
    let shared = &v2["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["parameters"];
    assert!(param_names(&serde_json::json!({"parameters": shared})).contains(&"pretty".to_string()));
}

#[test]
fn v3_documents_per_group_version() {
    let docs = docs();
    assert_eq!(
        docs.v3.keys().collect::<Vec<_>>(),
        ["api/v1", "apis/apps/v1"]
    );
    let core = parse(&docs.v3["api/v1"].json);
    assert_eq!(core["openapi"], "3.0.0");
    let schemas = &core["components"]["schemas"];
    assert!(has_gvk(&schemas["io.k8s.api.core.v1.Pod"], "", "v1", "Pod"));
    assert!(schemas.get("io.k8s.api.apps.v1.Deployment").is_none());
    assert_refs_resolve(&core, &["components", "schemas"]);
    assert!(!core.to_string().contains("#/definitions/"));
    // A $ref with a description is wrapped in allOf in v3.
    let metadata = &schemas["io.k8s.api.core.v1.Pod"]["properties"]["metadata"];
    assert_eq!(
        metadata["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert!(schemas["io.k8s.apimachinery.pkg.api.resource.Quantity"]["oneOf"].is_array());

    let post = &core["paths"]["/api/v1/namespaces/{namespace}/pods"]["post"];
    assert!(param_names(post).contains(&"fieldValidation".to_string()));
    assert_eq!(
        post["requestBody"]["content"]["*/*"]["schema"]["$ref"],
        "#/components/schemas/io.k8s.api.core.v1.Pod"
    );
    // kubectl's QueryParamVerifierV3 looks for fieldValidation on the PATCH operation with the GVK.
    let patch = &core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
    assert_eq!(patch[GVK_EXTENSION]["kind"], "Pod");
    assert!(param_names(patch).contains(&"fieldValidation".to_string()));
    assert!(param_names(patch).contains(&"force".to_string()));

    let apps = parse(&docs.v3["apis/apps/v1"].json);
    assert_refs_resolve(&apps, &["components", "schemas"]);
    let scale =
        &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["put"];
    assert_eq!(scale[GVK_EXTENSION]["group"], "autoscaling");
    assert!(apps["paths"]["/apis/apps/v1/"]["get"].is_object());
}

#[test]
fn generation_is_deterministic_and_order_independent() {
    let first = docs();
    let mut reversed = kinds();
    reversed.reverse();
    let second = generate(&reversed).ok();
    assert_eq!(Some(&first), second.as_ref());
    let root = parse(&first.v3_root.json);
    let url = root["paths"]["api/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        url,
        format!("/openapi/v3/api/v1?hash={}", first.v3["api/v1"].hash)
    );
    assert_eq!(first.v3["api/v1"].hash.len(), 128);
}

#[test]
fn write_and_load_round_trip() {
    let docs = docs();
    let dir = tempfile::tempdir().ok();
    let Some(dir) = dir else {
        panic!("no temp dir")
    };
    std::fs::create_dir_all(dir.path().join("v3")).ok();
    std::fs::write(dir.path().join("v3/apis__gone__v1_openapi.json"), "{}").ok();
    assert!(docs.write_to(dir.path()).is_ok());
    assert!(dir.path().join("swagger.json").exists());
    assert!(dir.path().join("v3/apis__apps__v1_openapi.json").exists());
    assert!(!dir.path().join("v3/apis__gone__v1_openapi.json").exists());
    let loaded = Documents::load_from(dir.path()).ok();
    assert_eq!(loaded.as_ref(), Some(&docs));
    assert!(Documents::load_from(&dir.path().join("missing")).is_err());
    assert!(Documents::from_json(b"[1]", Vec::new()).is_err());
    assert!(Documents::from_json(b"{", Vec::new()).is_err());
}

async fn get(
    docs: &Arc<Documents>,
    uri: &str,
    accept: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut request = Request::builder().uri(uri);
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT, accept);
    }
    let Ok(request) = request.body(Body::empty()) else {
        panic!("bad request")
    };
    let response = router(docs.clone())
        .oneshot(request)
        .await
        .unwrap_or_else(|never| match never {});
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    (status, headers, body)
}

#[tokio::test]
async fn serves_v3_root_and_group_versions() {
    let docs = Arc::new(docs());
    let (status, headers, body) = get(&docs, "/openapi/v3", Some("application/json, */*")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(body, docs.v3_root.json.to_vec());

    let hash = &docs.v3["api/v1"].hash;
    let (status, headers, body) = get(
        &docs,
        &format!("/openapi/v3/api/v1?hash={hash}&timeout=32s"),
        Some("application/json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CACHE_CONTROL], "public, immutable");
    assert!(headers.contains_key(header::EXPIRES));
    assert_eq!(headers[header::ETAG], format!("\"{hash}\"").as_str());
    assert_eq!(body, docs.v3["api/v1"].json.to_vec());

    let (status, headers, _) = get(&docs, "/openapi/v3/apis/apps/v1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!headers.contains_key(header::CACHE_CONTROL));

    let (status, headers, _) = get(&docs, "/openapi/v3/api/v1?hash=STALE", None).await;
    assert_eq!(status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        headers[header::LOCATION],
        format!("/openapi/v3/api/v1?hash={hash}").as_str()
    );

    assert_eq!(
        get(&docs, "/openapi/v3/apis/nope/v1", None).await.0,
        StatusCode::NOT_FOUND
    );
    let proto_v3 = "application/com.github.proto-openapi.spec.v3.v1.0+protobuf";
    assert_eq!(
        get(&docs, "/openapi/v3/api/v1", Some(proto_v3)).await.0,
        StatusCode::NOT_ACCEPTABLE
    );
}

#[tokio::test]
async fn serves_v2_json_and_protobuf_with_etag() {
    let docs = Arc::new(docs());
    let (status, headers, body) = get(&docs, "/openapi/v2", Some(crate::V2_PROTOBUF)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], crate::V2_PROTOBUF_ALT);
    assert_eq!(body, docs.v2_protobuf.to_vec());
    let (status, headers, body) = get(&docs, "/openapi/v2", Some("application/json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, docs.v2.json.to_vec());
    let etag = headers[header::ETAG].clone();
    assert_eq!(
        get(&docs, "/openapi/v2", Some("text/html")).await.0,
        StatusCode::NOT_ACCEPTABLE
    );

    let Ok(request) = Request::builder()
        .uri("/openapi/v2")
        .header(header::IF_NONE_MATCH, etag)
        .body(Body::empty())
    else {
        panic!("bad request")
    };
    let response = router(docs.clone()).oneshot(request).await.ok();
    assert_eq!(response.map(|r| r.status()), Some(StatusCode::NOT_MODIFIED));
}

#[tokio::test]
async fn large_documents_are_gzipped_for_clients_that_take_gzip() {
    let docs = Arc::new(docs());
    let Ok(request) = Request::builder()
        .uri("/openapi/v2")
        .header(header::ACCEPT, "application/json")
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::empty())
    else {
        panic!("bad request")
    };
    let Ok(response) = router(docs.clone()).oneshot(request).await;
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    let vary: Vec<_> = response.headers().get_all(header::VARY).iter().collect();
    assert_eq!(vary, ["Accept-Encoding", "Accept"]);
    let body = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut plain)
        .expect("gunzip");
    assert_eq!(plain, docs.v2.json.to_vec());
    // Without Accept-Encoding the same document goes out as it is.
    let (_, headers, body) = get(&docs, "/openapi/v2", Some("application/json")).await;
    assert!(headers.get(header::CONTENT_ENCODING).is_none());
    assert_eq!(body, docs.v2.json.to_vec());
}
