//! Protocol corners real clients hit: trailing slashes on every path, and the
//! PartialObjectMetadata / Table transformations on every verb that returns an object (with
//! upstream's 406 where a transformation does not fit, before anything is written).

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::TestCluster;

const META: &str = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
const META_LIST: &str = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
const TABLE: &str = "application/json;as=Table;g=meta.k8s.io;v=v1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailing_slashes_are_ignored() {
    let cluster = TestCluster::start().await;
    let http = cluster.http();
    let base = cluster.base_url();
    for (path, field) in [
        ("/version/", "gitVersion"),
        ("/api/", "versions"),
        ("/apis/", "groups"),
        ("/apis/apps/", "versions"),
        ("/apis/apps/v1/", "resources"),
        ("/api/v1/namespaces/", "items"),
        ("/api/v1/namespaces/default/", "metadata"),
    ] {
        let resp = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "GET {path}");
        let body: Value = resp.json().await.unwrap();
        assert!(body.get(field).is_some(), "GET {path}: {body}");
    }
    let health = cluster
        .anonymous_http()
        .get(format!("{base}/healthz/"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verb_honours_metadata_and_table() {
    let cluster = TestCluster::start().await;
    let http = cluster.http();
    let cms = format!(
        "{}/api/v1/namespaces/default/configmaps",
        cluster.base_url()
    );
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "m", "labels": {"a": "1"}}, "data": {"k": "v"}});

    // create → PartialObjectMetadata
    let created: Value = http
        .post(&cms)
        .header("Accept", META)
        .json(&cm)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["kind"], "PartialObjectMetadata", "{created}");
    assert_eq!(created["metadata"]["name"], "m");
    assert!(created.get("data").is_none(), "{created}");

    // get → PartialObjectMetadata; patch → Table; update → Table
    let got: Value = http
        .get(format!("{cms}/m"))
        .header("Accept", META)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["kind"], "PartialObjectMetadata", "{got}");
    let patched: Value = http
        .patch(format!("{cms}/m"))
        .header("Accept", TABLE)
        .header("Content-Type", "application/merge-patch+json")
        .body(r#"{"data":{"k2":"v2"}}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(patched["kind"], "Table", "{patched}");
    assert_eq!(patched["rows"][0]["cells"][0], "m", "{patched}");
    assert_eq!(patched["rows"][0]["cells"][1], 2, "DATA column: {patched}");

    // A list asked for as a single PartialObjectMetadata, and one object asked for as a list:
    // 406, and a refused create writes nothing.
    let list = http.get(&cms).header("Accept", META).send().await.unwrap();
    assert_eq!(list.status(), StatusCode::NOT_ACCEPTABLE);
    let status: Value = list.json().await.unwrap();
    assert_eq!(status["reason"], "NotAcceptable", "{status}");
    let refused = http
        .post(&cms)
        .header("Accept", META_LIST)
        .json(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "never"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_ACCEPTABLE);
    let never = http.get(format!("{cms}/never")).send().await.unwrap();
    assert_eq!(
        never.status(),
        StatusCode::NOT_FOUND,
        "nothing written on a 406"
    );

    // The list form still works for lists.
    let metas: Value = http
        .get(&cms)
        .header("Accept", META_LIST)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metas["kind"], "PartialObjectMetadataList", "{metas}");

    // delete (with a finalizer pending) → PartialObjectMetadata of the terminating object
    http.patch(format!("{cms}/m"))
        .header("Content-Type", "application/merge-patch+json")
        .body(r#"{"metadata":{"finalizers":["example.com/hold"]}}"#)
        .send()
        .await
        .unwrap();
    let deleted: Value = http
        .delete(format!("{cms}/m"))
        .header("Accept", META)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deleted["kind"], "PartialObjectMetadata", "{deleted}");
    assert!(
        deleted["metadata"]["deletionTimestamp"].is_string(),
        "{deleted}"
    );
}

/// Reviews keep no object, so they have no Table or metadata form: asking only for one is 406
/// (upstream's conformance "406 for a backend which does not implement metadata"), and a
/// client that also accepts plain JSON gets JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_refuse_table_and_metadata_forms() {
    let cluster = TestCluster::start().await;
    let http = cluster.http();
    let url = format!(
        "{}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        cluster.base_url()
    );
    let review = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"nonResourceAttributes": {"path": "/", "verb": "get"}}});
    let post = |accept: &'static str| {
        http.post(&url)
            .header("Accept", accept)
            .json(&review)
            .send()
    };
    for accept in [
        "application/json;as=Table;v=v1;g=meta.k8s.io",
        "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io",
    ] {
        let resp = post(accept).await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_ACCEPTABLE, "{accept}");
        let status: Value = resp.json().await.unwrap();
        assert_eq!(status["reason"], "NotAcceptable", "{status}");
    }
    let resp = post("application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let answered: Value = resp.json().await.unwrap();
    assert_eq!(answered["status"]["allowed"], true, "{answered}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_verb_resource_and_code() {
    let cluster = TestCluster::start().await;
    let http = cluster.http();
    let base = cluster.base_url();
    let cms = format!("{base}/api/v1/namespaces/default/configmaps");
    http.get(&cms).send().await.unwrap();
    http.get(format!("{cms}/missing")).send().await.unwrap();
    let anonymous = cluster
        .anonymous_http()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    // Through kubectl, as an operator would read them.
    let out = support::stdout_ok("get --raw", &cluster.kubectl(&["get", "--raw", "/metrics"]));
    let list = out
        .lines()
        .find(|l| {
            // (Controllers list configmaps cluster-wide too: the test's own LIST is namespaced.)
            l.starts_with("apiserver_request_total{")
                && l.contains(r#"verb="LIST""#)
                && l.contains(r#"resource="configmaps""#)
                && l.contains(r#"scope="namespace""#)
        })
        .unwrap_or_else(|| panic!("no LIST configmaps counter:\n{out}"));
    assert!(list.contains(r#"code="200""#), "{list}");
    assert!(list.trim_end().ends_with(" 1"), "{list}");
    let missing = out
        .lines()
        .find(|l| {
            l.starts_with("apiserver_request_total{")
                && l.contains(r#"verb="GET""#)
                && l.contains(r#"code="404""#)
        })
        .unwrap_or_else(|| panic!("no 404 GET counter:\n{out}"));
    assert!(missing.contains(r#"scope="resource""#), "{missing}");
    assert!(
        out.contains("apiserver_request_duration_seconds_bucket{"),
        "no duration histogram:\n{out}"
    );
}
