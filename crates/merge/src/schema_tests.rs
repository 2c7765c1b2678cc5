//! Checks the generated table against known upstream facts.
use super::*;

fn field(av: &str, kind: &str, path: &[&str]) -> FieldInfo {
    MergeKeyTable::builtin()
        .field(av, kind, path)
        .unwrap_or_else(|| panic!("{av} {kind} {path:?} missing"))
}

fn list(info: FieldInfo) -> &'static ListDef {
    match info.ty {
        Ty::List(l) => l,
        other => panic!("not a list: {other:?}"),
    }
}

#[test]
fn containers_merge_by_name() {
    let f = field("v1", "Pod", &["spec", "containers"]);
    assert!(f.strategy.merge);
    assert_eq!(f.merge_key, Some("name"));
    assert_eq!(list(f).kind, ListKind::Map);
    assert_eq!(list(f).keys, &["name"]);
}

#[test]
fn container_ports_merge_by_container_port_with_protocol_list_map_keys() {
    let f = field(
        "apps/v1",
        "Deployment",
        &["spec", "template", "spec", "containers", "ports"],
    );
    assert_eq!(f.merge_key, Some("containerPort"));
    assert!(f.strategy.merge);
    assert_eq!(list(f).keys, &["containerPort", "protocol"]);
    let f = field("v1", "Service", &["spec", "ports"]);
    assert_eq!(f.merge_key, Some("port"));
    assert_eq!(list(f).keys, &["port", "protocol"]);
}

#[test]
fn env_volumes_conditions_owner_references() {
    assert_eq!(
        field("v1", "Pod", &["spec", "containers", "env"]).merge_key,
        Some("name")
    );
    let volumes = field("v1", "Pod", &["spec", "volumes"]);
    assert_eq!(volumes.merge_key, Some("name"));
    assert!(volumes.strategy.merge && volumes.strategy.retain_keys);
    assert_eq!(
        field("v1", "Pod", &["status", "conditions"]).merge_key,
        Some("type")
    );
    assert_eq!(
        field("v1", "Node", &["status", "conditions"]).merge_key,
        Some("type")
    );
    let owners = field("v1", "ConfigMap", &["metadata", "ownerReferences"]);
    assert_eq!(owners.merge_key, Some("uid"));
    assert_eq!(list(owners).keys, &["uid"]);
    assert_eq!(
        field("v1", "Pod", &["spec", "containers", "volumeMounts"]).merge_key,
        Some("mountPath")
    );
}

#[test]
fn tolerations_atomic_and_finalizers_set_merge() {
    let t = field("v1", "Pod", &["spec", "tolerations"]);
    assert!(!t.strategy.merge);
    assert_eq!(list(t).kind, ListKind::Atomic);
    let f = field("v1", "Pod", &["metadata", "finalizers"]);
    assert!(f.strategy.merge);
    assert_eq!(f.merge_key, None);
    assert_eq!(list(f).kind, ListKind::Set);
}

#[test]
fn deployment_strategy_retain_keys_and_atomic_maps() {
    assert!(
        field("apps/v1", "Deployment", &["spec", "strategy"])
            .strategy
            .retain_keys
    );
    assert!(
        field("policy/v1", "PodDisruptionBudget", &["spec", "selector"])
            .strategy
            .replace
    );
    match field("v1", "Pod", &["spec", "nodeSelector"]).ty {
        Ty::Map(m) => assert!(m.atomic),
        other => panic!("{other:?}"),
    }
    match field("v1", "Pod", &["metadata", "labels"]).ty {
        Ty::Map(m) => assert!(!m.atomic),
        other => panic!("{other:?}"),
    }
    let table = MergeKeyTable::builtin();
    match field("apps/v1", "Deployment", &["spec", "selector"]).ty {
        Ty::Struct(i) => assert!(table.struct_def(i).is_some_and(|s| s.atomic)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_builtin_kind_is_present() {
    let table = MergeKeyTable::builtin();
    for (av, kind) in [
        ("v1", "Pod"),
        ("v1", "Service"),
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "Namespace"),
        ("v1", "Node"),
        ("v1", "ServiceAccount"),
        ("v1", "Endpoints"),
        ("v1", "Event"),
        ("v1", "PersistentVolumeClaim"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"),
        ("apps/v1", "ReplicaSet"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("networking.k8s.io/v1", "Ingress"),
        ("coordination.k8s.io/v1", "Lease"),
        ("discovery.k8s.io/v1", "EndpointSlice"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ] {
        assert!(matches!(table.root(av, kind), Ty::Struct(_)), "{av} {kind}");
    }
    assert!(matches!(table.root("example.com/v1", "Widget"), Ty::Scalar));
    assert!(table.kind_count() > 100);
}

#[test]
fn split_api_version_handles_core() {
    assert_eq!(split_api_version("v1"), ("", "v1"));
    assert_eq!(split_api_version("apps/v1"), ("apps", "v1"));
}
