//! `GET /metrics/resource`: upstream's resource metrics endpoint, the one metrics-server
//! scrapes (Prometheus text): cumulative CPU and memory working set of the node, of each pod
//! and of each running container, the containers' start times, and `scrape_error`. Figures
//! come from the engine's one-shot container stats, fetched concurrently, and the host's
//! `/proc`; nothing here touches the pod workers.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::node_usage::{self, NodeUsage};
use super::resource_text::render;
use super::ServerState;
use crate::naming::{LABEL_CONTAINER_NAME, LABEL_POD_NAME, LABEL_POD_NAMESPACE, LABEL_ROLE};
use crate::runtime::{ContainerInfo, ContainerState, ContainerStats};

/// How many containers' stats are read from the engine at once.
const CONCURRENT_STATS: usize = 16;

/// One running container's sample, with the pod it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSample {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// The container's name in the pod spec.
    pub container: String,
    /// When the container started.
    pub started_at: Option<DateTime<Utc>>,
    /// The engine's figures.
    pub stats: ContainerStats,
}

/// Everything one scrape reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceSample {
    /// The node's usage and when it was read; None when `/proc` could not tell.
    pub node: Option<(DateTime<Utc>, NodeUsage)>,
    /// Running containers whose stats were read.
    pub containers: Vec<ContainerSample>,
    /// Whether some figure could not be read.
    pub error: bool,
}

/// The handler.
pub async fn resource_metrics(State(state): State<ServerState>) -> Response {
    let sample = collect(&state).await;
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        render(&sample),
    )
        .into_response()
}

/// Reads the node's and every running pod container's usage now.
pub async fn collect(state: &ServerState) -> ResourceSample {
    let node = node_usage::read().map(|u| (Utc::now(), u));
    let mut error = node.is_none();
    let running = match state
        .runtime
        .list_containers(&state.owner().selector())
        .await
    {
        Ok(all) => all.into_iter().filter(is_pod_container).collect(),
        Err(e) => {
            tracing::debug!(error = %e, "listing containers for resource metrics");
            error = true;
            Vec::new()
        }
    };
    let runtime = state.runtime.clone();
    let results: Vec<_> = futures::stream::iter(running)
        .map(|c: ContainerInfo| {
            let runtime = runtime.clone();
            async move { (runtime.stats(&c.id).await, c) }
        })
        .buffer_unordered(CONCURRENT_STATS)
        .collect()
        .await;
    let mut containers = Vec::new();
    for (stats, c) in results {
        match stats {
            Ok(stats) => containers.push(sample_of(&c, stats)),
            // A container that stopped meanwhile has no figures: not an error upstream either.
            Err(e) => tracing::debug!(container = %c.name, error = %e, "container stats"),
        }
    }
    containers.sort_by(|a, b| {
        (&a.namespace, &a.pod, &a.container).cmp(&(&b.namespace, &b.pod, &b.container))
    });
    ResourceSample {
        node,
        containers,
        error,
    }
}

/// A running app container of a pod (not the sandbox).
fn is_pod_container(c: &ContainerInfo) -> bool {
    c.state == ContainerState::Running
        && c.labels.get(LABEL_ROLE).map(String::as_str) != Some("sandbox")
        && c.labels.contains_key(LABEL_POD_NAME)
}

fn sample_of(c: &ContainerInfo, stats: ContainerStats) -> ContainerSample {
    let label = |k: &str| c.labels.get(k).cloned().unwrap_or_default();
    ContainerSample {
        namespace: label(LABEL_POD_NAMESPACE),
        pod: label(LABEL_POD_NAME),
        container: label(LABEL_CONTAINER_NAME),
        started_at: c.started_at,
        stats,
    }
}
