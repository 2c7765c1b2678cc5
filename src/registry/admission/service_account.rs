//! Upstream's ServiceAccount admission plugin on pod creation: the pod runs as the account it
//! names (`default` when it names none), that account must exist in the pod's namespace, and
//! unless the pod or the account opts out (`automountServiceAccountToken: false`; the pod's
//! setting wins) an API token is projected into every container. The projection itself is
//! [`crate::registry::strategy::service_account::admit_pod`].

use std::time::Duration;

use futures::future::BoxFuture;
use rand::Rng;
use serde_json::Value;

use crate::registry::hooks::{HookContext, StorageHooks, TxnExtras};
use crate::registry::strategy::service_account::{account_name, admit_pod, is_mirror_pod};
use crate::status::{ApiError, ApiResult};

/// The account upstream's controller creates in every namespace; a pod created right after
/// its namespace may arrive first, so its lookup is retried for a while, as upstream does.
const DEFAULT_ACCOUNT: &str = "default";
const DEFAULT_ACCOUNT_LOOKUPS: u32 = 10;

/// The hook installed on the Pod kind.
pub struct ServiceAccountAdmission;

impl StorageHooks for ServiceAccountAdmission {
    fn before_create<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        obj: &'a mut Value,
        _txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            if ctx.subresource.is_empty() && !is_mirror_pod(obj) {
                let account = lookup(ctx, obj).await?;
                let automount = should_automount(&account, obj);
                admit_pod(obj, &crate::registry::meta::random_suffix(), automount);
            }
            Ok(())
        })
    }
}

/// Reads the account the pod names; upstream's `getServiceAccount`, whose retries cover the
/// default account's controller being a moment behind the namespace.
async fn lookup(ctx: &HookContext<'_>, pod: &Value) -> ApiResult<Value> {
    let ns = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = account_name(pod);
    let attempts = if name == DEFAULT_ACCOUNT {
        DEFAULT_ACCOUNT_LOOKUPS
    } else {
        1
    };
    let pause = Duration::from_millis(rand::rng().random_range(100..200));
    for attempt in 0..attempts {
        if attempt > 0 {
            tokio::time::sleep(pause).await;
        }
        if let Some(account) = ctx
            .registry
            .get_value("", "ServiceAccount", Some(ns), &name)
            .await?
        {
            return Ok(account);
        }
    }
    Err(ApiError::admission_forbidden(
        "",
        "pods",
        pod,
        &format!(
            "error looking up service account {ns}/{name}: serviceaccount \"{name}\" not found"
        ),
    ))
}

/// Upstream's `shouldAutomount`: the pod's own setting wins, then the account's, else mount.
fn should_automount(account: &Value, pod: &Value) -> bool {
    pod.pointer("/spec/automountServiceAccountToken")
        .or_else(|| account.get("automountServiceAccountToken"))
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::should_automount;

    #[test]
    fn the_pods_setting_wins_over_the_accounts() {
        let off = json!({"automountServiceAccountToken": false});
        let on = json!({"automountServiceAccountToken": true});
        let unset = json!({});
        let pod = |v: Option<bool>| match v {
            Some(b) => json!({"spec": {"automountServiceAccountToken": b}}),
            None => json!({"spec": {}}),
        };
        assert!(should_automount(&unset, &pod(None)));
        assert!(!should_automount(&off, &pod(None)));
        assert!(should_automount(&off, &pod(Some(true))));
        assert!(!should_automount(&on, &pod(Some(false))));
    }
}
