//! Custom-object validation against a schema, ported (as behaviour) from kube-openapi's
//! `validate.SchemaValidator` plus apiextensions' `kubeOpenAPIResultToFieldErrors`: the same
//! validators run in the same order, with go-openapi's messages and the field-error kinds the
//! API server maps them to.
//!
//! Names: kube-openapi tracks a dotted "name" per value (`spec.replicas`, `spec.items[1]`;
//! a required field is `<parent>.<key>`, so `.spec` at the root). The field path of a cause is
//! that name without its leading dot, under `base` (empty for a whole object, where causes
//! about the object itself land on upstream's nil path, printed `<nil>`).

use ferrokube_apimachinery::validation::{go_quote, FieldError};
use serde_json::{Number, Value};

use crate::field::{self, go_float, Path};
use crate::formats;
use crate::schema::{Additional, Node};

/// The outcome of validating one value against one schema node. `matches` counts the checks
/// that ran (go-openapi's `MatchCount`), used to pick the best failing anyOf/oneOf branch.
#[derive(Default)]
struct Outcome {
    errors: Vec<FieldError>,
    matches: usize,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.errors.extend(other.errors);
        self.matches += other.matches;
    }
    fn push(&mut self, e: FieldError) {
        self.errors.push(e);
    }
    fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Validates `value` against `node`; causes are reported under `base`.
pub(crate) fn validate_value(node: &Node, value: &Value, base: &Path) -> Vec<FieldError> {
    let v = Validator { base };
    v.validate(node, value, "").errors
}

struct Validator<'a> {
    base: &'a Path,
}

fn child_name(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// (JSON schema type, go-openapi format) of a decoded value; integral numbers are int64
/// as upstream's unstructured decoding makes them.
fn kind_of(v: &Value) -> (&'static str, &'static str) {
    match v {
        Value::Null => ("null", ""),
        Value::Bool(_) => ("boolean", ""),
        Value::String(_) => ("string", ""),
        Value::Number(n) if n.is_i64() || n.is_u64() => ("integer", "int64"),
        Value::Number(_) => ("number", "float64"),
        Value::Array(_) => ("array", ""),
        Value::Object(_) => ("object", ""),
    }
}

fn as_f64(n: &Number) -> f64 {
    n.as_f64().unwrap_or(0.0)
}

/// go-openapi `IsFloat64AJSONInteger`.
fn is_json_integer(f: f64) -> bool {
    if !f.is_finite() {
        return false;
    }
    if f == f.trunc() {
        return true;
    }
    let diff = (f - f.round()).abs();
    diff / f.abs() < 1e-9
}

/// Equality as kube-openapi's enum check sees it: numbers compare by value.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => as_f64(x) == as_f64(y),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

impl Validator<'_> {
    /// The base path itself; a nil `field.Path` prints as `<nil>` upstream, which is what a
    /// whole custom object (validated with a nil base) shows for value-level causes.
    fn base_path(&self) -> Path {
        if self.base.as_str().is_empty() {
            Path::new("<nil>")
        } else {
            self.base.clone()
        }
    }

    fn path(&self, name: &str) -> Path {
        if name.is_empty() || name == "." {
            self.base_path()
        } else {
            self.base.child(name.trim_start_matches('.'))
        }
    }

    /// go-openapi `InvalidType` with a string value, mapped to `field.TypeInvalid`.
    fn type_error(&self, name: &str, type_name: &str, value: &str) -> FieldError {
        let msg = format!(
            "{name} in body must be of type {type_name}: {}",
            go_quote(value)
        );
        field::type_invalid(&self.path(name), &Value::String(value.to_owned()), &msg)
    }

    fn invalid(&self, name: &str, value: &Value, msg: &str) -> FieldError {
        field::invalid(&self.path(name), value, msg)
    }

    /// Errors that are not go-openapi `Validation`s (anyOf/oneOf/allOf/not) land on the base
    /// path with an empty value.
    fn composite(&self, msg: &str) -> FieldError {
        field::invalid(&self.base_path(), &Value::String(String::new()), msg)
    }

    fn validate(&self, node: &Node, value: &Value, name: &str) -> Outcome {
        let mut out = Outcome::default();
        if value.is_null() {
            out.merge(self.check_type(node, value, name));
            out.merge(self.check_enum(node, value, name));
            return out;
        }
        if !node.type_list().is_empty() || !node.effective_format.is_empty() {
            out.merge(self.check_type(node, value, name));
            out.matches += 1;
        }
        out.merge(self.check_schema_props(node, value, name));
        out.matches += 1;
        if let Value::String(s) = value {
            out.merge(self.check_string(node, s, name));
            out.matches += 1;
            if !node.effective_format.is_empty()
                && formats::is_string_format(&node.effective_format)
            {
                if !formats::validates(&node.effective_format, s) {
                    out.push(self.type_error(name, &node.format, s));
                }
                out.matches += 1;
            }
        }
        if let Value::Number(n) = value {
            out.merge(self.check_number(node, n, name));
            out.matches += 1;
        }
        if let Value::Array(items) = value {
            out.merge(self.check_slice(node, items, name));
            out.matches += 1;
        }
        out.merge(self.check_enum(node, value, name));
        out.matches += 1;
        if let Value::Object(map) = value {
            out.merge(self.check_object(node, map, name));
            out.matches += 1;
        }
        out.matches += 1;
        out
    }

    fn check_type(&self, node: &Node, value: &Value, name: &str) -> Outcome {
        let mut out = Outcome {
            matches: 1,
            ..Outcome::default()
        };
        let types = node.type_list();
        let format = node.effective_format.as_str();
        if value.is_null() {
            if !types.is_empty() && !types.contains(&"null") && !node.nullable {
                out.push(self.type_error(name, &types.join(","), "null"));
            }
            return out;
        }
        let (sch_type, data_format) = kind_of(value);
        let is_float_int = sch_type == "number"
            && matches!(value, Value::Number(n) if is_json_integer(as_f64(n)))
            && types.contains(&"integer");
        let is_int_float = sch_type == "integer" && types.contains(&"number");
        let stringish = matches!(value, Value::String(_) | Value::Array(_));
        let type_or_format_matches =
            types.contains(&sch_type) || data_format == format || is_float_int || is_int_float;
        if !(stringish || format.is_empty() || type_or_format_matches) {
            out.push(self.type_error(name, format, data_format));
            return out;
        }
        let numeric = types.contains(&"number") || types.contains(&"integer");
        // a format on a non-numeric type accepts any string or array (upstream quirk)
        if stringish && !numeric && !format.is_empty() {
            return out;
        }
        if !(types.contains(&sch_type) || is_float_int || is_int_float) {
            out.push(self.type_error(name, &types.join(","), sch_type));
        }
        out
    }

    fn check_string(&self, node: &Node, s: &str, name: &str) -> Outcome {
        let mut out = Outcome::default();
        let len = s.chars().count() as i64;
        if let Some(max) = node.max_length {
            if len > max {
                out.push(field::too_long(&self.path(name), max));
                return out;
            }
        }
        if let Some(min) = node.min_length {
            if len < min {
                let msg = format!("{name} in body should be at least {min} chars long");
                out.push(self.invalid(name, &Value::String(s.to_owned()), &msg));
                return out;
            }
        }
        if let (Some(p), Some(re)) = (&node.pattern, &node.pattern_re) {
            if !re.is_match(s) {
                let msg = format!("{name} in body should match '{p}'");
                out.push(self.invalid(name, &Value::String(s.to_owned()), &msg));
            }
        }
        out
    }

    fn check_number(&self, node: &Node, n: &Number, name: &str) -> Outcome {
        let mut out = Outcome::default();
        let data = as_f64(n);
        let value = Value::Number(n.clone());
        if let Some(factor) = node.multiple_of {
            if factor <= 0.0 {
                let msg = format!(
                    "factor MultipleOf declared for {name} must be positive: {}",
                    go_float(factor)
                );
                out.push(self.invalid(name, &Value::from(factor), &msg));
            } else {
                let ok = match n.as_i64() {
                    Some(i) if factor.fract() == 0.0 => i % (factor as i64) == 0,
                    _ => is_json_integer(data / factor),
                };
                if !ok {
                    let msg = format!(
                        "{name} in body should be a multiple of {}",
                        go_float(factor)
                    );
                    out.push(self.invalid(name, &value, &msg));
                }
            }
        }
        if let Some(max) = node.maximum {
            let bad = if node.exclusive_maximum {
                data >= max
            } else {
                data > max
            };
            if bad {
                let rel = if node.exclusive_maximum {
                    "less than"
                } else {
                    "less than or equal to"
                };
                let msg = format!("{name} in body should be {rel} {}", go_float(max));
                out.push(self.invalid(name, &value, &msg));
            }
        }
        if let Some(min) = node.minimum {
            let bad = if node.exclusive_minimum {
                data <= min
            } else {
                data < min
            };
            if bad {
                let rel = if node.exclusive_minimum {
                    "greater than"
                } else {
                    "greater than or equal to"
                };
                let msg = format!("{name} in body should be {rel} {}", go_float(min));
                out.push(self.invalid(name, &value, &msg));
            }
        }
        out
    }

    fn check_slice(&self, node: &Node, items: &[Value], name: &str) -> Outcome {
        let mut out = Outcome::default();
        if let Some(item_schema) = &node.items {
            for (i, item) in items.iter().enumerate() {
                out.merge(self.validate(item_schema, item, &format!("{name}[{i}]")));
            }
        }
        let size = items.len() as i64;
        if let Some(min) = node.min_items {
            if size < min {
                let msg = format!("{name} in body should have at least {min} items");
                out.push(self.invalid(name, &Value::from(size), &msg));
            }
        }
        if let Some(max) = node.max_items {
            if size > max {
                out.push(field::too_many(&self.path(name), size, max));
            }
        }
        if node.unique_items {
            let dup = items
                .iter()
                .enumerate()
                .any(|(i, a)| items[..i].iter().any(|b| json_eq(a, b)));
            if dup {
                let msg = format!("{name} in body shouldn't contain duplicates");
                out.push(self.invalid(name, &Value::String(String::new()), &msg));
            }
        }
        out
    }

    fn check_enum(&self, node: &Node, value: &Value, name: &str) -> Outcome {
        let mut out = Outcome::default();
        let Some(allowed) = node.enum_values.as_ref().filter(|e| !e.is_empty()) else {
            return out;
        };
        if !value.is_null() && allowed.iter().any(|a| json_eq(a, value)) {
            return out;
        }
        let valid: Vec<String> = allowed
            .iter()
            .map(|a| match a {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        out.push(field::not_supported(&self.path(name), value, &valid));
        out
    }

    fn check_object(
        &self,
        node: &Node,
        map: &serde_json::Map<String, Value>,
        name: &str,
    ) -> Outcome {
        let mut out = Outcome::default();
        let num_keys = map.len() as i64;
        if let Some(min) = node.min_properties {
            if num_keys < min {
                let msg = format!("{name} in body should have at least {min} properties");
                out.push(self.invalid(name, &Value::from(num_keys), &msg));
                return out;
            }
        }
        if let Some(max) = node.max_properties {
            if num_keys > max {
                out.push(field::too_many(&self.path(name), num_keys, max));
                return out;
            }
        }
        match &node.additional {
            Some(Additional::Allows(false)) => {
                for k in map.keys().filter(|k| !node.properties.contains_key(*k)) {
                    let msg = format!("{name}.{k} in body is a forbidden property");
                    out.push(self.invalid(name, &Value::String(k.clone()), &msg));
                }
            }
            Some(Additional::Schema(s)) => {
                for (k, v) in map
                    .iter()
                    .filter(|(k, _)| !node.properties.contains_key(*k))
                {
                    out.merge(self.validate(s, v, &format!("{name}.{k}")));
                }
            }
            _ => {}
        }
        for (p, ps) in &node.properties {
            if let Some(v) = map.get(p) {
                out.merge(self.validate(ps, v, &child_name(name, p)));
            }
        }
        for k in &node.required {
            if !map.contains_key(k) {
                out.push(field::required(&self.path(&format!("{name}.{k}")), ""));
            }
        }
        out
    }

    fn check_schema_props(&self, node: &Node, value: &Value, name: &str) -> Outcome {
        let mut out = Outcome::default();
        let quoted = go_quote(name);
        if !node.any_of.is_empty() {
            let mut best: Option<Outcome> = None;
            let mut first_success: Option<Outcome> = None;
            for s in &node.any_of {
                let r = self.validate(s, value, name);
                if r.is_valid() {
                    best = None;
                    first_success = Some(r);
                    break;
                }
                if best.as_ref().is_none_or(|b| r.matches > b.matches) {
                    best = Some(r);
                }
            }
            if first_success.is_none() {
                out.push(self.composite(&format!(
                    "{quoted} must validate at least one schema (anyOf)"
                )));
            }
            if let Some(b) = best.or(first_success) {
                out.merge(b);
            }
        }
        if !node.one_of.is_empty() {
            let mut best: Option<Outcome> = None;
            let mut first_success: Option<Outcome> = None;
            let mut validated = 0;
            for s in &node.one_of {
                let r = self.validate(s, value, name);
                if r.is_valid() {
                    validated += 1;
                    best = None;
                    if first_success.is_none() {
                        first_success = Some(r);
                    }
                    continue;
                }
                if validated == 0 && best.as_ref().is_none_or(|b| r.matches > b.matches) {
                    best = Some(r);
                }
            }
            if validated != 1 {
                let extra = if validated == 0 {
                    "Found none valid".to_owned()
                } else {
                    format!("Found {validated} valid alternatives")
                };
                out.push(self.composite(&format!(
                    "{quoted} must validate one and only one schema (oneOf). {extra}"
                )));
                if let Some(b) = best {
                    out.merge(b);
                }
            } else if let Some(s) = first_success {
                out.merge(s);
            }
        }
        if !node.all_of.is_empty() {
            let mut validated = 0;
            for s in &node.all_of {
                let r = self.validate(s, value, name);
                if r.is_valid() {
                    validated += 1;
                }
                out.merge(r);
            }
            if validated != node.all_of.len() {
                let extra = if validated == 0 {
                    ". None validated"
                } else {
                    ""
                };
                out.push(self.composite(&format!(
                    "{quoted} must validate all the schemas (allOf){extra}"
                )));
            }
        }
        if let Some(not) = &node.not {
            if self.validate(not, value, name).is_valid() {
                out.push(self.composite(&format!("{quoted} must not validate the schema (not)")));
            }
        }
        out.matches += 1;
        out
    }
}
