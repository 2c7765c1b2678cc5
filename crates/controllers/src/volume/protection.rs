//! Protection finalizers (upstream `pvcprotection` and `pvprotection`): every claim carries
//! `kubernetes.io/pvc-protection` and every volume `kubernetes.io/pv-protection`; a deleted
//! claim keeps it while a scheduled, not terminated pod uses it, a deleted volume while it
//! is Bound.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{Api, ListParams, Patch};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::matching::{volume_phase, PVC_PROTECTION, PV_PROTECTION};
use super::pod_claims;
use crate::util::{is_deleting, patch_params, pod_phase};
use crate::Context;

/// Whether `pod` keeps claim `ns/name` in use (upstream `podUsesPVC`: scheduled pods only,
/// since the kubelet never starts a pod whose claim is being deleted).
pub fn pod_uses(pod: &Pod, ns: &str, name: &str) -> bool {
    let scheduled = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    let terminated = matches!(pod_phase(pod), "Succeeded" | "Failed");
    scheduled
        && !terminated
        && pod.metadata.namespace.as_deref() == Some(ns)
        && pod_claims(pod).iter().any(|c| c == name)
}

fn has(finalizers: Option<&Vec<String>>, f: &str) -> bool {
    finalizers.is_some_and(|l| l.iter().any(|x| x == f))
}

/// Writes the finalizer list with the object's resourceVersion (a stale view conflicts).
async fn set_finalizers<K>(api: &Api<K>, obj: &K, add: Option<&str>, remove: Option<&str>)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut list = obj.meta().finalizers.clone().unwrap_or_default();
    list.retain(|f| Some(f.as_str()) != remove);
    if let Some(a) = add {
        list.push(a.to_owned());
    }
    let patch = json!({"metadata": {"finalizers": list,
        "resourceVersion": obj.meta().resource_version}});
    if let Err(e) = api
        .patch(&obj.name_any(), &patch_params(), &Patch::Merge(patch))
        .await
    {
        tracing::debug!(object = %obj.name_any(), error = %e, "finalizer update failed");
    }
}

/// One pvc-protection pass.
pub async fn claims(ctx: &Context, claims: &[Arc<PersistentVolumeClaim>], pods: &[Arc<Pod>]) {
    for c in claims {
        let ns = c.namespace().unwrap_or_default();
        let name = c.name_any();
        let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &ns);
        let protected = has(c.metadata.finalizers.as_ref(), PVC_PROTECTION);
        if !is_deleting(&c.metadata) {
            if !protected {
                set_finalizers(&api, c.as_ref(), Some(PVC_PROTECTION), None).await;
            }
            continue;
        }
        if !protected || pods.iter().any(|p| pod_uses(p, &ns, &name)) {
            continue;
        }
        // Upstream asks the API too before letting go: the informer may miss a new pod.
        let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
        let Ok(live) = pods_api.list(&ListParams::default()).await else {
            continue;
        };
        if live.items.iter().any(|p| pod_uses(p, &ns, &name)) {
            continue;
        }
        set_finalizers(&api, c.as_ref(), None, Some(PVC_PROTECTION)).await;
    }
}

/// One pv-protection pass.
pub async fn volumes(ctx: &Context, volumes: &[Arc<PersistentVolume>]) {
    let api: Api<PersistentVolume> = Api::all(ctx.client.clone());
    for v in volumes {
        let protected = has(v.metadata.finalizers.as_ref(), PV_PROTECTION);
        if !is_deleting(&v.metadata) {
            if !protected {
                set_finalizers(&api, v.as_ref(), Some(PV_PROTECTION), None).await;
            }
        } else if protected && volume_phase(v) != "Bound" {
            set_finalizers(&api, v.as_ref(), None, Some(PV_PROTECTION)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_scheduled_running_pods_hold_a_claim() {
        let pod = |node: &str, phase: &str| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "ns"},
                "spec": {"nodeName": node, "containers": [],
                    "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}},
                                {"name": "e", "ephemeral": {}}]},
                "status": {"phase": phase}}))
            .unwrap()
        };
        assert!(pod_uses(&pod("n", "Running"), "ns", "data"));
        assert!(pod_uses(&pod("n", "Pending"), "ns", "p-e"));
        assert!(!pod_uses(&pod("", "Pending"), "ns", "data"));
        assert!(!pod_uses(&pod("n", "Succeeded"), "ns", "data"));
        assert!(!pod_uses(&pod("n", "Running"), "other", "data"));
        assert!(!pod_uses(&pod("n", "Running"), "ns", "else"));
    }
}
