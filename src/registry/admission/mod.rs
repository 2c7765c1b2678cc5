//! Admission plugins beyond the per-kind strategies, as upstream's admission chain has them:
//! each is a storage hook (see [`super::hooks`]) or, for eviction, a guard added to the
//! eviction's delete transaction, so what they charge commits atomically with the write.
//!
//! - [`eviction`]: `pods/eviction` honours PodDisruptionBudgets (429 when a budget would be
//!   broken; `disruptionsAllowed` decremented in the pod's delete transaction).
//! - [`node_restriction`]: NodeRestriction, a kubelet writes only its own Node, Lease and
//!   pods' status.
//! - [`service_account`]: a pod's service account must exist; its token is projected unless
//!   the pod or the account opts out.
//! - [`priority`]: `priorityClassName` → `spec.priority`/`preemptionPolicy` (Priority plugin).
//! - [`limitrange`]: LimitRange defaults, min/max and ratio on pod creation (before quota).
//! - [`pod_security`]: Pod Security Standards by namespace labels (enforce, audit, warn) over
//!   the cluster-wide defaults and exemptions of [`config`] (`--admission-control-config-file`).
//! - [`mutating_policy`]: MutatingAdmissionPolicy, CEL mutations before the mutating webhooks.
//! - [`quota`]: ResourceQuota charged at create, atomically with the object ([`usage`] says
//!   what an object counts).

pub mod config;
pub mod eviction;
pub mod limitrange;
pub mod mutating_policy;
pub mod node_restriction;
pub mod pod_security;
pub mod policy;
pub mod priority;
pub mod quota;
pub mod service_account;
pub mod webhook;
pub use ferrokube_controllers::quota_usage as usage;

use std::sync::Arc;

use super::ResourceDescriptor;

/// Installs the admission hooks on the built-in kinds, after the kinds' own hooks (so quota
/// charges what those filled in, like RuntimeClass overhead).
pub fn install(builtins: &[Arc<ResourceDescriptor>], config: &config::AdmissionConfig) {
    // Upstream's order: NodeRestriction first, mutating plugins (Priority, LimitRanger) before
    // validating ones (PodSecurity), quota last so it charges only what is admitted.
    let nodes: Arc<dyn super::hooks::StorageHooks> = Arc::new(node_restriction::NodeRestriction);
    for d in builtins {
        let restricted = matches!(
            (d.group.as_str(), d.kind.as_str()),
            ("", "Pod" | "Node") | ("coordination.k8s.io", "Lease") | ("storage.k8s.io", "CSINode")
        );
        if restricted {
            d.add_hook(nodes.clone());
        }
    }
    for d in builtins
        .iter()
        .filter(|d| d.group.is_empty() && d.kind == "Pod")
    {
        d.add_hook(Arc::new(service_account::ServiceAccountAdmission));
        d.add_hook(Arc::new(priority::PriorityAdmission));
        d.add_hook(Arc::new(limitrange::LimitRanger));
    }
    pod_security::install(builtins, Arc::new(config.pod_security.clone()));
    let quota: Arc<dyn super::hooks::StorageHooks> = Arc::new(quota::QuotaAdmission);
    for d in builtins.iter().filter(|d| d.namespaced) {
        d.add_hook(quota.clone());
    }
}
