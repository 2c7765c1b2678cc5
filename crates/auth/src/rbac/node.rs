//! Upstream's Node authorizer as pure logic: a kubelet (`system:node:<name>` in `system:nodes`)
//! reads secrets, configmaps, claims, volumes and service-account tokens only when a pod bound
//! to it references them, touches only its own Lease and reads only its own Node, lists pods
//! only with `spec.nodeName=<itself>`; everything else is decided by the static node rules.
//! Writes the authorizer lets through for nodes in general (pod status, Node updates, mirror
//! pods) are narrowed further by the NodeRestriction admission plugin.
//!
//! Relationships come from a [`NodeGraph`] the server keeps current from the store.

use super::{rule_allows, Decision, RequestInfo};
use crate::rbac::bootstrap::{node_rules, NODES_GROUP, NODE_USER_PREFIX};
use crate::UserInfo;

/// The kinds of objects the graph relates to nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vertex {
    /// A pod (bound to the node).
    Pod,
    /// A secret referenced by a pod bound to the node.
    Secret,
    /// A configmap referenced by a pod bound to the node.
    ConfigMap,
    /// A claim a pod bound to the node mounts.
    PersistentVolumeClaim,
    /// A volume bound to such a claim (cluster-scoped: namespace is empty).
    PersistentVolume,
    /// The service account of a pod bound to the node.
    ServiceAccount,
    /// A volume attachment (we track none: always unrelated).
    VolumeAttachment,
}

impl Vertex {
    fn describe(self) -> &'static str {
        match self {
            Vertex::Pod => "pod",
            Vertex::Secret => "secret",
            Vertex::ConfigMap => "configmap",
            Vertex::PersistentVolumeClaim => "pvc",
            Vertex::PersistentVolume => "pv",
            Vertex::ServiceAccount => "serviceAccount",
            Vertex::VolumeAttachment => "volumeattachment",
        }
    }
}

/// Which objects are related to which node.
pub trait NodeGraph {
    /// Whether a path leads from object `kind` `namespace/name` to node `node`.
    fn related(&self, node: &str, kind: Vertex, namespace: &str, name: &str) -> bool;
}

/// Upstream's node identifier: `Some(name)` for `system:node:<name>` in `system:nodes` (the
/// name may be empty: a node nobody can tell), None for everyone else.
pub fn node_identity(user: &UserInfo) -> Option<&str> {
    let name = user.name.strip_prefix(NODE_USER_PREFIX)?;
    user.groups.iter().any(|g| g == NODES_GROUP).then_some(name)
}

static NODE_RULES: std::sync::LazyLock<Vec<k8s_openapi::api::rbac::v1::PolicyRule>> =
    std::sync::LazyLock::new(node_rules);

const ALLOWED: &str = "Node authorizer";

fn allow() -> (Decision, String) {
    (Decision::Allow(ALLOWED.into()), String::new())
}

fn deny(reason: impl Into<String>) -> (Decision, String) {
    (Decision::NoOpinion, reason.into())
}

/// Decides a request of node `node` (see [`node_identity`]); the reason explains a refusal
/// and goes into the 403 message as upstream's does.
pub fn authorize(node: &str, info: &RequestInfo, graph: &dyn NodeGraph) -> (Decision, String) {
    if node.is_empty() {
        return deny(format!("unknown node for user \"{NODE_USER_PREFIX}\""));
    }
    if info.resource_request {
        let decided =
            match (info.api_group.as_str(), info.resource.as_str()) {
                ("", "secrets") => Some(read_namespaced(node, Vertex::Secret, info, graph)),
                ("", "configmaps") => Some(read_namespaced(node, Vertex::ConfigMap, info, graph)),
                ("", "persistentvolumeclaims") if info.subresource == "status" => Some(
                    status_update(node, Vertex::PersistentVolumeClaim, info, graph),
                ),
                ("", "persistentvolumeclaims") => {
                    Some(get_only(node, Vertex::PersistentVolumeClaim, info, graph))
                }
                ("", "persistentvolumes") => {
                    Some(get_only(node, Vertex::PersistentVolume, info, graph))
                }
                ("storage.k8s.io", "volumeattachments") => {
                    Some(get_only(node, Vertex::VolumeAttachment, info, graph))
                }
                ("", "serviceaccounts") => Some(create_token(node, info, graph)),
                ("coordination.k8s.io", "leases") => Some(lease(node, info)),
                ("storage.k8s.io", "csinodes") => Some(csi_node(node, info)),
                ("", "nodes") => Some(node_object(node, info)),
                ("", "pods") => Some(pod(node, info, graph)),
                _ => None,
            };
        if let Some(decided) = decided {
            return decided;
        }
    }
    if NODE_RULES.iter().any(|r| rule_allows(info, r)) {
        return allow();
    }
    deny("")
}

/// Secrets and configmaps: get/list/watch of one named object related to the node.
fn read_namespaced(
    node: &str,
    kind: Vertex,
    info: &RequestInfo,
    graph: &dyn NodeGraph,
) -> (Decision, String) {
    if !matches!(info.verb.as_str(), "get" | "list" | "watch") {
        return deny("can only read resources of this type");
    }
    if !info.subresource.is_empty() {
        return deny("cannot read subresource");
    }
    if info.namespace.is_empty() {
        return deny("can only read namespaced object of this type");
    }
    related(node, kind, info, graph)
}

/// Claims, volumes and attachments: only `get` of one related object.
fn get_only(
    node: &str,
    kind: Vertex,
    info: &RequestInfo,
    graph: &dyn NodeGraph,
) -> (Decision, String) {
    if info.verb != "get" {
        return deny("can only get individual resources of this type");
    }
    if !info.subresource.is_empty() {
        return deny("cannot get subresource");
    }
    related(node, kind, info, graph)
}

fn status_update(
    node: &str,
    kind: Vertex,
    info: &RequestInfo,
    graph: &dyn NodeGraph,
) -> (Decision, String) {
    if !matches!(info.verb.as_str(), "update" | "patch") {
        return deny("can only get/update/patch this type");
    }
    related(node, kind, info, graph)
}

fn related(
    node: &str,
    kind: Vertex,
    info: &RequestInfo,
    graph: &dyn NodeGraph,
) -> (Decision, String) {
    if info.name.is_empty() {
        return deny("No Object name found");
    }
    if graph.related(node, kind, &info.namespace, &info.name) {
        return allow();
    }
    tracing::debug!(
        node,
        kind = kind.describe(),
        namespace = %info.namespace,
        name = %info.name,
        "NODE DENY: no relationship"
    );
    deny(format!(
        "no relationship found between node '{node}' and this object"
    ))
}

/// `serviceaccounts/token` for the accounts of the node's pods.
fn create_token(node: &str, info: &RequestInfo, graph: &dyn NodeGraph) -> (Decision, String) {
    if info.verb != "create" || info.name.is_empty() {
        return deny("can only create tokens for individual service accounts");
    }
    if info.subresource != "token" {
        return deny("can only create token subresource of serviceaccount");
    }
    related(node, Vertex::ServiceAccount, info, graph)
}

fn lease(node: &str, info: &RequestInfo) -> (Decision, String) {
    if !matches!(
        info.verb.as_str(),
        "get" | "create" | "update" | "patch" | "delete"
    ) {
        return deny("can only get, create, update, patch, or delete a node lease");
    }
    if info.namespace != "kube-node-lease" {
        return deny("can only access leases in the \"kube-node-lease\" system namespace");
    }
    // On create the name is in the body: NodeRestriction checks it.
    if info.verb != "create" && info.name != node {
        return deny("can only access node lease with the same name as the requesting node");
    }
    allow()
}

fn csi_node(node: &str, info: &RequestInfo) -> (Decision, String) {
    if !matches!(
        info.verb.as_str(),
        "get" | "create" | "update" | "patch" | "delete"
    ) {
        return deny("can only get, create, update, patch, or delete a CSINode");
    }
    if !info.subresource.is_empty() {
        return deny("cannot authorize CSINode subresources");
    }
    if info.verb != "create" && info.name != node {
        return deny("can only access CSINode with the same name as the requesting node");
    }
    allow()
}

/// Node objects: writes go on to NodeRestriction; reads only of its own Node.
fn node_object(node: &str, info: &RequestInfo) -> (Decision, String) {
    match (info.subresource.as_str(), info.verb.as_str()) {
        ("", "create" | "update" | "patch") | ("status", "update" | "patch") => allow(),
        ("", "get" | "list" | "watch") => match info.name.as_str() {
            n if n == node => allow(),
            "" => deny(format!(
                "node '{node}' cannot read all nodes, only its own Node object"
            )),
            other => deny(format!(
                "node '{node}' cannot read '{other}', only its own Node object"
            )),
        },
        _ => deny(""),
    }
}

/// Pods: its own pods by name, lists scoped to `spec.nodeName=<node>`, writes narrowed by
/// NodeRestriction.
fn pod(node: &str, info: &RequestInfo, graph: &dyn NodeGraph) -> (Decision, String) {
    match (info.subresource.as_str(), info.verb.as_str()) {
        ("", "get") => get_only(node, Vertex::Pod, info, graph),
        ("", "list" | "watch") => {
            if selects_node(&info.field_selector, node) {
                return allow();
            }
            if !info.name.is_empty() {
                return related(node, Vertex::Pod, info, graph);
            }
            deny("can only list/watch pods with spec.nodeName field selector")
        }
        ("", "create" | "delete") | ("status", "update" | "patch") | ("eviction", "create") => {
            allow()
        }
        _ => deny(""),
    }
}

/// Whether a field selector holds the requirement `spec.nodeName=<node>` (`=` or `==`).
fn selects_node(selector: &str, node: &str) -> bool {
    selector.split(',').any(|term| {
        let term = term.trim();
        let Some((field, value)) = term.split_once("==").or_else(|| term.split_once('=')) else {
            return false;
        };
        !field.ends_with('!') && field.trim() == "spec.nodeName" && value.trim() == node
    })
}

#[cfg(test)]
#[path = "node_tests.rs"]
mod tests;
