//! Serves generated OpenAPI documents for Pod, ConfigMap, Namespace and Deployment over plain
//! HTTP, with just enough legacy discovery for `kubectl explain` to resolve resources.
//!
//! Usage: `cargo run -p ferrokube-openapi --example serve -- [PORT] [OUT_DIR]`; when OUT_DIR is
//! given the documents are also written there (how /work/main/openapi is refreshed by hand).

use std::sync::Arc;

use axum::routing::get;
use axum::Json;
use ferrokube_openapi::{generate, router, ApiKind};
use k8s_openapi::api::{
    apps::v1::Deployment, core::v1::ConfigMap, core::v1::Namespace, core::v1::Pod,
};
use serde_json::{json, Value};

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

fn resource(plural: &str, kind: &str, namespaced: bool, subresources: &[&str]) -> Vec<Value> {
    let mut out = vec![
        json!({"name": plural, "singularName": kind.to_lowercase(), "namespaced": namespaced,
        "kind": kind, "verbs": ALL}),
    ];
    for sub in subresources {
        out.push(
            json!({"name": format!("{plural}/{sub}"), "singularName": "", "namespaced": namespaced,
            "kind": kind, "verbs": ["get", "patch", "update"]}),
        );
    }
    out
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().map(|p| p.parse()).transpose()?.unwrap_or(18099);
    let kinds = vec![
        ApiKind::of::<Pod>(ALL, &["status"]),
        ApiKind::of::<ConfigMap>(ALL, &[]),
        ApiKind::of::<Namespace>(
            &[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ],
            &["status"],
        ),
        ApiKind::of::<Deployment>(ALL, &["status", "scale"]),
    ];
    let docs = generate(&kinds)?;
    if let Some(dir) = args.next() {
        docs.write_to(std::path::Path::new(&dir))?;
    }
    let core: Vec<Value> = [
        resource("configmaps", "ConfigMap", true, &[]),
        resource("namespaces", "Namespace", false, &["status"]),
        resource("pods", "Pod", true, &["status"]),
    ]
    .concat();
    let apps = resource("deployments", "Deployment", true, &["status", "scale"]);
    let app = router(Arc::new(docs))
        .route("/api", get(|| async { Json(json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})) }))
        .route("/apis", get(|| async {
            Json(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [{"name": "apps",
                "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]}))
        }))
        .route("/api/v1", get(move || async move { Json(json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": core})) }))
        .route("/apis/apps/v1", get(move || async move { Json(json!({"kind": "APIResourceList", "groupVersion": "apps/v1", "resources": apps})) }))
        .route("/version", get(|| async { Json(json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0"})) }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("serving OpenAPI on http://127.0.0.1:{port}");
    axum::serve(listener, app).await?;
    Ok(())
}
