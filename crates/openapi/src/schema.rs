//! Schema definitions: collecting them from schemars and reshaping them the way kube-apiserver
//! publishes them (definition names, GVK extensions, v2 vs v3 reference forms).

use std::collections::{BTreeMap, BTreeSet};

use schemars::{generate::SchemaSettings, SchemaGenerator};
use serde_json::{Map, Value};

/// JSON pointer prefix of definitions in a v2 document (and in the generator's own output).
pub(crate) const V2_REF_PREFIX: &str = "#/definitions/";
/// JSON pointer prefix of schemas in a v3 document.
pub(crate) const V3_REF_PREFIX: &str = "#/components/schemas/";

/// The vendor extension that ties a definition or operation to its group/version/kind.
pub(crate) const GVK_EXTENSION: &str = "x-kubernetes-group-version-kind";

/// A group/version/kind triple as upstream writes it in `x-kubernetes-group-version-kind`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Gvk {
    /// API group, empty for core.
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind name.
    pub kind: String,
}

impl Gvk {
    /// Builds a triple from borrowed parts.
    pub fn new(group: &str, version: &str, kind: &str) -> Self {
        Gvk {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
        }
    }

    /// The extension value, keys sorted as upstream's JSON has them.
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        map.insert("group".into(), self.group.clone().into());
        map.insert("kind".into(), self.kind.clone().into());
        map.insert("version".into(), self.version.clone().into());
        Value::Object(map)
    }
}

/// A schema generator whose `$ref`s point at `#/definitions/<schema name>`, with no transforms,
/// so the definitions come out exactly as k8s-openapi writes them.
pub fn new_generator() -> SchemaGenerator {
    SchemaSettings::draft07()
        .with(|settings| {
            settings.definitions_path = "/definitions".into();
            settings.meta_schema = None;
            settings.transforms = Vec::new();
            settings.inline_subschemas = false;
        })
        .into_generator()
}

/// The definition name a `$ref` string points at, when it points into definitions.
pub(crate) fn ref_target(reference: &str) -> Option<&str> {
    reference
        .strip_prefix(V2_REF_PREFIX)
        .or_else(|| reference.strip_prefix(V3_REF_PREFIX))
}

/// The definition name of a schema that is exactly a `$ref`.
pub(crate) fn ref_name(schema: &Value) -> Option<String> {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(ref_target)
        .map(str::to_string)
}

/// Adjusts definitions whose k8s-openapi form differs from what kube-apiserver publishes.
///
/// k8s-openapi marks `metadata` required on every resource because its Rust field is not optional,
/// and describes Quantity/IntOrString with the CRD-only `x-kubernetes-int-or-string` marker; the
/// published documents have neither, and client-side validation would trip over the first.
pub(crate) fn normalize_definition(name: &str, definition: &mut Value) {
    let Some(object) = definition.as_object_mut() else {
        return;
    };
    match name {
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => {
            object.remove("x-kubernetes-int-or-string");
            object.insert("type".into(), "string".into());
        }
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => {
            object.remove("x-kubernetes-int-or-string");
            object.insert("type".into(), "string".into());
            object.insert("format".into(), "int-or-string".into());
        }
        _ => {}
    }
    let has_metadata_ref = object
        .get("properties")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("$ref"))
        .is_some();
    if has_metadata_ref {
        if let Some(Value::Array(required)) = object.get_mut("required") {
            required.retain(|field| field != "metadata");
            if required.is_empty() {
                object.remove("required");
            }
        }
    }
}

/// Reshapes a definition for the v3 document where upstream's v3 form differs from its v2 form:
/// Quantity and IntOrString are `oneOf` their JSON alternatives rather than `type: string`
/// (and `kubectl explain` relies on that to print `map[string]Quantity` instead of `string`).
pub(crate) fn v3_definition(name: &str, definition: &mut Value) {
    let alternatives = match name {
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => ["string", "number"],
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => ["integer", "string"],
        _ => return,
    };
    if let Some(object) = definition.as_object_mut() {
        object.remove("type");
        let one_of = alternatives
            .iter()
            .map(|ty| {
                let mut map = Map::new();
                map.insert("type".into(), (*ty).into());
                Value::Object(map)
            })
            .collect();
        object.insert("oneOf".into(), Value::Array(one_of));
    }
}

/// Sets the definition's `x-kubernetes-group-version-kind` list (sorted, without duplicates).
pub(crate) fn set_gvks(definition: &mut Value, gvks: &BTreeSet<Gvk>) {
    if let Some(object) = definition.as_object_mut() {
        let list = gvks.iter().map(Gvk::to_value).collect();
        object.insert(GVK_EXTENSION.into(), Value::Array(list));
    }
}

/// Collects every definition name referenced (by `$ref` strings) anywhere inside `value`.
pub(crate) fn collect_refs(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if key == "$ref" {
                    if let Some(name) = child.as_str().and_then(ref_target) {
                        out.insert(name.to_string());
                        continue;
                    }
                }
                collect_refs(child, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, out)),
        _ => {}
    }
}

/// The definitions reachable from `roots`, following references transitively.
pub(crate) fn closure(
    roots: &BTreeSet<String>,
    definitions: &BTreeMap<String, Value>,
) -> BTreeMap<String, Value> {
    let mut found = BTreeMap::new();
    let mut pending: Vec<String> = roots.iter().cloned().collect();
    while let Some(name) = pending.pop() {
        if found.contains_key(&name) {
            continue;
        }
        let Some(definition) = definitions.get(&name) else {
            continue;
        };
        let mut refs = BTreeSet::new();
        collect_refs(definition, &mut refs);
        pending.extend(refs.into_iter().filter(|r| !found.contains_key(r)));
        found.insert(name, definition.clone());
    }
    found
}

/// Rewrites a v2-shaped schema tree into the v3 form upstream publishes: references point into
/// `#/components/schemas/`, and a `$ref` with sibling keywords (a description, say) becomes
/// `allOf: [{$ref}]` next to those keywords, since a v3 `$ref` object may not carry siblings.
pub(crate) fn to_v3_schema(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let reference = map.get("$ref").and_then(Value::as_str).map(|r| {
                match r.strip_prefix(V2_REF_PREFIX) {
                    Some(name) => format!("{V3_REF_PREFIX}{name}"),
                    None => r.to_string(),
                }
            });
            let mut out = Map::new();
            for (key, child) in map {
                if key == "$ref" && reference.is_some() {
                    continue;
                }
                out.insert(key.clone(), to_v3_schema(child));
            }
            match reference {
                Some(reference) if out.is_empty() => {
                    out.insert("$ref".into(), reference.into());
                }
                Some(reference) => {
                    let mut single = Map::new();
                    single.insert("$ref".into(), reference.into());
                    out.insert("allOf".into(), Value::Array(vec![Value::Object(single)]));
                }
                None => {}
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(to_v3_schema).collect()),
        other => other.clone(),
    }
}

/// Returns `value` with every object's keys in sorted order, so output is byte-stable.
pub(crate) fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for key in keys {
                if let Some(child) = map.get(key) {
                    out.insert(key.clone(), sorted(child));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantity_and_int_or_string_become_strings() {
        let mut quantity = json!({"description": "q", "x-kubernetes-int-or-string": true});
        normalize_definition(
            "io.k8s.apimachinery.pkg.api.resource.Quantity",
            &mut quantity,
        );
        assert_eq!(quantity, json!({"description": "q", "type": "string"}));
        let mut ios = json!({"x-kubernetes-int-or-string": true});
        normalize_definition("io.k8s.apimachinery.pkg.util.intstr.IntOrString", &mut ios);
        assert_eq!(ios, json!({"type": "string", "format": "int-or-string"}));
    }

    #[test]
    fn v3_quantity_and_int_or_string_are_one_of() {
        let mut quantity = json!({"description": "q", "type": "string"});
        v3_definition(
            "io.k8s.apimachinery.pkg.api.resource.Quantity",
            &mut quantity,
        );
        assert_eq!(
            quantity,
            json!({"description": "q", "oneOf": [{"type": "string"}, {"type": "number"}]})
        );
        let mut ios = json!({"type": "string", "format": "int-or-string"});
        v3_definition("io.k8s.apimachinery.pkg.util.intstr.IntOrString", &mut ios);
        assert_eq!(
            ios,
            json!({"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]})
        );
        let mut other = json!({"type": "string"});
        v3_definition("io.k8s.api.core.v1.Pod", &mut other);
        assert_eq!(other, json!({"type": "string"}));
    }

    #[test]
    fn metadata_is_not_required() {
        let mut def = json!({"properties": {"metadata": {"$ref": "#/definitions/M"}, "spec": {}},
            "required": ["metadata"]});
        normalize_definition("x.Y", &mut def);
        assert!(def.get("required").is_none());
        let mut def = json!({"properties": {"metadata": {"$ref": "#/definitions/M"}},
            "required": ["metadata", "spec"]});
        normalize_definition("x.Y", &mut def);
        assert_eq!(def["required"], json!(["spec"]));
    }

    #[test]
    fn v3_form_wraps_refs_with_siblings() {
        let v2 = json!({"properties": {
            "metadata": {"$ref": "#/definitions/M", "description": "meta"},
            "items": {"type": "array", "items": {"$ref": "#/definitions/C"}},
            "schemaProps": {"properties": {"$ref": {"type": "string"}}}
        }});
        let v3 = to_v3_schema(&v2);
        assert_eq!(
            v3["properties"]["metadata"],
            json!({"allOf": [{"$ref": "#/components/schemas/M"}], "description": "meta"})
        );
        assert_eq!(
            v3["properties"]["items"]["items"],
            json!({"$ref": "#/components/schemas/C"})
        );
        // A property *named* `$ref` (JSONSchemaProps) is a schema, not a reference.
        assert_eq!(
            v3["properties"]["schemaProps"]["properties"]["$ref"],
            json!({"type": "string"})
        );
    }

    #[test]
    fn closure_follows_references_transitively() {
        let defs: BTreeMap<String, Value> = [
            (
                "A",
                json!({"properties": {"b": {"$ref": "#/definitions/B"}}}),
            ),
            ("B", json!({"items": {"$ref": "#/definitions/C"}})),
            ("C", json!({"type": "string"})),
            ("D", json!({"type": "string"})),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let roots = BTreeSet::from(["A".to_string()]);
        let found = closure(&roots, &defs);
        assert_eq!(found.keys().collect::<Vec<_>>(), vec!["A", "B", "C"]);
    }

    #[test]
    fn sorting_orders_keys_recursively() {
        let value = json!({"b": 1, "a": {"d": 2, "c": [ {"f": 1, "e": 2} ]}});
        let text = serde_json::to_string(&sorted(&value)).unwrap_or_default();
        assert_eq!(text, r#"{"a":{"c":[{"e":2,"f":1}],"d":2},"b":1}"#);
    }
}
