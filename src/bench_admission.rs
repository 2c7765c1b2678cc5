//! `ferrokube bench admission`: what the admission chain costs a create, measured against a
//! real server process with a kube-rs client:
//! - pod create latency (p50/p99, 300 sequential creates) in a namespace with no admission
//!   configuration, with the in-process chain (PodSecurity enforce+warn, a LimitRange, a
//!   ResourceQuota, a two-rule ValidatingAdmissionPolicy), and with that chain plus a validating
//!   webhook served over HTTPS by this process (the webhook round trip is the difference);
//! - ConfigMap creates/s at 64 concurrent clients without and with a quota charging each create.
//!
//! Figures are printed, not asserted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DynamicObject, PostParams};
use kube::discovery::ApiResource;
use serde_json::{json, Value};

use super::{ms, percentile, ServerProcess};

const POD_CREATES: usize = 300;
const CONFIGMAP_CREATES: usize = 3000;
const CLIENTS: usize = 64;

pub async fn run() -> anyhow::Result<()> {
    let dir =
        std::env::temp_dir().join(format!("ferrokube-bench-admission-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (server, _) = ServerProcess::start(&dir)?;
    let result = measure(&server).await;
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure(server: &ServerProcess) -> anyhow::Result<()> {
    let client = server.client().await?;
    let (port, ca) = webhook_server().await?;
    configure(&client, port, &ca).await?;
    println!("pod create latency, {POD_CREATES} sequential creates:");
    for (ns, what) in [
        ("plain", "no admission configuration"),
        ("chain", "PodSecurity + LimitRange + quota + policy"),
        ("hooked", "the same + a validating webhook"),
    ] {
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        let mut samples = Vec::with_capacity(POD_CREATES);
        for i in 0..POD_CREATES {
            let began = Instant::now();
            pods.create(&PostParams::default(), &pod(&format!("p{i}")))
                .await?;
            samples.push(began.elapsed());
        }
        samples.sort();
        let (p50, p99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));
        println!("  {ns:7} ({what}): p50 {}, p99 {}", ms(p50), ms(p99));
    }
    println!("configmap creates/s at {CLIENTS} clients, {CONFIGMAP_CREATES} creates:");
    for (ns, what) in [("plain", "no quota"), ("chain", "charged to a quota")] {
        let rate = creates_per_second(&client, ns).await?;
        println!("  {ns:7} ({what}): {rate:.0}/s");
    }
    Ok(())
}

async fn creates_per_second(client: &kube::Client, ns: &str) -> anyhow::Result<f64> {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let began = Instant::now();
    let results: Vec<_> = futures::stream::iter(0..CONFIGMAP_CREATES)
        .map(|i| {
            let cms = cms.clone();
            async move {
                let cm: ConfigMap = serde_json::from_value(
                    json!({"metadata": {"name": format!("cm{i}")}, "data": {"k": "v"}}),
                )?;
                cms.create(&PostParams::default(), &cm).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(CLIENTS)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(CONFIGMAP_CREATES as f64 / began.elapsed().as_secs_f64())
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name},
        "spec": {"securityContext": {"runAsNonRoot": true, "runAsUser": 1000,
                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "c", "image": "busybox",
                "securityContext": {"allowPrivilegeEscalation": false,
                    "capabilities": {"drop": ["ALL"]}}}]}}))
    .expect("pod")
}

/// Creates an object of any kind from its manifest.
async fn create(client: &kube::Client, ns: Option<&str>, obj: Value) -> anyhow::Result<()> {
    let obj: DynamicObject = serde_json::from_value(obj)?;
    let types = obj.types.clone().unwrap_or_default();
    let (group, version) = types
        .api_version
        .rsplit_once('/')
        .unwrap_or(("", &types.api_version));
    let gvk = kube::api::GroupVersionKind::gvk(group, version, &types.kind);
    let (resource, _) = kube::discovery::pinned_kind(client, &gvk).await?;
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(
            client.clone(),
            ns,
            &ApiResource::from_gvk_with_plural(&gvk, &resource.plural),
        ),
        None => Api::all_with(
            client.clone(),
            &ApiResource::from_gvk_with_plural(&gvk, &resource.plural),
        ),
    };
    api.create(&PostParams::default(), &obj).await?;
    Ok(())
}

async fn configure(client: &kube::Client, port: u16, ca: &str) -> anyhow::Result<()> {
    for (ns, guarded) in [("plain", false), ("chain", true), ("hooked", true)] {
        let mut labels = json!({"bench": ns});
        if guarded {
            labels["pod-security.kubernetes.io/enforce"] = json!("baseline");
            labels["pod-security.kubernetes.io/warn"] = json!("restricted");
        }
        create(
            client,
            None,
            json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": labels}}),
        )
        .await?;
        if !guarded {
            continue;
        }
        create(
            client,
            Some(ns),
            json!({"apiVersion": "v1", "kind": "LimitRange",
            "metadata": {"name": "defaults"}, "spec": {"limits": [{"type": "Container",
                "default": {"cpu": "100m", "memory": "64Mi"},
                "defaultRequest": {"cpu": "10m", "memory": "16Mi"}}]}}),
        )
        .await?;
        create(
            client,
            Some(ns),
            json!({"apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": "q"}, "spec": {"hard": {"pods": "100000",
                "requests.cpu": "10000", "count/configmaps": "100000"}}}),
        )
        .await?;
    }
    create(
        client,
        None,
        json!({"apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy", "metadata": {"name": "pods"},
        "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
            "operations": ["CREATE"], "resources": ["pods"]}]},
        "validations": [{"expression": "object.spec.containers.size() <= 10"},
            {"expression": "object.spec.containers.all(c, !c.image.endsWith(':latest'))"}]}}),
    )
    .await?;
    create(
        client,
        None,
        json!({"apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": "pods"},
        "spec": {"policyName": "pods", "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchExpressions": [
                {"key": "bench", "operator": "In", "values": ["chain", "hooked"]}]}}}}),
    )
    .await?;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca);
    create(
        client,
        None,
        json!({"apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "bench"},
        "webhooks": [{"name": "bench.ferrokube.io", "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "clientConfig": {"url": format!("https://127.0.0.1:{port}/"), "caBundle": ca},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                "resources": ["pods"]}],
            "namespaceSelector": {"matchLabels": {"bench": "hooked"}}}]}),
    )
    .await?;
    // The quota controller fills in status (until then quota refuses, as upstream's); the
    // policy and webhook caches follow the store.
    for ns in ["chain", "hooked"] {
        let quotas: Api<k8s_openapi::api::core::v1::ResourceQuota> =
            Api::namespaced(client.clone(), ns);
        let began = Instant::now();
        while quotas.get("q").await?.status.and_then(|s| s.hard).is_none() {
            anyhow::ensure!(
                began.elapsed() < Duration::from_secs(30),
                "quota status never set"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(())
}

async fn allow(Json(review): Json<Value>) -> Json<Value> {
    Json(
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "response": {"uid": review["request"]["uid"], "allowed": true}}),
    )
}

/// A validating webhook that allows everything, over HTTPS on a loopback port.
async fn webhook_server() -> anyhow::Result<(u16, String)> {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])?;
    let pem = cert.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let app = Router::new().route("/", post(allow));
    tokio::spawn(crate::http::serve::serve_tls(
        listener,
        Arc::new(config),
        app,
    ));
    Ok((port, pem))
}
