//! Pod operations beyond create/update/delete, as registry functions over the store:
//! `binding` (the scheduler's write) and `eviction`, served as the pods' action subresources.

use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::admission::eviction;
use super::hooks::{too_many_retries, HookWrite, MAX_HOOK_RETRIES};
use super::rest::{parse, with_extras, DeleteOptions, Deleted, Mutation, Part, WriteOptions};
use super::subresource::{Action, ActionOutcome};
use super::{Registry, ResourceDescriptor};
use crate::status::{ApiError, ApiResult};
use ferrokube_store::{Compare, Op, TxnOutcome};

/// What a Binding asks for, checked before any read.
#[derive(Debug)]
struct BindingRequest {
    target: String,
    /// `metadata.uid`: when set, the pod must be this instance.
    uid: Option<String>,
    /// `metadata.annotations`, merged into the pod's.
    annotations: Map<String, Value>,
}

impl BindingRequest {
    /// Upstream `ValidatePodBinding` plus the URL/body name check.
    fn parse(name: &str, body: &Value) -> ApiResult<Self> {
        let body_name = body.pointer("/metadata/name").and_then(Value::as_str);
        if body_name.is_some_and(|n| !n.is_empty() && n != name) {
            return Err(ApiError::bad_request(
                "name in URL does not match name in Binding object",
            ));
        }
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
        Ok(BindingRequest {
            target,
            uid: body
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .filter(|u| !u.is_empty())
                .map(str::to_string),
            annotations: body
                .pointer("/metadata/annotations")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        })
    }

    /// Upstream `setPodHostAndAnnotations`: sets spec.nodeName (only if unset), merges the
    /// annotations and sets PodScheduled=True, all in the one object written back.
    fn assign(&self, pod: &mut Value, name: &str, now: &str) -> ApiResult<()> {
        let conflict = |why: String| ApiError::conflict("", "pods/binding", name, &why);
        if let Some(uid) = &self.uid {
            let actual = pod.pointer("/metadata/uid").and_then(Value::as_str);
            if actual != Some(uid.as_str()) {
                return Err(conflict(format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    actual.unwrap_or("")
                )));
            }
        }
        if pod.pointer("/metadata/deletionTimestamp").is_some() {
            return Err(conflict(format!(
                "pod {name} is being deleted, cannot be assigned to a host"
            )));
        }
        let existing = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !existing.is_empty() {
            return Err(conflict(format!(
                "pod {name} is already assigned to node {existing:?}"
            )));
        }
        let Some(obj) = pod.as_object_mut() else {
            return Err(ApiError::internal("stored pod is not an object"));
        };
        let spec = obj.entry("spec").or_insert_with(|| json!({}));
        spec["nodeName"] = json!(self.target);
        if !self.annotations.is_empty() {
            let meta = obj.entry("metadata").or_insert_with(|| json!({}));
            let ann = meta
                .as_object_mut()
                .map(|m| m.entry("annotations").or_insert_with(|| json!({})));
            if let Some(Value::Object(ann)) = ann {
                ann.extend(self.annotations.clone());
            }
        }
        set_condition_true(obj, "PodScheduled", now, None);
        Ok(())
    }
}

/// Upstream `UpdatePodCondition` for a True condition: the transition time moves only when
/// the status changes; `detail` (reason, message) replaces the condition's own.
fn set_condition_true(
    pod: &mut Map<String, Value>,
    kind: &str,
    now: &str,
    detail: Option<(&str, &str)>,
) {
    let status = pod.entry("status").or_insert_with(|| json!({}));
    if !status.is_object() {
        *status = json!({});
    }
    let list = status
        .as_object_mut()
        .map(|s| s.entry("conditions").or_insert_with(|| json!([])));
    let Some(Value::Array(list)) = list else {
        return;
    };
    let fresh =
        json!({"type": kind, "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
    match list
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
    {
        Some(c) if c.get("status").and_then(Value::as_str) == Some("True") => {}
        Some(c) => {
            c["status"] = json!("True");
            c["lastTransitionTime"] = json!(now);
            if let Some(m) = c.as_object_mut() {
                m.remove("reason");
                m.remove("message");
            }
        }
        None => list.push(fresh),
    }
    if let (Some((reason, message)), Some(c)) = (
        detail,
        list.iter_mut()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(kind)),
    ) {
        c["reason"] = json!(reason);
        c["message"] = json!(message);
    }
}

impl Registry {
    /// Binds a pod to a node (POST pods/{name}/binding). Like upstream's BindingREST this
    /// writes the pod straight to storage in ONE compare-and-swap: spec.nodeName and the
    /// PodScheduled=True condition together, so a binding costs one write and one watch event.
    pub async fn bind(
        &self,
        d: &ResourceDescriptor,
        ns: Option<&str>,
        name: &str,
        binding: &Value,
        dry_run: bool,
    ) -> ApiResult<()> {
        let req = BindingRequest::parse(name, binding)?;
        let key = d.key(ns, name);
        for _ in 0..MAX_HOOK_RETRIES {
            let current = self.get(d, ns, name).await?;
            let old = parse(&current)?;
            let mut pod = old.clone();
            req.assign(&mut pod, name, &super::meta::now_rfc3339())?;
            let extras = self
                .run_hooks(
                    d,
                    dry_run,
                    None,
                    "binding",
                    HookWrite::Update(&old, &mut pod),
                )
                .await?;
            if dry_run {
                return Ok(());
            }
            let main = (key.clone(), Compare::ModRevision(current.mod_revision));
            let op = Op::Put {
                key: key.clone(),
                value: d.storage_bytes(&pod),
            };
            match self.store.txn(with_extras(main, op, &extras)).await? {
                TxnOutcome::Applied { .. } => return Ok(()),
                TxnOutcome::Failed {
                    failed_compare: 0,
                    current: None,
                } => return Err(ApiError::not_found(&d.group, &d.plural, name)),
                // Someone wrote the pod in between: re-read and decide again.
                TxnOutcome::Failed {
                    failed_compare: 0, ..
                } => continue,
                TxnOutcome::Failed { failed_compare, .. } => {
                    extras.retry_or_fail(failed_compare)?;
                    super::hooks::contention_pause().await;
                }
            }
        }
        Err(too_many_retries(d, name))
    }

    /// The stored Node named `node_name` (where a pod's node agent is reached).
    pub async fn node(&self, node_name: &str) -> ApiResult<ferrokube_store::KeyValue> {
        let d = self
            .lookup("", "v1", "nodes")
            .ok_or_else(ApiError::not_found_path)?;
        self.get(&d, None, node_name).await
    }

    /// Evicts a pod (POST pods/{name}/eviction): deletes it with the eviction's DeleteOptions,
    /// charging the pod's disruption budget in the same transaction (see
    /// [`super::admission::eviction`]); a budget changed meanwhile is read again.
    pub async fn evict(
        &self,
        d: &ResourceDescriptor,
        ns: Option<&str>,
        name: &str,
        eviction: &Value,
        dry_run: bool,
    ) -> ApiResult<Deleted> {
        let opts = eviction
            .get("deleteOptions")
            .cloned()
            .unwrap_or(Value::Null);
        let mut delete = DeleteOptions {
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
        let mut marked = false;
        for _ in 0..MAX_HOOK_RETRIES {
            let pod = parse(&self.get(d, ns, name).await?)?;
            let charge = eviction::budget_charge(self, ns.unwrap_or(""), &pod).await?;
            if !dry_run && !marked {
                let rv = self.mark_disruption_target(d, ns, name, &delete).await?;
                if delete.precondition_rv.is_some() {
                    // The condition is this eviction's own write: the delete checks against it.
                    delete.precondition_rv = Some(rv);
                }
                marked = true;
            }
            match self.delete_with(d, ns, name, &delete, &charge).await {
                Err(e) if eviction::lost_budget_race(&e) => continue,
                other => return other,
            }
        }
        Err(too_many_retries(d, name))
    }

    /// Upstream's eviction `addConditionAndDeletePod`: before the delete, the pod's status gets
    /// `DisruptionTarget=True` (reason `EvictionByEvictionAPI`), so its controller (a Job's
    /// podFailurePolicy, say) can tell an eviction from a failure. The delete's preconditions
    /// are checked against the pod first; returns the resourceVersion after the write.
    async fn mark_disruption_target(
        &self,
        d: &ResourceDescriptor,
        ns: Option<&str>,
        name: &str,
        delete: &DeleteOptions,
    ) -> ApiResult<String> {
        let rv = super::meta::parse_rv(delete.precondition_rv.as_deref())
            .map_err(ApiError::bad_request)?;
        let uid = delete.precondition_uid.clone();
        let (group, plural, pod_name) = (d.group.clone(), d.plural.clone(), name.to_string());
        let mutate: Mutation = Box::new(move |current: &Value| {
            let actual = super::meta::meta_str(current, "uid").unwrap_or("");
            if let Some(want) = uid.as_deref().filter(|u| *u != actual) {
                return Err(ApiError::conflict(
                    &group,
                    &plural,
                    &pod_name,
                    &format!(
                    "Precondition failed: UID in precondition: {want}, UID in object meta: {actual}"
                ),
                ));
            }
            let mut new = current.clone();
            if let Some(obj) = new.as_object_mut() {
                let now = super::meta::now_rfc3339();
                let detail = Some(("EvictionByEvictionAPI", "Eviction API: evicting"));
                set_condition_true(obj, "DisruptionTarget", &now, detail);
            }
            Ok(new)
        });
        let opts = WriteOptions {
            field_manager: Some("kube-apiserver".into()),
            ..Default::default()
        };
        self.guaranteed_update(d, ns, name, Part::Status, rv, mutate, &opts)
            .await?;
        Ok(self.get(d, ns, name).await?.mod_revision.to_string())
    }
}

/// `pods/binding`.
pub fn bind_action(a: Action<'_>) -> BoxFuture<'_, ApiResult<ActionOutcome>> {
    Box::pin(async move {
        a.registry
            .bind(
                a.descriptor,
                a.namespace,
                a.name,
                &a.body,
                a.options.dry_run,
            )
            .await?;
        Ok(ActionOutcome::Success(201))
    })
}

/// `pods/eviction`.
pub fn evict_action(a: Action<'_>) -> BoxFuture<'_, ApiResult<ActionOutcome>> {
    Box::pin(async move {
        a.registry
            .evict(
                a.descriptor,
                a.namespace,
                a.name,
                &a.body,
                a.options.dry_run,
            )
            .await?;
        Ok(ActionOutcome::Success(201))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Value) -> BindingRequest {
        BindingRequest::parse("p", &body).expect("valid binding")
    }

    #[test]
    fn binding_sets_node_and_condition_in_one_object() {
        let mut pod = json!({"metadata": {"name": "p", "uid": "u1"}, "spec": {},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                "reason": "Unschedulable", "message": "0/1 nodes", "lastTransitionTime": "t0"}]}});
        let req = request(
            json!({"metadata": {"name": "p", "uid": "u1", "annotations": {"a": "b"}},
            "target": {"kind": "Node", "name": "n1"}}),
        );
        req.assign(&mut pod, "p", "t1").expect("assign");
        assert_eq!(pod["spec"]["nodeName"], "n1");
        assert_eq!(pod["metadata"]["annotations"]["a"], "b");
        let conds = pod["status"]["conditions"].as_array().expect("conditions");
        assert_eq!(conds.len(), 1);
        assert_eq!(conds[0]["status"], "True");
        assert_eq!(conds[0]["lastTransitionTime"], "t1");
        assert!(conds[0].get("reason").is_none());
    }

    #[test]
    fn binding_refuses_bound_deleting_or_replaced_pods() {
        let req = request(json!({"target": {"name": "n2"}}));
        let mut bound = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}});
        let err = req.assign(&mut bound, "p", "t").unwrap_err();
        assert_eq!(err.code, 409);
        assert!(
            err.message.contains("pods/binding \"p\""),
            "{}",
            err.message
        );
        assert!(err.message.contains("already assigned to node \"n1\""));
        let mut deleting = json!({"metadata": {"name": "p", "deletionTimestamp": "t"}, "spec": {}});
        assert!(req
            .assign(&mut deleting, "p", "t")
            .unwrap_err()
            .message
            .contains("is being deleted"));
        let pinned = request(json!({"metadata": {"uid": "old"}, "target": {"name": "n2"}}));
        let mut other = json!({"metadata": {"name": "p", "uid": "new"}, "spec": {}});
        assert!(pinned
            .assign(&mut other, "p", "t")
            .unwrap_err()
            .message
            .contains("Precondition failed"));
    }

    #[test]
    fn binding_input_is_checked() {
        let no_target = BindingRequest::parse("p", &json!({"target": {}})).unwrap_err();
        assert_eq!(no_target.code, 422);
        let renamed = BindingRequest::parse(
            "p",
            &json!({"metadata": {"name": "q"}, "target": {"name": "n"}}),
        )
        .unwrap_err();
        assert_eq!(renamed.code, 400);
    }
}
