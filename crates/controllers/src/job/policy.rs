//! The Job's rules for failed pods (`podFailurePolicy`) and for early success
//! (`successPolicy`), as upstream's `pod_failure_policy.go` and `success_policy.go` read them.

use std::collections::BTreeSet;

use k8s_openapi::api::batch::v1::{
    PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyRule, SuccessPolicy,
};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use super::indexes;

/// What a matching `podFailurePolicy` rule says to do with a failed pod.
#[derive(Clone, Debug, PartialEq)]
pub enum FailureAction {
    /// Fail the whole Job at once; the message is upstream's.
    FailJob(String),
    /// Fail only this pod's index (backoffLimitPerIndex).
    FailIndex,
    /// Do not count this failure against any limit.
    Ignore,
    /// Count it as usual (also what happens when no rule matches).
    Count,
}

/// Applies the first matching rule of `policy` to a failed pod.
pub fn on_failed_pod(policy: Option<&PodFailurePolicy>, pod: &Pod) -> FailureAction {
    let Some(policy) = policy else {
        return FailureAction::Count;
    };
    for (index, rule) in policy.rules.iter().enumerate() {
        if let Some(what) = rule_matches(rule, pod) {
            return match rule.action.as_str() {
                "FailJob" => {
                    FailureAction::FailJob(format!("{what} matching FailJob rule at index {index}"))
                }
                "FailIndex" => FailureAction::FailIndex,
                "Ignore" => FailureAction::Ignore,
                _ => FailureAction::Count,
            };
        }
    }
    FailureAction::Count
}

/// Upstream's description of what matched, when the rule matches the pod.
fn rule_matches(rule: &PodFailurePolicyRule, pod: &Pod) -> Option<String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    if let Some(req) = &rule.on_exit_codes {
        let status = pod.status.as_ref()?;
        let all = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten());
        for cs in all {
            if let Some(code) = exit_code_matching(req, cs) {
                return Some(format!(
                    "Container {} for pod {ns}/{name} failed with exit code {code}",
                    cs.name
                ));
            }
        }
        return None;
    }
    for pattern in rule.on_pod_conditions.iter().flatten() {
        // An omitted status matches "True", as upstream defaults it.
        let wanted = pattern.status.as_deref().unwrap_or("True");
        let has = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == pattern.type_ && c.status == wanted);
        if has {
            return Some(format!("Pod {ns}/{name} has condition {}", pattern.type_));
        }
    }
    None
}

/// The non-zero exit code of a terminated container that the requirement matches.
fn exit_code_matching(
    req: &PodFailurePolicyOnExitCodesRequirement,
    cs: &ContainerStatus,
) -> Option<i32> {
    if req.container_name.as_ref().is_some_and(|n| *n != cs.name) {
        return None;
    }
    let code = cs.state.as_ref()?.terminated.as_ref()?.exit_code;
    if code == 0 {
        return None;
    }
    let listed = req.values.contains(&code);
    match req.operator.as_str() {
        "In" if listed => Some(code),
        "NotIn" if !listed => Some(code),
        _ => None,
    }
}

/// The index of the first `successPolicy` rule the succeeded indexes satisfy.
pub fn success_rule_met(
    policy: Option<&SuccessPolicy>,
    succeeded: &BTreeSet<i32>,
    completions: i32,
) -> Option<usize> {
    policy?.rules.iter().position(
        |rule| match (&rule.succeeded_indexes, rule.succeeded_count) {
            (Some(list), count) => {
                let wanted = indexes::parse(Some(list), completions);
                let have = wanted.intersection(succeeded).count();
                match count {
                    Some(n) => have >= n.max(0) as usize,
                    None => !wanted.is_empty() && have == wanted.len(),
                }
            }
            (None, Some(n)) => succeeded.len() >= n.max(0) as usize,
            (None, None) => false,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn failed_pod(exit: i32, conditions: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "status": {"phase": "Failed", "conditions": conditions, "containerStatuses": [{
                "name": "main", "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": exit}}}]}
        }))
        .unwrap()
    }

    fn policy(rules: serde_json::Value) -> PodFailurePolicy {
        serde_json::from_value(json!({ "rules": rules })).unwrap()
    }

    #[test]
    fn exit_code_rules_in_order() {
        let p = policy(json!([
            {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [1]}},
            {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}},
            {"action": "FailIndex", "onExitCodes": {"operator": "NotIn", "values": [42, 1]}}
        ]));
        assert_eq!(
            on_failed_pod(Some(&p), &failed_pod(1, json!([]))),
            FailureAction::Ignore
        );
        assert_eq!(
            on_failed_pod(Some(&p), &failed_pod(42, json!([]))),
            FailureAction::FailJob(
                "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 1".into()
            )
        );
        assert_eq!(
            on_failed_pod(Some(&p), &failed_pod(7, json!([]))),
            FailureAction::FailIndex
        );
        assert_eq!(
            on_failed_pod(None, &failed_pod(7, json!([]))),
            FailureAction::Count
        );
    }

    #[test]
    fn condition_rules() {
        let p = policy(
            json!([{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]),
        );
        let disrupted = failed_pod(137, json!([{"type": "DisruptionTarget", "status": "True"}]));
        assert_eq!(on_failed_pod(Some(&p), &disrupted), FailureAction::Ignore);
        assert_eq!(
            on_failed_pod(Some(&p), &failed_pod(137, json!([]))),
            FailureAction::Count
        );
    }

    #[test]
    fn success_rules() {
        let sp: SuccessPolicy = serde_json::from_value(json!({"rules": [
            {"succeededIndexes": "0-2"},
            {"succeededIndexes": "3-5", "succeededCount": 1},
            {"succeededCount": 6}
        ]}))
        .unwrap();
        let s = |v: &[i32]| v.iter().copied().collect::<BTreeSet<i32>>();
        assert_eq!(success_rule_met(Some(&sp), &s(&[0, 1]), 10), None);
        assert_eq!(success_rule_met(Some(&sp), &s(&[0, 1, 2]), 10), Some(0));
        assert_eq!(success_rule_met(Some(&sp), &s(&[4]), 10), Some(1));
        assert_eq!(success_rule_met(None, &s(&[4]), 10), None);
    }
}
