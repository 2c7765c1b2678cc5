//! A ValidatingAdmissionPolicy with its CEL compiled once, and its evaluation for one request
//! and one parameter object: match conditions, then variables, then validations, each failure
//! turned into upstream's message.

use ferrokube_apiextensions::expression::{Bindings, Expression, Outcome};
use k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicy;

/// An expression as written, compiled or with its compile error (reported when it is used,
/// under the policy's failure policy, as upstream reports type-check errors).
pub struct Compiled {
    pub source: String,
    pub program: Result<Expression, String>,
}

impl Compiled {
    fn new(source: &str) -> Compiled {
        Compiled {
            source: source.to_owned(),
            program: Expression::compile(source),
        }
    }

    fn eval(&self, b: &Bindings) -> Result<Outcome, String> {
        let program = self
            .program
            .as_ref()
            .map_err(|e| format!("compilation failed for expression '{}': {e}", self.source))?;
        b.eval(program)
            .map_err(|e| format!("expression '{}' resulted in error: {e}", self.source))
    }
}

pub struct CompiledValidation {
    pub expression: Compiled,
    pub message: String,
    pub message_expression: Option<Compiled>,
    /// Upstream's status reason for a denial (Invalid when unset).
    pub reason: String,
}

pub struct CompiledPolicy {
    pub policy: ValidatingAdmissionPolicy,
    pub name: String,
    pub fail_closed: bool,
    match_conditions: Vec<(String, Compiled)>,
    variables: Vec<(String, Compiled)>,
    validations: Vec<CompiledValidation>,
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
        let named = |pairs: Vec<(String, String)>| -> Vec<(String, Compiled)> {
            pairs
                .into_iter()
                .map(|(n, e)| (n, Compiled::new(&e)))
                .collect()
        };
        let conditions = spec.match_conditions.unwrap_or_default();
        let variables = spec.variables.unwrap_or_default();
        CompiledPolicy {
            name: policy.metadata.name.clone().unwrap_or_default(),
            fail_closed: spec.failure_policy.as_deref() != Some("Ignore"),
            match_conditions: named(
                conditions
                    .into_iter()
                    .map(|c| (c.name, c.expression))
                    .collect(),
            ),
            variables: named(
                variables
                    .into_iter()
                    .map(|v| (v.name, v.expression))
                    .collect(),
            ),
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
            policy,
        }
    }

    /// Evaluates the policy; `Ok(None)` when a match condition excluded the request.
    pub fn evaluate(&self, inputs: &Bindings) -> Result<Vec<Failure>, Failure> {
        for (name, condition) in &self.match_conditions {
            match condition.eval(inputs) {
                Ok(Outcome::Bool(true)) => {}
                Ok(Outcome::Bool(false)) => return Ok(Vec::new()),
                Ok(_) => {
                    return Err(Failure::Error(format!(
                        "matchCondition '{name}' did not evaluate to a bool"
                    )))
                }
                Err(e) => return Err(Failure::Error(e)),
            }
        }
        let mut b = inputs.clone();
        for (name, variable) in &self.variables {
            if let Ok(program) = &variable.program {
                // A variable that fails is an error only for the expressions that use it.
                let _ = b.define(name, program);
            }
        }
        let mut failures = Vec::new();
        for v in &self.validations {
            match v.expression.eval(&b) {
                Ok(Outcome::Bool(true)) => {}
                Ok(Outcome::Bool(false)) => failures.push(Failure::Denied {
                    message: message_of(v, &b),
                    reason: v.reason.clone(),
                }),
                Ok(other) => failures.push(Failure::Error(format!(
                    "expression '{}' resulted in a {other:?}, not a bool",
                    v.expression.source
                ))),
                Err(e) => failures.push(Failure::Error(e)),
            }
        }
        Ok(failures)
    }
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
