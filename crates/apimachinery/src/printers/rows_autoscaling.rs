//! `printHorizontalPodAutoscaler` and `formatHPAMetrics`: the TARGETS column shows each metric as
//! `current/target` (`cpu: <unknown>/50%`), at most two, then `+ N more...`.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{age, name, str_at, Row};

/// How many metrics TARGETS lists before `+ N more...`.
const MAX_SHOWN: usize = 2;

/// The spec metrics and status metrics of either served version (v1 has only the CPU target).
fn metrics(hpa: &Value) -> (Vec<Value>, Vec<Value>) {
    let spec = &hpa["spec"];
    if let Some(m) = spec.get("metrics").and_then(Value::as_array) {
        let statuses = hpa["status"]["currentMetrics"].as_array().cloned();
        return (m.clone(), statuses.unwrap_or_default());
    }
    let Some(cpu) = spec.get("targetCPUUtilizationPercentage") else {
        return (Vec::new(), Vec::new());
    };
    let spec = json!({"type": "Resource", "resource": {"name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": cpu}}});
    let status = hpa["status"]
        .get("currentCPUUtilizationPercentage")
        .map(|u| json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": u}}}));
    (vec![spec], status.into_iter().collect())
}

fn quantity(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<unknown>".into(),
        other => other.to_string(),
    }
}

/// One metric's `current/target` text (upstream's cases per source type).
fn format_metric(spec: &Value, status: Option<&Value>) -> String {
    let ty = spec["type"].as_str().unwrap_or("");
    let key = match ty {
        "External" => "external",
        "Pods" => "pods",
        "Object" => "object",
        "Resource" => "resource",
        "ContainerResource" => "containerResource",
        _ => return "<unknown type>".into(),
    };
    let src = &spec[key];
    let target = &src["target"];
    let current = status.map(|s| &s[key]["current"]).filter(|c| c.is_object());
    let cur = |field: &str| {
        current
            .and_then(|c| c.get(field))
            .map(quantity)
            .unwrap_or_else(|| "<unknown>".into())
    };
    match ty {
        "Resource" | "ContainerResource" => {
            let resource = src["name"].as_str().unwrap_or("");
            if let Some(avg) = target.get("averageValue") {
                format!("{resource}: {}/{}", cur("averageValue"), quantity(avg))
            } else {
                let current = current
                    .and_then(|c| c.get("averageUtilization"))
                    .map(|u| format!("{u}%"))
                    .unwrap_or_else(|| "<unknown>".into());
                let target = target
                    .get("averageUtilization")
                    .map(|u| format!("{u}%"))
                    .unwrap_or_else(|| "<auto>".into());
                format!("{resource}: {current}/{target}")
            }
        }
        "Pods" => format!(
            "{}/{}",
            cur("averageValue"),
            quantity(&target["averageValue"])
        ),
        _ => match target.get("averageValue") {
            Some(avg) => format!("{}/{} (avg)", cur("averageValue"), quantity(avg)),
            None => format!("{}/{}", cur("value"), quantity(&target["value"])),
        },
    }
}

/// `formatHPAMetrics`.
pub(crate) fn format_hpa_metrics(specs: &[Value], statuses: &[Value]) -> String {
    if specs.is_empty() {
        return "<none>".into();
    }
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| format_metric(s, statuses.get(i)))
        .collect();
    let shown = list[..list.len().min(MAX_SHOWN)].join(", ");
    if list.len() > MAX_SHOWN {
        format!("{shown} + {} more...", list.len() - MAX_SHOWN)
    } else {
        shown
    }
}

/// `printHorizontalPodAutoscaler`.
pub(crate) fn hpa_row(hpa: &Value, now: DateTime<Utc>) -> Row {
    let reference = format!(
        "{}/{}",
        str_at(hpa, "/spec/scaleTargetRef/kind"),
        str_at(hpa, "/spec/scaleTargetRef/name")
    );
    let (specs, statuses) = metrics(hpa);
    let min = hpa
        .pointer("/spec/minReplicas")
        .and_then(Value::as_i64)
        .map(|m| m.to_string())
        .unwrap_or_else(|| "<unset>".into());
    Row::new(vec![
        name(hpa),
        json!(reference),
        json!(format_hpa_metrics(&specs, &statuses)),
        json!(min),
        json!(hpa
            .pointer("/spec/maxReplicas")
            .and_then(Value::as_i64)
            .unwrap_or(0)),
        json!(hpa
            .pointer("/status/currentReplicas")
            .and_then(Value::as_i64)
            .unwrap_or(0)),
        age(hpa, now),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_show_unknown_until_measured_and_cap_at_two() {
        let cpu = json!({"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 50}}});
        assert_eq!(
            format_hpa_metrics(std::slice::from_ref(&cpu), &[]),
            "cpu: <unknown>/50%"
        );
        let status = json!({"type": "Resource", "resource": {"name": "cpu",
            "current": {"averageUtilization": 12, "averageValue": "6m"}}});
        assert_eq!(
            format_hpa_metrics(std::slice::from_ref(&cpu), &[status]),
            "cpu: 12%/50%"
        );
        let mem = json!({"type": "Resource", "resource": {"name": "memory",
            "target": {"type": "AverageValue", "averageValue": "100Mi"}}});
        assert_eq!(
            format_hpa_metrics(&[cpu.clone(), mem, cpu], &[]),
            "cpu: <unknown>/50%, memory: <unknown>/100Mi + 1 more..."
        );
        assert_eq!(format_hpa_metrics(&[], &[]), "<none>");
    }
}
