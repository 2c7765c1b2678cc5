//! Claim side of the PV controller (upstream `syncClaim`, `syncUnboundClaim`,
//! `syncBoundClaim`, `bind`, `provisionClaim`).

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim};
use kube::api::{Api, Patch};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use serde_json::{json, Map, Value};

use super::matching::*;
use super::Pass;
use crate::error::Result;
use crate::util::{now, patch_params, patch_status};

/// Upstream's event when a claim has no class and no volume fits.
pub const NO_CLASS_MSG: &str =
    "no persistent volumes available for this claim and no storage class is set";
/// Upstream's event while a WaitForFirstConsumer claim has no pod yet.
pub const WAIT_FOR_CONSUMER_MSG: &str = "waiting for first consumer to be created before binding";

/// Upstream's `ExternalProvisioning` event message.
pub fn external_provisioning_msg(provisioner: &str) -> String {
    format!(
        "Waiting for a volume to be created either by the external provisioner '{provisioner}' \
         or manually by the system administrator. If volume creation is delayed, please verify \
         that the provisioner is running and correctly registered."
    )
}

fn claims_api(ctx: &crate::Context, c: &PersistentVolumeClaim) -> Api<PersistentVolumeClaim> {
    Api::namespaced(ctx.client.clone(), &c.namespace().unwrap_or_default())
}

fn volume_name(c: &PersistentVolumeClaim) -> &str {
    c.spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .unwrap_or("")
}

impl Pass<'_> {
    pub(super) async fn sync_claim(&mut self, c: &Arc<PersistentVolumeClaim>) -> Result<()> {
        if c.metadata.deletion_timestamp.is_some() {
            return Ok(());
        }
        if annotation(&c.metadata, ANN_BIND_COMPLETED).is_none() {
            self.sync_unbound_claim(c).await
        } else {
            self.sync_bound_claim(c).await
        }
    }

    fn volume(&self, name: &str) -> Option<Arc<PersistentVolume>> {
        self.volumes
            .iter()
            .find(|v| v.metadata.name.as_deref() == Some(name))
            .cloned()
    }

    fn selected_node(&self, c: &PersistentVolumeClaim) -> Option<Arc<Node>> {
        let name = annotation(&c.metadata, ANN_SELECTED_NODE)?;
        self.nodes.get(&ObjectRef::new(name))
    }

    async fn sync_unbound_claim(&mut self, c: &Arc<PersistentVolumeClaim>) -> Result<()> {
        let wanted = volume_name(c).to_owned();
        if !wanted.is_empty() {
            return self.sync_requested_volume(c, &wanted).await;
        }
        let delay = is_delay_binding(c, &self.classes);
        let node = self.selected_node(c);
        let candidates: Vec<Arc<PersistentVolume>> = self
            .volumes
            .iter()
            .filter(|v| {
                !self
                    .taken
                    .contains(v.metadata.name.as_deref().unwrap_or(""))
            })
            .cloned()
            .collect();
        if let Some(v) = find_best_match(c, &candidates, node.as_deref(), delay) {
            return self.bind(&v, c).await;
        }
        let unclassed = annotation(&c.metadata, ANN_BETA_CLASS).is_none()
            && c.spec
                .as_ref()
                .is_none_or(|s| s.storage_class_name.is_none());
        if unclassed {
            if let Some(name) = default_class(&self.classes).and_then(|sc| sc.metadata.name.clone())
            {
                let patch = json!({"spec": {"storageClassName": name}});
                claims_api(self.ctx, c)
                    .patch(&c.name_any(), &patch_params(), &Patch::Merge(patch))
                    .await?;
                return Ok(());
            }
        }
        self.ensure_claim_pending(c).await?;
        let class = claim_class(c).to_owned();
        if delay && annotation(&c.metadata, ANN_SELECTED_NODE).is_none() {
            self.event(
                c.as_ref(),
                false,
                "WaitForFirstConsumer",
                WAIT_FOR_CONSUMER_MSG,
            )
            .await;
        } else if !class.is_empty() {
            self.provision(c, &class).await?;
        } else {
            self.event(c.as_ref(), false, "FailedBinding", NO_CLASS_MSG)
                .await;
        }
        Ok(())
    }

    /// A claim naming its volume (`spec.volumeName`) binds to it or explains why not.
    async fn sync_requested_volume(
        &mut self,
        c: &Arc<PersistentVolumeClaim>,
        wanted: &str,
    ) -> Result<()> {
        let Some(v) = self.volume(wanted) else {
            // Upstream waits quietly for a volume that may still be created.
            return self.ensure_claim_pending(c).await;
        };
        let claim_ref = v.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
        if claim_ref.is_none() {
            if let Some(why) = volume_mismatch(&v, c) {
                self.ensure_claim_pending(c).await?;
                let msg = format!("Cannot bind to requested volume {wanted:?}: {why}");
                self.event(c.as_ref(), true, "VolumeMismatch", &msg).await;
                return Ok(());
            }
            return self.bind(&v, c).await;
        }
        if is_bound_to(&v, c) {
            return self.bind(&v, c).await;
        }
        self.ensure_claim_pending(c).await?;
        if annotation(&c.metadata, ANN_BOUND_BY_CONTROLLER).is_none() {
            let msg = format!("volume {wanted:?} already bound to a different claim.");
            self.event(c.as_ref(), true, "FailedBinding", &msg).await;
        }
        Ok(())
    }

    async fn sync_bound_claim(&mut self, c: &Arc<PersistentVolumeClaim>) -> Result<()> {
        let name = volume_name(c).to_owned();
        if name.is_empty() {
            return self
                .claim_lost(
                    c,
                    "ClaimLost",
                    "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!",
                )
                .await;
        }
        let Some(v) = self.volume(&name) else {
            return self
                .claim_lost(
                    c,
                    "ClaimLost",
                    "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
                )
                .await;
        };
        let claim_ref = v.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
        match claim_ref {
            None => self.bind(&v, c).await,
            Some(r) if r.uid.is_some() && r.uid == c.metadata.uid => self.bind(&v, c).await,
            Some(_) => {
                self.claim_lost(
                    c,
                    "ClaimMisbound",
                    "Two claims are bound to the same volume, this one is bound incorrectly",
                )
                .await
            }
        }
    }

    async fn claim_lost(
        &mut self,
        c: &Arc<PersistentVolumeClaim>,
        reason: &str,
        msg: &str,
    ) -> Result<()> {
        if claim_phase(c) != "Lost" {
            patch_status(
                &claims_api(self.ctx, c),
                &c.name_any(),
                json!({"phase": "Lost"}),
            )
            .await?;
            self.event(c.as_ref(), true, reason, msg).await;
        }
        Ok(())
    }

    async fn ensure_claim_pending(&self, c: &PersistentVolumeClaim) -> Result<()> {
        if c.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Pending") {
            patch_status(
                &claims_api(self.ctx, c),
                &c.name_any(),
                json!({"phase": "Pending"}),
            )
            .await?;
        }
        Ok(())
    }

    /// Hands the claim to its class's provisioner (upstream `provisionClaimOperationExternal`):
    /// the provisioner annotations on the claim and an `ExternalProvisioning` event.
    async fn provision(&mut self, c: &Arc<PersistentVolumeClaim>, class: &str) -> Result<()> {
        let Some(sc) = find_class(&self.classes, class) else {
            let msg = format!("storageclass.storage.k8s.io {class:?} not found");
            self.event(c.as_ref(), true, "ProvisioningFailed", &msg)
                .await;
            return Ok(());
        };
        let provisioner = sc.provisioner.clone();
        if annotation(&c.metadata, ANN_STORAGE_PROVISIONER) != Some(provisioner.as_str()) {
            let patch = json!({"metadata": {"annotations": {
                ANN_STORAGE_PROVISIONER: provisioner,
                ANN_BETA_STORAGE_PROVISIONER: provisioner,
            }}});
            claims_api(self.ctx, c)
                .patch(&c.name_any(), &patch_params(), &Patch::Merge(patch))
                .await?;
        }
        let msg = external_provisioning_msg(&provisioner);
        self.event(c.as_ref(), false, "ExternalProvisioning", &msg)
            .await;
        Ok(())
    }

    /// Upstream `bind`: volume → claim (claimRef), volume Bound, claim → volume
    /// (volumeName, bind-completed), claim Bound with the volume's modes and capacity. Each
    /// step is written only when it differs, so a pass after a partial bind finishes it.
    pub(super) async fn bind(
        &mut self,
        v: &Arc<PersistentVolume>,
        c: &Arc<PersistentVolumeClaim>,
    ) -> Result<()> {
        let vname = v.name_any();
        let cname = c.name_any();
        let vols: Api<PersistentVolume> = Api::all(self.ctx.client.clone());
        let uid_set = v
            .spec
            .as_ref()
            .and_then(|s| s.claim_ref.as_ref())
            .is_some_and(|r| r.uid.is_some() && r.uid == c.metadata.uid);
        if !uid_set {
            let mut meta = Map::new();
            meta.insert("resourceVersion".into(), json!(v.resource_version()));
            if !is_bound_to(v, c) {
                meta.insert(
                    "annotations".into(),
                    json!({ANN_BOUND_BY_CONTROLLER: "yes"}),
                );
            }
            let patch = json!({"metadata": meta, "spec": {"claimRef": {
                "kind": "PersistentVolumeClaim", "apiVersion": "v1",
                "namespace": c.namespace(), "name": cname,
                "uid": c.metadata.uid, "resourceVersion": c.resource_version(),
            }}});
            vols.patch(&vname, &patch_params(), &Patch::Merge(patch))
                .await?;
        }
        self.taken.insert(vname.clone());
        if volume_phase(v) != "Bound" {
            set_volume_phase(&vols, &vname, "Bound", None).await?;
        }
        let api = claims_api(self.ctx, c);
        if volume_name(c) != vname || annotation(&c.metadata, ANN_BIND_COMPLETED).is_none() {
            let mut ann = Map::new();
            ann.insert(ANN_BIND_COMPLETED.into(), json!("yes"));
            if volume_name(c).is_empty() {
                ann.insert(ANN_BOUND_BY_CONTROLLER.into(), json!("yes"));
            }
            let patch = json!({"metadata": {"annotations": ann}, "spec": {"volumeName": vname}});
            api.patch(&cname, &patch_params(), &Patch::Merge(patch))
                .await?;
        }
        let spec = v.spec.clone().unwrap_or_default();
        let st = c.status.clone().unwrap_or_default();
        if claim_phase(c) != "Bound"
            || st.capacity != spec.capacity
            || st.access_modes != spec.access_modes
        {
            let status = json!({"phase": "Bound", "accessModes": spec.access_modes,
                "capacity": spec.capacity});
            patch_status(&api, &cname, status).await?;
        }
        Ok(())
    }
}

/// Sets a volume's phase (and message) with upstream's `lastPhaseTransitionTime`.
pub(super) async fn set_volume_phase(
    vols: &Api<PersistentVolume>,
    name: &str,
    phase: &str,
    message: Option<&str>,
) -> Result<()> {
    let status: Value = json!({"phase": phase, "message": message,
        "lastPhaseTransitionTime": now()});
    patch_status(vols, name, status).await
}
