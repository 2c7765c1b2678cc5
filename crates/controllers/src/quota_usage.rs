//! What one object counts against a ResourceQuota (upstream's quota evaluators): object
//! counts (`count/<resource>[.<group>]` and the legacy core names) and, for pods, compute
//! requests and limits; for claims, requested storage. Amounts are in milli-units so CPU and
//! byte quantities share one integer type.

use std::collections::BTreeMap;

use crate::scheduler::resources::quantity_milli;
use serde_json::Value;

/// Resource name → amount in milli-units.
pub type Usage = BTreeMap<String, i64>;

/// Core resources whose object count also has a legacy name (`pods`, `services`, ...).
const LEGACY_COUNTS: &[&str] = &[
    "pods",
    "services",
    "configmaps",
    "secrets",
    "persistentvolumeclaims",
    "replicationcontrollers",
    "resourcequotas",
];

/// Parses a quantity into milli-units (`None` when malformed).
pub fn milli(q: &str) -> Option<i64> {
    quantity_milli(q)
}

/// Formats milli-units as a quantity: whole units plainly, else with the `m` suffix.
pub fn format_milli(v: i64) -> String {
    if v % 1000 == 0 {
        (v / 1000).to_string()
    } else {
        format!("{v}m")
    }
}

/// The usage of one object of `group`/`plural` (a terminal pod counts nothing).
pub fn object_usage(group: &str, plural: &str, obj: &Value) -> Usage {
    let mut u = Usage::new();
    if plural == "pods" && group.is_empty() && is_terminal(obj) {
        return u;
    }
    let count = if group.is_empty() {
        format!("count/{plural}")
    } else {
        format!("count/{plural}.{group}")
    };
    u.insert(count, 1000);
    if group.is_empty() && LEGACY_COUNTS.contains(&plural) {
        u.insert(plural.to_string(), 1000);
    }
    if !group.is_empty() {
        return u;
    }
    match plural {
        "pods" => add_pod_compute(&mut u, obj),
        "persistentvolumeclaims" => {
            if let Some(s) = obj
                .pointer("/spec/resources/requests/storage")
                .and_then(Value::as_str)
                .and_then(milli)
            {
                u.insert("requests.storage".into(), s);
            }
        }
        "services" => add_service_ports(&mut u, obj),
        _ => {}
    }
    u
}

/// Upstream's service evaluator: a NodePort service uses a node port per port; a
/// LoadBalancer one too (only the explicit ones when `allocateLoadBalancerNodePorts` is false)
/// plus one load balancer.
fn add_service_ports(u: &mut BTreeMap<String, i64>, obj: &Value) {
    let ports = obj
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX).saturating_mul(1000);
    match obj.pointer("/spec/type").and_then(Value::as_str) {
        Some("NodePort") => {
            u.insert("services.nodeports".into(), count(ports.len()));
        }
        Some("LoadBalancer") => {
            let allocate =
                obj.pointer("/spec/allocateLoadBalancerNodePorts") != Some(&Value::Bool(false));
            let node_ports = match allocate {
                true => ports.len(),
                false => ports
                    .iter()
                    .filter(|p| {
                        p.get("nodePort")
                            .is_some_and(|n| n.as_i64().unwrap_or(0) > 0)
                    })
                    .count(),
            };
            u.insert("services.nodeports".into(), count(node_ports));
            u.insert("services.loadbalancers".into(), 1000);
        }
        _ => {}
    }
}

fn is_terminal(pod: &Value) -> bool {
    matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    )
}

/// Upstream `PodUsageFunc`: requests and limits are the larger of the containers' sum and any
/// one init container, plus the pod's overhead; `cpu`/`memory` alias the requests.
fn add_pod_compute(u: &mut Usage, pod: &Value) {
    for (kind, prefix) in [("requests", "requests."), ("limits", "limits.")] {
        let mut total: Usage = Usage::new();
        for c in containers(pod, "containers") {
            add_all(&mut total, c.pointer(&format!("/resources/{kind}")));
        }
        for c in containers(pod, "initContainers") {
            let mut one = Usage::new();
            add_all(&mut one, c.pointer(&format!("/resources/{kind}")));
            for (r, v) in one {
                let e = total.entry(r).or_insert(0);
                *e = (*e).max(v);
            }
        }
        add_all(&mut total, pod.pointer("/spec/overhead"));
        for (r, v) in total {
            if kind == "requests" && (r == "cpu" || r == "memory" || r == "ephemeral-storage") {
                u.insert(r.clone(), v);
            }
            u.insert(format!("{prefix}{r}"), v);
        }
    }
}

fn containers<'a>(pod: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    pod.pointer(&format!("/spec/{field}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn add_all(total: &mut Usage, list: Option<&Value>) {
    for (r, q) in list.and_then(Value::as_object).into_iter().flatten() {
        if let Some(v) = q.as_str().and_then(milli) {
            *total.entry(r.clone()).or_insert(0) += v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn services_use_a_node_port_per_port() {
        let lb = json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 80}, {"port": 443}]}});
        let u = object_usage("", "services", &lb);
        assert_eq!(
            (u["services.nodeports"], u["services.loadbalancers"]),
            (2000, 1000)
        );
        let np = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}});
        assert_eq!(
            object_usage("", "services", &np)["services.nodeports"],
            1000
        );
        let explicit = json!({"spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": false,
            "ports": [{"port": 80, "nodePort": 30001}, {"port": 81}]}});
        assert_eq!(
            object_usage("", "services", &explicit)["services.nodeports"],
            1000
        );
    }

    #[test]
    fn pods_count_and_charge_compute() {
        let pod = json!({"spec": {"containers": [
            {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "1"}}},
            {"name": "b", "resources": {"requests": {"cpu": "250m"}}}],
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2"}}}]}});
        let u = object_usage("", "pods", &pod);
        assert_eq!(u["pods"], 1000);
        assert_eq!(u["count/pods"], 1000);
        assert_eq!(u["requests.cpu"], 2000);
        assert_eq!(u["cpu"], 2000);
        assert_eq!(u["limits.cpu"], 1000);
        assert_eq!(u["requests.memory"], 64 * 1024 * 1024 * 1000);
        let done = json!({"status": {"phase": "Succeeded"}});
        assert!(object_usage("", "pods", &done).is_empty());
        let d = object_usage("apps", "deployments", &json!({}));
        assert_eq!(d.keys().collect::<Vec<_>>(), ["count/deployments.apps"]);
        assert_eq!(format_milli(1500), "1500m");
        assert_eq!(format_milli(2000), "2");
    }
}
