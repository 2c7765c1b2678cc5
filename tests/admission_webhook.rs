//! Admission webhooks end to end: the test runs a small HTTPS webhook server (its own
//! self-signed certificate, given to the configurations as `caBundle`); kubectl then sees a
//! mutating webhook's patch and warning, a validating webhook's refusal with its code and
//! message, a namespace selector leaving other namespaces alone, and a slow webhook refusing
//! under `failurePolicy: Fail` (context deadline) but skipped under `Ignore`. The audit log
//! shows the webhooks' audit annotations and which mutating webhooks changed the object.

mod support;

use std::time::Duration;

use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};
use support::{eventually, stdout_ok, TestCluster};

fn respond(review: &Value, response: Value) -> Json<Value> {
    let mut response = response;
    response["uid"] = review["request"]["uid"].clone();
    Json(
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}),
    )
}

async fn validate(Json(review): Json<Value>) -> Json<Value> {
    let forbidden = review["request"]["object"]["data"]
        .get("forbidden")
        .is_some();
    // Upstream's e2e webhook explains a denial in `status.reason` only.
    let unwanted = review["request"]["object"]["data"]
        .get("unwanted")
        .is_some();
    let response = match (forbidden, unwanted) {
        (true, _) => {
            json!({"allowed": false, "status": {"code": 403, "message": "the key 'forbidden' is not allowed"}})
        }
        (_, true) => {
            json!({"allowed": false, "status": {"reason": "the configmap contains unwanted key and value"}})
        }
        _ => json!({"allowed": true, "warnings": ["checked by the test webhook"],
            "auditAnnotations": {"checked": "yes"}}),
    };
    respond(&review, response)
}

async fn mutate(Json(review): Json<Value>) -> Json<Value> {
    let has_labels = review["request"]["object"]["metadata"]
        .get("labels")
        .is_some();
    let patch = match has_labels {
        true => json!([{"op": "add", "path": "/metadata/labels/mutated", "value": "yes"}]),
        false => json!([{"op": "add", "path": "/metadata/labels", "value": {"mutated": "yes"}}]),
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(patch.to_string());
    respond(
        &review,
        json!({"allowed": true, "patchType": "JSONPatch", "patch": encoded}),
    )
}

/// Adds an init container without the fields the API server defaults (upstream's e2e "should
/// mutate pod and apply defaults after mutation"), and a field pods do not have.
async fn add_init(Json(review): Json<Value>) -> Json<Value> {
    let patch = json!([{"op": "add", "path": "/spec/initContainers",
        "value": [{"name": "webhook-added-init-container", "image": "busybox",
            "command": ["true"]}]},
        {"op": "add", "path": "/spec/notAPodField", "value": "pruned"}]);
    let encoded = base64::engine::general_purpose::STANDARD.encode(patch.to_string());
    respond(
        &review,
        json!({"allowed": true, "patchType": "JSONPatch", "patch": encoded}),
    )
}

/// Records in label `seen` the `mutated` label it finds (`absent` when none): with
/// `reinvocationPolicy: IfNeeded` it is called again after the mutate webhook adds that label.
async fn observe(Json(review): Json<Value>) -> Json<Value> {
    let labels = &review["request"]["object"]["metadata"]["labels"];
    let seen = labels["mutated"].as_str().unwrap_or("absent");
    let patch = match labels.is_object() {
        true => json!([{"op": "add", "path": "/metadata/labels/seen", "value": seen}]),
        false => json!([{"op": "add", "path": "/metadata/labels", "value": {"seen": seen}}]),
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(patch.to_string());
    respond(
        &review,
        json!({"allowed": true, "patchType": "JSONPatch", "patch": encoded}),
    )
}

/// Upstream's e2e `denySpecificAttachment`: refuses attaching with stdin to container1.
async fn attach(Json(review): Json<Value>) -> Json<Value> {
    let request = &review["request"];
    let options = &request["object"];
    let refuse = request["operation"] == "CONNECT"
        && request["subResource"] == "attach"
        && request["kind"]["kind"] == "PodAttachOptions"
        && options["stdin"] == json!(true)
        && options["container"] == "container1";
    let response = match refuse {
        true => json!({"allowed": false,
            "status": {"message": format!("attaching to pod '{}' is not allowed", request["name"].as_str().unwrap_or(""))}}),
        false => json!({"allowed": true}),
    };
    respond(&review, response)
}

async fn slow(Json(review): Json<Value>) -> Json<Value> {
    tokio::time::sleep(Duration::from_secs(3)).await;
    respond(&review, json!({"allowed": true}))
}

/// Starts the webhook server on a free loopback port; returns its port and CA bundle (PEM).
async fn webhook_server() -> (u16, String) {
    let (config, pem) = support::self_signed_tls(&["127.0.0.1"]);
    let app = Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .route("/addinit", post(add_init))
        .route("/observe", post(observe))
        .route("/slow", post(slow))
        .route("/attach", post(attach));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(ferrokube::http::serve::serve_tls(listener, config, app));
    (port, pem)
}

fn configurations(port: u16, ca_pem: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let hook = |name: &str, path: &str, resource: &str, extra: &str| {
        format!(
            r#"
- name: {name}
  clientConfig: {{url: "https://127.0.0.1:{port}/{path}", caBundle: "{ca}"}}
  rules: [{{apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["{resource}"]}}]
  namespaceSelector: {{matchLabels: {{webhooks: "on"}}}}
  sideEffects: None
  admissionReviewVersions: ["v1"]
{extra}"#
        )
    };
    format!(
        "apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {{name: label-adder}}
webhooks:{}{}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {{name: checks}}
webhooks:{}{}
",
        hook(
            "observe.test.io",
            "observe",
            "configmaps",
            "  reinvocationPolicy: IfNeeded"
        ),
        hook("mutate.test.io", "mutate", "configmaps", "")
            + &hook("addinit.test.io", "addinit", "pods", ""),
        hook("deny.test.io", "validate", "configmaps", ""),
        hook(
            "slow.test.io",
            "slow",
            "secrets",
            "  timeoutSeconds: 1\n  failurePolicy: Fail"
        ) + &hook("attach.test.io", "attach", "pods/attach", "")
            .replace(r#"["CREATE", "UPDATE"]"#, r#"["CONNECT"]"#),
    )
}

const AUDIT_POLICY: &str = r#"
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Request
  resources: [{group: "", resources: ["configmaps"]}]
- level: None
"#;

/// The create of `good`: the validating webhook's audit annotation under its name, and each
/// mutating webhook call by round and index (the IfNeeded one called again in round 1).
async fn audit_shows_the_webhooks(log: &std::path::Path) {
    let event = eventually(Duration::from_secs(10), || async {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|e| e["verb"] == "create" && e["objectRef"]["name"] == "good")
    })
    .await
    .expect("the create of good in the audit log");
    let annotations = &event["annotations"];
    assert_eq!(annotations["deny.test.io/checked"], "yes", "{event}");
    let call = |key: &str| -> Value {
        let at = format!("mutation.webhook.admission.k8s.io/{key}");
        let text = annotations[&at]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: {event}"));
        serde_json::from_str(text).unwrap()
    };
    assert_eq!(
        call("round_0_index_1"),
        json!({"configuration": "label-adder", "webhook": "mutate.test.io", "mutated": true})
    );
    assert_eq!(call("round_0_index_0")["webhook"], "observe.test.io");
    assert_eq!(call("round_1_index_0")["mutated"], true);
    // At the Request level, the patch each mutating webhook returned.
    let at = "patch.webhook.admission.k8s.io/round_0_index_1";
    let patch: Value = serde_json::from_str(
        annotations[at]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: {event}")),
    )
    .unwrap();
    assert_eq!(patch["configuration"], "label-adder", "{patch}");
    assert_eq!(patch["webhook"], "mutate.test.io");
    assert_eq!(patch["patchType"], "JSONPatch");
    assert_eq!(patch["patch"][0]["op"], "add", "{patch}");
    assert!(
        patch["patch"][0]["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("/metadata/labels")),
        "{patch}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_mutate_refuse_and_time_out() {
    let (options, audit_log, _audit_dir) = support::audit::options(AUDIT_POLICY);
    let cluster = TestCluster::start_with(options).await;
    let (port, ca) = webhook_server().await;
    stdout_ok("ns", &cluster.kubectl(&["create", "ns", "hooked"]));
    stdout_ok(
        "label",
        &cluster.kubectl(&["label", "ns", "hooked", "webhooks=on"]),
    );
    let path = cluster.scratch().join("hooks.yaml");
    std::fs::write(&path, configurations(port, &ca)).unwrap();
    stdout_ok(
        "apply",
        &cluster.kubectl(&["apply", "-f", path.to_str().unwrap()]),
    );

    // Refused by the validating webhook (once the configuration is in effect).
    connect_is_admitted(&cluster).await;
    let refused = eventually(Duration::from_secs(10), || async {
        let out = cluster.kubectl(&[
            "-n",
            "hooked",
            "create",
            "configmap",
            "bad",
            "--from-literal=forbidden=x",
        ]);
        (!out.status.success()).then(|| String::from_utf8_lossy(&out.stderr).into_owned())
    })
    .await
    .expect("the validating webhook never refused");
    assert!(
        refused.contains("admission webhook \"deny.test.io\" denied the request: the key 'forbidden' is not allowed"),
        "{refused}"
    );
    let out = cluster.kubectl(&[
        "-n",
        "hooked",
        "create",
        "configmap",
        "unwanted",
        "--from-literal=unwanted=x",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("denied the request: the configmap contains unwanted key and value"),
        "{err}"
    );

    let out = cluster.kubectl(&[
        "-n",
        "hooked",
        "create",
        "configmap",
        "good",
        "--from-literal=a=b",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Warning: checked by the test webhook"),
        "{out:?}"
    );
    let labels = stdout_ok(
        "get",
        &cluster.kubectl(&[
            "-n",
            "hooked",
            "get",
            "configmap",
            "good",
            "-o",
            "jsonpath={.metadata.labels}",
        ]),
    );
    assert!(labels.contains("\"mutated\":\"yes\""), "{labels}");
    // The IfNeeded webhook ran first, saw no label, and was called again after the mutating
    // webhook after it added one.
    assert!(labels.contains("\"seen\":\"yes\""), "{labels}");
    audit_shows_the_webhooks(&audit_log).await;

    // What a webhook adds gets the kind's defaults before validation and storage.
    stdout_ok(
        "pod",
        &cluster.kubectl(&[
            "-n",
            "hooked",
            "run",
            "p",
            "--image=busybox",
            "--restart=Never",
        ]),
    );
    let init = stdout_ok(
        "get pod",
        &cluster.kubectl(&[
            "-n",
            "hooked",
            "get",
            "pod",
            "p",
            "-o",
            "jsonpath={.spec.initContainers[0].terminationMessagePolicy} {.spec.initContainers[0].imagePullPolicy}",
        ]),
    );
    assert_eq!(
        init, "File Always",
        "defaults of the webhook's init container"
    );
    let spec = stdout_ok(
        "get pod",
        &cluster.kubectl(&["-n", "hooked", "get", "pod", "p", "-o", "jsonpath={.spec}"]),
    );
    assert!(
        !spec.contains("notAPodField"),
        "a field the kind lacks is dropped: {spec}"
    );

    // Namespaces the selector leaves out are not sent to the webhooks.
    stdout_ok(
        "other",
        &cluster.kubectl(&["create", "configmap", "plain", "--from-literal=forbidden=x"]),
    );
    let labels = stdout_ok(
        "get",
        &cluster.kubectl(&[
            "get",
            "configmap",
            "plain",
            "-o",
            "jsonpath={.metadata.labels}",
        ]),
    );
    assert!(!labels.contains("mutated"), "{labels}");

    // A webhook slower than its timeout refuses under Fail, and is skipped under Ignore.
    let out = cluster.kubectl(&[
        "-n",
        "hooked",
        "create",
        "secret",
        "generic",
        "s",
        "--from-literal=a=b",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("failed calling webhook \"slow.test.io\": failed to call webhook: Post \"https://127.0.0.1:")
            && stderr.contains("?timeout=1s\": context deadline exceeded"),
        "{stderr}"
    );
    // The request's own deadline is shorter than the webhook's: upstream's 504, nothing stored.
    let resp = cluster
        .http()
        .post(format!(
            "{}/api/v1/namespaces/hooked/secrets?timeout=300ms",
            cluster.base_url()
        ))
        .json(&serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "hurried"}, "stringData": {"a": "b"}}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 504);
    let status: serde_json::Value = resp.json().await.expect("status");
    assert_eq!(status["reason"], "Timeout", "{status}");
    let gone = cluster.kubectl(&["-n", "hooked", "get", "secret", "hurried"]);
    assert!(!gone.status.success(), "a timed-out create stored nothing");
    let bad = cluster
        .http()
        .get(format!(
            "{}/api/v1/namespaces?timeout=soon",
            cluster.base_url()
        ))
        .send()
        .await
        .expect("get");
    assert_eq!(bad.status().as_u16(), 400);

    let ignore = r#"[{"op": "replace", "path": "/webhooks/1/failurePolicy", "value": "Ignore"}]"#;
    stdout_ok(
        "ignore",
        &cluster.kubectl(&[
            "patch",
            "validatingwebhookconfiguration",
            "checks",
            "--type=json",
            "-p",
            ignore,
        ]),
    );
    let allowed = eventually(Duration::from_secs(15), || async {
        let out = cluster.kubectl(&[
            "-n",
            "hooked",
            "create",
            "secret",
            "generic",
            "s",
            "--from-literal=a=b",
        ]);
        out.status.success().then_some(())
    })
    .await;
    assert!(allowed.is_some(), "failurePolicy Ignore still refused");
}

/// A `CONNECT` webhook on `pods/attach` judges the attach options (upstream's "should be able
/// to deny attaching pod"): refused with its message before any stream opens; exec and other
/// containers are not its business.
async fn connect_is_admitted(cluster: &TestCluster) {
    let pod = cluster.scratch().join("pod.json");
    std::fs::write(
        &pod,
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "to-be-attached-pod"},
            "spec": {"containers": [{"name": "container1", "image": "busybox"}]}})
        .to_string(),
    )
    .unwrap();
    let created = eventually(Duration::from_secs(10), || async {
        let out = cluster.kubectl(&["-n", "hooked", "create", "-f", pod.to_str().unwrap()]);
        out.status.success().then_some(())
    })
    .await;
    assert!(created.is_some(), "pod not created");
    let http = cluster.http();
    let base = format!(
        "{}/api/v1/namespaces/hooked/pods/to-be-attached-pod",
        cluster.base_url()
    );
    let status = eventually(Duration::from_secs(10), || async {
        let resp = http
            .post(format!(
                "{base}/attach?container=container1&stdin=true&stdout=true"
            ))
            .send()
            .await
            .ok()?;
        let body: Value = resp.json().await.ok()?;
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("denied the request"))
            .then_some(body)
    })
    .await
    .expect("the attach webhook never refused");
    assert_eq!(status["code"], 400, "{status}");
    assert_eq!(
        status["message"],
        "admission webhook \"attach.test.io\" denied the request: attaching to pod 'to-be-attached-pod' is not allowed"
    );
    // Other connect requests reach the pod (here: it is not scheduled, upstream's 400).
    let resp = http
        .post(format!(
            "{base}/exec?container=container1&stdin=true&command=sh"
        ))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert!(
        !body["message"].as_str().unwrap_or("").contains("denied"),
        "{body}"
    );
}
