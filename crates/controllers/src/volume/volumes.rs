//! Volume side of the PV controller (upstream `syncVolume`, `reclaimVolume`): phases
//! Available/Bound/Released/Failed and the reclaim policy of a volume whose claim is gone.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::api::{Api, Patch};
use kube::ResourceExt;
use serde_json::json;

use super::claims::set_volume_phase;
use super::matching::*;
use super::Pass;
use crate::error::Result;
use crate::util::patch_params;

impl Pass<'_> {
    pub(super) async fn sync_volume(&mut self, v: &Arc<PersistentVolume>) -> Result<()> {
        let vols: Api<PersistentVolume> = Api::all(self.ctx.client.clone());
        let name = v.name_any();
        let phase = volume_phase(v).to_owned();
        let claim_ref = v.spec.as_ref().and_then(|s| s.claim_ref.clone());
        let uid = claim_ref
            .as_ref()
            .and_then(|r| r.uid.clone())
            .unwrap_or_default();
        // Unused, or pre-bound by the user to a claim that has not bound yet.
        if claim_ref.is_none() || uid.is_empty() {
            if phase != "Available" && !self.taken.contains(&name) {
                set_volume_phase(&vols, &name, "Available", None).await?;
            }
            return Ok(());
        }
        let r = claim_ref.unwrap_or_default();
        let (ns, cname) = (
            r.namespace.clone().unwrap_or_default(),
            r.name.clone().unwrap_or_default(),
        );
        let claim = match self.claim(&ns, &cname, &uid) {
            Some(c) => Some(c),
            // The store may not have a claim created a moment ago: ask the API before
            // releasing a volume.
            None => {
                let api: Api<PersistentVolumeClaim> = Api::namespaced(self.ctx.client.clone(), &ns);
                api.get_opt(&cname)
                    .await?
                    .filter(|c| c.metadata.uid.as_deref() == Some(uid.as_str()))
                    .map(Arc::new)
            }
        };
        let Some(c) = claim else {
            if phase != "Released" && phase != "Failed" {
                set_volume_phase(&vols, &name, "Released", None).await?;
            }
            return self.reclaim(v, &vols, &phase).await;
        };
        let bound_to = c
            .spec
            .as_ref()
            .and_then(|s| s.volume_name.as_deref())
            .unwrap_or("");
        if bound_to.is_empty() || bound_to == name {
            // Bound from the volume's side; the claim's sync completes the other half.
            if phase != "Bound" {
                set_volume_phase(&vols, &name, "Bound", None).await?;
            }
        } else if annotation(&v.metadata, ANN_BOUND_BY_CONTROLLER).is_some() {
            // We bound it, but the claim went elsewhere: free the volume again.
            let patch = json!({"metadata": {"resourceVersion": v.resource_version(),
                "annotations": {ANN_BOUND_BY_CONTROLLER: null}}, "spec": {"claimRef": null}});
            vols.patch(&name, &patch_params(), &Patch::Merge(patch))
                .await?;
            set_volume_phase(&vols, &name, "Available", None).await?;
        }
        Ok(())
    }

    fn claim(&self, ns: &str, name: &str, uid: &str) -> Option<Arc<PersistentVolumeClaim>> {
        self.claims
            .iter()
            .find(|c| {
                c.metadata.namespace.as_deref() == Some(ns)
                    && c.metadata.name.as_deref() == Some(name)
                    && c.metadata.uid.as_deref() == Some(uid)
            })
            .cloned()
    }

    /// Upstream `reclaimVolume` for a Released volume.
    async fn reclaim(
        &mut self,
        v: &Arc<PersistentVolume>,
        vols: &Api<PersistentVolume>,
        phase: &str,
    ) -> Result<()> {
        let name = v.name_any();
        let policy = v
            .spec
            .as_ref()
            .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
            .unwrap_or("Retain");
        let failure = match policy {
            // Kept until an administrator clears the claimRef.
            "Retain" => None,
            // A provisioned volume is deleted by its provisioner (data first, then the PV).
            "Delete" if annotation(&v.metadata, ANN_PROVISIONED_BY).is_some() => None,
            "Delete" => Some((
                "VolumeFailedDelete",
                format!(
                    "error getting deleter volume plugin for volume {name:?}: no deletable volume plugin matched"
                ),
            )),
            _ => Some((
                "VolumeFailedRecycle",
                "No recycler plugin found for the volume!".to_owned(),
            )),
        };
        if let Some((reason, msg)) = failure {
            if phase != "Failed" {
                set_volume_phase(vols, &name, "Failed", Some(&msg)).await?;
            }
            self.event(v.as_ref(), true, reason, &msg).await;
        }
        Ok(())
    }
}
