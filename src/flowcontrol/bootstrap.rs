//! Upstream's mandatory and suggested API Priority and Fairness configuration
//! (`k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap`), created at start when absent so that
//! `kubectl get flowschemas,prioritylevelconfigurations` shows what classifies requests, and an
//! operator may edit or add to it like upstream's.

use serde_json::{json, Value};

use crate::registry::rest::WriteOptions;
use crate::registry::Registry;

/// Annotation upstream puts on the objects it keeps up to date.
const AUTO_UPDATE: &str = "apf.kubernetes.io/autoupdate-spec";

const SYSTEM_GROUPS: &[&str] = &["system:authenticated", "system:unauthenticated"];

/// A `Limited` level with queuing: (name, nominal shares, lendable %, queues, handSize).
const QUEUED_LEVELS: &[(&str, i32, i32, i32, i32)] = &[
    ("system", 30, 33, 64, 6),
    ("node-high", 40, 25, 64, 6),
    ("leader-election", 10, 0, 16, 4),
    ("workload-high", 40, 50, 128, 6),
    ("workload-low", 100, 90, 128, 6),
    ("global-default", 20, 50, 128, 6),
];

fn meta(name: &str) -> Value {
    json!({"name": name, "annotations": {AUTO_UPDATE: "true"}})
}

/// Every PriorityLevelConfiguration upstream bootstraps.
pub fn priority_levels() -> Vec<Value> {
    let mut levels = vec![
        json!({"metadata": meta("exempt"), "spec": {"type": "Exempt",
            "exempt": {"nominalConcurrencyShares": 0, "lendablePercent": 0}}}),
        json!({"metadata": meta("catch-all"), "spec": {"type": "Limited", "limited": {
            "nominalConcurrencyShares": 5, "lendablePercent": 0,
            "limitResponse": {"type": "Reject"}}}}),
    ];
    for (name, shares, lendable, queues, hand) in QUEUED_LEVELS {
        levels.push(
            json!({"metadata": meta(name), "spec": {"type": "Limited", "limited": {
            "nominalConcurrencyShares": shares, "lendablePercent": lendable,
            "limitResponse": {"type": "Queue", "queuing": {
                "queues": queues, "handSize": hand, "queueLengthLimit": 50}}}}}),
        );
    }
    levels
}

fn groups(names: &[&str]) -> Vec<Value> {
    names
        .iter()
        .map(|n| json!({"kind": "Group", "group": {"name": n}}))
        .collect()
}

fn users(names: &[&str]) -> Vec<Value> {
    names
        .iter()
        .map(|n| json!({"kind": "User", "user": {"name": n}}))
        .collect()
}

fn everything() -> Value {
    json!({
        "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"],
            "clusterScope": true, "namespaces": ["*"]}],
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]
    })
}

fn schema(name: &str, level: &str, precedence: i32, by_user: bool, rules: Vec<Value>) -> Value {
    let mut spec = json!({"priorityLevelConfiguration": {"name": level},
        "matchingPrecedence": precedence, "rules": rules});
    if by_user {
        spec["distinguisherMethod"] = json!({"type": "ByUser"});
    }
    json!({"metadata": meta(name), "spec": spec})
}

/// `subjects` allowed everything.
fn all_for(subjects: Vec<Value>) -> Vec<Value> {
    let mut rule = everything();
    rule["subjects"] = json!(subjects);
    vec![rule]
}

/// Every FlowSchema upstream bootstraps (the ones for components we do not run, such as the
/// endpoint controller's own identity, included: they match nothing here).
#[rustfmt::skip]
pub fn flow_schemas() -> Vec<Value> {
    let leases = json!([{"verbs": ["get", "create", "update"],
        "apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "namespaces": ["*"]}]);
    let kube_system_sas = vec![json!({"kind": "ServiceAccount",
        "serviceAccount": {"namespace": "kube-system", "name": "*"}})];
    let components = users(&["system:kube-controller-manager", "system:kube-scheduler"]);
    let component_sas = ["kube-controller-manager", "kube-scheduler"].map(|name| {
        json!({"kind": "ServiceAccount",
            "serviceAccount": {"namespace": "kube-system", "name": name}})
    });
    let leader_electors = [components, component_sas.to_vec()].concat();
    let endpoint_writers = [
        users(&["system:kube-controller-manager"]),
        vec![json!({"kind": "ServiceAccount", "serviceAccount":
            {"namespace": "kube-system", "name": "endpoint-controller"}})],
    ]
    .concat();
    let probes = json!({"subjects": groups(SYSTEM_GROUPS),
        "nonResourceRules": [{"verbs": ["get"],
            "nonResourceURLs": ["/healthz", "/readyz", "/livez"]}]});
    let endpoints = json!({"subjects": endpoint_writers,
        "resourceRules": [{"verbs": ["get", "create", "update"], "apiGroups": [""],
            "resources": ["endpoints"], "namespaces": ["*"]}]});
    let node_high = json!({"subjects": groups(&["system:nodes"]), "resourceRules": [
        {"verbs": ["*"], "apiGroups": ["*"], "resources": ["nodes", "nodes/status"],
            "clusterScope": true},
        {"verbs": ["*"], "apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
            "namespaces": ["*"]}]});
    let table: Vec<(&str, &str, i32, Vec<Value>)> = vec![
        ("exempt", "exempt", 1, all_for(groups(&["system:masters"]))),
        ("probes", "exempt", 2, vec![probes]),
        ("system-leader-election", "leader-election", 100,
            vec![json!({"subjects": leader_electors, "resourceRules": leases})]),
        ("endpoint-controller", "workload-high", 150, vec![endpoints]),
        ("workload-leader-election", "leader-election", 200,
            vec![json!({"subjects": kube_system_sas, "resourceRules": leases})]),
        ("system-node-high", "node-high", 400, vec![node_high]),
        ("system-nodes", "system", 500, all_for(groups(&["system:nodes"]))),
        ("kube-controller-manager", "workload-high", 800,
            all_for(users(&["system:kube-controller-manager"]))),
        ("kube-scheduler", "workload-high", 800, all_for(users(&["system:kube-scheduler"]))),
        ("kube-system-service-accounts", "workload-high", 900, all_for(kube_system_sas.clone())),
        ("service-accounts", "workload-low", 9000, all_for(groups(&["system:serviceaccounts"]))),
        ("global-default", "global-default", 9900, all_for(groups(SYSTEM_GROUPS))),
        ("catch-all", "catch-all", 10000, all_for(groups(SYSTEM_GROUPS))),
    ];
    table
        .into_iter()
        // Upstream distinguishes flows by user everywhere but in the exempt schemas.
        .map(|(name, level, precedence, rules)| schema(name, level, precedence, precedence > 2, rules))
        .collect()
}

/// Creates the bootstrap objects that do not exist yet (an operator's edits are kept).
pub async fn ensure(registry: &Registry) -> anyhow::Result<()> {
    const GROUP: &str = "flowcontrol.apiserver.k8s.io";
    for (kind, objects) in [
        ("PriorityLevelConfiguration", priority_levels()),
        ("FlowSchema", flow_schemas()),
    ] {
        let Some(d) = registry.lookup_kind(GROUP, kind) else {
            continue;
        };
        for mut obj in objects {
            obj["apiVersion"] = json!(format!("{GROUP}/v1"));
            obj["kind"] = json!(kind);
            match registry
                .create(&d, None, obj, &WriteOptions::default())
                .await
            {
                Ok(_) => {}
                Err(e) if e.code == 409 => {}
                Err(e) => anyhow::bail!("creating the bootstrap {kind}s: {e}"),
            }
        }
    }
    Ok(())
}
