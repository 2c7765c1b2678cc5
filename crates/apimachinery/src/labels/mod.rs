//! Label selectors: the string syntax (`a=b,c in (x,y),!d,e>3`), matching against label maps,
//! and conversion from `metav1.LabelSelector` JSON, with upstream's semantics and error texts.

mod parser;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde_json::{Map, Value};

use crate::validation::{
    aggregate_message, is_qualified_name, is_valid_label_value, BadValue, FieldError,
};

/// Errors from parsing a selector string or converting a `LabelSelector`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LabelError {
    /// The selector string does not parse; the message is upstream's.
    #[error("{0}")]
    Parse(String),
    /// A requirement is invalid (bad key, value, or value count); the message is upstream's.
    #[error("{0}")]
    Invalid(String),
}

/// A selector operator (`selection.Operator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `in`
    In,
    /// `notin`
    NotIn,
    /// `=`
    Equals,
    /// `==`
    DoubleEquals,
    /// `!=`
    NotEquals,
    /// bare key
    Exists,
    /// `!key`
    DoesNotExist,
    /// `>` (`gt`)
    GreaterThan,
    /// `<` (`lt`)
    LessThan,
}

/// Read access to a set of labels, so selectors can match any map shape.
pub trait Labels {
    /// Value of `key`, if present.
    fn get_label(&self, key: &str) -> Option<&str>;
}

impl Labels for Map<String, Value> {
    fn get_label(&self, key: &str) -> Option<&str> {
        // A non-string value cannot come from valid stored labels; treat it as empty.
        self.get(key).map(|v| v.as_str().unwrap_or(""))
    }
}
impl Labels for BTreeMap<String, String> {
    fn get_label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}
impl Labels for HashMap<String, String> {
    fn get_label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

/// One `key op values` term of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    op: Operator,
    values: Vec<String>,
}

pub(crate) fn validate_key(key: &str, path: &str) -> Option<FieldError> {
    let errs = is_qualified_name(key);
    (!errs.is_empty()).then(|| FieldError::invalid(path, key, &errs.join("; ")))
}

fn go_string_slice(values: &[String]) -> BadValue {
    let quoted: Vec<String> = values
        .iter()
        .map(|v| crate::validation::go_quote(v))
        .collect();
    BadValue::Raw(format!("[]string{{{}}}", quoted.join(", ")))
}

impl Requirement {
    /// `labels.NewRequirement`: validates key, value count for the operator and each value.
    pub fn new(key: &str, op: Operator, values: Vec<String>) -> Result<Self, LabelError> {
        let mut errs = Vec::new();
        if let Some(e) = validate_key(key, "key") {
            errs.push(e);
        }
        match op {
            Operator::In | Operator::NotIn if values.is_empty() => {
                errs.push(FieldError::invalid(
                    "values",
                    go_string_slice(&values),
                    "for 'in', 'notin' operators, values set can't be empty",
                ));
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals
                if values.len() != 1 =>
            {
                errs.push(FieldError::invalid(
                    "values",
                    go_string_slice(&values),
                    "exact-match compatibility requires one single value",
                ));
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                errs.push(FieldError::invalid(
                    "values",
                    go_string_slice(&values),
                    "values set must be empty for exists and does not exist",
                ));
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    errs.push(FieldError::invalid(
                        "values",
                        go_string_slice(&values),
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(FieldError::invalid(
                            &format!("values[{i}]"),
                            v.as_str(),
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        ));
                    }
                }
            }
            _ => {}
        }
        for (i, v) in values.iter().enumerate() {
            let msgs = is_valid_label_value(v);
            if !msgs.is_empty() {
                errs.push(FieldError::invalid(
                    &format!("values[{i}][{key}]"),
                    v.as_str(),
                    &msgs.join("; "),
                ));
            }
        }
        if errs.is_empty() {
            Ok(Requirement {
                key: key.to_owned(),
                op,
                values,
            })
        } else {
            Err(LabelError::Invalid(aggregate_message(&errs)))
        }
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.op
    }

    /// The values (sorted for set operators).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether `labels` satisfies this requirement (upstream `Requirement.Matches`).
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        let has_value = |v: &str| self.values.iter().any(|x| x == v);
        match self.op {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                labels.get_label(&self.key).is_some_and(has_value)
            }
            Operator::NotIn | Operator::NotEquals => {
                labels.get_label(&self.key).is_none_or(|v| !has_value(v))
            }
            Operator::Exists => labels.get_label(&self.key).is_some(),
            Operator::DoesNotExist => labels.get_label(&self.key).is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(actual) = labels
                    .get_label(&self.key)
                    .and_then(|v| v.parse::<i64>().ok())
                else {
                    return false;
                };
                let [wanted] = self.values.as_slice() else {
                    return false;
                };
                let Ok(wanted) = wanted.parse::<i64>() else {
                    return false;
                };
                if self.op == Operator::GreaterThan {
                    actual > wanted
                } else {
                    actual < wanted
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.op == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.op {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
        };
        f.write_str(op)?;
        let set = matches!(self.op, Operator::In | Operator::NotIn);
        if set {
            f.write_str("(")?;
        }
        let mut vals = self.values.clone();
        vals.sort();
        f.write_str(&vals.join(","))?;
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A label selector: either "nothing" (a null `LabelSelector`) or an AND of requirements
/// (none at all matches everything).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Matches no object (`labels.Nothing()`).
    Nothing,
    /// Matches objects satisfying every requirement; empty matches everything.
    Requirements(Vec<Requirement>),
}

impl Selector {
    /// The selector matching every object.
    pub fn everything() -> Self {
        Selector::Requirements(Vec::new())
    }

    /// The selector matching no object.
    pub fn nothing() -> Self {
        Selector::Nothing
    }

    /// Parses the string form (`labelSelector=` query parameter) like upstream `labels.Parse`.
    pub fn parse(s: &str) -> Result<Self, LabelError> {
        parser::parse(s).map(Selector::Requirements)
    }

    /// Builds a selector from `metav1.LabelSelector` JSON: `None`/null matches nothing, `{}`
    /// matches everything (upstream `LabelSelectorAsSelector`).
    pub fn from_label_selector(sel: Option<&Value>) -> Result<Self, LabelError> {
        let Some(sel) = sel.filter(|v| !v.is_null()) else {
            return Ok(Selector::Nothing);
        };
        let mut reqs = Vec::new();
        if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in ml {
                reqs.push(Requirement::new(
                    k,
                    Operator::Equals,
                    vec![v.as_str().unwrap_or("").to_owned()],
                )?);
            }
        }
        if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e.get("key").and_then(Value::as_str).unwrap_or("");
                let op_str = e.get("operator").and_then(Value::as_str).unwrap_or("");
                let op = match op_str {
                    "In" => Operator::In,
                    "NotIn" => Operator::NotIn,
                    "Exists" => Operator::Exists,
                    "DoesNotExist" => Operator::DoesNotExist,
                    other => {
                        return Err(LabelError::Invalid(format!(
                            "{} is not a valid label selector operator",
                            crate::validation::go_quote(other)
                        )))
                    }
                };
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|vs| {
                        vs.iter()
                            .map(|v| v.as_str().unwrap_or("").to_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                reqs.push(Requirement::new(key, op, values)?);
            }
        }
        reqs.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Selector::Requirements(reqs))
    }

    /// Builds an equality selector from a plain label map (`SelectorFromSet`), e.g. a
    /// ReplicationController or Service selector; empty matches everything.
    pub fn from_set(set: &Map<String, Value>) -> Self {
        let mut reqs: Vec<Requirement> = set
            .iter()
            .map(|(k, v)| Requirement {
                key: k.clone(),
                op: Operator::Equals,
                values: vec![v.as_str().unwrap_or("").to_owned()],
            })
            .collect();
        reqs.sort_by(|a, b| a.key.cmp(&b.key));
        Selector::Requirements(reqs)
    }

    /// True when the selector does not restrict anything (matches everything).
    pub fn is_empty(&self) -> bool {
        matches!(self, Selector::Requirements(r) if r.is_empty())
    }

    /// The requirements (empty for [`Selector::Nothing`]).
    pub fn requirements(&self) -> &[Requirement] {
        match self {
            Selector::Nothing => &[],
            Selector::Requirements(r) => r,
        }
    }

    /// Whether the label set satisfies the selector.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        match self {
            Selector::Nothing => false,
            Selector::Requirements(r) => r.iter().all(|req| req.matches(labels)),
        }
    }

    /// Whether an object's `metadata.labels` satisfy the selector.
    pub fn matches_object(&self, obj: &Value) -> bool {
        let empty = Map::new();
        let labels = obj
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        self.matches(labels)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .requirements()
            .iter()
            .map(ToString::to_string)
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// `labels.FormatLabels`: `k=v` pairs sorted by key, or `<none>` when empty.
pub fn format_labels(map: Option<&Value>) -> String {
    let Some(map) = map.and_then(Value::as_object).filter(|m| !m.is_empty()) else {
        return "<none>".to_owned();
    };
    let mut pairs: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    pairs.join(",")
}

/// `metav1.FormatLabelSelector`: the selector string, `<none>` when empty, `<error>` when invalid.
pub fn format_label_selector(sel: Option<&Value>) -> String {
    match Selector::from_label_selector(sel) {
        Ok(s) => {
            let out = s.to_string();
            if out.is_empty() {
                "<none>".to_owned()
            } else {
                out
            }
        }
        Err(_) => "<error>".to_owned(),
    }
}

#[cfg(test)]
mod tests;
