//! metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics, computed kinds fed like metrics-server:
//! the nodes' kubelets are scraped (`/metrics/resource`, concurrently) at most once per
//! [`RESOLUTION`], on demand, and each node and container keeps its last two points so CPU is
//! a rate over a window. A node whose kubelet cannot be scraped (hollow benchmark nodes have
//! none) is absent, and is not asked again for [`FAILED_RETRY`].

mod objects;
pub mod parse;
mod scrape;
pub mod types;
mod window;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Node;
use serde_json::Value;

use super::list::ListOptions;
use super::Registry;
use crate::status::{ApiError, ApiResult};

/// The least time between two scrapes of the nodes (metrics-server's default resolution is
/// 15 s; a window of 10–15 s).
pub const RESOLUTION: Duration = Duration::from_secs(10);

/// How long a node whose scrape failed is left alone.
pub const FAILED_RETRY: Duration = Duration::from_secs(60);

/// Where resource metrics come from: the kubelets, through the API server's kubelet client.
#[derive(Default)]
pub struct MetricsSource {
    kubelet_tls: OnceLock<Arc<rustls::ClientConfig>>,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    samples: window::Samples,
    scraped_at: Option<Instant>,
    failed: HashMap<String, Instant>,
}

impl MetricsSource {
    /// Sets the TLS client config kubelets are dialed with (without it nothing is scraped).
    pub fn set_kubelet_tls(&self, config: Arc<rustls::ClientConfig>) {
        let _ = self.kubelet_tls.set(config);
    }

    /// Scrapes every node when the last round is older than [`RESOLUTION`], then runs `read`
    /// on the samples. Readers arriving during a scrape wait for it rather than start another.
    async fn read<T>(&self, nodes: &[Node], read: impl FnOnce(&window::Samples) -> T) -> T {
        let mut state = self.state.lock().await;
        let due = state.scraped_at.is_none_or(|t| t.elapsed() >= RESOLUTION);
        if let (true, Some(tls)) = (due, self.kubelet_tls.get()) {
            let round = scrape_all(tls, nodes, &mut state.failed).await;
            state.samples.store(round);
            state.scraped_at = Some(Instant::now());
        }
        read(&state.samples)
    }
}

/// Scrapes every node with a kubelet address at once, skipping recent failures.
async fn scrape_all(
    tls: &Arc<rustls::ClientConfig>,
    nodes: &[Node],
    failed: &mut HashMap<String, Instant>,
) -> BTreeMap<String, parse::NodeScrape> {
    failed.retain(|_, at| at.elapsed() < FAILED_RETRY);
    let targets: Vec<(String, String)> = nodes
        .iter()
        .filter_map(|n| {
            let name = n.metadata.name.clone()?;
            let (host, port) = super::locate::kubelet_host_port(n)?;
            let addr = match host.parse::<std::net::Ipv6Addr>() {
                Ok(v6) => format!("[{v6}]:{port}"),
                Err(_) => format!("{host}:{port}"),
            };
            (!failed.contains_key(&name)).then_some((name, addr))
        })
        .collect();
    let scrapes = targets.into_iter().map(|(name, addr)| {
        let tls = tls.clone();
        async move { (name, scrape::scrape(tls, addr).await) }
    });
    let mut round = BTreeMap::new();
    for (name, result) in futures::future::join_all(scrapes).await {
        match result {
            Ok(scrape) => {
                round.insert(name, scrape);
            }
            Err(e) => {
                tracing::debug!(node = %name, error = %e, "resource metrics scrape failed");
                failed.insert(name, Instant::now());
            }
        }
    }
    round
}

/// Every object of a built-in core/v1 kind, as JSON (served from local state).
async fn all_of(reg: &Registry, plural: &str) -> ApiResult<Vec<Value>> {
    let Some(d) = reg.lookup("", "v1", plural) else {
        return Ok(Vec::new());
    };
    let opts = ListOptions {
        resource_version: Some("0".to_string()),
        ..Default::default()
    };
    let page = reg.list(&d, None, &opts).await?;
    Ok(page
        .items
        .iter()
        .filter_map(|b| serde_json::from_slice(b).ok())
        .collect())
}

/// NodeMetrics of every node with two scrapes.
pub fn node_metrics(reg: &Registry) -> BoxFuture<'_, ApiResult<Vec<Value>>> {
    Box::pin(async move {
        let nodes = all_of(reg, "nodes").await?;
        let typed: Vec<Node> = nodes
            .iter()
            .filter_map(|n| serde_json::from_value(n.clone()).ok())
            .collect();
        let usage = reg
            .metrics
            .read(&typed, |s| {
                typed
                    .iter()
                    .filter_map(|n| {
                        let name = n.metadata.name.as_deref()?;
                        Some((name.to_string(), s.node(name)?))
                    })
                    .collect::<BTreeMap<_, _>>()
            })
            .await;
        Ok(nodes
            .iter()
            .filter_map(|n| {
                let name = n.pointer("/metadata/name")?.as_str()?;
                Some(objects::node_metrics(n, usage.get(name)?))
            })
            .collect())
    })
}

/// PodMetrics of every pod whose containers all have two scrapes.
pub fn pod_metrics(reg: &Registry) -> BoxFuture<'_, ApiResult<Vec<Value>>> {
    Box::pin(async move {
        let nodes: Vec<Node> = all_of(reg, "nodes")
            .await?
            .into_iter()
            .filter_map(|n| serde_json::from_value(n).ok())
            .collect();
        let usage = reg.metrics.read(&nodes, window::Samples::pods).await;
        let pods = all_of(reg, "pods").await?;
        Ok(pods
            .iter()
            .filter_map(|p| {
                let ns = p.pointer("/metadata/namespace")?.as_str()?.to_string();
                let name = p.pointer("/metadata/name")?.as_str()?.to_string();
                Some(objects::pod_metrics(p, usage.get(&(ns, name))?))
            })
            .collect())
    })
}

/// One NodeMetrics: upstream's NotFound for the node when it does not exist, for the
/// nodemetrics when it has no figures (yet).
pub fn node_metrics_get<'a>(
    reg: &'a Registry,
    _ns: Option<&'a str>,
    name: &'a str,
) -> BoxFuture<'a, ApiResult<Value>> {
    Box::pin(async move {
        if reg.get_value("", "Node", None, name).await?.is_none() {
            return Err(ApiError::not_found("", "nodes", name));
        }
        node_metrics(reg)
            .await?
            .into_iter()
            .find(|m| m.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
            .ok_or_else(|| ApiError::not_found("metrics.k8s.io", "nodemetrics", name))
    })
}

/// One PodMetrics, with metrics-server's NotFound: `pods "ns/name"` when the pod does not
/// exist, `podmetrics.metrics.k8s.io "ns/name"` when it has no figures (yet).
pub fn pod_metrics_get<'a>(
    reg: &'a Registry,
    ns: Option<&'a str>,
    name: &'a str,
) -> BoxFuture<'a, ApiResult<Value>> {
    Box::pin(async move {
        let ns = ns.unwrap_or("default");
        let id = format!("{ns}/{name}");
        if reg.get_value("", "Pod", Some(ns), name).await?.is_none() {
            return Err(ApiError::not_found("", "pods", &id));
        }
        pod_metrics(reg)
            .await?
            .into_iter()
            .find(|m| {
                m.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns)
                    && m.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
            })
            .ok_or_else(|| ApiError::not_found("metrics.k8s.io", "podmetrics", &id))
    })
}
