//! `ferrokube bench apply`: declarative management's numbers against a real server process —
//! `kubectl apply` of a 50-object folder (first, unchanged, one change) with the real kubectl,
//! strategic-merge and server-side-apply patch throughput on a Deployment (kube-rs), and the
//! latency of `/openapi/v3/apis/apps/v1` served from cache (plain, `?hash=`, `If-None-Match`).
//! Figures are printed for the README; nothing is asserted.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::http::{header, Request, StatusCode};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::{json, Value};

use super::{ms, percentile, ServerProcess};

/// How many patches of each kind the throughput measurement sends.
const PATCHES: usize = 300;
/// How many OpenAPI document fetches the latency measurement makes per variant.
const OPENAPI_FETCHES: usize = 200;
/// Objects in the applied folder: one namespace plus configmaps, services and deployments.
const CONFIGMAPS: usize = 25;
const SERVICES: usize = 12;
const DEPLOYMENTS: usize = 12;

/// Runs the declarative-management benchmark.
pub async fn run() -> anyhow::Result<()> {
    let root = std::env::temp_dir().join(format!("ferrokube-bench-apply-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    println!(
        "ferrokube bench apply  ({} cores, data dir under {})",
        std::thread::available_parallelism()?,
        root.display()
    );
    let (server, _) = ServerProcess::start(&root.join("data"))?;
    let client = server.client().await?;

    apply_folder(&root, &root.join("data").join("kubeconfig.yaml"))?;
    patch_throughput(&client).await?;
    openapi_latency(&client).await?;

    drop(server);
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}

/// Writes the folder: `00-namespace.yaml` first so kubectl creates it before its contents.
fn write_folder(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench-apply\n";
    std::fs::write(dir.join("00-namespace.yaml"), ns)?;
    for i in 0..CONFIGMAPS {
        let doc = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: bench-apply\n  labels:\n    app: bench\ndata:\n  key: value-{i}\n"
        );
        std::fs::write(dir.join(format!("cm-{i:02}.yaml")), doc)?;
    }
    for i in 0..SERVICES {
        let doc = format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  namespace: bench-apply\nspec:\n  selector:\n    app: web-{i}\n  ports:\n  - port: 80\n    targetPort: 8080\n"
        );
        std::fs::write(dir.join(format!("svc-{i:02}.yaml")), doc)?;
    }
    for i in 0..DEPLOYMENTS {
        let doc = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-{i}\n  namespace: bench-apply\nspec:\n  replicas: 0\n  selector:\n    matchLabels:\n      app: web-{i}\n  template:\n    metadata:\n      labels:\n        app: web-{i}\n    spec:\n      containers:\n      - name: web\n        image: busybox:1\n        env:\n        - name: MODE\n          value: one\n"
        );
        std::fs::write(dir.join(format!("web-{i:02}.yaml")), doc)?;
    }
    Ok(())
}

/// Times one `kubectl apply -f dir`; returns the wall time and what kubectl printed.
fn timed_apply(dir: &Path, kubeconfig: &Path, home: &Path) -> anyhow::Result<(Duration, String)> {
    let began = Instant::now();
    let out = Command::new("kubectl")
        .arg("apply")
        .arg("-f")
        .arg(dir)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", home)
        .output()
        .context("running kubectl (is it on PATH?)")?;
    let took = began.elapsed();
    if !out.status.success() {
        bail!(
            "kubectl apply failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok((took, String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// Counts kubectl's result lines per verb, e.g. `50 created`.
fn verbs(out: &str) -> String {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for line in out.lines() {
        if let Some(verb) = line.split_whitespace().last() {
            *counts.entry(verb).or_default() += 1;
        }
    }
    let parts: Vec<String> = counts.iter().map(|(v, n)| format!("{n} {v}")).collect();
    parts.join(", ")
}

fn apply_folder(root: &Path, kubeconfig: &Path) -> anyhow::Result<()> {
    let dir = root.join("app");
    write_folder(&dir)?;
    let home = root.join("home");
    std::fs::create_dir_all(&home)?;
    let objects = 1 + CONFIGMAPS + SERVICES + DEPLOYMENTS;
    println!("kubectl apply -f <folder of {objects} objects> (wall time, real kubectl):");
    let (first, out) = timed_apply(&dir, kubeconfig, &home)?;
    println!(
        "  first apply:               {}  ({})",
        ms(first),
        verbs(&out)
    );
    let (again, out) = timed_apply(&dir, kubeconfig, &home)?;
    println!(
        "  re-apply unchanged:        {}  ({})",
        ms(again),
        verbs(&out)
    );
    let changed = dir.join("cm-07.yaml");
    let text = std::fs::read_to_string(&changed)?.replace("value-7", "changed");
    std::fs::write(&changed, text)?;
    let (one, out) = timed_apply(&dir, kubeconfig, &home)?;
    println!(
        "  re-apply with one change:  {}  ({})",
        ms(one),
        verbs(&out)
    );
    Ok(())
}

fn deployment_manifest(name: &str, replicas: usize) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [
                    {"name": "web", "image": "busybox:1", "env": [{"name": "MODE", "value": "one"}]},
                    {"name": "side", "image": "busybox:1"}
                ]}
            }
        }
    })
}

/// Prints sequential latency percentiles and throughput of `n` timed operations.
fn report(what: &str, mut samples: Vec<Duration>, total: Duration) {
    samples.sort();
    println!(
        "  {what}: {:.0} patches/s  p50 {}  p99 {}",
        samples.len() as f64 / total.as_secs_f64(),
        ms(percentile(&samples, 0.50)),
        ms(percentile(&samples, 0.99)),
    );
}

async fn patch_throughput(client: &Client) -> anyhow::Result<()> {
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let deploy: Deployment = serde_json::from_value(deployment_manifest("bench-patch", 0))?;
    deploys.create(&PostParams::default(), &deploy).await?;
    println!("patch throughput on one Deployment ({PATCHES} sequential patches, kube-rs):");

    let began = Instant::now();
    let mut samples = Vec::with_capacity(PATCHES);
    for i in 0..PATCHES {
        // Merges into the first container by name, as `kubectl set env` / `patch` would.
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "env": [{"name": "MODE", "value": format!("v{i}")}]}
        ]}}}});
        let t = Instant::now();
        deploys
            .patch(
                "bench-patch",
                &PatchParams::default(),
                &Patch::Strategic(patch),
            )
            .await?;
        samples.push(t.elapsed());
    }
    report("strategic merge patch", samples, began.elapsed());

    let params = PatchParams::apply("bench").force();
    let began = Instant::now();
    let mut samples = Vec::with_capacity(PATCHES);
    for i in 0..PATCHES {
        let t = Instant::now();
        deploys
            .patch(
                "bench-patch",
                &params,
                &Patch::Apply(deployment_manifest("bench-patch", i % 5)),
            )
            .await?;
        samples.push(t.elapsed());
    }
    report("server-side apply     ", samples, began.elapsed());
    Ok(())
}

/// GETs a path; returns status, ETag and body length.
async fn fetch(
    client: &Client,
    path: &str,
    if_none_match: Option<&str>,
) -> anyhow::Result<(StatusCode, Option<String>, usize)> {
    let mut req = Request::get(path).header(header::ACCEPT, "application/json");
    if let Some(tag) = if_none_match {
        req = req.header(header::IF_NONE_MATCH, tag);
    }
    let resp = client.send(req.body(Vec::new())?.map(Into::into)).await?;
    let status = resp.status();
    let etag = resp
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.into_body().collect_bytes().await?;
    Ok((status, etag, body.len()))
}

async fn timed_fetches(
    client: &Client,
    path: &str,
    if_none_match: Option<&str>,
) -> anyhow::Result<(Vec<Duration>, StatusCode)> {
    let mut samples = Vec::with_capacity(OPENAPI_FETCHES);
    let mut last = StatusCode::OK;
    for _ in 0..OPENAPI_FETCHES {
        let t = Instant::now();
        let (status, _, _) = fetch(client, path, if_none_match).await?;
        samples.push(t.elapsed());
        last = status;
    }
    samples.sort();
    Ok((samples, last))
}

async fn openapi_latency(client: &Client) -> anyhow::Result<()> {
    let path = "/openapi/v3/apis/apps/v1";
    // The first GET from this client (kubectl's fetches above already built the documents).
    let t = Instant::now();
    let (status, etag, size) = fetch(client, path, None).await?;
    let first = t.elapsed();
    if status != StatusCode::OK {
        bail!("GET {path}: {status}");
    }
    let etag = etag.context("no ETag on the v3 document")?;
    let root = client
        .request_text(Request::get("/openapi/v3").body(Vec::new())?)
        .await?;
    let root: Value = serde_json::from_str(&root)?;
    let hashed = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .context("apis/apps/v1 missing from the v3 root")?
        .to_string();
    println!(
        "{path} ({} KiB, {OPENAPI_FETCHES} sequential GETs each):",
        size / 1024
    );
    println!("  first GET from this client: {}", ms(first));
    for (label, url, tag) in [
        ("plain GET", path, None),
        ("GET ?hash=", hashed.as_str(), None),
        ("If-None-Match", path, Some(etag.as_str())),
    ] {
        let (samples, status) = timed_fetches(client, url, tag).await?;
        println!(
            "  {label:<14} -> {}  p50 {}  p99 {}",
            status.as_u16(),
            ms(percentile(&samples, 0.50)),
            ms(percentile(&samples, 0.99)),
        );
    }
    Ok(())
}
