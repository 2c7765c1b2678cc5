//! CRD conversion webhooks end to end. The test runs the webhook itself (HTTPS with its own
//! certificate, given to the CRD as `caBundle`); its conversion really changes fields, as
//! upstream's e2e webhook does: v1's `spec.hostPort: "host:port"` is v2's `spec.host` and
//! `spec.port`. kubectl then reads objects in the version they were not written in, lists
//! objects stored at different versions (one review per list, objects already at the wanted
//! version not sent), a kube-rs watch sees converted events, the webhook is reached through a
//! selectorless Service whose EndpointSlice names the Docker bridge address, and a webhook that
//! is down fails reads with a 500 (an ERROR event for a watch) and refuses writes without
//! storing anything.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, WatchEvent, WatchParams};
use serde_json::{json, Value};
use support::{eventually, stdout_ok, ClusterOptions, TestCluster};

const GROUP: &str = "conv.example.com";
const CRD: &str = "servers.conv.example.com";

/// Every review the webhook answered: (listener, desiredAPIVersion, number of objects).
type Log = Arc<Mutex<Vec<(&'static str, String, usize)>>>;

#[derive(Clone)]
struct Hook {
    via: &'static str,
    log: Log,
}

/// One object to `desired`: v1 `hostPort` <-> v2 `host` + `port`.
fn convert_one(mut obj: Value, desired: &str) -> Value {
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        if desired.ends_with("/v2") {
            if let Some(hp) = spec.remove("hostPort") {
                let hp = hp.as_str().unwrap_or("").to_string();
                let (host, port) = hp.rsplit_once(':').unwrap_or((&hp, ""));
                spec.insert("host".into(), json!(host));
                spec.insert("port".into(), json!(port));
            }
        } else {
            let host = spec.remove("host");
            let port = spec.remove("port");
            if let (Some(host), Some(port)) = (host, port) {
                let joined = format!(
                    "{}:{}",
                    host.as_str().unwrap_or(""),
                    port.as_str().unwrap_or("")
                );
                spec.insert("hostPort".into(), json!(joined));
            }
        }
    }
    obj["apiVersion"] = json!(desired);
    obj
}

async fn convert(State(hook): State<Hook>, Json(review): Json<Value>) -> Json<Value> {
    let request = &review["request"];
    let desired = request["desiredAPIVersion"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let objects = request["objects"].as_array().cloned().unwrap_or_default();
    hook.log
        .lock()
        .unwrap()
        .push((hook.via, desired.clone(), objects.len()));
    let converted: Vec<Value> = objects
        .into_iter()
        .map(|o| convert_one(o, &desired))
        .collect();
    Json(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
        "response": {"uid": request["uid"], "result": {"status": "Success"},
                     "convertedObjects": converted},
    }))
}

/// Serves the webhook on `addr` (port 0: any); returns the port.
async fn serve(addr: &str, config: Arc<rustls::ServerConfig>, hook: Hook) -> u16 {
    let app = Router::new()
        .route("/convert", post(convert))
        .with_state(hook);
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(ferrokube::http::serve::serve_tls(listener, config, app));
    port
}

/// A certificate for the loopback URL and the Service name; returns the TLS config and its PEM.
fn certificate() -> (Arc<rustls::ServerConfig>, String) {
    support::self_signed_tls(&["127.0.0.1", "convert.conv-test.svc"])
}

/// The host's Docker bridge address (`docker0`), where pods (and so endpoints) live.
fn docker_bridge_address() -> Option<String> {
    let out = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", "docker0"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let cidr = text
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)?;
    Some(cidr.split('/').next()?.to_string())
}

fn crd(client_config: &str, storage_v1: bool) -> String {
    let schema = |props: &str| {
        format!(
            "schema: {{openAPIV3Schema: {{type: object, properties: {{spec: {{type: object, properties: {{{props}}}}}}}}}}}"
        )
    };
    format!(
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: {CRD}}}
spec:
  group: {GROUP}
  scope: Namespaced
  names: {{plural: servers, singular: server, kind: Server}}
  conversion:
    strategy: Webhook
    webhook:
      conversionReviewVersions: [v1, v1beta1]
      clientConfig: {client_config}
  versions:
  - name: v1
    served: true
    storage: {storage_v1}
    selectableFields: [{{jsonPath: .spec.hostPort}}]
    {}
  - name: v2
    served: true
    storage: {}
    selectableFields: [{{jsonPath: .spec.host}}, {{jsonPath: .spec.port}}]
    {}
",
        schema("hostPort: {type: string}"),
        !storage_v1,
        schema("host: {type: string}, port: {type: string}"),
    )
}

fn apply(cluster: &TestCluster, name: &str, yaml: &str) -> std::process::Output {
    let path = cluster.scratch().join(name);
    std::fs::write(&path, yaml).unwrap();
    cluster.kubectl(&["apply", "-f", path.to_str().unwrap()])
}

fn create(cluster: &TestCluster, name: &str, yaml: &str) -> std::process::Output {
    let path = cluster.scratch().join(name);
    std::fs::write(&path, yaml).unwrap();
    cluster.kubectl(&["create", "-f", path.to_str().unwrap()])
}

fn server_v1(name: &str, host_port: &str) -> String {
    format!(
        "apiVersion: {GROUP}/v1\nkind: Server\nmetadata: {{name: {name}}}\nspec: {{hostPort: \"{host_port}\"}}\n"
    )
}

fn server_v2(name: &str, host: &str, port: &str) -> String {
    format!(
        "apiVersion: {GROUP}/v2\nkind: Server\nmetadata: {{name: {name}, labels: {{written: v2}}}}\nspec: {{host: {host}, port: \"{port}\"}}\n"
    )
}

fn get_json(cluster: &TestCluster, what: &str) -> Value {
    let out = stdout_ok(what, &cluster.kubectl(&["get", what, "-o", "json"]));
    serde_json::from_str(&out).unwrap()
}

fn v1(name: &str) -> String {
    format!("servers.v1.{GROUP}/{name}")
}

fn v2(name: &str) -> String {
    format!("servers.v2.{GROUP}/{name}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversion_webhook_converts_reads_writes_lists_and_watches() {
    let cluster = TestCluster::start_with(ClusterOptions::default().arg("--no-controllers")).await;
    let log: Log = Arc::default();
    let (tls, pem) = certificate();
    let url_hook = Hook {
        via: "url",
        log: log.clone(),
    };
    let port = serve("127.0.0.1:0", tls.clone(), url_hook).await;
    let ca = base64::engine::general_purpose::STANDARD.encode(&pem);
    let by_url = format!("{{url: \"https://127.0.0.1:{port}/convert\", caBundle: \"{ca}\"}}");
    stdout_ok("crd", &apply(&cluster, "crd.yaml", &crd(&by_url, true)));
    stdout_ok(
        "established",
        &cluster.kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=10s",
            &format!("crd/{CRD}"),
        ]),
    );

    // Written in v1 (the storage version), read in v2: the webhook split hostPort.
    stdout_ok(
        "create one",
        &create(&cluster, "one.yaml", &server_v1("one", "localhost:8080")),
    );
    let one = get_json(&cluster, &v2("one"));
    assert_eq!(one["apiVersion"], format!("{GROUP}/v2"), "{one}");
    assert_eq!(
        one["spec"],
        json!({"host": "localhost", "port": "8080"}),
        "{one}"
    );

    // Written in v2: converted to v1 for storage and back for the answer; read in v1.
    let out = stdout_ok(
        "create two",
        &create(
            &cluster,
            "two.yaml",
            &server_v2("two", "example.org", "443"),
        ),
    );
    assert!(out.contains("server.conv.example.com/two created"), "{out}");
    let two = get_json(&cluster, &v1("two"));
    assert_eq!(two["spec"], json!({"hostPort": "example.org:443"}), "{two}");
    assert_eq!(two["metadata"]["labels"], json!({"written": "v2"}), "{two}");
    let two_v2 = get_json(&cluster, &v2("two"));
    assert_eq!(
        two_v2["spec"],
        json!({"host": "example.org", "port": "443"})
    );
    assert_eq!(two_v2["metadata"]["uid"], two["metadata"]["uid"]);

    // Storage moves to v2: objects written from now on are stored at v2, so the list is mixed.
    stdout_ok(
        "storage v2",
        &apply(&cluster, "crd.yaml", &crd(&by_url, false)),
    );
    let stored_v2 = eventually(Duration::from_secs(10), || async {
        log.lock().unwrap().clear();
        let out = create(&cluster, "three.yaml", &server_v1("three", "db:5432"));
        assert!(out.status.success(), "{out:?}");
        // A create stored at v2 asks the webhook for v2 first.
        let first = log.lock().unwrap().first().cloned();
        if first.is_some_and(|(_, desired, _)| desired == format!("{GROUP}/v2")) {
            return Some(());
        }
        stdout_ok("retry", &cluster.kubectl(&["delete", &v1("three")]));
        None
    })
    .await;
    assert!(
        stored_v2.is_some(),
        "storage never moved to v2: {:?}",
        log.lock().unwrap()
    );

    log.lock().unwrap().clear();
    let list = get_json(&cluster, &format!("servers.v2.{GROUP}"));
    let specs: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["spec"])
        .collect();
    assert_eq!(
        specs,
        [
            &json!({"host": "localhost", "port": "8080"}),
            &json!({"host": "db", "port": "5432"}),
            &json!({"host": "example.org", "port": "443"}),
        ],
        "{list}"
    );
    // One review for the list, holding only the two objects still stored at v1.
    assert_eq!(
        *log.lock().unwrap(),
        [("url", format!("{GROUP}/v2"), 2)],
        "{list}"
    );
    let list = get_json(&cluster, &format!("servers.v1.{GROUP}"));
    let host_ports: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["spec"]["hostPort"])
        .collect();
    assert_eq!(
        host_ports,
        [
            &json!("localhost:8080"),
            &json!("db:5432"),
            &json!("example.org:443")
        ]
    );

    // Field selectors name the requested version's fields, whatever version is stored.
    for (version, selector, want) in [
        (
            "v2",
            "spec.host=db",
            json!([{"host": "db", "port": "5432"}]),
        ),
        ("v2", "spec.host=db,spec.port=80", json!([])),
        (
            "v1",
            "spec.hostPort=example.org:443",
            json!([{"hostPort": "example.org:443"}]),
        ),
    ] {
        let out = stdout_ok(
            "field selector",
            &cluster.kubectl(&[
                "get",
                &format!("servers.{version}.{GROUP}"),
                &format!("--field-selector={selector}"),
                "-o",
                "json",
            ]),
        );
        let list: Value = serde_json::from_str(&out).expect("json");
        let specs: Vec<Value> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["spec"].clone())
            .collect();
        assert_eq!(json!(specs), want, "{version} {selector}: {out}");
    }

    // A kube-rs watch in v1 sees an object written in v2 converted; one in v2 selecting
    // `spec.host=cache` sees only that object.
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(GROUP, "v1", "Server"));
    let servers: Api<DynamicObject> =
        Api::namespaced_with(cluster.client().await, "default", &resource);
    let mut events = servers
        .watch(&WatchParams::default().timeout(30), "0")
        .await
        .expect("watch")
        .boxed();
    let resource_v2 = ApiResource::from_gvk(&GroupVersionKind::gvk(GROUP, "v2", "Server"));
    let servers_v2: Api<DynamicObject> =
        Api::namespaced_with(cluster.client().await, "default", &resource_v2);
    let mut selected = servers_v2
        .watch(
            &WatchParams::default().timeout(30).fields("spec.host=cache"),
            "0",
        )
        .await
        .expect("watch with a field selector")
        .boxed();
    stdout_ok(
        "create four",
        &create(&cluster, "four.yaml", &server_v2("four", "cache", "6379")),
    );
    let seen = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(event) = events.try_next().await.expect("watch event") {
            if let WatchEvent::Added(obj) = event {
                if obj.metadata.name.as_deref() == Some("four") {
                    return obj;
                }
            }
        }
        panic!("the watch ended before object four");
    })
    .await
    .expect("no ADDED event for four");
    assert_eq!(
        seen.types.as_ref().unwrap().api_version,
        format!("{GROUP}/v1")
    );
    assert_eq!(seen.data["spec"], json!({"hostPort": "cache:6379"}));
    drop(events);
    let first = tokio::time::timeout(Duration::from_secs(20), selected.try_next())
        .await
        .expect("no event through the field selector")
        .expect("watch event");
    match first {
        Some(WatchEvent::Added(obj)) => {
            assert_eq!(obj.metadata.name.as_deref(), Some("four"));
            assert_eq!(obj.data["spec"], json!({"host": "cache", "port": "6379"}));
        }
        other => panic!("expected ADDED four through spec.host=cache, got {other:?}"),
    }
    drop(selected);

    // The same webhook through a selectorless Service whose EndpointSlice names the Docker
    // bridge address (where a pod serving it would be reachable from the host).
    if let Some(bridge) = docker_bridge_address() {
        let service_hook = Hook {
            via: "service",
            log: log.clone(),
        };
        let target = serve(&format!("{bridge}:0"), tls.clone(), service_hook).await;
        let objects = format!(
            "apiVersion: v1
kind: Namespace
metadata: {{name: conv-test}}
---
apiVersion: v1
kind: Service
metadata: {{name: convert, namespace: conv-test}}
spec: {{ports: [{{port: 443, targetPort: {target}}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: convert-1
  namespace: conv-test
  labels: {{kubernetes.io/service-name: convert, endpointslice.kubernetes.io/managed-by: test}}
addressType: IPv4
ports: [{{port: {target}}}]
endpoints: [{{addresses: [\"{bridge}\"], conditions: {{ready: true}}}}]
"
        );
        stdout_ok("service", &apply(&cluster, "service.yaml", &objects));
        let by_service = format!(
            "{{service: {{namespace: conv-test, name: convert, path: /convert}}, caBundle: \"{ca}\"}}"
        );
        stdout_ok(
            "to service",
            &apply(&cluster, "crd.yaml", &crd(&by_service, false)),
        );
        let via_service = eventually(Duration::from_secs(10), || async {
            log.lock().unwrap().clear();
            let one = get_json(&cluster, &v2("one"));
            let via = log.lock().unwrap().first().map(|(via, _, _)| *via);
            (via == Some("service")).then_some(one)
        })
        .await
        .expect("the webhook was never called through its Service");
        assert_eq!(
            via_service["spec"],
            json!({"host": "localhost", "port": "8080"})
        );
    } else {
        eprintln!("no docker0 bridge: the Service target is not exercised");
    }

    // The webhook goes down: reads needing conversion fail with upstream's 500, a write
    // needing conversion is refused and nothing is stored.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = closed.local_addr().unwrap().port();
    drop(closed);
    let dead = format!("{{url: \"https://127.0.0.1:{dead_port}/convert\", caBundle: \"{ca}\"}}");
    stdout_ok("down", &apply(&cluster, "crd.yaml", &crd(&dead, false)));
    let err = eventually(Duration::from_secs(10), || async {
        let out = cluster.kubectl(&["get", &v2("one"), "-o", "json"]);
        (!out.status.success()).then(|| String::from_utf8_lossy(&out.stderr).into_owned())
    })
    .await
    .expect("reads never failed with the webhook down");
    assert!(
        err.contains("(InternalError)")
            && err.contains(&format!("conversion webhook for {GROUP}/v1, Kind=Server failed: Post \"https://127.0.0.1:{dead_port}/convert")),
        "{err}"
    );
    let out = create(&cluster, "five.yaml", &server_v1("five", "gone:1"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("conversion webhook for"),
        "{err}"
    );
    let out = cluster.kubectl(&["get", &v2("five")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
    // Objects already at the requested version are still served without the webhook.
    let three = get_json(&cluster, &v2("three"));
    assert_eq!(three["spec"], json!({"host": "db", "port": "5432"}));
    // A watch in v1 gets an ERROR event for an object stored at v2 it cannot convert; a write
    // at the storage version needs no conversion and still succeeds.
    let since = three["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let mut events = servers
        .watch(&WatchParams::default().timeout(20), &since)
        .await
        .expect("watch")
        .boxed();
    stdout_ok(
        "create six",
        &create(&cluster, "six.yaml", &server_v2("six", "queue", "5672")),
    );
    let status = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(event) = events.try_next().await.expect("watch event") {
            if let WatchEvent::Error(status) = event {
                return status;
            }
        }
        panic!("the watch ended without an ERROR event");
    })
    .await
    .expect("no ERROR event");
    assert_eq!(status.code, 500, "{status:?}");
    assert!(
        status.message.contains(&format!(
            "conversion webhook for {GROUP}/v2, Kind=Server failed"
        )),
        "{status:?}"
    );

    // CRD validation of spec.conversion, as upstream words it.
    let both = format!(
        "{{url: \"https://127.0.0.1:{port}/convert\", service: {{namespace: other, name: hook}}, caBundle: \"{ca}\"}}"
    );
    let out = apply(&cluster, "bad.yaml", &crd(&both, false));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("spec.conversion.webhookClientConfig: Required value: exactly one of url or service is required"),
        "{err}"
    );
}
