//! Disruption controller (upstream `pkg/controller/disruption`): keeps every
//! PodDisruptionBudget's `status` (currentHealthy, desiredHealthy, expectedPods,
//! disruptionsAllowed, disruptedPods, observedGeneration and the `DisruptionAllowed`
//! condition) in step with its pods. The API server's `pods/eviction` reads that status and
//! decrements `disruptionsAllowed` atomically with the pod's deletion, so this controller only
//! has to recompute it from reality.
//!
//! A pass recomputes every budget from the shared pod cache; it runs when pods change and at
//! least every [`RESYNC`] (budgets themselves are few and listed each pass).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::util::{controller_ref, is_pod_ready, matches, now_secs, patch_status, selector};
use crate::Context;

/// Longest wait between passes.
pub const RESYNC: Duration = Duration::from_secs(5);

/// How long an eviction's entry in `disruptedPods` keeps its pod out of the healthy count when
/// the pod is not seen going away (upstream's DeletionTimeout).
pub const DELETION_TIMEOUT_SECS: i64 = 120;

/// Runs the disruption controller until `token` is cancelled.
pub async fn run(ctx: Context, token: CancellationToken) {
    tokio::select! {
        _ = token.cancelled() => return,
        ok = ctx.informers.pods.ready() => if !ok { return },
    }
    let mut changes = ctx.informers.pods.subscribe();
    while !token.is_cancelled() {
        if let Err(e) = pass(&ctx).await {
            tracing::warn!(error = %e, "disruption pass failed");
        }
        // Wake on the next pod change (then let a burst settle) or after RESYNC.
        tokio::select! {
            _ = token.cancelled() => return,
            _ = changes.recv() => tokio::time::sleep(Duration::from_millis(100)).await,
            _ = tokio::time::sleep(RESYNC) => {}
        }
        changes = changes.resubscribe();
    }
}

async fn pass(ctx: &Context) -> Result<()> {
    let budgets: Api<PodDisruptionBudget> = Api::all(ctx.client.clone());
    let pods = ctx.informers.pods.store().state();
    for pdb in budgets.list(&ListParams::default()).await?.items {
        if pdb.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if let Err(e) = sync(&ctx.client, &pdb, &pods).await {
            // A conflict is a charge or write in between: the next pass recounts.
            if !e.is_conflict() {
                tracing::warn!(pdb = %pdb.name_any(), error = %e, "pdb sync failed");
            }
        }
    }
    Ok(())
}

/// Recomputes one budget's status and writes it when it changed.
async fn sync(
    client: &Client,
    pdb: &PodDisruptionBudget,
    all: &[std::sync::Arc<Pod>],
) -> Result<()> {
    let ns = pdb.namespace().unwrap_or_default();
    let sel = selector(pdb.spec.as_ref().and_then(|s| s.selector.as_ref()))?;
    let pods: Vec<&Pod> = all
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| p.metadata.namespace.as_deref() == Some(ns.as_str()))
        .filter(|p| matches(&sel, &p.metadata))
        .collect();
    let status = match expected_and_desired(client, pdb, &pods).await {
        Ok((expected, desired)) => compute(pdb, &pods, expected, desired, now_secs()),
        Err(e) => failed(pdb, &e.to_string()),
    };
    let old = serde_json::to_value(&pdb.status)?;
    if same_status(&old, &status) {
        return Ok(());
    }
    let api: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), &ns);
    patch_status(&api, &pdb.name_any(), status).await
}

/// Whether two statuses differ only in the conditions' transition times.
fn same_status(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(conds) = v.get_mut("conditions").and_then(Value::as_array_mut) {
            for c in conds {
                if let Some(m) = c.as_object_mut() {
                    m.remove("lastTransitionTime");
                }
            }
        }
        v
    };
    strip(old) == strip(new)
}

/// `(expectedPods, desiredHealthy)` as upstream's `getExpectedPodCount`: an integer
/// minAvailable counts the selected pods; a percentage or maxUnavailable scales against the
/// sum of the pods' controllers' replicas.
async fn expected_and_desired(
    client: &Client,
    pdb: &PodDisruptionBudget,
    pods: &[&Pod],
) -> Result<(i32, i32)> {
    let spec = pdb.spec.clone().unwrap_or_default();
    if let Some(max) = &spec.max_unavailable {
        let expected = expected_scale(client, pods).await?;
        let unavailable = scaled(max, expected)?;
        return Ok((expected, (expected - unavailable).max(0)));
    }
    match &spec.min_available {
        Some(IntOrString::Int(n)) => Ok((pods.len() as i32, *n)),
        Some(pct @ IntOrString::String(_)) => {
            let expected = expected_scale(client, pods).await?;
            Ok((expected, scaled(pct, expected)?))
        }
        // Neither set: upstream defaults minAvailable to 1.
        None => Ok((pods.len() as i32, 1)),
    }
}

/// Upstream `GetScaledValueFromIntOrPercent(v, total, roundUp=true)`.
pub fn scaled(v: &IntOrString, total: i32) -> Result<i32> {
    match v {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(s) => {
            let pct: i64 = s
                .strip_suffix('%')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "invalid value for IntOrString: invalid value {s:?}"
                    ))
                })?;
            Ok(((pct * i64::from(total) + 99) / 100) as i32)
        }
    }
}

/// The summed `spec.replicas` of the pods' controllers, each counted once (a ReplicaSet
/// owned by a Deployment counts as the Deployment, as upstream's finders do).
async fn expected_scale(client: &Client, pods: &[&Pod]) -> Result<i32> {
    // owner uid -> (top controller uid, replicas)
    let mut resolved: HashMap<String, (String, i32)> = HashMap::new();
    for pod in pods {
        let ns = pod.namespace().unwrap_or_default();
        let Some(owner) = controller_ref(&pod.metadata) else {
            return Err(Error::Invalid(format!(
                "found no controller ref for pod {:?}",
                pod.name_any()
            )));
        };
        if resolved.contains_key(&owner.uid) {
            continue;
        }
        let Some(top) = controller_scale(client, &ns, &owner.kind, &owner.name).await? else {
            return Err(Error::Invalid(format!(
                "found no controllers for pod {:?}",
                pod.name_any()
            )));
        };
        resolved.insert(owner.uid.clone(), top);
    }
    let distinct: BTreeMap<&String, i32> = resolved.values().map(|(u, r)| (u, *r)).collect();
    Ok(distinct.values().sum())
}

/// `(uid, replicas)` of the controller a pod names, following a ReplicaSet up to its Deployment.
async fn controller_scale(
    client: &Client,
    ns: &str,
    kind: &str,
    name: &str,
) -> Result<Option<(String, i32)>> {
    let c = client.clone();
    Ok(match kind {
        "ReplicaSet" => {
            let Some(rs) = Api::<ReplicaSet>::namespaced(c.clone(), ns)
                .get_opt(name)
                .await?
            else {
                return Ok(None);
            };
            if let Some(dep) = controller_ref(&rs.metadata).filter(|r| r.kind == "Deployment") {
                let d = Api::<Deployment>::namespaced(c, ns)
                    .get_opt(&dep.name)
                    .await?;
                d.map(|d| {
                    (
                        d.uid().unwrap_or_default(),
                        d.spec.and_then(|s| s.replicas).unwrap_or(1),
                    )
                })
            } else {
                Some((
                    rs.uid().unwrap_or_default(),
                    rs.spec.and_then(|s| s.replicas).unwrap_or(1),
                ))
            }
        }
        "Deployment" => Api::<Deployment>::namespaced(c, ns)
            .get_opt(name)
            .await?
            .map(|d| {
                (
                    d.uid().unwrap_or_default(),
                    d.spec.and_then(|s| s.replicas).unwrap_or(1),
                )
            }),
        "StatefulSet" => Api::<StatefulSet>::namespaced(c, ns)
            .get_opt(name)
            .await?
            .map(|s| {
                (
                    s.uid().unwrap_or_default(),
                    s.spec.and_then(|s| s.replicas).unwrap_or(1),
                )
            }),
        "ReplicationController" => Api::<ReplicationController>::namespaced(c, ns)
            .get_opt(name)
            .await?
            .map(|r| {
                (
                    r.uid().unwrap_or_default(),
                    r.spec.and_then(|s| s.replicas).unwrap_or(1),
                )
            }),
        _ => None,
    })
}

/// The status of a budget whose pods are `pods`, given expected and desired counts.
pub fn compute(
    pdb: &PodDisruptionBudget,
    pods: &[&Pod],
    expected: i32,
    desired: i32,
    now: i64,
) -> Value {
    let old = pdb.status.clone().unwrap_or_default();
    let disrupted = prune_disrupted(old.disrupted_pods.as_ref(), pods, now);
    let healthy = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| !disrupted.contains_key(&p.name_any()))
        .filter(|p| is_pod_ready(p))
        .count() as i32;
    let allowed = if expected <= 0 {
        0
    } else {
        (healthy - desired).max(0)
    };
    let mut status = json!({
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": expected,
        "disruptionsAllowed": allowed,
        "observedGeneration": pdb.metadata.generation.unwrap_or(0),
        "conditions": [condition(pdb, allowed > 0, if allowed > 0 { "SufficientPods" } else { "InsufficientPods" }, "")],
    });
    // A merge patch removes the map only through an explicit null.
    status["disruptedPods"] = if disrupted.is_empty() {
        Value::Null
    } else {
        json!(disrupted)
    };
    status
}

/// The fail-safe status upstream writes when the expected count cannot be computed.
fn failed(pdb: &PodDisruptionBudget, why: &str) -> Value {
    let old = pdb.status.clone().unwrap_or_default();
    json!({
        "currentHealthy": old.current_healthy,
        "desiredHealthy": old.desired_healthy,
        "expectedPods": old.expected_pods,
        "disruptionsAllowed": 0,
        "observedGeneration": pdb.metadata.generation.unwrap_or(0),
        "conditions": [condition(pdb, false, "SyncFailed", why)],
    })
}

/// `disruptedPods` entries still holding their pod out of the healthy count: the pod exists,
/// is not being deleted, and the eviction is younger than [`DELETION_TIMEOUT_SECS`].
fn prune_disrupted(
    old: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>>,
    pods: &[&Pod],
    now: i64,
) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (name, at) in old.into_iter().flatten() {
        let live = pods
            .iter()
            .any(|p| p.name_any() == *name && p.metadata.deletion_timestamp.is_none());
        if live && crate::util::secs(at) + DELETION_TIMEOUT_SECS > now {
            out.insert(name.clone(), json!(at));
        }
    }
    out
}

/// The `DisruptionAllowed` condition, its transition time kept while its status holds.
fn condition(pdb: &PodDisruptionBudget, allowed: bool, reason: &str, message: &str) -> Value {
    let status = if allowed { "True" } else { "False" };
    let previous = pdb
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "DisruptionAllowed"))
        .filter(|c| c.status == status)
        .map(|c| json!(c.last_transition_time));
    json!({
        "type": "DisruptionAllowed",
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": pdb.metadata.generation.unwrap_or(0),
        "lastTransitionTime": previous.unwrap_or_else(|| json!(crate::util::now())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ready: bool) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "d"},
            "status": {"conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}}))
        .unwrap()
    }

    #[test]
    fn percentages_round_up() {
        assert_eq!(scaled(&IntOrString::String("50%".into()), 3).unwrap(), 2);
        assert_eq!(scaled(&IntOrString::String("100%".into()), 4).unwrap(), 4);
        assert_eq!(scaled(&IntOrString::Int(2), 9).unwrap(), 2);
        assert!(scaled(&IntOrString::String("x".into()), 3).is_err());
    }

    #[test]
    fn allowed_is_healthy_minus_desired() {
        let pdb: PodDisruptionBudget = serde_json::from_value(json!({"metadata": {"name": "b", "generation": 3},
            "spec": {"minAvailable": 2},
            "status": {"disruptedPods": {"a": "2099-01-01T00:00:00Z", "gone": "2099-01-01T00:00:00Z"},
                "disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}}))
        .unwrap();
        let (a, b, c, d) = (
            pod("a", true),
            pod("b", true),
            pod("c", true),
            pod("e", false),
        );
        let s = compute(&pdb, &[&a, &b, &c, &d], 4, 2, 0);
        // `a` was just evicted: not healthy; `e` is not ready.
        assert_eq!(s["currentHealthy"], 2);
        assert_eq!(s["disruptionsAllowed"], 0);
        assert_eq!(s["observedGeneration"], 3);
        assert_eq!(s["conditions"][0]["reason"], "InsufficientPods");
        assert_eq!(s["disruptedPods"], json!({"a": "2099-01-01T00:00:00Z"}));
        let s = compute(&pdb, &[&b, &c, &d], 3, 1, 0);
        assert_eq!(s["disruptionsAllowed"], 1);
        assert_eq!(s["conditions"][0]["status"], "True");
        assert_eq!(s["disruptedPods"], Value::Null);
    }
}
