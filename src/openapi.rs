//! The OpenAPI documents of what we serve, generated from the registry table.

use std::path::Path;
use std::sync::Arc;

use ferrokube_merge::{ListKind, MergeKeyTable, StructDef, Ty};
use ferrokube_openapi::{ApiKind, Documents, OpenApiError, SchemaFn};
use serde_json::{json, Map, Value};

use crate::aggregator::openapi::RemoteSpec;
use crate::aggregator::Aggregator;
use crate::registry::descriptor::Codec;
use crate::registry::{kinds::builtin_kinds, Registry, ResourceDescriptor};

/// One `ApiKind` per served kind, as the OpenAPI generator needs them.
pub fn api_kinds<'a>(kinds: impl IntoIterator<Item = &'a ResourceDescriptor>) -> Vec<ApiKind> {
    kinds
        .into_iter()
        .map(|d| {
            let (schema, list_schema) = schema_fns(d);
            ApiKind {
                group: d.group.to_string(),
                version: d.version.to_string(),
                kind: d.kind.to_string(),
                plural: d.plural.to_string(),
                namespaced: d.namespaced,
                verbs: d.verbs().iter().map(|v| v.to_string()).collect(),
                subresources: ["status", "scale"]
                    .iter()
                    .filter(|s| d.subresource(s).is_some())
                    .map(|s| s.to_string())
                    .collect(),
                schema,
                list_schema,
            }
        })
        .collect()
}

/// The schema registrars of a kind: k8s-openapi's for built-ins, the CRD version's schema for
/// custom resources.
fn schema_fns(d: &ResourceDescriptor) -> (SchemaFn, SchemaFn) {
    match &d.codec {
        Codec::Typed(typed) => (Arc::new(typed.schema), Arc::new(typed.list_schema)),
        Codec::Custom(custom) => {
            let name = crate::crd::openapi::definition_name(&d.group, &d.version, &d.kind);
            let raw = custom.schema.raw().clone();
            let selectable = custom.selectable_fields.clone();
            let item_name = name.clone();
            let schema: SchemaFn = Arc::new(move |generator| {
                crate::crd::openapi::register(generator, &item_name, &raw, &selectable)
            });
            let (kind, list_kind, plural) = (d.kind.clone(), d.list_kind.clone(), d.plural.clone());
            let list: SchemaFn = Arc::new(move |generator| {
                crate::crd::openapi::register_list(generator, &name, &kind, &list_kind, &plural)
            });
            (schema, list)
        }
    }
}

/// Generates the documents for the built-in kinds, with upstream's patch and list extensions.
pub fn generate() -> Result<Documents, OpenApiError> {
    generate_for(builtin_kinds().iter())
}

/// Generates the documents for the given kinds.
pub fn generate_for<'a>(
    kinds: impl IntoIterator<Item = &'a ResourceDescriptor>,
) -> Result<Documents, OpenApiError> {
    let kinds: Vec<&ResourceDescriptor> = kinds.into_iter().collect();
    let docs = ferrokube_openapi::generate(&api_kinds(kinds.iter().copied()))?;
    let custom: Vec<(String, Value)> = kinds
        .iter()
        .filter_map(|d| {
            let name = crate::crd::openapi::definition_name(&d.group, &d.version, &d.kind);
            Some((name, d.custom()?.schema.raw().clone()))
        })
        .collect();
    finish(&docs, &custom)
}

/// The OpenAPI router over the documents of what `registry` serves now. Built lazily and kept
/// until the served kinds change (a CRD comes, changes or goes), then rebuilt on next use.
pub async fn router(registry: &Registry, aggregator: &Aggregator) -> Result<axum::Router, String> {
    // Keyed by registry too: generations of two registries in one process (benchmarks) may
    // coincide.
    /// (registry address, registry generation, aggregated specs' generation).
    type Key = (usize, u64, u64);
    static CACHE: tokio::sync::Mutex<Option<(Key, axum::Router)>> =
        tokio::sync::Mutex::const_new(None);
    let mut cache = CACHE.lock().await;
    let key = (
        registry as *const Registry as usize,
        registry.generation(),
        aggregator.specs.generation(),
    );
    if let Some((built, router)) = cache.as_ref() {
        if *built == key {
            return Ok(router.clone());
        }
    }
    let kinds = registry.kinds();
    let remote = aggregator.specs.snapshot();
    let docs = tokio::task::spawn_blocking(move || {
        with_remote(generate_for(kinds.iter().map(|k| k.as_ref()))?, &remote)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    let router = ferrokube_openapi::router(Arc::new(docs));
    *cache = Some((key, router.clone()));
    Ok(router)
}

/// `docs` with the extension servers' documents: v2 merged in, v3 group-versions added.
fn with_remote(docs: Documents, remote: &[RemoteSpec]) -> Result<Documents, OpenApiError> {
    if remote.is_empty() {
        return Ok(docs);
    }
    let mut v2: Value =
        serde_json::from_slice(&docs.v2.json).map_err(|source| OpenApiError::Parse {
            what: "v2".into(),
            source,
        })?;
    let mut v3: Vec<(String, Vec<u8>)> = docs
        .v3
        .iter()
        .map(|(gv, doc)| (gv.clone(), doc.json.to_vec()))
        .collect();
    for spec in remote {
        if let Some(theirs) = &spec.v2 {
            crate::aggregator::openapi::merge_v2(&mut v2, theirs);
        }
        let served_here = docs.v3.contains_key(&spec.group_version);
        if let (Some(doc), false) = (&spec.v3, served_here) {
            let bytes = serde_json::to_vec(doc).map_err(OpenApiError::Serialize)?;
            v3.push((spec.group_version.clone(), bytes));
        }
    }
    let v2 = serde_json::to_vec(&v2).map_err(OpenApiError::Serialize)?;
    Documents::from_json(&v2, v3)
}

/// Adds `x-kubernetes-patch-merge-key`, `-patch-strategy`, `-list-type`, `-list-map-keys` and
/// `-map-type` to every definition the merge-key table describes: kubectl's client-side apply
/// and `kubectl diff` compute strategic merge patches from exactly these (without them every
/// list would be replaced, and a re-apply would never be "unchanged").
pub fn with_merge_extensions(docs: &Documents) -> Result<Documents, OpenApiError> {
    finish(docs, &[])
}

/// The merge extensions, and the v2 form of the CRD definitions in `custom` (name and
/// `openAPIV3Schema`): the generator writes one schema for both documents, v2 publishes a
/// reduced one.
fn finish(docs: &Documents, custom: &[(String, Value)]) -> Result<Documents, OpenApiError> {
    let parse = |what: &str, bytes: &[u8]| {
        serde_json::from_slice::<Value>(bytes).map_err(|source| OpenApiError::Parse {
            what: what.to_string(),
            source,
        })
    };
    let mut v2 = parse("v2", &docs.v2.json)?;
    if let Some(defs) = v2.get_mut("definitions").and_then(Value::as_object_mut) {
        annotate_definitions(defs);
        for (name, raw) in custom {
            if let Some(def) = defs.get_mut(name) {
                *def = crate::crd::openapi_v2::definition(raw, def);
            }
        }
    }
    let mut v3 = Vec::new();
    for (group_version, doc) in &docs.v3 {
        let mut value = parse(group_version, &doc.json)?;
        if let Some(defs) = value
            .pointer_mut("/components/schemas")
            .and_then(Value::as_object_mut)
        {
            annotate_definitions(defs);
        }
        let bytes = serde_json::to_vec(&value).map_err(OpenApiError::Serialize)?;
        v3.push((group_version.clone(), bytes));
    }
    let v2 = serde_json::to_vec(&v2).map_err(OpenApiError::Serialize)?;
    Documents::from_json(&v2, v3)
}

/// Every struct of the merge-key table, in table order.
fn table_structs() -> impl Iterator<Item = &'static StructDef> {
    let table = MergeKeyTable::builtin();
    (0..).map_while(move |i| table.struct_def(i))
}

fn annotate_definitions(defs: &mut Map<String, Value>) {
    for def in table_structs() {
        let Some(Value::Object(schema)) = defs.get_mut(def.name) else {
            continue;
        };
        if def.atomic {
            schema.insert("x-kubernetes-map-type".into(), json!("atomic"));
        }
        let Some(Value::Object(props)) = schema.get_mut("properties") else {
            continue;
        };
        for field in def.fields {
            let Some(Value::Object(prop)) = props.get_mut(field.name) else {
                continue;
            };
            for (key, value) in field_extensions(field) {
                prop.insert(key.into(), value);
            }
        }
    }
}

/// The extensions upstream puts on one property.
fn field_extensions(field: &ferrokube_merge::FieldDef) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    if let Some(key) = field.merge_key {
        out.push(("x-kubernetes-patch-merge-key", json!(key)));
    }
    let strategy: Vec<&str> = [
        (field.strategy.merge, "merge"),
        (field.strategy.retain_keys, "retainKeys"),
        (field.strategy.replace, "replace"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| *name)
    .collect();
    if !strategy.is_empty() {
        out.push(("x-kubernetes-patch-strategy", json!(strategy.join(","))));
    }
    match field.ty {
        Ty::List(list) => {
            let kind = match list.kind {
                ListKind::Atomic => "atomic",
                ListKind::Set => "set",
                ListKind::Map => "map",
            };
            out.push(("x-kubernetes-list-type", json!(kind)));
            if list.kind == ListKind::Map {
                out.push(("x-kubernetes-list-map-keys", json!(list.keys)));
            }
        }
        Ty::Map(map) if map.atomic => out.push(("x-kubernetes-map-type", json!("atomic"))),
        _ => {}
    }
    out
}

/// Writes the documents into `dir` (the repository's `openapi/` folder).
pub fn write(dir: &Path) -> anyhow::Result<()> {
    generate()?.write_to(dir)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn property(doc: &Value, defs: &str, def: &str, field: &str) -> Value {
        doc.pointer(defs)
            .and_then(|d| d.get(def))
            .and_then(|d| d.pointer(&format!("/properties/{field}")))
            .cloned()
            .unwrap_or(Value::Null)
    }

    #[test]
    fn documents_carry_upstream_patch_extensions() {
        let docs = generate().expect("generate");
        let v2: Value = serde_json::from_slice(&docs.v2.json).expect("v2 json");
        let v3: Value = serde_json::from_slice(&docs.v3["api/v1"].json).expect("v3 json");
        for (doc, defs) in [(&v2, "/definitions"), (&v3, "/components/schemas")] {
            let ports = property(doc, defs, "io.k8s.api.core.v1.ServiceSpec", "ports");
            assert_eq!(ports["x-kubernetes-patch-merge-key"], "port");
            assert_eq!(ports["x-kubernetes-patch-strategy"], "merge");
            assert_eq!(ports["x-kubernetes-list-type"], "map");
            assert_eq!(
                ports["x-kubernetes-list-map-keys"],
                json!(["port", "protocol"])
            );
            let volumes = property(doc, defs, "io.k8s.api.core.v1.PodSpec", "volumes");
            assert_eq!(volumes["x-kubernetes-patch-strategy"], "merge,retainKeys");
            let finalizers = property(
                doc,
                defs,
                "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                "finalizers",
            );
            assert_eq!(finalizers["x-kubernetes-list-type"], "set");
        }
        let selector =
            v2.pointer("/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector");
        assert_eq!(
            selector.map(|s| &s["x-kubernetes-map-type"]),
            Some(&json!("atomic"))
        );
    }
}
