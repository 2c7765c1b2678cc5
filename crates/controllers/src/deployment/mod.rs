//! Deployment controller (upstream `deployment_controller.go`, `sync.go`, `rolling.go`,
//! `recreate.go`, `progress.go`): one ReplicaSet per template (named
//! `<deployment>-<pod-template-hash>`), revision annotations that `kubectl rollout
//! history/undo` read, RollingUpdate within maxSurge/maxUnavailable, Recreate, pause,
//! history cleanup, and the status/conditions `kubectl rollout status` reads.

mod proportional;
pub mod rollout;
pub mod status;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::ResourceExt;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::error::{kube_conflict, Result};
use crate::events::Recorder;
use crate::util::{
    controller_ref, drain, is_controlled_by, is_pod_active, matches, on_error, owner_ref,
    patch_merge, patch_status, secs, selector, template_hash,
};
use crate::Context;
use rollout::{new_rs_replicas, resolve_fenceposts, scale_down_olds, RsCounts};

/// Annotation carrying a ReplicaSet's (and its Deployment's) revision.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Annotation listing earlier revisions a reused ReplicaSet had.
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// Annotation with the deployment's replicas when the RS was last scaled.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// Annotation with replicas + maxSurge when the RS was last scaled.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// Label distinguishing the pods of each ReplicaSet.
pub const HASH_LABEL: &str = "pod-template-hash";

const SKIP_COPY: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// Runs the Deployment controller until `token` is cancelled.
pub async fn run(ctx: Context, token: CancellationToken) {
    let api: Api<Deployment> = Api::all(ctx.client.clone());
    let rs: Api<ReplicaSet> = Api::all(ctx.client.clone());
    let stream = Controller::new(api, watcher::Config::default())
        .owns(rs, watcher::Config::default())
        .graceful_shutdown_on(async move { token.cancelled().await })
        .run(reconcile, on_error, Arc::new(ctx));
    drain("deployment", stream).await;
}

/// The template without the hash label, for comparing a ReplicaSet with its Deployment.
pub fn template_without_hash(t: Option<&PodTemplateSpec>) -> Value {
    let mut v = serde_json::to_value(t).unwrap_or(Value::Null);
    if let Some(labels) = v
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(HASH_LABEL);
    }
    v
}

/// A ReplicaSet's revision, 0 when unset or malformed.
pub fn revision(meta: &ObjectMeta) -> i64 {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn rs_available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

fn counts(rs: &ReplicaSet) -> RsCounts {
    RsCounts {
        name: rs.name_any(),
        replicas: rs_replicas(rs),
        available: rs_available(rs),
    }
}

/// The active ReplicaSets' sizes after a resize mid-rollout (see [`proportional`]).
fn proportional_plan<'a>(
    d: &Deployment,
    olds: &'a [ReplicaSet],
    new_rs: Option<&'a ReplicaSet>,
    desired: i32,
    max_surge: i32,
) -> Vec<(&'a ReplicaSet, i32)> {
    let status_replicas = d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    // Oldest first (olds are sorted by creation), the new one last.
    let actives: Vec<&ReplicaSet> = olds
        .iter()
        .chain(new_rs)
        .filter(|r| rs_replicas(r) > 0)
        .collect();
    let sized: Vec<proportional::Sized> = actives
        .iter()
        .enumerate()
        .map(|(rank, r)| proportional::Sized {
            name: r.name_any(),
            replicas: rs_replicas(r),
            max_replicas_before: annotation_int(r, MAX_REPLICAS),
            age_rank: rank,
        })
        .collect();
    proportional::sizes(&sized, desired, max_surge, status_replicas)
        .into_iter()
        .filter_map(|(name, to)| {
            let rs = actives.iter().find(|r| r.name_any() == name)?;
            Some((*rs, to))
        })
        .collect()
}

fn annotation_int(rs: &ReplicaSet, key: &str) -> Option<i32> {
    rs.metadata.annotations.as_ref()?.get(key)?.parse().ok()
}

/// Upstream `isScalingEvent`: an active ReplicaSet was last sized for another replica count.
fn is_scaling_event<'a>(rss: impl Iterator<Item = &'a ReplicaSet>, desired: i32) -> bool {
    rss.filter(|r| rs_replicas(r) > 0)
        .filter_map(|r| annotation_int(r, DESIRED_REPLICAS))
        .any(|d| d != desired)
}

/// Annotations the RS inherits from its Deployment plus the revision.
fn rs_annotations(d: &Deployment, rev: i64, max_surge: i32) -> BTreeMap<String, String> {
    let mut a: BTreeMap<String, String> = d
        .metadata
        .annotations
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !SKIP_COPY.contains(&k.as_str()))
        .collect();
    let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    a.insert(REVISION.into(), rev.to_string());
    a.insert(DESIRED_REPLICAS.into(), replicas.to_string());
    a.insert(MAX_REPLICAS.into(), (replicas + max_surge).to_string());
    a
}

async fn reconcile(d: Arc<Deployment>, ctx: Arc<Context>) -> Result<Action> {
    if d.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = d.namespace().unwrap_or_default();
    let name = d.name_any();
    let uid = d.metadata.uid.clone().unwrap_or_default();
    let client = &ctx.client;
    let rec = Recorder::new(client.clone(), "deployment-controller", None);
    let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), &ns);
    let d_api: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let Some(spec) = d.spec.clone() else {
        return Ok(Action::await_change());
    };
    let sel = selector(Some(&spec.selector))?;
    let desired = spec.replicas.unwrap_or(1);

    // Claim ReplicaSets: owned ones, plus matching orphans (adoption).
    let mut all: Vec<ReplicaSet> = Vec::new();
    for rs in rs_api.list(&ListParams::default()).await?.items {
        match controller_ref(&rs.metadata) {
            Some(r) if r.uid == uid => all.push(rs),
            None if matches(&sel, &rs.metadata) => {
                let mut refs = rs.metadata.owner_references.clone().unwrap_or_default();
                refs.push(owner_ref(d.as_ref()));
                patch_merge(
                    &rs_api,
                    &rs.name_any(),
                    json!({"metadata": {"ownerReferences": refs}}),
                )
                .await?;
                all.push(rs);
            }
            _ => {}
        }
    }
    all.sort_by_key(|r| {
        (
            r.metadata.creation_timestamp.as_ref().map(secs),
            r.name_any(),
        )
    });
    let want_template = template_without_hash(Some(&spec.template));
    let new_idx = all.iter().position(|r| {
        template_without_hash(r.spec.as_ref().and_then(|s| s.template.as_ref())) == want_template
    });
    let strategy = spec.strategy.clone().unwrap_or_default();
    let rolling = strategy.rolling_update.clone().unwrap_or_default();
    let recreate = strategy.type_.as_deref() == Some("Recreate");
    let (max_surge, max_unavailable) = if recreate {
        (0, 0)
    } else {
        resolve_fenceposts(
            rolling.max_surge.as_ref(),
            rolling.max_unavailable.as_ref(),
            desired,
        )?
    };
    let max_old_rev = all
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != new_idx)
        .map(|(_, r)| revision(&r.metadata))
        .max()
        .unwrap_or(0);
    let paused = spec.paused == Some(true);

    // Paused deployments only scale; they never start a rollout.
    let mut created_new = None;
    let new_rs: Option<ReplicaSet> = match new_idx {
        Some(i) => {
            let mut rs = all.remove(i);
            let rev = revision(&rs.metadata);
            if rev <= max_old_rev && !paused {
                // A reused (rolled back) RS gets the next revision and remembers the old one.
                let mut ann = rs_annotations(&d, max_old_rev + 1, max_surge);
                let hist = rs
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(REVISION_HISTORY))
                    .cloned();
                let hist = match hist {
                    Some(h) if !h.is_empty() => format!("{h},{rev}"),
                    _ => rev.to_string(),
                };
                ann.insert(REVISION_HISTORY.into(), hist);
                patch_merge(
                    &rs_api,
                    &rs.name_any(),
                    json!({"metadata": {"annotations": ann}}),
                )
                .await?;
                rs.metadata.annotations = Some(ann);
            }
            Some(rs)
        }
        None if paused => None,
        None => {
            let collision = d.status.as_ref().and_then(|s| s.collision_count);
            let hash = template_hash(&spec.template, collision);
            let mut template = spec.template.clone();
            let tmeta = template.metadata.get_or_insert_with(Default::default);
            tmeta
                .labels
                .get_or_insert_with(Default::default)
                .insert(HASH_LABEL.into(), hash.clone());
            let mut rs_sel = spec.selector.clone();
            rs_sel
                .match_labels
                .get_or_insert_with(Default::default)
                .insert(HASH_LABEL.into(), hash.clone());
            let mut labels = spec
                .template
                .metadata
                .as_ref()
                .and_then(|m| m.labels.clone())
                .unwrap_or_default();
            labels.insert(HASH_LABEL.into(), hash.clone());
            let rs_name = format!("{name}-{hash}");
            // Start at zero for rolling updates; the step below scales it within maxSurge.
            let rs = ReplicaSet {
                metadata: ObjectMeta {
                    name: Some(rs_name.clone()),
                    namespace: Some(ns.clone()),
                    labels: Some(labels),
                    annotations: Some(rs_annotations(&d, max_old_rev + 1, max_surge)),
                    owner_references: Some(vec![owner_ref(d.as_ref())]),
                    ..Default::default()
                },
                spec: Some(ReplicaSetSpec {
                    replicas: Some(0),
                    min_ready_seconds: spec.min_ready_seconds,
                    selector: rs_sel,
                    template: Some(template),
                }),
                status: None,
            };
            match rs_api.create(&crate::util::post_params(), &rs).await {
                Ok(rs) => {
                    created_new = Some(rs_name);
                    Some(rs)
                }
                Err(e) if kube_conflict(&e) => {
                    // Hash collision with an RS that is not ours: bump collisionCount.
                    let existing = rs_api.get_opt(&rs_name).await?;
                    if existing
                        .as_ref()
                        .is_some_and(|r| !is_controlled_by(&r.metadata, &uid))
                    {
                        patch_status(
                            &d_api,
                            &name,
                            json!({"collisionCount": collision.unwrap_or(0) + 1}),
                        )
                        .await?;
                    }
                    return Ok(Action::requeue(Duration::from_secs(1)));
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    let olds = all;
    if let Some(new) = &new_rs {
        let rev = revision(&new.metadata).to_string();
        if d.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION))
            != Some(&rev)
        {
            patch_merge(
                &d_api,
                &name,
                json!({"metadata": {"annotations": {REVISION: rev}}}),
            )
            .await?;
        }
    }

    let scale = |rs: &ReplicaSet, to: i32| {
        let rs_api = rs_api.clone();
        let rec = rec.clone();
        let d = d.clone();
        let rs_name = rs.name_any();
        let from = rs_replicas(rs);
        let (want_desired, want_max) = (desired.to_string(), (desired + max_surge).to_string());
        // The size annotations follow the Deployment even when the size stays: a stale
        // desired-replicas would read as a scaling event forever.
        let annotated = rs.metadata.annotations.as_ref().is_some_and(|a| {
            a.get(DESIRED_REPLICAS) == Some(&want_desired) && a.get(MAX_REPLICAS) == Some(&want_max)
        });
        let ann = json!({DESIRED_REPLICAS: want_desired, MAX_REPLICAS: want_max});
        async move {
            if from == to && (annotated || to == 0) {
                return Ok::<(), crate::Error>(());
            }
            patch_merge(
                &rs_api,
                &rs_name,
                json!({"metadata": {"annotations": ann}, "spec": {"replicas": to}}),
            )
            .await?;
            if from == to {
                return Ok(());
            }
            let dir = if to > from { "up" } else { "down" };
            rec.normal(
                d.as_ref(),
                "ScalingReplicaSet",
                &format!("Scaled {dir} replica set {rs_name} from {from} to {to}"),
            )
            .await;
            Ok(())
        }
    };

    let active_olds: Vec<&ReplicaSet> = olds.iter().filter(|r| rs_replicas(r) > 0).collect();
    if paused || new_rs.is_none() {
        // Paused: only scaling. With at most one active RS, it takes the whole count.
        let actives: Vec<&ReplicaSet> = new_rs
            .iter()
            .chain(olds.iter())
            .filter(|r| rs_replicas(r) > 0)
            .collect();
        if actives.len() <= 1 {
            let target = actives
                .first()
                .copied()
                .or(new_rs.as_ref())
                .or_else(|| olds.iter().max_by_key(|r| revision(&r.metadata)));
            if let Some(t) = target {
                scale(t, desired).await?;
            }
        } else if !recreate {
            for (rs, to) in proportional_plan(&d, &olds, new_rs.as_ref(), desired, max_surge) {
                scale(rs, to).await?;
            }
        }
    } else if !recreate
        && !active_olds.is_empty()
        && is_scaling_event(new_rs.iter().chain(&olds), desired)
    {
        for (rs, to) in proportional_plan(&d, &olds, new_rs.as_ref(), desired, max_surge) {
            scale(rs, to).await?;
        }
    } else if let (Some(new), true) = (&new_rs, active_olds.is_empty()) {
        scale(new, desired).await?;
    } else if recreate {
        for rs in &active_olds {
            scale(rs, 0).await?;
        }
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let old_pods_running = pods
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .any(|p| {
                olds.iter().any(|rs| {
                    is_controlled_by(&p.metadata, rs.metadata.uid.as_deref().unwrap_or(""))
                }) && is_pod_active(p)
            });
        if !old_pods_running {
            if let Some(new) = &new_rs {
                scale(new, desired).await?;
            }
        }
    } else if let Some(new) = &new_rs {
        let total: i32 = olds.iter().map(rs_replicas).sum::<i32>() + rs_replicas(new);
        let target = new_rs_replicas(desired, max_surge, rs_replicas(new), total);
        scale(new, target).await?;
        let mut nc = counts(new);
        nc.replicas = target;
        let old_counts: Vec<RsCounts> = olds.iter().map(counts).collect();
        for (rs_name, to) in scale_down_olds(desired, max_unavailable, &nc, &old_counts) {
            if let Some(rs) = olds.iter().find(|r| r.name_any() == rs_name) {
                scale(rs, to).await?;
            }
        }
    }

    // History cleanup: drop the oldest empty RSs beyond revisionHistoryLimit.
    let limit = spec.revision_history_limit.unwrap_or(10).max(0) as usize;
    let empties: Vec<&ReplicaSet> = olds
        .iter()
        .filter(|r| rs_replicas(r) == 0 && r.status.as_ref().is_none_or(|s| s.replicas == 0))
        .filter(|r| r.metadata.deletion_timestamp.is_none())
        .collect();
    if empties.len() > limit {
        let mut sorted = empties.clone();
        sorted.sort_by_key(|r| revision(&r.metadata));
        for rs in sorted.iter().take(empties.len() - limit) {
            crate::util::delete_ignore_missing(
                &rs_api,
                &rs.name_any(),
                &DeleteParams::background(),
            )
            .await?;
        }
    }

    let new_status = status::compute(
        &d,
        new_rs.as_ref(),
        &olds,
        max_unavailable,
        created_new.as_deref(),
    );
    let requeue = status::requeue_after(&d, &new_status);
    patch_status(&d_api, &name, serde_json::to_value(&new_status)?).await?;
    Ok(requeue
        .map(Action::requeue)
        .unwrap_or_else(Action::await_change))
}
