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

/// The v2 definition of a CRD version from its `openAPIV3Schema` (`raw`) and its published
/// (v3-form) definition, whose `apiVersion`/`kind`/`metadata` properties and GVK and
/// selectable-fields extensions it takes. A root that preserves unknown fields (or no schema)
/// becomes a bare `type: object`: any property listed would make kubectl reject every other
/// field.
pub fn definition(raw: &Value, published: &Value) -> Value {
    let mut out = match raw.as_object() {
        Some(map) if !is_true(map, PRESERVE) => kube_native(raw, published),
        _ => json!({"type": "object"}),
    };
    for key in [GVK, super::openapi::SELECTABLE_FIELDS] {
        if let Some(value) = published.get(key) {
            out[key] = value.clone();
        }
    }
    out
}

/// The reduced schema with the published root properties and embedded resources' own.
fn kube_native(raw: &Value, published: &Value) -> Value {
    let mut out = raw.clone();
    reduce(&mut out);
    if let Some(map) = out.as_object_mut() {
        let props = map.entry("properties").or_insert_with(|| json!({}));
        for key in ["apiVersion", "kind", "metadata"] {
            if let Some(prop) = published.pointer(&format!("/properties/{key}")) {
                props[key] = prop.clone();
            }
        }
    }
    let metadata = published
        .pointer("/properties/metadata")
        .cloned()
        .unwrap_or(Value::Null);
    super::openapi::add_embedded_properties(&mut out, &metadata, true);
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

    fn published() -> Value {
        json!({
            "properties": {"metadata": {"$ref": "#/definitions/ObjectMeta"}},
            "x-kubernetes-group-version-kind":
                [{"group": "example.com", "kind": "Widget", "version": "v1"}],
        })
    }

    #[test]
    fn root_preserving_unknown_fields_is_a_bare_object() {
        let raw = json!({
            "type": "object", "x-kubernetes-preserve-unknown-fields": true,
            "description": "anything", "properties": {"spec": {"type": "string"}},
        });
        let mut bare = json!({"type": "object"});
        bare[GVK] = published()[GVK].clone();
        assert_eq!(definition(&raw, &published()), bare);
    }

    #[test]
    fn nullable_preserving_and_junctors_are_reduced() {
        let raw = json!({
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
        let v2 = definition(&raw, &published());
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
        assert_eq!(
            v2["properties"]["metadata"],
            published()["properties"]["metadata"]
        );
        assert_eq!(v2[GVK], published()[GVK]);
    }

    #[test]
    fn embedded_resources_get_type_meta_unless_preserving() {
        let raw = json!({"type": "object", "properties": {
            "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                         "properties": {"spec": {"type": "string"}}},
            "raw": {"type": "object", "x-kubernetes-embedded-resource": true,
                    "x-kubernetes-preserve-unknown-fields": true},
        }});
        let v2 = definition(&raw, &published());
        let template = &v2["properties"]["template"];
        assert_eq!(template["required"], json!(["kind", "apiVersion"]));
        assert_eq!(
            template["properties"]["metadata"]["$ref"],
            "#/definitions/ObjectMeta"
        );
        assert_eq!(template["properties"]["kind"]["type"], "string");
        assert_eq!(
            v2["properties"]["raw"],
            json!({"x-kubernetes-embedded-resource": true,
                   "x-kubernetes-preserve-unknown-fields": true})
        );
    }

    #[test]
    fn a_plain_schema_is_unchanged() {
        let raw = json!({
            "type": "object", "description": "Foo",
            "properties": {"spec": {"type": "object", "properties": {
                "bars": {"type": "array", "items": {"type": "object", "required": ["name"],
                    "properties": {"name": {"type": "string", "enum": ["a", "b"]}}}}}}},
        });
        let mut expected = raw.clone();
        expected["properties"]["metadata"] = published()["properties"]["metadata"].clone();
        expected[GVK] = published()[GVK].clone();
        assert_eq!(definition(&raw, &published()), expected);
    }
}
