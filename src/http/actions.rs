//! Action subresources of pods: `binding` (the scheduler's write) and `eviction`.

use axum::response::Response;
use serde_json::{json, Value};

use super::resources::status_success;
use crate::registry::rest::{DeleteOptions, Mutation, Part, WriteOptions};
use crate::registry::{Registry, ResourceDescriptor};
use crate::status::{ApiError, ApiResult};

/// POST pods/{name}/binding: sets spec.nodeName once, as upstream's BindingREST does.
pub async fn bind(
    reg: &Registry,
    d: &ResourceDescriptor,
    ns: Option<&str>,
    name: &str,
    body: &Value,
    opts: &WriteOptions,
) -> ApiResult<Response> {
    let target = body
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if target.is_empty() {
        return Err(ApiError::invalid(
            "",
            "Binding",
            name,
            vec![crate::status::Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value".into(),
                field: "target.name".into(),
            }],
        ));
    }
    let pod = name.to_string();
    let mutate: Mutation = Box::new(move |current: &Value| {
        let existing = current
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !existing.is_empty() {
            return Err(ApiError::conflict(
                "",
                "pods",
                &pod,
                &format!("pod {pod} is already assigned to node {existing:?}"),
            ));
        }
        if current.pointer("/metadata/deletionTimestamp").is_some() {
            return Err(ApiError::conflict(
                "",
                "pods",
                &pod,
                &format!("pod {pod} is being deleted, cannot be assigned to a host"),
            ));
        }
        let mut new = current.clone();
        new["spec"]["nodeName"] = json!(target);
        Ok(new)
    });
    // Spec first (the binding itself), then the PodScheduled condition through status.
    reg.guaranteed_update(d, ns, name, Part::Main, None, mutate, opts)
        .await?;
    set_scheduled_condition(reg, d, ns, name, opts).await?;
    Ok(status_success(201))
}

async fn set_scheduled_condition(
    reg: &Registry,
    d: &ResourceDescriptor,
    ns: Option<&str>,
    name: &str,
    opts: &WriteOptions,
) -> ApiResult<()> {
    let mutate: Mutation = Box::new(|current: &Value| {
        let mut new = current.clone();
        let now = crate::registry::meta::now_rfc3339();
        if !new["status"].is_object() {
            new["status"] = json!({});
        }
        let list = new["status"]
            .as_object_mut()
            .map(|s| s.entry("conditions").or_insert_with(|| json!([])));
        if let Some(Value::Array(list)) = list {
            list.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
            list.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}));
        }
        Ok(new)
    });
    reg.guaranteed_update(d, ns, name, Part::Status, None, mutate, opts)
        .await
        .map(|_| ())
}

/// POST pods/{name}/eviction: deletes the pod with the eviction's DeleteOptions.
pub async fn evict(
    reg: &Registry,
    d: &ResourceDescriptor,
    ns: Option<&str>,
    name: &str,
    body: &Value,
    dry_run: bool,
) -> ApiResult<Response> {
    let opts = body.get("deleteOptions").cloned().unwrap_or(Value::Null);
    let delete = DeleteOptions {
        grace_period_seconds: opts.get("gracePeriodSeconds").and_then(Value::as_i64),
        propagation_policy: opts
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .map(str::to_string),
        precondition_uid: opts
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string),
        precondition_rv: opts
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
        dry_run,
    };
    reg.delete(d, ns, name, &delete).await?;
    Ok(status_success(201))
}
