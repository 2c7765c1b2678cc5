//! Pod garbage collector (upstream `podgc`): force-deletes terminating pods that were never
//! scheduled or whose node is gone, and deletes the oldest terminated pods beyond the
//! configured threshold.

use std::collections::HashSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams};
use kube::ResourceExt;
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::leader::sleep_or_cancel;
use crate::util::{pod_phase, secs};
use crate::Context;

const PERIOD: Duration = Duration::from_secs(20);

/// Runs pod GC until `token` is cancelled.
pub async fn run(ctx: Context, token: CancellationToken) {
    while !token.is_cancelled() {
        if let Err(e) = pass(&ctx).await {
            tracing::debug!(error = %e, "pod gc pass failed");
        }
        sleep_or_cancel(PERIOD, &token).await;
    }
}

/// Pods to delete: (namespace, name, force).
pub fn select(
    pods: &[Pod],
    nodes: &HashSet<String>,
    threshold: usize,
) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    let mut terminated: Vec<&Pod> = Vec::new();
    for p in pods {
        let node = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        let key = (p.namespace().unwrap_or_default(), p.name_any());
        let orphaned = !node.is_empty() && !nodes.contains(&node);
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

async fn pass(ctx: &Context) -> Result<()> {
    let nodes: HashSet<String> = Api::<Node>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .map(|n| n.name_any())
        .collect();
    let pods = Api::<Pod>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    for (ns, name, force) in select(&pods, &nodes, ctx.cfg.terminated_pod_gc_threshold) {
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
        let names: Vec<_> = select(&pods, &nodes, 1)
            .into_iter()
            .map(|(_, n, _)| n)
            .collect();
        assert_eq!(names, vec!["orphan", "unsched", "old"]);
    }
}
