//! `pods/proxy`, `services/proxy` and `nodes/proxy` against pods on the real Docker engine,
//! driven by kubectl (`get --raw`), plain HTTPS requests for every method upstream's
//! conformance spec sends, and the Python `kubernetes` client: methods, headers, bodies and
//! queries reach the pod; upstream's redirect of a bare `.../proxy`, its link and redirect
//! rewriting, its 400/404/503 answers; RBAC on the subresource; and no proxying to addresses
//! the cluster does not vouch for.

mod kubelet_common;
mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use kube::api::{Api, PostParams};
use kubelet_common::*;
use serde_json::{json, Value};
use support::{eventually, TestCluster};

const ECHO: &str = include_str!("fixtures/http_echo.sh");

/// A pod serving [`ECHO`] on 8080 (declared, so it is the pod's default proxy port).
fn echo_pod(name: &str) -> Value {
    json!({"metadata": {"name": name, "labels": {"app": "echo"}},
        "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
            "name": "echo", "image": "busybox", "imagePullPolicy": "Never",
            "env": [{"name": "SCRIPT", "value": ECHO}],
            "command": ["sh", "-c", "echo \"$SCRIPT\" > /tmp/h.sh; exec nc -ll -p 8080 -e sh /tmp/h.sh"],
            "ports": [{"containerPort": 8080}]}]}})
}

fn base(c: &TestCluster) -> String {
    format!("{}/api/v1/namespaces/default", c.base_url())
}

async fn answer(resp: reqwest::Response) -> (u16, Value) {
    let code = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (
        code,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_service_and_node_proxies() {
    let (_serial, _sweep, c, node) = cluster("e2e-proxy").await;
    let client = c.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create(&pods, echo_pod("echo")).await;
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc = json!({"metadata": {"name": "echo-svc"}, "spec": {"selector": {"app": "echo"},
        "ports": [{"name": "http", "port": 80, "targetPort": 8080},
                  {"name": "closed", "port": 81, "targetPort": 8081}]}});
    let one = json!({"metadata": {"name": "echo-one"}, "spec": {"selector": {"app": "echo"},
        "ports": [{"port": 80, "targetPort": 8080}]}});
    for svc in [svc, one] {
        services
            .create(
                &PostParams::default(),
                &serde_json::from_value(svc).expect("svc"),
            )
            .await
            .expect("create service");
    }
    wait_pod(&pods, "echo", "ready", is_ready).await;
    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    for name in ["echo-svc", "echo-one"] {
        let ready = eventually(POD_WAIT, || async {
            let eps = endpoints.get(name).await.ok()?;
            let subsets = eps.subsets.unwrap_or_default();
            subsets
                .iter()
                .any(|s| s.addresses.as_ref().is_some_and(|a| !a.is_empty()))
                .then_some(())
        })
        .await;
        assert!(ready.is_some(), "endpoints of {name}");
    }

    // kubectl: the name:port form, a subpath and a query reach the pod as sent.
    let out = kubectl_ok(
        &c,
        &[
            "get",
            "--raw",
            "/api/v1/namespaces/default/pods/echo:8080/proxy/some/path?x=1&y=2",
        ],
    );
    let got: Value = serde_json::from_str(&out).expect("json from the pod");
    assert_eq!(got["Method"], "GET");
    assert_eq!(got["Path"], "/some/path?x=1&y=2");

    // Every method upstream's "valid responses ... ProxyWithPath" spec sends, with a body and
    // a header, through the pod and the service (by its only port, a port name, a port
    // number); HEAD answers 200 with no body.
    let http = c.http_with(reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()));
    let via = [
        format!("{}/pods/echo/proxy", base(&c)),
        format!("{}/services/echo-one/proxy", base(&c)),
        format!("{}/services/echo-svc:http/proxy", base(&c)),
        format!("{}/services/http:echo-svc:80/proxy", base(&c)),
    ];
    for prefix in &via {
        for method in ["DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"] {
            let url = format!("{prefix}/some/path/with/{method}");
            let req = http
                .request(method.parse().expect("method"), &url)
                .header("X-Test", "yes")
                .body(if method == "GET" { "" } else { "payload" });
            let (code, got) = answer(req.send().await.expect("request")).await;
            assert_eq!(code, 200, "{method} {url}: {got}");
            assert_eq!(got["Method"], method, "{url}");
            assert_eq!(got["Path"], format!("/some/path/with/{method}"));
            assert_eq!(got["X"], "yes", "headers pass through");
            if method != "GET" {
                assert_eq!(got["Body"], "payload", "{method} body passes through");
            }
        }
        let head = http.head(format!("{prefix}/x")).send().await.expect("HEAD");
        assert_eq!(head.status().as_u16(), 200);
        // The bare `.../proxy`: other methods go to `/`, GET and HEAD are redirected there.
        let (code, got) = answer(
            http.post(format!("{prefix}?method=POST"))
                .send()
                .await
                .expect("POST"),
        )
        .await;
        assert_eq!((code, &got["Path"]), (200, &json!("/?method=POST")));
        for method in ["GET", "HEAD"] {
            let resp = http
                .request(
                    method.parse().expect("method"),
                    format!("{prefix}?method={method}"),
                )
                .send()
                .await
                .expect("redirect");
            assert_eq!(resp.status().as_u16(), 301, "{method} {prefix}");
            let path = prefix.trim_start_matches(&c.base_url());
            assert_eq!(
                resp.headers()["location"],
                format!("{path}/?method={method}").as_str()
            );
        }
    }

    // Links and redirects of the backend are rewritten to go through the proxy again; the
    // backend's CORS headers are dropped.
    let page = http
        .get(format!("{}/pods/echo:8080/proxy/page", base(&c)))
        .send()
        .await
        .expect("page");
    assert!(page.headers().get("access-control-allow-origin").is_none());
    assert_eq!(
        page.text().await.expect("page body"),
        r#"<a href="/api/v1/namespaces/default/pods/echo:8080/proxy/rewriteme">test</a>"#
    );
    let moved = http
        .get(format!("{}/services/echo-one/proxy/redirect", base(&c)))
        .send()
        .await
        .expect("redirect");
    assert_eq!(moved.status().as_u16(), 302);
    assert_eq!(
        moved.headers()["location"],
        "/api/v1/namespaces/default/services/echo-one/proxy/target"
    );

    // nodes/proxy reaches the kubelet over its TLS.
    let out = kubectl_ok(
        &c,
        &[
            "get",
            "--raw",
            &format!("/api/v1/nodes/{node}/proxy/healthz"),
        ],
    );
    assert_eq!(out.trim(), "ok");
    node_logs(&c, &node);

    bad_input(&c, &http).await;
    python_client(&c);
    rbac(&c, &http).await;
}

/// The kubelet's `/logs/` (upstream's file server over `/var/log`) through `nodes/proxy`: the
/// listing names a file the test put there and the file reads back; nothing outside is served.
fn node_logs(c: &TestCluster, node: &str) {
    let name = format!("ferrokube-test-{node}.log");
    let file = std::path::Path::new("/var/log").join(&name);
    std::fs::write(&file, "node log line\n").expect("write a file under /var/log");
    let base = format!("/api/v1/nodes/{node}/proxy/logs/");
    let listing = kubectl_ok(c, &["get", "--raw", &base]);
    let link = format!("<a href=\"{name}\">{name}</a>");
    let content = kubectl_ok(c, &["get", "--raw", &format!("{base}{name}")]);
    let escape = kubectl_fails(c, &["get", "--raw", &format!("{base}..%2Fetc%2Fpasswd")]);
    let _ = std::fs::remove_file(&file);
    assert!(listing.starts_with("<!doctype html>"), "{listing}");
    assert!(listing.contains(&link), "{listing}");
    assert_eq!(content.trim(), "node log line");
    assert!(
        escape.contains("NotFound") || escape.contains("not found"),
        "{escape}"
    );
}

/// Upstream's answers where no backend can be reached or named.
async fn bad_input(c: &TestCluster, http: &reqwest::Client) {
    let get = |path: String| {
        let http = http.clone();
        async move {
            let resp = http.get(&path).send().await.expect("request");
            answer(resp).await
        }
    };
    let b = base(c);
    let cases = [
        (
            format!("{b}/pods/ftp:echo:80/proxy/"),
            400,
            "invalid pod request \"ftp:echo:80\"",
        ),
        (
            format!("{b}/pods/nope/proxy/"),
            404,
            "pods \"nope\" not found",
        ),
        (
            format!("{b}/services/nope/proxy/"),
            404,
            "endpoints \"nope\" not found",
        ),
        (
            format!("{b}/services/echo-svc/proxy/"),
            503,
            "no endpoints available for service \"echo-svc\"",
        ),
        (
            format!("{b}/services/echo-svc:99/proxy/"),
            503,
            "no service port 99 found for service \"echo-svc\"",
        ),
        (
            format!("{b}/services/echo-svc:81/proxy/"),
            503,
            "error trying to reach service: dial tcp",
        ),
        (
            format!("{b}/pods/echo:9/proxy/"),
            503,
            "error trying to reach service: dial tcp",
        ),
        (
            format!("{}/api/v1/nodes/nope/proxy/healthz", c.base_url()),
            404,
            "nodes \"nope\" not found",
        ),
        (
            format!("{b}/pods/echo/status/extra"),
            404,
            "the server could not find the requested resource",
        ),
    ];
    for (url, code, message) in cases {
        let (got_code, got) = get(url.clone()).await;
        assert_eq!(got_code, code, "{url}: {got}");
        assert_eq!(got["kind"], "Status", "{url}: {got}");
        let msg = got["message"].as_str().unwrap_or("");
        assert!(
            msg.starts_with(message),
            "{url}: {msg:?} should start with {message:?}"
        );
    }
    // A pod without an IP yet, and endpoints written by hand to an address no pod of the
    // service has: neither is proxied to.
    let pods: Api<Pod> = Api::namespaced(c.client().await, "default");
    let mut pending = echo_pod("unscheduled");
    pending["spec"]["nodeSelector"] = json!({"no-such-label": "x"});
    create(&pods, pending).await;
    let (code, got) = get(format!("{b}/pods/unscheduled/proxy/")).await;
    assert_eq!(
        (code, got["message"].as_str()),
        (400, Some("address not allowed"))
    );
    let services: Api<Service> = Api::namespaced(c.client().await, "default");
    let manual = json!({"metadata": {"name": "manual"}, "spec": {"ports": [{"port": 80}]}});
    services
        .create(
            &PostParams::default(),
            &serde_json::from_value(manual).expect("svc"),
        )
        .await
        .expect("selector-less service");
    let endpoints: Api<Endpoints> = Api::namespaced(c.client().await, "default");
    let eps = json!({"metadata": {"name": "manual"}, "subsets": [{
        "addresses": [{"ip": "127.0.0.1"}, {"ip": "127.0.0.1", "targetRef": {"kind": "Pod", "namespace": "default", "name": "echo"}}],
        "ports": [{"port": 6443}]}]});
    endpoints
        .create(
            &PostParams::default(),
            &serde_json::from_value(eps).expect("eps"),
        )
        .await
        .expect("manual endpoints");
    let (code, got) = get(format!("{b}/services/manual/proxy/")).await;
    assert_eq!(
        (code, got["message"].as_str()),
        (503, Some("no endpoints available for service \"manual\""))
    );
}

/// The official Python client's generated proxy calls.
fn python_client(c: &TestCluster) {
    let script = r#"
import json, sys
from kubernetes import client, config
config.load_kube_config()
v1 = client.CoreV1Api()
resp = v1.connect_post_namespaced_pod_proxy_with_path(
    "echo:8080", "default", "py/path", _preload_content=False)
got = json.loads(resp.data)
assert got["Method"] == "POST" and got["Path"] == "/py/path", got
got = v1.connect_get_namespaced_service_proxy_with_path("echo-svc:http", "default", "page")
assert "/api/v1/namespaces/default/services/echo-svc:http/proxy/rewriteme" in got, got
print("ok")
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .env("KUBECONFIG", c.kubeconfig())
        .env("HOME", c.scratch())
        .output()
        .expect("python3");
    assert!(
        String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "python client: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `get pods` does not grant `pods/proxy`; a role naming the subresource grants what its
/// verbs say (GET is `get`, POST is `create`).
async fn rbac(c: &TestCluster, http: &reqwest::Client) {
    let raw = "/api/v1/namespaces/default/pods/echo:8080/proxy/rbac";
    kubectl_ok(
        c,
        &[
            "create",
            "role",
            "reader",
            "--verb=get,list",
            "--resource=pods",
        ],
    );
    kubectl_ok(
        c,
        &[
            "create",
            "rolebinding",
            "reader",
            "--role=reader",
            "--user=alice",
        ],
    );
    let err = kubectl_fails(c, &["get", "--raw", raw, "--as=alice"]);
    assert!(
        err.contains("cannot get resource \"pods/proxy\""),
        "alice without pods/proxy: {err}"
    );
    kubectl_ok(
        c,
        &[
            "create",
            "role",
            "proxier",
            "--verb=get",
            "--resource=pods/proxy",
        ],
    );
    kubectl_ok(
        c,
        &[
            "create",
            "rolebinding",
            "proxier",
            "--role=proxier",
            "--user=alice",
        ],
    );
    let granted = eventually(Duration::from_secs(10), || async {
        c.kubectl(&["get", "--raw", raw, "--as=alice"])
            .status
            .success()
            .then_some(())
    })
    .await;
    assert!(granted.is_some(), "alice with get on pods/proxy");
    let post = http
        .post(format!("{}{raw}", c.base_url()))
        .header("Impersonate-User", "alice")
        .body("x")
        .send()
        .await
        .expect("POST as alice");
    let (code, got) = answer(post).await;
    assert_eq!(
        code, 403,
        "create on pods/proxy needs the create verb: {got}"
    );
    let anonymous = c
        .anonymous_http()
        .get(format!("{}{raw}", c.base_url()))
        .send()
        .await
        .expect("anonymous");
    assert_eq!(anonymous.status().as_u16(), 401);
}
