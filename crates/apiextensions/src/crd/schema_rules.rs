//! Upstream `ValidateCustomResourceDefinitionOpenAPISchema`: the OpenAPI v3 subset CRDs may use,
//! list/map type extensions and x-kubernetes-validations (shape, and that each rule parses).

use ferrokube_apimachinery::validation::FieldError;
use serde_json::Value;

use crate::field::{self, Path};

const OPENAPI_V3_TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];
const META_FIELDS: [&str; 3] = ["metadata", "kind", "apiVersion"];
const VALIDATION_REASONS: [&str; 4] = [
    "FieldValueDuplicate",
    "FieldValueForbidden",
    "FieldValueInvalid",
    "FieldValueRequired",
];

/// What the walk knows about where it is (upstream's specStandardValidatorV3 state).
#[derive(Clone, Default)]
pub(crate) struct Ctx {
    /// `Some(reason)` when defaults are forbidden here.
    pub forbid_defaults: Option<String>,
    pub inside_resource_meta: bool,
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn strings(v: &Value, k: &str) -> Vec<String> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn go_string_slice(items: &[String]) -> String {
    let q: Vec<String> = items
        .iter()
        .map(|s| ferrokube_apimachinery::validation::go_quote(s))
        .collect();
    format!("[]string{{{}}}", q.join(", "))
}

fn present(v: &Value, k: &str) -> bool {
    v.get(k).is_some_and(|x| !x.is_null())
}

/// Go prints a `*string` bad value as its string, or `null` when nil.
fn opt_str(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |s| Value::String(s.to_owned()))
}

pub(crate) fn validate(
    schema: &Value,
    path: &Path,
    ctx: &Ctx,
    is_root: bool,
    errs: &mut Vec<FieldError>,
) {
    if !schema.is_object() {
        return;
    }
    node_rules(schema, path, ctx, errs);

    if schema.get("uniqueItems").and_then(Value::as_bool) == Some(true) {
        errs.push(field::forbidden(
            &path.child("uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }
    let props = schema.get("properties").and_then(Value::as_object);
    if let Some(add) = schema.get("additionalProperties").filter(|a| !a.is_null()) {
        let disallows_or_schema = add == &Value::Bool(false) || add.is_object();
        if props.is_some_and(|p| !p.is_empty()) && disallows_or_schema {
            errs.push(field::forbidden(
                &path.child("additionalProperties"),
                "additionalProperties and properties are mutual exclusive",
            ));
        }
        let mut sub = ctx.clone();
        if ctx.inside_resource_meta {
            sub.forbid_defaults =
                Some("inside additionalProperties applying to object metadata".into());
        }
        validate(add, &path.child("additionalProperties"), &sub, false, errs);
    }
    let embedded = schema
        .get("x-kubernetes-embedded-resource")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if let Some(p) = props {
        for (k, v) in p {
            let mut sub = ctx.clone();
            if (is_root || embedded) && META_FIELDS.contains(&k.as_str()) {
                sub.inside_resource_meta = true;
                if is_root {
                    sub.forbid_defaults = Some(format!("in top-level {k}"));
                }
            }
            validate(v, &path.child("properties").key(k), &sub, false, errs);
        }
    }
    if let Some(not) = schema.get("not") {
        validate(not, &path.child("not"), ctx, false, errs);
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(list) = schema.get(key).and_then(Value::as_array) {
            for (i, x) in list.iter().enumerate() {
                validate(x, &path.child(key).index(i), ctx, false, errs);
            }
        }
    }
    if let Some(defs) = schema.get("definitions").and_then(Value::as_object) {
        for (k, v) in defs {
            validate(v, &path.child("definitions").key(k), ctx, false, errs);
        }
    }
    match schema.get("items") {
        Some(it @ Value::Object(_)) => validate(it, &path.child("items"), ctx, false, errs),
        Some(Value::Array(list)) => {
            for (i, x) in list.iter().enumerate() {
                validate(x, &path.child("items").index(i), ctx, false, errs);
            }
        }
        _ => {}
    }
    if let Some(deps) = schema.get("dependencies").and_then(Value::as_object) {
        for (k, v) in deps.iter().filter(|(_, v)| v.is_object()) {
            validate(v, &path.child("dependencies").key(k), ctx, false, errs);
        }
    }
    list_and_map_rules(schema, path, errs);
    validation_rules(schema, path, errs);
}

/// The per-node checks of specStandardValidatorV3.validate.
fn node_rules(schema: &Value, path: &Path, ctx: &Ctx, errs: &mut Vec<FieldError>) {
    let ty = s(schema, "type");
    if !ty.is_empty() && !OPENAPI_V3_TYPES.contains(&ty) {
        let valid: Vec<String> = OPENAPI_V3_TYPES.iter().map(|t| t.to_string()).collect();
        errs.push(field::not_supported(
            &path.child("type"),
            &Value::String(ty.into()),
            &valid,
        ));
    }
    if present(schema, "default") {
        if let Some(reason) = &ctx.forbid_defaults {
            errs.push(field::forbidden(
                &path.child("default"),
                &format!("must not be set {reason}"),
            ));
        }
    }
    let forbidden_keys = [
        ("id", "id is not supported"),
        ("additionalItems", "additionalItems is not supported"),
        ("patternProperties", "patternProperties is not supported"),
        ("definitions", "definitions is not supported"),
        ("dependencies", "dependencies is not supported"),
        ("$ref", "$ref is not supported"),
    ];
    for (key, msg) in forbidden_keys {
        let set = match schema.get(key) {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Object(m)) => key == "additionalItems" || !m.is_empty(),
            Some(_) => true,
        };
        if set {
            errs.push(field::forbidden(&path.child(key), msg));
        }
    }
    if ty == "null" {
        errs.push(field::forbidden(
            &path.child("type"),
            "type cannot be set to null, use nullable as an alternative",
        ));
    }
    if schema.get("items").is_some_and(Value::is_array) {
        errs.push(field::forbidden(
            &path.child("items"),
            "items must be a schema object and not an array",
        ));
    }
    let embedded = schema
        .get("x-kubernetes-embedded-resource")
        .and_then(Value::as_bool)
        == Some(true);
    if ctx.inside_resource_meta && embedded {
        errs.push(field::forbidden(
            &path.child("x-kubernetes-embedded-resource"),
            "must not be used inside of resource meta",
        ));
    }
}

fn type_must_be(schema: &Value, path: &Path, want: &str, msg: &str, errs: &mut Vec<FieldError>) {
    let ty = s(schema, "type");
    if ty == want {
        return;
    }
    if ty.is_empty() {
        errs.push(field::required(&path.child("type"), msg));
    } else {
        errs.push(field::invalid_str(&path.child("type"), ty, msg));
    }
}

fn list_and_map_rules(schema: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    if let Some(false) = schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
    {
        errs.push(field::invalid_raw(
            &path.child("x-kubernetes-preserve-unknown-fields"),
            "false",
            "must be true or undefined",
        ));
    }
    let map_type = schema.get("x-kubernetes-map-type").and_then(Value::as_str);
    if let Some(mt) = map_type {
        type_must_be(
            schema,
            path,
            "object",
            "must be object if x-kubernetes-map-type is specified",
            errs,
        );
        if mt != "atomic" && mt != "granular" {
            errs.push(field::not_supported(
                &path.child("x-kubernetes-map-type"),
                &Value::String(mt.into()),
                &["atomic".into(), "granular".into()],
            ));
        }
    }
    let list_type = schema.get("x-kubernetes-list-type").and_then(Value::as_str);
    let items = schema.get("items").filter(|i| i.is_object());
    if let Some(lt) = list_type {
        if s(schema, "type") != "array" {
            type_must_be(
                schema,
                path,
                "array",
                "must be array if x-kubernetes-list-type is specified",
                errs,
            );
        } else if lt == "set" {
            if let Some(is) = items {
                let msg = "must be atomic as item of a list with x-kubernetes-list-type=set";
                let item_list = is.get("x-kubernetes-list-type").and_then(Value::as_str);
                match s(is, "type") {
                    "array" if item_list.is_some_and(|l| l != "atomic") => {
                        errs.push(field::invalid(
                            &path.child("items").child("x-kubernetes-list-type"),
                            &opt_str(item_list),
                            msg,
                        ))
                    }
                    "object"
                        if is.get("x-kubernetes-map-type").and_then(Value::as_str)
                            != Some("atomic") =>
                    {
                        errs.push(field::invalid(
                            &path.child("items").child("x-kubernetes-map-type"),
                            &opt_str(item_list),
                            msg,
                        ))
                    }
                    _ => {}
                }
            }
        }
        if !matches!(lt, "atomic" | "set" | "map") {
            errs.push(field::not_supported(
                &path.child("x-kubernetes-list-type"),
                &Value::String(lt.into()),
                &["atomic".into(), "set".into(), "map".into()],
            ));
        }
    }
    let keys = strings(schema, "x-kubernetes-list-map-keys");
    if !keys.is_empty() {
        let msg = "must be map if x-kubernetes-list-map-keys is non-empty";
        match list_type {
            None => errs.push(field::required(&path.child("x-kubernetes-list-type"), msg)),
            Some(lt) if lt != "map" => errs.push(field::invalid_str(
                &path.child("x-kubernetes-list-type"),
                lt,
                msg,
            )),
            _ => {}
        }
    }
    if list_type == Some("map") {
        map_list_rules(schema, path, &keys, items, errs);
    }
    map_set_item_rules(schema, path, list_type, &keys, items, errs);
}

fn map_list_rules(
    schema: &Value,
    path: &Path,
    keys: &[String],
    items: Option<&Value>,
    errs: &mut Vec<FieldError>,
) {
    if keys.is_empty() {
        errs.push(field::required(
            &path.child("x-kubernetes-list-map-keys"),
            "must not be empty if x-kubernetes-list-type is map",
        ));
    }
    match schema.get("items") {
        None | Some(Value::Null) => errs.push(field::required(
            &path.child("items"),
            "must have a schema if x-kubernetes-list-type is map",
        )),
        Some(Value::Array(_)) => errs.push(field::invalid_raw(
            &path.child("items"),
            &schema["items"].to_string(),
            "must only have a single schema if x-kubernetes-list-type is map",
        )),
        _ => {}
    }
    let Some(is) = items else { return };
    let item_type = s(is, "type");
    if item_type != "object" {
        errs.push(field::invalid_str(
            &path.child("items").child("type"),
            item_type,
            "must be object if parent array's x-kubernetes-list-type is map",
        ));
        return;
    }
    let mut seen: Vec<&str> = Vec::new();
    for k in keys {
        match is.get("properties").and_then(|p| p.get(k)) {
            Some(p) => {
                if matches!(s(p, "type"), "array" | "object") {
                    errs.push(field::invalid_str(
                        &path.child("items").child("properties").key(k).child("type"),
                        item_type,
                        "must be a scalar type if parent array's x-kubernetes-list-type is map",
                    ));
                }
            }
            None => errs.push(field::invalid_raw(
                &path.child("x-kubernetes-list-map-keys"),
                &go_string_slice(keys),
                "entries must all be names of item properties",
            )),
        }
        if seen.contains(&k.as_str()) {
            errs.push(field::invalid_raw(
                &path.child("x-kubernetes-list-map-keys"),
                &go_string_slice(keys),
                "must not contain duplicate entries",
            ));
        }
        seen.push(k);
    }
}

/// validateMapListKeysMapSet: set/map items are not nullable, map keys are required or defaulted.
fn map_set_item_rules(
    _schema: &Value,
    path: &Path,
    list_type: Option<&str>,
    keys: &[String],
    items: Option<&Value>,
    errs: &mut Vec<FieldError>,
) {
    let (Some(lt @ ("set" | "map")), Some(is)) = (list_type, items) else {
        return;
    };
    if is.get("nullable").and_then(Value::as_bool) == Some(true) {
        errs.push(field::forbidden(
            &path.child("items").child("nullable"),
            &format!("cannot be nullable when x-kubernetes-list-type is {lt}"),
        ));
    }
    if lt != "map" {
        return;
    }
    let required = strings(is, "required");
    for k in keys {
        let Some(p) = is.get("properties").and_then(|p| p.get(k)) else {
            continue;
        };
        let at = path.child("items").child("properties").key(k);
        if !required.contains(k) && !present(p, "default") {
            errs.push(field::required(
                &at.child("default"),
                "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
            ));
        }
        if p.get("nullable").and_then(Value::as_bool) == Some(true) {
            errs.push(field::forbidden(
                &at.child("nullable"),
                "this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
            ));
        }
    }
}

fn has_newlines(s: &str) -> bool {
    s.contains('\n') || s.contains('\r')
}

/// The shape of x-kubernetes-validations rules (the expressions themselves are not compiled).
fn validation_rules(schema: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    let Some(rules) = schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
    else {
        return;
    };
    for (i, r) in rules.iter().enumerate() {
        let at = path.child("x-kubernetes-validations").index(i);
        let rule = s(r, "rule");
        let message = s(r, "message");
        let (trimmed_rule, trimmed_msg) = (rule.trim(), message.trim());
        if trimmed_rule.is_empty() {
            errs.push(field::required(&at.child("rule"), "rule is not specified"));
        } else if let Err(e) = crate::cel::compile(rule) {
            errs.push(field::invalid_raw(
                &at.child("rule"),
                &r.to_string(),
                &format!("compilation failed: {e}"),
            ));
        } else if !message.is_empty() && trimmed_msg.is_empty() {
            errs.push(field::invalid_str(
                &at.child("message"),
                message,
                "message must be non-empty if specified",
            ));
        } else if has_newlines(trimmed_msg) {
            errs.push(field::invalid_str(
                &at.child("message"),
                message,
                "message must not contain line breaks",
            ));
        } else if has_newlines(trimmed_rule) && trimmed_msg.is_empty() {
            errs.push(field::required(
                &at.child("message"),
                "message must be specified if rule contains line breaks",
            ));
        }
        let msg_expr = s(r, "messageExpression");
        if !msg_expr.is_empty() && msg_expr.trim().is_empty() {
            errs.push(field::required(
                &at.child("messageExpression"),
                "messageExpression must be non-empty if specified",
            ));
        }
        if let Some(reason) = r.get("reason").and_then(Value::as_str) {
            if !VALIDATION_REASONS.contains(&reason) {
                let valid: Vec<String> = VALIDATION_REASONS.iter().map(|s| s.to_string()).collect();
                errs.push(field::not_supported(
                    &at.child("reason"),
                    &Value::String(reason.into()),
                    &valid,
                ));
            }
        }
        let fp = s(r, "fieldPath");
        if !fp.is_empty() && fp.trim().is_empty() {
            errs.push(field::invalid_str(
                &at.child("fieldPath"),
                fp,
                "fieldPath must be non-empty if specified",
            ));
        }
        if has_newlines(fp) {
            errs.push(field::invalid_str(
                &at.child("fieldPath"),
                fp,
                "fieldPath must not contain line breaks",
            ));
        }
    }
}
