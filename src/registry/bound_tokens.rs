//! Upstream's service-account token validation against live objects: a token whose service
//! account was deleted (or deleted and recreated: another uid), or whose bound pod is gone, no
//! longer authenticates. The objects are read from this node's applied state at its current
//! revision, like upstream's informer-backed getter: no raft round trip per request.

use ferrokube_auth::{UserInfo, CREDENTIAL_ID_KEY, SERVICE_ACCOUNT_USER_PREFIX};
use ferrokube_store::Store;
use serde_json::Value;

const POD_NAME_KEY: &str = "authentication.kubernetes.io/pod-name";
const POD_UID_KEY: &str = "authentication.kubernetes.io/pod-uid";

/// Ok when `user` did not come from a service-account JWT, or its account (and bound pod)
/// still exist with the uids the token names; otherwise why not.
pub async fn still_valid(store: &Store, user: &UserInfo) -> Result<(), String> {
    let from_jwt = user
        .extra
        .get(CREDENTIAL_ID_KEY)
        .is_some_and(|ids| ids.iter().any(|id| id.starts_with("JTI=")));
    let Some((ns, name)) = user
        .name
        .strip_prefix(SERVICE_ACCOUNT_USER_PREFIX)
        .and_then(|rest| rest.split_once(':'))
    else {
        return Ok(());
    };
    if !from_jwt {
        return Ok(());
    }
    let account = live_uid(store, &format!("/core/serviceaccounts/{ns}/{name}")).await;
    match account {
        Some(uid) if user.uid.is_empty() || uid == user.uid => {}
        Some(_) => return Err(format!("service account {ns}/{name} was recreated")),
        None => return Err(format!("service account {ns}/{name} has been deleted")),
    }
    let first = |key: &str| user.extra.get(key).and_then(|v| v.first()).cloned();
    if let (Some(pod), Some(pod_uid)) = (first(POD_NAME_KEY), first(POD_UID_KEY)) {
        match live_uid(store, &format!("/core/pods/{ns}/{pod}")).await {
            Some(uid) if uid == pod_uid => {}
            _ => {
                return Err(format!(
                    "pod {ns}/{pod} the token is bound to no longer exists"
                ))
            }
        }
    }
    Ok(())
}

/// The uid of the object at `key`, unless it is missing or being deleted.
async fn live_uid(store: &Store, key: &str) -> Option<String> {
    let kv = store.get_at(key, store.current_revision()).await.ok()??;
    let obj: Value = serde_json::from_slice(&kv.value).ok()?;
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return None;
    }
    obj.pointer("/metadata/uid")?.as_str().map(str::to_string)
}
