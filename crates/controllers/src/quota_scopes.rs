//! ResourceQuota scopes (upstream's `scopes` and `scopeSelector`): a quota with scopes tracks
//! only the pods its scopes select — `Terminating`/`NotTerminating` (whether
//! `activeDeadlineSeconds` is set), `BestEffort`/`NotBestEffort` (whether any container asks
//! for or limits compute), `PriorityClass` (by `priorityClassName`, with `In`, `NotIn`,
//! `Exists`, `DoesNotExist`) and `CrossNamespacePodAffinity`; other kinds are not tracked by a
//! scoped quota at all.

use serde_json::Value;

/// A quota's scope selectors as (scope name, operator, values).
fn selectors(quota: &Value) -> Vec<(String, String, Vec<String>)> {
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let mut out: Vec<_> = quota
        .pointer("/spec/scopes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|s| (text(s), "Exists".to_owned(), Vec::new()))
        .collect();
    let exprs = quota
        .pointer("/spec/scopeSelector/matchExpressions")
        .and_then(Value::as_array);
    for e in exprs.into_iter().flatten() {
        let values = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        out.push((text(&e["scopeName"]), text(&e["operator"]), values));
    }
    out
}

/// Whether `quota` tracks this object of `group`/`plural`.
pub fn quota_selects(quota: &Value, group: &str, plural: &str, obj: &Value) -> bool {
    let scopes = selectors(quota);
    if scopes.is_empty() {
        return true;
    }
    if !(group.is_empty() && plural == "pods") {
        return false;
    }
    scopes
        .iter()
        .all(|(scope, op, values)| scope_selects(scope, op, values, obj))
}

fn scope_selects(scope: &str, op: &str, values: &[String], pod: &Value) -> bool {
    let spec = &pod["spec"];
    let holds = match scope {
        "Terminating" => spec
            .get("activeDeadlineSeconds")
            .is_some_and(|v| !v.is_null()),
        "NotTerminating" => spec.get("activeDeadlineSeconds").is_none_or(Value::is_null),
        "BestEffort" => best_effort(spec),
        "NotBestEffort" => !best_effort(spec),
        "CrossNamespacePodAffinity" => cross_namespace_affinity(spec),
        "PriorityClass" => {
            let class = spec["priorityClassName"].as_str().unwrap_or("");
            return match op {
                "In" => values.iter().any(|v| v == class),
                "NotIn" => !values.iter().any(|v| v == class),
                "DoesNotExist" => class.is_empty(),
                _ => !class.is_empty(),
            };
        }
        _ => false,
    };
    match op {
        "DoesNotExist" => !holds,
        _ => holds,
    }
}

/// No container (init or regular) requests or limits cpu or memory.
fn best_effort(spec: &Value) -> bool {
    let containers = ["containers", "initContainers"]
        .iter()
        .flat_map(|k| spec[*k].as_array().cloned().unwrap_or_default());
    containers.into_iter().all(|c| {
        ["requests", "limits"].iter().all(|k| {
            let r = &c["resources"][*k];
            r.get("cpu").is_none() && r.get("memory").is_none()
        })
    })
}

fn cross_namespace_affinity(spec: &Value) -> bool {
    ["podAffinity", "podAntiAffinity"].iter().any(|kind| {
        let a = &spec["affinity"][*kind];
        let required = a["requiredDuringSchedulingIgnoredDuringExecution"]
            .as_array()
            .cloned();
        let preferred = a["preferredDuringSchedulingIgnoredDuringExecution"]
            .as_array()
            .cloned();
        let terms = required.unwrap_or_default().into_iter().chain(
            preferred
                .unwrap_or_default()
                .into_iter()
                .map(|p| p["podAffinityTerm"].clone()),
        );
        terms.into_iter().any(|t| {
            t.get("namespaces")
                .is_some_and(|n| n.as_array().is_some_and(|n| !n.is_empty()))
                || t.get("namespaceSelector").is_some()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: Value) -> Value {
        json!({"spec": spec})
    }

    #[test]
    fn scopes_select_pods_as_upstream() {
        let best = pod(json!({"containers": [{"name": "a"}]}));
        let burstable = pod(
            json!({"activeDeadlineSeconds": 30, "priorityClassName": "high",
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}]}),
        );
        let q = |spec: Value| json!({"spec": spec});
        let best_effort = q(json!({"scopes": ["BestEffort"]}));
        assert!(quota_selects(&best_effort, "", "pods", &best));
        assert!(!quota_selects(&best_effort, "", "pods", &burstable));
        assert!(!quota_selects(&best_effort, "", "configmaps", &json!({})));
        let terminating_high = q(
            json!({"scopes": ["Terminating"], "scopeSelector": {"matchExpressions": [
            {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}}),
        );
        assert!(quota_selects(&terminating_high, "", "pods", &burstable));
        assert!(!quota_selects(&terminating_high, "", "pods", &best));
        let unscoped = q(json!({"hard": {"pods": "1"}}));
        assert!(quota_selects(&unscoped, "", "configmaps", &json!({})));
    }
}
