//! Disruption budgets at eviction (upstream `pkg/registry/core/pod/storage/eviction.go`).
//!
//! Upstream first updates the budget's status (decrementing `disruptionsAllowed`, recording
//! the pod in `disruptedPods`) and deletes the pod afterwards. Here both happen in ONE store
//! transaction guarded by the budget's mod revision: two parallel evictions cannot both take
//! the last allowed disruption, and a budget is never charged for a pod that was not deleted.

use ferrokube_apimachinery::labels::Selector;
use ferrokube_store::{Compare, RangeRequest};
use serde_json::{json, Map, Value};

use crate::registry::hooks::{OnFail, TxnExtras};
use crate::registry::meta::now_rfc3339;
use crate::registry::Registry;
use crate::status::{ApiError, ApiResult};

/// The `details.kind` marking the conflict a lost race for a budget answers, so the eviction
/// retries instead of passing it on.
const BUDGET_CONFLICT_KIND: &str = "poddisruptionbudgets";

/// Upstream's `MaxDisruptedPodSize`.
const MAX_DISRUPTED_PODS: usize = 2000;

/// What the eviction of `pod` must add to its delete transaction: nothing when no budget
/// covers it (or the pod may go without charging one), else the charged budget guarded by its
/// mod revision. Refuses with upstream's errors when a budget forbids the eviction.
pub async fn budget_charge(reg: &Registry, ns: &str, pod: &Value) -> ApiResult<TxnExtras> {
    let mut extras = TxnExtras::default();
    if can_ignore_budget(pod) {
        return Ok(extras);
    }
    let Some(d) = reg.lookup_kind("policy", "PodDisruptionBudget") else {
        return Ok(extras);
    };
    let page = reg
        .store
        .range(RangeRequest {
            prefix: d.namespace_prefix(Some(ns)),
            start: String::new(),
            limit: 0,
            revision: 0,
        })
        .await?;
    let labels = pod
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut matching = Vec::new();
    for kv in page.items {
        let pdb = crate::registry::rest::parse(&kv)?;
        if selects(&pdb, &labels) {
            matching.push((kv, pdb));
        }
    }
    let (kv, mut pdb) = match matching.len() {
        0 => return Ok(extras),
        1 => matching.remove(0),
        _ => {
            return Err(ApiError::internal(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ))
        }
    };
    if may_skip_charge(pod, &pdb) {
        return Ok(extras);
    }
    let pod_name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    check_and_decrement(&mut pdb, pod_name)?;
    let key = kv.key.clone();
    let name = pdb
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    extras.require(
        &key,
        Compare::ModRevision(kv.mod_revision),
        OnFail::Fail(budget_conflict(&name)),
    );
    if let Some(m) = pdb.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    extras.put_bytes(&key, d.storage_bytes(&pdb));
    Ok(extras)
}

/// Whether an eviction failed only because another write changed the budget meanwhile.
pub fn lost_budget_race(err: &ApiError) -> bool {
    err.code == 409
        && err
            .details
            .as_ref()
            .and_then(|d| d.get("kind"))
            .and_then(Value::as_str)
            == Some(BUDGET_CONFLICT_KIND)
}

fn budget_conflict(name: &str) -> ApiError {
    ApiError::conflict("policy", BUDGET_CONFLICT_KIND, name, ApiError::MODIFIED)
}

/// Upstream `canIgnorePDB`: terminal, pending or already-deleting pods never count as
/// healthy, so evicting them cannot break a budget.
fn can_ignore_budget(pod: &Value) -> bool {
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Pending");
    matches!(phase, "Succeeded" | "Failed" | "Pending")
        || pod.pointer("/metadata/deletionTimestamp").is_some()
}

/// Whether a budget's selector picks these labels (policy/v1: `{}` selects every pod of the
/// namespace, an absent selector none).
fn selects(pdb: &Value, labels: &Map<String, Value>) -> bool {
    match pdb.pointer("/spec/selector") {
        None | Some(Value::Null) => false,
        Some(sel) => Selector::from_label_selector(Some(sel))
            .map(|s| s.matches(labels))
            .unwrap_or(false),
    }
}

fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

fn status_int(pdb: &Value, field: &str) -> i64 {
    pdb.pointer(&format!("/status/{field}"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// An unready pod does not count towards the budget: it may go without charging it when the
/// budget allows (`unhealthyPodEvictionPolicy`: AlwaysAllow, or IfHealthyBudget while the
/// budget is met).
fn may_skip_charge(pod: &Value, pdb: &Value) -> bool {
    if is_ready(pod) {
        return false;
    }
    if pdb
        .pointer("/spec/unhealthyPodEvictionPolicy")
        .and_then(Value::as_str)
        == Some("AlwaysAllow")
    {
        return true;
    }
    let desired = status_int(pdb, "desiredHealthy");
    status_int(pdb, "currentHealthy") >= desired && desired > 0
}

/// Upstream `checkAndDecrement`: refuse, or take one allowed disruption and record the pod.
fn check_and_decrement(pdb: &mut Value, pod_name: &str) -> ApiResult<()> {
    let name = pdb
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let generation = pdb
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if status_int(pdb, "observedGeneration") < generation {
        return Err(too_many_requests(
            "Cannot evict pod as it would violate the pod's disruption budget.",
            format!("The disruption budget {name} is still being processed by the server."),
        ));
    }
    let allowed = status_int(pdb, "disruptionsAllowed");
    let forbidden = |why: &str| {
        ApiError::forbidden(format!(
            "poddisruptionbudgets.policy \"{name}\" is forbidden: {why}"
        ))
        .with_details(json!({"name": name, "group": "policy", "kind": "poddisruptionbudgets"}))
    };
    if allowed < 0 {
        return Err(forbidden("pdb disruptions allowed is negative"));
    }
    let disrupted = pdb
        .pointer("/status/disruptedPods")
        .and_then(Value::as_object)
        .map_or(0, Map::len);
    if disrupted >= MAX_DISRUPTED_PODS {
        return Err(forbidden(
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
        ));
    }
    if allowed == 0 {
        return Err(too_many_requests(
            "Cannot evict pod as it would violate the pod's disruption budget.",
            format!(
                "The disruption budget {name} needs {} healthy pods and has {} currently",
                status_int(pdb, "desiredHealthy"),
                status_int(pdb, "currentHealthy")
            ),
        ));
    }
    let status = &mut pdb["status"];
    status["disruptionsAllowed"] = json!(allowed - 1);
    if !status["disruptedPods"].is_object() {
        status["disruptedPods"] = json!({});
    }
    status["disruptedPods"][pod_name] = json!(now_rfc3339());
    if allowed == 1 {
        set_insufficient(status);
    }
    Ok(())
}

/// Upstream `UpdateDisruptionAllowedCondition` once no disruption is left.
fn set_insufficient(status: &mut Value) {
    if !status["conditions"].is_array() {
        status["conditions"] = json!([]);
    }
    let Some(list) = status["conditions"].as_array_mut() else {
        return;
    };
    let fresh = json!({"type": "DisruptionAllowed", "status": "False",
        "reason": "InsufficientPods", "message": "", "lastTransitionTime": now_rfc3339()});
    match list.iter_mut().find(|c| c["type"] == "DisruptionAllowed") {
        Some(c) if c["status"] == "False" => {}
        Some(c) => *c = fresh,
        None => list.push(fresh),
    }
}

/// Upstream `NewTooManyRequests(message, 0)` with a `DisruptionBudget` cause.
fn too_many_requests(message: &str, cause: String) -> ApiError {
    ApiError::new(429, "TooManyRequests", message).with_details(json!({
        "causes": [{"reason": "DisruptionBudget", "message": cause}]
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdb(allowed: i64) -> Value {
        json!({"metadata": {"name": "web", "generation": 1},
            "spec": {"selector": {"matchLabels": {"app": "web"}}},
            "status": {"observedGeneration": 1, "disruptionsAllowed": allowed,
                "desiredHealthy": 2, "currentHealthy": 2}})
    }

    #[test]
    fn an_exhausted_budget_answers_429_with_its_cause() {
        let err = check_and_decrement(&mut pdb(0), "p").unwrap_err();
        assert_eq!(err.code, 429);
        assert_eq!(
            err.message,
            "Cannot evict pod as it would violate the pod's disruption budget."
        );
        let cause = &err.details.unwrap()["causes"][0];
        assert_eq!(cause["reason"], "DisruptionBudget");
        assert_eq!(
            cause["message"],
            "The disruption budget web needs 2 healthy pods and has 2 currently"
        );
    }

    #[test]
    fn an_eviction_takes_one_disruption_and_records_the_pod() {
        let mut b = pdb(1);
        check_and_decrement(&mut b, "p").unwrap();
        assert_eq!(b["status"]["disruptionsAllowed"], 0);
        assert!(b["status"]["disruptedPods"]["p"].is_string());
        assert_eq!(b["status"]["conditions"][0]["status"], "False");
        let mut stale = pdb(1);
        stale["metadata"]["generation"] = json!(2);
        assert_eq!(check_and_decrement(&mut stale, "p").unwrap_err().code, 429);
    }

    #[test]
    fn selection_and_exemptions() {
        let labels = json!({"app": "web"}).as_object().cloned().unwrap();
        assert!(selects(&pdb(1), &labels));
        assert!(!selects(&json!({"spec": {}}), &labels));
        assert!(selects(&json!({"spec": {"selector": {}}}), &labels));
        assert!(can_ignore_budget(
            &json!({"status": {"phase": "Succeeded"}})
        ));
        assert!(!can_ignore_budget(&json!({"status": {"phase": "Running"}})));
        let unready = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}});
        assert!(may_skip_charge(&unready, &pdb(0)));
    }
}
