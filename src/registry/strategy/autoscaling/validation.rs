//! `ValidateHorizontalPodAutoscaler` (upstream `pkg/apis/autoscaling/validation`), on the v2
//! shape, with upstream's field paths and messages.

use ferrokube_apimachinery::validation::{is_valid_path_segment_name, BadValue, FieldError};
use serde_json::Value;

const MAX_PERIOD_SECONDS: i64 = 1800;
const MAX_STABILIZATION_WINDOW_SECONDS: i64 = 3600;
const METRIC_TYPES: &[&str] = &[
    "Object",
    "Pods",
    "Resource",
    "External",
    "ContainerResource",
];
const POLICY_TYPES: &[&str] = &["Pods", "Percent"];
const SELECT_POLICIES: &[&str] = &["Max", "Min", "Disabled"];
const TARGET_TYPES: &[&str] = &["Utilization", "Value", "AverageValue"];

fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Every error of an HPA's spec (the v2 shape).
pub fn validate_v2(obj: &Value) -> Vec<FieldError> {
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    let mut errs = Vec::new();
    let min = int(&spec, "minReplicas");
    let max = int(&spec, "maxReplicas").unwrap_or(0);
    // HPAScaleToZero is alpha and off by default: the lower bound is 1.
    if let Some(min) = min.filter(|m| *m < 1) {
        errs.push(FieldError::invalid(
            "spec.minReplicas",
            min,
            "must be greater than or equal to 1",
        ));
    }
    if max < 1 {
        errs.push(FieldError::invalid(
            "spec.maxReplicas",
            max,
            "must be greater than 0",
        ));
    }
    if min.is_some_and(|m| max < m) {
        errs.push(FieldError::invalid(
            "spec.maxReplicas",
            max,
            "must be greater than or equal to `minReplicas`",
        ));
    }
    let target = spec.get("scaleTargetRef").cloned().unwrap_or(Value::Null);
    errs.extend(object_reference(&target, "spec.scaleTargetRef"));
    if let Some(metrics) = spec.get("metrics").and_then(Value::as_array) {
        for (i, m) in metrics.iter().enumerate() {
            errs.extend(metric_spec(m, &format!("spec.metrics[{i}]")));
        }
    }
    if let Some(behavior) = spec.get("behavior") {
        for rule in ["scaleUp", "scaleDown"] {
            if let Some(r) = behavior.get(rule).filter(|r| r.is_object()) {
                errs.extend(scaling_rules(r, &format!("spec.behavior.{rule}")));
            }
        }
    }
    errs
}

/// `ValidateCrossVersionObjectReference`: kind and name required, both path segments.
fn object_reference(r: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for key in ["kind", "name"] {
        let field = format!("{path}.{key}");
        match text(r, key) {
            "" => errs.push(FieldError::required(&field, "")),
            v => errs.extend(
                is_valid_path_segment_name(v)
                    .iter()
                    .map(|msg| FieldError::invalid(&field, v, msg)),
            ),
        }
    }
    errs
}

/// `validateMetricSpec`: a known type with exactly its own source populated.
fn metric_spec(m: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ty = text(m, "type");
    if ty.is_empty() {
        errs.push(FieldError::required(
            &format!("{path}.type"),
            "must specify a metric source type",
        ));
    } else if !METRIC_TYPES.contains(&ty) {
        errs.push(FieldError::not_supported(
            &format!("{path}.type"),
            ty,
            METRIC_TYPES,
        ));
    }
    let expected = source_field(ty);
    let present: Vec<&str> = [
        "object",
        "external",
        "pods",
        "resource",
        "containerResource",
    ]
    .into_iter()
    .filter(|k| m.get(*k).is_some_and(|v| !v.is_null()))
    .collect();
    if present.len() != 1 {
        for name in present.iter().filter(|n| Some(**n) != expected) {
            errs.push(FieldError::forbidden(
                &format!("{path}.{name}"),
                "must populate the given metric source only",
            ));
        }
    }
    let Some(field) = expected else {
        return errs;
    };
    let src_path = format!("{path}.{field}");
    match m.get(field).filter(|v| !v.is_null()) {
        None => errs.push(FieldError::required(
            &src_path,
            "must populate information for the given metric source",
        )),
        Some(src) => errs.extend(metric_source(ty, src, &src_path)),
    }
    errs
}

fn source_field(ty: &str) -> Option<&'static str> {
    Some(match ty {
        "Object" => "object",
        "Pods" => "pods",
        "Resource" => "resource",
        "External" => "external",
        "ContainerResource" => "containerResource",
        _ => return None,
    })
}

/// The checks of one populated metric source.
fn metric_source(ty: &str, src: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let target = src.get("target").cloned().unwrap_or(Value::Null);
    let target_path = format!("{path}.target");
    match ty {
        "Resource" | "ContainerResource" => {
            if text(src, "name").is_empty() {
                errs.push(FieldError::required(
                    &format!("{path}.name"),
                    "must specify a resource name",
                ));
            }
            if ty == "ContainerResource" && text(src, "container").is_empty() {
                errs.push(FieldError::required(
                    &format!("{path}.container"),
                    "must specify a container",
                ));
            }
            errs.extend(metric_target(&target, &target_path));
            let util = target
                .get("averageUtilization")
                .is_some_and(|v| !v.is_null());
            let avg = target.get("averageValue").is_some_and(|v| !v.is_null());
            if !util && !avg {
                errs.push(FieldError::required(
                    &format!("{target_path}.averageUtilization"),
                    "must set either a target raw value or a target utilization",
                ));
            }
            if util && avg {
                errs.push(FieldError::forbidden(
                    &format!("{target_path}.averageValue"),
                    "may not set both a target raw value and a target utilization",
                ));
            }
        }
        _ => {
            if text(src.get("metric").unwrap_or(&Value::Null), "name").is_empty() {
                errs.push(FieldError::required(
                    &format!("{path}.metric.name"),
                    "must specify a metric name",
                ));
            }
            if ty == "Object" {
                let r = src.get("describedObject").cloned().unwrap_or(Value::Null);
                errs.extend(object_reference(&r, &format!("{path}.describedObject")));
            }
            errs.extend(metric_target(&target, &target_path));
        }
    }
    errs
}

/// `validateMetricTarget`: a known type, positive values.
fn metric_target(t: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ty = text(t, "type");
    if ty.is_empty() {
        errs.push(FieldError::required(
            &format!("{path}.type"),
            "must specify a metric target type",
        ));
    }
    if !TARGET_TYPES.contains(&ty) {
        errs.push(FieldError::invalid(
            &format!("{path}.type"),
            ty,
            "must be either Utilization, Value, or AverageValue",
        ));
    }
    for key in ["value", "averageValue"] {
        if let Some(q) = t.get(key).filter(|v| !v.is_null()) {
            let raw = q
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| q.to_string());
            if !quantity_positive(&raw) {
                errs.push(FieldError::rendered(
                    &format!("{path}.{key}"),
                    ferrokube_apimachinery::validation::ErrorType::Invalid,
                    Some(&format!("\"{raw}\"")),
                    "must be positive",
                ));
            }
        }
    }
    if let Some(u) = int(t, "averageUtilization").filter(|u| *u < 1) {
        errs.push(FieldError::invalid(
            &format!("{path}.averageUtilization"),
            BadValue::Int(u),
            "must be greater than 0",
        ));
    }
    errs
}

/// Whether a quantity is above zero (a malformed one is not).
fn quantity_positive(q: &str) -> bool {
    ferrokube_controllers::quota_usage::milli(q).is_some_and(|m| m > 0)
}

/// `validateScalingRules`: window bounds, a select policy we know, at least one valid policy.
fn scaling_rules(r: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(w) = int(r, "stabilizationWindowSeconds") {
        let field = format!("{path}.stabilizationWindowSeconds");
        if w < 0 {
            errs.push(FieldError::invalid(
                &field,
                w,
                "must be greater than or equal to zero",
            ));
        }
        if w > MAX_STABILIZATION_WINDOW_SECONDS {
            errs.push(FieldError::invalid(
                &field,
                w,
                &format!("must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}"),
            ));
        }
    }
    if let Some(sp) = r.get("selectPolicy").and_then(Value::as_str) {
        if !SELECT_POLICIES.contains(&sp) {
            errs.push(FieldError::not_supported(
                &format!("{path}.selectPolicy"),
                sp,
                SELECT_POLICIES,
            ));
        }
    }
    let policies = r
        .get("policies")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if policies.is_empty() {
        errs.push(FieldError::required(
            &format!("{path}.policies"),
            "must specify at least one Policy",
        ));
    }
    for (i, p) in policies.iter().enumerate() {
        errs.extend(scaling_policy(p, &format!("{path}.policies[{i}]")));
    }
    errs
}

/// `validateScalingPolicy`.
fn scaling_policy(p: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ty = text(p, "type");
    if !POLICY_TYPES.contains(&ty) {
        errs.push(FieldError::not_supported(
            &format!("{path}.type"),
            ty,
            POLICY_TYPES,
        ));
    }
    let value = int(p, "value").unwrap_or(0);
    if value <= 0 {
        errs.push(FieldError::invalid(
            &format!("{path}.value"),
            value,
            "must be greater than zero",
        ));
    }
    let period = int(p, "periodSeconds").unwrap_or(0);
    let field = format!("{path}.periodSeconds");
    if period <= 0 {
        errs.push(FieldError::invalid(
            &field,
            period,
            "must be greater than zero",
        ));
    }
    if period > MAX_PERIOD_SECONDS {
        errs.push(FieldError::invalid(
            &field,
            period,
            &format!("must be less than or equal to {MAX_PERIOD_SECONDS}"),
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(spec: Value) -> Vec<String> {
        validate_v2(&json!({"spec": spec}))
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect()
    }

    fn target() -> Value {
        json!({"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"})
    }

    #[test]
    fn replica_bounds_use_upstream_messages() {
        let errs =
            messages(json!({"scaleTargetRef": target(), "minReplicas": 0, "maxReplicas": 5}));
        assert_eq!(
            errs,
            ["spec.minReplicas: Invalid value: 0: must be greater than or equal to 1"]
        );
        let errs =
            messages(json!({"scaleTargetRef": target(), "minReplicas": 3, "maxReplicas": 2}));
        assert_eq!(
            errs,
            ["spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"]
        );
    }

    #[test]
    fn scale_target_needs_kind_and_name() {
        let errs = messages(json!({"scaleTargetRef": {}, "maxReplicas": 2}));
        assert_eq!(
            errs,
            [
                "spec.scaleTargetRef.kind: Required value",
                "spec.scaleTargetRef.name: Required value"
            ]
        );
    }

    #[test]
    fn resource_metric_needs_one_target() {
        let spec = json!({"scaleTargetRef": target(), "maxReplicas": 2, "metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization"}}}]});
        assert_eq!(
            messages(spec),
            ["spec.metrics[0].resource.target.averageUtilization: Required value: must set either a target raw value or a target utilization"]
        );
        let spec = json!({"scaleTargetRef": target(), "maxReplicas": 2, "metrics": [
            {"type": "Pods", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 5}}}]});
        // One source present (the wrong one): only the missing one is reported, as upstream.
        assert_eq!(
            messages(spec),
            ["spec.metrics[0].pods: Required value: must populate information for the given metric source"]
        );
    }

    #[test]
    fn behavior_policies_are_checked() {
        let spec = json!({"scaleTargetRef": target(), "maxReplicas": 2, "behavior": {"scaleUp": {
            "stabilizationWindowSeconds": 4000, "policies": [{"type": "Pods", "value": 0, "periodSeconds": 1801}]}}});
        assert_eq!(
            messages(spec),
            [
                "spec.behavior.scaleUp.stabilizationWindowSeconds: Invalid value: 4000: must be less than or equal to 3600",
                "spec.behavior.scaleUp.policies[0].value: Invalid value: 0: must be greater than zero",
                "spec.behavior.scaleUp.policies[0].periodSeconds: Invalid value: 1801: must be less than or equal to 1800"
            ]
        );
    }
}
