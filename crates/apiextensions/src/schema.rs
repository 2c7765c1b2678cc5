//! A JSONSchemaProps tree parsed once into typed nodes; validation, defaulting and pruning walk it.

use indexmap::IndexMap;
use regex::Regex;
use serde_json::Value;

use crate::cel::Rule;
use crate::formats;

/// `additionalProperties`: a bool or a schema.
#[derive(Debug, Clone)]
pub(crate) enum Additional {
    Allows(bool),
    Schema(Box<Node>),
}

/// One schema node (upstream's JSONSchemaProps as far as CRDs may use it).
#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    pub ty: String,
    /// The format as written (for messages).
    pub format: String,
    /// The format kept for validation (unsupported ones stripped as upstream does).
    pub effective_format: String,
    pub nullable: bool,
    pub default: Option<Value>,
    pub properties: IndexMap<String, Node>,
    pub additional: Option<Additional>,
    pub items: Option<Box<Node>>,
    pub required: Vec<String>,
    pub enum_values: Option<Vec<Value>>,
    pub maximum: Option<f64>,
    pub exclusive_maximum: bool,
    pub minimum: Option<f64>,
    pub exclusive_minimum: bool,
    pub multiple_of: Option<f64>,
    pub max_length: Option<i64>,
    pub min_length: Option<i64>,
    pub max_items: Option<i64>,
    pub min_items: Option<i64>,
    pub max_properties: Option<i64>,
    pub min_properties: Option<i64>,
    pub unique_items: bool,
    pub pattern: Option<String>,
    pub pattern_re: Option<Regex>,
    pub all_of: Vec<Node>,
    pub any_of: Vec<Node>,
    pub one_of: Vec<Node>,
    pub not: Option<Box<Node>>,
    pub preserve_unknown: bool,
    pub embedded: bool,
    pub int_or_string: bool,
    pub list_type: Option<String>,
    pub list_map_keys: Vec<String>,
    /// `x-kubernetes-validations`, compiled.
    pub rules: Vec<Rule>,
}

fn f64_at(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(Value::as_f64)
}

fn i64_at(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(Value::as_i64)
}

fn bool_at(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool).unwrap_or(false)
}

fn str_at(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_owned()
}

fn nodes_at(v: &Value, k: &str) -> Vec<Node> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(Node::parse).collect())
        .unwrap_or_default()
}

/// Go's regexp is RE2; Rust's `regex` accepts the same syntax for what CRDs use. Patterns are
/// unanchored in both.
pub(crate) fn compile_pattern(p: &str) -> Result<Regex, regex::Error> {
    Regex::new(p)
}

impl Node {
    /// Parses a schema value; malformed parts are ignored (CRD validation reports them).
    pub(crate) fn parse(v: &Value) -> Node {
        let ty = str_at(v, "type");
        let format = str_at(v, "format");
        let effective_format = formats::effective(&ty, &format);
        let pattern = v.get("pattern").and_then(Value::as_str).map(str::to_owned);
        let pattern_re = pattern.as_deref().and_then(|p| compile_pattern(p).ok());
        let properties = v
            .get("properties")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, s)| (k.clone(), Node::parse(s))).collect())
            .unwrap_or_default();
        let additional = match v.get("additionalProperties") {
            Some(Value::Bool(b)) => Some(Additional::Allows(*b)),
            Some(s @ Value::Object(_)) => Some(Additional::Schema(Box::new(Node::parse(s)))),
            _ => None,
        };
        let items = match v.get("items") {
            Some(s @ Value::Object(_)) => Some(Box::new(Node::parse(s))),
            _ => None,
        };
        Node {
            ty,
            format,
            effective_format,
            nullable: bool_at(v, "nullable"),
            default: v.get("default").cloned(),
            properties,
            additional,
            items,
            required: v
                .get("required")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            enum_values: v.get("enum").and_then(Value::as_array).cloned(),
            maximum: f64_at(v, "maximum"),
            exclusive_maximum: bool_at(v, "exclusiveMaximum"),
            minimum: f64_at(v, "minimum"),
            exclusive_minimum: bool_at(v, "exclusiveMinimum"),
            multiple_of: f64_at(v, "multipleOf"),
            max_length: i64_at(v, "maxLength"),
            min_length: i64_at(v, "minLength"),
            max_items: i64_at(v, "maxItems"),
            min_items: i64_at(v, "minItems"),
            max_properties: i64_at(v, "maxProperties"),
            min_properties: i64_at(v, "minProperties"),
            unique_items: bool_at(v, "uniqueItems"),
            pattern,
            pattern_re,
            all_of: nodes_at(v, "allOf"),
            any_of: nodes_at(v, "anyOf"),
            one_of: nodes_at(v, "oneOf"),
            not: v
                .get("not")
                .filter(|n| n.is_object())
                .map(|n| Box::new(Node::parse(n))),
            preserve_unknown: bool_at(v, "x-kubernetes-preserve-unknown-fields"),
            embedded: bool_at(v, "x-kubernetes-embedded-resource"),
            int_or_string: bool_at(v, "x-kubernetes-int-or-string"),
            list_type: v
                .get("x-kubernetes-list-type")
                .and_then(Value::as_str)
                .map(str::to_owned),
            list_map_keys: v
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            rules: v
                .get("x-kubernetes-validations")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(Rule::parse).collect())
                .unwrap_or_default(),
        }
    }

    /// The schema of an `additionalProperties` schema, if any.
    pub(crate) fn additional_schema(&self) -> Option<&Node> {
        match &self.additional {
            Some(Additional::Schema(s)) => Some(s),
            _ => None,
        }
    }

    /// The schema type list the kube-openapi type check uses (`integer,string` for int-or-string).
    pub(crate) fn type_list(&self) -> Vec<&str> {
        if self.int_or_string {
            vec!["integer", "string"]
        } else if self.ty.is_empty() {
            Vec::new()
        } else {
            vec![self.ty.as_str()]
        }
    }
}
