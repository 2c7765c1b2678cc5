//! ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1): CEL validations that an
//! operator binds to resources, evaluated in the write path of every kind (custom resources
//! included) after the kinds' own admission. A binding selects a policy, narrows what it
//! matches, picks its parameters and says what a failure does: `Deny` refuses with upstream's
//! message and reason, `Warn` adds a `Warning` header, `Audit` records the failure in the
//! request's audit event (see [`audit`]), where the policies' `auditAnnotations` go too.
//! Policies and bindings are compiled once and followed live from the store.

pub mod audit;
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

use self::audit::{PolicyAudit, ValidationFailure};
use self::compiled::{CompiledPolicy, Evaluation, Failure};
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
        let mut audit = PolicyAudit::default();
        let verdict = self
            .run_bindings(ctx, &set, &request, new.or(old), txn, &mut audit)
            .await;
        // Upstream annotates the audit event whether or not a binding denied the request.
        audit.publish();
        verdict
    }

    /// Runs every matching binding in order: the first `Deny` failure refuses the write.
    async fn run_bindings(
        &self,
        ctx: &HookContext<'_>,
        set: &PolicySet,
        request: &inputs::Request,
        obj: Option<&Value>,
        txn: &mut TxnExtras,
        audit: &mut PolicyAudit,
    ) -> ApiResult<()> {
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
            let evaluation =
                (request.evaluate(ctx, policy, &scope).await).unwrap_or_else(Evaluation::failed);
            for (key, value) in &evaluation.annotations {
                audit.annotate(&policy.name, key, value.clone());
            }
            let actions = &spec.validation_actions;
            for (index, message, reason) in failures(evaluation.failures, policy.fail_closed) {
                let what = format!(
                    "ValidatingAdmissionPolicy '{}' with binding '{binding_name}'",
                    policy.name
                );
                if actions.iter().any(|a| a == "Audit") {
                    audit.failed(ValidationFailure {
                        message: message.clone(),
                        policy: policy.name.clone(),
                        binding: binding_name.clone(),
                        expression_index: index,
                        validation_actions: actions.clone(),
                    });
                }
                if actions.iter().any(|a| a == "Warn") {
                    txn.warn(format!("Validation failed for {what}: {message}"));
                }
                if actions.iter().any(|a| a == "Deny") {
                    let why = format!("{what} denied request: {message}");
                    return Err(denial(ctx, obj, &why, &reason));
                }
            }
        }
        Ok(())
    }
}

/// The (validation index, message, reason) of each failure the policy acts on: false
/// validations always, evaluation errors when the policy fails closed.
fn failures(all: Vec<(usize, Failure)>, fail_closed: bool) -> Vec<(usize, String, String)> {
    all.into_iter()
        .filter_map(|(index, f)| match f {
            Failure::Denied { message, reason } => Some((index, message, reason)),
            Failure::Error(e) if fail_closed => Some((index, e, "Invalid".into())),
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
