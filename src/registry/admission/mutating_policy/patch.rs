//! Applying what a mutation evaluated to (upstream `patch/smd.go` and `patch/json_patch.go`).

use ferrokube_apiextensions::expression::Constructed;
use ferrokube_merge::MergeKeyTable;
use serde_json::Value;

use super::compiled::PatchType;

/// The object after one mutation's result, or upstream's error text.
pub fn apply(
    patch_type: PatchType,
    result: Constructed,
    obj: &Value,
    table: &MergeKeyTable,
) -> Result<Value, String> {
    match patch_type {
        PatchType::ApplyConfiguration => apply_configuration(result, obj, table),
        PatchType::JsonPatch => json_patch(result, obj),
    }
}

/// An `Object{...}` merged into the object as server-side apply merges (list types, map keys
/// from the kind's schema); the object's managed fields are left as they are.
fn apply_configuration(
    result: Constructed,
    obj: &Value,
    table: &MergeKeyTable,
) -> Result<Value, String> {
    if result.type_name.as_deref() != Some("Object") || !result.value.is_object() {
        return Err(format!(
            "unsupported return type from ApplyConfiguration expression: {}",
            result.type_name.as_deref().unwrap_or("not an Object")
        ));
    }
    let mut config = result.value;
    for field in ["apiVersion", "kind"] {
        config[field] = obj[field].clone();
    }
    let mut live = obj.clone();
    let managed = live.pointer_mut("/metadata/managedFields").map(Value::take);
    let mut merged = ferrokube_merge::apply(
        Some(&live),
        &config,
        "mutating-admission-policy",
        true,
        table,
        &crate::registry::meta::now_rfc3339(),
    )
    .map_err(|e| format!("error applying patch: failed to merge patch: {e}"))?;
    if let Some(meta) = merged["metadata"].as_object_mut() {
        match managed.filter(|m| !m.is_null()) {
            Some(m) => meta.insert("managedFields".into(), m),
            None => meta.remove("managedFields"),
        };
    }
    Ok(merged)
}

/// A list of `JSONPatch{op, path, from, value}` applied in order.
fn json_patch(result: Constructed, obj: &Value) -> Result<Value, String> {
    if !result.value.is_array() {
        return Err("type mismatch: JSONPatchType.expression should evaluate to array".into());
    }
    if result
        .type_name
        .as_deref()
        .is_some_and(|t| t != "JSONPatch")
    {
        return Err(
            "type mismatch: JSONPatchType.expression should evaluate to array of JSONPatch".into(),
        );
    }
    let ops: json_patch::Patch =
        serde_json::from_value(result.value).map_err(|e| format!("JSON Patch: {e}"))?;
    let mut out = obj.clone();
    json_patch::patch(&mut out, &ops).map_err(|e| format!("JSON Patch: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn constructed(type_name: &str, value: Value) -> Constructed {
        Constructed {
            type_name: Some(type_name.into()),
            value,
        }
    }

    #[test]
    fn apply_configurations_merge_lists_by_key() {
        let table = crate::registry::patch::merge_keys();
        let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [
                {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}}});
        let result = constructed(
            "Object",
            json!({"metadata": {"labels": {"team": "x"}}, "spec": {"replicas": 3,
                "template": {"spec": {"containers": [{"name": "b", "image": "b:2"}]}}}}),
        );
        let out = apply(PatchType::ApplyConfiguration, result, &deploy, table).unwrap();
        assert_eq!(out["spec"]["replicas"], 3);
        assert_eq!(
            out["metadata"]["labels"],
            json!({"app": "web", "team": "x"})
        );
        let containers = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["image"], "a:1");
        assert_eq!(containers[1]["image"], "b:2");
        assert!(out["metadata"].get("managedFields").is_none());
        let not_object = constructed("JSONPatch", json!({}));
        assert!(apply(PatchType::ApplyConfiguration, not_object, &deploy, table).is_err());
    }

    #[test]
    fn json_patches_apply_in_order() {
        let obj = json!({"metadata": {"name": "x"}});
        let ops = constructed(
            "JSONPatch",
            json!([{"op": "add", "path": "/metadata/labels", "value": {}},
                {"op": "add", "path": "/metadata/labels/a~1b", "value": "c"}]),
        );
        let out = apply(
            PatchType::JsonPatch,
            ops,
            &obj,
            crate::registry::patch::merge_keys(),
        )
        .unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"a/b": "c"}));
        let bad = constructed("JSONPatch", json!([{"op": "remove", "path": "/nope"}]));
        let err = apply(
            PatchType::JsonPatch,
            bad,
            &obj,
            crate::registry::patch::merge_keys(),
        )
        .unwrap_err();
        assert!(err.starts_with("JSON Patch: "), "{err}");
    }
}
