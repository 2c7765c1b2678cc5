//! ResourceQuota admission (upstream's `ResourceQuota` plugin) as a storage hook on every
//! namespaced built-in kind: a create (and a pod resize, by what it adds) is charged against
//! each quota of its namespace that limits something the object uses. The charge is the
//! quota's `status.used` rewritten in the write's own transaction, guarded by the quota's mod
//! revision, so parallel writers serialise on the quota and can never overshoot it (the loser
//! re-reads and is refused or charged again). The quota controller recomputes `status.used`
//! from reality (releases).

use ferrokube_store::{Compare, RangeRequest};
use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::usage::{format_milli, milli, object_usage, Usage};
use crate::registry::hooks::{HookContext, OnFail, StorageHooks, TxnExtras};
use crate::status::{ApiError, ApiResult};
use ferrokube_controllers::quota_scopes::quota_selects;

/// The hook installed on namespaced kinds.
pub struct QuotaAdmission;

impl StorageHooks for QuotaAdmission {
    fn before_create<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        obj: &'a mut Value,
        txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            let d = ctx.descriptor;
            let usage = object_usage(&d.group, &d.plural, obj);
            charge_namespace(ctx, obj, &usage, txn).await
        })
    }

    /// A pod resize is charged what it adds (upstream's quota evaluator handles
    /// `pods/resize` updates since in-place resize: the increase of each resource).
    fn before_update<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        old: &'a Value,
        new: &'a mut Value,
        txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            if ctx.subresource != crate::registry::resize::RESIZE {
                return Ok(());
            }
            let d = ctx.descriptor;
            let before = object_usage(&d.group, &d.plural, old);
            let increase: Usage = object_usage(&d.group, &d.plural, new)
                .into_iter()
                .filter_map(|(r, v)| {
                    let more = v - before.get(&r).copied().unwrap_or(0);
                    (more > 0).then_some((r, more))
                })
                .collect();
            if increase.is_empty() {
                return Ok(());
            }
            charge_namespace(ctx, new, &increase, txn).await
        })
    }
}

/// Charges `usage` of `obj` to every quota of its namespace that selects it, in the write's
/// own transaction.
async fn charge_namespace(
    ctx: &HookContext<'_>,
    obj: &Value,
    usage: &Usage,
    txn: &mut TxnExtras,
) -> ApiResult<()> {
    let Some(ns) = obj.pointer("/metadata/namespace").and_then(Value::as_str) else {
        return Ok(());
    };
    let Some(qd) = ctx.registry.lookup_kind("", "ResourceQuota") else {
        return Ok(());
    };
    let d = ctx.descriptor;
    let quotas = ctx
        .registry
        .store
        .range(RangeRequest {
            prefix: qd.namespace_prefix(Some(ns)),
            start: String::new(),
            limit: 0,
            revision: 0,
        })
        .await?;
    for kv in quotas.items {
        let mut quota = crate::registry::rest::parse(&kv)?;
        if !quota_selects(&quota, &d.group, &d.plural, obj) {
            continue;
        }
        if !charge(&mut quota, usage).map_err(|why| refused(d, obj, why))? {
            continue;
        }
        if let Some(m) = quota.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        txn.require(
            &kv.key,
            Compare::ModRevision(kv.mod_revision),
            OnFail::Retry,
        );
        txn.put_bytes(&kv.key, qd.storage_bytes(&quota));
        txn.serialize_on(&kv.key);
    }
    Ok(())
}

/// Adds `usage` to the quota's `status.used` for the resources it limits. Ok(false) when the
/// quota limits nothing the object uses; Err(why) when it would be exceeded (or its usage is
/// not known yet), with upstream's wording.
pub fn charge(quota: &mut Value, usage: &Usage) -> Result<bool, String> {
    let name = quota
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let hard = quantities(quota.pointer("/spec/hard"));
    let limited: Vec<&String> = usage.keys().filter(|r| hard.contains_key(*r)).collect();
    if limited.is_empty() {
        return Ok(false);
    }
    let used = quantities(quota.pointer("/status/used"));
    let unknown: Vec<&str> = limited
        .iter()
        .filter(|r| !used.contains_key(**r))
        .map(|r| r.as_str())
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "status unknown for quota: {name}, resources: {}",
            unknown.join(",")
        ));
    }
    let (mut requested, mut was, mut limit) = (vec![], vec![], vec![]);
    for r in &limited {
        if used[*r] + usage[*r] > hard[*r] {
            requested.push(format!("{r}={}", format_milli(usage[*r])));
            was.push(format!("{r}={}", format_milli(used[*r])));
            limit.push(format!("{r}={}", format_milli(hard[*r])));
        }
    }
    if !requested.is_empty() {
        return Err(format!(
            "exceeded quota: {name}, requested: {}, used: {}, limited: {}",
            requested.join(","),
            was.join(","),
            limit.join(",")
        ));
    }
    if !quota["status"]["used"].is_object() {
        quota["status"]["used"] = json!({});
    }
    for r in limited {
        quota["status"]["used"][r.as_str()] = json!(format_milli(used[r] + usage[r]));
    }
    Ok(true)
}

/// A `ResourceList` as milli-units (malformed entries are left out).
fn quantities(list: Option<&Value>) -> Usage {
    list.and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str().and_then(milli)?)))
        .collect()
}

/// Upstream's admission refusal: `<resource> "<name>" is forbidden: <why>`.
fn refused(d: &crate::registry::ResourceDescriptor, obj: &Value, why: String) -> ApiError {
    ApiError::admission_forbidden(&d.group, &d.plural, obj, &why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(used: Value) -> Value {
        json!({"metadata": {"name": "q"}, "spec": {"hard": {"pods": "2", "requests.cpu": "1"}},
            "status": {"hard": {"pods": "2", "requests.cpu": "1"}, "used": used}})
    }

    #[test]
    fn charges_until_the_limit_then_refuses_with_upstreams_words() {
        let mut usage = Usage::new();
        usage.insert("pods".into(), 1000);
        usage.insert("count/pods".into(), 1000);
        let mut q = quota(json!({"pods": "1", "requests.cpu": "0"}));
        assert!(charge(&mut q, &usage).unwrap());
        assert_eq!(q["status"]["used"]["pods"], "2");
        let err = charge(&mut q, &usage).unwrap_err();
        assert_eq!(
            err,
            "exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"
        );
        let mut fresh = json!({"metadata": {"name": "q"}, "spec": {"hard": {"pods": "2"}}});
        assert_eq!(
            charge(&mut fresh, &usage).unwrap_err(),
            "status unknown for quota: q, resources: pods"
        );
        let mut other = Usage::new();
        other.insert("count/secrets".into(), 1000);
        assert!(!charge(&mut quota(json!({})), &other).unwrap());
    }
}
