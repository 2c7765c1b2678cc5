//! A ValidatingAdmissionPolicy with its CEL compiled once, and its evaluation for one request
//! and one parameter object: match conditions, then variables, then validations, each failure
//! turned into upstream's message.

use ferrokube_apiextensions::expression::{Bindings, Expression, Outcome};
use k8s_openapi::api::admissionregistration::v1::{
    MatchCondition, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBindingSpec, Variable,
};

use super::inputs::PolicyScope;

/// An expression as written, compiled or with its compile error (reported when it is used,
/// under the policy's failure policy, as upstream reports type-check errors).
pub struct Compiled {
    pub source: String,
    pub program: Result<Expression, String>,
}

impl Compiled {
    pub fn new(source: &str) -> Compiled {
        Compiled::of(source, Expression::compile(source))
    }

    /// A mutation (`Object{...}`, `JSONPatch{...}` constructions).
    pub fn mutation(source: &str) -> Compiled {
        Compiled::of(source, Expression::compile_mutation(source))
    }

    fn of(source: &str, program: Result<Expression, String>) -> Compiled {
        Compiled {
            source: source.to_owned(),
            program,
        }
    }

    /// The compiled program, or upstream's compile error.
    pub fn program(&self) -> Result<&Expression, String> {
        self.program
            .as_ref()
            .map_err(|e| format!("compilation failed for expression '{}': {e}", self.source))
    }

    fn eval(&self, b: &Bindings) -> Result<Outcome, String> {
        b.eval(self.program()?)
            .map_err(|e| format!("expression '{}' resulted in error: {e}", self.source))
    }
}

/// A policy's `matchConditions` and `variables`, compiled: what validating and mutating
/// policies evaluate before their validations or mutations.
pub struct Preamble {
    match_conditions: Vec<(String, Compiled)>,
    variables: Vec<(String, Compiled)>,
}

impl Preamble {
    pub fn new(conditions: Option<Vec<MatchCondition>>, variables: Option<Vec<Variable>>) -> Self {
        Preamble {
            match_conditions: (conditions.into_iter().flatten())
                .map(|c| (c.name, Compiled::new(&c.expression)))
                .collect(),
            variables: (variables.into_iter().flatten())
                .map(|v| (v.name, Compiled::new(&v.expression)))
                .collect(),
        }
    }

    /// The inputs with the variables defined; None when a match condition excludes the
    /// request.
    pub fn prepare(&self, inputs: &Bindings) -> Result<Option<Bindings>, Failure> {
        if !self.conditions_hold(inputs)? {
            return Ok(None);
        }
        Ok(Some(self.with_variables(inputs)))
    }

    /// Whether every match condition holds.
    pub fn conditions_hold(&self, inputs: &Bindings) -> Result<bool, Failure> {
        for (name, condition) in &self.match_conditions {
            match condition.eval(inputs) {
                Ok(Outcome::Bool(true)) => {}
                Ok(Outcome::Bool(false)) => return Ok(false),
                Ok(_) => {
                    return Err(Failure::Error(format!(
                        "matchCondition '{name}' did not evaluate to a bool"
                    )))
                }
                Err(e) => return Err(Failure::Error(e)),
            }
        }
        Ok(true)
    }

    /// The inputs with `variables.<name>` defined.
    pub fn with_variables(&self, inputs: &Bindings) -> Bindings {
        let mut b = inputs.clone();
        for (name, variable) in &self.variables {
            if let Ok(program) = &variable.program {
                // A variable that fails is an error only for the expressions that use it.
                let _ = b.define(name, program);
            }
        }
        b
    }
}

pub struct CompiledValidation {
    pub expression: Compiled,
    pub message: String,
    pub message_expression: Option<Compiled>,
    /// Upstream's status reason for a denial (Invalid when unset).
    pub reason: String,
}

/// An `auditAnnotations` entry: its key (unprefixed) and value expression.
pub struct CompiledAuditAnnotation {
    pub key: String,
    pub value: Compiled,
}

pub struct CompiledPolicy {
    pub policy: ValidatingAdmissionPolicy,
    pub name: String,
    pub fail_closed: bool,
    preamble: Preamble,
    validations: Vec<CompiledValidation>,
    audit_annotations: Vec<CompiledAuditAnnotation>,
}

/// What one evaluation of a policy found.
#[derive(Default)]
pub struct Evaluation {
    /// Failures, each with the index of its validation in `spec.validations` (0 for what failed
    /// before any validation ran: a match condition, the parameters).
    pub failures: Vec<(usize, Failure)>,
    /// The audit annotations that gave a value: (unprefixed key, value).
    pub annotations: Vec<(String, String)>,
}

impl Evaluation {
    /// An evaluation that failed before its validations.
    pub fn failed(failure: Failure) -> Evaluation {
        Evaluation {
            failures: vec![(0, failure)],
            annotations: Vec::new(),
        }
    }

    /// Adds another evaluation's findings (another parameter object's).
    pub fn extend(&mut self, other: Evaluation) {
        self.failures.extend(other.failures);
        self.annotations.extend(other.annotations);
    }
}

/// Why a request fails a policy.
pub enum Failure {
    /// A validation evaluated to false: its message and reason.
    Denied { message: String, reason: String },
    /// Something could not be evaluated; denied only when the policy fails closed.
    Error(String),
}

impl CompiledPolicy {
    pub fn new(policy: ValidatingAdmissionPolicy) -> CompiledPolicy {
        let spec = policy.spec.clone().unwrap_or_default();
        CompiledPolicy {
            name: policy.metadata.name.clone().unwrap_or_default(),
            fail_closed: spec.failure_policy.as_deref() != Some("Ignore"),
            preamble: Preamble::new(spec.match_conditions, spec.variables),
            validations: spec
                .validations
                .unwrap_or_default()
                .into_iter()
                .map(|v| CompiledValidation {
                    expression: Compiled::new(&v.expression),
                    message: v.message.unwrap_or_default(),
                    message_expression: v.message_expression.as_deref().map(Compiled::new),
                    reason: v.reason.unwrap_or_else(|| "Invalid".into()),
                })
                .collect(),
            audit_annotations: spec
                .audit_annotations
                .unwrap_or_default()
                .into_iter()
                .map(|a| CompiledAuditAnnotation {
                    value: Compiled::new(&a.value_expression),
                    key: a.key,
                })
                .collect(),
            policy,
        }
    }

    /// How the policy and `binding` match and find parameters.
    pub fn scope<'a>(
        &'a self,
        binding: &'a ValidatingAdmissionPolicyBindingSpec,
    ) -> PolicyScope<'a> {
        let spec = self.policy.spec.as_ref();
        PolicyScope {
            constraints: spec.and_then(|s| s.match_constraints.as_ref()),
            narrowing: binding.match_resources.as_ref(),
            param_kind: spec.and_then(|s| s.param_kind.as_ref()),
            param_ref: binding.param_ref.as_ref(),
        }
    }

    /// Evaluates the policy; nothing found when a match condition excluded the request.
    pub fn evaluate(&self, inputs: &Bindings) -> Result<Evaluation, Failure> {
        let Some(b) = self.preamble.prepare(inputs)? else {
            return Ok(Evaluation::default());
        };
        let mut found = Evaluation::default();
        for (index, v) in self.validations.iter().enumerate() {
            let failure = match v.expression.eval(&b) {
                Ok(Outcome::Bool(true)) => continue,
                Ok(Outcome::Bool(false)) => Failure::Denied {
                    message: message_of(v, &b),
                    reason: v.reason.clone(),
                },
                Ok(other) => Failure::Error(format!(
                    "expression '{}' resulted in a {other:?}, not a bool",
                    v.expression.source
                )),
                Err(e) => Failure::Error(e),
            };
            found.failures.push((index, failure));
        }
        for a in &self.audit_annotations {
            match annotation_value(a, &b) {
                Ok(Some(value)) => found.annotations.push((a.key.clone(), value)),
                Ok(None) => {}
                Err(e) => found.failures.push((0, Failure::Error(e))),
            }
        }
        Ok(found)
    }
}

/// An audit annotation's value: a non-empty string; None (omitted) for null or ""; an error
/// for anything else, as upstream's `valueExpression` must give a string or null.
fn annotation_value(a: &CompiledAuditAnnotation, b: &Bindings) -> Result<Option<String>, String> {
    match a.value.eval(b)? {
        Outcome::String(s) if s.is_empty() => Ok(None),
        Outcome::String(s) => Ok(Some(s)),
        Outcome::Other(t) if t == "Null" => Ok(None),
        Outcome::Bool(_) => Err(unsupported(a, "bool")),
        Outcome::Other(t) => Err(unsupported(a, &t.to_lowercase())),
    }
}

fn unsupported(a: &CompiledAuditAnnotation, type_name: &str) -> String {
    format!(
        "valueExpression '{}' resulted in unsupported return type: {type_name}. \
         Return type must be either string or null.",
        a.value.source
    )
}

/// `messageExpression` when it gives a non-empty string, else `message`, else upstream's
/// `failed expression: <expression>`.
fn message_of(v: &CompiledValidation, b: &Bindings) -> String {
    if let Some(Ok(Outcome::String(s))) = v.message_expression.as_ref().map(|m| m.eval(b)) {
        if !s.trim().is_empty() {
            return s.trim().to_owned();
        }
    }
    if !v.message.trim().is_empty() {
        return v.message.trim().to_owned();
    }
    format!("failed expression: {}", v.expression.source.trim())
}
