//! PersistentVolumeClaim admission and update rules as a storage hook, plus the built-in
//! default StorageClass.
//!
//! - DefaultStorageClass admission: a claim created without `storageClassName` (and without
//!   the beta class annotation) gets the default class.
//! - Upstream's `ValidatePersistentVolumeClaimUpdate`: the spec is immutable except that the
//!   binder may fill `volumeName` and `storageClassName` once, and a bound claim may change
//!   `resources.requests` (never below `status.capacity`).
//! - PersistentVolumeClaimResize admission: growing a claim needs a class with
//!   `allowVolumeExpansion`.

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::hooks::{HookContext, StorageHooks, TxnExtras};
use super::rest::WriteOptions;
use super::Registry;
use crate::status::{ApiError, ApiResult, Cause};

const ANN_DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
const ANN_BETA_CLASS: &str = "volume.beta.kubernetes.io/storage-class";
/// The built-in class's name, as k3s names its local-path class.
pub const DEFAULT_CLASS: &str = "local-path";
/// The built-in node-local provisioner (see the kubelet's `provisioner` module).
pub const LOCAL_PATH_PROVISIONER: &str = "ferrokube.io/local-path";

/// Creates the built-in default StorageClass unless it exists.
pub async fn ensure_default_class(registry: &Registry) -> anyhow::Result<()> {
    let Some(d) = registry.lookup_kind("storage.k8s.io", "StorageClass") else {
        return Ok(());
    };
    let body = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": DEFAULT_CLASS, "annotations": {ANN_DEFAULT_CLASS: "true"}},
        "provisioner": LOCAL_PATH_PROVISIONER, "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": true});
    match registry
        .create(&d, None, body, &WriteOptions::default())
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code == 409 => Ok(()),
        Err(e) => Err(anyhow::anyhow!(
            "creating storageclass {DEFAULT_CLASS}: {e}"
        )),
    }
}

/// The hook installed on the PersistentVolumeClaim kind.
pub struct ClaimAdmission;

impl StorageHooks for ClaimAdmission {
    fn before_create<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        obj: &'a mut Value,
        _txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            let unset = obj
                .pointer("/spec/storageClassName")
                .is_none_or(Value::is_null)
                && obj
                    .pointer(&format!(
                        "/metadata/annotations/{}",
                        ANN_BETA_CLASS.replace('/', "~1")
                    ))
                    .is_none();
            if unset {
                if let Some(name) = default_class(ctx.registry).await? {
                    obj["spec"]["storageClassName"] = json!(name);
                }
            }
            Ok(())
        })
    }

    fn before_update<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        old: &'a Value,
        new: &'a mut Value,
        _txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            let causes = update_errors(old, new);
            if !causes.is_empty() {
                let name = new
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                return Err(ApiError::invalid("", "PersistentVolumeClaim", name, causes));
            }
            if storage(new.pointer("/spec")) > storage(old.pointer("/spec")) {
                check_expansion(ctx.registry, new).await?;
            }
            Ok(())
        })
    }
}

/// Bytes of `resources.requests.storage` under a spec (or of `capacity.storage` in a status).
fn storage(spec: Option<&Value>) -> i128 {
    let q = spec.and_then(|s| {
        s.pointer("/resources/requests/storage")
            .or_else(|| s.pointer("/capacity/storage"))
    });
    q.and_then(Value::as_str)
        .and_then(ferrokube_kubelet::quantity::parse_units_ceil)
        .unwrap_or(0)
}

/// Upstream's update validation of a claim's spec.
pub fn update_errors(old: &Value, new: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let bound = old.pointer("/status/phase").and_then(Value::as_str) == Some("Bound");
    let (mut o, mut n) = (
        old.get("spec").cloned().unwrap_or(json!({})),
        new.get("spec").cloned().unwrap_or(json!({})),
    );
    // The binder fills these once; a bound claim may be resized.
    let unset = |v: &Value, k: &str| v.get(k).is_none_or(|x| x.is_null() || x == "");
    for key in ["volumeName", "storageClassName"] {
        if unset(&o, key) {
            strip(&mut n, key);
            strip(&mut o, key);
        }
    }
    strip(&mut n, "volumeAttributesClassName");
    strip(&mut o, "volumeAttributesClassName");
    if bound {
        for v in [&mut o, &mut n] {
            if let Some(r) = v
                .pointer_mut("/resources/requests")
                .and_then(Value::as_object_mut)
            {
                r.remove("storage");
            }
        }
    }
    if o != n {
        causes.push(Cause {
            reason: "FieldValueForbidden".into(),
            message: "Forbidden: spec is immutable after creation except resources.requests and \
                      volumeAttributesClassName for bound claims"
                .into(),
            field: "spec".into(),
        });
    }
    let (was, is) = (storage(old.get("spec")), storage(new.get("spec")));
    if bound && is < was && is <= storage(old.get("status")) {
        causes.push(Cause {
            reason: "FieldValueForbidden".into(),
            message: "Forbidden: field can not be less than status.capacity".into(),
            field: "spec.resources.requests.storage".into(),
        });
    }
    causes
}

fn strip(spec: &mut Value, key: &str) {
    if let Some(m) = spec.as_object_mut() {
        m.remove(key);
    }
}

/// PersistentVolumeClaimResize admission: only claims of a class allowing expansion grow.
async fn check_expansion(registry: &Registry, claim: &Value) -> ApiResult<()> {
    let class = claim
        .pointer("/spec/storageClassName")
        .and_then(Value::as_str)
        .unwrap_or("");
    let allowed = match read_class(registry, class).await? {
        Some(sc) => sc.get("allowVolumeExpansion") == Some(&json!(true)),
        None => false,
    };
    if allowed {
        return Ok(());
    }
    let name = claim
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    Err(ApiError::forbidden(format!(
        "persistentvolumeclaims \"{name}\" is forbidden: only dynamically provisioned pvc can be \
         resized and the storageclass that provisions the pvc must support resize"
    ))
    .with_details(json!({"name": name, "kind": "persistentvolumeclaims"})))
}

async fn read_class(registry: &Registry, name: &str) -> ApiResult<Option<Value>> {
    if name.is_empty() {
        return Ok(None);
    }
    registry
        .get_value("storage.k8s.io", "StorageClass", None, name)
        .await
}

/// Upstream `GetDefaultClass`: among classes marked default, the newest (then by name).
async fn default_class(registry: &Registry) -> ApiResult<Option<String>> {
    let Some(d) = registry.lookup_kind("storage.k8s.io", "StorageClass") else {
        return Ok(None);
    };
    let page = registry.list(&d, None, &Default::default()).await?;
    let mut defaults: Vec<(String, String)> = page
        .items
        .iter()
        .filter_map(|b| serde_json::from_slice::<Value>(b).ok())
        .filter(|c| {
            c.pointer("/metadata/annotations")
                .and_then(|a| a.get(ANN_DEFAULT_CLASS))
                .and_then(Value::as_str)
                == Some("true")
        })
        .map(|c| {
            let at = c
                .pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str);
            let name = c.pointer("/metadata/name").and_then(Value::as_str);
            (at.unwrap_or("").to_owned(), name.unwrap_or("").to_owned())
        })
        .collect();
    // Newest first; equal times by name, as upstream sorts.
    defaults.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    Ok(defaults.into_iter().next().map(|(_, n)| n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(phase: &str, size: &str, capacity: &str) -> Value {
        json!({"metadata": {"name": "c"}, "spec": {"accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": size}}, "storageClassName": "local-path",
            "volumeName": "pv"}, "status": {"phase": phase, "capacity": {"storage": capacity}}})
    }

    #[test]
    fn bound_claims_resize_but_not_below_capacity() {
        let old = claim("Bound", "2Gi", "2Gi");
        assert!(update_errors(&old, &claim("Bound", "3Gi", "2Gi")).is_empty());
        let shrink = update_errors(&old, &claim("Bound", "1Gi", "2Gi"));
        assert_eq!(shrink.len(), 1);
        assert_eq!(shrink[0].field, "spec.resources.requests.storage");
        assert_eq!(
            shrink[0].message,
            "Forbidden: field can not be less than status.capacity"
        );
        // Recovering from a failed expansion: back down, still above the capacity.
        let old = claim("Bound", "5Gi", "2Gi");
        assert!(update_errors(&old, &claim("Bound", "3Gi", "2Gi")).is_empty());
    }

    #[test]
    fn spec_is_immutable_except_what_the_binder_fills() {
        let pending = claim("Pending", "1Gi", "0");
        let resized = update_errors(&pending, &claim("Pending", "2Gi", "0"));
        assert_eq!(resized[0].field, "spec");
        let mut modes = claim("Bound", "1Gi", "1Gi");
        modes["spec"]["accessModes"] = json!(["ReadWriteMany"]);
        assert_eq!(
            update_errors(&claim("Bound", "1Gi", "1Gi"), &modes).len(),
            1
        );
        let mut unbound = claim("Pending", "1Gi", "0");
        unbound["spec"]
            .as_object_mut()
            .unwrap()
            .retain(|k, _| k != "volumeName" && k != "storageClassName");
        assert!(update_errors(&unbound, &claim("Pending", "1Gi", "0")).is_empty());
    }
}
