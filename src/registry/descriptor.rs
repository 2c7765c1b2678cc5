//! `ResourceDescriptor`: everything that differs per kind, as data. The REST machinery in
//! `registry::rest` is written once and reads these.

use std::any::TypeId;
use std::sync::{Arc, RwLock};

use ferrokube_apimachinery::fields::FieldAttrs;
use ferrokube_apimachinery::printers::Printer;
use ferrokube_apimachinery::validation::{KindValidator, NameRule};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{ListableResource, NamespaceResourceScope, Resource};
use schemars::JsonSchema;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

use super::hooks::StorageHooks;
use super::strategy::Strategy;
use super::subresource::{ActionFn, Subresource};

/// Verbs a stored kind supports (discovery and OpenAPI).
pub const STORED_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Verbs of a stored kind whose collection cannot be deleted in one request (upstream's
/// namespaces: each must go through its own finalization).
pub const STORED_VERBS_WITHOUT_DELETECOLLECTION: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// Verbs of a create-only kind.
pub const CREATE_ONLY_VERBS: &[&str] = &["create"];

/// Verbs of a kind computed on each read (see [`ComputedKind`]).
pub const COMPUTED_VERBS: &[&str] = &["get", "list"];

/// A read-only kind whose objects are computed when read rather than stored (upstream's
/// `componentstatuses` REST): get and list only.
#[derive(Clone, Copy)]
pub struct ComputedKind {
    /// Every object of the kind, now.
    pub list: ComputeFn,
    /// A deprecation warning every response carries.
    pub warning: Option<&'static str>,
    /// Reads one object, with the kind's own NotFound (None: found in `list`, else the
    /// generic NotFound).
    pub get: Option<ComputeOneFn>,
}

impl std::fmt::Debug for ComputedKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComputedKind")
            .field("warning", &self.warning)
            .finish_non_exhaustive()
    }
}

/// Lists a computed kind's objects.
pub type ComputeFn =
    for<'a> fn(
        &'a super::Registry,
    ) -> futures::future::BoxFuture<'a, crate::status::ApiResult<Vec<Value>>>;

/// Reads one object of a computed kind by namespace and name.
pub type ComputeOneFn =
    for<'a> fn(
        &'a super::Registry,
        Option<&'a str>,
        &'a str,
    ) -> futures::future::BoxFuture<'a, crate::status::ApiResult<Value>>;

/// Where the scale subresource reads and writes its numbers in the parent object.
#[derive(Clone, Debug)]
pub struct ScaleSpec {
    /// JSON pointer of the desired replica count (`/spec/replicas`).
    pub spec_replicas: String,
    /// JSON pointer of the observed replica count (`/status/replicas`).
    pub status_replicas: String,
    /// JSON pointer of the label selector: a `LabelSelector`, a plain map (RCs), or the
    /// serialized selector string custom resources keep (`labelSelectorPath`). None: no selector.
    pub selector: Option<String>,
}

/// How a built-in kind served in several versions maps one served version onto the storage
/// version (upstream's conversion functions through the internal type): both versions share
/// one store key, objects are stored in the storage version and converted on every read.
#[derive(Clone, Copy)]
pub struct VersionConversion {
    /// The `apiVersion` objects are stored at (`autoscaling/v2`).
    pub storage_api_version: &'static str,
    /// This version's object to the storage version's (defaults of the storage version included).
    pub to_storage: fn(&Value) -> Value,
    /// A stored object to this version's.
    pub from_storage: fn(&Value) -> Value,
}

impl std::fmt::Debug for VersionConversion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionConversion")
            .field("storage_api_version", &self.storage_api_version)
            .finish_non_exhaustive()
    }
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

/// How a kind's bodies are checked and canonicalized.
#[derive(Clone)]
pub enum Codec {
    /// A built-in kind: the k8s-openapi type decides.
    Typed(TypedCodec),
    /// A custom resource: the CRD version's structural schema decides.
    Custom(Arc<CustomCodec>),
}

/// One `additionalPrinterColumns` entry of a CRD version.
#[derive(Clone, Debug, PartialEq)]
pub struct PrinterColumn {
    /// Column header.
    pub name: String,
    /// OpenAPI type (`integer`, `string`, `date`, ...).
    pub type_: String,
    /// OpenAPI format, if any.
    pub format: String,
    /// Human description.
    pub description: String,
    /// 0 shows by default; higher only with `-o wide`.
    pub priority: i64,
    /// The JSONPath of the value (`.spec.replicas`).
    pub json_path: String,
}

/// What serving one version of a CustomResourceDefinition needs beyond the names.
#[derive(Clone, Debug)]
pub struct CustomCodec {
    /// The CRD's name (`widgets.example.com`).
    pub crd_name: String,
    /// The compiled structural schema of this version.
    pub schema: ferrokube_apiextensions::Schema,
    /// List/map semantics of this version for server-side apply and managedFields.
    pub merge_table: ferrokube_merge::MergeKeyTable,
    /// The `apiVersion` objects are stored at (conversion None rewrites only this).
    pub storage_api_version: String,
    /// Table columns (upstream's defaults when the CRD names none).
    pub columns: Vec<PrinterColumn>,
    /// The CRD is being deleted: new objects are refused.
    pub terminating: bool,
    /// The version's `selectableFields` JSON paths (`.spec.color`), for the OpenAPI documents.
    pub selectable_fields: Vec<String>,
    /// The CRD's conversion webhook (strategy Webhook); None: strategy None.
    pub webhook: Option<Arc<crate::crd::conversion::ConversionWebhook>>,
}

/// Everything the generic REST path needs to know about one kind.
pub struct ResourceDescriptor {
    /// API group ("" for core).
    pub group: String,
    /// API version ("v1").
    pub version: String,
    /// Kind ("Pod").
    pub kind: String,
    /// List kind ("PodList").
    pub list_kind: String,
    /// Plural resource name, the URL segment ("pods").
    pub plural: String,
    /// Singular name ("pod").
    pub singular: String,
    /// Namespaced (true) or cluster-scoped (false).
    pub namespaced: bool,
    /// Short names for kubectl ("po").
    pub short_names: Vec<String>,
    /// Categories ("all").
    pub categories: Vec<String>,
    /// Has a `status` subresource: the main resource ignores status changes and vice versa.
    pub status_subresource: bool,
    /// Has a `scale` subresource.
    pub scale: Option<ScaleSpec>,
    /// Typed (built-in) or schema-driven (custom) decoding.
    pub codec: Codec,
    /// Per-kind defaulting, validation and update preparation.
    pub strategy: &'static dyn Strategy,
    /// The rule `metadata.name` must follow.
    pub name_rule: NameRule,
    /// The kind's own field checks beyond ObjectMeta (upstream's `Validate<Kind>`).
    pub validator: Option<KindValidator>,
    /// Which fields a `fieldSelector` may name, and their values.
    pub field_attrs: FieldAttrs,
    /// Table columns and rows of built-in kinds (custom kinds print their CRD's columns).
    pub printer: Printer,
    /// Subresources beyond `status` and `scale` (which follow from the fields above), with
    /// their handlers.
    pub extra_subresources: Vec<Subresource>,
    /// Storage hooks run inside each write's transaction (see [`super::hooks`]).
    pub hooks: RwLock<Vec<Arc<dyn StorageHooks>>>,
    /// A kind that is never stored: `create` answers through this action (the review APIs,
    /// like upstream's create-only REST storages), every other verb is refused.
    pub create_only: Option<ActionFn>,
    /// A kind that is never stored: get and list compute its objects.
    pub computed: Option<ComputedKind>,
    /// A built-in kind served in a version other than its storage version.
    pub conversion: Option<VersionConversion>,
    /// `DELETE` on the collection is served (upstream refuses it for namespaces).
    pub delete_collection: bool,
}

impl ResourceDescriptor {
    /// Every subresource the kind serves: `status` and `scale` when it has them, then the
    /// kind's own ones, in discovery order.
    pub fn subresources(&self) -> Vec<Subresource> {
        let mut subs = Vec::new();
        if self.status_subresource {
            subs.push(Subresource::STATUS);
        }
        if self.scale.is_some() {
            subs.push(Subresource::SCALE);
        }
        subs.extend(self.extra_subresources.iter().copied());
        subs
    }

    /// The verbs the kind supports, as discovery lists them.
    pub fn verbs(&self) -> &'static [&'static str] {
        if self.create_only.is_some() {
            CREATE_ONLY_VERBS
        } else if self.computed.is_some() {
            COMPUTED_VERBS
        } else if !self.delete_collection {
            STORED_VERBS_WITHOUT_DELETECOLLECTION
        } else {
            STORED_VERBS
        }
    }

    /// The named subresource, if the kind serves it.
    pub fn subresource(&self, name: &str) -> Option<Subresource> {
        self.subresources().into_iter().find(|s| s.name == name)
    }

    /// The storage hooks installed on this kind, in order.
    pub fn hooks(&self) -> Vec<Arc<dyn StorageHooks>> {
        self.hooks.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Installs a storage hook (runs after those installed before it).
    pub fn add_hook(&self, hook: Arc<dyn StorageHooks>) {
        self.hooks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(hook);
    }

    /// `apiVersion` string ("v1", "apps/v1").
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The store key prefix of this resource: `/<group or core>/<plural>/`. A version served
    /// converted from another group's storage (events.k8s.io from core) shares that group's keys.
    pub fn key_prefix(&self) -> String {
        let storage_group = match &self.conversion {
            Some(conv) => conv
                .storage_api_version
                .rsplit_once('/')
                .map_or("", |(group, _)| group),
            None => self.group.as_str(),
        };
        let group = if storage_group.is_empty() {
            "core"
        } else {
            storage_group
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
        crate::status::qualified_resource(&self.group, &self.plural)
    }

    /// The custom-resource side of this kind, if it is one.
    pub fn custom(&self) -> Option<&CustomCodec> {
        match &self.codec {
            Codec::Custom(c) => Some(c),
            Codec::Typed(_) => None,
        }
    }

    /// Whether objects of this kind may travel as protobuf (upstream serves custom resources
    /// as JSON and YAML only).
    pub fn protobuf(&self) -> bool {
        matches!(self.codec, Codec::Typed(_))
    }

    /// Decodes a body into the kind's canonical form: fields the kind does not know are dropped
    /// and returned as dotted paths (`spec.foo`), custom resources get their schema defaults.
    pub fn canonicalize(&self, body: &Value) -> Result<(Value, Vec<String>), String> {
        match &self.codec {
            Codec::Typed(typed) => {
                let canonical = (typed.roundtrip)(body)?;
                let mut unknown = Vec::new();
                super::admit::unknown_fields(body, &canonical, "", &mut unknown);
                Ok((canonical, unknown))
            }
            Codec::Custom(custom) => {
                let mut obj = body.clone();
                let mut unknown = drop_unknown_metadata(&mut obj);
                let pruned = custom.schema.prune(&mut obj);
                custom.schema.apply_defaults(&mut obj);
                unknown.extend(
                    pruned
                        .into_iter()
                        .map(|p| p.trim_start_matches('.').to_string()),
                );
                Ok((obj, unknown))
            }
        }
    }

    /// Schema causes of a custom object (none for built-ins, which the typed decode checked).
    pub fn schema_errors(
        &self,
        obj: &Value,
    ) -> Vec<ferrokube_apimachinery::validation::FieldError> {
        self.custom()
            .map(|c| c.schema.validate(obj))
            .unwrap_or_default()
    }

    /// The bytes to store for `obj`: custom resources are kept at their storage version
    /// (strategy None; [`super::convert::storage`] converts through a CRD's webhook).
    pub fn storage_bytes(&self, obj: &Value) -> Vec<u8> {
        if let Some(conv) = &self.conversion {
            if obj.get("apiVersion").and_then(Value::as_str) != Some(conv.storage_api_version) {
                return serde_json::to_vec(&(conv.to_storage)(obj)).unwrap_or_default();
            }
        }
        match self.custom() {
            Some(c)
                if obj.get("apiVersion").and_then(Value::as_str)
                    != Some(c.storage_api_version.as_str()) =>
            {
                let mut copy = obj.clone();
                copy["apiVersion"] = Value::String(c.storage_api_version.clone());
                serde_json::to_vec(&copy).unwrap_or_default()
            }
            _ => serde_json::to_vec(obj).unwrap_or_default(),
        }
    }

    /// Stored bytes as this version serves them. Conversion strategy None: every served version
    /// reads the same objects, only `apiVersion` is rewritten; custom objects also get their
    /// version's schema defaults (see [`served_custom`]). A CRD with a conversion webhook is
    /// served through [`super::convert`] instead, which calls this for objects already at
    /// the requested version.
    pub fn served_bytes(&self, stored: bytes::Bytes) -> bytes::Bytes {
        if let Some(conv) = &self.conversion {
            return match serde_json::from_slice::<Value>(&stored) {
                Ok(obj)
                    if obj.get("apiVersion").and_then(Value::as_str)
                        == Some(conv.storage_api_version) =>
                {
                    let served = (conv.from_storage)(&obj);
                    bytes::Bytes::from(serde_json::to_vec(&served).unwrap_or_default())
                }
                _ => stored,
            };
        }
        match self.custom() {
            Some(custom) => served_custom(custom, self.api_version(), stored),
            None => stored,
        }
    }
}

/// A stored custom object as `api_version` serves it: `apiVersion` rewritten and the version's
/// schema defaults applied. Upstream's storage decoder defaults on every read (get, list,
/// watch), so a default added to the CRD after an object was written shows on that object
/// without a write. Unchanged objects keep their stored bytes.
pub(super) fn served_custom(
    custom: &CustomCodec,
    api_version: String,
    stored: bytes::Bytes,
) -> bytes::Bytes {
    let Ok(original) = serde_json::from_slice::<Value>(&stored) else {
        return stored;
    };
    let mut obj = original.clone();
    if let Some(map) = obj.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(api_version));
    }
    custom.schema.apply_defaults(&mut obj);
    if obj == original {
        return stored;
    }
    bytes::Bytes::from(serde_json::to_vec(&obj).unwrap_or_default())
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
                group: K::GROUP.to_string(),
                version: K::VERSION.to_string(),
                kind: K::KIND.to_string(),
                list_kind: K::LIST_KIND.to_string(),
                plural: K::URL_PATH_SEGMENT.to_string(),
                singular: String::new(),
                namespaced,
                short_names: Vec::new(),
                categories: Vec::new(),
                status_subresource: false,
                scale: None,
                codec: Codec::Typed(TypedCodec {
                    roundtrip: roundtrip::<K>,
                    schema: |generator| generator.subschema_for::<K>(),
                    list_schema: ferrokube_openapi::list_schema_of::<K>,
                }),
                strategy,
                name_rule: NameRule::Dns1123Subdomain,
                validator: None,
                field_attrs: ferrokube_apimachinery::fields::META,
                printer: ferrokube_apimachinery::printers::DEFAULT,
                extra_subresources: Vec::new(),
                hooks: RwLock::new(Vec::new()),
                create_only: None,
                computed: None,
                conversion: None,
                delete_collection: true,
            },
        }
    }

    /// Starts a descriptor for a kind that is never stored (it has no list type): creating one
    /// runs `action`, which answers with the completed object.
    pub fn create_only<K>(strategy: &'static dyn Strategy, action: ActionFn) -> Self
    where
        K: Resource + DeserializeOwned + Serialize + JsonSchema + 'static,
    {
        let namespaced = TypeId::of::<K::Scope>() == TypeId::of::<NamespaceResourceScope>();
        let schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema =
            |generator| generator.subschema_for::<K>();
        Describe {
            inner: ResourceDescriptor {
                group: K::GROUP.to_string(),
                version: K::VERSION.to_string(),
                kind: K::KIND.to_string(),
                list_kind: String::new(),
                plural: K::URL_PATH_SEGMENT.to_string(),
                singular: String::new(),
                namespaced,
                short_names: Vec::new(),
                categories: Vec::new(),
                status_subresource: false,
                scale: None,
                // Nothing lists these kinds: the OpenAPI list slot names the kind itself.
                codec: Codec::Typed(TypedCodec {
                    roundtrip: roundtrip::<K>,
                    schema,
                    list_schema: schema,
                }),
                strategy,
                name_rule: NameRule::Dns1123Subdomain,
                validator: None,
                field_attrs: ferrokube_apimachinery::fields::META,
                printer: ferrokube_apimachinery::printers::DEFAULT,
                extra_subresources: Vec::new(),
                hooks: RwLock::new(Vec::new()),
                create_only: Some(action),
                computed: None,
                conversion: None,
                delete_collection: true,
            },
        }
    }

    /// Makes the kind computed on each read instead of stored (see [`ComputedKind`]).
    pub fn computed(mut self, list: ComputeFn, warning: Option<&'static str>) -> Self {
        self.inner.computed = Some(ComputedKind {
            list,
            warning,
            get: None,
        });
        self
    }

    /// A computed kind's own single-object read (see [`ComputedKind::get`]); after `computed`.
    pub fn computed_get(mut self, get: ComputeOneFn) -> Self {
        if let Some(computed) = self.inner.computed.as_mut() {
            computed.get = Some(get);
        }
        self
    }

    /// Serves this version converted from and to the storage version (see [`VersionConversion`]).
    pub fn converted(mut self, conversion: VersionConversion) -> Self {
        self.inner.conversion = Some(conversion);
        self
    }

    /// The `metadata.name` rule (default: DNS-1123 subdomain).
    pub fn names(mut self, rule: NameRule) -> Self {
        self.inner.name_rule = rule;
        self
    }

    /// The kind's own validation.
    pub fn validate(mut self, validator: KindValidator) -> Self {
        self.inner.validator = Some(validator);
        self
    }

    /// Selectable fields (default: metadata.name and metadata.namespace).
    pub fn fields(mut self, attrs: FieldAttrs) -> Self {
        self.inner.field_attrs = attrs;
        self
    }

    /// Table printer (default: Name, Created At).
    pub fn printer(mut self, printer: Printer) -> Self {
        self.inner.printer = printer;
        self
    }

    /// Adds subresources beyond status and scale.
    pub fn subresources(mut self, subs: &[Subresource]) -> Self {
        self.inner.extra_subresources.extend_from_slice(subs);
        self
    }

    /// Short names.
    pub fn short(mut self, names: &'static [&'static str]) -> Self {
        self.inner.short_names = names.iter().map(|n| n.to_string()).collect();
        self
    }

    /// Categories.
    pub fn categories(mut self, categories: &'static [&'static str]) -> Self {
        self.inner.categories = categories.iter().map(|c| c.to_string()).collect();
        self
    }

    /// Refuses `DELETE` on the collection (405), as upstream does for namespaces.
    pub fn no_delete_collection(mut self) -> Self {
        self.inner.delete_collection = false;
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
            spec_replicas: "/spec/replicas".into(),
            status_replicas: "/status/replicas".into(),
            selector: Some(selector.into()),
        });
        self
    }

    /// Adds a storage hook run inside every write's transaction (see [`super::hooks`]).
    pub fn hook(self, hook: Arc<dyn StorageHooks>) -> Self {
        self.inner.add_hook(hook);
        self
    }

    /// Finishes the descriptor; the singular name is the lowercased kind.
    pub fn build(self, singular: &'static str) -> ResourceDescriptor {
        let mut inner = self.inner;
        inner.singular = singular.to_string();
        inner
    }
}

fn roundtrip<K: DeserializeOwned + Serialize + JsonSchema + 'static>(
    value: &Value,
) -> Result<Value, String> {
    let typed: K = match K::deserialize(value) {
        Ok(typed) => typed,
        Err(e) if e.to_string().contains("null, expected a timestamp") => {
            K::deserialize(&zero_null_condition_times(value)).map_err(|e| e.to_string())?
        }
        Err(e) => return Err(e.to_string()),
    };
    let mut canonical = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    super::quantity_fields::canonicalize::<K>(&mut canonical)?;
    Ok(canonical)
}

/// Go's zero `metav1.Time`, which Go clients send as `null`.
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Go clients send a condition whose `lastTransitionTime` they left unset as `null` (e.g.
/// upstream's e2e status updates), and upstream stores Go's zero time. `metav1.Condition`'s
/// time is required in the typed model, so such nulls become the zero time it means.
fn zero_null_condition_times(value: &Value) -> Value {
    let mut copy = value.clone();
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Array(conditions)) = map.get_mut("conditions") {
                    for c in conditions.iter_mut().filter_map(Value::as_object_mut) {
                        if c.get("lastTransitionTime") == Some(&Value::Null) {
                            c.insert("lastTransitionTime".into(), GO_ZERO_TIME.into());
                        }
                    }
                }
                map.values_mut().for_each(walk);
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut copy);
    copy
}

/// A custom object's `metadata` is ObjectMeta whatever its schema says: fields ObjectMeta does
/// not have are dropped and reported (`metadata.unknownMeta`), as upstream's decoder does.
fn drop_unknown_metadata(obj: &mut Value) -> Vec<String> {
    let mut unknown = Vec::new();
    let Some(meta) = obj.get_mut("metadata") else {
        return unknown;
    };
    let Ok(typed) = serde_json::from_value::<ObjectMeta>(meta.clone()) else {
        return unknown;
    };
    let known = serde_json::to_value(typed).unwrap_or_default();
    super::admit::unknown_fields(meta, &known, "metadata", &mut unknown);
    if !unknown.is_empty() {
        *meta = known;
    }
    unknown
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Service;
    use serde_json::json;

    #[test]
    fn a_condition_time_sent_as_null_is_go_zero_time() {
        let body = json!({"metadata": {"name": "s"}, "status": {"conditions": [
            {"type": "StatusUpdated", "status": "True", "reason": "E2E",
             "message": "Set from e2e test", "lastTransitionTime": null}]}});
        let out = roundtrip::<Service>(&body).expect("accepted as upstream does");
        assert_eq!(
            out["status"]["conditions"][0]["lastTransitionTime"],
            GO_ZERO_TIME
        );
        let bad = json!({"metadata": {"name": "s"}, "spec": {"ports": "x"}});
        assert!(roundtrip::<Service>(&bad).is_err());
    }
}
