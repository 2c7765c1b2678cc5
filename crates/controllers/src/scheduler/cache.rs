//! The scheduler's view of the cluster, fed by watch events and by its own assumptions
//! (a pod is counted on its node as soon as we decide, before the binding lands).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use super::nodeinfo::NodeInfo;
use crate::util::{controller_ref, pod_phase};

/// Nodes, bound pods, and indexes the plugins need.
#[derive(Default)]
pub struct Cache {
    /// Nodes in a stable order (for rotated sampling); a decision borrows the whole slice, so
    /// taking a snapshot costs nothing per node (upstream keeps a node list for the same reason).
    nodes: Vec<NodeInfo>,
    /// Node name -> position in `nodes`.
    index: HashMap<String, usize>,
    /// Bound or assumed pods: uid -> node name.
    pub pod_node: HashMap<String, String>,
    /// Pods bound to nodes we have not seen yet, by node name.
    pub orphans: HashMap<String, HashMap<String, Arc<Pod>>>,
    /// controller uid -> node -> count of its pods.
    pub owner_counts: HashMap<String, HashMap<String, i64>>,
    /// Pods with required anti-affinity, by uid.
    pub anti_pods: HashMap<String, (Arc<Pod>, String)>,
    /// Namespace labels.
    pub namespaces: HashMap<String, BTreeMap<String, String>>,
}

fn has_required_anti(p: &Pod) -> bool {
    p.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|x| {
            x.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .is_some_and(|t| !t.is_empty())
}

impl Cache {
    /// Every node, in sampling order.
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// A node by name.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|i| &self.nodes[*i])
    }

    fn node_mut(&mut self, name: &str) -> Option<&mut NodeInfo> {
        self.index.get(name).map(|i| &mut self.nodes[*i])
    }

    /// Names of every node.
    pub fn node_names(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(NodeInfo::name)
    }

    /// Adds or updates a node.
    pub fn upsert_node(&mut self, node: Node) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let node = Arc::new(node);
        match self.node_mut(&name) {
            Some(info) => info.set_node(node),
            None => {
                let mut info = NodeInfo::new(node);
                for (uid, p) in self.orphans.remove(&name).unwrap_or_default() {
                    info.add_pod(&uid, p);
                }
                self.index.insert(name, self.nodes.len());
                self.nodes.push(info);
            }
        }
    }

    /// Removes a node (its pods wait as orphans in case it comes back).
    pub fn remove_node(&mut self, name: &str) {
        let Some(i) = self.index.remove(name) else {
            return;
        };
        let info = self.nodes.swap_remove(i);
        if let Some(moved) = self.nodes.get(i) {
            self.index.insert(moved.name().to_owned(), i);
        }
        self.orphans.insert(name.to_owned(), info.pods);
    }

    /// Places (or moves) a pod on `node`.
    pub fn add_pod(&mut self, uid: &str, node: &str, pod: Arc<Pod>) {
        self.remove_pod(uid);
        if let Some(owner) = controller_ref(&pod.metadata) {
            *self
                .owner_counts
                .entry(owner.uid.clone())
                .or_default()
                .entry(node.to_owned())
                .or_insert(0) += 1;
        }
        if has_required_anti(&pod) {
            self.anti_pods
                .insert(uid.to_owned(), (pod.clone(), node.to_owned()));
        }
        match self.node_mut(node) {
            Some(info) => info.add_pod(uid, pod),
            None => {
                self.orphans
                    .entry(node.to_owned())
                    .or_default()
                    .insert(uid.to_owned(), pod);
            }
        }
        self.pod_node.insert(uid.to_owned(), node.to_owned());
    }

    /// Forgets a pod.
    pub fn remove_pod(&mut self, uid: &str) {
        let Some(node) = self.pod_node.remove(uid) else {
            return;
        };
        self.anti_pods.remove(uid);
        let removed = match self.node_mut(&node) {
            Some(info) => {
                let p = info.pods.get(uid).cloned();
                info.remove_pod(uid);
                p
            }
            None => self.orphans.get_mut(&node).and_then(|m| m.remove(uid)),
        };
        if let Some(owner) = removed.as_ref().and_then(|p| controller_ref(&p.metadata)) {
            if let Some(m) = self.owner_counts.get_mut(&owner.uid) {
                if let Some(c) = m.get_mut(&node) {
                    *c -= 1;
                    if *c <= 0 {
                        m.remove(&node);
                    }
                }
                if m.is_empty() {
                    self.owner_counts.remove(&owner.uid);
                }
            }
        }
    }

    /// Applies a bound pod from the watch: terminal or deleted pods stop counting.
    pub fn observe_bound_pod(&mut self, pod: Pod) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let phase = pod_phase(&pod);
        if phase == "Succeeded" || phase == "Failed" {
            self.remove_pod(&uid);
            return;
        }
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        self.add_pod(&uid, &node, Arc::new(pod));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scheduler::predicates::tests::{node, pod};

    #[test]
    fn pods_before_nodes_are_adopted() {
        let mut c = Cache::default();
        let p = pod(
            "p",
            json!({"metadata": {"ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs1", "controller": true}]},
            "spec": {"nodeName": "a"}}),
        );
        c.observe_bound_pod(p);
        c.upsert_node(node("a", json!({})));
        assert_eq!(c.node("a").unwrap().requested.pods, 1);
        assert_eq!(c.owner_counts["rs1"]["a"], 1);
        c.remove_pod("p");
        assert_eq!(c.node("a").unwrap().requested.pods, 0);
        assert!(c.owner_counts.is_empty());
    }

    #[test]
    fn terminal_pods_release_resources() {
        let mut c = Cache::default();
        c.upsert_node(node("a", json!({})));
        c.observe_bound_pod(pod("p", json!({"spec": {"nodeName": "a"}})));
        assert_eq!(c.node("a").unwrap().requested.pods, 1);
        c.observe_bound_pod(pod(
            "p",
            json!({"spec": {"nodeName": "a"}, "status": {"phase": "Succeeded"}}),
        ));
        assert_eq!(c.node("a").unwrap().requested.pods, 0);
    }

    #[test]
    fn removing_a_node_keeps_the_index_consistent() {
        let mut c = Cache::default();
        for n in ["a", "b", "c"] {
            c.upsert_node(node(n, json!({})));
        }
        c.observe_bound_pod(pod("p", json!({"spec": {"nodeName": "a"}})));
        c.remove_node("a");
        assert!(c.node("a").is_none());
        assert_eq!(c.nodes().len(), 2);
        for n in ["b", "c"] {
            assert_eq!(c.node(n).unwrap().name(), n);
        }
        // The pod waits as an orphan and counts again when its node returns.
        c.upsert_node(node("a", json!({})));
        assert_eq!(c.node("a").unwrap().requested.pods, 1);
    }
}
