//! Per-kind strategies: upstream's defaulting (`SetDefaults_*`) and the small create/update/delete
//! decisions that differ per kind. Validation of names, labels and per-kind required fields lives
//! in `ferrokube_apimachinery::validation`; the REST path in `registry::rest` calls both.

mod api_service;
pub mod autoscaling;
mod config_data;
mod core;
pub mod crd;
mod custom;
pub mod events;
mod match_resources;
mod mutating_policy;
mod priority_class;
mod resource;
pub(crate) mod service_account;
mod validating_policy;
mod volume_attributes;
mod volumes;
mod webhook_config;
mod workloads;

use ferrokube_apimachinery::validation::FieldError;
use serde_json::{Map, Value};

pub use self::api_service::API_SERVICE;
pub use self::autoscaling::{HPA_V1, HPA_V1_CONVERSION, HPA_V2};
pub use self::config_data::{CONFIG_MAP, SECRET};
pub(crate) use self::core::qos_class;
pub use self::core::{NAMESPACE, NODE, POD, SERVICE, SERVICE_ACCOUNT};
pub use self::crd::CRD;
pub use self::custom::{CUSTOM_RESOURCE, CUSTOM_RESOURCE_WITH_STATUS};
pub use self::mutating_policy::{MUTATING_POLICY, MUTATING_POLICY_BINDING};
pub use self::priority_class::PRIORITY_CLASS;
pub use self::resource::IMMUTABLE_SPEC;
pub use self::validating_policy::{VALIDATING_POLICY, VALIDATING_POLICY_BINDING};
pub use self::volume_attributes::VOLUME_ATTRIBUTES_CLASS;
pub use self::volumes::{PERSISTENT_VOLUME, PERSISTENT_VOLUME_CLAIM};
pub use self::webhook_config::WEBHOOK_CONFIGURATION;
pub use self::workloads::{
    CRONJOB, DAEMONSET, DEPLOYMENT, JOB, REPLICASET, REPLICATION_CONTROLLER, STATEFULSET,
};

/// What differs per kind in the write path.
pub trait Strategy: Sync + Send {
    /// Fills in defaults, as upstream's defaulting functions do (runs on create and update).
    fn default(&self, _obj: &mut Value) {}
    /// Adjusts an object before it is first stored (e.g. a pod starts Pending).
    fn prepare_create(&self, _obj: &mut Value) {}
    /// Whether `metadata.generation` starts at 1 and rises on every spec change.
    fn tracks_generation(&self) -> bool {
        false
    }
    /// Grace period for a delete request, when deletion is graceful for this object
    /// (None: delete at once). `requested` is DeleteOptions.gracePeriodSeconds.
    fn graceful_delete_seconds(&self, _obj: &Value, _requested: Option<i64>) -> Option<i64> {
        None
    }
    /// Marks an object whose deletion has begun (namespaces turn Terminating).
    fn on_delete(&self, _obj: &mut Value) {}
    /// Kind-specific deletion blockers beyond metadata.finalizers (namespaces: spec.finalizers).
    fn blocks_deletion(&self, _obj: &Value) -> bool {
        false
    }
    /// Whether an update changed what `metadata.generation` counts (upstream: the spec).
    fn generation_changed(&self, new: &Value, old: &Value) -> bool {
        new.get("spec") != old.get("spec")
    }
    /// Kind-specific validation beyond the per-kind field rules (`old` on update).
    fn validate(&self, _new: &Value, _old: Option<&Value>) -> Vec<FieldError> {
        Vec::new()
    }
    /// Update rules that depend on the endpoint written through (`subresource`: "" for the
    /// main resource, else the subresource's name), as upstream's per-endpoint strategies.
    fn validate_update(&self, _new: &Value, _old: &Value, _subresource: &str) -> Vec<FieldError> {
        Vec::new()
    }
    /// A finalizer the first delete request adds, holding the object until a controller has
    /// cleaned up after it (CRDs: their custom objects).
    fn delete_finalizer(&self) -> Option<&'static str> {
        None
    }
}

/// A kind with no special behaviour.
pub struct Plain;
impl Strategy for Plain {}

/// A kind whose spec changes bump `metadata.generation` (ingress, network policy, PDB, ...).
pub struct Generational;
impl Strategy for Generational {
    fn tracks_generation(&self) -> bool {
        true
    }
}

/// The shared plain strategy.
pub static PLAIN: Plain = Plain;
/// The shared generational strategy.
pub static GENERATIONAL: Generational = Generational;

/// Sets `obj[key] = value` when absent or null; creates parent objects as needed.
pub(crate) fn set_default(obj: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for part in parents {
        let Some(map) = cur.as_object_mut() else {
            return;
        };
        let entry = map
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if entry.is_null() {
            *entry = Value::Object(Map::new());
        }
        cur = entry;
    }
    if let Some(map) = cur.as_object_mut() {
        let slot = map.entry(last.to_string()).or_insert(Value::Null);
        if slot.is_null() {
            *slot = value;
        }
    }
}

/// Mutable access to `obj.a.b.c` when every step is an object.
pub(crate) fn get_mut<'a>(obj: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    let mut cur = obj;
    for part in path {
        cur = cur.as_object_mut()?.get_mut(*part)?;
    }
    Some(cur)
}

/// Applies `f` to each element of the array at `path`, if any.
pub(crate) fn each_mut(obj: &mut Value, path: &[&str], mut f: impl FnMut(&mut Value)) {
    if let Some(Value::Array(items)) = get_mut(obj, path) {
        items.iter_mut().for_each(&mut f);
    }
}
