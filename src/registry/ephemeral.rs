//! Ephemeral containers' rules (upstream `validateEphemeralContainers` and
//! `ValidatePodEphemeralContainersUpdate`): they are only ever added, through the
//! `pods/ephemeralcontainers` subresource — never set on create, never changed or removed —
//! and, being run once for debugging, carry no ports, probes, lifecycle hooks, resources or
//! restart policy. Their names are unique among all the pod's containers, and a target names
//! one of its (init) containers.

use ferrokube_apimachinery::validation::{is_dns1123_label, ErrorType, FieldError};
use serde_json::Value;

const FIELD: &str = "spec.ephemeralContainers";

/// Fields an ephemeral container may not set.
const FORBIDDEN_FIELDS: &[&str] = &[
    "ports",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "resizePolicy",
    "restartPolicy",
];

fn list(pod: &Value, key: &str) -> Vec<Value> {
    pod.pointer(&format!("/spec/{key}"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn name_of(c: &Value) -> &str {
    c.get("name").and_then(Value::as_str).unwrap_or("")
}

/// The ephemeral-container errors of a pod write (`old` None: a create).
pub fn validate(new: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let added = list(new, "ephemeralContainers");
    let Some(old) = old else {
        return match added.is_empty() {
            true => Vec::new(),
            false => vec![FieldError::forbidden(FIELD, "cannot be set on create")],
        };
    };
    let mut errs = unchanged(&list(old, "ephemeralContainers"), &added);
    let mut names: Vec<String> = ["initContainers", "containers"]
        .iter()
        .flat_map(|k| list(new, k))
        .map(|c| name_of(&c).to_string())
        .collect();
    let targets = names.clone();
    for (i, c) in added.iter().enumerate() {
        errs.extend(one(c, &format!("{FIELD}[{i}]"), &mut names, &targets));
    }
    errs
}

/// Existing ephemeral containers stay, unchanged.
fn unchanged(old: &[Value], new: &[Value]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for prior in old {
        let name = name_of(prior);
        match new.iter().position(|c| name_of(c) == name) {
            None => errs.push(FieldError::forbidden(
                FIELD,
                &format!("existing ephemeral containers {name:?} may not be removed"),
            )),
            Some(i) if &new[i] != prior => errs.push(FieldError::forbidden(
                &format!("{FIELD}[{i}]"),
                &format!("existing ephemeral containers {name:?} may not be changed"),
            )),
            Some(_) => {}
        }
    }
    errs
}

/// One ephemeral container's own fields.
fn one(c: &Value, path: &str, names: &mut Vec<String>, targets: &[String]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = name_of(c);
    if name.is_empty() {
        errs.push(FieldError::required(&format!("{path}.name"), ""));
    } else if names.iter().any(|n| n == name) {
        errs.push(FieldError::duplicate(&format!("{path}.name"), name));
    } else {
        for msg in is_dns1123_label(name) {
            errs.push(FieldError::invalid(&format!("{path}.name"), name, &msg));
        }
        names.push(name.to_string());
    }
    if c.get("image")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        errs.push(FieldError::required(&format!("{path}.image"), ""));
    }
    for field in FORBIDDEN_FIELDS {
        if c.get(*field).is_some_and(|v| !v.is_null()) {
            errs.push(FieldError::forbidden(
                &format!("{path}.{field}"),
                "cannot be set for an Ephemeral Container",
            ));
        }
    }
    let resources_set = ["limits", "requests", "claims"]
        .iter()
        .any(|k| c.pointer(&format!("/resources/{k}")).is_some_and(non_empty));
    if resources_set {
        errs.push(FieldError::forbidden(
            &format!("{path}.resources"),
            "cannot be set for an Ephemeral Container",
        ));
    }
    if let Some(target) = c.get("targetContainerName").and_then(Value::as_str) {
        if !target.is_empty() && !targets.iter().any(|t| t == target) {
            errs.push(FieldError::rendered(
                &format!("{path}.targetContainerName"),
                ErrorType::NotFound,
                Some(&format!("{target:?}")),
                "",
            ));
        }
    }
    errs
}

fn non_empty(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ephemeral: Value) -> Value {
        json!({"spec": {"containers": [{"name": "main", "image": "busybox"}],
            "ephemeralContainers": ephemeral}})
    }

    fn messages(errs: &[FieldError]) -> Vec<String> {
        errs.iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect()
    }

    #[test]
    fn only_additions_of_plain_containers() {
        let debugger =
            json!({"name": "debugger", "image": "busybox", "targetContainerName": "main"});
        assert_eq!(
            messages(&validate(&pod(json!([debugger])), None)),
            ["spec.ephemeralContainers: Forbidden: cannot be set on create"]
        );
        let old = pod(json!([]));
        assert!(validate(&pod(json!([debugger])), Some(&old)).is_empty());
        let old = pod(json!([debugger]));
        let mut changed = debugger.clone();
        changed["image"] = json!("other");
        assert_eq!(
            messages(&validate(&pod(json!([changed])), Some(&old))),
            ["spec.ephemeralContainers[0]: Forbidden: existing ephemeral containers \"debugger\" may not be changed"]
        );
        assert_eq!(
            messages(&validate(&pod(json!([])), Some(&old))),
            ["spec.ephemeralContainers: Forbidden: existing ephemeral containers \"debugger\" may not be removed"]
        );
        let bad = json!({"name": "main", "image": "busybox", "ports": [{"containerPort": 80}],
            "resources": {"limits": {"cpu": "1"}}, "targetContainerName": "nope"});
        assert_eq!(
            messages(&validate(&pod(json!([bad])), Some(&pod(json!([]))))),
            [
                "spec.ephemeralContainers[0].name: Duplicate value: \"main\"",
                "spec.ephemeralContainers[0].ports: Forbidden: cannot be set for an Ephemeral Container",
                "spec.ephemeralContainers[0].resources: Forbidden: cannot be set for an Ephemeral Container",
                "spec.ephemeralContainers[0].targetContainerName: Not found: \"nope\"",
            ]
        );
    }
}
