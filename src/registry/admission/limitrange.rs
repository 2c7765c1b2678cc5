//! LimitRanger admission (upstream's `LimitRanger` plugin) on pod creation: the `Container`
//! items of the namespace's LimitRanges fill unset limits from `default` and unset requests
//! from `defaultRequest`, then `min`, `max` and `maxLimitRequestRatio` are enforced with
//! upstream's messages. It runs before quota, so quota charges the defaulted amounts.

use ferrokube_controllers::quota_usage::milli;
use ferrokube_store::RangeRequest;
use futures::future::BoxFuture;
use serde_json::{json, Value};

use crate::registry::hooks::{HookContext, StorageHooks, TxnExtras};
use crate::status::{ApiError, ApiResult};

/// The hook installed on pods.
pub struct LimitRanger;

impl StorageHooks for LimitRanger {
    fn before_create<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        obj: &'a mut Value,
        _txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            if ctx.descriptor.plural != "pods" || !ctx.descriptor.group.is_empty() {
                return Ok(());
            }
            let Some(ns) = obj.pointer("/metadata/namespace").and_then(Value::as_str) else {
                return Ok(());
            };
            let Some(d) = ctx.registry.lookup_kind("", "LimitRange") else {
                return Ok(());
            };
            let ranges = ctx
                .registry
                .store
                .range(RangeRequest {
                    prefix: d.namespace_prefix(Some(ns)),
                    start: String::new(),
                    limit: 0,
                    revision: 0,
                })
                .await?;
            let mut errors = Vec::new();
            for kv in ranges.items {
                let lr = crate::registry::rest::parse(&kv)?;
                for item in items(&lr) {
                    apply_defaults(obj, item);
                    errors.extend(check(obj, item));
                }
            }
            if errors.is_empty() {
                return Ok(());
            }
            let why = if errors.len() == 1 {
                errors.remove(0)
            } else {
                format!("[{}]", errors.join(", "))
            };
            Err(ApiError::admission_forbidden("", "pods", obj, &why))
        })
    }
}

/// The `Container` items of a LimitRange.
fn items(lr: &Value) -> Vec<&Value> {
    lr.pointer("/spec/limits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|i| i.get("type").and_then(Value::as_str) == Some("Container"))
        .collect()
}

fn containers_mut(pod: &mut Value) -> Vec<&mut Value> {
    let spec = &mut pod["spec"];
    let mut out = Vec::new();
    if let Some(obj) = spec.as_object_mut() {
        for (k, v) in obj.iter_mut() {
            if k == "containers" || k == "initContainers" {
                if let Some(a) = v.as_array_mut() {
                    out.extend(a.iter_mut());
                }
            }
        }
    }
    out
}

/// Fills unset limits and requests from the item's `default` and `defaultRequest`.
pub fn apply_defaults(pod: &mut Value, item: &Value) {
    for c in containers_mut(pod) {
        for (from, to) in [("default", "limits"), ("defaultRequest", "requests")] {
            for (r, q) in bounds(item, from) {
                if !c["resources"].is_object() {
                    c["resources"] = json!({});
                }
                if !c["resources"][to].is_object() {
                    c["resources"][to] = json!({});
                }
                if c["resources"][to].get(r).is_none() {
                    c["resources"][to][r] = q.clone();
                }
            }
        }
    }
}

/// The resources and quantities an item lists under `which` (`min`, `max`,
/// `maxLimitRequestRatio`, `default`, `defaultRequest`).
fn bounds<'a>(item: &'a Value, which: &str) -> impl Iterator<Item = (&'a String, &'a Value)> {
    item.get(which)
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
}

fn amount(v: Option<&Value>) -> Option<i64> {
    v.and_then(Value::as_str).and_then(milli)
}

/// min / max / maxLimitRequestRatio for every container, in upstream's words
/// (`minConstraint`, `maxConstraint`, `limitRequestRatioConstraint`).
pub fn check(pod: &mut Value, item: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    for c in containers_mut(pod) {
        let given = |kind: &str, r: &str| {
            let q = c.pointer(&format!("/resources/{kind}/{r}"));
            amount(q).map(|v| (v, q.and_then(Value::as_str).unwrap_or("").to_string()))
        };
        let req = |r: &str| given("requests", r).map(|(v, _)| v);
        let lim = |r: &str| given("limits", r).map(|(v, _)| v);
        for (r, q) in bounds(item, "min") {
            let (min, qs) = (amount(Some(q)).unwrap_or(0), q.as_str().unwrap_or(""));
            let prefix = format!("minimum {r} usage per Container is {qs}");
            match (given("requests", r), given("limits", r)) {
                (None, _) => errs.push(format!("{prefix}.  No request is specified")),
                (Some((v, text)), _) if v < min => {
                    errs.push(format!("{prefix}, but request is {text}"))
                }
                (_, Some((v, text))) if v < min => {
                    errs.push(format!("{prefix}, but limit is {text}"))
                }
                _ => {}
            }
        }
        for (r, q) in bounds(item, "max") {
            let (max, qs) = (amount(Some(q)).unwrap_or(0), q.as_str().unwrap_or(""));
            let prefix = format!("maximum {r} usage per Container is {qs}");
            match (given("limits", r), given("requests", r)) {
                (None, _) => errs.push(format!("{prefix}.  No limit is specified")),
                (Some((v, text)), _) if v > max => {
                    errs.push(format!("{prefix}, but limit is {text}"))
                }
                (_, Some((v, text))) if v > max => {
                    errs.push(format!("{prefix}, but request is {text}"))
                }
                _ => {}
            }
        }
        for (r, q) in bounds(item, "maxLimitRequestRatio") {
            let qs = q.as_str().unwrap_or("");
            let ratio = amount(Some(q)).unwrap_or(0) as f64 / 1000.0;
            match (req(r), lim(r)) {
                (Some(rq), Some(l)) if rq > 0 => {
                    let actual = l as f64 / rq as f64;
                    if actual > ratio {
                        errs.push(format!("{r} max limit to request ratio per Container is {qs}, but provided ratio is {actual:.6}"));
                    }
                }
                (_, Some(_)) => errs.push(format!("{r} max limit to request ratio per Container is {qs}, but no request is specified or request is 0")),
                _ => {}
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_and_bounds_refuse() {
        let item = json!({"type": "Container", "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "100m"},
            "min": {"cpu": "50m"}, "max": {"cpu": "1"}, "maxLimitRequestRatio": {"cpu": "5"}});
        let mut pod = json!({"spec": {"containers": [{"name": "c"}]}});
        apply_defaults(&mut pod, &item);
        assert_eq!(
            pod["spec"]["containers"][0]["resources"],
            json!({"limits": {"cpu": "500m"}, "requests": {"cpu": "100m"}})
        );
        assert!(check(&mut pod, &item).is_empty());
        let mut big = json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "2"}, "requests": {"cpu": "200m"}}}]}});
        let errs = check(&mut big, &item);
        assert_eq!(
            errs[0],
            "maximum cpu usage per Container is 1, but limit is 2"
        );
        assert_eq!(
            errs[1],
            "cpu max limit to request ratio per Container is 5, but provided ratio is 10.000000"
        );
    }

    /// Upstream's conformance LimitRange: a request above max is refused even when the
    /// defaulted limit is within it, and quantities are quoted as the pod wrote them.
    #[test]
    fn requests_are_bounded_too_and_quoted_as_written() {
        let item = json!({"type": "Container",
            "min": {"cpu": "50m", "ephemeral-storage": "100Gi"},
            "max": {"cpu": "500m", "ephemeral-storage": "500Gi"},
            "default": {"cpu": "500m", "ephemeral-storage": "500Gi"},
            "defaultRequest": {"cpu": "100m", "ephemeral-storage": "200Gi"}});
        let mut big = json!({"spec": {"containers": [{"name": "c", "resources":
            {"requests": {"cpu": "600m", "ephemeral-storage": "600Gi"}}}]}});
        apply_defaults(&mut big, &item);
        assert_eq!(
            check(&mut big, &item),
            [
                "maximum cpu usage per Container is 500m, but request is 600m",
                "maximum ephemeral-storage usage per Container is 500Gi, but request is 600Gi"
            ]
        );
        let mut small = json!({"spec": {"containers": [{"name": "c", "resources":
            {"requests": {"cpu": "10m", "ephemeral-storage": "50Gi"}}}]}});
        apply_defaults(&mut small, &item);
        assert_eq!(
            check(&mut small, &item)[1],
            "minimum ephemeral-storage usage per Container is 100Gi, but request is 50Gi"
        );
    }
}
