//! DaemonSet controller (upstream `daemon_controller.go` + `update.go`): one pod per eligible
//! node (nodeSelector / required node affinity admit it, its NoSchedule/NoExecute taints are
//! tolerated given the DaemonSet default tolerations), bound through the scheduler with a
//! `metadata.name` matchFields node affinity; pods on ineligible nodes and duplicates are
//! deleted; RollingUpdate replaces old-revision pods at most `maxUnavailable` at a time, or,
//! with `maxSurge`, starts the new pod beside the old one and deletes the old pod once the new
//! one is available; ControllerRevisions record every template.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, RollingUpdateDaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod, PodTemplateSpec, Toleration};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, ListParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::{watcher, WatchStreamExt};
use kube::ResourceExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::events::Recorder;
use crate::history::{self, REVISION_HASH};
use crate::scheduler::predicates::{node_affinity_matches, taint_toleration};
use crate::util::{
    drain, is_controlled_by, is_pod_available, is_pod_ready, now_secs, on_error, owner_ref,
    patch_status, pod_from_template, pod_phase, pod_prefix,
};
use crate::Context;

/// Runs the DaemonSet controller until `token` is cancelled.
pub async fn run(ctx: Context, token: CancellationToken) {
    let dss: Api<DaemonSet> = Api::all(ctx.client.clone());
    let pods = ctx.informers.pods.changes();
    let nodes: Api<Node> = Api::all(ctx.client.clone());
    // Any node change can change where daemons belong: re-check every DaemonSet.
    let node_changes = watcher(nodes, watcher::Config::default())
        .default_backoff()
        .touched_objects()
        .filter_map(|r| futures::future::ready(r.ok().map(|_| ())));
    let stream = Controller::new(dss, watcher::Config::default())
        .owns_stream(pods)
        .reconcile_all_on(node_changes)
        .graceful_shutdown_on(async move { token.cancelled().await })
        .run(reconcile, on_error, Arc::new(ctx));
    drain("daemonset", stream).await;
}

/// Tolerations every daemon pod gets (upstream `AddOrUpdateDaemonPodTolerations`).
pub fn default_tolerations() -> Vec<Toleration> {
    let tol = |key: &str, effect: &str| Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some(effect.into()),
        ..Default::default()
    };
    vec![
        tol("node.kubernetes.io/not-ready", "NoExecute"),
        tol("node.kubernetes.io/unreachable", "NoExecute"),
        tol("node.kubernetes.io/disk-pressure", "NoSchedule"),
        tol("node.kubernetes.io/memory-pressure", "NoSchedule"),
        tol("node.kubernetes.io/pid-pressure", "NoSchedule"),
        tol("node.kubernetes.io/unschedulable", "NoSchedule"),
    ]
}

/// The daemon pod template: the DaemonSet's plus default tolerations (no node pinning yet).
pub fn daemon_template(ds: &DaemonSet) -> PodTemplateSpec {
    let mut t = ds
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let spec = t.spec.get_or_insert_with(Default::default);
    let tols = spec.tolerations.get_or_insert_with(Vec::new);
    for d in default_tolerations() {
        if !tols.iter().any(|t| t.key == d.key && t.effect == d.effect) {
            tols.push(d);
        }
    }
    t
}

/// Upstream `NodeShouldRunDaemonPod`: the template's node selection and taints admit `node`.
pub fn should_run(template: &PodTemplateSpec, node: &Node) -> bool {
    let pod = Pod {
        spec: template.spec.clone(),
        ..Default::default()
    };
    let pinned = template.spec.as_ref().and_then(|s| s.node_name.as_deref());
    if pinned.is_some_and(|n| Some(n) != node.metadata.name.as_deref()) {
        return false;
    }
    node_affinity_matches(&pod, node) && taint_toleration(&pod, node).is_ok()
}

/// The node a daemon pod is for: its `nodeName`, or the node its matchFields affinity names.
pub fn pod_node(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(n) = &spec.node_name {
        return Some(n.clone());
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms
        .iter()
        .flat_map(|t| t.match_fields.iter().flatten())
        .find(|r| r.key == "metadata.name" && r.operator == "In")
        .and_then(|r| r.values.as_ref()?.first().cloned())
}

/// Pins a pod to `node` by replacing its required node affinity with a `metadata.name`
/// matchFields term (upstream `ReplaceDaemonSetPodNodeNameNodeAffinity`).
fn pin_to(pod: &mut Pod, node: &str) {
    let spec = pod.spec.get_or_insert_with(Default::default);
    let mut affinity = serde_json::to_value(spec.affinity.take()).unwrap_or(json!({}));
    if !affinity.is_object() {
        affinity = json!({});
    }
    affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = json!({
        "nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": [node]}]}]});
    spec.affinity = serde_json::from_value(affinity).ok();
}

/// An int-or-percent resolved against the desired node count, percentages rounded up
/// (upstream `GetScaledValueFromIntOrPercent(.., roundUp=true)`).
fn scaled(v: &IntOrString, desired: i32) -> i32 {
    match v {
        IntOrString::Int(i) => (*i).max(0),
        IntOrString::String(s) => {
            let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            let n = (pct.max(0) * i64::from(desired) + 99) / 100;
            i32::try_from(n).unwrap_or(i32::MAX)
        }
    }
}

/// `(maxSurge, maxUnavailable)` for `desired` nodes (upstream `updatedDesiredNodeCounts`):
/// defaults 0 and 1; if both come out 0 the update still proceeds one node at a time.
pub fn rollout_limits(ru: Option<&RollingUpdateDaemonSet>, desired: i32) -> (i32, i32) {
    let surge = ru
        .and_then(|r| r.max_surge.as_ref())
        .map_or(0, |v| scaled(v, desired));
    let unavailable = ru
        .and_then(|r| r.max_unavailable.as_ref())
        .map_or(1, |v| scaled(v, desired));
    if desired > 0 && surge == 0 && unavailable == 0 {
        return (0, 1);
    }
    (surge, unavailable)
}

/// A node's daemon pods during a surge rollout: for the oldest pod of each revision there,
/// whether it is available (`None`: no pod of that revision).
#[derive(Clone, Copy, Debug)]
pub struct SurgeNode {
    /// The oldest pod of an older revision.
    pub old: Option<bool>,
    /// The oldest pod of the current revision.
    pub new: Option<bool>,
}

/// What a surge rollout does on a node this pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SurgeStep {
    /// Nothing to do on this node now.
    Keep,
    /// Start a current-revision pod beside the old one.
    CreateNew,
    /// Delete the old-revision pod.
    DeleteOld,
}

/// Upstream `rollingUpdate`'s surge branch: an old pod goes once its replacement is
/// available (or at once if it is itself unavailable, as upstream's manage loop does); a
/// node whose old pod is unavailable gets its replacement regardless of the budget; other
/// nodes get a replacement while fewer than `max_surge` replacements are still starting.
pub fn surge_steps(nodes: &[SurgeNode], max_surge: i32) -> Vec<SurgeStep> {
    let mut steps = vec![SurgeStep::Keep; nodes.len()];
    let mut surging = 0;
    let mut candidates = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        match (n.old, n.new) {
            (None, _) => {}
            (Some(false), None) => steps[i] = SurgeStep::CreateNew,
            (Some(true), None) => candidates.push(i),
            (Some(_), Some(true)) => steps[i] = SurgeStep::DeleteOld,
            (Some(old_available), Some(false)) => {
                surging += 1;
                if !old_available {
                    steps[i] = SurgeStep::DeleteOld;
                }
            }
        }
    }
    let room = usize::try_from(max_surge - surging).unwrap_or(0);
    for i in candidates.into_iter().take(room) {
        steps[i] = SurgeStep::CreateNew;
    }
    steps
}

async fn reconcile(ds: Arc<DaemonSet>, ctx: Arc<Context>) -> Result<Action> {
    if ds.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = ds.namespace().unwrap_or_default();
    let name = ds.name_any();
    let uid = ds.metadata.uid.clone().unwrap_or_default();
    let client = &ctx.client;
    let rec = Recorder::new(client.clone(), "daemonset-controller", None);
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let dss: Api<DaemonSet> = Api::namespaced(client.clone(), &ns);
    let spec = ds.spec.clone().unwrap_or_default();
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    let pods: Vec<Pod> = pods_api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|p| is_controlled_by(&p.metadata, &uid) && p.metadata.deletion_timestamp.is_none())
        .collect();
    let revs: Api<ControllerRevision> = Api::namespaced(client.clone(), &ns);
    let cur = history::sync_for_pods(
        &revs,
        owner_ref(ds.as_ref()),
        &spec.template,
        spec.revision_history_limit,
        &pods,
    )
    .await?;

    let mut template = daemon_template(&ds);
    let labels = template
        .metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(BTreeMap::new);
    labels.insert(REVISION_HASH.into(), cur.hash.clone());
    labels.insert(
        "pod-template-generation".into(),
        ds.metadata.generation.unwrap_or(1).to_string(),
    );

    let mut by_node: HashMap<String, Vec<&Pod>> = HashMap::new();
    for p in &pods {
        if let Some(n) = pod_node(p) {
            by_node.entry(n).or_default().push(p);
        }
    }
    let now = now_secs();
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let rolling = spec
        .update_strategy
        .as_ref()
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate")
        == "RollingUpdate";
    let rolling_update = spec
        .update_strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref());
    // Desired is only known after the node pass; the surge switch only needs "> 0".
    let surge = rolling
        && rollout_limits(
            rolling_update,
            i32::try_from(nodes.len()).unwrap_or(i32::MAX),
        )
        .0 > 0;
    let mut surge_nodes: Vec<(String, SurgeNode, Option<&Pod>)> = Vec::new();
    let (mut desired, mut scheduled, mut misscheduled, mut ready, mut updated, mut available) =
        (0, 0, 0, 0, 0, 0);
    let mut to_create: Vec<String> = Vec::new();
    let mut to_delete: Vec<&Pod> = Vec::new();
    let mut old_available: Vec<&Pod> = Vec::new();
    let mut unavailable_nodes = 0;
    for node in &nodes {
        let node_name = node.name_any();
        let mut here: Vec<&Pod> = by_node.remove(&node_name).unwrap_or_default();
        if !should_run(&template, node) {
            if !here.is_empty() {
                misscheduled += 1;
                to_delete.extend(here);
            }
            continue;
        }
        desired += 1;
        // Failed daemons are deleted and recreated on the next pass (upstream does the same).
        let (failed, live): (Vec<&Pod>, Vec<&Pod>) =
            here.drain(..).partition(|p| pod_phase(p) == "Failed");
        to_delete.extend(failed);
        let mut live = live;
        live.sort_by_key(|p| {
            p.metadata
                .creation_timestamp
                .as_ref()
                .map(crate::util::secs)
        });
        let Some(first) = live.first().copied() else {
            to_create.push(node_name);
            unavailable_nodes += 1;
            continue;
        };
        scheduled += 1;
        let is_current = |p: &&Pod| p.labels().get(REVISION_HASH) == Some(&cur.hash);
        let avail = |p: &Pod| is_pod_available(p, min_ready, now);
        let new_pod = live.iter().copied().find(is_current);
        let old_pod = live.iter().copied().find(|p| !is_current(p));
        // Surging keeps the oldest pod of each revision (a replacement stands beside the
        // pod it replaces); otherwise only the oldest pod stays.
        let kept: Vec<&Pod> = if surge {
            new_pod.into_iter().chain(old_pod).collect()
        } else {
            vec![first]
        };
        to_delete.extend(
            live.iter()
                .copied()
                .filter(|p| !kept.iter().any(|k| std::ptr::eq(*k, *p))),
        );
        // Status counts follow the oldest pod, as upstream's `updateDaemonSetStatus` does: a
        // surged node is "updated" only once its old pod is gone.
        if is_current(&first) {
            updated += 1;
        }
        if is_pod_ready(first) {
            ready += 1;
        }
        let node_available = avail(first);
        if node_available {
            available += 1;
        } else {
            unavailable_nodes += 1;
        }
        if surge {
            let state = SurgeNode {
                old: old_pod.map(avail),
                new: new_pod.map(avail),
            };
            surge_nodes.push((node_name, state, old_pod));
        } else if !is_current(&first) {
            if node_available {
                old_available.push(first);
            } else {
                // An unavailable old pod costs nothing to replace.
                to_delete.push(first);
            }
        }
    }
    // Pods bound to nodes that no longer exist.
    for stale in by_node.into_values() {
        misscheduled += 1;
        to_delete.extend(stale);
    }
    let (max_surge, max_unavailable) = rollout_limits(rolling_update, desired);
    if surge {
        let states: Vec<SurgeNode> = surge_nodes.iter().map(|(_, s, _)| *s).collect();
        for (step, (node, _, old)) in surge_steps(&states, max_surge)
            .into_iter()
            .zip(&surge_nodes)
        {
            match step {
                SurgeStep::Keep => {}
                SurgeStep::CreateNew => to_create.push(node.clone()),
                SurgeStep::DeleteOld => to_delete.extend(*old),
            }
        }
    } else if rolling {
        let budget = max_unavailable - unavailable_nodes;
        let n = usize::try_from(budget.max(0)).unwrap_or(0);
        to_delete.extend(old_available.into_iter().take(n));
    }

    // Deletes go first so a surge never runs more than `maxSurge` extra pods at once.
    for p in &to_delete {
        if crate::util::delete_ignore_missing(&pods_api, &p.name_any(), &DeleteParams::default())
            .await
            .is_ok()
        {
            rec.normal(
                ds.as_ref(),
                "SuccessfulDelete",
                &format!("Deleted pod: {}", p.name_any()),
            )
            .await;
        }
    }
    for node in &to_create {
        let mut pod = pod_from_template(&template, &ns, &pod_prefix(&name), owner_ref(ds.as_ref()));
        pin_to(&mut pod, node);
        match pods_api.create(&Default::default(), &pod).await {
            Ok(p) => {
                rec.normal(
                    ds.as_ref(),
                    "SuccessfulCreate",
                    &format!("Created pod: {}", p.name_any()),
                )
                .await
            }
            Err(e) => {
                rec.warning(ds.as_ref(), "FailedCreate", &format!("Error creating: {e}"))
                    .await
            }
        }
    }
    let st = json!({
        "observedGeneration": ds.metadata.generation,
        "desiredNumberScheduled": desired,
        "currentNumberScheduled": scheduled,
        "numberMisscheduled": misscheduled,
        "numberReady": ready,
        "updatedNumberScheduled": updated,
        "numberAvailable": available,
        "numberUnavailable": (desired - available).max(0),
    });
    patch_status(&dss, &name, st).await?;
    // Re-check while anything is in motion, and for minReadySeconds to pass.
    if !to_create.is_empty() || !to_delete.is_empty() || available < desired {
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    Ok(Action::requeue(Duration::from_secs(300)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, extra: serde_json::Value) -> Node {
        let mut n = json!({"metadata": {"name": name, "labels": {"role": "worker"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        if let Some(spec) = extra.get("spec") {
            n["spec"] = spec.clone();
        }
        serde_json::from_value(n).unwrap()
    }

    fn ds(spec_extra: serde_json::Value) -> DaemonSet {
        let mut pod_spec = json!({"containers": [{"name": "c", "image": "i"}]});
        if let Some(o) = spec_extra.as_object() {
            for (k, v) in o {
                pod_spec[k] = v.clone();
            }
        }
        serde_json::from_value(json!({"metadata": {"name": "d"}, "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "template": {"metadata": {"labels": {"app": "d"}}, "spec": pod_spec}}}))
        .unwrap()
    }

    #[test]
    fn eligibility_follows_selector_and_taints() {
        let plain = node("a", json!({}));
        let tainted = node(
            "b",
            json!({"spec": {"taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]}}),
        );
        let unreachable = node(
            "c",
            json!({"spec": {"taints": [{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]}}),
        );
        let t = daemon_template(&ds(json!({})));
        assert!(should_run(&t, &plain));
        assert!(!should_run(&t, &tainted));
        // Default tolerations keep daemons on unreachable nodes.
        assert!(should_run(&t, &unreachable));
        let sel = daemon_template(&ds(json!({"nodeSelector": {"role": "infra"}})));
        assert!(!should_run(&sel, &plain));
        let tol = daemon_template(&ds(json!({"tolerations": [{"operator": "Exists"}]})));
        assert!(should_run(&tol, &tainted));
    }

    #[test]
    fn pinned_pods_report_their_node() {
        let mut pod = Pod::default();
        pin_to(&mut pod, "n1");
        assert_eq!(pod_node(&pod).as_deref(), Some("n1"));
        pod.spec.get_or_insert_with(Default::default).node_name = Some("n2".into());
        assert_eq!(pod_node(&pod).as_deref(), Some("n2"));
    }

    #[test]
    fn rollout_limits_resolve_percentages() {
        let ru =
            |surge: Option<IntOrString>, unavailable: Option<IntOrString>| RollingUpdateDaemonSet {
                max_surge: surge,
                max_unavailable: unavailable,
            };
        let pct = |s: &str| Some(IntOrString::String(s.into()));
        assert_eq!(rollout_limits(None, 10), (0, 1));
        assert_eq!(
            rollout_limits(Some(&ru(None, Some(IntOrString::Int(3)))), 10),
            (0, 3)
        );
        assert_eq!(rollout_limits(Some(&ru(None, pct("25%"))), 10), (0, 3));
        // Both zero: fall back to one unavailable node at a time.
        assert_eq!(
            rollout_limits(Some(&ru(None, Some(IntOrString::Int(0)))), 10),
            (0, 1)
        );
        // Surge percentages round up too.
        assert_eq!(
            rollout_limits(Some(&ru(pct("10%"), Some(IntOrString::Int(0)))), 15),
            (2, 0)
        );
    }

    #[test]
    fn surge_replaces_before_deleting() {
        use SurgeStep::{CreateNew, DeleteOld, Keep};
        let n = |old: Option<bool>, new: Option<bool>| SurgeNode { old, new };
        let old_only = n(Some(true), None);
        // Three nodes on the old revision, surge 1: one replacement starts, nothing is deleted.
        assert_eq!(
            surge_steps(&[old_only, old_only, old_only], 1),
            vec![CreateNew, Keep, Keep]
        );
        // The replacement is starting: the budget is used up, the old pod stays.
        let starting = n(Some(true), Some(false));
        assert_eq!(
            surge_steps(&[starting, old_only, old_only], 1),
            vec![Keep, Keep, Keep]
        );
        // The replacement is available: its old pod goes and the next node starts.
        let replaced = n(Some(true), Some(true));
        assert_eq!(
            surge_steps(&[replaced, old_only, old_only], 1),
            vec![DeleteOld, CreateNew, Keep]
        );
        // An unavailable old pod is replaced at once, outside the budget.
        let broken = n(Some(false), None);
        assert_eq!(
            surge_steps(&[starting, broken, old_only], 1),
            vec![Keep, CreateNew, Keep]
        );
        // Updated nodes and empty nodes are left alone; a larger surge starts more nodes.
        let done = n(None, Some(true));
        assert_eq!(
            surge_steps(&[done, n(None, None), old_only, old_only], 2),
            vec![Keep, Keep, CreateNew, CreateNew]
        );
    }
}
