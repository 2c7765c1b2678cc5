//! CRD schemas in the OpenAPI documents, shaped as upstream's CRD OpenAPI builder publishes
//! them: a definition named `<reversed group>.<version>.<Kind>` whose `metadata` is a reference
//! to ObjectMeta and whose `apiVersion`/`kind` carry the standard descriptions, plus its list.

use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use schemars::{json_schema, Schema, SchemaGenerator};
use serde_json::{json, Value};

const API_VERSION_DESCRIPTION: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DESCRIPTION: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
const METADATA_DESCRIPTION: &str = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const EMBEDDED_API_VERSION_DESCRIPTION: &str = "apiVersion defines the versioned schema of this representation of an object. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const EMBEDDED_KIND_DESCRIPTION: &str = "kind is a string value representing the type of this object. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
const LIST_METADATA_DESCRIPTION: &str = "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

/// Upstream's definition name: `example.com`, `v1`, `Widget` → `com.example.v1.Widget`.
pub fn definition_name(group: &str, version: &str, kind: &str) -> String {
    let reversed: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", reversed.join("."))
}

fn reference(generator: &SchemaGenerator, name: &str) -> Schema {
    let path = generator.settings().definitions_path.to_string();
    json_schema!({ "$ref": format!("#{path}/{name}") })
}

/// The extension naming a version's selectable fields, as upstream publishes it on the kind's
/// definition: `[{"fieldPath": "spec.color"}]` in declared order.
pub const SELECTABLE_FIELDS: &str = "x-kubernetes-selectable-fields";

/// Registers a custom kind's definition from its version's `openAPIV3Schema` and its
/// `selectableFields` JSON paths.
pub fn register(
    generator: &mut SchemaGenerator,
    name: &str,
    raw: &Value,
    selectable: &[String],
) -> Schema {
    let object_meta = generator.subschema_for::<meta::ObjectMeta>().to_value();
    let mut def = raw.clone();
    if !def.is_object() {
        def = json!({"type": "object"});
    }
    if !def.get("properties").is_some_and(Value::is_object) {
        def["properties"] = json!({});
    }
    let props = &mut def["properties"];
    props["apiVersion"] = json!({"type": "string", "description": API_VERSION_DESCRIPTION});
    props["kind"] = json!({"type": "string", "description": KIND_DESCRIPTION});
    let mut metadata = object_meta;
    metadata["description"] = json!(METADATA_DESCRIPTION);
    props["metadata"] = metadata.clone();
    add_embedded_properties(&mut def, &metadata, false);
    if !selectable.is_empty() {
        let fields: Vec<Value> = selectable
            .iter()
            .map(|path| json!({"fieldPath": path.trim_start_matches('.')}))
            .collect();
        def[SELECTABLE_FIELDS] = Value::Array(fields);
    }
    generator.definitions_mut().insert(name.to_string(), def);
    reference(generator, name)
}

fn is_true(map: &serde_json::Map<String, Value>, key: &str) -> bool {
    map.get(key).and_then(Value::as_bool) == Some(true)
}

/// Upstream's `addEmbeddedProperties`: an embedded resource (`x-kubernetes-embedded-resource`)
/// gets `apiVersion`, `kind` and `metadata` (`metadata` is the root's ObjectMeta property) as
/// a top-level object does, and requires the first two; children first. In v2 not where
/// unknown fields are preserved: listed properties would make kubectl refuse the others.
pub fn add_embedded_properties(node: &mut Value, metadata: &Value, v2: bool) {
    let Some(map) = node.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        for prop in props.values_mut() {
            add_embedded_properties(prop, metadata, v2);
        }
    }
    match map.get_mut("items") {
        Some(Value::Array(items)) => items
            .iter_mut()
            .for_each(|i| add_embedded_properties(i, metadata, v2)),
        Some(items) => add_embedded_properties(items, metadata, v2),
        None => {}
    }
    if let Some(additional @ Value::Object(_)) = map.get_mut("additionalProperties") {
        add_embedded_properties(additional, metadata, v2);
    }
    let preserved = v2 && is_true(map, "x-kubernetes-preserve-unknown-fields");
    if preserved || !is_true(map, "x-kubernetes-embedded-resource") {
        return;
    }
    let props = map.entry("properties").or_insert_with(|| json!({}));
    props["apiVersion"] =
        json!({"type": "string", "description": EMBEDDED_API_VERSION_DESCRIPTION});
    props["kind"] = json!({"type": "string", "description": EMBEDDED_KIND_DESCRIPTION});
    props["metadata"] = metadata.clone();
    let required = map.entry("required").or_insert_with(|| json!([]));
    if let Some(required) = required.as_array_mut() {
        for field in ["kind", "apiVersion"] {
            if !required.iter().any(|r| r == field) {
                required.push(json!(field));
            }
        }
    }
}

/// Registers `<Kind>List` next to the kind's definition `item`.
pub fn register_list(
    generator: &mut SchemaGenerator,
    item: &str,
    kind: &str,
    list_kind: &str,
    plural: &str,
) -> Schema {
    let item_ref = reference(generator, item).to_value();
    let mut list_meta = generator.subschema_for::<meta::ListMeta>().to_value();
    list_meta["description"] = json!(LIST_METADATA_DESCRIPTION);
    let name = match item.rsplit_once('.') {
        Some((package, _)) => format!("{package}.{list_kind}"),
        None => list_kind.to_string(),
    };
    let def = json!({
        "description": format!("{list_kind} is a list of {kind}"),
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string", "description": API_VERSION_DESCRIPTION},
            "items": {
                "description": format!("List of {plural}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"),
                "type": "array",
                "items": item_ref,
            },
            "kind": {"type": "string", "description": KIND_DESCRIPTION},
            "metadata": list_meta,
        },
        "required": ["items"],
    });
    generator.definitions_mut().insert(name.clone(), def);
    reference(generator, &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_are_named_and_shaped_like_upstream() {
        assert_eq!(
            definition_name("example.com", "v1", "Widget"),
            "com.example.v1.Widget"
        );
        let mut generator = ferrokube_openapi::new_generator();
        let raw = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}});
        let selectable = [".spec.replicas".to_string()];
        let r = register(&mut generator, "com.example.v1.Widget", &raw, &selectable);
        assert_eq!(r.as_value()["$ref"], "#/definitions/com.example.v1.Widget");
        let def = &generator.definitions()["com.example.v1.Widget"];
        assert_eq!(
            def["properties"]["spec"]["properties"]["replicas"]["type"],
            "integer"
        );
        assert_eq!(
            def["properties"]["metadata"]["$ref"],
            "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert_eq!(
            def[SELECTABLE_FIELDS],
            json!([{"fieldPath": "spec.replicas"}])
        );
        let l = register_list(
            &mut generator,
            "com.example.v1.Widget",
            "Widget",
            "WidgetList",
            "widgets",
        );
        assert_eq!(
            l.as_value()["$ref"],
            "#/definitions/com.example.v1.WidgetList"
        );
    }

    #[test]
    fn embedded_resources_get_type_meta_in_the_v3_form() {
        let mut generator = ferrokube_openapi::new_generator();
        let raw = json!({"type": "object", "properties": {"template": {
            "type": "object", "x-kubernetes-embedded-resource": true,
            "x-kubernetes-preserve-unknown-fields": true, "required": ["kind"]}}});
        register(&mut generator, "com.example.v1.Widget", &raw, &[]);
        let template = &generator.definitions()["com.example.v1.Widget"]["properties"]["template"];
        assert_eq!(template["required"], json!(["kind", "apiVersion"]));
        assert_eq!(
            template["properties"]["metadata"]["$ref"],
            "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert_eq!(
            template["properties"]["apiVersion"]["description"],
            EMBEDDED_API_VERSION_DESCRIPTION
        );
    }
}
