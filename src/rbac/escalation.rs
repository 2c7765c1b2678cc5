//! Upstream's policy-based RBAC storage as a storage hook on the four RBAC kinds: a Role or
//! ClusterRole may only be written with rules its author already holds (or may `escalate`), a
//! binding only to a role whose rules its author holds (or may `bind`). Refusals are 403s on
//! the object being written, before anything is stored. The server's own writes (bootstrap,
//! aggregation) carry no user and are not checked.

use std::sync::Arc;

use ferrokube_auth::rbac::escalation::{self, Grant};
use ferrokube_auth::rbac::{forbidden_status_with, RBAC_GROUP};
use ferrokube_auth::UserInfo;
use futures::future::BoxFuture;
use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef};
use serde_json::Value;

use super::Authorizer;
use crate::registry::hooks::{HookContext, StorageHooks, TxnExtras};
use crate::registry::Registry;
use crate::status::{ApiError, ApiResult};

/// The escalation check for one RBAC kind.
pub struct EscalationCheck {
    authorizer: Arc<Authorizer>,
}

/// Installs the check on Roles, ClusterRoles, RoleBindings and ClusterRoleBindings.
pub fn install(registry: &Registry, authorizer: &Arc<Authorizer>) {
    for kind in ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"] {
        let hook = Arc::new(EscalationCheck {
            authorizer: authorizer.clone(),
        });
        registry.add_hook(RBAC_GROUP, kind, hook);
    }
}

fn field<T: serde::de::DeserializeOwned>(obj: &Value, name: &str) -> Option<T> {
    obj.get(name)
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
}

fn meta(obj: &Value, name: &str) -> String {
    obj.pointer(&format!("/metadata/{name}"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// What part of the object decides what it grants (unchanged on update: nothing to check,
/// as upstream skips writes that only touch metadata).
fn grant_fields(obj: &Value) -> (Option<Value>, Option<Value>, Option<Value>, Option<Value>) {
    (
        obj.get("rules").cloned(),
        obj.get("aggregationRule").cloned(),
        obj.get("roleRef").cloned(),
        obj.get("subjects").cloned(),
    )
}

impl EscalationCheck {
    async fn check(&self, ctx: &HookContext<'_>, obj: &Value) -> ApiResult<()> {
        let Some(user) = ctx.user else {
            return Ok(());
        };
        let store = &ctx.registry.store;
        match self.decide(user, ctx, obj) {
            Ok(()) => Ok(()),
            // The index may be one write behind (see `cache`): decide again once caught up.
            Err(_) if self.authorizer.catch_up(store.current_revision()).await => {
                self.decide(user, ctx, obj)
            }
            Err(e) => Err(e),
        }
    }

    fn decide(&self, user: &UserInfo, ctx: &HookContext<'_>, obj: &Value) -> ApiResult<()> {
        let d = ctx.descriptor;
        let policy = self.authorizer.policy();
        let name = meta(obj, "name");
        let namespace = meta(obj, "namespace");
        let refuse = |reason: String| {
            let status = forbidden_status_with(&d.group, &d.plural, &name, &reason);
            ApiError::forbidden(status["message"].as_str().unwrap_or_default())
                .with_details(status["details"].clone())
        };
        let result = match d.kind.as_str() {
            "Role" | "ClusterRole" => {
                let rules: Vec<PolicyRule> = field(obj, "rules").unwrap_or_default();
                let grant = Grant::Role {
                    resource: &d.plural,
                    namespace: &namespace,
                    name: &name,
                    rules: &rules,
                };
                let aggregates = obj.get("aggregationRule").is_some_and(|a| !a.is_null());
                if aggregates && !escalation::may_escalate(&policy, user, &grant) {
                    return Err(refuse(
                        "must have cluster-admin privileges to use the aggregationRule".into(),
                    ));
                }
                escalation::check(&policy, user, &grant)
            }
            _ => {
                let Some(role_ref) = field::<RoleRef>(obj, "roleRef") else {
                    return Ok(()); // validation reports the missing roleRef
                };
                escalation::check(
                    &policy,
                    user,
                    &Grant::Binding {
                        namespace: &namespace,
                        role_kind: &role_ref.kind,
                        role_name: &role_ref.name,
                    },
                )
            }
        };
        result.map_err(refuse)
    }
}

impl StorageHooks for EscalationCheck {
    fn before_create<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        obj: &'a mut Value,
        _txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move { self.check(ctx, obj).await })
    }

    fn before_update<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        old: &'a Value,
        new: &'a mut Value,
        _txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            if grant_fields(old) == grant_fields(new) {
                return Ok(());
            }
            self.check(ctx, new).await
        })
    }
}
