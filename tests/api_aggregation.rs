//! The aggregation layer end to end: the test runs a tiny extension API server (HTTPS with its
//! own certificate for `api.wardle.svc`, requiring a client certificate of the cluster CA and
//! accepting only the front-proxy one) on the Docker bridge's host address, fronted by a
//! selectorless Service and a hand-made EndpointSlice. An APIService hands it
//! `wardle.example.com/v1alpha1`; kubectl then sees the APIService Available, the remote
//! resource in `api-resources`, its objects through the proxy with the user forwarded, its
//! OpenAPI documents published with the cluster's (`kubectl explain`), a WebSocket upgrade
//! carried through, a user without RBAC refused by the aggregator itself, and, once the server
//! stops, the APIService unavailable and requests answered 503. Bad APIServices get upstream's
//! validation errors.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use base64::Engine;
use ferrokube::http::PeerCertificates;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use support::{eventually, stdout_ok, TestCluster};

const GROUP_VERSION: &str = "wardle.example.com/v1alpha1";
const APISERVICE: &str = "v1alpha1.wardle.example.com";

/// The users the extension server was asked as (`X-Remote-User`), in order.
type Seen = Arc<Mutex<Vec<String>>>;

/// The host's address on the Docker bridge: not loopback (EndpointSlice validation forbids
/// that), yet local, so the API server reaches it as it reaches pods.
fn bridge_address() -> String {
    let out = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", "docker0"])
        .output()
        .expect("ip addr");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|cidr| cidr.split('/').next())
        .map(str::to_string)
        .expect("docker0 has an IPv4 address")
}

/// The refusal of anyone but the front-proxy client certificate, as `requestheader-allowed-names` does.
fn refused(peer: &PeerCertificates) -> Option<Response> {
    let name = peer
        .0
        .as_deref()
        .and_then(|r| r.as_ref().ok().cloned().flatten())
        .map(|u| u.name);
    (name.as_deref() != Some("front-proxy-client")).then(|| {
        (
            StatusCode::UNAUTHORIZED,
            format!("not the front proxy: {name:?}"),
        )
            .into_response()
    })
}

fn remote_user(headers: &HeaderMap) -> String {
    headers
        .get("x-remote-user")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

async fn discovery(Extension(peer): Extension<PeerCertificates>) -> Response {
    if let Some(resp) = refused(&peer) {
        return resp;
    }
    Json(json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION,
        "resources": [{"name": "flunders", "singularName": "flunder", "namespaced": true,
                       "kind": "Flunder", "verbs": ["get", "list"], "shortNames": ["fl"]}],
    }))
    .into_response()
}

fn flunder(ns: &str, name: &str, headers: &HeaderMap) -> Value {
    let groups: Vec<&str> = headers
        .get_all("x-remote-group")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    json!({
        "apiVersion": GROUP_VERSION, "kind": "Flunder",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": "2026-01-01T00:00:00Z",
                     "annotations": {"wardle.example.com/requested-by": remote_user(headers),
                                     "wardle.example.com/groups": groups.join(",")}},
    })
}

async fn list(
    State(seen): State<Seen>,
    Extension(peer): Extension<PeerCertificates>,
    Path(ns): Path<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(resp) = refused(&peer) {
        return resp;
    }
    seen.lock().unwrap().push(remote_user(&headers));
    if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
        // One event, then the stream stays open, as a watch does.
        let event = json!({"type": "ADDED", "object": flunder(&ns, "one", &headers)});
        let first =
            futures::stream::once(async move { Ok::<_, std::io::Error>(format!("{event}\n")) });
        let body = axum::body::Body::from_stream(first.chain(futures::stream::pending()));
        return ([("content-type", "application/json")], body).into_response();
    }
    Json(json!({
        "apiVersion": GROUP_VERSION, "kind": "FlunderList", "metadata": {"resourceVersion": "1"},
        "items": [flunder(&ns, "one", &headers)],
    }))
    .into_response()
}

async fn get_one(
    State(seen): State<Seen>,
    Extension(peer): Extension<PeerCertificates>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(resp) = refused(&peer) {
        return resp;
    }
    seen.lock().unwrap().push(remote_user(&headers));
    if name != "one" {
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "reason": "NotFound", "code": 404,
            "message": format!("flunders.wardle.example.com \"{name}\" not found")});
        return (StatusCode::NOT_FOUND, Json(status)).into_response();
    }
    Json(flunder(&ns, &name, &headers)).into_response()
}

/// The description `kubectl explain flunders` must show, from the extension server's documents.
const FLUNDER_DOC: &str = "A Flunder is what the wardle extension server serves.";

fn flunder_schema() -> Value {
    json!({"type": "object", "description": FLUNDER_DOC,
        "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
            "spec": {"type": "object", "description": "What the flunder wants.",
                "properties": {"reference": {"type": "string"}}}},
        "x-kubernetes-group-version-kind": [
            {"group": "wardle.example.com", "version": "v1alpha1", "kind": "Flunder"}]})
}

async fn openapi_v2(Extension(peer): Extension<PeerCertificates>) -> Response {
    if let Some(resp) = refused(&peer) {
        return resp;
    }
    Json(
        json!({"swagger": "2.0", "info": {"title": "wardle", "version": "v0"},
        "paths": {format!("/apis/{GROUP_VERSION}/namespaces/{{namespace}}/flunders"): {
            "get": {"operationId": "listWardleFlunders",
                "responses": {"200": {"description": "OK"}}}}},
        "definitions": {"com.example.wardle.v1alpha1.Flunder": flunder_schema()}}),
    )
    .into_response()
}

async fn openapi_v3(Extension(peer): Extension<PeerCertificates>) -> Response {
    if let Some(resp) = refused(&peer) {
        return resp;
    }
    let gvk = json!({"group": "wardle.example.com", "version": "v1alpha1", "kind": "Flunder"});
    let schema = json!({"$ref": "#/components/schemas/com.example.wardle.v1alpha1.Flunder"});
    Json(
        json!({"openapi": "3.0.0", "info": {"title": "wardle", "version": "v0"},
        "paths": {format!("/apis/{GROUP_VERSION}/namespaces/{{namespace}}/flunders/{{name}}"): {
            "get": {"x-kubernetes-action": "get", "x-kubernetes-group-version-kind": gvk,
                "responses": {"200": {"description": "OK",
                    "content": {"application/json": {"schema": schema}}}}}}},
        "components": {"schemas": {"com.example.wardle.v1alpha1.Flunder": flunder_schema()}}}),
    )
    .into_response()
}

/// A WebSocket that echoes, speaking a channel protocol as exec does.
async fn echo(Extension(peer): Extension<PeerCertificates>, ws: WebSocketUpgrade) -> Response {
    if let Some(resp) = refused(&peer) {
        return resp;
    }
    ws.protocols(["v5.channel.k8s.io", "v4.channel.k8s.io"])
        .on_upgrade(|mut socket| async move {
            while let Some(Ok(msg)) = socket.recv().await {
                if matches!(msg, WsMessage::Close(_)) || socket.send(msg).await.is_err() {
                    break;
                }
            }
        })
}

/// Starts the extension server on `host`; its CA (PEM), port and the task serving it.
async fn extension_server(
    host: &str,
    cluster_ca_pem: &[u8],
    seen: Seen,
) -> (String, u16, tokio::task::JoinHandle<std::io::Result<()>>) {
    let cert = rcgen::generate_simple_self_signed(vec!["api.wardle.svc".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in rustls_pemfile::certs(&mut &cluster_ca_pem[..]) {
        roots.add(ca.unwrap()).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    let base = format!("/apis/{GROUP_VERSION}");
    let app = Router::new()
        .route(&base, get(discovery))
        .route("/openapi/v2", get(openapi_v2))
        .route(
            &format!("/openapi/v3/apis/{GROUP_VERSION}"),
            get(openapi_v3),
        )
        .route(
            &format!("{base}/namespaces/{{ns}}/flunders/{{name}}/echo"),
            get(echo),
        )
        .route(&format!("{base}/namespaces/{{ns}}/flunders"), get(list))
        .route(
            &format!("{base}/namespaces/{{ns}}/flunders/{{name}}"),
            get(get_one),
        )
        .with_state(seen);
    let listener = tokio::net::TcpListener::bind(format!("{host}:0"))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(ferrokube::http::serve::serve_tls(
        listener,
        Arc::new(config),
        app,
    ));
    (cert.cert.pem(), port, task)
}

fn manifests(host: &str, port: u16, ca_pem: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata: {{name: wardle}}
---
apiVersion: v1
kind: Service
metadata: {{name: api, namespace: wardle}}
spec:
  ports: [{{name: https, port: 443, targetPort: {port}}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: api-1
  namespace: wardle
  labels: {{kubernetes.io/service-name: api}}
addressType: IPv4
endpoints: [{{addresses: ["{host}"], conditions: {{ready: true}}}}]
ports: [{{name: https, port: {port}, protocol: TCP}}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {{name: {APISERVICE}}}
spec:
  group: wardle.example.com
  version: v1alpha1
  groupPriorityMinimum: 1000
  versionPriority: 15
  caBundle: {ca}
  service: {{namespace: wardle, name: api}}
"#
    )
}

/// `status/reason/message` of the APIService's Available condition.
fn available(cluster: &TestCluster) -> String {
    let path = r#"{.status.conditions[?(@.type=="Available")].status}/{.status.conditions[?(@.type=="Available")].reason}/{.status.conditions[?(@.type=="Available")].message}"#;
    let out = cluster.kubectl(&[
        "get",
        "apiservice",
        APISERVICE,
        "-o",
        &format!("jsonpath={path}"),
    ]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn wait_for_condition(cluster: &TestCluster, prefix: &str) -> String {
    let found = eventually(Duration::from_secs(60), || async {
        let now = available(cluster);
        now.starts_with(prefix).then_some(now)
    })
    .await;
    found.unwrap_or_else(|| {
        panic!(
            "APIService never became {prefix}: {}\n{}",
            available(cluster),
            cluster.logs()
        )
    })
}

/// A watch's first event arrives while the extension server keeps the stream open.
async fn watch_streams_through(cluster: &TestCluster) {
    let url = format!(
        "{}/apis/{GROUP_VERSION}/namespaces/wardle/flunders?watch=true",
        cluster.base_url()
    );
    let mut resp = cluster.http().get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
        .await
        .expect("the first event arrives before the stream ends")
        .unwrap()
        .expect("a chunk");
    let event: Value = serde_json::from_slice(&chunk).unwrap();
    assert_eq!(event["type"], "ADDED");
    assert_eq!(event["object"]["metadata"]["name"], "one");
}

/// The extension server's OpenAPI documents are published with the cluster's: kubectl explain
/// (OpenAPI v3) describes the remote kind, and the v2 document carries its definition.
async fn openapi_is_aggregated(cluster: &TestCluster) {
    let explained = eventually(Duration::from_secs(30), || async {
        let out = cluster.kubectl(&["explain", "flunders.spec"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains("What the flunder wants.").then_some(text)
    })
    .await
    .unwrap_or_else(|| {
        let out = cluster.kubectl(&["explain", "flunders.spec"]);
        let root = cluster.kubectl(&["get", "--raw", "/openapi/v3"]);
        panic!(
            "kubectl explain never described the aggregated kind: {}{}\n/openapi/v3: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&root.stdout)
        )
    });
    assert!(explained.contains("reference"), "{explained}");
    let root = stdout_ok(
        "v3 root",
        &cluster.kubectl(&["get", "--raw", "/openapi/v3"]),
    );
    assert!(
        root.contains(&format!("\"apis/{GROUP_VERSION}\"")),
        "{root}"
    );
    let v2 = stdout_ok("v2", &cluster.kubectl(&["get", "--raw", "/openapi/v2"]));
    let v2: Value = serde_json::from_str(&v2).unwrap();
    assert_eq!(
        v2["definitions"]["com.example.wardle.v1alpha1.Flunder"]["description"],
        FLUNDER_DOC
    );
    assert!(v2["definitions"]["io.k8s.api.core.v1.Pod"].is_object());
}

/// An upgrade request (a WebSocket, as exec-like subresources use) is carried to the
/// extension server and spliced: what is sent comes back.
async fn upgrades_pass_through(cluster: &TestCluster) {
    let client = cluster.client().await;
    let path = format!("/apis/{GROUP_VERSION}/namespaces/wardle/flunders/one/echo");
    let req = axum::http::Request::get(path).body(Vec::new()).unwrap();
    let conn = client
        .connect(req)
        .await
        .expect("upgrade through the aggregator");
    let mut stream = conn.into_stream();
    let hello = tokio_tungstenite::tungstenite::Message::binary(b"\x01hello".to_vec());
    stream.send(hello.clone()).await.expect("send");
    let echoed = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an answer in time")
        .expect("the stream stays open")
        .expect("a message");
    assert_eq!(echoed, hello);
}

/// The official Python client's dynamic discovery and a list through the aggregator.
fn python_dynamic_client(cluster: &TestCluster) {
    support::python_script(cluster, "aggregated_client.py", &["wardle"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apiservice_with_a_service_proxies_its_group() {
    let cluster = TestCluster::start().await;
    let host = bridge_address();
    let cluster_ca = std::fs::read(cluster.data_dir().join("pki/ca.crt")).unwrap();
    let seen: Seen = Arc::default();
    let (ca_pem, port, server) = extension_server(&host, &cluster_ca, seen.clone()).await;
    let file = cluster.scratch().join("wardle.yaml");
    std::fs::write(&file, manifests(&host, port, &ca_pem)).unwrap();
    stdout_ok(
        "apply",
        &cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]),
    );

    let condition = wait_for_condition(&cluster, "True/").await;
    assert_eq!(condition, "True/Passed/all checks passed");
    let port_default = cluster.kubectl(&[
        "get",
        "apiservice",
        APISERVICE,
        "-o",
        "jsonpath={.spec.service.port}",
    ]);
    assert_eq!(stdout_ok("port", &port_default), "443");

    // Discovery: legacy, aggregated (kubectl api-resources uses it) and the group document.
    let resources = stdout_ok(
        "api-resources",
        &cluster.kubectl(&[
            "api-resources",
            "--api-group=wardle.example.com",
            "--no-headers",
        ]),
    );
    assert!(
        resources.contains("flunders") && resources.contains("Flunder"),
        "{resources}"
    );
    let apis = stdout_ok("raw /apis", &cluster.kubectl(&["get", "--raw", "/apis"]));
    assert!(
        apis.contains(r#""groupVersion":"wardle.example.com/v1alpha1""#),
        "{apis}"
    );
    let group = stdout_ok(
        "raw group",
        &cluster.kubectl(&["get", "--raw", "/apis/wardle.example.com"]),
    );
    assert!(group.contains(r#""kind":"APIGroup""#), "{group}");

    // Requests reach the extension server as the user who made them.
    let list = stdout_ok(
        "get flunders",
        &cluster.kubectl(&["get", "flunders", "-n", "wardle", "-o", "json"]),
    );
    let list: Value = serde_json::from_str(&list).unwrap();
    let annotations = &list["items"][0]["metadata"]["annotations"];
    assert_eq!(annotations["wardle.example.com/requested-by"], "admin");
    assert!(annotations["wardle.example.com/groups"]
        .as_str()
        .unwrap()
        .contains("system:masters"));
    let one = cluster.kubectl(&[
        "get",
        "fl",
        "one",
        "-n",
        "wardle",
        "-o",
        "jsonpath={.metadata.name}",
    ]);
    assert_eq!(stdout_ok("get fl one", &one), "one");
    let missing = cluster.kubectl(&["get", "flunder", "two", "-n", "wardle"]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("NotFound") && stderr.contains("\"two\" not found"),
        "{stderr}"
    );

    python_dynamic_client(&cluster);
    watch_streams_through(&cluster).await;
    openapi_is_aggregated(&cluster).await;
    upgrades_pass_through(&cluster).await;

    // The aggregator authorizes first: a user without RBAC never reaches the server.
    let before = seen.lock().unwrap().len();
    let refused = cluster.kubectl(&["get", "flunders", "-n", "wardle", "--as=bob"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("Forbidden")
            && stderr
                .contains(r#"cannot list resource "flunders" in API group "wardle.example.com""#),
        "{stderr}"
    );
    assert_eq!(seen.lock().unwrap().len(), before);
    assert!(!seen.lock().unwrap().iter().any(|u| u == "bob"));

    // Extension servers learn whom to trust from the published ConfigMap.
    let names = cluster.kubectl(&[
        "get",
        "configmap",
        "-n",
        "kube-system",
        "extension-apiserver-authentication",
        "-o",
        "jsonpath={.data.requestheader-allowed-names}",
    ]);
    assert_eq!(stdout_ok("configmap", &names), r#"["front-proxy-client"]"#);

    // The server goes away: the APIService turns unavailable and requests get 503.
    server.abort();
    let _ = server.await;
    let condition = wait_for_condition(&cluster, "False/").await;
    assert!(
        condition
            .starts_with("False/FailedDiscoveryCheck/failing or missing response from https://"),
        "{condition}"
    );
    let down = cluster.kubectl(&["get", "flunders", "-n", "wardle"]);
    let stderr = String::from_utf8_lossy(&down.stderr);
    assert!(!down.status.success());
    assert!(
        stderr.contains("ServiceUnavailable") || stderr.contains("unable to handle"),
        "{stderr}"
    );
    // Every answer is a 503: the dial error until this server's table has the new condition,
    // then upstream's plain "service unavailable".
    let url = format!(
        "{}/apis/{GROUP_VERSION}/namespaces/wardle/flunders",
        cluster.base_url()
    );
    let http = cluster.http();
    let refused = eventually(Duration::from_secs(10), || async {
        let resp = http.get(&url).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 503);
        let body = resp.text().await.unwrap();
        (body == "service unavailable\n").then_some(())
    })
    .await;
    assert!(refused.is_some(), "never answered \"service unavailable\"");

    // Without endpoints, the condition says so.
    stdout_ok(
        "delete slice",
        &cluster.kubectl(&["delete", "endpointslice", "-n", "wardle", "api-1"]),
    );
    let condition = wait_for_condition(&cluster, "False/EndpointsNotFound").await;
    assert!(
        condition.ends_with(r#"cannot find endpoints for service/api in "wardle""#),
        "{condition}"
    );
    stdout_ok(
        "delete svc",
        &cluster.kubectl(&["delete", "service", "-n", "wardle", "api"]),
    );
    let condition = wait_for_condition(&cluster, "False/ServiceNotFound").await;
    assert!(
        condition.ends_with(r#"service/api in "wardle" is not present"#),
        "{condition}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_apiservices_are_refused_as_upstream_does() {
    let cluster = TestCluster::start().await;
    let file = cluster.scratch().join("bad.yaml");
    std::fs::write(
        &file,
        r#"apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1.bad.example.com}
spec:
  group: bad.example.com
  version: v1
  groupPriorityMinimum: 0
  versionPriority: 2000
  caBundle: QUJD
  insecureSkipTLSVerify: true
  service: {namespace: "", name: api, port: 70000}
"#,
    )
    .unwrap();
    let out = cluster.kubectl(&["create", "-f", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    for expected in [
        r#"The APIService "v1.bad.example.com" is invalid"#,
        "spec.groupPriorityMinimum: Invalid value: 0: must be positive and less than 20000",
        "spec.versionPriority: Invalid value: 2000: must be positive and less than 1000",
        "spec.service.namespace: Required value",
        "spec.service.port: Invalid value: 70000: port is not valid: must be between 1 and 65535, inclusive",
        "spec.insecureSkipTLSVerify: Invalid value: true: may not be true if caBundle is present",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
    let get = cluster.kubectl(&["get", "apiservice", "v1.bad.example.com"]);
    assert!(!get.status.success(), "nothing was written");
    std::fs::write(
        &file,
        r#"apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1.local.example.com}
spec: {group: local.example.com, version: v1, groupPriorityMinimum: 10, versionPriority: 10, insecureSkipTLSVerify: true}
"#,
    )
    .unwrap();
    let out = cluster.kubectl(&["create", "-f", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("spec.insecureSkipTLSVerify: Invalid value: true: local APIServices may not have insecureSkipTLSVerify"),
        "{stderr}"
    );
}
