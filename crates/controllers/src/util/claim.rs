//! Upstream's `ControllerRefManager.ClaimPods`: a controller adopts orphan pods its selector
//! matches and releases the pods it owns that stopped matching, so ownership follows labels.

use std::sync::Arc;

use ferrokube_apimachinery::labels::Selector;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::error::Result;
use crate::util::{controller_ref, is_deleting, matches, owner_ref, patch_merge};

/// Claims `pods` (all in the owner's namespace) for `owner`: returns the pods it owns after
/// adopting matching orphans; owned pods that no longer match are released.
pub async fn claim_pods<K>(
    owner: &K,
    selector: &Selector,
    pods: impl IntoIterator<Item = Arc<Pod>>,
    pod_api: &Api<Pod>,
) -> Result<Vec<Arc<Pod>>>
where
    K: Resource<DynamicType = ()>,
{
    let uid = owner.meta().uid.clone().unwrap_or_default();
    let mut owned = Vec::new();
    for p in pods {
        let matching = matches(selector, &p.metadata);
        let mine = controller_ref(&p.metadata).map(|r| r.uid == uid);
        match (mine, matching) {
            (Some(true), true) => owned.push(p),
            (Some(true), false) if !is_deleting(&p.metadata) => release(&p, &uid, pod_api).await,
            (None, true) if !is_deleting(owner.meta()) && !is_deleting(&p.metadata) => {
                owned.extend(adopt(owner, p, pod_api).await?);
            }
            _ => {}
        }
    }
    Ok(owned)
}

/// Drops the owner's reference from a pod; a failure is retried on the next sync.
async fn release(pod: &Pod, owner_uid: &str, pod_api: &Api<Pod>) {
    let refs: Vec<_> = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .filter(|r| r.uid != owner_uid)
        .cloned()
        .collect();
    let patch = json!({"metadata": {"ownerReferences": refs}});
    let _ = patch_merge(pod_api, &pod.name_any(), patch).await;
}

/// Adds the owner as controller of an orphan; None when the pod is already gone. The uid in
/// the patch makes it fail rather than adopt a new pod of the same name.
async fn adopt<K>(owner: &K, pod: Arc<Pod>, pod_api: &Api<Pod>) -> Result<Option<Arc<Pod>>>
where
    K: Resource<DynamicType = ()>,
{
    let mut refs = pod.metadata.owner_references.clone().unwrap_or_default();
    refs.push(owner_ref(owner));
    let patch = json!({"metadata": {"ownerReferences": refs, "uid": pod.metadata.uid}});
    match patch_merge(pod_api, &pod.name_any(), patch).await {
        Ok(()) => Ok(Some(pod)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The owners a pod change wakes: its controller when that is a `K`, and for an orphan every
/// `K` in its namespace whose selector matches it (so orphans get adopted).
pub fn owners_to_wake<K>(
    owners: &Store<K>,
    pod: &Pod,
    selector_of: impl Fn(&K) -> Option<Selector>,
) -> Vec<ObjectRef<K>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let ns = pod.namespace().unwrap_or_default();
    if let Some(r) = controller_ref(&pod.metadata) {
        return if r.kind == K::kind(&()) {
            vec![ObjectRef::<K>::new(&r.name).within(&ns)]
        } else {
            Vec::new()
        };
    }
    owners
        .state()
        .iter()
        .filter(|o| o.namespace().as_deref() == Some(ns.as_str()))
        .filter(|o| selector_of(o).is_some_and(|s| matches(&s, &pod.metadata)))
        .map(|o| ObjectRef::from_obj(o.as_ref()))
        .collect()
}
