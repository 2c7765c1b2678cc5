//! The `pods/resize` subresource (upstream's `podResizeStrategy` and `ValidatePodResize`, v1.34+):
//! the one way to change a running pod's containers' cpu and memory. A write keeps the stored pod
//! and takes only each container's `resources` and `resizePolicy` from the request; validation
//! then allows cpu/memory request and limit changes alone, never removing one, never changing the
//! pod's QoS class, and only for regular and sidecar containers. The node agent actuates it.

use ferrokube_apimachinery::validation::FieldError;
use serde_json::Value;

/// The subresource's path segment.
pub const RESIZE: &str = "resize";

/// The annotation a static (mirror) pod carries.
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Container lists a resize may touch, with where their resources live.
const LISTS: [&str; 2] = ["containers", "initContainers"];

/// Upstream's `dropNonResizeUpdates`: the stored pod with each container's `resizable`
/// fields taken from the request, position by position (the name too, so that [`validate`]
/// can refuse renaming or reordering); a list of another length is taken whole, for
/// [`validate`] to refuse. Every other field of the request is ignored.
pub fn prepare(current: &Value, proposed: &Value) -> Value {
    let mut new = current.clone();
    for list in LISTS {
        let Some(wanted) = proposed
            .pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
        else {
            continue;
        };
        let Some(have) = new
            .pointer_mut(&format!("/spec/{list}"))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        if have.len() != wanted.len() {
            *have = wanted.clone();
            continue;
        }
        for (c, w) in have.iter_mut().zip(wanted) {
            for field in ["name", "resources", "resizePolicy"] {
                set_or_remove(c, field, w.get(field));
            }
        }
    }
    new
}

fn set_or_remove(obj: &mut Value, key: &str, value: Option<&Value>) {
    if let Some(map) = obj.as_object_mut() {
        match value.filter(|v| !v.is_null()) {
            Some(v) => {
                map.insert(key.to_string(), v.clone());
            }
            None => {
                map.remove(key);
            }
        }
    }
}

/// Upstream's `ValidatePodResize` for a resize write (`new` as [`prepare`] made it).
pub fn validate(new: &Value, old: &Value) -> Vec<FieldError> {
    if let Some(refusal) = unresizable(old).or_else(|| unresizable(new)) {
        return vec![FieldError::forbidden("", refusal)];
    }
    let mut errs = Vec::new();
    let old_qos = old
        .pointer("/status/qosClass")
        .and_then(Value::as_str)
        .filter(|q| !q.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| qos_of(old).to_string());
    if old_qos != qos_of(new) {
        errs.push(FieldError::invalid(
            "spec",
            old_qos.as_str(),
            "Pod QOS Class may not change as a result of resizing",
        ));
    }
    if !node_supports_resize(old) {
        errs.push(FieldError::forbidden(
            "spec",
            "Pod running on node without support for resize",
        ));
    }
    for list in LISTS {
        let (olds, news) = (containers(old, list), containers(new, list));
        let moved = moved(&news, &olds, list);
        if !moved.is_empty() {
            errs.extend(moved);
            continue;
        }
        for (i, (o, n)) in olds.iter().zip(news.iter()).enumerate() {
            errs.extend(container_errors(n, o, list, i));
        }
    }
    errs
}

/// Containers added, removed, renamed or reordered by a resize.
fn moved(news: &[Value], olds: &[Value], list: &str) -> Vec<FieldError> {
    if news.len() != olds.len() {
        return vec![FieldError::forbidden(
            &format!("spec.{list}"),
            &format!("{list} may not be added or removed on resize"),
        )];
    }
    olds.iter()
        .zip(news)
        .enumerate()
        .filter(|(_, (o, n))| o.get("name") != n.get("name"))
        .map(|(i, _)| {
            FieldError::forbidden(
                &format!("spec.{list}[{i}].name"),
                &format!("{list} may not be renamed or reordered on resize"),
            )
        })
        .collect()
}

/// One container's resize errors (`i`-th of `list`).
fn container_errors(n: &Value, o: &Value, list: &str, i: usize) -> Vec<FieldError> {
    let sidecar = list == "initContainers";
    if sidecar && !is_restartable(o) {
        return match o == n {
            true => Vec::new(),
            false => vec![FieldError::forbidden(
                "spec",
                "resources for non-sidecar init containers are immutable",
            )],
        };
    }
    let mut errs = removals(n, o, &format!("spec.{list}[{i}].resources"));
    if &with_cpu_memory_of(n, o) != o {
        errs.push(FieldError::forbidden(
            "spec",
            if sidecar {
                "only cpu and memory resources for sidecar containers are mutable"
            } else {
                "only cpu and memory resources are mutable"
            },
        ));
    }
    errs
}

/// Why a pod may not be resized at all, if it may not.
fn unresizable(pod: &Value) -> Option<&'static str> {
    let pod_level = ["requests", "limits"].iter().any(|k| {
        pod.pointer(&format!("/spec/resources/{k}"))
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
    });
    if pod_level {
        return Some("pods with pod-level resources cannot be resized");
    }
    if pod
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(MIRROR_ANNOTATION))
        .is_some()
    {
        return Some("static pods cannot be resized");
    }
    if pod.pointer("/spec/os/name").and_then(Value::as_str) == Some("windows") {
        return Some("windows pods cannot be resized");
    }
    None
}

/// Upstream's version-skew guard: a pod whose first running container reports no status
/// `resources` runs on a node that cannot resize.
fn node_supports_resize(pod: &Value) -> bool {
    let statuses = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array);
    match statuses
        .into_iter()
        .flatten()
        .find(|s| s.pointer("/state/running").is_some())
    {
        Some(s) => s.get("resources").is_some_and(|r| !r.is_null()),
        None => true,
    }
}

fn containers(pod: &Value, list: &str) -> Vec<Value> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn is_restartable(c: &Value) -> bool {
    c.get("restartPolicy").and_then(Value::as_str) == Some("Always")
}

/// Requests or limits present before and missing now.
fn removals(new: &Value, old: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (key, what) in [("requests", "requests"), ("limits", "limits")] {
        let names = |c: &Value| -> Vec<String> {
            c.pointer(&format!("/resources/{key}"))
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        let now = names(new);
        if names(old).iter().any(|n| !now.contains(n)) {
            errs.push(FieldError::forbidden(
                &format!("{path}.{key}"),
                &format!("resource {what} cannot be removed"),
            ));
        }
    }
    errs
}

/// Upstream's `dropCPUMemoryResourcesFromContainer`: `new` with its cpu and memory requests
/// and limits put back to `old`'s, so what remains different is what a resize may not change.
fn with_cpu_memory_of(new: &Value, old: &Value) -> Value {
    let mut out = new.clone();
    let mut resources = serde_json::Map::new();
    for key in ["limits", "requests"] {
        let Some(old_list) = old
            .pointer(&format!("/resources/{key}"))
            .and_then(Value::as_object)
        else {
            continue;
        };
        let mut list = new
            .pointer(&format!("/resources/{key}"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for name in ["cpu", "memory"] {
            list.remove(name);
            if let Some(v) = old_list.get(name) {
                list.insert(name.to_string(), v.clone());
            }
        }
        resources.insert(key.to_string(), Value::Object(list));
    }
    if let Some(claims) = new.pointer("/resources/claims") {
        resources.insert("claims".into(), claims.clone());
    }
    let old_had = old.get("resources").is_some();
    match out.as_object_mut() {
        Some(map) if !resources.is_empty() || old_had => {
            map.insert("resources".into(), Value::Object(resources));
        }
        Some(map) => {
            map.remove("resources");
        }
        None => {}
    }
    out
}

/// The pod's QoS class from its spec (upstream's `ComputePodQOS`).
fn qos_of(pod: &Value) -> &'static str {
    super::strategy::qos_class(pod.get("spec").unwrap_or(&Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(resources: Value) -> Value {
        json!({"metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "busybox", "resources": resources}]},
            "status": {"qosClass": "Burstable", "containerStatuses": [{"name": "c",
                "state": {"running": {}}, "resources": {}}]}})
    }

    fn messages(errs: &[FieldError]) -> Vec<String> {
        errs.iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect()
    }

    fn resize(old: &Value, request: Value) -> Vec<String> {
        messages(&validate(&prepare(old, &request), old))
    }

    #[test]
    fn prepare_takes_only_resources_and_resize_policy() {
        let old = pod(json!({"requests": {"cpu": "100m"}}));
        let req = json!({"metadata": {"labels": {"x": "y"}}, "spec": {"containers": [{
            "name": "c", "image": "other", "resources": {"requests": {"cpu": "200m"}}}],
            "restartPolicy": "Never"}});
        let new = prepare(&old, &req);
        assert_eq!(new["spec"]["containers"][0]["image"], "busybox");
        assert_eq!(
            new["spec"]["containers"][0]["resources"]["requests"]["cpu"],
            "200m"
        );
        assert!(new["metadata"].get("labels").is_none());
        assert!(new["spec"].get("restartPolicy").is_none());
        assert!(validate(&new, &old).is_empty());
    }

    #[test]
    fn containers_keep_their_names_and_places() {
        let mut old = pod(json!({"requests": {"cpu": "100m"}}));
        old["spec"]["containers"]
            .as_array_mut()
            .expect("containers")
            .push(json!({"name": "d", "image": "busybox"}));
        let swapped = json!({"spec": {"containers": [{"name": "d"}, {"name": "c",
            "resources": {"requests": {"cpu": "100m"}}}]}});
        assert_eq!(
            resize(&old, swapped),
            [
                "spec.containers[0].name: Forbidden: containers may not be renamed or reordered on resize",
                "spec.containers[1].name: Forbidden: containers may not be renamed or reordered on resize",
            ]
        );
        let fewer = json!({"spec": {"containers": [{"name": "c",
            "resources": {"requests": {"cpu": "100m"}}}]}});
        assert_eq!(
            resize(&old, fewer),
            ["spec.containers: Forbidden: containers may not be added or removed on resize"]
        );
    }

    #[test]
    fn qos_class_may_not_change() {
        let old = pod(json!({"requests": {"cpu": "100m"}, "limits": {"cpu": "200m"}}));
        let req = json!({"spec": {"containers": [{"name": "c", "resources": {
            "requests": {"cpu": "200m", "memory": "1Gi"}, "limits": {"cpu": "200m", "memory": "1Gi"}}}]}});
        assert_eq!(
            resize(&old, req),
            ["spec: Invalid value: \"Burstable\": Pod QOS Class may not change as a result of resizing"]
        );
    }

    #[test]
    fn requests_and_limits_may_not_be_removed_nor_other_resources_changed() {
        let old = pod(
            json!({"requests": {"cpu": "100m", "ephemeral-storage": "1Gi"},
            "limits": {"memory": "1Gi"}}),
        );
        let req = json!({"spec": {"containers": [{"name": "c", "resources": {
            "requests": {"cpu": "100m", "ephemeral-storage": "2Gi"}}}]}});
        assert_eq!(
            resize(&old, req),
            [
                "spec.containers[0].resources.limits: Forbidden: resource limits cannot be removed",
                "spec: Forbidden: only cpu and memory resources are mutable",
            ]
        );
    }

    #[test]
    fn memory_limits_may_decrease_and_resize_policy_is_immutable() {
        let old = pod(json!({"requests": {"memory": "100Mi"}, "limits": {"memory": "1Gi"}}));
        let smaller = json!({"spec": {"containers": [{"name": "c", "resources": {
            "requests": {"memory": "100Mi"}, "limits": {"memory": "500Mi"}}}]}});
        assert!(resize(&old, smaller).is_empty());
        let policy = json!({"spec": {"containers": [{"name": "c", "resources": {
            "requests": {"memory": "100Mi"}, "limits": {"memory": "1Gi"}},
            "resizePolicy": [{"resourceName": "memory", "restartPolicy": "RestartContainer"}]}]}});
        assert_eq!(
            resize(&old, policy),
            ["spec: Forbidden: only cpu and memory resources are mutable"]
        );
    }

    #[test]
    fn init_containers_static_and_unsupported_nodes() {
        let mut old = pod(json!({"requests": {"cpu": "100m"}}));
        old["spec"]["initContainers"] = json!([{"name": "i", "image": "busybox",
            "resources": {"requests": {"cpu": "100m"}}}]);
        let req = json!({"spec": {"initContainers": [{"name": "i", "resources": {"requests": {"cpu": "200m"}}}]}});
        assert_eq!(
            resize(&old, req.clone()),
            ["spec: Forbidden: resources for non-sidecar init containers are immutable"]
        );
        old["spec"]["initContainers"][0]["restartPolicy"] = json!("Always");
        assert!(resize(&old, req).is_empty());

        let mut mirror = pod(json!({}));
        mirror["metadata"]["annotations"] = json!({MIRROR_ANNOTATION: "x"});
        assert_eq!(
            resize(&mirror, json!({})),
            [": Forbidden: static pods cannot be resized"]
        );
        let mut old_node = pod(json!({"requests": {"cpu": "100m"}}));
        old_node["status"]["containerStatuses"][0]
            .as_object_mut()
            .map(|s| s.remove("resources"));
        assert_eq!(
            resize(&old_node, json!({})),
            ["spec: Forbidden: Pod running on node without support for resize"]
        );
    }
}
