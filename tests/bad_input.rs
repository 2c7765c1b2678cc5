//! Every bad input of the issue, over HTTPS with the admin client certificate: upstream's status
//! code, reason and details, that nothing was written, and that the server keeps serving.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::TestCluster;

const CM_PATH: &str = "/api/v1/namespaces/default/configmaps";

/// Objects a controller may write in every namespace at any time (upstream's root-CA publisher).
const SYSTEM_NAMES: &[&str] = &["kube-root-ca.crt"];

/// Names of the configmaps in `default` that the tests wrote (system ones left out).
async fn test_configmaps(raw: &Raw) -> Vec<String> {
    let (code, list) = raw.get(CM_PATH).await;
    assert_eq!(code, StatusCode::OK, "{list}");
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .filter(|n| !SYSTEM_NAMES.contains(n))
        .map(str::to_string)
        .collect()
}

/// A thin admin client for raw requests.
struct Raw {
    http: reqwest::Client,
    base: String,
}

impl Raw {
    fn new(cluster: &TestCluster) -> Self {
        Raw {
            http: cluster.http(),
            base: cluster.base_url(),
        }
    }

    /// Sends a request; returns the status code and the body parsed as JSON (Null if not JSON).
    async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let resp = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Content-Type", content_type)
            .header("Accept", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        let code = resp.status();
        let bytes = resp.bytes().await.expect("body");
        (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, "application/json", body.to_string())
            .await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, "application/json", "").await
    }

    /// What is stored, as (path, namespace/name, resourceVersion) for every configmap, pod,
    /// namespace and secret, minus the objects system controllers maintain on their own.
    async fn stored(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for path in [
            "/api/v1/configmaps",
            "/api/v1/pods",
            "/api/v1/namespaces",
            "/api/v1/secrets",
        ] {
            let (code, list) = self.get(path).await;
            assert_eq!(code, StatusCode::OK, "listing {path}: {list}");
            for item in list["items"].as_array().into_iter().flatten() {
                let meta = &item["metadata"];
                if SYSTEM_NAMES.contains(&meta["name"].as_str().unwrap_or("")) {
                    continue;
                }
                let name = format!(
                    "{}/{}",
                    meta["namespace"].as_str().unwrap_or(""),
                    meta["name"].as_str().unwrap_or("")
                );
                out.push((
                    path.to_string(),
                    name,
                    meta["resourceVersion"].as_str().unwrap_or("").to_string(),
                ));
            }
        }
        out
    }
}

/// Asserts a `Status` body with the given code and reason.
fn assert_status(what: &str, (code, body): &(StatusCode, Value), expected_code: u16, reason: &str) {
    assert_eq!(code.as_u16(), expected_code, "{what}: {body}");
    assert_eq!(body["kind"], "Status", "{what}: {body}");
    assert_eq!(body["apiVersion"], "v1", "{what}: {body}");
    assert_eq!(body["status"], "Failure", "{what}: {body}");
    assert_eq!(body["code"], expected_code, "{what}: {body}");
    assert_eq!(body["reason"], reason, "{what}: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: message missing: {body}"
    );
}

/// The fields named by `details.causes`.
fn cause_fields(body: &Value) -> Vec<String> {
    body["details"]["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["field"].as_str().map(str::to_string))
        .collect()
}

fn cm(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_rejected_and_writes_nothing() {
    let cluster = TestCluster::start().await;
    let raw = Raw::new(&cluster);
    let (code, existing) = raw.post_json(CM_PATH, &cm("existing")).await;
    assert_eq!(code, StatusCode::CREATED, "{existing}");
    let before = raw.stored().await;

    // Malformed bodies.
    let r = raw
        .send(
            Method::POST,
            CM_PATH,
            "application/json",
            r#"{"apiVersion":"v1","kind":"ConfigMap","#,
        )
        .await;
    assert_status("truncated JSON", &r, 400, "BadRequest");
    let r = raw
        .send(
            Method::POST,
            CM_PATH,
            "application/yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: [name: x\n",
        )
        .await;
    assert_status("malformed YAML", &r, 400, "BadRequest");
    let r = raw
        .send(
            Method::POST,
            CM_PATH,
            "application/json",
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"t"},"data":{"k":1}}"#,
        )
        .await;
    assert_status("wrong field type", &r, 400, "BadRequest");
    let existing_path = format!("{CM_PATH}/existing");
    let r = raw
        .send(
            Method::PATCH,
            &existing_path,
            "application/merge-patch+json",
            "{not json",
        )
        .await;
    assert_status("malformed merge patch", &r, 400, "BadRequest");
    let r = raw
        .send(
            Method::PATCH,
            &existing_path,
            "application/json-patch+json",
            r#"[{"op":"frobnicate","path":"/data"}]"#,
        )
        .await;
    assert!(
        r.0 == StatusCode::BAD_REQUEST || r.0 == StatusCode::UNPROCESSABLE_ENTITY,
        "bad JSON patch op: {:?}",
        r
    );

    // A body that is not what the URL says.
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}});
    assert_status(
        "kind mismatch",
        &raw.post_json(CM_PATH, &secret).await,
        400,
        "BadRequest",
    );
    let apps = json!({"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "a"}});
    assert_status(
        "apiVersion mismatch",
        &raw.post_json(CM_PATH, &apps).await,
        400,
        "BadRequest",
    );
    let other_ns = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "o", "namespace": "kube-system"}});
    assert_status(
        "namespace mismatch",
        &raw.post_json(CM_PATH, &other_ns).await,
        400,
        "BadRequest",
    );

    // Invalid objects: 422 with the field named.
    let r = raw.post_json(CM_PATH, &cm("Bad_Name")).await;
    assert_status("invalid name", &r, 422, "Invalid");
    assert_eq!(cause_fields(&r.1), ["metadata.name"], "{}", r.1);
    assert_eq!(r.1["details"]["name"], "Bad_Name");
    assert_eq!(r.1["details"]["kind"], "ConfigMap");
    let mut bad_key = cm("labels1");
    bad_key["metadata"]["labels"] = json!({"bad key!": "v"});
    let r = raw.post_json(CM_PATH, &bad_key).await;
    assert_status("invalid label key", &r, 422, "Invalid");
    assert_eq!(cause_fields(&r.1), ["metadata.labels"], "{}", r.1);
    let mut bad_value = cm("labels2");
    bad_value["metadata"]["labels"] = json!({"ok": "not ok!"});
    let r = raw.post_json(CM_PATH, &bad_value).await;
    assert_status("invalid label value", &r, 422, "Invalid");
    assert_eq!(cause_fields(&r.1), ["metadata.labels"], "{}", r.1);
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": []}});
    let r = raw.post_json("/api/v1/namespaces/default/pods", &pod).await;
    assert_status("pod without containers", &r, 422, "Invalid");
    assert!(
        cause_fields(&r.1).contains(&"spec.containers".to_string()),
        "{}",
        r.1
    );
    let no_name = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}});
    let r = raw.post_json(CM_PATH, &no_name).await;
    assert_status("no name", &r, 422, "Invalid");
    assert!(
        cause_fields(&r.1).iter().any(|f| f == "metadata.name"),
        "{}",
        r.1
    );
    let r = raw
        .send(
            Method::PATCH,
            &existing_path,
            "application/merge-patch+json",
            r#"{"metadata":{"labels":{"-x":"y"}}}"#,
        )
        .await;
    assert_status("patch to an invalid label", &r, 422, "Invalid");

    // Conflicts.
    let r = raw.post_json(CM_PATH, &cm("existing")).await;
    assert_status("create existing", &r, 409, "AlreadyExists");
    assert_eq!(r.1["details"]["name"], "existing");
    assert_eq!(r.1["details"]["kind"], "configmaps");
    let mut stale = existing.clone();
    stale["data"] = json!({"k": "new"});
    let rv: u64 = existing["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|r| r.parse().ok())
        .expect("rv");
    stale["metadata"]["resourceVersion"] = json!((rv - 1).to_string());
    let r = raw
        .send(
            Method::PUT,
            &existing_path,
            "application/json",
            stale.to_string(),
        )
        .await;
    assert_status("stale update", &r, 409, "Conflict");
    assert!(
        r.1["message"]
            .as_str()
            .is_some_and(|m| m.contains("the object has been modified")),
        "{}",
        r.1
    );

    // Too large: 3 MiB is the limit.
    let mut huge = cm("huge");
    huge["data"] = json!({"blob": "x".repeat(3 * 1024 * 1024 + 1)});
    let r = raw.post_json(CM_PATH, &huge).await;
    assert_eq!(r.0, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.1);
    if !r.1.is_null() {
        assert_status("too large", &r, 413, "RequestEntityTooLarge");
    }

    // Things that do not exist.
    assert_status(
        "unknown resource",
        &raw.get("/api/v1/namespaces/default/widgets").await,
        404,
        "NotFound",
    );
    assert_status(
        "unknown resource (create)",
        &raw.post_json("/api/v1/namespaces/default/widgets", &cm("w"))
            .await,
        404,
        "NotFound",
    );
    assert_status(
        "unknown group",
        &raw.get("/apis/example.com/v1/widgets").await,
        404,
        "NotFound",
    );
    let r = raw
        .post_json("/api/v1/namespaces/nope/configmaps", &cm("lost"))
        .await;
    assert_status("missing namespace", &r, 404, "NotFound");
    assert!(
        r.1["message"]
            .as_str()
            .is_some_and(|m| m.contains(r#"namespaces "nope" not found"#)),
        "{}",
        r.1
    );
    let r = raw.get(&format!("{CM_PATH}/missing")).await;
    assert_status("missing object", &r, 404, "NotFound");
    assert_eq!(r.1["details"]["name"], "missing");
    assert_eq!(r.1["details"]["kind"], "configmaps");

    // Selectors the server cannot honour: an error, never a silent full list.
    let r = raw
        .get(&format!("{CM_PATH}?fieldSelector=data.k%3Dv"))
        .await;
    assert_status("unsupported field selector", &r, 400, "BadRequest");
    assert!(
        r.1["message"]
            .as_str()
            .is_some_and(|m| m.contains("is not a known field selector")),
        "{}",
        r.1
    );
    let r = raw
        .get(&format!("{CM_PATH}?labelSelector=a%20in%20(b"))
        .await;
    assert_status("malformed label selector", &r, 400, "BadRequest");

    assert_eq!(
        raw.stored().await,
        before,
        "a rejected request changed stored state"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_credentials_get_401() {
    let cluster = TestCluster::start().await;
    let anonymous = cluster.anonymous_http();
    // `/version` is public information (upstream's system:public-info-viewer), not listed here.
    for (method, path) in [
        (Method::GET, "/api/v1/namespaces"),
        (Method::GET, "/openapi/v2"),
        (Method::POST, CM_PATH),
    ] {
        let resp = anonymous
            .request(method.clone(), format!("{}{path}", cluster.base_url()))
            .header("Content-Type", "application/json")
            .body(cm("anon").to_string())
            .send()
            .await
            .expect("request");
        let code = resp.status();
        let body: Value = resp.json().await.expect("a Status body");
        assert_status(
            &format!("anonymous {method} {path}"),
            &(code, body),
            401,
            "Unauthorized",
        );
    }
    let bearer = anonymous
        .get(format!("{}/api/v1/namespaces", cluster.base_url()))
        .bearer_auth("not-a-token")
        .send()
        .await
        .expect("request");
    assert_eq!(bearer.status(), StatusCode::UNAUTHORIZED);
    // Health endpoints stay open, as upstream's defaults allow.
    let ready = anonymous
        .get(format!("{}/readyz", cluster.base_url()))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::OK);
    let raw = Raw::new(&cluster);
    assert_eq!(
        test_configmaps(&raw).await,
        Vec::<String>::new(),
        "the anonymous create must not have happened"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_survives_garbage() {
    let cluster = TestCluster::start().await;
    let raw = Raw::new(&cluster);
    let bodies: &[(&str, &[u8])] = &[
        ("application/json", b""),
        ("application/json", b"null"),
        ("application/json", b"[]"),
        ("application/json", b"\"string\""),
        ("application/json", b"{\"metadata\": 5}"),
        ("application/json", b"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\",\"labels\":[]}}"),
        ("application/yaml", b"- - - -"),
        ("application/yaml", b"\xff\xfe\x00"),
        ("application/vnd.kubernetes.protobuf", b"k8s\x00\x0a\xff\xff\xff"),
        ("application/vnd.kubernetes.protobuf", b"not protobuf"),
        ("text/plain", b"hello"),
    ];
    for (content_type, body) in bodies {
        for method in [Method::POST, Method::PUT, Method::PATCH] {
            let path = if method == Method::POST {
                CM_PATH.to_string()
            } else {
                format!("{CM_PATH}/x")
            };
            let (code, status) = raw
                .send(method.clone(), &path, content_type, body.to_vec())
                .await;
            assert!(
                code.is_client_error(),
                "{method} {content_type} {:?} answered {code}: {status}",
                String::from_utf8_lossy(body)
            );
        }
    }
    for path in [
        "/api/v1/namespaces/default/configmaps?limit=abc",
        "/api/v1/namespaces/default/configmaps?continue=garbage",
        "/api/v1/namespaces/default/configmaps?resourceVersion=xyz",
        "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=-1",
        "/api/v1/namespaces/default/configmaps/%ff%fe",
        "/api/v1/namespaces//configmaps",
        "/apis/apps/v1/namespaces/default/deployments/x/scale/extra",
    ] {
        let (code, body) = raw.get(path).await;
        assert!(code.is_client_error(), "GET {path} answered {code}: {body}");
    }
    // Still serving, and nothing was created.
    assert_eq!(test_configmaps(&raw).await, Vec::<String>::new());
    let (code, created) = raw.post_json(CM_PATH, &cm("after")).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
}
