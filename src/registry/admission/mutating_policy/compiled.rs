//! A MutatingAdmissionPolicy with its CEL compiled once: match conditions and variables (as
//! validating policies have them) and its mutations.

use k8s_openapi::api::admissionregistration::v1::{
    MutatingAdmissionPolicy, MutatingAdmissionPolicyBindingSpec,
};

use crate::registry::admission::policy::compiled::{Compiled, Preamble};
use crate::registry::admission::policy::inputs::PolicyScope;

/// How a mutation's result changes the object.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum PatchType {
    /// An `Object{...}` merged with server-side-apply semantics.
    ApplyConfiguration,
    /// A list of `JSONPatch{...}` operations.
    JsonPatch,
}

pub struct Mutation {
    pub patch_type: PatchType,
    pub expression: Compiled,
}

pub struct CompiledMutatingPolicy {
    pub policy: MutatingAdmissionPolicy,
    pub name: String,
    pub fail_closed: bool,
    /// `reinvocationPolicy: IfNeeded`.
    pub reinvoke: bool,
    pub preamble: Preamble,
    pub mutations: Vec<Mutation>,
}

impl CompiledMutatingPolicy {
    pub fn new(policy: MutatingAdmissionPolicy) -> CompiledMutatingPolicy {
        let spec = policy.spec.clone().unwrap_or_default();
        let mutations = spec.mutations.unwrap_or_default().into_iter();
        CompiledMutatingPolicy {
            name: policy.metadata.name.clone().unwrap_or_default(),
            fail_closed: spec.failure_policy.as_deref() != Some("Ignore"),
            reinvoke: spec.reinvocation_policy.as_deref() == Some("IfNeeded"),
            preamble: Preamble::new(spec.match_conditions, spec.variables),
            mutations: mutations
                .map(|m| {
                    let (patch_type, source) = match m.patch_type.as_str() {
                        "JSONPatch" => (
                            PatchType::JsonPatch,
                            m.json_patch.and_then(|p| p.expression),
                        ),
                        _ => (
                            PatchType::ApplyConfiguration,
                            m.apply_configuration.and_then(|a| a.expression),
                        ),
                    };
                    Mutation {
                        patch_type,
                        expression: Compiled::mutation(source.unwrap_or_default().trim()),
                    }
                })
                .collect(),
            policy,
        }
    }

    /// How the policy and `binding` match and find parameters.
    pub fn scope<'a>(&'a self, binding: &'a MutatingAdmissionPolicyBindingSpec) -> PolicyScope<'a> {
        let spec = self.policy.spec.as_ref();
        PolicyScope {
            constraints: spec.and_then(|s| s.match_constraints.as_ref()),
            narrowing: binding.match_resources.as_ref(),
            param_kind: spec.and_then(|s| s.param_kind.as_ref()),
            param_ref: binding.param_ref.as_ref(),
        }
    }
}
