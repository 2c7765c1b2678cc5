//! Upstream's kubelet admission (`lifecycle/predicate.go`): a pod the node cannot run is never
//! started and ends Failed with the predicate's reason. Here: sysctls (see [`super::sysctls`])
//! and host ports already held by another active pod on the node, which matters for pods that
//! name the node themselves and so never met the scheduler's NodePorts filter.

use ferrokube_apimachinery::host_ports::{self, HostPort};
use k8s_openapi::api::core::v1::{Pod, PodStatus};

/// Upstream's reason for a pod whose host ports are taken (the predicate's name).
pub const NODE_PORTS: &str = "NodePorts";
/// Upstream's message for it (`PredicateFailureError.Error()`).
pub const NODE_PORTS_MESSAGE: &str =
    "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports";

/// Why a pod was refused: upstream's reason and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `status.reason`.
    pub reason: &'static str,
    /// `status.message`.
    pub message: String,
}

/// Whether the pod has finished (it holds nothing on the node any more).
pub fn terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded") | Some("Failed")
    )
}

/// The refusal of `pod` when one of its host ports is in `held` (the ports of the node's
/// other admitted, active pods); terminal pods are not admitted again.
pub fn ports_refusal(pod: &Pod, held: &[HostPort]) -> Option<Refusal> {
    let wanted = host_ports::of(pod);
    (!terminal(pod) && host_ports::clash(&wanted, held)).then(|| Refusal {
        reason: NODE_PORTS,
        message: NODE_PORTS_MESSAGE.into(),
    })
}

/// The status of a refused pod.
pub fn refused(mut status: PodStatus, refusal: &Refusal) -> PodStatus {
    status.phase = Some("Failed".into());
    status.reason = Some(refusal.reason.into());
    status.message = Some(refusal.message.clone());
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(phase: &str) -> Pod {
        serde_json::from_value(json!({"spec": {"containers": [{"name": "c",
            "ports": [{"containerPort": 21017, "hostPort": 21017}]}]},
            "status": {"phase": phase}}))
        .expect("pod")
    }

    #[test]
    fn a_held_host_port_refuses_the_pod_in_upstream_words() {
        let held = host_ports::of(&pod("Running"));
        let refusal = ports_refusal(&pod("Pending"), &held).expect("refused");
        assert_eq!(refusal.reason, "NodePorts");
        let status = refused(PodStatus::default(), &refusal);
        assert_eq!(status.phase.as_deref(), Some("Failed"));
        assert_eq!(status.message.as_deref(), Some(NODE_PORTS_MESSAGE));
        assert_eq!(ports_refusal(&pod("Pending"), &[]), None);
        assert_eq!(ports_refusal(&pod("Failed"), &held), None);
    }
}
