//! autoscaling/v1 <-> autoscaling/v2 (upstream `pkg/apis/autoscaling/v1/conversion.go`): v1
//! carries only a CPU utilization target; every other metric, the behavior, the conditions and
//! the current metrics ride in `autoscaling.alpha.kubernetes.io/*` annotations, in the v1
//! (v2beta1-shaped) metric format, so a v1 round trip loses nothing.

use serde_json::{json, Map, Value};

/// Annotation with the metrics v1 has no field for.
pub const METRIC_SPECS: &str = "autoscaling.alpha.kubernetes.io/metrics";
/// Annotation with the status' current metrics.
pub const METRIC_STATUSES: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
/// Annotation with the status conditions.
pub const CONDITIONS: &str = "autoscaling.alpha.kubernetes.io/conditions";
/// Annotation with the v2 behavior.
pub const BEHAVIOR: &str = "autoscaling.alpha.kubernetes.io/behavior";

fn copy(to: &mut Map<String, Value>, from: &Value, keys: &[&str]) {
    for k in keys {
        if let Some(v) = from.get(*k).filter(|v| !v.is_null()) {
            to.insert((*k).to_string(), v.clone());
        }
    }
}

fn is_cpu_utilization(m: &Value) -> bool {
    m["type"] == "Resource"
        && m["resource"]["name"] == "cpu"
        && m["resource"]["target"]["averageUtilization"].is_i64()
}

/// A stored (v2) object as autoscaling/v1 serves it.
pub fn v2_to_v1(v2: &Value) -> Value {
    let mut out = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler"});
    let mut meta = v2.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let mut notes: Map<String, Value> = Map::new();
    let spec = &v2["spec"];
    let mut v1_spec = Map::new();
    copy(
        &mut v1_spec,
        spec,
        &["scaleTargetRef", "minReplicas", "maxReplicas"],
    );
    let metrics = spec["metrics"].as_array().cloned().unwrap_or_default();
    let mut others = Vec::new();
    for m in &metrics {
        if is_cpu_utilization(m) {
            v1_spec.insert(
                "targetCPUUtilizationPercentage".into(),
                m["resource"]["target"]["averageUtilization"].clone(),
            );
        } else {
            others.push(spec_to_v1(m));
        }
    }
    if !others.is_empty() {
        notes.insert(
            METRIC_SPECS.into(),
            Value::String(Value::Array(others).to_string()),
        );
    }
    if let Some(b) = spec.get("behavior").filter(|b| !b.is_null()) {
        notes.insert(BEHAVIOR.into(), Value::String(b.to_string()));
    }
    let status = &v2["status"];
    let mut v1_status = Map::new();
    copy(
        &mut v1_status,
        status,
        &[
            "observedGeneration",
            "lastScaleTime",
            "currentReplicas",
            "desiredReplicas",
        ],
    );
    let current = status["currentMetrics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for m in &current {
        if m["type"] == "Resource" && m["resource"]["name"] == "cpu" {
            if let Some(u) = m["resource"]["current"].get("averageUtilization") {
                v1_status.insert("currentCPUUtilizationPercentage".into(), u.clone());
            }
        }
    }
    if !current.is_empty() {
        let v1: Vec<Value> = current.iter().map(status_to_v1).collect();
        notes.insert(
            METRIC_STATUSES.into(),
            Value::String(Value::Array(v1).to_string()),
        );
    }
    if let Some(c) = status["conditions"].as_array().filter(|c| !c.is_empty()) {
        notes.insert(
            CONDITIONS.into(),
            Value::String(Value::Array(c.clone()).to_string()),
        );
    }
    if !notes.is_empty() {
        let annotations = &mut meta["annotations"];
        if !annotations.is_object() {
            *annotations = json!({});
        }
        annotations
            .as_object_mut()
            .into_iter()
            .for_each(|a| a.extend(notes.clone()));
    }
    v1_status.entry("currentReplicas").or_insert(json!(0));
    v1_status.entry("desiredReplicas").or_insert(json!(0));
    out["metadata"] = meta;
    out["spec"] = Value::Object(v1_spec);
    if !status.is_null() {
        out["status"] = Value::Object(v1_status);
    }
    out
}

/// An autoscaling/v1 object in the v2 storage shape (annotations folded back into fields).
pub fn v1_to_v2(v1: &Value) -> Value {
    let mut meta = v1.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let mut take = |key: &str| -> Option<Value> {
        let annotations = meta.get_mut("annotations")?.as_object_mut()?;
        let raw = annotations.remove(key)?;
        serde_json::from_str(raw.as_str()?).ok()
    };
    let other_metrics = take(METRIC_SPECS);
    let behavior = take(BEHAVIOR);
    let current = take(METRIC_STATUSES);
    let conditions = take(CONDITIONS);
    if meta["annotations"].as_object().is_some_and(Map::is_empty) {
        meta.as_object_mut().map(|m| m.remove("annotations"));
    }
    let spec = &v1["spec"];
    let mut v2_spec = Map::new();
    copy(
        &mut v2_spec,
        spec,
        &["scaleTargetRef", "minReplicas", "maxReplicas"],
    );
    // Upstream puts the annotation's metrics first, then the CPU target.
    let mut metrics: Vec<Value> = other_metrics
        .and_then(|m| m.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(spec_from_v1)
        .collect();
    if let Some(cpu) = spec
        .get("targetCPUUtilizationPercentage")
        .and_then(Value::as_i64)
    {
        metrics.push(super::defaults::cpu_utilization(cpu));
    }
    if !metrics.is_empty() {
        v2_spec.insert("metrics".into(), Value::Array(metrics));
    }
    if let Some(b) = behavior {
        v2_spec.insert("behavior".into(), b);
    }
    let mut out = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": meta, "spec": Value::Object(v2_spec)});
    if let Some(status) = v1.get("status").filter(|s| s.is_object()) {
        out["status"] = status_from_v1(status, current, conditions);
    }
    out
}

fn status_from_v1(status: &Value, current: Option<Value>, conditions: Option<Value>) -> Value {
    let mut s = Map::new();
    copy(
        &mut s,
        status,
        &[
            "observedGeneration",
            "lastScaleTime",
            "currentReplicas",
            "desiredReplicas",
        ],
    );
    let metrics: Vec<Value> = match current.and_then(|c| c.as_array().cloned()) {
        Some(list) => list.iter().map(status_from_v1_metric).collect(),
        None => status
            .get("currentCPUUtilizationPercentage")
            .and_then(Value::as_i64)
            .map(|u| {
                vec![json!({"type": "Resource", "resource": {"name": "cpu",
                    "current": {"averageUtilization": u}}})]
            })
            .unwrap_or_default(),
    };
    if !metrics.is_empty() {
        s.insert("currentMetrics".into(), Value::Array(metrics));
    }
    if let Some(c) = conditions {
        s.insert("conditions".into(), c);
    }
    Value::Object(s)
}

/// A v2 target as the v1 `target*` fields (`prefix` is `target` or `current`).
fn target_to_v1(t: &Value, prefix: &str, out: &mut Map<String, Value>) {
    let cap = |s: &str| format!("{prefix}{s}");
    if let Some(v) = t.get("averageUtilization") {
        out.insert(cap("AverageUtilization"), v.clone());
    }
    if let Some(v) = t.get("averageValue") {
        out.insert(cap("AverageValue"), v.clone());
    }
    if let Some(v) = t.get("value") {
        out.insert(cap("Value"), v.clone());
    }
}

/// The v1 `target*` (or `current*`) fields as a v2 target/current.
fn target_from_v1(src: &Value, prefix: &str, with_type: bool) -> Value {
    let mut t = Map::new();
    let pick = |s: &str| src.get(format!("{prefix}{s}")).cloned();
    if let Some(v) = pick("AverageUtilization") {
        t.insert("averageUtilization".into(), v);
        if with_type {
            t.insert("type".into(), json!("Utilization"));
        }
    }
    if let Some(v) = pick("AverageValue") {
        t.insert("averageValue".into(), v);
        if with_type {
            t.entry("type").or_insert(json!("AverageValue"));
        }
    }
    if let Some(v) = pick("Value") {
        t.insert("value".into(), v);
        if with_type {
            t.entry("type").or_insert(json!("Value"));
        }
    }
    Value::Object(t)
}

/// The v1 key of a source and whether it names a metric (vs a resource).
fn source_key(ty: &str) -> &'static str {
    match ty {
        "Object" => "object",
        "Pods" => "pods",
        "External" => "external",
        "ContainerResource" => "containerResource",
        _ => "resource",
    }
}

fn spec_to_v1(m: &Value) -> Value {
    metric_to_v1(m, "target")
}

fn status_to_v1(m: &Value) -> Value {
    metric_to_v1(m, "current")
}

/// One v2 MetricSpec (`which` = target) or MetricStatus (`which` = current) in v1's shape.
fn metric_to_v1(m: &Value, which: &str) -> Value {
    let ty = m["type"].as_str().unwrap_or("");
    let key = source_key(ty);
    let src = &m[key];
    let mut out = Map::new();
    copy(&mut out, src, &["name", "container"]);
    if let Some(metric) = src.get("metric") {
        if let Some(n) = metric.get("name") {
            out.insert("metricName".into(), n.clone());
        }
        let sel_key = if ty == "External" {
            "metricSelector"
        } else {
            "selector"
        };
        if let Some(s) = metric.get("selector") {
            out.insert(sel_key.into(), s.clone());
        }
    }
    if let Some(d) = src.get("describedObject") {
        out.insert("target".into(), d.clone());
    }
    target_to_v1(&src[which], which, &mut out);
    json!({"type": ty, key: Value::Object(out)})
}

fn spec_from_v1(m: &Value) -> Value {
    metric_from_v1(m, "target")
}

fn status_from_v1_metric(m: &Value) -> Value {
    metric_from_v1(m, "current")
}

/// One v1 metric back in v2's shape.
fn metric_from_v1(m: &Value, which: &str) -> Value {
    let ty = m["type"].as_str().unwrap_or("");
    let key = source_key(ty);
    let src = &m[key];
    let mut out = Map::new();
    copy(&mut out, src, &["name", "container"]);
    if let Some(n) = src.get("metricName") {
        let sel = src.get("selector").or_else(|| src.get("metricSelector"));
        let mut metric = json!({"name": n});
        if let Some(s) = sel {
            metric["selector"] = s.clone();
        }
        out.insert("metric".into(), metric);
    }
    if let Some(t) = src.get("target") {
        out.insert("describedObject".into(), t.clone());
    }
    out.insert(which.into(), target_from_v1(src, which, which == "target"));
    json!({"type": ty, key: Value::Object(out)})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2() -> Value {
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
                "minReplicas": 2, "maxReplicas": 5,
                "metrics": [
                    super::super::defaults::cpu_utilization(50),
                    {"type": "Resource", "resource": {"name": "memory",
                        "target": {"type": "AverageValue", "averageValue": "100Mi"}}}],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}},
            "status": {"currentReplicas": 2, "desiredReplicas": 3,
                "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu",
                    "current": {"averageUtilization": 70, "averageValue": "70m"}}}],
                "conditions": [{"type": "AbleToScale", "status": "True"}]}})
    }

    #[test]
    fn v1_shows_the_cpu_target_and_annotates_the_rest() {
        let v1 = v2_to_v1(&v2());
        assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 50);
        assert_eq!(v1["status"]["currentCPUUtilizationPercentage"], 70);
        let others: Value = serde_json::from_str(
            v1["metadata"]["annotations"][METRIC_SPECS]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            others,
            json!([{"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "100Mi"}}])
        );
    }

    #[test]
    fn v1_round_trip_keeps_every_field() {
        let back = v1_to_v2(&v2_to_v1(&v2()));
        let mut expected = v2();
        // v1 order: annotated metrics first, then the CPU target.
        let metrics = expected["spec"]["metrics"].as_array_mut().unwrap();
        metrics.reverse();
        assert_eq!(back, expected);
    }

    #[test]
    fn plain_v1_has_only_the_cpu_metric() {
        let v1 = json!({"apiVersion": "autoscaling/v1", "metadata": {"name": "a"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3,
                "targetCPUUtilizationPercentage": 60}});
        let v2 = v1_to_v2(&v1);
        assert_eq!(
            v2["spec"]["metrics"],
            json!([super::super::defaults::cpu_utilization(60)])
        );
        assert!(v2["metadata"].get("annotations").is_none());
    }
}
