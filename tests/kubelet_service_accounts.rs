//! Service accounts end to end (Docker): `kubectl create token` and TokenRequest errors, tokens
//! authenticating against the API, the admission-added `kube-api-access-*` volume with the
//! kubelet-filled token, CA bundle and namespace, `automountServiceAccountToken: false`, and
//! service environment variables (`enableServiceLinks`) read back with `kubectl exec env`.

mod kubelet_common;
mod support;

use base64::Engine;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::api::Api;
use kubelet_common::*;
use serde_json::{json, Value};
use support::{eventually, TestCluster};

const TOKEN_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The status code of `GET pods` in `default` with a bearer token.
async fn list_pods_with(c: &TestCluster, token: &str) -> u16 {
    c.anonymous_http()
        .get(format!("{}/api/v1/namespaces/default/pods", c.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET pods")
        .status()
        .as_u16()
}

/// The decoded (unverified) claims of a JWT.
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("JWT payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("claims JSON")
}

async fn token_request(c: &TestCluster, account: &str, body: Value) -> (u16, Value) {
    let resp = c
        .http()
        .post(format!(
            "{}/api/v1/namespaces/default/serviceaccounts/{account}/token",
            c.base_url()
        ))
        .json(&body)
        .send()
        .await
        .expect("POST token");
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_projected_volumes_and_service_env() {
    let (_serial, _sweep, c, _node) = cluster("e2e-sa").await;
    let client = c.client().await;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    let exists = eventually(POD_WAIT, || async { accounts.get("default").await.ok() }).await;
    assert!(
        exists.is_some(),
        "the default service account never appeared"
    );

    // kubectl create token: a JWT that authenticates as the account (which may read pods in
    // its namespace once bound to `view`; without the binding RBAC answers 403, not 401).
    let token = kubectl_ok(&c, &["create", "token", "default"]);
    assert_eq!(list_pods_with(&c, token.trim()).await, 403);
    kubectl_ok(
        &c,
        &[
            "create",
            "rolebinding",
            "default-view",
            "--clusterrole=view",
            "--serviceaccount=default:default",
        ],
    );
    let token = token.trim();
    assert_eq!(list_pods_with(&c, token).await, 200);
    let cl = claims(token);
    assert_eq!(cl["sub"], "system:serviceaccount:default:default");
    assert_eq!(cl["kubernetes.io"]["namespace"], "default");
    let mut forged = token.to_string();
    forged.push('x');
    assert_eq!(list_pods_with(&c, &forged).await, 401, "bad signature");
    let vault = kubectl_ok(
        &c,
        &[
            "create",
            "token",
            "default",
            "--audience=vault",
            "--duration=20m",
        ],
    );
    assert_eq!(claims(vault.trim())["aud"], json!(["vault"]));
    assert_eq!(
        list_pods_with(&c, vault.trim()).await,
        401,
        "a token for another audience is not an API token"
    );

    // TokenRequest errors as upstream answers them.
    let (code, body) =
        token_request(&c, "default", json!({"spec": {"expirationSeconds": 60}})).await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (422, Some("Invalid")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("less than 10 minutes"),
        "{body}"
    );
    let (code, body) = token_request(&c, "nope", json!({"spec": {}})).await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (404, Some("NotFound")),
        "{body}"
    );
    let (code, body) = token_request(
        &c,
        "default",
        json!({"spec": {"boundObjectRef": {"kind": "ConfigMap", "apiVersion": "v1", "name": "x"}}}),
    )
    .await;
    assert_eq!(code, 400, "{body}");

    // A service for the environment variables, at a given cluster IP inside this server's
    // service CIDR (the test harness gives each server with an agent its own /24).
    let kubernetes = kubectl_ok(
        &c,
        &[
            "get",
            "svc",
            "kubernetes",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ],
    );
    let db_ip = format!(
        "{}.50",
        kubernetes.rsplit_once('.').expect("an IPv4 ClusterIP").0
    );
    kubectl_ok(
        &c,
        &[
            "create",
            "service",
            "clusterip",
            "db",
            "--tcp=5432:5432",
            &format!("--clusterip={db_ip}"),
        ],
    );

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let sleeper = |name: &str, extra: Value| {
        let mut spec = json!({"terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": "busybox", "command": ["sleep", "3600"]}]});
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        json!({"metadata": {"name": name}, "spec": spec})
    };
    let created = create(&pods, sleeper("reader", json!({}))).await;
    let spec = created.spec.expect("spec");
    assert_eq!(spec.service_account_name.as_deref(), Some("default"));
    let volume = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name.starts_with("kube-api-access-"))
        .expect("kube-api-access volume");
    assert_eq!(volume.name.len(), "kube-api-access-".len() + 5);
    create(
        &pods,
        sleeper(
            "plain",
            json!({"automountServiceAccountToken": false, "enableServiceLinks": false}),
        ),
    )
    .await;
    let reader = wait_pod(&pods, "reader", "Running", running).await;
    wait_pod(&pods, "plain", "Running", running).await;

    // The kubelet filled the projected volume: a pod-bound token, the CA, the namespace.
    let token = kubectl_ok(
        &c,
        &["exec", "reader", "--", "cat", &format!("{TOKEN_DIR}/token")],
    );
    assert_eq!(
        list_pods_with(&c, &token).await,
        200,
        "the pod's token works"
    );
    let cl = claims(&token);
    assert_eq!(cl["kubernetes.io"]["pod"]["name"], "reader");
    assert_eq!(
        cl["kubernetes.io"]["pod"]["uid"].as_str(),
        reader.metadata.uid.as_deref()
    );
    let ns = kubectl_ok(
        &c,
        &[
            "exec",
            "reader",
            "--",
            "cat",
            &format!("{TOKEN_DIR}/namespace"),
        ],
    );
    assert_eq!(ns, "default");
    let ca = kubectl_ok(
        &c,
        &[
            "exec",
            "reader",
            "--",
            "cat",
            &format!("{TOKEN_DIR}/ca.crt"),
        ],
    );
    let cluster_ca =
        std::fs::read_to_string(c.data_dir().join("pki").join("ca.crt")).expect("ca.crt");
    assert_eq!(ca.trim(), cluster_ca.trim());

    // Opted out: no token directory, no service links.
    let out = c.kubectl(&["exec", "plain", "--", "ls", TOKEN_DIR]);
    assert!(!out.status.success(), "plain has no token mount");

    // Service environment variables (upstream's names), only with enableServiceLinks.
    let env = kubectl_ok(&c, &["exec", "reader", "--", "env"]);
    for want in [
        format!("DB_SERVICE_HOST={db_ip}"),
        "DB_SERVICE_PORT=5432".into(),
        "DB_SERVICE_PORT_5432_5432=5432".into(),
        format!("DB_PORT=tcp://{db_ip}:5432"),
        format!("DB_PORT_5432_TCP_ADDR={db_ip}"),
        "DB_PORT_5432_TCP_PROTO=tcp".into(),
    ] {
        assert!(
            env.lines().any(|l| l == want),
            "{want} missing from:\n{env}"
        );
    }
    let env = kubectl_ok(&c, &["exec", "plain", "--", "env"]);
    assert!(!env.contains("DB_SERVICE_HOST"), "{env}");
}
