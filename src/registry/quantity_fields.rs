//! Quantity fields of built-in kinds. Upstream's decoder parses every `resource.Quantity` while it
//! reads a body, so one malformed amount (`cpu: abc`) refuses the whole body with a 400 — before
//! any quota, limit range or scheduler sees it. k8s-openapi keeps quantities as plain strings, so
//! the places a kind holds them are found once from its schema (every `$ref` to the Quantity
//! definition, through properties, list items and map values) and each value there is parsed —
//! and rewritten in upstream's canonical form (`1.5` → `1500m`, `0.5Gi` → `512Mi`), which is
//! what upstream stores and returns.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use ferrokube_apimachinery::quantity::Quantity;
use schemars::JsonSchema;
use serde_json::Value;

/// One step of a path into an object.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Field(String),
    /// Every item of a list.
    Items,
    /// Every value of a map.
    Values,
}

type Paths = Arc<Vec<Vec<Step>>>;

/// Checks every quantity of a `K` object and writes each in canonical form; the error is
/// upstream's parse error text.
pub fn canonicalize<K: JsonSchema + 'static>(obj: &mut Value) -> Result<(), String> {
    for path in paths_of::<K>().iter() {
        canonicalize_at(obj, path)?;
    }
    Ok(())
}

fn paths_of<K: JsonSchema + 'static>() -> Paths {
    static MEMO: OnceLock<RwLock<HashMap<TypeId, Paths>>> = OnceLock::new();
    let memo = MEMO.get_or_init(Default::default);
    let id = TypeId::of::<K>();
    if let Some(paths) = memo.read().unwrap_or_else(|e| e.into_inner()).get(&id) {
        return paths.clone();
    }
    let paths = Arc::new(schema_paths::<K>());
    memo.write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, paths.clone());
    paths
}

fn schema_paths<K: JsonSchema>() -> Vec<Vec<Step>> {
    let mut generator = schemars::SchemaGenerator::default();
    let root = generator.subschema_for::<K>();
    let definitions = generator.definitions().clone();
    let quantity = k8s_openapi::apimachinery::pkg::api::resource::Quantity::schema_name();
    let mut walk = Walk {
        definitions: &definitions,
        quantity: &quantity,
        visiting: Vec::new(),
        found: Vec::new(),
    };
    walk.schema(root.as_value(), &mut Vec::new());
    walk.found
}

struct Walk<'a> {
    definitions: &'a serde_json::Map<String, Value>,
    quantity: &'a str,
    /// Definitions on the way down: recursive types (JSONSchemaProps) end there.
    visiting: Vec<String>,
    found: Vec<Vec<Step>>,
}

impl Walk<'_> {
    fn schema(&mut self, schema: &Value, path: &mut Vec<Step>) {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let name = reference
                .rsplit('/')
                .next()
                .unwrap_or(reference)
                .to_string();
            self.definition(name, path);
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (field, sub) in properties {
                path.push(Step::Field(field.clone()));
                self.schema(sub, path);
                path.pop();
            }
        }
        for (key, step) in [
            ("items", Step::Items),
            ("additionalProperties", Step::Values),
        ] {
            if let Some(sub) = schema.get(key).filter(|s| s.is_object()) {
                path.push(step);
                self.schema(sub, path);
                path.pop();
            }
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            for sub in schema
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                self.schema(sub, path);
            }
        }
    }

    fn definition(&mut self, name: String, path: &mut Vec<Step>) {
        if name == self.quantity {
            self.found.push(path.clone());
            return;
        }
        if self.visiting.contains(&name) {
            return;
        }
        let Some(definition) = self.definitions.get(&name) else {
            return;
        };
        self.visiting.push(name);
        self.schema(definition, path);
        self.visiting.pop();
    }
}

fn canonicalize_at(value: &mut Value, path: &[Step]) -> Result<(), String> {
    let Some((step, rest)) = path.split_first() else {
        // Numbers are quantities too (upstream parses their text); only strings can be malformed.
        if let Some(text) = value.as_str() {
            let quantity = Quantity::parse_trimmed(text).map_err(|e| e.to_string())?;
            if let Some(canonical) = quantity.canonical() {
                *value = Value::String(canonical);
            }
        }
        return Ok(());
    };
    match (step, value) {
        (Step::Field(field), Value::Object(map)) => match map.get_mut(field) {
            Some(next) => canonicalize_at(next, rest),
            None => Ok(()),
        },
        (Step::Items, Value::Array(items)) => {
            items.iter_mut().try_for_each(|i| canonicalize_at(i, rest))
        }
        (Step::Values, Value::Object(map)) => {
            map.values_mut().try_for_each(|v| canonicalize_at(v, rest))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{LimitRange, Pod, ResourceQuota};
    use serde_json::json;

    use super::*;

    fn check<K: JsonSchema + 'static>(obj: &Value) -> Result<(), String> {
        canonicalize::<K>(&mut obj.clone())
    }

    #[test]
    fn writes_canonical_forms() {
        let mut pod = json!({"spec": {"containers": [{"name": "c", "resources": {
            "requests": {"cpu": "1.5", "memory": "0.5Gi"}, "limits": {"cpu": " 2000m ", "memory": "1024Mi"}}}]}});
        canonicalize::<Pod>(&mut pod).unwrap();
        let resources = &pod["spec"]["containers"][0]["resources"];
        assert_eq!(
            resources["requests"],
            json!({"cpu": "1500m", "memory": "512Mi"})
        );
        assert_eq!(resources["limits"], json!({"cpu": "2", "memory": "1Gi"}));
    }

    #[test]
    fn finds_pod_resource_quantities() {
        let pod = |cpu: &str| {
            json!({"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}],
                "overhead": {"memory": "1Mi"}}})
        };
        assert_eq!(check::<Pod>(&pod("100m")), Ok(()));
        let err = check::<Pod>(&pod("abc")).unwrap_err();
        assert!(
            err.starts_with("quantities must match the regular expression"),
            "{err}"
        );
        assert_eq!(
            check::<Pod>(&pod("1mm")),
            Err("unable to parse quantity's suffix".into())
        );
        // Empty-dir size limits and pod-level resources are quantities too.
        let volume = json!({"spec": {"containers": [], "volumes": [{"name": "v", "emptyDir": {"sizeLimit": "x"}}]}});
        assert!(check::<Pod>(&volume).is_err());
    }

    #[test]
    fn finds_quota_and_limit_range_quantities() {
        let quota = json!({"spec": {"hard": {"pods": "2", "requests.cpu": "1"}}, "status": {"used": {"pods": "two"}}});
        assert!(check::<ResourceQuota>(&quota).is_err());
        let limits = json!({"spec": {"limits": [{"type": "Container", "default": {"cpu": "1"}, "max": {"memory": "1Gi"}}]}});
        assert_eq!(check::<LimitRange>(&limits), Ok(()));
        let limits = json!({"spec": {"limits": [{"type": "Container", "maxLimitRequestRatio": {"cpu": "--"}}]}});
        assert!(check::<LimitRange>(&limits).is_err());
    }
}
