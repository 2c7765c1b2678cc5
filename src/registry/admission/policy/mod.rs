//! ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1): CEL validations that an
//! operator binds to resources, evaluated in the write path of every kind (custom resources
//! included) after the kinds' own admission. A binding selects a policy, narrows what it
//! matches, picks its parameters and says what a failure does: `Deny` refuses with upstream's
//! message and reason, `Warn` adds a `Warning` header, `Audit` has no audit log to go to yet.
//! Policies and bindings are compiled once and followed live from the store.

mod compiled;
pub mod inputs;
pub mod matching;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use ferrokube_store::{RangeRequest, Revision, Store};
use futures::future::BoxFuture;
use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use serde_json::Value;

use self::compiled::{CompiledPolicy, Failure};
use crate::registry::hooks::{HookContext, StorageHooks, TxnExtras};
use crate::registry::Registry;
use crate::status::{ApiError, ApiResult};

const GROUP: &str = "admissionregistration.k8s.io";
const PREFIX: &str = "/admissionregistration.k8s.io/";

/// Every policy (by name) and binding, compiled.
#[derive(Default)]
struct PolicySet {
    policies: BTreeMap<String, Arc<CompiledPolicy>>,
    bindings: Vec<ValidatingAdmissionPolicyBinding>,
}

/// The admission plugin: installed on every kind.
pub struct PolicyAdmission {
    set: RwLock<Arc<PolicySet>>,
}

/// Loads the policies, follows them, and installs the plugin on every kind.
pub async fn install(registry: &Registry) -> anyhow::Result<()> {
    let plugin = Arc::new(PolicyAdmission {
        set: RwLock::default(),
    });
    let revision = plugin.reload(&registry.store).await?;
    let (follower, store) = (plugin.clone(), registry.store.clone());
    let reader = store.clone();
    tokio::spawn(crate::registry::follow::follow(
        store,
        PREFIX,
        revision,
        move || {
            let (plugin, store) = (follower.clone(), reader.clone());
            async move { plugin.reload(&store).await }
        },
    ));
    registry.add_hook_for_every_kind(plugin);
    Ok(())
}

impl PolicyAdmission {
    async fn reload(&self, store: &Store) -> anyhow::Result<Revision> {
        let page = store
            .range(RangeRequest {
                prefix: PREFIX.into(),
                start: String::new(),
                limit: 0,
                revision: 0,
            })
            .await?;
        let mut set = PolicySet::default();
        for kv in &page.items {
            if kv.key.contains("/validatingadmissionpolicies/") {
                if let Ok(p) = serde_json::from_slice::<ValidatingAdmissionPolicy>(&kv.value) {
                    let compiled = CompiledPolicy::new(p);
                    set.policies
                        .insert(compiled.name.clone(), Arc::new(compiled));
                }
            } else if kv.key.contains("/validatingadmissionpolicybindings/") {
                set.bindings.extend(serde_json::from_slice(&kv.value).ok());
            }
        }
        *self.set.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        Ok(page.revision)
    }

    fn snapshot(&self) -> Arc<PolicySet> {
        self.set.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Runs every binding whose policy matches the write.
    async fn admit(
        &self,
        ctx: &HookContext<'_>,
        operation: &str,
        new: Option<&Value>,
        old: Option<&Value>,
        txn: &mut TxnExtras,
    ) -> ApiResult<()> {
        // Policies cannot lock their own API out, as upstream excludes it.
        let set = self.snapshot();
        if set.bindings.is_empty() || ctx.descriptor.group == GROUP {
            return Ok(());
        }
        let request = inputs::Request::gather(ctx, operation, new, old).await?;
        for binding in &set.bindings {
            let spec = binding.spec.clone().unwrap_or_default();
            let Some(policy) = spec.policy_name.as_ref().and_then(|n| set.policies.get(n)) else {
                continue;
            };
            if !request.matched_by(policy, &spec) {
                continue;
            }
            let binding_name = binding.metadata.name.clone().unwrap_or_default();
            let outcome = request.evaluate(ctx, policy, &spec).await;
            let actions = spec.validation_actions.clone().unwrap_or_default();
            for failure in failures(outcome, policy.fail_closed) {
                let (message, reason) = failure;
                let what = format!(
                    "ValidatingAdmissionPolicy '{}' with binding '{binding_name}'",
                    policy.name
                );
                if actions.iter().any(|a| a == "Warn") {
                    txn.warn(format!("Validation failed for {what}: {message}"));
                }
                if actions.iter().any(|a| a == "Deny") {
                    let why = format!("{what} denied request: {message}");
                    return Err(denial(ctx, new.or(old), &why, &reason));
                }
            }
        }
        Ok(())
    }
}

/// The (message, reason) pairs a policy's outcome denies with: false validations always, and
/// evaluation errors when the policy fails closed.
fn failures(outcome: Result<Vec<Failure>, Failure>, fail_closed: bool) -> Vec<(String, String)> {
    let all = match outcome {
        Ok(list) => list,
        Err(one) => vec![one],
    };
    all.into_iter()
        .filter_map(|f| match f {
            Failure::Denied { message, reason } => Some((message, reason)),
            Failure::Error(e) if fail_closed => Some((e, "Invalid".into())),
            Failure::Error(e) => {
                tracing::debug!("admission policy error ignored (failurePolicy Ignore): {e}");
                None
            }
        })
        .collect()
}

/// Upstream's denial: `<resource> "<name>" is forbidden: <why>`, with the validation's reason
/// and its HTTP code.
fn denial(ctx: &HookContext<'_>, obj: Option<&Value>, why: &str, reason: &str) -> ApiError {
    let obj = obj.cloned().unwrap_or_default();
    let d = ctx.descriptor;
    let mut err = ApiError::admission_forbidden(&d.group, &d.plural, &obj, why);
    (err.code, err.reason) = match reason {
        "Unauthorized" => (401, "Unauthorized"),
        "Forbidden" => (403, "Forbidden"),
        "RequestEntityTooLarge" => (413, "RequestEntityTooLarge"),
        _ => (422, "Invalid"),
    };
    err
}

impl StorageHooks for PolicyAdmission {
    fn before_create<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        obj: &'a mut Value,
        txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move { self.admit(ctx, "CREATE", Some(obj), None, txn).await })
    }

    fn before_update<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        old: &'a Value,
        new: &'a mut Value,
        txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move { self.admit(ctx, "UPDATE", Some(new), Some(old), txn).await })
    }

    fn before_delete<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        obj: &'a Value,
        txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move { self.admit(ctx, "DELETE", None, Some(obj), txn).await })
    }
}
