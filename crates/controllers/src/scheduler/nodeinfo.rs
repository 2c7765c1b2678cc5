//! Per-node aggregate the scheduler filters and scores against (upstream `framework.NodeInfo`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod, Taint};

use super::predicates::effective_taints;
use super::resources::{allocatable, pod_requests, Resources};

/// A node with the pods bound (or assumed) to it and their summed requests.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// The node object.
    pub node: Arc<Node>,
    /// Pods on the node, by uid.
    pub pods: HashMap<String, Arc<Pod>>,
    /// Sum of the pods' requests.
    pub requested: Resources,
    /// Sum of the pods' requests with scoring defaults for unset cpu/memory.
    pub non_zero_requested: Resources,
    /// Allocatable resources of the node.
    pub allocatable: Resources,
    /// The node's taints plus the implicit not-ready/unreachable one (computed once per node
    /// update, not per pod).
    pub taints: Vec<Taint>,
}

impl NodeInfo {
    /// A node with no pods.
    pub fn new(node: Arc<Node>) -> Self {
        let allocatable = allocatable(&node);
        let taints = effective_taints(&node);
        Self {
            taints,
            node,
            pods: HashMap::new(),
            requested: Resources::default(),
            non_zero_requested: Resources::default(),
            allocatable,
        }
    }

    /// Replaces the node object, keeping its pods.
    pub fn set_node(&mut self, node: Arc<Node>) {
        self.allocatable = allocatable(&node);
        self.taints = effective_taints(&node);
        self.node = node;
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        self.node.metadata.name.as_deref().unwrap_or("")
    }

    /// The node's labels.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.node.metadata.labels.as_ref().unwrap_or(&EMPTY)
    }

    /// Adds (or replaces) a pod, keyed by uid.
    pub fn add_pod(&mut self, uid: &str, pod: Arc<Pod>) {
        self.remove_pod(uid);
        let mut r = pod_requests(&pod, false);
        r.pods = 1;
        let mut nz = pod_requests(&pod, true);
        nz.pods = 1;
        self.requested.add(&r);
        self.non_zero_requested.add(&nz);
        self.pods.insert(uid.to_owned(), pod);
    }

    /// Removes a pod by uid, if present.
    pub fn remove_pod(&mut self, uid: &str) {
        if let Some(old) = self.pods.remove(uid) {
            let mut r = pod_requests(&old, false);
            r.pods = 1;
            let mut nz = pod_requests(&old, true);
            nz.pods = 1;
            self.requested.sub(&r);
            self.non_zero_requested.sub(&nz);
        }
    }
}

/// Pod labels, empty when unset.
pub fn pod_labels(pod: &Pod) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    pod.metadata.labels.as_ref().unwrap_or(&EMPTY)
}
