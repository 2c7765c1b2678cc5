//! DaemonSet controller (upstream `daemon_controller.go` + `update.go`): one pod per eligible
//! node (nodeSelector / required node affinity admit it, its NoSchedule/NoExecute taints are
//! tolerated given the DaemonSet default tolerations), bound through the scheduler with a
//! `metadata.name` matchFields node affinity; pods on ineligible nodes and duplicates are
//! deleted; RollingUpdate replaces old-revision pods at most `maxUnavailable` at a time;
//! ControllerRevisions record every template.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
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

/// `maxUnavailable` resolved against the desired count (percent rounds up, at least 1).
pub fn max_unavailable(v: Option<&IntOrString>, desired: i32) -> i32 {
    let n = match v {
        None => 1,
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => {
            let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            let n = (pct * i64::from(desired) + 99) / 100;
            i32::try_from(n).unwrap_or(i32::MAX)
        }
    };
    n.max(1)
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
        to_delete.extend(live.iter().skip(1));
        scheduled += 1;
        let is_new = first.labels().get(REVISION_HASH) == Some(&cur.hash);
        if is_new {
            updated += 1;
        }
        if is_pod_ready(first) {
            ready += 1;
        }
        if is_pod_available(first, min_ready, now) {
            available += 1;
            if !is_new {
                old_available.push(first);
            }
        } else {
            unavailable_nodes += 1;
            if !is_new {
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
    let rolling = spec
        .update_strategy
        .as_ref()
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate")
        == "RollingUpdate";
    if rolling {
        let budget = max_unavailable(
            spec.update_strategy
                .as_ref()
                .and_then(|s| s.rolling_update.as_ref())
                .and_then(|r| r.max_unavailable.as_ref()),
            desired,
        ) - unavailable_nodes;
        let n = usize::try_from(budget.max(0)).unwrap_or(0);
        to_delete.extend(old_available.into_iter().take(n));
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
    fn max_unavailable_resolves_percentages() {
        assert_eq!(max_unavailable(None, 10), 1);
        assert_eq!(max_unavailable(Some(&IntOrString::Int(3)), 10), 3);
        assert_eq!(
            max_unavailable(Some(&IntOrString::String("25%".into())), 10),
            3
        );
        assert_eq!(max_unavailable(Some(&IntOrString::Int(0)), 10), 1);
    }
}
