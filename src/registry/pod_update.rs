//! What a plain pod update may change in the spec (upstream's `ValidatePodUpdate`): container
//! and init container images, `activeDeadlineSeconds` (set, or lowered), tolerations,
//! scheduling gates, and a negative `terminationGracePeriodSeconds` set to 1. Everything else —
//! resources included, which only `pods/resize` changes — is refused.

use ferrokube_apimachinery::validation::FieldError;
use serde_json::{Map, Value};

/// Upstream's `updatablePodSpecFields`, in its order.
const UPDATABLE: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,\
`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),\
`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// The errors of a plain update from `old` to `new`.
pub fn validate(new: &Value, old: &Value) -> Vec<FieldError> {
    let empty = Value::Object(Map::new());
    let new_spec = new.get("spec").unwrap_or(&empty);
    let old_spec = old.get("spec").unwrap_or(&empty);
    if new_spec == old_spec {
        return Vec::new();
    }
    for list in ["containers", "initContainers"] {
        let len = |s: &Value| s.get(list).and_then(Value::as_array).map_or(0, Vec::len);
        if len(new_spec) != len(old_spec) {
            return vec![FieldError::forbidden(
                &format!("spec.{list}"),
                "pod updates may not add or remove containers",
            )];
        }
    }
    let mut errs = active_deadline(new_spec, old_spec);
    let munged = munge(new_spec, old_spec);
    if semantic(&munged) != semantic(old_spec) {
        errs.push(FieldError::forbidden(
            "spec",
            &format!(
                "pod updates may not change fields other than {UPDATABLE}\n{}",
                diff(old_spec, &munged)
            ),
        ));
    }
    errs
}

/// A spec as upstream's `Semantic.DeepEqual` compares it: an absent field, `null` and an empty
/// list or map are the same. Clients that decode and re-encode a pod (client-go over protobuf)
/// send back `{}`/`[]` where the stored object has nothing, and the reverse.
fn semantic(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), semantic(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(semantic).collect()),
        other => other.clone(),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Upstream's two allowed `activeDeadlineSeconds` updates: nil to positive, or lower.
fn active_deadline(new: &Value, old: &Value) -> Vec<FieldError> {
    const FIELD: &str = "spec.activeDeadlineSeconds";
    let new_v = new.get("activeDeadlineSeconds").and_then(Value::as_i64);
    let old_v = old.get("activeDeadlineSeconds").and_then(Value::as_i64);
    match (new_v, old_v) {
        (Some(n), _) if !(0..=i64::from(i32::MAX)).contains(&n) => vec![FieldError::invalid(
            FIELD,
            n,
            &format!("must be between 0 and {}, inclusive", i32::MAX),
        )],
        (Some(n), Some(o)) if o < n => vec![FieldError::invalid(
            FIELD,
            n,
            "must be less than or equal to previous value",
        )],
        (None, Some(_)) => vec![FieldError::rendered(
            FIELD,
            ferrokube_apimachinery::validation::ErrorType::Invalid,
            Some("null"),
            "must not update from a positive integer to nil value",
        )],
        _ => Vec::new(),
    }
}

/// `new` with every updatable field put back to `old`'s value.
fn munge(new: &Value, old: &Value) -> Value {
    let mut out = new.clone();
    for list in ["containers", "initContainers"] {
        let olds = old.get(list).and_then(Value::as_array).cloned();
        if let (Some(items), Some(olds)) = (
            out.get_mut(list).and_then(Value::as_array_mut),
            olds.as_ref(),
        ) {
            for (c, o) in items.iter_mut().zip(olds) {
                copy(c, o, "image");
            }
        }
    }
    for field in [
        "activeDeadlineSeconds",
        "tolerations",
        "schedulingGates",
        "ephemeralContainers",
    ] {
        copy(&mut out, old, field);
    }
    let negative = old
        .get("terminationGracePeriodSeconds")
        .and_then(Value::as_i64)
        .is_some_and(|g| g < 0);
    if negative
        && out
            .get("terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
            == Some(1)
    {
        copy(&mut out, old, "terminationGracePeriodSeconds");
    }
    // A pod still gated may gain node selectors and affinity before it is scheduled.
    let gated = old
        .get("schedulingGates")
        .and_then(Value::as_array)
        .is_some_and(|g| !g.is_empty());
    if gated {
        copy(&mut out, old, "nodeSelector");
        copy(&mut out, old, "affinity");
    }
    out
}

fn copy(to: &mut Value, from: &Value, key: &str) {
    if let Some(map) = to.as_object_mut() {
        match from.get(key) {
            Some(v) => {
                map.insert(key.to_string(), v.clone());
            }
            None => {
                map.remove(key);
            }
        }
    }
}

/// A short account of what differs, one line per changed spec field (upstream prints a
/// `cmp.Diff` of the Go structs here; the field names are what a reader needs).
fn diff(old: &Value, new: &Value) -> String {
    let empty = Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = String::from("  core.PodSpec{\n");
    for k in keys {
        let (o, n) = (old.get(k), new.get(k));
        if o == n {
            continue;
        }
        if let Some(o) = o {
            out.push_str(&format!("- \t{k}: {o},\n"));
        }
        if let Some(n) = n {
            out.push_str(&format!("+ \t{k}: {n},\n"));
        }
    }
    out.push_str("  }\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(image: &str, cpu: &str) -> Value {
        json!({"spec": {"containers": [{"name": "c", "image": image,
            "resources": {"requests": {"cpu": cpu}}}], "activeDeadlineSeconds": 30}})
    }

    #[test]
    fn absent_and_empty_fields_are_the_same() {
        let mut stored = pod("busybox:1", "1");
        stored["spec"]["tolerations"] = json!([]);
        stored["spec"]["securityContext"] = json!({});
        let mut resent = pod("busybox:1", "1");
        resent["spec"]["activeDeadlineSeconds"] = json!(29);
        resent["spec"]["nodeSelector"] = json!(null);
        assert!(validate(&resent, &stored).is_empty());
    }

    #[test]
    fn images_and_lower_deadlines_only() {
        assert!(validate(&pod("busybox:2", "1"), &pod("busybox:1", "1")).is_empty());
        let errs = validate(&pod("busybox:1", "2"), &pod("busybox:1", "1"));
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec");
        assert!(errs[0].message.starts_with(
            "Forbidden: pod updates may not change fields other than `spec.containers[*].image`"
        ));
        assert!(errs[0].message.contains("containers"));
        let mut longer = pod("busybox:1", "1");
        longer["spec"]["activeDeadlineSeconds"] = json!(60);
        assert_eq!(
            validate(&longer, &pod("busybox:1", "1"))[0].message,
            "Invalid value: 60: must be less than or equal to previous value"
        );
        let mut more = pod("busybox:1", "1");
        if let Some(c) = more["spec"]["containers"].as_array_mut() {
            c.push(json!({"name": "d"}));
        }
        assert_eq!(
            validate(&more, &pod("busybox:1", "1"))[0].message,
            "Forbidden: pod updates may not add or remove containers"
        );
    }
}
