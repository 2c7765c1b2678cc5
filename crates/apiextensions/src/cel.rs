//! `x-kubernetes-validations` rules evaluated with the `cel` crate (cel-rust): each rule runs
//! with `self` bound to the value at its schema node, as upstream's CEL validator does.
//! Transition rules (those using `oldSelf`) need the previous object and are not evaluated
//! here; expressions are parsed but not type-checked, and no cost budget is enforced.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};

use ferrokube_apimachinery::validation::{ErrorType, FieldError};
use serde_json::Value;

use crate::field::{self, Path};
use crate::schema::Node;

/// One compiled rule of a schema node.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub rule: String,
    pub message: String,
    pub field_path: String,
    pub reason: String,
    program: Option<Arc<cel::Program>>,
    uses_old_self: bool,
}

pub(crate) fn env() -> Arc<cel::Env> {
    static ENV: OnceLock<Arc<cel::Env>> = OnceLock::new();
    ENV.get_or_init(|| Arc::new(cel::Env::stdlib())).clone()
}

/// A JSON value as CEL sees a Kubernetes object: integers are `int`, as upstream's OpenAPI-typed
/// values are (int32/int64 fields), so `object.spec.replicas % 2` works; only integers beyond
/// int64 stay `uint`. (Serializing JSON through serde would make every positive integer a
/// `uint`, which CEL's arithmetic refuses to mix with `int` literals.)
pub fn json_value(v: &Value) -> cel::Value {
    match v {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => cel::Value::Int(i),
            (None, Some(u)) => cel::Value::UInt(u),
            _ => cel::Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(items) => cel::Value::List(Arc::new(items.iter().map(json_value).collect())),
        Value::Object(fields) => cel::Value::Map(cel::objects::Map {
            map: Arc::new(
                fields
                    .iter()
                    .map(|(k, v)| {
                        (
                            cel::objects::Key::String(Arc::new(k.clone())),
                            json_value(v),
                        )
                    })
                    .collect(),
            ),
        }),
    }
}

/// Parses a rule; the error text when it does not compile. The parser is guarded so that
/// no expression can take the server down.
pub(crate) fn compile(rule: &str) -> Result<cel::Program, String> {
    catch_unwind(AssertUnwindSafe(|| env().compile(rule)))
        .map_err(|_| "the expression could not be parsed".to_owned())?
        .map_err(|e| e.to_string())
}

impl Rule {
    pub(crate) fn parse(v: &Value) -> Rule {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let rule = s("rule");
        let program = compile(&rule).ok();
        let uses_old_self = program
            .as_ref()
            .is_some_and(|p| p.references().has_variable("oldSelf"));
        Rule {
            message: s("message"),
            field_path: s("fieldPath"),
            reason: s("reason"),
            program: program.map(Arc::new),
            uses_old_self,
            rule,
        }
    }

    /// `ruleMessageOrDefault`.
    fn message(&self) -> String {
        if self.message.trim().is_empty() {
            format!("failed rule: {}", self.rule.trim())
        } else {
            self.message.trim().to_owned()
        }
    }
}

/// Causes for every rule that does not hold anywhere in `value`.
pub(crate) fn validate(node: &Node, value: &Value, base: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    walk(node, value, base, &mut errs);
    errs
}

fn walk(node: &Node, value: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    if value.is_null() {
        return;
    }
    for rule in &node.rules {
        check(node, rule, value, path, errs);
    }
    match value {
        Value::Object(m) => {
            for (k, v) in m {
                if let Some(p) = node.properties.get(k) {
                    walk(p, v, &path.child(k), errs);
                } else if let Some(a) = node.additional_schema() {
                    walk(a, v, &path.key(k), errs);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = &node.items {
                for (i, v) in items.iter().enumerate() {
                    walk(item, v, &path.index(i), errs);
                }
            }
        }
        _ => {}
    }
}

fn error_path(path: &Path, rule: &Rule) -> Path {
    let base = if path.as_str().is_empty() {
        Path::new("<nil>")
    } else {
        path.clone()
    };
    let fp = rule.field_path.trim().trim_start_matches('.');
    if fp.is_empty() {
        base
    } else if path.as_str().is_empty() {
        Path::new(fp)
    } else {
        Path::new(&format!("{}.{fp}", path.as_str()))
    }
}

fn check(node: &Node, rule: &Rule, value: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    let Some(program) = &rule.program else { return };
    if rule.uses_old_self {
        return;
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut ctx = cel::Context::with_env(env());
        ctx.add_variable_from_value("self", json_value(value));
        program.execute(&ctx).map_err(|e| e.to_string())
    }))
    .unwrap_or_else(|_| Err("evaluation failed".to_owned()));
    let at = error_path(path, rule);
    let ty = Value::String(node.ty.clone());
    match outcome {
        Ok(cel::Value::Bool(true)) => {}
        Ok(_) => errs.push(for_reason(&at, &ty, &rule.message(), &rule.reason)),
        Err(e) => errs.push(field::invalid(
            &at,
            &ty,
            &format!("{e} evaluating rule: {}", rule.rule.trim()),
        )),
    }
}

/// `fieldErrorForReason`.
fn for_reason(path: &Path, value: &Value, detail: &str, reason: &str) -> FieldError {
    match reason {
        "FieldValueForbidden" => field::forbidden(path, detail),
        "FieldValueRequired" => field::required(path, detail),
        "FieldValueDuplicate" => field::error(
            path.as_str(),
            ErrorType::Duplicate,
            Some(&field::render_bad_value(value)),
            "",
        ),
        _ => field::invalid(path, value, detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Node {
        Node::parse(&json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "x-kubernetes-validations": [
                {"rule": "self.minReplicas <= self.replicas", "message": "replicas should be no less than minReplicas"},
                {"rule": "!has(self.forbidden)", "reason": "FieldValueForbidden", "fieldPath": ".forbidden"},
                {"rule": "self.replicas == oldSelf.replicas"}
            ],
            "properties": {
                "replicas": {"type": "integer"},
                "minReplicas": {"type": "integer"},
                "forbidden": {"type": "string"},
                "names": {"type": "array", "items": {"type": "string",
                    "x-kubernetes-validations": [{"rule": "self.startsWith('n-')"}]}}
            }
        }}}))
    }

    #[test]
    fn rules_are_evaluated_with_self() {
        let s = schema();
        assert!(validate(
            &s,
            &json!({"spec": {"replicas": 3, "minReplicas": 1, "names": ["n-a"]}}),
            &Path::root()
        )
        .is_empty());
        let errs = validate(
            &s,
            &json!({"spec": {"replicas": 1, "minReplicas": 2, "forbidden": "x", "names": ["n-a", "b"]}}),
            &Path::root(),
        );
        let got: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            got,
            vec![
                "spec: Invalid value: \"object\": replicas should be no less than minReplicas",
                "spec.forbidden: Forbidden: failed rule: !has(self.forbidden)",
                "spec.names[1]: Invalid value: \"string\": failed rule: self.startsWith('n-')",
            ]
        );
    }

    #[test]
    fn bad_rules_do_not_panic() {
        assert!(compile("self.a ==").is_err());
        let s = Node::parse(
            &json!({"type": "object", "x-kubernetes-validations": [{"rule": "self.missing > 1"}]}),
        );
        let errs = validate(&s, &json!({}), &Path::root());
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0]
                .to_string()
                .starts_with("<nil>: Invalid value: \"object\": "),
            "{errs:?}"
        );
        assert!(
            errs[0]
                .message
                .ends_with("evaluating rule: self.missing > 1"),
            "{errs:?}"
        );
    }
}
