//! Building the documents from the served kinds, and keeping them on disk.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;

use bytes::Bytes;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha512};

use crate::error::OpenApiError;
use crate::kind::{group_version_path, ApiKind, SubresourceShape};
use crate::paths::{self, PathItem};
use crate::schema::{self, Gvk};

/// Version string upstream puts in `info.version`; matches the k8s-openapi feature we build with.
const INFO_VERSION: &str = "v1.33.0";
/// File name of the v2 document, as the upstream repository names its committed copy.
const V2_FILE: &str = "swagger.json";
/// Directory holding one v3 file per group-version.
const V3_DIR: &str = "v3";
/// Suffix of v3 files: `api__v1_openapi.json`, `apis__apps__v1_openapi.json`.
const V3_SUFFIX: &str = "_openapi.json";

/// One serialized document with its content hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// Compact JSON, the exact bytes served.
    pub json: Bytes,
    /// Upper-case hex SHA-512 of `json`: the ETag and the `?hash=` of the v3 root.
    pub hash: String,
}

impl Document {
    /// Serializes `value` compactly and hashes it.
    fn from_value(value: &Value) -> Result<Document, OpenApiError> {
        let json = serde_json::to_vec(value).map_err(OpenApiError::Serialize)?;
        Ok(Document::from_bytes(Bytes::from(json)))
    }

    /// Hashes already-serialized bytes.
    fn from_bytes(json: Bytes) -> Document {
        let hash = hex::encode_upper(Sha512::digest(&json));
        Document { json, hash }
    }
}

/// The OpenAPI documents of a server: v2 plus one v3 document per group-version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Documents {
    /// The v2 (swagger 2.0) document served at `/openapi/v2`.
    pub v2: Document,
    /// v3 documents keyed by `api/v1` / `apis/<group>/<version>`.
    pub v3: BTreeMap<String, Document>,
    /// The v3 root (`/openapi/v3`) listing every group-version with its `?hash=` URL.
    pub v3_root: Document,
    /// The v2 document as gnostic protobuf; served under the v2 JSON's ETag, as upstream does.
    pub v2_protobuf: Bytes,
}

impl Documents {
    /// Assembles documents from serialized v2 and v3 JSON (any formatting), re-serializing each
    /// with sorted keys so hashes do not depend on how the input was laid out.
    pub fn from_json(
        v2: &[u8],
        v3: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> Result<Documents, OpenApiError> {
        let parse = |what: &str, bytes: &[u8]| -> Result<Value, OpenApiError> {
            let value: Value =
                serde_json::from_slice(bytes).map_err(|source| OpenApiError::Parse {
                    what: what.to_string(),
                    source,
                })?;
            if !value.is_object() {
                return Err(OpenApiError::NotAnObject(what.to_string()));
            }
            Ok(schema::sorted(&value))
        };
        let v2 = parse(V2_FILE, v2)?;
        let mut docs = BTreeMap::new();
        for (group_version, bytes) in v3 {
            let value = parse(&group_version, &bytes)?;
            docs.insert(group_version, Document::from_value(&value)?);
        }
        Documents::assemble(&v2, docs)
    }

    /// Serializes the (key-sorted) v2 document in both encodings and builds the v3 root from
    /// the per-group-version hashes.
    fn assemble(v2: &Value, v3: BTreeMap<String, Document>) -> Result<Documents, OpenApiError> {
        let v2_protobuf = Bytes::from(crate::v2proto::encode_v2(v2));
        let v2 = Document::from_value(v2)?;
        let mut paths = Map::new();
        for (group_version, doc) in &v3 {
            let url = format!("/openapi/v3/{group_version}?hash={}", doc.hash);
            paths.insert(group_version.clone(), json!({ "serverRelativeURL": url }));
        }
        let v3_root = Document::from_value(&json!({ "paths": paths }))?;
        Ok(Documents {
            v2,
            v3,
            v3_root,
            v2_protobuf,
        })
    }

    /// Writes `swagger.json` and `v3/<gv>_openapi.json` under `dir`, pretty-printed for review.
    pub fn write_to(&self, dir: &Path) -> io::Result<()> {
        let v3_dir = dir.join(V3_DIR);
        std::fs::create_dir_all(&v3_dir)?;
        write_pretty(&dir.join(V2_FILE), &self.v2.json)?;
        let keep: BTreeSet<String> = self.v3.keys().map(|gv| v3_file_name(gv)).collect();
        // Group-versions no longer served must not linger as stale files.
        for entry in std::fs::read_dir(&v3_dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(V3_SUFFIX) && !keep.contains(&name) {
                std::fs::remove_file(entry.path())?;
            }
        }
        for (group_version, doc) in &self.v3 {
            write_pretty(&v3_dir.join(v3_file_name(group_version)), &doc.json)?;
        }
        Ok(())
    }

    /// Reads documents written by [`Documents::write_to`].
    pub fn load_from(dir: &Path) -> Result<Documents, OpenApiError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| OpenApiError::Io {
                path: path.to_path_buf(),
                source,
            })
        };
        let v2 = read(&dir.join(V2_FILE))?;
        let v3_dir = dir.join(V3_DIR);
        let entries = std::fs::read_dir(&v3_dir).map_err(|source| OpenApiError::Io {
            path: v3_dir.clone(),
            source,
        })?;
        let mut v3 = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| OpenApiError::Io {
                path: v3_dir.clone(),
                source,
            })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(V3_SUFFIX) {
                v3.push((stem.replace("__", "/"), read(&entry.path())?));
            }
        }
        Documents::from_json(&v2, v3)
    }
}

/// `apis/apps/v1` → `apis__apps__v1_openapi.json`, the upstream repository's naming.
fn v3_file_name(group_version: &str) -> String {
    format!("{}{V3_SUFFIX}", group_version.replace('/', "__"))
}

fn write_pretty(path: &Path, json: &[u8]) -> io::Result<()> {
    let value: Value = serde_json::from_slice(json).map_err(io::Error::other)?;
    let mut text = serde_json::to_vec_pretty(&value).map_err(io::Error::other)?;
    text.push(b'\n');
    std::fs::write(path, text)
}

/// Generates the v2 document and one v3 document per served group-version.
pub fn generate(kinds: &[ApiKind]) -> Result<Documents, OpenApiError> {
    let mut generator = schema::new_generator();
    // Types every group-version's operations refer to, registered up front.
    generator.subschema_for::<meta::Status>();
    generator.subschema_for::<meta::DeleteOptions>();
    generator.subschema_for::<meta::WatchEvent<()>>();
    generator.subschema_for::<meta::Patch>();
    generator.subschema_for::<meta::APIResourceList>();
    generator.subschema_for::<k8s_openapi::api::autoscaling::v1::Scale>();

    let mut sorted_kinds: Vec<&ApiKind> = kinds.iter().collect();
    sorted_kinds.sort_by(|a, b| {
        (a.group.as_str(), a.version.as_str(), a.kind.as_str()).cmp(&(
            b.group.as_str(),
            b.version.as_str(),
            b.kind.as_str(),
        ))
    });

    // Per group-version: path items; per definition: the GVKs it carries.
    let mut by_group_version: BTreeMap<(String, String), Vec<PathItem>> = BTreeMap::new();
    let mut gvks: BTreeMap<String, BTreeSet<Gvk>> = BTreeMap::new();
    for kind in &sorted_kinds {
        let item = (kind.schema)(&mut generator);
        let list = (kind.list_schema)(&mut generator);
        let item_name = schema::ref_name(item.as_value())
            .ok_or_else(|| OpenApiError::NotAReference(kind.kind.clone()))?;
        let list_name = schema::ref_name(list.as_value())
            .ok_or_else(|| OpenApiError::NotAReference(format!("{}List", kind.kind)))?;
        let gvk = |k: String| Gvk::new(&kind.group, &kind.version, &k);
        gvks.entry(item_name.clone())
            .or_default()
            .insert(gvk(kind.kind.clone()));
        let list_kind = list_name
            .rsplit('.')
            .next()
            .unwrap_or(&list_name)
            .to_string();
        gvks.entry(list_name.clone())
            .or_default()
            .insert(gvk(list_kind));
        // Upstream registers the option and event types in every group-version.
        for shared in ["DeleteOptions", "WatchEvent"] {
            gvks.entry(format!("io.k8s.apimachinery.pkg.apis.meta.v1.{shared}"))
                .or_default()
                .insert(gvk(shared.to_string()));
        }
        if kind.has_subresource("scale") {
            gvks.entry(paths::SCALE.to_string())
                .or_default()
                .insert(Gvk::new("autoscaling", "v1", "Scale"));
        }
        let bodies = register_bodies(kind, &mut generator, &mut gvks)?;
        by_group_version
            .entry((kind.group.clone(), kind.version.clone()))
            .or_default()
            .extend(paths::kind_paths(kind, &item_name, &list_name, &bodies));
    }
    gvks.entry(paths::STATUS.to_string())
        .or_default()
        .insert(Gvk::new("", "v1", "Status"));

    let mut definitions: BTreeMap<String, Value> = generator
        .definitions()
        .iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    for (name, definition) in definitions.iter_mut() {
        schema::normalize_definition(name, definition);
        if let Some(list) = gvks.get(name) {
            schema::set_gvks(definition, list);
        }
    }

    let mut v2_paths = Map::new();
    let mut v3_docs = BTreeMap::new();
    for ((group, version), mut items) in by_group_version {
        items.push(paths::discovery_path(&group, &version));
        items.sort_by(|a, b| a.path.cmp(&b.path));
        let mut v3_paths = Map::new();
        for item in &items {
            v2_paths.insert(item.path.clone(), item.render(false));
            v3_paths.insert(item.path.clone(), item.render(true));
        }
        let v3_paths = Value::Object(v3_paths);
        let mut roots = BTreeSet::new();
        schema::collect_refs(&v3_paths, &mut roots);
        let schemas: Map<String, Value> = schema::closure(&roots, &definitions)
            .into_iter()
            .map(|(name, def)| {
                let mut v3 = schema::to_v3_schema(&def);
                schema::v3_definition(&name, &mut v3);
                (name, v3)
            })
            .collect();
        let doc = json!({
            "openapi": "3.0.0",
            "info": { "title": "Kubernetes", "version": INFO_VERSION },
            "paths": v3_paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": { "BearerToken": bearer_token() },
            },
        });
        v3_docs.insert(
            group_version_path(&group, &version),
            Document::from_value(&schema::sorted(&doc))?,
        );
    }

    let v2_paths = Value::Object(v2_paths);
    let mut roots = BTreeSet::new();
    schema::collect_refs(&v2_paths, &mut roots);
    let v2_definitions: Map<String, Value> =
        schema::closure(&roots, &definitions).into_iter().collect();
    let v2 = json!({
        "swagger": "2.0",
        "info": { "title": "Kubernetes", "version": INFO_VERSION },
        "paths": v2_paths,
        "definitions": v2_definitions,
        "securityDefinitions": { "BearerToken": bearer_token() },
        "security": [ { "BearerToken": [] } ],
    });
    Documents::assemble(&schema::sorted(&v2), v3_docs)
}

/// Registers the bodies of a kind's create subresources (`pods/eviction`'s policy/v1 Eviction)
/// with their group-version-kinds; answers their definition names by subresource.
fn register_bodies(
    kind: &ApiKind,
    generator: &mut schemars::SchemaGenerator,
    gvks: &mut BTreeMap<String, BTreeSet<Gvk>>,
) -> Result<BTreeMap<String, String>, OpenApiError> {
    let mut bodies = BTreeMap::new();
    for sub in &kind.subresources {
        let SubresourceShape::Create { gvk, schema } = &sub.shape else {
            continue;
        };
        let name = schema::ref_name(schema(generator).as_value())
            .ok_or_else(|| OpenApiError::NotAReference(gvk.2.clone()))?;
        gvks.entry(name.clone())
            .or_default()
            .insert(Gvk::new(&gvk.0, &gvk.1, &gvk.2));
        bodies.insert(sub.name.clone(), name);
    }
    Ok(bodies)
}

/// The bearer-token security scheme both documents declare (the same shape in v2 and v3).
fn bearer_token() -> Value {
    json!({ "description": "Bearer Token authentication", "in": "header", "name": "authorization", "type": "apiKey" })
}
