//! Filter plugins over one node (upstream NodeUnschedulable, NodeName, TaintToleration,
//! NodeAffinity, NodePorts, NodeResourcesFit), as pure functions. Each returns the
//! upstream reason strings on failure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, Taint, Toleration,
};

use super::nodeinfo::NodeInfo;
use super::resources::{pod_requests, Resources};

/// What the per-node plugins need of the incoming pod, computed once per decision rather
/// than once per node (upstream computes it in PreFilter and keeps it in the CycleState).
pub struct PodFacts<'a> {
    /// The pod.
    pub pod: &'a Pod,
    /// Its effective requests (NodeResourcesFit).
    pub requests: Resources,
    /// Its requests with scoring defaults for unset cpu/memory (scores).
    pub non_zero_requests: Resources,
    /// The host ports it asks for (NodePorts).
    pub host_ports: Vec<(String, String, i32)>,
}

impl<'a> PodFacts<'a> {
    /// Computes the facts of `pod`.
    pub fn new(pod: &'a Pod) -> Self {
        PodFacts {
            pod,
            requests: pod_requests(pod, false),
            non_zero_requests: pod_requests(pod, true),
            host_ports: host_ports(pod),
        }
    }
}

/// A filter failure: upstream reason strings and whether preemption could ever help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Reasons, e.g. `Insufficient cpu`.
    pub reasons: Vec<String>,
    /// `UnschedulableAndUnresolvable` in upstream terms.
    pub unresolvable: bool,
}

impl Failure {
    /// A failure preemption cannot fix.
    pub fn unresolvable(reason: impl Into<String>) -> Self {
        Self {
            reasons: vec![reason.into()],
            unresolvable: true,
        }
    }

    /// A failure preemption might fix.
    pub fn resolvable(reason: impl Into<String>) -> Self {
        Self {
            reasons: vec![reason.into()],
            unresolvable: false,
        }
    }
}

/// Reason for an unschedulable (cordoned) node.
pub const ERR_UNSCHEDULABLE: &str = "node(s) were unschedulable";
/// Reason for a pod that names another node.
pub const ERR_NODE_NAME: &str = "node(s) didn't match the requested node name";
/// Reason for selector/affinity mismatch.
pub const ERR_NODE_AFFINITY: &str = "node(s) didn't match Pod's node affinity/selector";
/// Reason for host port conflicts.
pub const ERR_PORTS: &str = "node(s) didn't have free ports for the requested pod ports";

/// Upstream `Toleration.ToleratesTaint`.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(e) = t.effect.as_deref().filter(|e| !e.is_empty()) {
        if e != taint.effect {
            return false;
        }
    }
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

fn tolerations(pod: &Pod) -> &[Toleration] {
    pod.spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[])
}

/// Taints of the node, plus the ones upstream's lifecycle controller would add for a node
/// that is not Ready (so a NotReady node is skipped even before the taint lands).
pub fn effective_taints(node: &Node) -> Vec<Taint> {
    let mut taints: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.as_str());
    let implicit = match ready {
        Some("True") => None,
        Some("False") => Some("node.kubernetes.io/not-ready"),
        _ => Some("node.kubernetes.io/unreachable"),
    };
    if let Some(key) = implicit {
        if !taints.iter().any(|t| t.key == key) {
            taints.push(Taint {
                key: key.to_owned(),
                effect: "NoSchedule".to_owned(),
                ..Default::default()
            });
        }
    }
    taints
}

/// NodeUnschedulable: a cordoned node only takes pods tolerating the unschedulable taint.
pub fn node_unschedulable(pod: &Pod, node: &Node) -> Result<(), Failure> {
    if node.spec.as_ref().and_then(|s| s.unschedulable) != Some(true) {
        return Ok(());
    }
    let taint = Taint {
        key: "node.kubernetes.io/unschedulable".into(),
        effect: "NoSchedule".into(),
        ..Default::default()
    };
    if tolerations(pod).iter().any(|t| tolerates(t, &taint)) {
        return Ok(());
    }
    Err(Failure::unresolvable(ERR_UNSCHEDULABLE))
}

/// NodeName: a pod naming a node fits only that node.
pub fn node_name(pod: &Pod, node: &Node) -> Result<(), Failure> {
    match pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
        Some(n) if !n.is_empty() && Some(n) != node.metadata.name.as_deref() => {
            Err(Failure::unresolvable(ERR_NODE_NAME))
        }
        _ => Ok(()),
    }
}

/// TaintToleration: every NoSchedule/NoExecute taint must be tolerated.
pub fn taint_toleration(pod: &Pod, node: &Node) -> Result<(), Failure> {
    tolerates_taints(pod, &effective_taints(node))
}

/// TaintToleration against a node's effective taints (precomputed in `NodeInfo`, since the
/// scheduler checks hundreds of nodes per pod).
pub fn tolerates_taints(pod: &Pod, taints: &[Taint]) -> Result<(), Failure> {
    let tols = tolerations(pod);
    for taint in taints {
        if taint.effect != "NoSchedule" && taint.effect != "NoExecute" {
            continue;
        }
        if !tols.iter().any(|t| tolerates(t, taint)) {
            return Err(Failure::unresolvable(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                taint.key,
                taint.value.as_deref().unwrap_or("")
            )));
        }
    }
    Ok(())
}

/// One `NodeSelectorRequirement` against node labels.
pub fn requirement_matches(
    req: &NodeSelectorRequirement,
    labels: &BTreeMap<String, String>,
) -> bool {
    let vals = req.values.as_deref().unwrap_or(&[]);
    let v = labels.get(&req.key);
    match req.operator.as_str() {
        "In" => v.is_some_and(|v| vals.contains(v)),
        "NotIn" => v.is_none_or(|v| !vals.contains(v)),
        "Exists" => v.is_some(),
        "DoesNotExist" => v.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (v, vals.first()) else {
                return false;
            };
            let (Ok(v), Ok(bound)) = (v.parse::<i64>(), bound.parse::<i64>()) else {
                return false;
            };
            if req.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// One term: all expressions and fields must match; an empty term matches nothing.
pub fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let empty = BTreeMap::new();
    let labels = node.metadata.labels.as_ref().unwrap_or(&empty);
    if !exprs.iter().all(|r| requirement_matches(r, labels)) {
        return false;
    }
    let name_map = BTreeMap::from([(
        "metadata.name".to_owned(),
        node.metadata.name.clone().unwrap_or_default(),
    )]);
    fields.iter().all(|r| requirement_matches(r, &name_map))
}

/// Whether `nodeSelector` and required node affinity both admit the node.
pub fn node_affinity_matches(pod: &Pod, node: &Node) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return true;
    };
    if let Some(sel) = spec.node_selector.as_ref() {
        let empty = BTreeMap::new();
        let labels = node.metadata.labels.as_ref().unwrap_or(&empty);
        if !sel.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            return false;
        }
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    match required {
        // Terms are ORed.
        Some(r) => r.node_selector_terms.iter().any(|t| term_matches(t, node)),
        None => true,
    }
}

/// NodeAffinity filter.
pub fn node_affinity(pod: &Pod, node: &Node) -> Result<(), Failure> {
    if node_affinity_matches(pod, node) {
        Ok(())
    } else {
        Err(Failure::unresolvable(ERR_NODE_AFFINITY))
    }
}

/// Host ports a pod asks for: (protocol, hostIP, port).
pub use ferrokube_apimachinery::host_ports::of as host_ports;

/// NodePorts: no wanted host port may clash with one in use (0.0.0.0 clashes with any IP).
pub fn node_ports(pod: &Pod, info: &NodeInfo) -> Result<(), Failure> {
    ports_free(&host_ports(pod), info)
}

fn ports_free(wanted: &[(String, String, i32)], info: &NodeInfo) -> Result<(), Failure> {
    if wanted.is_empty() {
        return Ok(());
    }
    for other in info.pods.values() {
        if ferrokube_apimachinery::host_ports::clash(wanted, &host_ports(other)) {
            return Err(Failure::resolvable(ERR_PORTS));
        }
    }
    Ok(())
}

/// NodeResourcesFit: requests must fit allocatable minus what is requested, incl. pod count.
pub fn resources_fit(pod: &Pod, info: &NodeInfo) -> Result<(), Failure> {
    requests_fit(&pod_requests(pod, false), info)
}

fn requests_fit(req: &Resources, info: &NodeInfo) -> Result<(), Failure> {
    let mut reasons = Vec::new();
    let alloc = &info.allocatable;
    let used = &info.requested;
    if used.pods + 1 > alloc.pods {
        reasons.push("Too many pods".to_owned());
    }
    if req.milli_cpu > 0 && req.milli_cpu > alloc.milli_cpu - used.milli_cpu {
        reasons.push("Insufficient cpu".to_owned());
    }
    if req.memory > 0 && req.memory > alloc.memory - used.memory {
        reasons.push("Insufficient memory".to_owned());
    }
    if req.ephemeral_storage > 0
        && req.ephemeral_storage > alloc.ephemeral_storage - used.ephemeral_storage
    {
        reasons.push("Insufficient ephemeral-storage".to_owned());
    }
    for (name, want) in &req.scalar {
        if *want == 0 {
            continue;
        }
        let have = alloc.scalar.get(name).copied().unwrap_or(0);
        let taken = used.scalar.get(name).copied().unwrap_or(0);
        if *want > have - taken {
            reasons.push(format!("Insufficient {name}"));
        }
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(Failure {
            reasons,
            unresolvable: false,
        })
    }
}

/// Runs the per-node filters in upstream's plugin order, stopping at the first failure.
pub fn filter_node(facts: &PodFacts<'_>, info: &NodeInfo) -> Result<(), Failure> {
    let (pod, node) = (facts.pod, &info.node);
    node_unschedulable(pod, node)?;
    node_name(pod, node)?;
    tolerates_taints(pod, &info.taints)?;
    node_affinity(pod, node)?;
    ports_free(&facts.host_ports, info)?;
    requests_fit(&facts.requests, info)
}

#[cfg(test)]
#[path = "predicates_tests.rs"]
pub(crate) mod tests;
