//! ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1): CEL validations that an
//! operator binds to resources, evaluated in the write path of every kind (custom resources
//! included) after the kinds' own admission. A binding selects a policy, narrows what it
//! matches, picks its parameters and says what a failure does: `Deny` refuses with upstream's
//! message and reason, `Warn` adds a `Warning` header, `Audit` has no audit log to go to yet.
//! Policies and bindings are compiled once and followed live from the store.

pub mod compiled;
pub mod inputs;
pub mod matching;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use ferrokube_store::KeyValue;
use futures::future::BoxFuture;
use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use serde_json::Value;

use self::compiled::{CompiledPolicy, Failure};
use crate::registry::hooks::{ByOperation, HookContext, OperationAdmission, TxnExtras};
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
    crate::registry::follow::start(&registry.store, PREFIX, plugin.clone()).await?;
    registry.add_hook_for_every_kind(Arc::new(ByOperation(plugin)));
    Ok(())
}

impl PolicyAdmission {
    fn rebuild_set(&self, items: &[KeyValue]) {
        let mut set = PolicySet::default();
        for kv in items {
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
    }

    fn snapshot(&self) -> Arc<PolicySet> {
        self.set.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Runs every binding whose policy matches the write.
    async fn admit_write(
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
            let spec = &binding.spec;
            let Some(policy) = set.policies.get(&spec.policy_name) else {
                continue;
            };
            let scope = policy.scope(spec);
            if !request.matched_by(&scope) {
                continue;
            }
            let binding_name = binding.metadata.name.clone().unwrap_or_default();
            let outcome = request.evaluate(ctx, policy, &scope).await;
            let actions = &spec.validation_actions;
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

impl crate::registry::follow::Rebuild for PolicyAdmission {
    fn rebuild(&self, items: &[KeyValue]) {
        self.rebuild_set(items);
    }
}

impl OperationAdmission for PolicyAdmission {
    fn admit<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        operation: &'static str,
        new: Option<&'a mut Value>,
        old: Option<&'a Value>,
        txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(self.admit_write(ctx, operation, new.map(|v| &*v), old, txn))
    }
}
