//! StatefulSet `persistentVolumeClaimRetentionPolicy` (upstream `updateClaimOwnerRefForSetAndPod`):
//! the policy becomes owner references on the per-pod claims, and the garbage collector does
//! the deleting. `whenDeleted: Delete` makes the set an owner (the claims go with the set);
//! `whenScaled: Delete` makes a condemned pod (ordinal out of range) the owner instead (the
//! claims go with the pod); `Retain` removes the reference again.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, Patch};
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::error::Result;
use crate::util::patch_params;

/// Which owners a claim of a pod should have: (the set, the pod).
pub fn wanted_owners(set: &StatefulSet, in_range: bool) -> (bool, bool) {
    let policy = set
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_claim_retention_policy.as_ref());
    let delete = |p: Option<&String>| p.map(String::as_str) == Some("Delete");
    let when_deleted = delete(policy.and_then(|p| p.when_deleted.as_ref()));
    let when_scaled = delete(policy.and_then(|p| p.when_scaled.as_ref()));
    if !in_range && when_scaled {
        (false, true)
    } else {
        (when_deleted, false)
    }
}

/// A plain (non-controller) owner reference, as upstream puts on claims.
pub fn reference<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: owner.name_any(),
        uid: owner.meta().uid.clone().unwrap_or_default(),
        controller: None,
        block_owner_deletion: None,
    }
}

/// The claim's owner references with the set's and the pod's added or removed as wanted;
/// `None` when nothing changes.
pub fn updated_owners(
    claim: &PersistentVolumeClaim,
    set: &StatefulSet,
    pod: &Pod,
    in_range: bool,
) -> Option<Vec<OwnerReference>> {
    let (want_set, want_pod) = wanted_owners(set, in_range);
    let mut refs = claim.metadata.owner_references.clone().unwrap_or_default();
    let before = refs.clone();
    for (owner, want) in [(reference(set), want_set), (reference(pod), want_pod)] {
        let has = refs.iter().any(|r| r.uid == owner.uid);
        if want && !has {
            refs.push(owner);
        } else if !want && has {
            refs.retain(|r| r.uid != owner.uid);
        }
    }
    (refs != before).then_some(refs)
}

/// Brings the owner references of `pod`'s claims (`<template>-<pod>`) in line with the policy.
pub async fn sync_pod_claims(
    api: &Api<PersistentVolumeClaim>,
    set: &StatefulSet,
    pod: &Pod,
    in_range: bool,
) -> Result<()> {
    let templates = set
        .spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.clone())
        .unwrap_or_default();
    for t in templates {
        let name = format!("{}-{}", t.name_any(), pod.name_any());
        let Some(claim) = api.get_opt(&name).await? else {
            continue;
        };
        if claim.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if let Some(refs) = updated_owners(&claim, set, pod, in_range) {
            let patch = json!({"metadata": {"ownerReferences": refs,
                "resourceVersion": claim.resource_version()}});
            api.patch(&name, &patch_params(), &Patch::Merge(patch))
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(when_deleted: &str, when_scaled: &str) -> StatefulSet {
        serde_json::from_value(json!({"metadata": {"name": "web", "uid": "s1"},
            "spec": {"selector": {}, "serviceName": "web", "template": {},
                "persistentVolumeClaimRetentionPolicy":
                    {"whenDeleted": when_deleted, "whenScaled": when_scaled}}}))
        .unwrap()
    }

    #[test]
    fn policy_maps_to_owners_as_upstream() {
        let pod: Pod =
            serde_json::from_value(json!({"metadata": {"name": "web-2", "uid": "p2"}})).unwrap();
        let claim = PersistentVolumeClaim::default();
        assert_eq!(
            wanted_owners(&set("Retain", "Retain"), false),
            (false, false)
        );
        assert_eq!(
            wanted_owners(&set("Delete", "Retain"), false),
            (true, false)
        );
        assert_eq!(
            wanted_owners(&set("Retain", "Delete"), false),
            (false, true)
        );
        assert_eq!(
            wanted_owners(&set("Retain", "Delete"), true),
            (false, false)
        );
        assert_eq!(wanted_owners(&set("Delete", "Delete"), true), (true, false));
        assert_eq!(
            wanted_owners(&set("Delete", "Delete"), false),
            (false, true)
        );
        let refs = updated_owners(&claim, &set("Delete", "Delete"), &pod, false).unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!((refs[0].kind.as_str(), refs[0].uid.as_str()), ("Pod", "p2"));
        let mut owned = claim.clone();
        owned.metadata.owner_references = Some(refs);
        assert!(updated_owners(&owned, &set("Delete", "Delete"), &pod, false).is_none());
        let back = updated_owners(&owned, &set("Retain", "Retain"), &pod, false).unwrap();
        assert!(back.is_empty());
    }
}
