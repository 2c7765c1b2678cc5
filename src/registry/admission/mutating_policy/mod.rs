//! MutatingAdmissionPolicy (admissionregistration.k8s.io/v1): CEL mutations an operator binds
//! to resources, run on creates and updates of every kind (custom resources included) before
//! the mutating webhooks, as upstream's plugin order has it. For each binding whose policy
//! matches (the validating policies' matching and parameters), the match conditions are
//! evaluated, then each mutation in order with `object` as the previous one left it: an
//! `ApplyConfiguration` merges an `Object{...}` as server-side apply does, a `JSONPatch` applies
//! its operations. A policy with `reinvocationPolicy: IfNeeded` runs once more when a policy
//! after it changed the object. An error refuses the write under `failurePolicy: Fail` (with
//! upstream's `policy '<p>' with binding '<b>' denied request: …`) and is skipped under
//! `Ignore`. The mutated object is then decoded, defaulted and validated again, as a mutating
//! webhook's is. Not yet: reinvocation after a mutating webhook changed the object.

mod compiled;
mod patch;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use ferrokube_store::KeyValue;
use futures::future::BoxFuture;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingAdmissionPolicy, MutatingAdmissionPolicyBinding, MutatingAdmissionPolicyBindingSpec,
};
use serde_json::Value;

use self::compiled::CompiledMutatingPolicy;
use super::policy::compiled::Failure;
use super::policy::inputs::Request;
use crate::registry::hooks::{ByOperation, HookContext, OperationAdmission, TxnExtras};
use crate::registry::Registry;
use crate::status::{ApiError, ApiResult};

const GROUP: &str = "admissionregistration.k8s.io";
const PREFIX: &str = "/admissionregistration.k8s.io/";

/// Every policy (by name) and binding, compiled.
#[derive(Default)]
struct PolicySet {
    policies: BTreeMap<String, Arc<CompiledMutatingPolicy>>,
    bindings: Vec<MutatingAdmissionPolicyBinding>,
}

/// The admission plugin: installed on every kind.
pub struct MutatingPolicyAdmission {
    set: RwLock<Arc<PolicySet>>,
}

/// Loads the policies, follows them, and installs the plugin on every kind (call before the
/// mutating webhooks).
pub async fn install(registry: &Registry) -> anyhow::Result<()> {
    let plugin = Arc::new(MutatingPolicyAdmission {
        set: RwLock::default(),
    });
    crate::registry::follow::start(&registry.store, PREFIX, plugin.clone()).await?;
    registry.add_hook_for_every_kind(Arc::new(ByOperation(plugin)));
    Ok(())
}

/// One binding of a matching policy.
struct Invocation<'s> {
    policy: &'s CompiledMutatingPolicy,
    binding: &'s MutatingAdmissionPolicyBinding,
    spec: &'s MutatingAdmissionPolicyBindingSpec,
}

impl Invocation<'_> {
    fn binding_name(&self) -> &str {
        self.binding.metadata.name.as_deref().unwrap_or_default()
    }
}

impl MutatingPolicyAdmission {
    fn rebuild_set(&self, items: &[KeyValue]) {
        let mut set = PolicySet::default();
        for kv in items {
            if kv.key.contains("/mutatingadmissionpolicies/") {
                if let Ok(p) = serde_json::from_slice::<MutatingAdmissionPolicy>(&kv.value) {
                    let compiled = CompiledMutatingPolicy::new(p);
                    set.policies
                        .insert(compiled.name.clone(), Arc::new(compiled));
                }
            } else if kv.key.contains("/mutatingadmissionpolicybindings/") {
                set.bindings.extend(serde_json::from_slice(&kv.value).ok());
            }
        }
        *self.set.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
    }

    fn snapshot(&self) -> Arc<PolicySet> {
        self.set.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn admit_write(
        &self,
        ctx: &HookContext<'_>,
        operation: &str,
        new: Option<&mut Value>,
        old: Option<&Value>,
    ) -> ApiResult<()> {
        // Policies cannot lock their own API out, as upstream excludes it; only creates and
        // updates of an object can be mutated.
        let set = self.snapshot();
        let Some(obj) = new else { return Ok(()) };
        let mutable = matches!(operation, "CREATE" | "UPDATE");
        if set.bindings.is_empty() || ctx.descriptor.group == GROUP || !mutable {
            return Ok(());
        }
        let mut request = Request::gather(ctx, operation, Some(&*obj), old).await?;
        let invocations: Vec<Invocation> = set
            .bindings
            .iter()
            .filter_map(|binding| {
                let spec = binding.spec.as_ref()?;
                let policy = set.policies.get(spec.policy_name.as_deref()?)?;
                let invocation = Invocation {
                    policy,
                    binding,
                    spec,
                };
                request
                    .matched_by(&policy.scope(spec))
                    .then_some(invocation)
            })
            .collect();
        let mut changed_by = Vec::new();
        for invocation in &invocations {
            changed_by.push(invoke(ctx, &mut request, invocation).await?);
        }
        // Reinvocation: IfNeeded policies that ran before a later one changed the object.
        if let Some(last) = changed_by.iter().rposition(|changed| *changed) {
            for invocation in invocations[..last].iter().filter(|i| i.policy.reinvoke) {
                invoke(ctx, &mut request, invocation).await?;
            }
        }
        let mutated = request.object().cloned().unwrap_or_default();
        if mutated != *obj {
            *obj = mutated;
            crate::registry::admission::webhook::admit_mutated(
                ctx,
                obj,
                old,
                "mutating admission policies",
            )?;
        }
        Ok(())
    }
}

/// Runs one policy binding's mutations (once per parameter object); whether the object
/// changed.
async fn invoke(
    ctx: &HookContext<'_>,
    request: &mut Request,
    invocation: &Invocation<'_>,
) -> ApiResult<bool> {
    let policy = invocation.policy;
    let before = request.object().cloned();
    let params = match request.params(ctx, &policy.scope(invocation.spec)).await {
        Ok(params) => params,
        Err(failure) => return failed(invocation, failure).map(|()| false),
    };
    let table = crate::registry::patch::merge_keys_of(ctx.descriptor);
    for param in params {
        let inputs = request.bindings(&param).map_err(ApiError::internal)?;
        match policy.preamble.conditions_hold(&inputs) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(failure) => {
                failed(invocation, failure)?;
                continue;
            }
        }
        for mutation in &policy.mutations {
            // Each mutation sees the object as the previous one left it.
            let inputs = request.bindings(&param).map_err(ApiError::internal)?;
            let b = policy.preamble.with_variables(&inputs);
            let current = request.object().cloned().unwrap_or_default();
            let outcome = mutation.expression.program().and_then(|program| {
                let result = b.eval_json(program).map_err(|e| {
                    format!(
                        "expression '{}' resulted in error: {e}",
                        mutation.expression.source
                    )
                })?;
                patch::apply(mutation.patch_type, result, &current, table)
            });
            match outcome {
                Ok(mutated) => request.set_object(mutated),
                Err(e) => failed(invocation, Failure::Error(e))?,
            }
        }
    }
    Ok(request.object() != before.as_ref())
}

/// Upstream's refusal for a policy that could not be applied, under `failurePolicy: Fail`
/// (403, reason Invalid); nothing under `Ignore`.
fn failed(invocation: &Invocation<'_>, failure: Failure) -> ApiResult<()> {
    let message = match failure {
        Failure::Denied { message, .. } | Failure::Error(message) => message,
    };
    let policy = invocation.policy;
    if !policy.fail_closed {
        tracing::debug!(policy = %policy.name, "mutating admission policy error ignored: {message}");
        return Ok(());
    }
    Err(ApiError::new(
        403,
        "Invalid",
        format!(
            "policy '{}' with binding '{}' denied request: {message}",
            policy.name,
            invocation.binding_name()
        ),
    ))
}

impl crate::registry::follow::Rebuild for MutatingPolicyAdmission {
    fn rebuild(&self, items: &[KeyValue]) {
        self.rebuild_set(items);
    }
}

impl OperationAdmission for MutatingPolicyAdmission {
    fn admit<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        operation: &'static str,
        new: Option<&'a mut Value>,
        old: Option<&'a Value>,
        _txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(self.admit_write(ctx, operation, new, old))
    }
}
