//! `SetDefaults_HorizontalPodAutoscaler` of autoscaling/v2: minReplicas 1, 80% CPU when no
//! metric is named, and a behavior's unset rules filled from upstream's default rules.

use serde_json::{json, Value};

use super::super::set_default;

/// Upstream's `DefaultCPUUtilization`.
pub const DEFAULT_CPU_UTILIZATION: i64 = 80;

/// Applies the v2 defaults to an HPA object.
pub fn default_v2(obj: &mut Value) {
    set_default(obj, &["spec", "minReplicas"], json!(1));
    let no_metrics = obj
        .pointer("/spec/metrics")
        .and_then(Value::as_array)
        .is_none_or(|m| m.is_empty());
    if no_metrics {
        if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert(
                "metrics".into(),
                json!([cpu_utilization(DEFAULT_CPU_UTILIZATION)]),
            );
        }
    }
    if let Some(behavior) = obj.pointer_mut("/spec/behavior").filter(|b| b.is_object()) {
        fill_rules(behavior, "scaleUp", scale_up_rules());
        fill_rules(behavior, "scaleDown", scale_down_rules());
    }
}

/// A Resource metric on CPU utilization.
pub fn cpu_utilization(percent: i64) -> Value {
    json!({"type": "Resource", "resource": {"name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": percent}}})
}

/// `GenerateHPAScaleUpRules`' defaults: no window, the larger of 4 pods or 100% per 15 s.
pub fn scale_up_rules() -> Value {
    json!({"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15}]})
}

/// `GenerateHPAScaleDownRules`' defaults: the window is left to the controller (300 s),
/// 100% per 15 s.
pub fn scale_down_rules() -> Value {
    json!({"selectPolicy": "Max", "policies": [
        {"type": "Percent", "value": 100, "periodSeconds": 15}]})
}

/// `copyHPAScalingRules`: the given rule's set fields over the defaults.
fn fill_rules(behavior: &mut Value, key: &str, mut defaults: Value) {
    if let Some(given) = behavior.get(key).and_then(Value::as_object) {
        for (k, v) in given {
            if !v.is_null() {
                defaults[k] = v.clone();
            }
        }
    }
    behavior[key] = defaults;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_spec_gets_min_one_and_eighty_percent_cpu() {
        let mut hpa = json!({"spec": {"maxReplicas": 3}});
        default_v2(&mut hpa);
        assert_eq!(hpa["spec"]["minReplicas"], 1);
        assert_eq!(hpa["spec"]["metrics"][0], cpu_utilization(80));
    }

    #[test]
    fn behavior_rules_keep_what_was_given() {
        let mut hpa = json!({"spec": {"maxReplicas": 3, "metrics": [cpu_utilization(50)],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}});
        default_v2(&mut hpa);
        let b = &hpa["spec"]["behavior"];
        assert_eq!(b["scaleUp"], scale_up_rules());
        assert_eq!(b["scaleDown"]["stabilizationWindowSeconds"], 60);
        assert_eq!(b["scaleDown"]["policies"][0]["type"], "Percent");
        assert_eq!(hpa["spec"]["metrics"][0], cpu_utilization(50));
    }
}
