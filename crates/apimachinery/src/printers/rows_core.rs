//! Row printers for core/v1 kinds (upstream `printPod`, `printNode`, `printService`, ...).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{age, arr_at, int_at, list_with_more, name, since, str_at, timestamp, Row};
use crate::labels::format_labels;

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

fn or_none(v: &str) -> Value {
    s(if v.is_empty() { "<none>" } else { v })
}

fn condition_true(conditions: &[Value], ty: &str) -> bool {
    conditions
        .iter()
        .any(|c| str_at(c, "/type") == ty && str_at(c, "/status") == "True")
}

/// `printPod`: READY, STATUS (upstream's reason derivation), RESTARTS, AGE, IP, NODE, ...
pub(crate) fn pod_row(pod: &Value, now: DateTime<Utc>) -> Row {
    let containers = arr_at(pod, "/spec/containers");
    let init_containers = arr_at(pod, "/spec/initContainers");
    let conditions = arr_at(pod, "/status/conditions");
    let phase = str_at(pod, "/status/phase");
    let mut reason = phase.to_owned();
    if !str_at(pod, "/status/reason").is_empty() {
        reason = str_at(pod, "/status/reason").to_owned();
    }
    if conditions
        .iter()
        .any(|c| str_at(c, "/type") == "PodScheduled" && str_at(c, "/reason") == "SchedulingGated")
    {
        reason = "SchedulingGated".to_owned();
    }
    let is_restartable_init = |cname: &str| {
        init_containers
            .iter()
            .any(|c| str_at(c, "/name") == cname && str_at(c, "/restartPolicy") == "Always")
    };
    let total = containers.len()
        + init_containers
            .iter()
            .filter(|c| str_at(c, "/restartPolicy") == "Always")
            .count();
    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut sidecar_restarts = 0i64;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut last_sidecar_restart: Option<DateTime<Utc>> = None;
    let later = |a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>| match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };

    let mut initializing = false;
    let init_statuses = arr_at(pod, "/status/initContainerStatuses");
    for (i, c) in init_statuses.iter().enumerate() {
        let count = int_at(c, "/restartCount", 0);
        restarts += count;
        let finished = timestamp(c.pointer("/lastState/terminated/finishedAt"));
        last_restart = later(last_restart, finished);
        let cname = str_at(c, "/name");
        let sidecar = is_restartable_init(cname);
        if sidecar {
            sidecar_restarts += count;
            last_sidecar_restart = later(last_sidecar_restart, finished);
        }
        let terminated = c.pointer("/state/terminated");
        let waiting_reason = str_at(c, "/state/waiting/reason");
        if terminated.is_some() && int_at(c, "/state/terminated/exitCode", 0) == 0 {
            continue;
        }
        if sidecar && c.get("started").and_then(Value::as_bool) == Some(true) {
            if c.get("ready").and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        if terminated.is_some() {
            let treason = str_at(c, "/state/terminated/reason");
            reason = if !treason.is_empty() {
                format!("Init:{treason}")
            } else if int_at(c, "/state/terminated/signal", 0) != 0 {
                format!("Init:Signal:{}", int_at(c, "/state/terminated/signal", 0))
            } else {
                format!(
                    "Init:ExitCode:{}",
                    int_at(c, "/state/terminated/exitCode", 0)
                )
            };
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{i}/{}", init_containers.len());
        }
        initializing = true;
        break;
    }

    if !initializing || condition_true(conditions, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for c in arr_at(pod, "/status/containerStatuses").iter().rev() {
            restarts += int_at(c, "/restartCount", 0);
            last_restart = later(
                last_restart,
                timestamp(c.pointer("/lastState/terminated/finishedAt")),
            );
            let waiting_reason = str_at(c, "/state/waiting/reason");
            let terminated = c.pointer("/state/terminated");
            let treason = str_at(c, "/state/terminated/reason");
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_owned();
            } else if terminated.is_some() && !treason.is_empty() {
                reason = treason.to_owned();
            } else if terminated.is_some() {
                let signal = int_at(c, "/state/terminated/signal", 0);
                reason = if signal != 0 {
                    format!("Signal:{signal}")
                } else {
                    format!("ExitCode:{}", int_at(c, "/state/terminated/exitCode", 0))
                };
            } else if c.get("ready").and_then(Value::as_bool) == Some(true)
                && c.pointer("/state/running").is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(conditions, "Ready") {
                "Running"
            } else {
                "NotReady"
            }
            .to_owned();
        }
    }

    let deleting = pod
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null());
    if deleting && str_at(pod, "/status/reason") == "NodeLost" {
        reason = "Unknown".to_owned();
    } else if deleting && phase != "Failed" && phase != "Succeeded" {
        reason = "Terminating".to_owned();
    }

    let restarts_str = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", super::human_duration(now - t)),
        _ => restarts.to_string(),
    };

    let mut pod_ip = str_at(pod, "/status/podIPs/0/ip");
    if pod_ip.is_empty() {
        pod_ip = str_at(pod, "/status/podIP");
    }
    let gates = arr_at(pod, "/spec/readinessGates");
    let readiness_gates = if gates.is_empty() {
        "<none>".to_owned()
    } else {
        let true_count = gates
            .iter()
            .filter(|g| {
                let ty = str_at(g, "/conditionType");
                conditions
                    .iter()
                    .find(|c| str_at(c, "/type") == ty)
                    .is_some_and(|c| str_at(c, "/status") == "True")
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };
    let mut row = Row::new(vec![
        name(pod),
        s(&format!("{ready}/{total}")),
        s(&reason),
        s(&restarts_str),
        age(pod, now),
        or_none(pod_ip),
        or_none(str_at(pod, "/spec/nodeName")),
        or_none(str_at(pod, "/status/nominatedNodeName")),
        s(&readiness_gates),
    ]);
    row.conditions = match phase {
        "Succeeded" => Some(
            json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}]),
        ),
        "Failed" => Some(
            json!([{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]),
        ),
        _ => None,
    };
    row
}

/// `printNode`: Ready/NotReady/Unknown (+SchedulingDisabled), roles from labels, versions.
pub(crate) fn node_row(node: &Value, now: DateTime<Utc>) -> Row {
    let mut status: Vec<String> = Vec::new();
    // The last condition of a type wins, as upstream builds a map keyed by type.
    if let Some(c) = arr_at(node, "/status/conditions")
        .iter()
        .rev()
        .find(|c| str_at(c, "/type") == "Ready")
    {
        status.push(if str_at(c, "/status") == "True" {
            "Ready".to_owned()
        } else {
            "NotReady".to_owned()
        });
    }
    if status.is_empty() {
        status.push("Unknown".to_owned());
    }
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled".to_owned());
    }
    let mut roles: Vec<String> = Vec::new();
    if let Some(labels) = node.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            let v = v.as_str().unwrap_or("");
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.push(role.to_owned());
                }
            } else if k == "kubernetes.io/role" && !v.is_empty() {
                roles.push(v.to_owned());
            }
        }
    }
    roles.sort();
    roles.dedup();
    let address = |ty: &str| {
        arr_at(node, "/status/addresses")
            .iter()
            .find(|a| str_at(a, "/type") == ty)
            .map(|a| str_at(a, "/address"))
            .unwrap_or("<none>")
            .to_owned()
    };
    let unknown = |p: &str| {
        let v = str_at(node, p);
        s(if v.is_empty() { "<unknown>" } else { v })
    };
    Row::new(vec![
        name(node),
        s(&status.join(",")),
        s(&if roles.is_empty() {
            "<none>".to_owned()
        } else {
            roles.join(",")
        }),
        age(node, now),
        s(str_at(node, "/status/nodeInfo/kubeletVersion")),
        s(&address("InternalIP")),
        s(&address("ExternalIP")),
        unknown("/status/nodeInfo/osImage"),
        unknown("/status/nodeInfo/kernelVersion"),
        unknown("/status/nodeInfo/containerRuntimeVersion"),
    ])
}

/// `printNamespace`.
/// `printComponentStatus`: STATUS from the Healthy condition, its MESSAGE and ERROR.
pub(crate) fn component_status_row(cs: &Value, _now: DateTime<Utc>) -> Row {
    let healthy = arr_at(cs, "/conditions")
        .iter()
        .find(|c| str_at(c, "/type") == "Healthy");
    let (status, message, error) = match healthy {
        Some(c) if str_at(c, "/status") == "True" => {
            ("Healthy", str_at(c, "/message"), str_at(c, "/error"))
        }
        Some(c) => ("Unhealthy", str_at(c, "/message"), str_at(c, "/error")),
        None => ("Unknown", "", ""),
    };
    Row::new(vec![name(cs), s(status), s(message), s(error)])
}

pub(crate) fn namespace_row(ns: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![name(ns), s(str_at(ns, "/status/phase")), age(ns, now)])
}

fn strings(v: &[Value]) -> Vec<String> {
    v.iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// `loadBalancerStatusStringer`: sorted unique IPs/hostnames, clipped to 16 bytes unless wide.
pub(crate) fn load_balancer_string(ingress: &[Value], wide: bool) -> String {
    let mut set: Vec<String> = ingress
        .iter()
        .filter_map(|i| {
            let ip = str_at(i, "/ip");
            let host = str_at(i, "/hostname");
            if !ip.is_empty() {
                Some(ip.to_owned())
            } else if !host.is_empty() {
                Some(host.to_owned())
            } else {
                None
            }
        })
        .collect();
    set.sort();
    set.dedup();
    let r = set.join(",");
    if !wide && r.len() > 16 && r.is_char_boundary(13) {
        format!("{}...", &r[..13])
    } else {
        r
    }
}

/// `printService`; the server renders with `Wide: true`, so load-balancer IPs are not clipped.
pub(crate) fn service_row(svc: &Value, now: DateTime<Utc>) -> Row {
    let svc_type = str_at(svc, "/spec/type");
    let mut cluster_ip = str_at(svc, "/spec/clusterIPs/0");
    if cluster_ip.is_empty() {
        cluster_ip = str_at(svc, "/spec/clusterIP");
    }
    let external_ips = strings(arr_at(svc, "/spec/externalIPs"));
    let external = match svc_type {
        "ClusterIP" | "NodePort" => {
            if external_ips.is_empty() {
                "<none>".to_owned()
            } else {
                external_ips.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_string(arr_at(svc, "/status/loadBalancer/ingress"), true);
            if !external_ips.is_empty() {
                let mut all: Vec<String> = if lb.is_empty() {
                    Vec::new()
                } else {
                    lb.split(',').map(str::to_owned).collect()
                };
                all.extend(external_ips);
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".to_owned()
            }
        }
        "ExternalName" => str_at(svc, "/spec/externalName").to_owned(),
        _ => "<unknown>".to_owned(),
    };
    let ports: Vec<String> = arr_at(svc, "/spec/ports")
        .iter()
        .map(|p| {
            let port = int_at(p, "/port", 0);
            let proto = match str_at(p, "/protocol") {
                "" => "TCP",
                other => other,
            };
            let node_port = int_at(p, "/nodePort", 0);
            if node_port > 0 {
                format!("{port}:{node_port}/{proto}")
            } else {
                format!("{port}/{proto}")
            }
        })
        .collect();
    Row::new(vec![
        name(svc),
        s(svc_type),
        or_none(cluster_ip),
        s(&external),
        or_none(&ports.join(",")),
        age(svc, now),
        s(&format_labels(svc.pointer("/spec/selector"))),
    ])
}

/// `formatEndpoints` with all ports: up to three `ip:port` entries then `+ N more...`.
fn format_endpoints(ep: &Value) -> String {
    let subsets = arr_at(ep, "/subsets");
    if subsets.is_empty() {
        return "<none>".to_owned();
    }
    let max = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0;
    for ss in subsets {
        let addrs = arr_at(ss, "/addresses");
        let ports = arr_at(ss, "/ports");
        if ports.is_empty() {
            count += addrs.len();
            for a in addrs {
                if list.len() == max {
                    more = true;
                    break;
                }
                list.push(str_at(a, "/ip").to_owned());
            }
            continue;
        }
        for p in ports {
            count += addrs.len();
            for a in addrs {
                if list.len() == max {
                    more = true;
                    break;
                }
                let ip = str_at(a, "/ip");
                let port = int_at(p, "/port", 0);
                // net.JoinHostPort brackets IPv6 addresses.
                list.push(if ip.contains(':') {
                    format!("[{ip}]:{port}")
                } else {
                    format!("{ip}:{port}")
                });
            }
        }
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count - max)
    } else {
        ret
    }
}

/// `printEndpoints`.
pub(crate) fn endpoints_row(ep: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![name(ep), s(&format_endpoints(ep)), age(ep, now)])
}

fn map_len(obj: &Value, ptr: &str) -> i64 {
    obj.pointer(ptr)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len() as i64)
}

/// `printConfigMap`: DATA counts `data` plus `binaryData` keys.
pub(crate) fn config_map_row(cm: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![
        name(cm),
        json!(map_len(cm, "/data") + map_len(cm, "/binaryData")),
        age(cm, now),
    ])
}

/// `printSecret`.
pub(crate) fn secret_row(secret: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![
        name(secret),
        s(str_at(secret, "/type")),
        json!(map_len(secret, "/data")),
        age(secret, now),
    ])
}

/// `printServiceAccount`.
pub(crate) fn service_account_row(sa: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![
        name(sa),
        json!(arr_at(sa, "/secrets").len()),
        age(sa, now),
    ])
}

/// Field locations of an event, which differ between core/v1 and events.k8s.io/v1.
struct EventShape {
    involved: &'static str,
    message: &'static str,
    first: &'static str,
    last: &'static str,
    count: &'static str,
    source: &'static str,
}

const CORE_EVENT: EventShape = EventShape {
    involved: "/involvedObject",
    message: "/message",
    first: "/firstTimestamp",
    last: "/lastTimestamp",
    count: "/count",
    source: "/source",
};
const EVENTS_API_EVENT: EventShape = EventShape {
    involved: "/regarding",
    message: "/note",
    first: "/deprecatedFirstTimestamp",
    last: "/deprecatedLastTimestamp",
    count: "/deprecatedCount",
    source: "/deprecatedSource",
};

fn event_row_with(ev: &Value, now: DateTime<Utc>, shape: &EventShape) -> Row {
    let present = |p: &str| timestamp(ev.pointer(p)).is_some();
    let first = if present(shape.first) {
        since(ev.pointer(shape.first), now)
    } else {
        since(ev.pointer("/eventTime"), now)
    };
    let mut last = if present(shape.last) {
        since(ev.pointer(shape.last), now)
    } else {
        first.clone()
    };
    let mut count = int_at(ev, shape.count, 0);
    if ev.get("series").is_some_and(|v| !v.is_null()) {
        last = since(ev.pointer("/series/lastObservedTime"), now);
        count = int_at(ev, "/series/count", 0);
    } else if count == 0 {
        // Singleton events of the new API carry no count.
        count = 1;
    }
    let involved_name = str_at(ev, &format!("{}/name", shape.involved));
    let kind = str_at(ev, &format!("{}/kind", shape.involved)).to_lowercase();
    let target = if involved_name.is_empty() {
        kind
    } else {
        format!("{kind}/{involved_name}")
    };
    let component = match str_at(ev, &format!("{}/component", shape.source)) {
        "" => str_at(ev, "/reportingController").to_owned(),
        c => c.to_owned(),
    };
    let component = if component.is_empty() {
        str_at(ev, "/reportingComponent").to_owned()
    } else {
        component
    };
    let host = match str_at(ev, &format!("{}/host", shape.source)) {
        "" => str_at(ev, "/reportingInstance"),
        h => h,
    };
    let source = if host.is_empty() {
        component
    } else {
        format!("{component}, {host}")
    };
    Row::new(vec![
        s(&last),
        s(str_at(ev, "/type")),
        s(str_at(ev, "/reason")),
        s(&target),
        s(str_at(ev, &format!("{}/fieldPath", shape.involved))),
        s(&source),
        s(str_at(ev, shape.message).trim()),
        s(&first),
        json!(count),
        name(ev),
    ])
}

/// `printEvent` for core/v1 events.
pub(crate) fn event_row(ev: &Value, now: DateTime<Utc>) -> Row {
    event_row_with(ev, now, &CORE_EVENT)
}

/// `printEvent` for events.k8s.io/v1 events (same columns, fields under their new names).
pub(crate) fn events_api_row(ev: &Value, now: DateTime<Utc>) -> Row {
    event_row_with(ev, now, &EVENTS_API_EVENT)
}

/// `GetAccessModesAsString`: RWO, ROX, RWX, RWOP in that order.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(m, _)| has(m))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

fn storage_class(obj: &Value, spec_ptr: &str) -> String {
    let beta = str_at(
        obj,
        "/metadata/annotations/volume.beta.kubernetes.io~1storage-class",
    );
    if obj
        .pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class")
        .is_some()
    {
        return beta.to_owned();
    }
    str_at(obj, spec_ptr).to_owned()
}

fn unset_or(obj: &Value, ptr: &str) -> Value {
    match obj.pointer(ptr).and_then(Value::as_str) {
        Some(v) => s(v),
        None => s("<unset>"),
    }
}

fn deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

/// `printPersistentVolume`.
pub(crate) fn persistent_volume_row(pv: &Value, now: DateTime<Utc>) -> Row {
    let claim = if pv.pointer("/spec/claimRef").is_some_and(|v| !v.is_null()) {
        format!(
            "{}/{}",
            str_at(pv, "/spec/claimRef/namespace"),
            str_at(pv, "/spec/claimRef/name")
        )
    } else {
        String::new()
    };
    let phase = if deleting(pv) {
        "Terminating"
    } else {
        str_at(pv, "/status/phase")
    };
    let capacity = match str_at(pv, "/spec/capacity/storage") {
        "" => "0",
        c => c,
    };
    Row::new(vec![
        name(pv),
        s(capacity),
        s(&access_modes(arr_at(pv, "/spec/accessModes"))),
        s(str_at(pv, "/spec/persistentVolumeReclaimPolicy")),
        s(phase),
        s(&claim),
        s(&storage_class(pv, "/spec/storageClassName")),
        unset_or(pv, "/spec/volumeAttributesClassName"),
        s(str_at(pv, "/status/reason")),
        age(pv, now),
        unset_or(pv, "/spec/volumeMode"),
    ])
}

/// `printPersistentVolumeClaim`: capacity and modes only once bound to a volume.
pub(crate) fn persistent_volume_claim_row(pvc: &Value, now: DateTime<Utc>) -> Row {
    let phase = if deleting(pvc) {
        "Terminating"
    } else {
        str_at(pvc, "/status/phase")
    };
    let volume = str_at(pvc, "/spec/volumeName");
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        let cap = match str_at(pvc, "/status/capacity/storage") {
            "" => "0",
            c => c,
        };
        (
            cap.to_owned(),
            access_modes(arr_at(pvc, "/status/accessModes")),
        )
    };
    Row::new(vec![
        name(pvc),
        s(phase),
        s(volume),
        s(&capacity),
        s(&modes),
        s(&storage_class(pvc, "/spec/storageClassName")),
        unset_or(pvc, "/spec/volumeAttributesClassName"),
        age(pvc, now),
        unset_or(pvc, "/spec/volumeMode"),
    ])
}

/// Shared by endpoint slices: `formatDiscoveryPorts`.
pub(crate) fn discovery_ports(ports: &[Value]) -> String {
    let max = 3;
    let mut list = Vec::new();
    let mut more = false;
    for p in ports {
        if list.len() < max {
            let num = match p.get("port").and_then(Value::as_i64) {
                Some(n) => n.to_string(),
                None => match p.get("name").and_then(Value::as_str) {
                    Some(n) => n.to_owned(),
                    None => "*".to_owned(),
                },
            };
            list.push(num);
        } else if list.len() == max {
            more = true;
        }
    }
    list_with_more(&list, more, ports.len(), max)
}
