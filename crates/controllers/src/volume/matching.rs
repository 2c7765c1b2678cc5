//! Pure claim/volume matching as upstream's `FindMatchingVolume` and the storage helpers
//! around it: which volume a claim may bind to, its class, sizes and node affinity.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::scheduler::predicates::term_matches;
use crate::scheduler::resources::quantity_value;
use crate::util::selector;

/// Set on a claim once the controller finished binding it.
pub const ANN_BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// Set on claims and volumes the controller (not the user) bound.
pub const ANN_BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
/// The provisioner asked to provision a claim.
pub const ANN_STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
/// The same, under its beta name (still written by upstream for old provisioners).
pub const ANN_BETA_STORAGE_PROVISIONER: &str = "volume.beta.kubernetes.io/storage-provisioner";
/// The node the scheduler picked for a WaitForFirstConsumer claim.
pub const ANN_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// The provisioner that created a volume.
pub const ANN_PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
/// The claim's class under its beta annotation (wins over `storageClassName`).
pub const ANN_BETA_CLASS: &str = "volume.beta.kubernetes.io/storage-class";
/// Marks the default StorageClass.
pub const ANN_DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
/// The provisioner of classes whose volumes are only ever created by hand.
pub const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";
/// Keeps a claim while a pod uses it.
pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
/// Keeps a volume while it is bound.
pub const PV_PROTECTION: &str = "kubernetes.io/pv-protection";

/// An annotation of an object, if set.
pub fn annotation<'a>(
    meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// Upstream `GetPersistentVolumeClaimClass`: the beta annotation, else `storageClassName`.
pub fn claim_class(c: &PersistentVolumeClaim) -> &str {
    if let Some(a) = annotation(&c.metadata, ANN_BETA_CLASS) {
        return a;
    }
    c.spec
        .as_ref()
        .and_then(|s| s.storage_class_name.as_deref())
        .unwrap_or("")
}

/// Upstream `GetPersistentVolumeClass`.
pub fn volume_class(v: &PersistentVolume) -> &str {
    if let Some(a) = annotation(&v.metadata, ANN_BETA_CLASS) {
        return a;
    }
    v.spec
        .as_ref()
        .and_then(|s| s.storage_class_name.as_deref())
        .unwrap_or("")
}

/// Bytes of the `storage` entry of a resource list (0 when absent or malformed).
pub fn storage_bytes(list: Option<&BTreeMap<String, Quantity>>) -> i64 {
    list.and_then(|l| l.get("storage"))
        .and_then(|q| quantity_value(&q.0))
        .unwrap_or(0)
}

/// The storage a claim requests.
pub fn claim_request(c: &PersistentVolumeClaim) -> i64 {
    storage_bytes(
        c.spec
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref()),
    )
}

/// The storage a volume offers.
pub fn volume_capacity(v: &PersistentVolume) -> i64 {
    storage_bytes(v.spec.as_ref().and_then(|s| s.capacity.as_ref()))
}

fn claim_modes(c: &PersistentVolumeClaim) -> &[String] {
    c.spec
        .as_ref()
        .and_then(|s| s.access_modes.as_deref())
        .unwrap_or_default()
}

fn volume_modes(v: &PersistentVolume) -> &[String] {
    v.spec
        .as_ref()
        .and_then(|s| s.access_modes.as_deref())
        .unwrap_or_default()
}

/// Whether the volume offers every access mode the claim asks for.
pub fn access_modes_fit(v: &PersistentVolume, c: &PersistentVolumeClaim) -> bool {
    let have = volume_modes(v);
    claim_modes(c).iter().all(|m| have.contains(m))
}

/// `Filesystem` unless `Block` is asked for (upstream's defaulting).
fn claim_volume_mode(c: &PersistentVolumeClaim) -> &str {
    c.spec
        .as_ref()
        .and_then(|s| s.volume_mode.as_deref())
        .unwrap_or("Filesystem")
}

fn pv_volume_mode(v: &PersistentVolume) -> &str {
    v.spec
        .as_ref()
        .and_then(|s| s.volume_mode.as_deref())
        .unwrap_or("Filesystem")
}

/// Upstream `IsVolumeBoundToClaim`: the claimRef names the claim (and its uid, when set).
pub fn is_bound_to(v: &PersistentVolume, c: &PersistentVolumeClaim) -> bool {
    let Some(r) = v.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else {
        return false;
    };
    if r.name.as_deref() != c.metadata.name.as_deref()
        || r.namespace.as_deref() != c.metadata.namespace.as_deref()
    {
        return false;
    }
    match r.uid.as_deref() {
        None | Some("") => true,
        uid => uid == c.metadata.uid.as_deref(),
    }
}

/// Whether the volume's required node affinity admits `node` (no affinity admits all).
pub fn node_affinity_admits(v: &PersistentVolume, node: &Node) -> bool {
    let terms = v
        .spec
        .as_ref()
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref())
        .map(|r| r.node_selector_terms.as_slice());
    match terms {
        None => true,
        Some(terms) => terms.iter().any(|t| term_matches(t, node)),
    }
}

/// The phase in a volume's status (`Pending` when unset, as a fresh object).
pub fn volume_phase(v: &PersistentVolume) -> &str {
    v.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

/// The phase in a claim's status.
pub fn claim_phase(c: &PersistentVolumeClaim) -> &str {
    c.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

/// A class by name.
pub fn find_class<'a>(classes: &'a [Arc<StorageClass>], name: &str) -> Option<&'a StorageClass> {
    classes
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some(name))
        .map(AsRef::as_ref)
}

/// Upstream `IsDelayBindingMode`: the claim's class binds WaitForFirstConsumer.
pub fn is_delay_binding(c: &PersistentVolumeClaim, classes: &[Arc<StorageClass>]) -> bool {
    let name = claim_class(c);
    !name.is_empty()
        && find_class(classes, name)
            .is_some_and(|sc| sc.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer"))
}

/// Upstream `GetDefaultClass`: the newest class annotated default (name breaks ties).
pub fn default_class(classes: &[Arc<StorageClass>]) -> Option<&StorageClass> {
    classes
        .iter()
        .filter(|c| annotation(&c.metadata, ANN_DEFAULT_CLASS) == Some("true"))
        .max_by(|a, b| {
            let ka = (&a.metadata.creation_timestamp, &a.metadata.name);
            let kb = (&b.metadata.creation_timestamp, &b.metadata.name);
            ka.partial_cmp(&kb).unwrap_or(std::cmp::Ordering::Equal)
        })
        .map(AsRef::as_ref)
}

/// Why a requested (`volumeName`) volume cannot satisfy the claim, as upstream's
/// `checkVolumeSatisfyClaim` says it.
pub fn volume_mismatch(v: &PersistentVolume, c: &PersistentVolumeClaim) -> Option<String> {
    if claim_request(c) > volume_capacity(v) {
        return Some("requested PV is too small".into());
    }
    if volume_class(v) != claim_class(c) {
        return Some("storageClassName does not match".into());
    }
    if pv_volume_mode(v) != claim_volume_mode(c) {
        return Some("incompatible volumeMode".into());
    }
    if !access_modes_fit(v, c) {
        return Some("incompatible accessMode".into());
    }
    None
}

/// Upstream `FindMatchingVolume`: the volume pre-bound to the claim if there is one, else
/// the smallest Available volume of the claim's class, access modes and selector that is
/// large enough. With `delay` (WaitForFirstConsumer) only a pre-bound volume or, once a node
/// is chosen, volumes whose node affinity admits it qualify.
pub fn find_best_match(
    claim: &PersistentVolumeClaim,
    volumes: &[Arc<PersistentVolume>],
    node: Option<&Node>,
    delay: bool,
) -> Option<Arc<PersistentVolume>> {
    let requested = claim_request(claim);
    let class = claim_class(claim);
    let sel = claim.spec.as_ref().and_then(|s| s.selector.as_ref());
    let sel = match sel {
        Some(s) => match selector(Some(s)) {
            Ok(s) => Some(s),
            // A selector that cannot be parsed matches nothing (validation refuses it).
            Err(_) => return None,
        },
        None => None,
    };
    let mut best: Option<&Arc<PersistentVolume>> = None;
    for v in volumes {
        if !access_modes_fit(v, claim) {
            continue;
        }
        let pre_bound = is_bound_to(v, claim);
        if v.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).is_some() && !pre_bound {
            continue;
        }
        if volume_capacity(v) < requested
            || pv_volume_mode(v) != claim_volume_mode(claim)
            || v.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        let affinity_ok = node.is_none_or(|n| node_affinity_admits(v, n));
        if pre_bound {
            return affinity_ok.then(|| v.clone());
        }
        if node.is_none() && delay {
            continue;
        }
        if volume_phase(v) != "Available"
            || sel
                .as_ref()
                .is_some_and(|s| !crate::util::matches(s, &v.metadata))
            || volume_class(v) != class
            || !affinity_ok
        {
            continue;
        }
        if best.is_none_or(|b| volume_capacity(b) > volume_capacity(v)) {
            best = Some(v);
        }
    }
    best.cloned()
}

#[cfg(test)]
#[path = "matching_tests.rs"]
mod tests;
