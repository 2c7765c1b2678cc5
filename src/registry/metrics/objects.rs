//! NodeMetrics and PodMetrics objects as metrics-server writes them: the node's or pod's name,
//! namespace and labels, `creationTimestamp` now, `timestamp` and `window` of the measurement,
//! CPU in nanocores and memory in bytes, both in canonical quantity form.

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use super::types::API_VERSION;
use super::window::Usage;

/// A NodeMetrics for `node` (its stored JSON).
pub fn node_metrics(node: &Value, usage: &Usage) -> Value {
    json!({
        "kind": "NodeMetrics",
        "apiVersion": API_VERSION,
        "metadata": metadata(node, false),
        "timestamp": usage.timestamp.to_rfc3339_opts(SecondsFormat::Secs, true),
        "window": go_duration(usage.window),
        "usage": resources(usage),
    })
}

/// A PodMetrics for `pod` with its containers' usage.
pub fn pod_metrics(pod: &Value, containers: &[(String, Usage)]) -> Value {
    // The pod's time is its earliest container's (the window of the oldest figure).
    let first = containers
        .iter()
        .map(|(_, u)| u)
        .min_by_key(|u| u.timestamp);
    json!({
        "kind": "PodMetrics",
        "apiVersion": API_VERSION,
        "metadata": metadata(pod, true),
        "timestamp": first.map(|u| u.timestamp.to_rfc3339_opts(SecondsFormat::Secs, true)),
        "window": first.map(|u| go_duration(u.window)),
        "containers": containers
            .iter()
            .map(|(name, usage)| json!({"name": name, "usage": resources(usage)}))
            .collect::<Vec<_>>(),
    })
}

fn metadata(source: &Value, namespaced: bool) -> Value {
    let mut meta = Map::new();
    for key in ["name", "namespace", "labels"] {
        if key == "namespace" && !namespaced {
            continue;
        }
        if let Some(v) = source.pointer(&format!("/metadata/{key}")) {
            meta.insert(key.to_string(), v.clone());
        }
    }
    meta.insert(
        "creationTimestamp".into(),
        Value::String(Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)),
    );
    Value::Object(meta)
}

fn resources(usage: &Usage) -> Value {
    let nanocores = (usage.cpu_cores * 1e9).round().max(0.0) as u64;
    json!({"cpu": decimal_quantity(nanocores), "memory": binary_quantity(usage.memory_bytes)})
}

/// Nanounits in canonical DecimalSI form (`137126269n`, `5m`, `2`).
pub fn decimal_quantity(nanos: u64) -> String {
    if nanos == 0 {
        return "0".into();
    }
    let mut value = nanos;
    for suffix in ["n", "u", "m"] {
        if !value.is_multiple_of(1000) {
            return format!("{value}{suffix}");
        }
        value /= 1000;
    }
    value.to_string()
}

/// Bytes in canonical BinarySI form (`1536Ki`, `2Mi`, `1000`).
pub fn binary_quantity(bytes: u64) -> String {
    if bytes == 0 {
        return "0".into();
    }
    let mut value = bytes;
    let mut suffix = "";
    for next in ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"] {
        if !value.is_multiple_of(1024) {
            break;
        }
        value /= 1024;
        suffix = next;
    }
    format!("{value}{suffix}")
}

/// Go's `time.Duration.String()` for the windows we produce (`15.003s`, `500ms`, `1m0.5s`).
pub fn go_duration(d: Duration) -> String {
    let ms = d.num_milliseconds().max(0);
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (minutes, rest) = (ms / 60_000, ms % 60_000);
    let seconds = format!("{}.{:03}", rest / 1000, rest % 1000);
    let seconds = seconds.trim_end_matches('0').trim_end_matches('.');
    match minutes {
        0 => format!("{seconds}s"),
        m if m < 60 => format!("{m}m{seconds}s"),
        m => format!("{}h{}m{seconds}s", m / 60, m % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    #[test]
    fn quantities_are_canonical() {
        assert_eq!(decimal_quantity(137_126_269), "137126269n");
        assert_eq!(decimal_quantity(5_000_000), "5m");
        assert_eq!(decimal_quantity(2_000_000_000), "2");
        assert_eq!(decimal_quantity(0), "0");
        assert_eq!(binary_quantity(1536 * 1024), "1536Ki");
        assert_eq!(binary_quantity(2 << 20), "2Mi");
        assert_eq!(binary_quantity(1000), "1000");
    }

    #[test]
    fn windows_read_like_go_durations() {
        assert_eq!(go_duration(Duration::milliseconds(15_003)), "15.003s");
        assert_eq!(go_duration(Duration::seconds(10)), "10s");
        assert_eq!(go_duration(Duration::milliseconds(500)), "500ms");
        assert_eq!(go_duration(Duration::milliseconds(60_500)), "1m0.5s");
    }

    #[test]
    fn pod_metrics_carry_the_pods_identity_and_usage() {
        let pod = json!({"metadata": {"name": "burn", "namespace": "default",
            "labels": {"app": "burn"}, "uid": "u"}, "spec": {}});
        let usage = Usage {
            timestamp: DateTime::from_timestamp(1_700_000_000, 0).expect("time"),
            window: Duration::seconds(15),
            cpu_cores: 0.998,
            memory_bytes: 1 << 20,
        };
        let m = pod_metrics(&pod, &[("c".into(), usage)]);
        assert_eq!(m["metadata"]["labels"]["app"], "burn");
        assert_eq!(m["metadata"]["namespace"], "default");
        assert!(m["metadata"].get("uid").is_none());
        assert_eq!(m["timestamp"], "2023-11-14T22:13:20Z");
        assert_eq!(m["window"], "15s");
        assert_eq!(
            m["containers"][0]["usage"],
            json!({"cpu": "998m", "memory": "1Mi"})
        );
        let typed: super::super::types::PodMetrics = serde_json::from_value(m).expect("typed");
        assert_eq!(typed.containers.len(), 1);
    }
}
