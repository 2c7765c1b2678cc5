//! The OpenAPI v2 form of a CRD definition. Swagger 2.0, and kubectl's v2 readers (client-side
//! validation, `explain --output plaintext-openapiv2`), know no junctors, no `nullable`, and
//! trip over typed values that allow unknown fields, so upstream publishes a reduced schema in
//! `/openapi/v2` (apiextensions' `ToStructuralOpenAPIV2` plus the builder's root special case)
//! while `/openapi/v3` keeps the schema as written.

use serde_json::{json, Map, Value};

const GVK: &str = "x-kubernetes-group-version-kind";
const PRESERVE: &str = "x-kubernetes-preserve-unknown-fields";
/// Boolean extensions upstream writes only when true.
const TRUE_ONLY: [&str; 3] = [
    PRESERVE,
    "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
];

fn is_true(map: &Map<String, Value>, key: &str) -> bool {
    map.get(key).and_then(Value::as_bool) == Some(true)
}

/// A published CRD definition (schema plus `apiVersion`/`kind`/`metadata` and the GVK
/// extension) in its v2 form. A root that preserves unknown fields becomes a bare
/// `type: object`: any property listed would make kubectl reject every other field.
pub fn definition(published: &Value) -> Value {
    let Some(map) = published.as_object() else {
        return published.clone();
    };
    if is_true(map, PRESERVE) {
        let mut bare = json!({"type": "object"});
        if let Some(gvk) = map.get(GVK) {
            bare[GVK] = gvk.clone();
        }
        return bare;
    }
    let mut out = published.clone();
    reduce(&mut out);
    out
}

/// One node, then its children (a parent looks at its children's `nullable` before they
/// lose it, as upstream's visitor does).
fn reduce(node: &mut Value) {
    let Some(map) = node.as_object_mut() else {
        return;
    };
    for key in ["allOf", "oneOf", "anyOf", "not", "example", "externalDocs"] {
        map.remove(key);
    }
    for key in TRUE_ONLY {
        if map.get(key).is_some_and(|v| v != &Value::Bool(true)) {
            map.remove(key);
        }
    }
    if map.remove("nullable") == Some(Value::Bool(true)) {
        // An untyped value with items or properties breaks kubectl.
        for key in ["type", "items", "properties"] {
            map.remove(key);
        }
    }
    if is_true(map, PRESERVE) {
        map.remove("items");
        map.remove("properties");
        if map.get("type").and_then(Value::as_str) == Some("object") {
            map.remove("type");
        }
    }
    if map.get("type").and_then(Value::as_str) == Some("array") && !map.contains_key("items") {
        // kubectl cannot read an array without an item schema.
        map.remove("type");
    }
    drop_nullable_required(map);
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        props.values_mut().for_each(reduce);
    }
    match map.get_mut("items") {
        Some(Value::Array(items)) => items.iter_mut().for_each(reduce),
        Some(items) => reduce(items),
        None => {}
    }
    if let Some(additional @ Value::Object(_)) = map.get_mut("additionalProperties") {
        reduce(additional);
    }
}

/// A nullable property cannot be required in v2 (null reads as absent there); a nullable
/// map value makes every key optional.
fn drop_nullable_required(map: &mut Map<String, Value>) {
    let nullable = |v: &Value| v.get("nullable").and_then(Value::as_bool) == Some(true);
    if map.get("additionalProperties").is_some_and(nullable) {
        map.remove("required");
        return;
    }
    let nullable_props: Vec<String> = match map.get("properties") {
        Some(Value::Object(props)) => props
            .iter()
            .filter(|(_, v)| nullable(v))
            .map(|(k, _)| k.clone())
            .collect(),
        _ => return,
    };
    if let Some(Value::Array(required)) = map.get_mut("required") {
        required.retain(|r| {
            !r.as_str()
                .is_some_and(|r| nullable_props.iter().any(|n| n == r))
        });
        if required.is_empty() {
            map.remove("required");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gvk() -> Value {
        json!([{"group": "example.com", "kind": "Widget", "version": "v1"}])
    }

    #[test]
    fn root_preserving_unknown_fields_is_a_bare_object() {
        let published = json!({
            "type": "object", "x-kubernetes-preserve-unknown-fields": true,
            "description": "anything", "properties": {"kind": {"type": "string"}},
            "x-kubernetes-group-version-kind": gvk(),
        });
        assert_eq!(
            definition(&published),
            json!({"type": "object", "x-kubernetes-group-version-kind": gvk()})
        );
    }

    #[test]
    fn nullable_preserving_and_junctors_are_reduced() {
        let published = json!({
            "type": "object",
            "required": ["spec", "name"],
            "properties": {
                "spec": {"type": "object", "nullable": true, "properties": {"a": {"type": "string"}}},
                "name": {"type": "string", "nullable": false, "oneOf": [{"pattern": "a"}]},
                "any": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                        "properties": {"b": {"type": "string"}}, "description": "kept"},
                "list": {"type": "array", "x-kubernetes-preserve-unknown-fields": true,
                         "items": {"type": "string"}},
                "flag": {"type": "string", "x-kubernetes-int-or-string": false},
                "labels": {"type": "object", "required": ["x"],
                           "additionalProperties": {"type": "string", "nullable": true}},
            },
        });
        let v2 = definition(&published);
        assert_eq!(v2["required"], json!(["name"]));
        assert_eq!(v2["properties"]["spec"], json!({}));
        assert_eq!(v2["properties"]["name"], json!({"type": "string"}));
        assert_eq!(
            v2["properties"]["any"],
            json!({"description": "kept", "x-kubernetes-preserve-unknown-fields": true})
        );
        assert_eq!(
            v2["properties"]["list"],
            json!({"x-kubernetes-preserve-unknown-fields": true})
        );
        assert_eq!(v2["properties"]["flag"], json!({"type": "string"}));
        assert_eq!(
            v2["properties"]["labels"],
            json!({"type": "object", "additionalProperties": {}})
        );
    }

    #[test]
    fn a_plain_schema_is_unchanged() {
        let published = json!({
            "type": "object", "description": "Foo",
            "properties": {"spec": {"type": "object", "properties": {
                "bars": {"type": "array", "items": {"type": "object", "required": ["name"],
                    "properties": {"name": {"type": "string", "enum": ["a", "b"]}}}}}}},
            "x-kubernetes-group-version-kind": gvk(),
        });
        assert_eq!(definition(&published), published);
    }
}
