//! The Node authorizer's decision table (upstream node_authorizer_test.go's cases, on a small
//! graph: pod `ns/p1` on node `n1` references secret `s1`, configmap `c1`, claim `claim1`
//! (bound to volume `pv1`) and service account `sa1`).

use super::*;

struct Fixture;

impl NodeGraph for Fixture {
    fn related(&self, node: &str, kind: Vertex, namespace: &str, name: &str) -> bool {
        let known = match kind {
            Vertex::Pod => (namespace, name) == ("ns", "p1"),
            Vertex::Secret => (namespace, name) == ("ns", "s1"),
            Vertex::ConfigMap => (namespace, name) == ("ns", "c1"),
            Vertex::PersistentVolumeClaim => (namespace, name) == ("ns", "claim1"),
            Vertex::PersistentVolume => (namespace, name) == ("", "pv1"),
            Vertex::ServiceAccount => (namespace, name) == ("ns", "sa1"),
            Vertex::VolumeAttachment => false,
        };
        node == "n1" && known
    }
}

fn decide(node: &str, method: &str, path: &str, query: Option<&str>) -> (bool, String) {
    let info = RequestInfo::from_request(method, path, query);
    let (decision, reason) = authorize(node, &info, &Fixture);
    (decision.is_allowed(), reason)
}

fn allowed(node: &str, method: &str, path: &str) -> bool {
    decide(node, method, path, None).0
}

#[test]
fn identity_needs_the_prefix_and_the_group() {
    let u = |name: &str, groups: &[&str]| UserInfo {
        name: name.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        ..UserInfo::default()
    };
    assert_eq!(
        node_identity(&u("system:node:n1", &["system:nodes"])),
        Some("n1")
    );
    assert_eq!(
        node_identity(&u("system:node:", &["system:nodes"])),
        Some("")
    );
    assert_eq!(node_identity(&u("system:node:n1", &[])), None);
    assert_eq!(node_identity(&u("alice", &["system:nodes"])), None);
    let (decision, reason) = authorize("", &RequestInfo::default(), &Fixture);
    assert!(!decision.is_allowed());
    assert!(reason.starts_with("unknown node"));
}

#[test]
fn secrets_and_configmaps_only_when_a_bound_pod_references_them() {
    assert!(allowed("n1", "GET", "/api/v1/namespaces/ns/secrets/s1"));
    assert!(allowed("n1", "GET", "/api/v1/namespaces/ns/configmaps/c1"));
    let (ok, reason) = decide("n2", "GET", "/api/v1/namespaces/ns/secrets/s1", None);
    assert!(!ok);
    assert_eq!(
        reason,
        "no relationship found between node 'n2' and this object"
    );
    assert!(!allowed("n1", "GET", "/api/v1/namespaces/ns/secrets/other"));
    // A watch of one named object is a read of it; a list of all is not.
    assert!(
        decide(
            "n1",
            "GET",
            "/api/v1/namespaces/ns/secrets",
            Some("watch=1&fieldSelector=metadata.name%3Ds1")
        )
        .0
    );
    let (ok, reason) = decide("n1", "GET", "/api/v1/namespaces/ns/secrets", None);
    assert!(!ok);
    assert_eq!(reason, "No Object name found");
    let (ok, reason) = decide("n1", "DELETE", "/api/v1/namespaces/ns/secrets/s1", None);
    assert!(!ok);
    assert_eq!(reason, "can only read resources of this type");
    assert!(!allowed("n1", "GET", "/api/v1/secrets"));
}

#[test]
fn claims_volumes_and_tokens_follow_the_graph() {
    assert!(allowed(
        "n1",
        "GET",
        "/api/v1/namespaces/ns/persistentvolumeclaims/claim1"
    ));
    assert!(allowed("n1", "GET", "/api/v1/persistentvolumes/pv1"));
    assert!(!allowed("n2", "GET", "/api/v1/persistentvolumes/pv1"));
    let (ok, reason) = decide("n1", "GET", "/api/v1/persistentvolumes", None);
    assert!(!ok);
    assert_eq!(reason, "can only get individual resources of this type");
    assert!(allowed(
        "n1",
        "PATCH",
        "/api/v1/namespaces/ns/persistentvolumeclaims/claim1/status"
    ));
    assert!(allowed(
        "n1",
        "POST",
        "/api/v1/namespaces/ns/serviceaccounts/sa1/token"
    ));
    assert!(!allowed(
        "n2",
        "POST",
        "/api/v1/namespaces/ns/serviceaccounts/sa1/token"
    ));
    let (ok, reason) = decide(
        "n1",
        "GET",
        "/api/v1/namespaces/ns/serviceaccounts/sa1",
        None,
    );
    assert!(!ok);
    assert_eq!(
        reason,
        "can only create tokens for individual service accounts"
    );
}

#[test]
fn leases_only_its_own_in_kube_node_lease() {
    let own = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1";
    assert!(allowed("n1", "GET", own));
    assert!(allowed("n1", "PUT", own));
    assert!(allowed(
        "n1",
        "POST",
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
    ));
    let (ok, reason) = decide("n2", "PUT", own, None);
    assert!(!ok);
    assert_eq!(
        reason,
        "can only access node lease with the same name as the requesting node"
    );
    let (ok, reason) = decide(
        "n1",
        "GET",
        "/apis/coordination.k8s.io/v1/namespaces/default/leases/n1",
        None,
    );
    assert!(!ok);
    assert_eq!(
        reason,
        "can only access leases in the \"kube-node-lease\" system namespace"
    );
    assert!(!allowed(
        "n1",
        "GET",
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
    ));
}

#[test]
fn nodes_read_only_themselves_and_write_through_admission() {
    assert!(allowed("n1", "GET", "/api/v1/nodes/n1"));
    let (ok, reason) = decide("n1", "GET", "/api/v1/nodes/n2", None);
    assert!(!ok);
    assert_eq!(
        reason,
        "node 'n1' cannot read 'n2', only its own Node object"
    );
    let (ok, reason) = decide("n1", "GET", "/api/v1/nodes", None);
    assert!(!ok);
    assert_eq!(
        reason,
        "node 'n1' cannot read all nodes, only its own Node object"
    );
    assert!(
        decide(
            "n1",
            "GET",
            "/api/v1/nodes",
            Some("fieldSelector=metadata.name%3Dn1&watch=true")
        )
        .0
    );
    // NodeRestriction narrows these to its own Node.
    assert!(allowed("n1", "POST", "/api/v1/nodes"));
    assert!(allowed("n1", "PATCH", "/api/v1/nodes/n2/status"));
    assert!(!allowed("n1", "DELETE", "/api/v1/nodes/n1"));
}

#[test]
fn pods_by_graph_or_node_selector() {
    assert!(allowed("n1", "GET", "/api/v1/namespaces/ns/pods/p1"));
    assert!(!allowed("n2", "GET", "/api/v1/namespaces/ns/pods/p1"));
    assert!(
        decide(
            "n1",
            "GET",
            "/api/v1/pods",
            Some("watch=1&fieldSelector=spec.nodeName%3Dn1")
        )
        .0
    );
    assert!(
        decide(
            "n1",
            "GET",
            "/api/v1/pods",
            Some("fieldSelector=status.phase%21%3DFailed%2Cspec.nodeName%3D%3Dn1")
        )
        .0
    );
    let (ok, reason) = decide(
        "n1",
        "GET",
        "/api/v1/pods",
        Some("fieldSelector=spec.nodeName%3Dn2"),
    );
    assert!(!ok);
    assert_eq!(
        reason,
        "can only list/watch pods with spec.nodeName field selector"
    );
    assert!(
        !decide(
            "n1",
            "GET",
            "/api/v1/pods",
            Some("fieldSelector=spec.nodeName%21%3Dn1")
        )
        .0
    );
    assert!(allowed(
        "n1",
        "PATCH",
        "/api/v1/namespaces/ns/pods/p9/status"
    ));
    assert!(allowed(
        "n1",
        "POST",
        "/api/v1/namespaces/ns/pods/p9/eviction"
    ));
    assert!(allowed("n1", "DELETE", "/api/v1/namespaces/ns/pods/p9"));
    assert!(!allowed("n1", "PUT", "/api/v1/namespaces/ns/pods/p1"));
    assert!(!allowed("n1", "GET", "/api/v1/namespaces/ns/pods/p1/log"));
}

#[test]
fn everything_else_by_the_static_node_rules() {
    assert!(allowed("n1", "GET", "/api/v1/namespaces/ns/services/x"));
    assert!(allowed("n1", "POST", "/api/v1/namespaces/ns/events"));
    assert!(allowed(
        "n1",
        "POST",
        "/apis/certificates.k8s.io/v1/certificatesigningrequests"
    ));
    assert!(allowed(
        "n1",
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews"
    ));
    assert!(!allowed(
        "n1",
        "POST",
        "/apis/apps/v1/namespaces/ns/deployments"
    ));
    assert!(!allowed("n1", "DELETE", "/api/v1/namespaces/ns/services/x"));
}
