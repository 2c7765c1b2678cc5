//! `ResourceDescriptor`: everything that differs per kind, as data. The REST machinery in
//! `registry::rest` is written once and reads these.

use std::any::TypeId;

use k8s_openapi::{ListableResource, NamespaceResourceScope, Resource};
use schemars::JsonSchema;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

use super::strategy::Strategy;

/// Where the scale subresource reads and writes its numbers in the parent object.
#[derive(Clone, Copy, Debug)]
pub struct ScaleSpec {
    /// JSON pointer of the desired replica count (`/spec/replicas`).
    pub spec_replicas: &'static str,
    /// JSON pointer of the observed replica count (`/status/replicas`).
    pub status_replicas: &'static str,
    /// JSON pointer of the label selector (a `LabelSelector` or a plain map for RCs).
    pub selector: &'static str,
}

/// Functions generated from the kind's k8s-openapi type.
#[derive(Clone, Copy)]
pub struct TypedCodec {
    /// Decodes into the typed struct and serializes back: the shape check, and the canonical form
    /// (fields the type does not know are missing from the result).
    pub roundtrip: fn(&Value) -> Result<Value, String>,
    /// The kind's JSON schema reference (for OpenAPI).
    pub schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    /// The list kind's JSON schema (k8s-openapi's `List<T>` has none of its own).
    pub list_schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
}

/// Everything the generic REST path needs to know about one kind.
pub struct ResourceDescriptor {
    /// API group ("" for core).
    pub group: &'static str,
    /// API version ("v1").
    pub version: &'static str,
    /// Kind ("Pod").
    pub kind: &'static str,
    /// List kind ("PodList").
    pub list_kind: &'static str,
    /// Plural resource name, the URL segment ("pods").
    pub plural: &'static str,
    /// Singular name ("pod").
    pub singular: &'static str,
    /// Namespaced (true) or cluster-scoped (false).
    pub namespaced: bool,
    /// Short names for kubectl ("po").
    pub short_names: &'static [&'static str],
    /// Categories ("all").
    pub categories: &'static [&'static str],
    /// Has a `status` subresource: the main resource ignores status changes and vice versa.
    pub status_subresource: bool,
    /// Has a `scale` subresource.
    pub scale: Option<ScaleSpec>,
    /// Typed decode/encode and schema from k8s-openapi.
    pub codec: TypedCodec,
    /// Per-kind defaulting, validation and update preparation.
    pub strategy: &'static dyn Strategy,
}

impl ResourceDescriptor {
    /// `apiVersion` string ("v1", "apps/v1").
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The store key prefix of this resource: `/<group or core>/<plural>/`.
    pub fn key_prefix(&self) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        format!("/{group}/{}/", self.plural)
    }

    /// The store key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}{}/{}", self.key_prefix(), namespace.unwrap_or("_"), name)
    }

    /// The store key prefix of one namespace's objects (or all objects when None).
    pub fn namespace_prefix(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}{ns}/", self.key_prefix()),
            _ => self.key_prefix(),
        }
    }

    /// Upstream's `group/resource` spelling for messages (`deployments.apps`).
    pub fn qualified(&self) -> String {
        crate::status::qualified_resource(self.group, self.plural)
    }
}

/// Builder for a descriptor from a k8s-openapi type: identity comes from the type itself.
pub struct Describe {
    inner: ResourceDescriptor,
}

impl Describe {
    /// Starts a descriptor for `K`, with the given singular name and strategy.
    pub fn of<K>(strategy: &'static dyn Strategy) -> Self
    where
        K: Resource + ListableResource + DeserializeOwned + Serialize + JsonSchema + 'static,
    {
        let namespaced = TypeId::of::<K::Scope>() == TypeId::of::<NamespaceResourceScope>();
        Describe {
            inner: ResourceDescriptor {
                group: K::GROUP,
                version: K::VERSION,
                kind: K::KIND,
                list_kind: K::LIST_KIND,
                plural: K::URL_PATH_SEGMENT,
                singular: "",
                namespaced,
                short_names: &[],
                categories: &[],
                status_subresource: false,
                scale: None,
                codec: TypedCodec {
                    roundtrip: roundtrip::<K>,
                    schema: |generator| generator.subschema_for::<K>(),
                    list_schema: ferrokube_openapi::list_schema_of::<K>,
                },
                strategy,
            },
        }
    }

    /// Short names.
    pub fn short(mut self, names: &'static [&'static str]) -> Self {
        self.inner.short_names = names;
        self
    }

    /// Categories.
    pub fn categories(mut self, categories: &'static [&'static str]) -> Self {
        self.inner.categories = categories;
        self
    }

    /// Adds the status subresource.
    pub fn status(mut self) -> Self {
        self.inner.status_subresource = true;
        self
    }

    /// Adds the scale subresource with upstream's usual paths.
    pub fn scale(mut self, selector: &'static str) -> Self {
        self.inner.scale = Some(ScaleSpec {
            spec_replicas: "/spec/replicas",
            status_replicas: "/status/replicas",
            selector,
        });
        self
    }

    /// Finishes the descriptor; the singular name is the lowercased kind.
    pub fn build(self, singular: &'static str) -> ResourceDescriptor {
        let mut inner = self.inner;
        inner.singular = singular;
        inner
    }
}

fn roundtrip<K: DeserializeOwned + Serialize>(value: &Value) -> Result<Value, String> {
    let typed: K = K::deserialize(value).map_err(|e| e.to_string())?;
    serde_json::to_value(&typed).map_err(|e| e.to_string())
}
