//! RuntimeClass admission (upstream's `RuntimeClass` admission plugin) as a storage hook on
//! Pods: a pod naming a `runtimeClassName` must name an existing RuntimeClass; the class's
//! `overhead` becomes the pod's (a different overhead the client set is refused) and its
//! `scheduling` constraints join the pod's node selector and tolerations, so the scheduler
//! places it where that runtime exists.

use futures::future::BoxFuture;
use serde_json::{Map, Value};

use super::hooks::{HookContext, StorageHooks, TxnExtras};
use crate::status::{ApiError, ApiResult};

/// The hook installed on the Pod kind.
pub struct RuntimeClassAdmission;

impl StorageHooks for RuntimeClassAdmission {
    fn before_create<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        obj: &'a mut Value,
        _txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            let Some(class_name) = obj
                .pointer("/spec/runtimeClassName")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                return Ok(());
            };
            let class = read_class(ctx, &class_name)
                .await?
                .ok_or_else(|| rejected(obj, format!("RuntimeClass \"{class_name}\" not found")))?;
            admit(obj, &class)
        })
    }
}

async fn read_class(ctx: &HookContext<'_>, name: &str) -> ApiResult<Option<Value>> {
    ctx.registry
        .get_value("node.k8s.io", "RuntimeClass", None, name)
        .await
}

/// Applies a RuntimeClass to a pod: overhead, then scheduling.
pub fn admit(pod: &mut Value, class: &Value) -> ApiResult<()> {
    set_overhead(pod, class)?;
    merge_scheduling(pod, class)
}

fn set_overhead(pod: &mut Value, class: &Value) -> ApiResult<()> {
    let wanted = class.pointer("/overhead/podFixed").cloned();
    let given = pod.pointer("/spec/overhead").cloned();
    match (given, wanted) {
        (Some(given), Some(wanted)) if given != wanted => Err(rejected(
            pod,
            "Pod's Overhead doesn't match RuntimeClass's defined Overhead".into(),
        )),
        (Some(_), None) => Err(rejected(
            pod,
            "Overhead provided in the Pod but no Overhead defined in the RuntimeClass".into(),
        )),
        (None, Some(wanted)) => {
            pod["spec"]["overhead"] = wanted;
            Ok(())
        }
        _ => Ok(()),
    }
}

fn merge_scheduling(pod: &mut Value, class: &Value) -> ApiResult<()> {
    let Some(scheduling) = class.get("scheduling") else {
        return Ok(());
    };
    if let Some(selector) = scheduling.get("nodeSelector").and_then(Value::as_object) {
        let mut merged = pod
            .pointer("/spec/nodeSelector")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_else(Map::new);
        for (key, value) in selector {
            match merged.get(key) {
                Some(existing) if existing != value => {
                    return Err(rejected(
                        pod,
                        format!("conflict: runtimeClass.scheduling.nodeSelector[{key}] = {}; pod.spec.nodeSelector[{key}] = {}", plain(value), plain(existing)),
                    ))
                }
                _ => {
                    merged.insert(key.clone(), value.clone());
                }
            }
        }
        pod["spec"]["nodeSelector"] = Value::Object(merged);
    }
    if let Some(tolerations) = scheduling.get("tolerations").and_then(Value::as_array) {
        let mut all = pod
            .pointer("/spec/tolerations")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for t in tolerations {
            if !all.contains(t) {
                all.push(t.clone());
            }
        }
        pod["spec"]["tolerations"] = Value::Array(all);
    }
    Ok(())
}

fn plain(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// Upstream's admission refusal: `pods "<name>" is forbidden: pod rejected: <why>`.
fn rejected(pod: &Value, why: String) -> ApiError {
    ApiError::admission_forbidden("", "pods", pod, &format!("pod rejected: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({"metadata": {"name": "p"}, "spec": {"runtimeClassName": "gvisor",
               "nodeSelector": {"zone": "a"}, "containers": [{"name": "c", "image": "i"}]}})
    }

    #[test]
    fn overhead_and_scheduling_are_copied() {
        let class = json!({"handler": "runsc", "overhead": {"podFixed": {"cpu": "250m"}},
            "scheduling": {"nodeSelector": {"sandbox": "yes"},
                           "tolerations": [{"key": "sandbox", "operator": "Exists"}]}});
        let mut p = pod();
        admit(&mut p, &class).unwrap();
        assert_eq!(p["spec"]["overhead"], json!({"cpu": "250m"}));
        assert_eq!(
            p["spec"]["nodeSelector"],
            json!({"zone": "a", "sandbox": "yes"})
        );
        assert_eq!(p["spec"]["tolerations"][0]["key"], "sandbox");
    }

    #[test]
    fn conflicts_are_refused() {
        let class = json!({"handler": "x", "scheduling": {"nodeSelector": {"zone": "b"}}});
        let err = admit(&mut pod(), &class).unwrap_err();
        assert_eq!(err.code, 403);
        assert!(err.message.contains("conflict: runtimeClass.scheduling.nodeSelector[zone] = b; pod.spec.nodeSelector[zone] = a"), "{}", err.message);
        let mut p = pod();
        p["spec"]["overhead"] = json!({"cpu": "1"});
        let class = json!({"handler": "x", "overhead": {"podFixed": {"cpu": "2"}}});
        let err = admit(&mut p, &class).unwrap_err();
        assert!(err.message.contains("doesn't match"), "{}", err.message);
    }
}
