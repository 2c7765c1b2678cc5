//! Merge semantics of a custom resource, read from its CRD version's structural schema: lists
//! are atomic unless `x-kubernetes-list-type` says `set` or `map` (with
//! `x-kubernetes-list-map-keys`), objects with `properties` are granular structs unless
//! `x-kubernetes-map-type: atomic`, `additionalProperties` make maps, and `metadata` is the
//! built-in ObjectMeta — as upstream's structured-merge-diff schema for CRDs.
//!
//! The built-in tables are `'static` data that `Ty` points into; a custom kind's definitions are
//! leaked to the same lifetime. The API server builds one table per CRD version when the CRD is
//! installed or changed, so the memory held is bounded by the number of CRD changes.

use serde_json::Value;

use crate::schema::{
    CustomKind, FieldDef, ListDef, ListKind, MapDef, MergeKeyTable, PatchStrategy, StructDef, Ty,
};

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

impl MergeKeyTable {
    /// The built-in table plus one custom kind described by `open_api_v3_schema`.
    pub fn with_custom(group: &str, version: &str, kind: &str, open_api_v3_schema: &Value) -> Self {
        let mut builder = Builder {
            structs: Vec::new(),
        };
        let root = builder.root(open_api_v3_schema);
        let custom = CustomKind {
            group: leak_str(group),
            version: leak_str(version),
            kind: leak_str(kind),
            root,
            structs: Box::leak(builder.structs.into_boxed_slice()),
        };
        MergeKeyTable::with_custom_kind(Box::leak(Box::new(custom)))
    }
}

struct Builder {
    structs: Vec<StructDef>,
}

impl Builder {
    /// The root struct: the schema's own properties plus the built-in ObjectMeta.
    fn root(&mut self, schema: &Value) -> usize {
        let mut fields = self.fields(schema);
        fields.retain(|f| !matches!(f.name, "metadata" | "apiVersion" | "kind"));
        if let Some(meta) = MergeKeyTable::builtin_struct(OBJECT_META) {
            fields.push(field("metadata", Ty::Struct(meta)));
        }
        self.push(fields, false)
    }

    fn push(&mut self, fields: Vec<FieldDef>, atomic: bool) -> usize {
        self.structs.push(StructDef {
            name: "",
            atomic,
            fields: Box::leak(fields.into_boxed_slice()),
        });
        MergeKeyTable::first_custom_index() + self.structs.len() - 1
    }

    fn fields(&mut self, schema: &Value) -> Vec<FieldDef> {
        let Some(props) = schema.get("properties").and_then(Value::as_object) else {
            return Vec::new();
        };
        props
            .iter()
            .map(|(name, sub)| field(leak_str(name), self.ty(sub)))
            .collect()
    }

    fn ty(&mut self, schema: &Value) -> Ty {
        let ext = |k: &str| schema.get(k).and_then(Value::as_str);
        let atomic_map = ext("x-kubernetes-map-type") == Some("atomic");
        if schema.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true)) {
            let fields = self.fields(schema);
            return Ty::Struct(self.push(fields, atomic_map));
        }
        match ext("type") {
            Some("array") => {
                let item = schema
                    .get("items")
                    .map_or(Ty::Scalar, |items| self.ty(items));
                let (kind, keys): (ListKind, &'static [&'static str]) =
                    match ext("x-kubernetes-list-type") {
                        Some("set") => (ListKind::Set, &[]),
                        Some("map") => (ListKind::Map, leak_keys(schema)),
                        _ => (ListKind::Atomic, &[]),
                    };
                Ty::List(Box::leak(Box::new(ListDef { item, kind, keys })))
            }
            Some("object") if schema.get("properties").is_some() => {
                let fields = self.fields(schema);
                Ty::Struct(self.push(fields, atomic_map))
            }
            Some("object") => match schema.get("additionalProperties") {
                Some(value) if value.is_object() => {
                    let value = self.ty(value);
                    Ty::Map(Box::leak(Box::new(MapDef {
                        value,
                        atomic: atomic_map,
                    })))
                }
                // An object without a schema for its members (e.g. preserve-unknown-fields):
                // a granular map of untyped values, as upstream deduces.
                _ => Ty::Map(Box::leak(Box::new(MapDef {
                    value: Ty::Scalar,
                    atomic: atomic_map,
                }))),
            },
            _ => Ty::Scalar,
        }
    }
}

fn field(name: &'static str, ty: Ty) -> FieldDef {
    FieldDef {
        name,
        ty,
        strategy: PatchStrategy::default(),
        merge_key: None,
    }
}

fn leak_str(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn leak_keys(schema: &Value) -> &'static [&'static str] {
    let keys: Vec<&'static str> = schema
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(Value::as_str)
                .map(leak_str)
                .collect()
        })
        .unwrap_or_default();
    Box::leak(keys.into_boxed_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{apply, managed_fields};
    use serde_json::json;

    const T0: &str = "2026-01-01T00:00:00Z";

    fn table() -> MergeKeyTable {
        MergeKeyTable::with_custom(
            "example.com",
            "v1",
            "Widget",
            &json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
                "ports": {"type": "array", "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "properties": {
                              "name": {"type": "string"}, "port": {"type": "integer"}}}},
                "tags": {"type": "array", "x-kubernetes-list-type": "set",
                         "items": {"type": "string"}},
                "args": {"type": "array", "items": {"type": "string"}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}}}),
        )
    }

    fn widget(spec: Value) -> Value {
        json!({"apiVersion": "example.com/v1", "kind": "Widget",
               "metadata": {"name": "w", "labels": {"a": "1"}}, "spec": spec})
    }

    #[test]
    fn list_types_of_the_schema_decide_ownership() {
        let t = table();
        let live = apply(
            None,
            &widget(json!({"ports": [{"name": "http", "port": 80}], "tags": ["x"], "args": ["a"]})),
            "alice",
            false,
            &t,
            T0,
        )
        .unwrap();
        // Bob adds his own port and tag: list-map and set items merge, no conflict...
        let merged = apply(
            Some(&live),
            &widget(json!({"ports": [{"name": "https", "port": 443}], "tags": ["y"]})),
            "bob",
            false,
            &t,
            T0,
        )
        .unwrap();
        assert_eq!(merged["spec"]["ports"].as_array().unwrap().len(), 2);
        assert_eq!(merged["spec"]["tags"], json!(["x", "y"]));
        let bob = managed_fields(&merged)
            .into_iter()
            .find(|e| e.manager == "bob")
            .unwrap();
        let v1 = bob.fields.to_fields_v1();
        assert!(
            v1.pointer("/f:spec/f:ports/k:{\"name\":\"https\"}")
                .is_some(),
            "{v1}"
        );
        assert!(v1.pointer("/f:spec/f:tags/v:\"y\"").is_some(), "{v1}");
        assert!(v1.pointer("/f:metadata/f:labels/f:a").is_some(), "{v1}");
        // ...while an atomic list set differently by bob conflicts with alice.
        let err = apply(
            Some(&merged),
            &widget(json!({"args": ["b"]})),
            "bob",
            false,
            &t,
            T0,
        )
        .unwrap_err();
        assert!(err.to_string().contains(".spec.args"), "{err}");
    }

    #[test]
    fn other_kinds_and_builtins_are_unaffected() {
        let t = table();
        assert!(matches!(t.root("example.com/v2", "Widget"), Ty::Scalar));
        assert!(matches!(t.root("apps/v1", "Deployment"), Ty::Struct(_)));
        assert!(matches!(t.root("example.com/v1", "Widget"), Ty::Struct(_)));
    }
}
