//! A pod template as Go's `encoding/json` renders it, so a ControllerRevision's `data` is byte
//! for byte what a Go client computes. Upstream's `daemon.Match` (used by kubectl's rollout
//! history and by the conformance DaemonSet specs) marshals the DaemonSet it read into a map
//! and compares the bytes with `data.Raw`: keys sorted, zero values of `omitempty` fields
//! dropped, and the struct-typed fields Go always writes (`metadata.creationTimestamp: null`,
//! a container's `resources: {}`) present.

use serde_json::{Map, Value};

/// Keys whose empty list Go still writes (their fields have no `omitempty`).
const ALWAYS_LISTS: &[&str] = &["containers", "sources", "nodeSelectorTerms"];
/// Map-typed `omitempty` fields: an empty map is dropped (an empty object elsewhere is a
/// struct pointer, which Go writes as `{}`).
const MAP_FIELDS: &[&str] = &[
    "labels",
    "annotations",
    "nodeSelector",
    "matchLabels",
    "limits",
    "requests",
    "overhead",
];
/// Plain (non-pointer) `omitempty` booleans of a pod template.
const PLAIN_BOOLS: &[&str] = &[
    "stdin",
    "stdinOnce",
    "tty",
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "readOnly",
];
/// Plain (non-pointer) `omitempty` integers of a pod template.
const PLAIN_INTS: &[&str] = &["hostPort", "initialDelaySeconds"];
/// Lists of `Container` structs, whose `resources` Go always writes.
const CONTAINER_LISTS: &[&str] = &["containers", "initContainers", "ephemeralContainers"];

/// The template (`PodTemplateSpec` JSON) in Go's rendering.
pub fn go_template(template: Value) -> Value {
    let mut t = canonical(template);
    let Some(obj) = t.as_object_mut() else {
        return t;
    };
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(m) = meta.as_object_mut() {
        m.entry("creationTimestamp").or_insert(Value::Null);
    }
    let spec = obj
        .entry("spec")
        .or_insert_with(|| Value::Object(Map::new()));
    for list in CONTAINER_LISTS {
        for c in spec
            .get_mut(*list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(c) = c.as_object_mut() {
                c.entry("resources")
                    .or_insert_with(|| Value::Object(Map::new()));
            }
        }
    }
    sort_keys(t)
}

/// Drops what Go's `omitempty` drops (recursively), leaving key order to [`sort_keys`].
fn canonical(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter_map(|(k, v)| {
                    let v = canonical(v);
                    (!omitted(&k, &v)).then_some((k, v))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

fn omitted(key: &str, v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty() && !ALWAYS_LISTS.contains(&key),
        Value::Object(o) => o.is_empty() && MAP_FIELDS.contains(&key),
        Value::Bool(b) => !b && PLAIN_BOOLS.contains(&key),
        Value::Number(n) => n.as_i64() == Some(0) && PLAIN_INTS.contains(&key),
    }
}

/// Go writes a map's keys in byte order (our maps keep insertion order).
fn sort_keys(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_like_go_marshal_of_the_typed_template() {
        let t = json!({
            "spec": {"hostNetwork": false, "securityContext": {}, "nodeSelector": {},
                "containers": [{"name": "app", "image": "i", "args": [], "tty": false,
                    "ports": [{"containerPort": 9376, "protocol": "TCP", "hostPort": 0}]}]},
            "metadata": {"labels": {"b": "2", "a": "1"}},
        });
        let out = serde_json::to_string(&go_template(t)).unwrap();
        assert_eq!(
            out,
            r#"{"metadata":{"creationTimestamp":null,"labels":{"a":"1","b":"2"}},"spec":{"containers":[{"image":"i","name":"app","ports":[{"containerPort":9376,"protocol":"TCP"}],"resources":{}}],"securityContext":{}}}"#
        );
    }

    #[test]
    fn rendering_is_idempotent() {
        let t = json!({"metadata": {}, "spec": {"containers": [{"name": "c",
            "resources": {"limits": {"cpu": "1"}}}]}});
        let once = go_template(t);
        assert_eq!(go_template(once.clone()), once);
    }
}
