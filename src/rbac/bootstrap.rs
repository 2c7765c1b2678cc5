//! Upstream's `storage_rbac` post-start hook: the bootstrap ClusterRoles and ClusterRoleBindings
//! are created when missing and reconciled when present, unless their
//! `rbac.authorization.kubernetes.io/autoupdate` annotation is `"false"`. Reconciling only adds:
//! missing rules, subjects, labels and annotations (upstream's `RemoveExtraPermissions` and
//! `RemoveExtraSubjects` are off for the API server), so an administrator's additions survive.

use std::sync::Arc;

use ferrokube_auth::rbac::{bootstrap, AUTOUPDATE_ANNOTATION};
use futures::future::join_all;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

use crate::registry::rest::{DeleteOptions, Mutation, Part, WriteOptions};
use crate::registry::{Registry, ResourceDescriptor};
use crate::status::{ApiError, ApiResult};

/// Creates or reconciles every bootstrap ClusterRole and ClusterRoleBinding. The writes go out
/// together so one group commit covers them on a fresh data dir.
pub async fn reconcile(registry: &Registry) -> anyhow::Result<()> {
    let roles = descriptor(registry, "clusterroles")?;
    let bindings = descriptor(registry, "clusterrolebindings")?;
    let role_writes = bootstrap::cluster_roles()
        .into_iter()
        .map(|r| ensure(registry, &roles, r, merge_role));
    let binding_writes = bootstrap::cluster_role_bindings()
        .into_iter()
        .map(|b| ensure(registry, &bindings, b, merge_binding));
    let results = join_all(role_writes)
        .await
        .into_iter()
        .chain(join_all(binding_writes).await);
    for result in results {
        result.map_err(|e| anyhow::anyhow!("reconciling the bootstrap RBAC policy: {e}"))?;
    }
    Ok(())
}

fn descriptor(registry: &Registry, plural: &str) -> anyhow::Result<Arc<ResourceDescriptor>> {
    registry
        .lookup("rbac.authorization.k8s.io", "v1", plural)
        .ok_or_else(|| anyhow::anyhow!("{plural} are not served"))
}

/// What reconciling one existing object decided.
enum Merged<T> {
    /// Keep the stored object as it is.
    Keep,
    /// Replace it with this.
    Update(T),
    /// The object cannot be updated into shape (a binding's roleRef is immutable): recreate.
    Recreate,
}

fn to_value<T: Serialize>(obj: &T, d: &ResourceDescriptor) -> ApiResult<Value> {
    let mut v = serde_json::to_value(obj).map_err(|e| ApiError::internal(e.to_string()))?;
    v["apiVersion"] = Value::String(d.api_version());
    v["kind"] = Value::String(d.kind.clone());
    Ok(v)
}

async fn ensure<T>(
    registry: &Registry,
    d: &ResourceDescriptor,
    wanted: T,
    merge: fn(&T, T) -> Merged<T>,
) -> ApiResult<()>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + HasMeta,
{
    let name = wanted.meta().name.clone().unwrap_or_default();
    let opts = WriteOptions {
        field_manager: Some("kube-apiserver".into()),
        ..WriteOptions::default()
    };
    for _ in 0..3 {
        let current = match registry.get(d, None, &name).await {
            Ok(kv) => kv,
            Err(e) if e.code == 404 => {
                match registry.create(d, None, to_value(&wanted, d)?, &opts).await {
                    Ok(_) => return Ok(()),
                    Err(e) if e.code == 409 => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        let existing: T = serde_json::from_slice(&current.value)
            .map_err(|e| ApiError::internal(format!("stored {name}: {e}")))?;
        let autoupdate = existing
            .meta()
            .annotations
            .as_ref()
            .and_then(|a| a.get(AUTOUPDATE_ANNOTATION))
            .map(String::as_str);
        if autoupdate == Some("false") {
            return Ok(());
        }
        match merge(&wanted, existing) {
            Merged::Keep => return Ok(()),
            Merged::Update(obj) => {
                let value = to_value(&obj, d)?;
                let mutate: Mutation<'_> = Box::new(move |_current: &Value| Ok(value.clone()));
                let precondition = Some(current.mod_revision);
                match registry
                    .guaranteed_update(d, None, &name, Part::Main, precondition, mutate, &opts)
                    .await
                {
                    Ok(_) => return Ok(()),
                    Err(e) if e.code == 409 => continue,
                    Err(e) => return Err(e),
                }
            }
            Merged::Recreate => {
                registry
                    .delete(d, None, &name, &DeleteOptions::default())
                    .await?;
            }
        }
    }
    Err(ApiError::internal(format!(
        "{name} kept changing while reconciling it"
    )))
}

/// Access to an object's metadata for the generic reconcile loop.
trait HasMeta {
    fn meta(&self) -> &ObjectMeta;
}

impl HasMeta for ClusterRole {
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl HasMeta for ClusterRoleBinding {
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

/// Adds the wanted labels and annotations the object lacks; true when it changed.
fn merge_meta(wanted: &ObjectMeta, existing: &mut ObjectMeta) -> bool {
    let mut changed = false;
    for (have, want) in [
        (&mut existing.labels, &wanted.labels),
        (&mut existing.annotations, &wanted.annotations),
    ] {
        for (k, v) in want.iter().flatten() {
            let map = have.get_or_insert_with(Default::default);
            if !map.contains_key(k) {
                map.insert(k.clone(), v.clone());
                changed = true;
            }
        }
    }
    changed
}

/// Upstream's role reconciliation: missing rules are added, an aggregation rule is replaced by
/// the bootstrap one (its rules are the aggregation controller's to fill).
fn merge_role(wanted: &ClusterRole, mut existing: ClusterRole) -> Merged<ClusterRole> {
    let mut changed = merge_meta(&wanted.metadata, &mut existing.metadata);
    if wanted.aggregation_rule.is_some() {
        if existing.aggregation_rule != wanted.aggregation_rule {
            existing.aggregation_rule = wanted.aggregation_rule.clone();
            changed = true;
        }
    } else {
        let rules = existing.rules.get_or_insert_with(Vec::new);
        let missing = ferrokube_auth::rbac::escalation::uncovered(
            rules,
            wanted.rules.as_deref().unwrap_or_default(),
        );
        if !missing.is_empty() {
            rules.extend(missing);
            changed = true;
        }
    }
    if changed {
        Merged::Update(existing)
    } else {
        Merged::Keep
    }
}

/// Upstream's binding reconciliation: missing subjects are added; a different roleRef cannot
/// be updated, so the binding is recreated.
fn merge_binding(
    wanted: &ClusterRoleBinding,
    mut existing: ClusterRoleBinding,
) -> Merged<ClusterRoleBinding> {
    if existing.role_ref != wanted.role_ref {
        return Merged::Recreate;
    }
    let mut changed = merge_meta(&wanted.metadata, &mut existing.metadata);
    let subjects = existing.subjects.get_or_insert_with(Vec::new);
    for s in wanted.subjects.iter().flatten() {
        let present = subjects.iter().any(|have| {
            have.kind == s.kind && have.name == s.name && have.namespace == s.namespace
        });
        if !present {
            subjects.push(s.clone());
            changed = true;
        }
    }
    if changed {
        Merged::Update(existing)
    } else {
        Merged::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::rbac::v1::{PolicyRule, Subject};

    fn named<T: HasMeta + Clone>(list: Vec<T>, name: &str) -> T {
        list.into_iter()
            .find(|o| o.meta().name.as_deref() == Some(name))
            .expect("bootstrap object")
    }

    #[test]
    fn reconciling_adds_missing_rules_and_keeps_extra_ones() {
        let wanted = named(bootstrap::cluster_roles(), "system:basic-user");
        assert!(matches!(merge_role(&wanted, wanted.clone()), Merged::Keep));
        let mut edited = wanted.clone();
        let extra = PolicyRule {
            api_groups: Some(vec!["".into()]),
            resources: Some(vec!["configmaps".into()]),
            verbs: vec!["get".into()],
            ..PolicyRule::default()
        };
        edited.rules = Some(vec![extra.clone()]);
        let Merged::Update(merged) = merge_role(&wanted, edited) else {
            panic!("missing rules must be added back");
        };
        let rules = merged.rules.unwrap_or_default();
        assert!(rules.contains(&extra), "an administrator's rule survives");
        assert!(ferrokube_auth::rbac::escalation::uncovered(
            &rules,
            wanted.rules.as_deref().unwrap()
        )
        .is_empty());
    }

    #[test]
    fn reconciling_bindings_adds_subjects_and_recreates_on_another_role() {
        let wanted = named(bootstrap::cluster_role_bindings(), "system:discovery");
        let mut edited = wanted.clone();
        edited.subjects = Some(vec![Subject {
            kind: "User".into(),
            name: "extra".into(),
            ..Subject::default()
        }]);
        let Merged::Update(merged) = merge_binding(&wanted, edited) else {
            panic!("missing subjects must be added back");
        };
        assert_eq!(merged.subjects.map(|s| s.len()), Some(2));
        let mut moved = wanted.clone();
        moved.role_ref.name = "view".into();
        assert!(matches!(merge_binding(&wanted, moved), Merged::Recreate));
    }
}
