//! `componentstatuses` (core/v1, deprecated upstream since 1.19 but still what `kubectl get cs`
//! reads): the control plane's health computed on each read. Upstream probes each component's
//! `/healthz`; ours run in the server process under leader election, so a component is healthy
//! when its election Lease is held and renewed within its duration (in an HA cluster: on some
//! server), and `etcd-0` is healthy when our store answers a read.

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::Registry;
use crate::status::ApiResult;

/// The warning upstream attaches to every componentstatuses response.
pub const DEPRECATION: &str = "v1 ComponentStatus is deprecated in v1.19+";

/// The components and the Lease each holds while it runs (see `controllers::leader`).
const COMPONENTS: &[(&str, &str)] = &[
    ("scheduler", "ferrokube-scheduler"),
    ("controller-manager", "ferrokube-controller-manager"),
];

/// Every ComponentStatus, now.
pub fn list(reg: &Registry) -> BoxFuture<'_, ApiResult<Vec<Value>>> {
    Box::pin(async move {
        let mut out = Vec::new();
        for (name, lease) in COMPONENTS {
            let stored = reg
                .get_value("coordination.k8s.io", "Lease", Some("kube-system"), lease)
                .await;
            let health = match stored {
                Ok(Some(value)) => lease_health(&value, lease, Utc::now()),
                Ok(None) => Err(format!("no leader: lease kube-system/{lease} not found")),
                Err(e) => Err(format!("reading lease kube-system/{lease}: {}", e.message)),
            };
            out.push(status(name, health));
        }
        let store = reg.store.get("/core/namespaces/_/default").await;
        out.push(status(
            "etcd-0",
            store.map(|_| ()).map_err(|e| e.to_string()),
        ));
        Ok(out)
    })
}

/// Whether a stored Lease is held and was renewed within its duration.
fn lease_health(value: &Value, lease: &str, now: DateTime<Utc>) -> Result<(), String> {
    let holder = value
        .pointer("/spec/holderIdentity")
        .and_then(Value::as_str)
        .unwrap_or("");
    let renewed = value
        .pointer("/spec/renewTime")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
    let duration = value
        .pointer("/spec/leaseDurationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(15);
    match renewed {
        Some(t)
            if !holder.is_empty()
                && now - t.with_timezone(&Utc) <= chrono::Duration::seconds(duration) =>
        {
            Ok(())
        }
        Some(t) if !holder.is_empty() => Err(format!(
            "no leader: lease kube-system/{lease} last renewed at {} by {holder}",
            t.to_rfc3339()
        )),
        _ => Err(format!("no leader: lease kube-system/{lease} is not held")),
    }
}

/// A ComponentStatus with upstream's Healthy condition (`message: ok` or the `error`).
fn status(name: &str, health: Result<(), String>) -> Value {
    let condition = match health {
        Ok(()) => json!({"type": "Healthy", "status": "True", "message": "ok"}),
        Err(error) => json!({"type": "Healthy", "status": "False", "error": error}),
    };
    json!({"kind": "ComponentStatus", "apiVersion": "v1", "metadata": {"name": name},
        "conditions": [condition]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_healthy_while_renewed() {
        let now = Utc::now();
        let lease = |holder: &str, ago: i64| {
            let t = (now - chrono::Duration::seconds(ago)).to_rfc3339();
            json!({"spec": {"holderIdentity": holder, "renewTime": t,
                "leaseDurationSeconds": 15}})
        };
        assert!(lease_health(&lease("a", 3), "l", now).is_ok());
        let stale = lease_health(&lease("a", 60), "l", now).expect_err("stale");
        assert!(stale.contains("last renewed"), "{stale}");
        assert!(lease_health(&lease("", 1), "l", now).is_err());
        assert!(lease_health(&json!({}), "l", now).is_err());
    }
}
