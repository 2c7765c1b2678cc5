//! StatefulSet controller (upstream `stateful_set_control.go`): pods `<set>-<ordinal>` with
//! stable names, `hostname`/`subdomain` and per-pod PersistentVolumeClaims from
//! `volumeClaimTemplates`; `OrderedReady` creates in ordinal order one at a time waiting for
//! Running and Ready and removes from the highest ordinal down, `Parallel` acts on all at once;
//! `RollingUpdate` replaces pods at or above `partition` from the highest ordinal down, one at a
//! time; ControllerRevisions record every template (`currentRevision` / `updateRevision`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, PodTemplateSpec, Volume};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::ResourceExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::error::{kube_conflict, Result};
use crate::events::Recorder;
use crate::history::{self, REVISION_HASH};
use crate::util::{
    delete_ignore_missing, drain, is_controlled_by, is_pod_available, is_pod_ready, now_secs,
    on_error, owner_ref, patch_status, pod_phase,
};
use crate::volume::retention;
use crate::Context;

/// Label naming a StatefulSet pod (upstream `statefulset.kubernetes.io/pod-name`).
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// Label carrying the pod's ordinal (upstream `apps.kubernetes.io/pod-index`).
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// Runs the StatefulSet controller until `token` is cancelled.
pub async fn run(ctx: Context, token: CancellationToken) {
    let sets: Api<StatefulSet> = Api::all(ctx.client.clone());
    let pods = ctx.informers.pods.changes();
    let stream = Controller::new(sets, watcher::Config::default())
        .owns_stream(pods)
        .graceful_shutdown_on(async move { token.cancelled().await })
        .run(reconcile, on_error, Arc::new(ctx));
    drain("statefulset", stream).await;
}

/// The ordinal of a pod named `<set>-<n>`, if it is one of the set's.
pub fn ordinal(set: &str, pod: &str) -> Option<i32> {
    let n = pod.strip_prefix(set)?.strip_prefix('-')?;
    if n.is_empty() || (n.len() > 1 && n.starts_with('0')) {
        return None;
    }
    n.parse().ok()
}

/// What one pass does under a pod-management policy.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Create the pods with these ordinals.
    Create(Vec<i32>),
    /// Delete the pods with these ordinals.
    Delete(Vec<i32>),
    /// Wait for pods to become Running and Ready.
    Wait,
    /// Nothing to do.
    Done,
}

/// The next scaling step: `existing` maps ordinal → healthy (Running and Ready, not deleting).
pub fn scale_step(
    replicas: i32,
    start: i32,
    existing: &BTreeMap<i32, bool>,
    parallel: bool,
) -> Step {
    let end = start + replicas.max(0);
    let missing: Vec<i32> = (start..end).filter(|o| !existing.contains_key(o)).collect();
    let extra: Vec<i32> = existing
        .keys()
        .copied()
        .filter(|o| *o < start || *o >= end)
        .rev()
        .collect();
    if parallel {
        if !missing.is_empty() {
            return Step::Create(missing);
        }
        if !extra.is_empty() {
            return Step::Delete(extra);
        }
        return Step::Done;
    }
    // OrderedReady: create the lowest missing ordinal once every lower one is healthy.
    for o in start..end {
        match existing.get(&o) {
            None => return Step::Create(vec![o]),
            Some(false) => return Step::Wait,
            Some(true) => {}
        }
    }
    // Scale down from the highest ordinal, one at a time, only when all others are healthy.
    match extra.first() {
        Some(o) if existing.values().all(|h| *h) => Step::Delete(vec![*o]),
        Some(_) => Step::Wait,
        None => Step::Done,
    }
}

/// Builds pod `ordinal` of the set from `template` (labels, hostname, subdomain, claims). Its
/// `controller-revision-hash` label is the revision's *name* (`web-5bb8bd9b54`), as upstream's
/// StatefulSet controller sets it (DaemonSets label the bare hash).
pub fn pod_for(set: &StatefulSet, template: &PodTemplateSpec, ordinal: i32, revision: &str) -> Pod {
    let name = format!("{}-{ordinal}", set.name_any());
    let spec = set.spec.clone().unwrap_or_default();
    let tmeta = template.metadata.clone().unwrap_or_default();
    let mut labels = tmeta.labels.unwrap_or_default();
    labels.insert(REVISION_HASH.into(), revision.into());
    labels.insert(POD_NAME_LABEL.into(), name.clone());
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
    let mut pod_spec = template.spec.clone().unwrap_or_default();
    pod_spec.hostname = Some(name.clone());
    if !spec.service_name.as_deref().unwrap_or("").is_empty() {
        pod_spec.subdomain = spec.service_name.clone();
    }
    let volumes = pod_spec.volumes.get_or_insert_with(Vec::new);
    for claim in spec.volume_claim_templates.iter().flatten() {
        let cname = claim.name_any();
        volumes.retain(|v| v.name != cname);
        volumes.push(
            serde_json::from_value::<Volume>(json!({"name": cname,
                "persistentVolumeClaim": {"claimName": format!("{cname}-{name}")}}))
            .unwrap_or_default(),
        );
    }
    if volumes.is_empty() {
        pod_spec.volumes = None;
    }
    Pod {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: set.namespace(),
            labels: Some(labels),
            annotations: tmeta.annotations,
            owner_references: Some(vec![owner_ref(set)]),
            ..Default::default()
        },
        spec: Some(pod_spec),
        status: None,
    }
}

async fn ensure_claims(
    set: &StatefulSet,
    pod: &str,
    api: &Api<PersistentVolumeClaim>,
) -> Result<()> {
    let spec = set.spec.clone().unwrap_or_default();
    for claim in spec.volume_claim_templates.iter().flatten() {
        let mut pvc = claim.clone();
        let mut labels = set
            .spec
            .as_ref()
            .and_then(|s| s.selector.match_labels.clone())
            .unwrap_or_default();
        labels.extend(pvc.metadata.labels.take().unwrap_or_default());
        pvc.metadata = ObjectMeta {
            name: Some(format!("{}-{pod}", claim.name_any())),
            namespace: set.namespace(),
            labels: Some(labels),
            annotations: pvc.metadata.annotations.take(),
            // whenDeleted: Delete — owned by the set from the start.
            owner_references: retention::wanted_owners(set, true)
                .0
                .then(|| vec![retention::reference(set)]),
            ..Default::default()
        };
        pvc.status = None;
        match api.create(&crate::util::post_params(), &pvc).await {
            Ok(_) => {}
            Err(e) if kube_conflict(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

async fn reconcile(set: Arc<StatefulSet>, ctx: Arc<Context>) -> Result<Action> {
    if set.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = set.namespace().unwrap_or_default();
    let name = set.name_any();
    let uid = set.metadata.uid.clone().unwrap_or_default();
    let client = &ctx.client;
    let rec = Recorder::new(client.clone(), "statefulset-controller", None);
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    let spec = set.spec.clone().unwrap_or_default();
    let pods: Vec<Pod> = pods_api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|p| is_controlled_by(&p.metadata, &uid))
        .collect();
    let revs: Api<ControllerRevision> = Api::namespaced(client.clone(), &ns);
    let update = history::sync_for_pods(
        &revs,
        owner_ref(set.as_ref()),
        &spec.template,
        spec.revision_history_limit,
        &pods,
    )
    .await?;
    let now = now_secs();
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let start = spec.ordinals.as_ref().and_then(|o| o.start).unwrap_or(0);
    let replicas = spec.replicas.unwrap_or(1);
    let parallel = spec.pod_management_policy.as_deref() == Some("Parallel");

    let mut existing: BTreeMap<i32, bool> = BTreeMap::new();
    let mut by_ordinal: BTreeMap<i32, &Pod> = BTreeMap::new();
    let mut terminating = false;
    for p in &pods {
        let Some(o) = ordinal(&name, &p.name_any()) else {
            continue;
        };
        if p.metadata.deletion_timestamp.is_some() {
            // The stable name is taken until the old pod is gone.
            terminating = true;
            existing.insert(o, false);
            continue;
        }
        if pod_phase(p) == "Failed" {
            delete_ignore_missing(&pods_api, &p.name_any(), &DeleteParams::default()).await?;
            rec.normal(
                set.as_ref(),
                "SuccessfulDelete",
                &format!(
                    "delete Pod {} in StatefulSet {name} successful",
                    p.name_any()
                ),
            )
            .await;
            existing.insert(o, false);
            continue;
        }
        existing.insert(o, pod_phase(p) == "Running" && is_pod_ready(p));
        by_ordinal.insert(o, p);
    }

    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
    // Claim owners first, so a pod condemned below owns its claims before it is deleted.
    for (o, p) in &by_ordinal {
        let in_range = *o >= start && *o < start + replicas;
        retention::sync_pod_claims(&claims, &set, p, in_range).await?;
    }
    let step = scale_step(replicas, start, &existing, parallel);
    let prev_current = set
        .status
        .as_ref()
        .and_then(|s| s.current_revision.clone())
        .unwrap_or_else(|| update.name.clone());
    let partition = spec
        .update_strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.partition)
        .unwrap_or(0);
    // Upstream's newVersionedStatefulSetPod: below the partition a recreated pod keeps the
    // current revision; only ordinals at or above it get the update.
    let current_template = if prev_current != update.name && partition > 0 {
        history::revision_template(&revs, &prev_current).await?
    } else {
        None
    };
    match &step {
        Step::Create(ordinals) => {
            for o in ordinals {
                let pod = match &current_template {
                    Some(t) if *o < start + partition => pod_for(&set, t, *o, &prev_current),
                    _ => pod_for(&set, &spec.template, *o, &update.name),
                };
                let pname = pod.name_any();
                ensure_claims(&set, &pname, &claims).await?;
                match pods_api.create(&crate::util::post_params(), &pod).await {
                    Ok(_) => {
                        rec.normal(
                            set.as_ref(),
                            "SuccessfulCreate",
                            &format!("create Pod {pname} in StatefulSet {name} successful"),
                        )
                        .await
                    }
                    Err(e) if kube_conflict(&e) => {}
                    Err(e) => {
                        rec.warning(
                            set.as_ref(),
                            "FailedCreate",
                            &format!("create Pod {pname} in StatefulSet {name} failed error: {e}"),
                        )
                        .await;
                        return Err(e.into());
                    }
                }
            }
        }
        Step::Delete(ordinals) => {
            for o in ordinals {
                let pname = format!("{name}-{o}");
                delete_ignore_missing(&pods_api, &pname, &DeleteParams::default()).await?;
                rec.normal(
                    set.as_ref(),
                    "SuccessfulDelete",
                    &format!("delete Pod {pname} in StatefulSet {name} successful"),
                )
                .await;
            }
        }
        Step::Wait | Step::Done => {}
    }

    // Rolling update once the set is at size and healthy: the highest stale ordinal first.
    let rolling = spec
        .update_strategy
        .as_ref()
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate")
        == "RollingUpdate";
    let all_healthy = step == Step::Done && !terminating;
    if rolling && all_healthy {
        let stale = by_ordinal.iter().rev().find(|(o, p)| {
            **o >= start + partition && p.labels().get(REVISION_HASH) != Some(&update.name)
        });
        if let Some((_, p)) = stale {
            delete_ignore_missing(&pods_api, &p.name_any(), &DeleteParams::default()).await?;
            rec.normal(
                set.as_ref(),
                "SuccessfulDelete",
                &format!(
                    "delete Pod {} in StatefulSet {name} successful",
                    p.name_any()
                ),
            )
            .await;
        }
    }

    let live: Vec<&&Pod> = by_ordinal.values().collect();
    let ready = live.iter().filter(|p| is_pod_ready(p)).count();
    let available = live
        .iter()
        .filter(|p| is_pod_available(p, min_ready, now))
        .count();
    let updated = live
        .iter()
        .filter(|p| p.labels().get(REVISION_HASH) == Some(&update.name))
        .count();
    // The update is complete once every wanted pod runs the update revision.
    let done = updated == usize::try_from(replicas.max(0)).unwrap_or(0) && live.len() == updated;
    let current_revision = if done {
        update.name.clone()
    } else {
        prev_current.clone()
    };
    let current = if done {
        updated
    } else {
        live.iter()
            .filter(|p| p.labels().get(REVISION_HASH) == Some(&prev_current))
            .count()
    };
    let st = json!({
        "observedGeneration": set.metadata.generation,
        "replicas": live.len(),
        "readyReplicas": ready,
        "availableReplicas": available,
        "currentReplicas": current,
        "updatedReplicas": updated,
        "currentRevision": current_revision,
        "updateRevision": update.name,
        "collisionCount": 0,
    });
    patch_status(&sets, &name, st).await?;
    if matches!(step, Step::Done) && done {
        return Ok(Action::requeue(Duration::from_secs(300)));
    }
    Ok(Action::requeue(Duration::from_secs(2)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn have(v: &[(i32, bool)]) -> BTreeMap<i32, bool> {
        v.iter().copied().collect()
    }

    #[test]
    fn ordinals_parse_strictly() {
        assert_eq!(ordinal("web", "web-0"), Some(0));
        assert_eq!(ordinal("web", "web-12"), Some(12));
        assert_eq!(ordinal("web", "web-01"), None);
        assert_eq!(ordinal("web", "webx-1"), None);
        assert_eq!(ordinal("web", "web-"), None);
    }

    #[test]
    fn ordered_ready_goes_one_at_a_time() {
        assert_eq!(scale_step(3, 0, &have(&[]), false), Step::Create(vec![0]));
        assert_eq!(scale_step(3, 0, &have(&[(0, false)]), false), Step::Wait);
        assert_eq!(
            scale_step(3, 0, &have(&[(0, true)]), false),
            Step::Create(vec![1])
        );
        assert_eq!(
            scale_step(3, 0, &have(&[(0, true), (1, true), (2, true)]), false),
            Step::Done
        );
        // Scale down from the top, and only while the rest are healthy.
        assert_eq!(
            scale_step(1, 0, &have(&[(0, true), (1, true), (2, true)]), false),
            Step::Delete(vec![2])
        );
        assert_eq!(
            scale_step(1, 0, &have(&[(0, true), (1, false)]), false),
            Step::Wait
        );
    }

    #[test]
    fn parallel_acts_on_all_at_once() {
        assert_eq!(
            scale_step(3, 0, &have(&[(1, false)]), true),
            Step::Create(vec![0, 2])
        );
        assert_eq!(
            scale_step(1, 0, &have(&[(0, false), (1, true), (2, true)]), true),
            Step::Delete(vec![2, 1])
        );
        assert_eq!(scale_step(2, 5, &have(&[]), true), Step::Create(vec![5, 6]));
    }

    #[test]
    fn pods_get_stable_identity_and_claims() {
        let set: StatefulSet = serde_json::from_value(json!({"metadata": {"name": "db", "namespace": "n"},
            "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]}}))
        .unwrap();
        let t = set.spec.as_ref().unwrap().template.clone();
        let p = pod_for(&set, &t, 2, "db-abc");
        assert_eq!(p.name_any(), "db-2");
        let spec = p.spec.unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("db-2"));
        assert_eq!(spec.subdomain.as_deref(), Some("db"));
        let vol = &spec.volumes.unwrap()[0];
        assert_eq!(
            vol.persistent_volume_claim.as_ref().unwrap().claim_name,
            "data-db-2"
        );
        let labels = p.metadata.labels.unwrap();
        assert_eq!(labels[POD_INDEX_LABEL], "2");
        assert_eq!(labels[REVISION_HASH], "db-abc");
    }
}
