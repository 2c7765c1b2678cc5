//! Node lifecycle controller (upstream `node_lifecycle_controller.go` + taint eviction):
//! a node whose Lease and status heartbeats are older than `node_monitor_grace` gets its
//! conditions set to Unknown and the `node.kubernetes.io/unreachable` taints; a node
//! reporting Ready=False gets the `not-ready` taints; a healthy node loses them. Pods on a
//! node with a NoExecute taint they do not tolerate are deleted at once, and pods that
//! tolerate it for `tolerationSeconds` (default `eviction_timeout`) after that period.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use kube::api::{Api, DeleteParams, Patch};
use kube::runtime::reflector::Store;
use kube::ResourceExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::events::Recorder;
use crate::leader::sleep_or_cancel;
use crate::scheduler::predicates::tolerates;
use crate::util::{now_secs, secs, time_from_secs};
use crate::Context;

/// Taint for nodes whose heartbeats stopped.
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// Taint for nodes reporting Ready=False.
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
const PERIOD: Duration = Duration::from_secs(5);

/// Runs the node lifecycle controller until `token` is cancelled. Each pass (every
/// `PERIOD`, upstream's nodeMonitorPeriod) reads watch-fed caches of nodes, node leases and
/// pods rather than listing them.
pub async fn run(ctx: Context, token: CancellationToken) {
    let rec = Recorder::new(ctx.client.clone(), "node-controller", None);
    let leases = crate::util::spawn_store(
        Api::<Lease>::namespaced(ctx.client.clone(), "kube-node-lease"),
        kube::runtime::watcher::Config::default(),
        None,
        token.clone(),
    );
    let synced = async {
        leases.wait_until_ready().await.is_ok()
            && ctx.informers.nodes.ready().await
            && ctx.informers.pods.ready().await
    };
    tokio::select! {
        _ = token.cancelled() => return,
        ok = synced => if !ok { return },
    }
    while !token.is_cancelled() {
        if let Err(e) = pass(&ctx, &leases, &rec).await {
            tracing::debug!(error = %e, "node lifecycle pass failed");
        }
        sleep_or_cancel(PERIOD, &token).await;
    }
}

/// Health of a node judged from its heartbeats.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Health {
    /// Ready and heartbeating.
    Ready,
    /// Reports Ready=False.
    NotReady,
    /// No heartbeat within the grace period.
    Unreachable,
}

/// Judges a node from its Ready condition and the newest heartbeat time.
pub fn health(node: &Node, lease_renew: Option<i64>, now: i64, grace: i64) -> Health {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
    let status_beat = ready.and_then(|c| c.last_heartbeat_time.as_ref()).map(secs);
    let created = node.metadata.creation_timestamp.as_ref().map(secs);
    let last = [lease_renew, status_beat, created]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0);
    if now - last > grace {
        return Health::Unreachable;
    }
    match ready.map(|c| c.status.as_str()) {
        Some("True") => Health::Ready,
        Some("False") => Health::NotReady,
        _ => Health::Unreachable,
    }
}

/// The taints a node should carry for its health, merged with its other taints.
pub fn desired_taints(node: &Node, h: Health, now: i64) -> Vec<Taint> {
    let current = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let mut out: Vec<Taint> = current
        .iter()
        .filter(|t| t.key != UNREACHABLE && t.key != NOT_READY)
        .cloned()
        .collect();
    let key = match h {
        Health::Ready => return out,
        Health::NotReady => NOT_READY,
        Health::Unreachable => UNREACHABLE,
    };
    for effect in ["NoSchedule", "NoExecute"] {
        let existing = current
            .iter()
            .find(|t| t.key == key && t.effect == effect)
            .cloned();
        out.push(existing.unwrap_or_else(|| Taint {
            key: key.into(),
            effect: effect.into(),
            time_added: (effect == "NoExecute").then(|| time_from_secs(now)),
            value: None,
        }));
    }
    out
}

/// When a pod on a node with `taints` must go: `Some(0)` now, `Some(t)` at Unix time `t`,
/// `None` never. Pods without a matching toleration get `default_secs` for the
/// not-ready/unreachable taints (upstream's DefaultTolerationSeconds admission).
pub fn eviction_time(pod: &Pod, taints: &[Taint], default_secs: i64) -> Option<i64> {
    let tols = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default();
    let mut when: Option<i64> = None;
    for t in taints.iter().filter(|t| t.effect == "NoExecute") {
        let added = t.time_added.as_ref().map(secs).unwrap_or_else(now_secs);
        let matching: Vec<_> = tols.iter().filter(|tol| tolerates(tol, t)).collect();
        let deadline = if matching.is_empty() {
            if t.key == UNREACHABLE || t.key == NOT_READY {
                added + default_secs
            } else {
                0
            }
        } else if matching.iter().any(|tol| tol.toleration_seconds.is_none()) {
            continue;
        } else {
            let secs = matching
                .iter()
                .filter_map(|tol| tol.toleration_seconds)
                .min()
                .unwrap_or(0);
            added + secs.max(0)
        };
        when = Some(when.map_or(deadline, |w: i64| w.min(deadline)));
    }
    when
}

async fn pass(ctx: &Context, leases: &Store<Lease>, rec: &Recorder) -> Result<()> {
    let nodes: Api<Node> = Api::all(ctx.client.clone());
    let renewals: HashMap<String, i64> = leases
        .state()
        .iter()
        .filter_map(|l| {
            let t = l.spec.as_ref()?.renew_time.as_ref()?.0.as_second();
            Some((l.name_any(), t))
        })
        .collect();
    let now = now_secs();
    let grace = ctx.cfg.node_monitor_grace.as_secs() as i64;
    let mut tainted: HashMap<String, Vec<Taint>> = HashMap::new();
    for node in ctx.informers.nodes.store().state() {
        let name = node.name_any();
        let h = health(&node, renewals.get(&name).copied(), now, grace);
        if h == Health::Unreachable {
            let ready = node
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
            if ready.is_some_and(|c| c.status != "Unknown") {
                let conds: Vec<_> = node.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default()
                    .into_iter()
                    .map(|c| json!({"type": c.type_, "status": "Unknown", "reason": "NodeStatusUnknown",
                        "message": "Kubelet stopped posting node status.", "lastHeartbeatTime": c.last_heartbeat_time,
                        "lastTransitionTime": crate::util::now()}))
                    .collect();
                let _ = nodes
                    .patch_status(
                        &name,
                        &crate::util::patch_params(),
                        &Patch::Strategic(json!({"status": {"conditions": conds}})),
                    )
                    .await;
                rec.normal(
                    node.as_ref(),
                    "NodeNotReady",
                    &format!("Node {name} status is now: NodeNotReady"),
                )
                .await;
            }
        }
        let want = desired_taints(&node, h, now);
        let have = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        if want != have {
            nodes
                .patch(
                    &name,
                    &crate::util::patch_params(),
                    &Patch::Merge(json!({"spec": {"taints": want}})),
                )
                .await?;
        }
        if want.iter().any(|t| t.effect == "NoExecute") {
            tainted.insert(name, want);
        }
    }
    if tainted.is_empty() {
        return Ok(());
    }
    let default_secs = ctx.cfg.eviction_timeout.as_secs() as i64;
    for pod in ctx.informers.pods.store().state() {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(taints) = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_ref())
            .and_then(|n| tainted.get(n))
        else {
            continue;
        };
        if eviction_time(&pod, taints, default_secs).is_some_and(|t| t <= now) {
            let ns = pod.namespace().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
            rec.normal(
                pod.as_ref(),
                "TaintManagerEviction",
                &format!("Marking for deletion Pod {ns}/{}", pod.name_any()),
            )
            .await;
            let _ = api.delete(&pod.name_any(), &DeleteParams::default()).await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn node(ready: &str, beat: &str) -> Node {
        serde_json::from_value(json!({"metadata": {"name": "n", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "status": {"conditions": [{"type": "Ready", "status": ready, "lastHeartbeatTime": beat}]}})).unwrap()
    }

    #[test]
    fn heartbeats_decide_health() {
        let t0 = 1_704_067_200; // 2024-01-01T00:00:00Z
        let n = node("True", "2024-01-01T00:00:00Z");
        assert_eq!(health(&n, None, t0 + 10, 40), Health::Ready);
        assert_eq!(health(&n, None, t0 + 41, 40), Health::Unreachable);
        assert_eq!(health(&n, Some(t0 + 30), t0 + 41, 40), Health::Ready);
        assert_eq!(
            health(&node("False", "2024-01-01T00:00:00Z"), None, t0, 40),
            Health::NotReady
        );
    }

    #[test]
    fn taints_follow_health() {
        let n = node("True", "2024-01-01T00:00:00Z");
        let t = desired_taints(&n, Health::Unreachable, 100);
        assert_eq!(t.len(), 2);
        assert!(t
            .iter()
            .any(|t| t.key == UNREACHABLE && t.effect == "NoExecute"));
        assert!(desired_taints(&n, Health::Ready, 100).is_empty());
    }

    #[test]
    fn eviction_honours_toleration_seconds() {
        let taint = Taint {
            key: UNREACHABLE.into(),
            effect: "NoExecute".into(),
            time_added: Some(time_from_secs(1000)),
            value: None,
        };
        let plain: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}})).unwrap();
        assert_eq!(
            eviction_time(&plain, std::slice::from_ref(&taint), 300),
            Some(1300)
        );
        let tol: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": [],
            "tolerations": [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}]}})).unwrap();
        assert_eq!(
            eviction_time(&tol, std::slice::from_ref(&taint), 300),
            Some(1005)
        );
        let forever: Pod =
            serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": [],
            "tolerations": [{"operator": "Exists"}]}}))
            .unwrap();
        assert_eq!(eviction_time(&forever, &[taint], 300), None);
        let custom = Taint {
            key: "x".into(),
            effect: "NoExecute".into(),
            time_added: None,
            value: None,
        };
        assert_eq!(eviction_time(&plain, &[custom], 300), Some(0));
    }
}
