//! Upstream's VolumeBinding plugin, reduced to what the PV controller and the local-path
//! provisioner need: PreFilter refuses pods whose claims are missing or unbound Immediate,
//! Filter keeps pods on the node their bound volumes' node affinity names (and, for
//! WaitForFirstConsumer claims of a class without a provisioner, on nodes with a matching
//! volume), and PreBind writes `volume.kubernetes.io/selected-node` on the unbound
//! WaitForFirstConsumer claims so that they are bound or provisioned there.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::predicates::Failure;
use crate::util::spawn_store;
use crate::volume::matching::{
    annotation, claim_class, find_best_match, find_class, is_delay_binding, node_affinity_admits,
    ANN_SELECTED_NODE, NO_PROVISIONER,
};
use crate::volume::pod_claims;

/// Upstream `ErrReasonNodeConflict`.
pub const NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";
/// Upstream `ErrReasonBindConflict`.
pub const BIND_CONFLICT: &str = "node(s) didn't find available persistent volumes to bind";
/// Upstream `ErrReasonPVNotExist`.
pub const PV_NOT_EXIST: &str =
    "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";
/// Upstream's PreFilter message for unbound Immediate claims.
pub const UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";
/// How long PreBind waits for the claims it handed over to be bound.
const BIND_WAIT: Duration = Duration::from_secs(30);

/// Watches of the storage objects the plugin reads.
#[derive(Clone)]
pub struct VolumeStores {
    claims: Store<PersistentVolumeClaim>,
    volumes: Store<PersistentVolume>,
    classes: Store<StorageClass>,
}

impl VolumeStores {
    /// Starts the watches.
    pub fn spawn(client: &Client, token: &CancellationToken) -> Self {
        let cfg = watcher::Config::default;
        VolumeStores {
            claims: spawn_store(Api::all(client.clone()), cfg(), None, token.clone()),
            volumes: spawn_store(Api::all(client.clone()), cfg(), None, token.clone()),
            classes: spawn_store(Api::all(client.clone()), cfg(), None, token.clone()),
        }
    }
}

/// What the Filter checks per node, computed once per pod.
#[derive(Default)]
pub struct VolumeState {
    /// Volumes the pod's bound claims use.
    bound: Vec<Arc<PersistentVolume>>,
    /// Bound claims whose volume does not exist.
    missing_pv: bool,
    /// Unbound WaitForFirstConsumer claims, with whether their class can provision.
    delayed: Vec<(Arc<PersistentVolumeClaim>, bool)>,
    /// All volumes (for static WaitForFirstConsumer matching).
    all_volumes: Vec<Arc<PersistentVolume>>,
}

impl VolumeState {
    /// Whether the pod uses no claims (the Filter has nothing to do).
    pub fn is_empty(&self) -> bool {
        self.bound.is_empty() && !self.missing_pv && self.delayed.is_empty()
    }

    /// The unbound WaitForFirstConsumer claims PreBind hands to the chosen node.
    pub fn delayed_claims(&self) -> Vec<(String, String)> {
        self.delayed
            .iter()
            .map(|(c, _)| (c.namespace().unwrap_or_default(), c.name_any()))
            .collect()
    }
}

/// PreFilter: the pod's claims must exist, not be deleted, and be bound unless their class
/// waits for the first consumer. `Err` carries upstream's message.
pub fn prefilter(pod: &Pod, stores: &VolumeStores) -> Result<VolumeState, String> {
    let claims = pod_claims(pod);
    let mut st = VolumeState::default();
    if claims.is_empty() {
        return Ok(st);
    }
    let ns = pod.namespace().unwrap_or_default();
    let classes = stores.classes.state();
    for name in claims {
        let Some(c) = stores.claims.get(&ObjectRef::new(&name).within(&ns)) else {
            return Err(format!("persistentvolumeclaim {name:?} not found"));
        };
        if c.metadata.deletion_timestamp.is_some() {
            return Err(format!("persistentvolumeclaim {name:?} is being deleted"));
        }
        let volume = c
            .spec
            .as_ref()
            .and_then(|s| s.volume_name.clone())
            .unwrap_or_default();
        if !volume.is_empty() {
            match stores.volumes.get(&ObjectRef::new(&volume)) {
                Some(v) => st.bound.push(v),
                None => st.missing_pv = true,
            }
        } else if is_delay_binding(&c, &classes) {
            let provisions = find_class(&classes, claim_class(&c))
                .is_some_and(|sc| sc.provisioner != NO_PROVISIONER);
            st.delayed.push((c, provisions));
        } else {
            return Err(UNBOUND_IMMEDIATE.to_owned());
        }
    }
    if st.delayed.iter().any(|(_, p)| !p) {
        st.all_volumes = stores.volumes.state();
    }
    Ok(st)
}

/// Filter for one node.
pub fn filter(st: &VolumeState, node: &Node) -> Result<(), Failure> {
    if st.missing_pv {
        return Err(Failure::unresolvable(PV_NOT_EXIST));
    }
    if st.bound.iter().any(|v| !node_affinity_admits(v, node)) {
        return Err(Failure::unresolvable(NODE_CONFLICT));
    }
    let name = node.metadata.name.as_deref().unwrap_or("");
    for (c, provisions) in &st.delayed {
        // A claim already handed to a node stays there.
        if annotation(&c.metadata, ANN_SELECTED_NODE).is_some_and(|n| n != name) {
            return Err(Failure::unresolvable(BIND_CONFLICT));
        }
        if !provisions && find_best_match(c, &st.all_volumes, Some(node), true).is_none() {
            return Err(Failure::unresolvable(BIND_CONFLICT));
        }
    }
    Ok(())
}

/// Upstream's FitError text when PreFilter refuses the pod.
pub fn prefilter_message(num_nodes: usize, msg: &str) -> String {
    format!(
        "0/{num_nodes} nodes are available: {msg}. preemption: 0/{num_nodes} nodes are \
         available: {num_nodes} Preemption is not helpful for scheduling."
    )
}

/// PreBind: writes the chosen node on the pod's unbound WaitForFirstConsumer claims and
/// waits (a while) for the PV controller or the node's provisioner to bind them.
pub async fn prebind(client: &Client, claims: &[(String, String)], node: &str, manager: &str) {
    if claims.is_empty() {
        return;
    }
    let params = PatchParams {
        field_manager: Some(manager.to_owned()),
        ..Default::default()
    };
    for (ns, name) in claims {
        let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
        let patch = json!({"metadata": {"annotations": {ANN_SELECTED_NODE: node}}});
        if let Err(e) = api.patch(name, &params, &Patch::Merge(patch)).await {
            tracing::debug!(claim = %name, error = %e, "cannot select node on claim");
        }
    }
    let started = Instant::now();
    while started.elapsed() < BIND_WAIT {
        let mut all_bound = true;
        for (ns, name) in claims {
            let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
            let bound = api
                .get_opt(name)
                .await
                .ok()
                .flatten()
                .is_some_and(|c| c.status.and_then(|s| s.phase).as_deref() == Some("Bound"));
            all_bound &= bound;
        }
        if all_bound {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The kubelet waits for unbound claims itself (FailedMount), so the pod is bound anyway.
    tracing::debug!(node, "claims not bound before binding the pod");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefilter_message_matches_upstream() {
        assert_eq!(
            prefilter_message(1, "persistentvolumeclaim \"x\" not found"),
            "0/1 nodes are available: persistentvolumeclaim \"x\" not found. preemption: 0/1 \
             nodes are available: 1 Preemption is not helpful for scheduling."
        );
    }
}
