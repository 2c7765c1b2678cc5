use std::sync::Arc;

use serde_json::{json, Value};

use super::*;

pub(crate) fn node(name: &str, extra: Value) -> Node {
    let mut v = json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {},
        "status": {
            "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}]
        }
    });
    merge(&mut v, extra);
    serde_json::from_value(v).unwrap()
}

pub(crate) fn pod(name: &str, extra: Value) -> Pod {
    let mut v = json!({
        "metadata": {"name": name, "namespace": "default", "uid": name},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    });
    merge(&mut v, extra);
    serde_json::from_value(v).unwrap()
}

fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

fn info(n: Node, pods: Vec<Pod>) -> NodeInfo {
    let mut i = NodeInfo::new(Arc::new(n));
    for p in pods {
        let uid = p.metadata.uid.clone().unwrap();
        i.add_pod(&uid, Arc::new(p));
    }
    i
}

#[test]
fn cordoned_node_rejects_unless_tolerated() {
    let n = node("n", json!({"spec": {"unschedulable": true}}));
    assert_eq!(
        node_unschedulable(&pod("p", json!({})), &n)
            .unwrap_err()
            .reasons,
        vec![ERR_UNSCHEDULABLE]
    );
    let tol = pod(
        "p",
        json!({"spec": {"tolerations": [
        {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]}}),
    );
    assert!(node_unschedulable(&tol, &n).is_ok());
}

#[test]
fn node_name_must_match() {
    let n = node("a", json!({}));
    assert!(node_name(&pod("p", json!({"spec": {"nodeName": "a"}})), &n).is_ok());
    assert!(node_name(&pod("p", json!({"spec": {"nodeName": "b"}})), &n).is_err());
}

#[test]
fn taints_need_tolerations() {
    let n = node(
        "n",
        json!({"spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}}),
    );
    let err = taint_toleration(&pod("p", json!({})), &n).unwrap_err();
    assert_eq!(
        err.reasons,
        vec!["node(s) had untolerated taint {dedicated: gpu}"]
    );
    let ok = pod(
        "p",
        json!({"spec": {"tolerations": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}}),
    );
    assert!(taint_toleration(&ok, &n).is_ok());
    let wrong = pod(
        "p",
        json!({"spec": {"tolerations": [{"key": "dedicated", "value": "cpu"}]}}),
    );
    assert!(taint_toleration(&wrong, &n).is_err());
    let prefer = node(
        "n",
        json!({"spec": {"taints": [{"key": "x", "effect": "PreferNoSchedule"}]}}),
    );
    assert!(taint_toleration(&pod("p", json!({})), &prefer).is_ok());
}

#[test]
fn toleration_table() {
    let taint = Taint {
        key: "k".into(),
        value: Some("v".into()),
        effect: "NoExecute".into(),
        ..Default::default()
    };
    let t = |v: Value| -> Toleration { serde_json::from_value(v).unwrap() };
    assert!(tolerates(&t(json!({"operator": "Exists"})), &taint));
    assert!(tolerates(
        &t(json!({"key": "k", "operator": "Exists"})),
        &taint
    ));
    assert!(tolerates(&t(json!({"key": "k", "value": "v"})), &taint));
    assert!(!tolerates(&t(json!({"key": "k", "value": "w"})), &taint));
    assert!(!tolerates(
        &t(json!({"key": "k", "operator": "Exists", "effect": "NoSchedule"})),
        &taint
    ));
    assert!(!tolerates(
        &t(json!({"key": "other", "operator": "Exists"})),
        &taint
    ));
}

#[test]
fn not_ready_node_has_implicit_taint() {
    let n = node(
        "n",
        json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
    );
    let err = taint_toleration(&pod("p", json!({})), &n).unwrap_err();
    assert_eq!(
        err.reasons,
        vec!["node(s) had untolerated taint {node.kubernetes.io/not-ready: }"]
    );
    let unknown = node(
        "n",
        json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}),
    );
    assert!(taint_toleration(&pod("p", json!({})), &unknown).is_err());
}

#[test]
fn node_selector_and_required_affinity() {
    let n = node(
        "n",
        json!({"metadata": {"labels": {"disk": "ssd", "gen": "5"}}}),
    );
    assert!(node_affinity(
        &pod("p", json!({"spec": {"nodeSelector": {"disk": "ssd"}}})),
        &n
    )
    .is_ok());
    let err = node_affinity(
        &pod("p", json!({"spec": {"nodeSelector": {"disk": "hdd"}}})),
        &n,
    )
    .unwrap_err();
    assert_eq!(err.reasons, vec![ERR_NODE_AFFINITY]);
    let aff = |op: &str, vals: Value| {
        pod(
            "p",
            json!({"spec": {"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "gen", "operator": op, "values": vals}]}]}}}}}),
        )
    };
    assert!(node_affinity(&aff("In", json!(["5", "6"])), &n).is_ok());
    assert!(node_affinity(&aff("NotIn", json!(["5"])), &n).is_err());
    assert!(node_affinity(&aff("Gt", json!(["4"])), &n).is_ok());
    assert!(node_affinity(&aff("Lt", json!(["4"])), &n).is_err());
    assert!(node_affinity(&aff("Exists", json!([])), &n).is_ok());
    assert!(node_affinity(&aff("DoesNotExist", json!([])), &n).is_err());
    let by_field = pod(
        "p",
        json!({"spec": {"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]}]}}}}}),
    );
    assert!(node_affinity(&by_field, &n).is_ok());
    let empty_term = pod(
        "p",
        json!({"spec": {"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{}]}}}}}),
    );
    assert!(node_affinity(&empty_term, &n).is_err());
}

#[test]
fn host_port_conflicts() {
    let with_port = |name: &str, port: i32, ip: &str| {
        pod(
            name,
            json!({"spec": {"containers": [
        {"name": "c", "image": "x", "ports": [{"containerPort": 80, "hostPort": port, "hostIP": ip}]}]}}),
        )
    };
    let i = info(node("n", json!({})), vec![with_port("a", 8080, "0.0.0.0")]);
    assert_eq!(
        node_ports(&with_port("b", 8080, "10.0.0.1"), &i)
            .unwrap_err()
            .reasons,
        vec![ERR_PORTS]
    );
    assert!(node_ports(&with_port("b", 8081, "0.0.0.0"), &i).is_ok());
    assert!(node_ports(&pod("c", json!({})), &i).is_ok());
}

#[test]
fn resources_fit_counts_cpu_memory_and_pods() {
    let big = |name: &str, cpu: &str| {
        pod(
            name,
            json!({"spec": {"containers": [
        {"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}]}}),
        )
    };
    let i = info(node("n", json!({})), vec![big("a", "3")]);
    assert!(resources_fit(&big("b", "1"), &i).is_ok());
    assert_eq!(
        resources_fit(&big("b", "1500m"), &i).unwrap_err().reasons,
        vec!["Insufficient cpu"]
    );
    let tiny = node(
        "t",
        json!({"status": {"allocatable": {"cpu": "4", "memory": "16Gi", "pods": "1"}}}),
    );
    let full = info(tiny, vec![pod("x", json!({}))]);
    assert_eq!(
        resources_fit(&pod("y", json!({})), &full)
            .unwrap_err()
            .reasons,
        vec!["Too many pods"]
    );
    let gpu = pod(
        "g",
        json!({"spec": {"containers": [
        {"name": "c", "image": "x", "resources": {"requests": {"nvidia.com/gpu": "1"}}}]}}),
    );
    assert_eq!(
        resources_fit(&gpu, &i).unwrap_err().reasons,
        vec!["Insufficient nvidia.com/gpu"]
    );
}

#[test]
fn filter_stops_at_first_failing_plugin() {
    let n = node(
        "n",
        json!({"spec": {"unschedulable": true}, "metadata": {"labels": {"a": "b"}}}),
    );
    let p = pod("p", json!({"spec": {"nodeSelector": {"a": "c"}}}));
    assert_eq!(
        filter_node(&PodFacts::new(&p), &info(n, vec![]))
            .unwrap_err()
            .reasons,
        vec![ERR_UNSCHEDULABLE]
    );
}
