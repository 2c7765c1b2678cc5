//! Priority admission (upstream's `Priority` plugin): a new pod's `priorityClassName` is
//! resolved to `spec.priority` and `spec.preemptionPolicy`; a pod naming no class gets the
//! `globalDefault` class (or priority 0). A class that does not exist, or a priority or
//! preemption policy the client set that differs from the class's, is refused with upstream's
//! 403. The two system classes are created at start, as upstream's API server does.

use futures::future::BoxFuture;
use serde_json::{json, Value};

use crate::registry::hooks::{HookContext, StorageHooks, TxnExtras};
use crate::registry::rest::WriteOptions;
use crate::registry::Registry;
use crate::status::{ApiError, ApiResult};

const PREEMPT_LOWER: &str = "PreemptLowerPriority";

/// The hook installed on the Pod kind.
pub struct PriorityAdmission;

impl StorageHooks for PriorityAdmission {
    fn before_create<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        obj: &'a mut Value,
        _txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            let named = obj
                .pointer("/spec/priorityClassName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .map(str::to_owned);
            let class = match &named {
                Some(name) => Some(
                    find(ctx.registry, |c| name_of(c) == name)
                        .await?
                        .ok_or_else(|| {
                            forbidden(obj, format!("no PriorityClass with name {name} was found"))
                        })?,
                ),
                None => find(ctx.registry, |c| c["globalDefault"] == json!(true)).await?,
            };
            apply(obj, class.as_ref())
        })
    }
}

/// Sets the pod's priority, preemption policy and (for a default class) class name.
pub fn apply(pod: &mut Value, class: Option<&Value>) -> ApiResult<()> {
    let priority = class
        .and_then(|c| c.get("value"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let policy = class
        .and_then(|c| c.get("preemptionPolicy"))
        .and_then(Value::as_str)
        .unwrap_or(PREEMPT_LOWER)
        .to_owned();
    if let Some(given) = pod.pointer("/spec/priority").and_then(Value::as_i64) {
        if given != priority {
            return Err(forbidden(pod, format!("the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {priority} from the given PriorityClass name")));
        }
    }
    if let Some(given) = pod
        .pointer("/spec/preemptionPolicy")
        .and_then(Value::as_str)
    {
        if given != policy {
            return Err(forbidden(pod, format!("the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {policy} from the given PriorityClass name")));
        }
    }
    let spec = &mut pod["spec"];
    spec["priority"] = json!(priority);
    spec["preemptionPolicy"] = json!(policy);
    if let Some(class) = class {
        spec["priorityClassName"] = json!(name_of(class));
    }
    Ok(())
}

async fn find(registry: &Registry, wanted: impl Fn(&Value) -> bool) -> ApiResult<Option<Value>> {
    let Some(d) = registry.lookup_kind("scheduling.k8s.io", "PriorityClass") else {
        return Ok(None);
    };
    let page = registry.list(&d, None, &Default::default()).await?;
    Ok(page
        .items
        .iter()
        .filter_map(|b| serde_json::from_slice::<Value>(b).ok())
        .find(|c| wanted(c)))
}

fn name_of(class: &Value) -> &str {
    class
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn forbidden(pod: &Value, why: String) -> ApiError {
    ApiError::admission_forbidden("", "pods", pod, &why)
}

/// Creates upstream's two system PriorityClasses when missing.
pub async fn ensure_system_classes(registry: &Registry) -> anyhow::Result<()> {
    let Some(d) = registry.lookup_kind("scheduling.k8s.io", "PriorityClass") else {
        return Ok(());
    };
    let classes = [
        ("system-node-critical", 2_000_001_000, "Used for system critical pods that must not be moved from their current node."),
        ("system-cluster-critical", 2_000_000_000, "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."),
    ];
    for (name, value, description) in classes {
        let body = json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name}, "value": value, "description": description,
            "preemptionPolicy": PREEMPT_LOWER});
        match registry
            .create(&d, None, body, &WriteOptions::default())
            .await
        {
            Ok(_) => {}
            Err(e) if e.code == 409 => {}
            Err(e) => anyhow::bail!("creating priorityclass {name}: {e}"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Value {
        json!({"metadata": {"name": "p"}, "spec": {"containers": []}})
    }

    #[test]
    fn class_values_are_copied_and_conflicts_refused() {
        let class =
            json!({"metadata": {"name": "high"}, "value": 1000, "preemptionPolicy": "Never"});
        let mut p = pod();
        apply(&mut p, Some(&class)).unwrap();
        assert_eq!(p["spec"]["priority"], 1000);
        assert_eq!(p["spec"]["preemptionPolicy"], "Never");
        assert_eq!(p["spec"]["priorityClassName"], "high");
        let mut p = pod();
        p["spec"]["priority"] = json!(5);
        let err = apply(&mut p, Some(&class)).unwrap_err();
        assert_eq!(err.code, 403);
        assert!(err.message.contains("the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 1000"), "{}", err.message);
    }

    #[test]
    fn no_class_means_zero() {
        let mut p = pod();
        apply(&mut p, None).unwrap();
        assert_eq!(p["spec"]["priority"], 0);
        assert_eq!(p["spec"]["preemptionPolicy"], PREEMPT_LOWER);
        assert!(p["spec"].get("priorityClassName").is_none());
    }
}
