//! CEL expressions outside CRD schemas (admission policies): compile once, then evaluate with
//! named JSON inputs (`object`, `oldObject`, `request`, `params`...) and the policy's
//! `variables`, each defined from earlier ones. Evaluation is guarded like schema rules: no
//! expression can take the server down.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use cel::objects::{Key, Map};

/// A compiled expression with its source text.
#[derive(Clone)]
pub struct Expression {
    pub source: String,
    program: Arc<cel::Program>,
    /// The environment of a mutation (its struct types); the shared one otherwise.
    env: Option<Arc<cel::Env>>,
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

impl Expression {
    /// Compiles `source`; the parser's message when it does not.
    pub fn compile(source: &str) -> Result<Expression, String> {
        let program = crate::cel::compile(source)?;
        Ok(Expression {
            source: source.to_owned(),
            program: Arc::new(program),
            env: None,
        })
    }

    /// Compiles a MutatingAdmissionPolicy mutation: its struct literals (`Object{...}`,
    /// `JSONPatch{...}`) construct values, and `jsonpatch.escapeKey` is defined.
    pub fn compile_mutation(source: &str) -> Result<Expression, String> {
        let mut e = Expression::compile(source)?;
        let env = catch_unwind(AssertUnwindSafe(|| {
            crate::cel_structs::mutation_env(&e.program)
        }))
        .unwrap_or_else(|_| Err("the expression could not be compiled".to_owned()))?;
        e.env = Some(Arc::new(env));
        Ok(e)
    }
}

/// What a mutation evaluated to, as JSON: a constructed struct's type name (`Object`,
/// `JSONPatch`) or, for a list, that of its first item.
#[derive(Debug, Clone, PartialEq)]
pub struct Constructed {
    pub type_name: Option<String>,
    pub value: serde_json::Value,
}

/// What an expression evaluated to, as admission needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Bool(bool),
    String(String),
    /// Anything else: its CEL type name.
    Other(String),
}

/// The inputs of one evaluation.
#[derive(Default, Clone)]
pub struct Bindings {
    inputs: Vec<(String, cel::Value)>,
    variables: HashMap<Key, cel::Value>,
}

impl Bindings {
    /// Binds `name` to a JSON value (JSON null binds CEL null; see [`crate::cel::json_value`]).
    pub fn bind_json(&mut self, name: &str, value: &serde_json::Value) -> Result<(), String> {
        self.inputs
            .push((name.to_owned(), crate::cel::json_value(value)));
        Ok(())
    }

    /// Evaluates `expr` and makes its value `variables.<name>` for later expressions.
    pub fn define(&mut self, name: &str, expr: &Expression) -> Result<(), String> {
        let value = self.run(expr)?;
        self.variables
            .insert(Key::String(Arc::new(name.to_owned())), value);
        Ok(())
    }

    /// Evaluates `expr` with everything bound so far.
    pub fn eval(&self, expr: &Expression) -> Result<Outcome, String> {
        Ok(match self.run(expr)? {
            cel::Value::Bool(b) => Outcome::Bool(b),
            cel::Value::String(s) => Outcome::String(s.to_string()),
            other => Outcome::Other(format!("{:?}", other.type_of())),
        })
    }

    /// Evaluates a mutation (see [`Expression::compile_mutation`]) into JSON.
    pub fn eval_json(&self, expr: &Expression) -> Result<Constructed, String> {
        let value = self.run(expr)?;
        let type_name = match &value {
            cel::Value::List(items) => items.first().and_then(crate::cel_structs::struct_name),
            other => crate::cel_structs::struct_name(other),
        };
        let value = crate::cel_structs::to_json(&value)?;
        Ok(Constructed { type_name, value })
    }

    fn run(&self, expr: &Expression) -> Result<cel::Value, String> {
        catch_unwind(AssertUnwindSafe(|| {
            let env = expr.env.clone().unwrap_or_else(crate::cel::env);
            let mut ctx = cel::Context::with_env(env);
            for (name, value) in &self.inputs {
                ctx.add_variable_from_value(name.clone(), value.clone());
            }
            let variables = Map {
                map: Arc::new(self.variables.clone()),
            };
            ctx.add_variable_from_value("variables", cel::Value::Map(variables));
            expr.program.execute(&ctx).map_err(|e| e.to_string())
        }))
        .unwrap_or_else(|_| Err("evaluation failed".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inputs_and_variables() {
        let mut b = Bindings::default();
        b.bind_json("object", &json!({"spec": {"replicas": 7}}))
            .unwrap();
        b.define("limit", &Expression::compile("3 + 2").unwrap())
            .unwrap();
        let check = Expression::compile("object.spec.replicas <= variables.limit").unwrap();
        assert_eq!(b.eval(&check), Ok(Outcome::Bool(false)));
        let msg = Expression::compile("'too many: ' + string(object.spec.replicas)").unwrap();
        assert_eq!(b.eval(&msg), Ok(Outcome::String("too many: 7".into())));
        assert!(b
            .eval(&Expression::compile("object.nope > 1").unwrap())
            .is_err());
        assert!(Expression::compile("object.").is_err());
    }

    #[test]
    fn mutations_construct_objects_and_json_patches() {
        let mut b = Bindings::default();
        b.bind_json("object", &json!({"metadata": {"labels": {"a/b": "x"}}}))
            .unwrap();
        let apply = Expression::compile_mutation(
            "Object{spec: Object.spec{replicas: 3}, metadata: Object.metadata{labels: {'k': 'v'}}}",
        )
        .unwrap();
        let got = b.eval_json(&apply).unwrap();
        assert_eq!(got.type_name.as_deref(), Some("Object"));
        assert_eq!(
            got.value,
            json!({"spec": {"replicas": 3}, "metadata": {"labels": {"k": "v"}}})
        );
        let patch = Expression::compile_mutation(
            "object.metadata.labels.map(k, JSONPatch{op: 'remove', \
             path: '/metadata/labels/' + jsonpatch.escapeKey(k)})",
        )
        .unwrap();
        let got = b.eval_json(&patch).unwrap();
        assert_eq!(got.type_name.as_deref(), Some("JSONPatch"));
        assert_eq!(
            got.value,
            json!([{"op": "remove", "path": "/metadata/labels/a~1b"}])
        );
    }

    #[test]
    fn json_integers_are_cel_ints_so_arithmetic_mixes_with_literals() {
        let mut b = Bindings::default();
        b.bind_json("object", &json!({"spec": {"replicas": 3, "ratio": 0.5}}))
            .unwrap();
        b.define(
            "replicas",
            &Expression::compile("object.spec.replicas").unwrap(),
        )
        .unwrap();
        b.define(
            "odd",
            &Expression::compile("variables.replicas % 2 == 1").unwrap(),
        )
        .unwrap();
        for (source, want) in [
            ("variables.odd", true),
            ("variables.replicas > 1", true),
            ("object.spec.replicas * 2 == 6", true),
            ("object.spec.ratio < 1.0", true),
        ] {
            let e = Expression::compile(source).unwrap();
            assert_eq!(b.eval(&e), Ok(Outcome::Bool(want)), "{source}");
        }
    }
}
