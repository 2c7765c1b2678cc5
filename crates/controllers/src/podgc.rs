//! Pod garbage collector (upstream `podgc`): force-deletes terminating pods that were never
//! scheduled or whose node is gone, and deletes the oldest terminated pods beyond the
//! configured threshold.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams};
use kube::ResourceExt;
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::leader::sleep_or_cancel;
use crate::util::{pod_phase, secs};
use crate::Context;

const PERIOD: Duration = Duration::from_secs(20);

/// How long a node must stay missing before its pods count as orphaned (upstream's quarantine):
/// a pod may be bound to a node whose agent has not registered yet.
const QUARANTINE: Duration = Duration::from_secs(40);

/// Runs pod GC until `token` is cancelled.
pub async fn run(ctx: Context, token: CancellationToken) {
    let mut missing_since: HashMap<String, Instant> = HashMap::new();
    // Passes read the shared pod and node caches (upstream's informers), never full lists;
    // a pass before both are synced would see every node as missing.
    let synced = async { ctx.informers.pods.ready().await && ctx.informers.nodes.ready().await };
    tokio::select! {
        _ = token.cancelled() => return,
        ok = synced => if !ok { return },
    }
    while !token.is_cancelled() {
        if let Err(e) = pass(&ctx, &mut missing_since).await {
            tracing::debug!(error = %e, "pod gc pass failed");
        }
        sleep_or_cancel(PERIOD, &token).await;
    }
}

/// Pods to delete: (namespace, name, force). A pod is orphaned only when its node is missing
/// and has been missing for the whole quarantine (`confirmed_missing`).
pub fn select<P: Borrow<Pod>>(
    pods: &[P],
    nodes: &HashSet<String>,
    confirmed_missing: &HashSet<String>,
    threshold: usize,
) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    let mut terminated: Vec<&Pod> = Vec::new();
    for p in pods.iter().map(Borrow::borrow) {
        let node = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        let key = (p.namespace().unwrap_or_default(), p.name_any());
        let orphaned =
            !node.is_empty() && !nodes.contains(&node) && confirmed_missing.contains(&node);
        let unscheduled_terminating = node.is_empty() && p.metadata.deletion_timestamp.is_some();
        if orphaned || unscheduled_terminating {
            out.push((key.0, key.1, true));
        } else if matches!(pod_phase(p), "Succeeded" | "Failed") {
            terminated.push(p);
        }
    }
    if terminated.len() > threshold {
        terminated.sort_by_key(|p| {
            p.metadata
                .creation_timestamp
                .as_ref()
                .map(secs)
                .unwrap_or(0)
        });
        for p in terminated.iter().take(terminated.len() - threshold) {
            out.push((p.namespace().unwrap_or_default(), p.name_any(), false));
        }
    }
    out
}

async fn pass(ctx: &Context, missing_since: &mut HashMap<String, Instant>) -> Result<()> {
    let nodes: HashSet<String> = ctx
        .informers
        .nodes
        .store()
        .state()
        .iter()
        .map(|n| n.name_any())
        .collect();
    let pods = ctx.informers.pods.store().state();
    let now = Instant::now();
    let referenced: HashSet<String> = pods
        .iter()
        .filter_map(|p| p.spec.as_ref().and_then(|s| s.node_name.clone()))
        .filter(|n| !n.is_empty() && !nodes.contains(n))
        .collect();
    missing_since.retain(|node, _| referenced.contains(node));
    for node in &referenced {
        missing_since.entry(node.clone()).or_insert(now);
    }
    let confirmed: HashSet<String> = missing_since
        .iter()
        .filter(|(_, since)| now.duration_since(**since) >= QUARANTINE)
        .map(|(node, _)| node.clone())
        .collect();
    let threshold = ctx.cfg.terminated_pod_gc_threshold;
    for (ns, name, force) in select(&pods, &nodes, &confirmed, threshold) {
        let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
        let dp = if force {
            DeleteParams::default().grace_period(0)
        } else {
            DeleteParams::default()
        };
        let _ = api.delete(&name, &dp).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn selects_orphans_unscheduled_terminating_and_excess() {
        let mk = |v: serde_json::Value| -> Pod { serde_json::from_value(v).unwrap() };
        let pods = vec![
            mk(
                json!({"metadata": {"name": "orphan", "namespace": "d"}, "spec": {"nodeName": "gone", "containers": []}}),
            ),
            mk(
                json!({"metadata": {"name": "unsched", "namespace": "d", "deletionTimestamp": "2024-01-01T00:00:00Z"}}),
            ),
            mk(
                json!({"metadata": {"name": "old", "namespace": "d", "creationTimestamp": "2024-01-01T00:00:00Z"},
                "spec": {"nodeName": "n", "containers": []}, "status": {"phase": "Succeeded"}}),
            ),
            mk(
                json!({"metadata": {"name": "new", "namespace": "d", "creationTimestamp": "2024-01-02T00:00:00Z"},
                "spec": {"nodeName": "n", "containers": []}, "status": {"phase": "Failed"}}),
            ),
            mk(
                json!({"metadata": {"name": "ok", "namespace": "d"}, "spec": {"nodeName": "n", "containers": []}}),
            ),
        ];
        let nodes = HashSet::from(["n".to_owned()]);
        let confirmed: HashSet<String> = pods
            .iter()
            .filter_map(|p| p.spec.as_ref().and_then(|s| s.node_name.clone()))
            .collect();
        let names: Vec<_> = select(&pods, &nodes, &confirmed, 1)
            .into_iter()
            .map(|(_, n, _)| n)
            .collect();
        assert_eq!(names, vec!["orphan", "unsched", "old"]);
    }

    #[test]
    fn a_missing_node_is_quarantined_before_its_pods_go() {
        let pod: Pod = serde_json::from_value(
            json!({"metadata": {"name": "early", "namespace": "d"}, "spec": {"nodeName": "registering", "containers": []}}),
        )
        .unwrap();
        let nodes = HashSet::new();
        assert!(select(std::slice::from_ref(&pod), &nodes, &HashSet::new(), 10).is_empty());
        let confirmed: HashSet<String> = ["registering".to_string()].into();
        assert_eq!(select(&[pod], &nodes, &confirmed, 10).len(), 1);
    }
}
