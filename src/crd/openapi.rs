//! CRD schemas in the OpenAPI documents, shaped as upstream's CRD OpenAPI builder publishes
//! them: a definition named `<reversed group>.<version>.<Kind>` whose `metadata` is a reference
//! to ObjectMeta and whose `apiVersion`/`kind` carry the standard descriptions, plus its list.

use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use schemars::{json_schema, Schema, SchemaGenerator};
use serde_json::{json, Value};

const API_VERSION_DESCRIPTION: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DESCRIPTION: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
const METADATA_DESCRIPTION: &str = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
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

/// Registers a custom kind's definition from its version's `openAPIV3Schema`.
pub fn register(generator: &mut SchemaGenerator, name: &str, raw: &Value) -> Schema {
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
    props["metadata"] = metadata;
    generator.definitions_mut().insert(name.to_string(), def);
    reference(generator, name)
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
        let r = register(&mut generator, "com.example.v1.Widget", &raw);
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
}
