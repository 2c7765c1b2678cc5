//! Deployment status and conditions (upstream `sync.go` calculateStatus and `progress.go`).

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use kube::ResourceExt;

use crate::util::{now, now_secs, secs};

fn cond(type_: &str, status: &str, reason: &str, message: String) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(now()),
        last_transition_time: Some(now()),
    }
}

/// Sets a condition, keeping `lastTransitionTime` when the status did not change and
/// `lastUpdateTime` when nothing changed at all.
pub fn set_condition(conds: &mut Vec<DeploymentCondition>, mut c: DeploymentCondition) {
    if let Some(old) = conds.iter().find(|o| o.type_ == c.type_) {
        if old.status == c.status && old.reason == c.reason && old.message == c.message {
            return;
        }
        if old.status == c.status {
            c.last_transition_time = old.last_transition_time.clone();
        }
    }
    conds.retain(|o| o.type_ != c.type_);
    conds.push(c);
}

/// The status the Deployment should have now.
pub fn compute(
    d: &Deployment,
    new_rs: Option<&ReplicaSet>,
    olds: &[ReplicaSet],
    max_unavailable: i32,
    created_new: Option<&str>,
) -> DeploymentStatus {
    let spec = d.spec.clone().unwrap_or_default();
    let desired = spec.replicas.unwrap_or(1);
    let all: Vec<&ReplicaSet> = new_rs.into_iter().chain(olds.iter()).collect();
    let st = |r: &ReplicaSet| r.status.clone().unwrap_or_default();
    let replicas: i32 = all.iter().map(|r| st(r).replicas).sum();
    let updated = new_rs.map(|r| st(r).replicas).unwrap_or(0);
    let ready: i32 = all.iter().map(|r| st(r).ready_replicas.unwrap_or(0)).sum();
    let available: i32 = all
        .iter()
        .map(|r| st(r).available_replicas.unwrap_or(0))
        .sum();
    let old = d.status.clone().unwrap_or_default();
    let mut conds = old.conditions.clone().unwrap_or_default();
    if available >= desired - max_unavailable {
        set_condition(
            &mut conds,
            cond(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".into(),
            ),
        );
    } else {
        set_condition(
            &mut conds,
            cond(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".into(),
            ),
        );
    }
    let new_name = new_rs.map(|r| r.name_any()).unwrap_or_default();
    let current_progress = conds.iter().find(|c| c.type_ == "Progressing").cloned();
    if spec.paused == Some(true) {
        set_condition(
            &mut conds,
            cond(
                "Progressing",
                "Unknown",
                "DeploymentPaused",
                "Deployment is paused".into(),
            ),
        );
    } else if current_progress.as_ref().and_then(|c| c.reason.as_deref())
        == Some("DeploymentPaused")
    {
        set_condition(
            &mut conds,
            cond(
                "Progressing",
                "Unknown",
                "DeploymentResumed",
                "Deployment is resumed".into(),
            ),
        );
    } else if let Some(n) = created_new {
        set_condition(
            &mut conds,
            cond(
                "Progressing",
                "True",
                "NewReplicaSetCreated",
                format!("Created new replica set \"{n}\""),
            ),
        );
    } else if new_rs.is_some() {
        let complete = updated == desired
            && replicas == desired
            && available >= desired
            && olds.iter().all(|r| st(r).replicas == 0);
        let progressed = old.updated_replicas.unwrap_or(0) != updated
            || old.available_replicas.unwrap_or(0) != available
            || old.replicas.unwrap_or(0) != replicas;
        if complete {
            set_condition(
                &mut conds,
                cond(
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    format!("ReplicaSet \"{new_name}\" has successfully progressed."),
                ),
            );
        } else if progressed || current_progress.is_none() {
            let mut c = cond(
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                format!("ReplicaSet \"{new_name}\" is progressing."),
            );
            // Progress renews the deadline even when the message is unchanged.
            if let Some(old) = conds
                .iter()
                .find(|o| o.type_ == "Progressing" && o.status == "True")
            {
                c.last_transition_time = old.last_transition_time.clone();
            }
            conds.retain(|o| o.type_ != "Progressing");
            conds.push(c);
        } else if deadline_exceeded(d, current_progress.as_ref()) {
            set_condition(
                &mut conds,
                cond(
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    format!("ReplicaSet \"{new_name}\" has timed out progressing."),
                ),
            );
        }
    }
    // Conditions print in upstream order: Available, then Progressing.
    conds.sort_by_key(|c| if c.type_ == "Available" { 0 } else { 1 });
    DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(replicas),
        updated_replicas: Some(updated),
        ready_replicas: Some(ready),
        available_replicas: Some(available),
        unavailable_replicas: Some((desired - available).max(0)),
        conditions: Some(conds),
        collision_count: old.collision_count,
        terminating_replicas: None,
    }
}

fn deadline_exceeded(d: &Deployment, progressing: Option<&DeploymentCondition>) -> bool {
    let Some(deadline) = d.spec.as_ref().and_then(|s| s.progress_deadline_seconds) else {
        return false;
    };
    let Some(c) = progressing else { return false };
    if c.reason.as_deref() == Some("NewReplicaSetAvailable") || c.status != "True" {
        return false;
    }
    c.last_update_time
        .as_ref()
        .is_some_and(|t| secs(t) + i64::from(deadline) < now_secs())
}

/// When to look again: before the progress deadline expires for a rollout in flight.
pub fn requeue_after(d: &Deployment, st: &DeploymentStatus) -> Option<Duration> {
    let deadline = d.spec.as_ref().and_then(|s| s.progress_deadline_seconds)?;
    let c = st
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Progressing")?;
    if c.status != "True" || c.reason.as_deref() == Some("NewReplicaSetAvailable") {
        return None;
    }
    let t = secs(c.last_update_time.as_ref()?);
    let left = (t + i64::from(deadline) - now_secs()).max(1);
    Some(Duration::from_secs(left as u64))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rs(name: &str, replicas: i32, available: i32) -> ReplicaSet {
        serde_json::from_value(json!({"metadata": {"name": name},
            "status": {"replicas": replicas, "readyReplicas": available, "availableReplicas": available}}))
        .unwrap()
    }

    fn dep(replicas: i32) -> Deployment {
        serde_json::from_value(json!({"metadata": {"name": "web", "generation": 2},
            "spec": {"replicas": replicas, "selector": {}, "template": {},
                     "progressDeadlineSeconds": 600}}))
        .unwrap()
    }

    #[test]
    fn complete_rollout_reports_new_replicaset_available() {
        let st = compute(&dep(3), Some(&rs("web-1", 3, 3)), &[], 0, None);
        assert_eq!(st.updated_replicas, Some(3));
        assert_eq!(st.available_replicas, Some(3));
        assert_eq!(st.observed_generation, Some(2));
        let conds = st.conditions.unwrap();
        assert_eq!(conds[0].type_, "Available");
        assert_eq!(conds[0].status, "True");
        assert_eq!(conds[1].reason.as_deref(), Some("NewReplicaSetAvailable"));
        assert_eq!(
            conds[1].message.as_deref(),
            Some("ReplicaSet \"web-1\" has successfully progressed.")
        );
    }

    #[test]
    fn mid_rollout_counts_old_and_new() {
        let st = compute(
            &dep(3),
            Some(&rs("web-2", 1, 0)),
            &[rs("web-1", 3, 3)],
            0,
            None,
        );
        assert_eq!(st.replicas, Some(4));
        assert_eq!(st.updated_replicas, Some(1));
        assert_eq!(st.unavailable_replicas, Some(0));
        let p = st
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "Progressing")
            .unwrap();
        assert_eq!(p.reason.as_deref(), Some("ReplicaSetUpdated"));
        assert!(requeue_after(
            &dep(3),
            &compute(&dep(3), Some(&rs("web-2", 1, 0)), &[], 0, None)
        )
        .is_some());
    }

    #[test]
    fn unavailable_when_below_minimum() {
        let st = compute(&dep(3), Some(&rs("web-1", 3, 1)), &[], 1, None);
        let a = st
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "Available")
            .unwrap();
        assert_eq!(a.status, "False");
        assert_eq!(a.reason.as_deref(), Some("MinimumReplicasUnavailable"));
    }
}
