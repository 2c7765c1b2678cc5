//! Type checking of admission policy expressions against a kind's OpenAPI schema, the part of
//! upstream's CEL type checker that catches what policy authors get wrong most: a field of
//! `object` / `oldObject` that the kind does not have (`object.spec.replicass`). The checker
//! follows field selections, indexing and the iteration macros (`all`, `exists`, `map`...)
//! through the schema and stops where the schema stops saying (maps, preserved unknown fields,
//! int-or-string, anything it cannot resolve), so it only reports what is certainly wrong.
//! Errors read like cel-go's:
//!
//! ```text
//! ERROR: <input>:1:12: undefined field 'replicass'
//!  | object.spec.replicass > 1
//!  | ...........^
//! ```
//!
//! Inside `has()` the error points at the macro's parenthesis, as cel-go's does.

use std::collections::HashMap;

use cel::common::ast::{operators, EntryExpr, Expr, IdedExpr, SourceInfo};
use serde_json::{Map, Value};

/// A kind's schema: `root` (the kind's schema object) within `schemas` (the OpenAPI v3
/// document's `components.schemas`, where its `$ref`s point).
#[derive(Clone, Copy)]
pub struct KindSchema<'d> {
    pub root: &'d Value,
    pub schemas: &'d Map<String, Value>,
}

/// The type errors of `source` with `object` and `oldObject` of the kind; empty when there
/// are none (or the expression does not parse: validation reports that).
pub fn check(source: &str, kind: KindSchema<'_>) -> Vec<String> {
    let Ok(program) = crate::cel::compile(source) else {
        return Vec::new();
    };
    let root = kind.resolve(kind.root);
    let mut checker = Checker {
        kind,
        source: program.source_info(),
        errors: Vec::new(),
    };
    let scope: Scope = [("object", root), ("oldObject", root)]
        .into_iter()
        .map(|(n, s)| (n.to_owned(), s))
        .collect();
    checker.type_of(program.expression(), &scope);
    checker.errors
}

/// What each name in scope is: its schema, or None when unknown.
type Scope<'d> = HashMap<String, Option<&'d Value>>;

struct Checker<'d, 's> {
    kind: KindSchema<'d>,
    source: &'s SourceInfo,
    errors: Vec<String>,
}

impl<'d> KindSchema<'d> {
    /// Follows `$ref` (also wrapped in a one-item `allOf`, as kube-openapi writes it).
    fn resolve(&self, mut node: &'d Value) -> Option<&'d Value> {
        for _ in 0..16 {
            let reference = node["$ref"]
                .as_str()
                .or_else(|| match node["allOf"].as_array() {
                    Some(all) if all.len() == 1 => all[0]["$ref"].as_str(),
                    _ => None,
                });
            let Some(reference) = reference else {
                return Some(node);
            };
            let name = reference.rsplit('/').next()?;
            node = self.schemas.get(name)?;
        }
        None
    }

    /// The schema of `node.field`: Ok(None) when the schema does not say, Err when the field
    /// is certainly not there.
    fn field(&self, node: &'d Value, field: &str) -> Result<Option<&'d Value>, ()> {
        if node.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
            || node.get("x-kubernetes-int-or-string").is_some()
        {
            return Ok(None);
        }
        if let Some(props) = node["properties"].as_object() {
            return match props.get(field) {
                Some(child) => Ok(self.resolve(child)),
                // apiVersion, kind and metadata are every object's, listed or not.
                None if ["apiVersion", "kind", "metadata"].contains(&field) => Ok(None),
                None => Err(()),
            };
        }
        Ok(self.elements(node))
    }

    /// The schema of a list's items or a map's values.
    fn elements(&self, node: &'d Value) -> Option<&'d Value> {
        let items = node.get("items").filter(|i| i.is_object());
        let values = node.get("additionalProperties").filter(|a| a.is_object());
        self.resolve(items.or(values)?)
    }
}

impl<'d> Checker<'d, '_> {
    fn type_of(&mut self, e: &IdedExpr, scope: &Scope<'d>) -> Option<&'d Value> {
        match &e.expr {
            Expr::Ident(name) => scope.get(name).copied().flatten(),
            Expr::Select(select) => {
                let operand = self.type_of(&select.operand, scope)?;
                match self.kind.field(operand, &select.field) {
                    Ok(schema) => schema,
                    Err(()) => {
                        self.undefined(e.id, &select.field);
                        None
                    }
                }
            }
            Expr::Call(call) => {
                let target = call.target.as_ref().and_then(|t| self.type_of(t, scope));
                let args: Vec<_> = call.args.iter().map(|a| self.type_of(a, scope)).collect();
                match (call.func_name.as_str(), args.first()) {
                    (operators::INDEX, Some(Some(list))) => self.kind.elements(list),
                    _ => target.and(None),
                }
            }
            Expr::Comprehension(c) => {
                let range = self.type_of(&c.iter_range, scope);
                let mut inner = scope.clone();
                inner.insert(c.accu_var.clone(), None);
                self.type_of(&c.accu_init, scope);
                // Over a list, the variable is an item; over a map, a key (a string).
                let item = range.filter(|r| r.get("items").is_some());
                inner.insert(c.iter_var.clone(), item.and_then(|r| self.kind.elements(r)));
                if let Some(second) = &c.iter_var2 {
                    inner.insert(second.clone(), None);
                }
                self.type_of(&c.loop_cond, &inner);
                self.type_of(&c.loop_step, &inner);
                self.type_of(&c.result, &inner);
                None
            }
            Expr::List(list) => {
                for item in &list.elements {
                    self.type_of(item, scope);
                }
                None
            }
            Expr::Map(map) => self.entries(&map.entries, scope),
            Expr::Struct(s) => self.entries(&s.entries, scope),
            Expr::Literal(_) | Expr::Unspecified => None,
        }
    }

    fn entries(
        &mut self,
        entries: &[cel::common::ast::IdedEntryExpr],
        scope: &Scope<'d>,
    ) -> Option<&'d Value> {
        for entry in entries {
            match &entry.expr {
                EntryExpr::StructField(f) => {
                    self.type_of(&f.value, scope);
                }
                EntryExpr::MapEntry(m) => {
                    self.type_of(&m.key, scope);
                    self.type_of(&m.value, scope);
                }
            }
        }
        None
    }

    /// cel-go's report: where (the `.` of the selection), what, and the line pointed at.
    fn undefined(&mut self, id: u64, field: &str) {
        let start = self
            .source
            .offset_for(id)
            .map(|(s, _)| s as usize)
            .unwrap_or(0);
        let text = &self.source.source;
        let before = &text[..start.min(text.len())];
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let line_no = before.matches('\n').count() + 1;
        let column = before[line_start..].chars().count();
        let line = text[line_start..].lines().next().unwrap_or("");
        self.errors.push(format!(
            "ERROR: <input>:{line_no}:{}: undefined field '{field}'\n | {line}\n | {}^",
            column + 1,
            ".".repeat(column)
        ));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schemas() -> Map<String, Value> {
        json!({
            "Deployment": {"type": "object", "properties": {
                "metadata": {"allOf": [{"$ref": "#/components/schemas/ObjectMeta"}]},
                "spec": {"allOf": [{"$ref": "#/components/schemas/DeploymentSpec"}]}}},
            "DeploymentSpec": {"type": "object", "properties": {
                "replicas": {"type": "integer"},
                "containers": {"type": "array", "items": {"$ref": "#/components/schemas/Container"}},
                "selector": {"type": "object", "additionalProperties": {"type": "string"}},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
            "Container": {"type": "object", "properties": {"image": {"type": "string"}}},
            "ObjectMeta": {"type": "object", "properties": {"name": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    fn errors(source: &str) -> Vec<String> {
        let schemas = schemas();
        let kind = KindSchema {
            root: &schemas["Deployment"],
            schemas: &schemas,
        };
        check(source, kind)
    }

    #[test]
    fn known_fields_pass() {
        for ok in [
            "object.spec.replicas <= 5",
            "has(object.spec.replicas) && oldObject.metadata.name == 'x'",
            "object.spec.containers.all(c, c.image.startsWith('r/'))",
            "object.spec.containers[0].image != ''",
            "object.spec.selector.anything == 'x' && object.metadata.labels.team == 'a'",
            "object.spec.extra.whatever.deeper == 1",
            "object.kind == 'Deployment' && params.spec.nothing == request.foo",
            "object.spec.containers.map(c, c).size() > 0",
        ] {
            assert_eq!(errors(ok), Vec::<String>::new(), "{ok}");
        }
    }

    #[test]
    fn undefined_fields_are_reported_where_they_are() {
        assert_eq!(
            errors("object.spec.replicass > 1"),
            vec!["ERROR: <input>:1:12: undefined field 'replicass'\n | object.spec.replicass > 1\n | ...........^"]
        );
        let got =
            errors("object.spec.containers.exists(c, c.imag == 'x') ||\n  has(object.spec.nope)");
        assert_eq!(got.len(), 2, "{got:#?}");
        assert!(
            got[0].starts_with("ERROR: <input>:1:35: undefined field 'imag'"),
            "{}",
            got[0]
        );
        assert!(
            got[1].starts_with(
                "ERROR: <input>:2:6: undefined field 'nope'\n |   has(object.spec.nope)\n | .....^"
            ),
            "{}",
            got[1]
        );
    }
}
