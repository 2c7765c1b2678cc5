//! Structural-schema invariants (upstream `apiserver/schema.ValidateStructural`), checked on the
//! schema JSON. Upstream splits a schema into its structure (type, properties, items,
//! additionalProperties, description, title, default, nullable, extensions) and value
//! validations (allOf/anyOf/oneOf/not and the constraints); inside value validations nothing
//! structural may appear, and every field they mention must also exist in the structure.

use ferrokube_apimachinery::validation::FieldError;
use serde_json::{Map, Value};

use crate::field::{self, Path};
use crate::schema::compile_pattern;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

fn obj(v: &Value) -> Option<&Map<String, Value>> {
    v.as_object()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn flag(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool).unwrap_or(false)
}

fn props(v: &Value) -> Option<&Map<String, Value>> {
    v.get("properties").and_then(Value::as_object)
}

fn list<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The items schema when it is a single schema object.
fn items(v: &Value) -> Option<&Value> {
    v.get("items").filter(|i| i.is_object())
}

/// `additionalProperties` as a schema object (a bool has no schema).
fn additional_schema(v: &Value) -> Option<&Value> {
    v.get("additionalProperties").filter(|a| a.is_object())
}

/// Upstream's ValidateStructural: invariants then completeness, sorted by message.
pub(crate) fn validate(path: &Path, schema: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    invariants(schema, Level::Root, path, &mut errs);
    completeness(schema, schema, path, path, &mut errs);
    errs.sort_by_key(|e| e.to_string());
    errs
}

/// `anyOf: [{type: integer}, {type: string}]` exactly: the int-or-string exception.
fn is_int_or_string_any_of(any_of: &[Value]) -> bool {
    let only_type = |v: &Value, t: &str| obj(v).is_some_and(|m| m.len() == 1 && s(v, "type") == t);
    any_of.len() == 2 && only_type(&any_of[0], "integer") && only_type(&any_of[1], "string")
}

fn invariants(sch: &Value, lvl: Level, path: &Path, errs: &mut Vec<FieldError>) {
    if !sch.is_object() {
        return;
    }
    let ty = s(sch, "type");
    if ty == "array" && items(sch).is_none() {
        errs.push(field::required(&path.child("items"), "must be specified"));
    }
    if let Some(it) = items(sch) {
        invariants(it, Level::Item, &path.child("items"), errs);
    }
    if let Some(p) = props(sch) {
        for (k, v) in p {
            invariants(v, Level::Field, &path.child("properties").key(k), errs);
        }
    }
    let has_additional = sch.get("additionalProperties").is_some();
    if has_additional {
        if lvl == Level::Root {
            errs.push(field::forbidden(
                &path.child("additionalProperties"),
                "must not be used at the root",
            ));
        }
        if let Some(a) = additional_schema(sch) {
            invariants(a, Level::Field, &path.child("additionalProperties"), errs);
        }
    }
    let int_or_string = flag(sch, "x-kubernetes-int-or-string");
    let preserve = flag(sch, "x-kubernetes-preserve-unknown-fields");
    let embedded = flag(sch, "x-kubernetes-embedded-resource");
    if int_or_string && preserve {
        errs.push(field::invalid_raw(
            &path.child("x-kubernetes-preserve-unknown-fields"),
            "true",
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if int_or_string && embedded {
        errs.push(field::invalid_raw(
            &path.child("x-kubernetes-embedded-resource"),
            "true",
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }

    let skip_any_of = is_int_or_string_any_of(list(sch, "anyOf"));
    let skip_first_all_of_any_of = list(sch, "allOf")
        .first()
        .is_some_and(|first| is_int_or_string_any_of(list(first, "anyOf")));
    value_validation(sch, skip_any_of, skip_first_all_of_any_of, lvl, path, errs);

    let check_metadata = lvl == Level::Root || embedded;
    if embedded && ty != "object" {
        let msg = "must be object if x-kubernetes-embedded-resource is true";
        if ty.is_empty() {
            errs.push(field::required(&path.child("type"), msg));
        } else {
            errs.push(field::invalid_str(&path.child("type"), ty, msg));
        }
    } else if ty.is_empty() && !int_or_string && !preserve {
        let msg = match lvl {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        errs.push(field::required(&path.child("type"), msg));
    }
    if embedded && has_additional {
        errs.push(field::forbidden(
            &path.child("additionalProperties"),
            "must not be used if x-kubernetes-embedded-resource is set",
        ));
    }
    if lvl == Level::Root && !ty.is_empty() && ty != "object" {
        errs.push(field::invalid_str(
            &path.child("type"),
            ty,
            "must be object at the root",
        ));
    }
    if let Some(p) = props(sch) {
        for key in ["kind", "apiVersion"] {
            if let Some(k) = p.get(key).filter(|_| check_metadata) {
                let kt = s(k, "type");
                if kt != "string" {
                    let at = path.child("properties").key(key).child("type");
                    errs.push(field::invalid_str(&at, kt, "must be string"));
                }
            }
        }
        if let Some(meta) = p.get("metadata") {
            metadata_invariants(
                meta,
                check_metadata,
                lvl,
                &path.child("properties").key("metadata"),
                errs,
            );
        }
    }
    let no_props = props(sch).is_none_or(|p| p.is_empty());
    if embedded && !preserve && no_props {
        errs.push(field::required(
            &path.child("properties"),
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ));
    }
}

/// At the root, metadata may only restrict `name` and `generateName`.
fn metadata_invariants(
    meta: &Value,
    check: bool,
    lvl: Level,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    let ty = s(meta, "type");
    if check && ty != "object" {
        errs.push(field::invalid_str(
            &path.child("type"),
            ty,
            "must be object",
        ));
    }
    if lvl != Level::Root {
        return;
    }
    let Some(m) = obj(meta) else { return };
    let mut extra = false;
    for (k, v) in m {
        match k.as_str() {
            // ignored like upstream (type checked above; defaults are forbidden elsewhere)
            "type" | "default" => {}
            "properties" => {
                let p = v.as_object();
                let only_names =
                    p.is_some_and(|p| p.keys().all(|k| k == "name" || k == "generateName"));
                if !only_names {
                    extra = true;
                }
            }
            // zero values do not count
            _ if v == &Value::Bool(false) || v.is_null() => {}
            "description" | "title" | "format" | "pattern"
                if v == &Value::String(String::new()) => {}
            _ => extra = true,
        }
    }
    if extra {
        errs.push(field::forbidden(
            path,
            "must not specify anything other than name and generateName, but metadata is implicitly specified",
        ));
    }
}

fn value_validation(
    v: &Value,
    skip_any_of: bool,
    skip_first_all_of_any_of: bool,
    lvl: Level,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    if !skip_any_of {
        for (i, x) in list(v, "anyOf").iter().enumerate() {
            nested(x, false, lvl, &path.child("anyOf").index(i), errs);
        }
    }
    for (i, x) in list(v, "allOf").iter().enumerate() {
        nested(
            x,
            skip_first_all_of_any_of && i == 0,
            lvl,
            &path.child("allOf").index(i),
            errs,
        );
    }
    for (i, x) in list(v, "oneOf").iter().enumerate() {
        nested(x, false, lvl, &path.child("oneOf").index(i), errs);
    }
    if let Some(not) = v.get("not").filter(|n| n.is_object()) {
        nested(not, false, lvl, &path.child("not"), errs);
    }
    if let Some(p) = v
        .get("pattern")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
    {
        if let Err(e) = compile_pattern(p) {
            let detail = format!("must be a valid regular expression, but isn't: {e}");
            errs.push(field::invalid_str(&path.child("pattern"), p, &detail));
        }
    }
}

/// A schema under allOf/anyOf/oneOf/not: only value validations are allowed.
fn nested(v: &Value, skip_any_of: bool, lvl: Level, path: &Path, errs: &mut Vec<FieldError>) {
    if !v.is_object() {
        return;
    }
    value_validation(v, skip_any_of, false, lvl, path, errs);
    if let Some(it) = items(v) {
        nested(it, false, lvl, &path.child("items"), errs);
    }
    if let Some(p) = props(v) {
        for (k, x) in p {
            nested(
                x,
                false,
                Level::Field,
                &path.child("properties").key(k),
                errs,
            );
        }
    }
    let forbid = |errs: &mut Vec<FieldError>, key: &str, msg: &str| {
        errs.push(field::forbidden(&path.child(key), msg));
    };
    if !s(v, "type").is_empty() {
        forbid(errs, "type", "must be empty to be structural");
    }
    if v.get("additionalProperties").is_some() {
        forbid(
            errs,
            "additionalProperties",
            "must be undefined to be structural",
        );
    }
    if v.get("default").is_some_and(|d| !d.is_null()) {
        forbid(errs, "default", "must be undefined to be structural");
    }
    if !s(v, "title").is_empty() {
        forbid(errs, "title", "must be empty to be structural");
    }
    if !s(v, "description").is_empty() {
        forbid(errs, "description", "must be empty to be structural");
    }
    if flag(v, "nullable") {
        forbid(errs, "nullable", "must be false to be structural");
    }
    for ext in [
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-embedded-resource",
        "x-kubernetes-int-or-string",
    ] {
        if flag(v, ext) {
            forbid(errs, ext, "must be false to be structural");
        }
    }
    if !list(v, "x-kubernetes-list-map-keys").is_empty() {
        forbid(
            errs,
            "x-kubernetes-list-map-keys",
            "must be empty to be structural",
        );
    }
    for ext in ["x-kubernetes-list-type", "x-kubernetes-map-type"] {
        if v.get(ext).is_some_and(|x| !x.is_null()) {
            forbid(errs, ext, "must be undefined to be structural");
        }
    }
    if !list(v, "x-kubernetes-validations").is_empty() {
        forbid(
            errs,
            "x-kubernetes-validations",
            "must be empty to be structural",
        );
    }
    if props(v).is_some_and(|p| p.contains_key("metadata")) {
        errs.push(field::forbidden(
            &path.child("properties").key("metadata"),
            "must not be specified in a nested context",
        ));
    }
}

/// Every field or array a value validation mentions must exist in the structure.
/// Upstream checks the root's value validations only.
fn completeness(v: &Value, s: &Value, s_path: &Path, v_path: &Path, errs: &mut Vec<FieldError>) {
    if let Some(not) = v.get("not").filter(|n| n.is_object()) {
        nested_completeness(not, Some(s), s_path, &v_path.child("not"), errs);
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        for (i, x) in list(v, key).iter().enumerate() {
            nested_completeness(x, Some(s), s_path, &v_path.child(key).index(i), errs);
        }
    }
}

fn nested_completeness(
    v: &Value,
    s: Option<&Value>,
    s_path: &Path,
    v_path: &Path,
    errs: &mut Vec<FieldError>,
) {
    let Some(s) = s else {
        errs.push(field::required(
            s_path,
            &format!("because it is defined in {}", v_path.as_str()),
        ));
        return;
    };
    completeness(v, s, s_path, v_path, errs);
    if let Some(it) = items(v) {
        nested_completeness(
            it,
            items(s),
            &s_path.child("items"),
            &v_path.child("items"),
            errs,
        );
    }
    if let Some(p) = props(v) {
        for (k, x) in p {
            let vp = v_path.child("properties").key(k);
            match props(s).and_then(|sp| sp.get(k)) {
                Some(sf) => {
                    nested_completeness(x, Some(sf), &s_path.child("properties").key(k), &vp, errs)
                }
                None => errs.push(field::required(
                    &s_path.child("properties").key(k),
                    &format!("because it is defined in {}", vp.as_str()),
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errs(schema: Value) -> Vec<String> {
        validate(&Path::new("spec.validation.openAPIV3Schema"), &schema)
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn structural_schema_passes() {
        let ok = json!({"type":"object","properties":{
            "apiVersion":{"type":"string"},"kind":{"type":"string"},
            "metadata":{"type":"object","properties":{"name":{"type":"string","maxLength":10}}},
            "spec":{"type":"object","properties":{
                "port":{"x-kubernetes-int-or-string":true,"anyOf":[{"type":"integer"},{"type":"string"}]},
                "any":{"x-kubernetes-preserve-unknown-fields":true},
                "labels":{"type":"object","additionalProperties":{"type":"string"}},
                "list":{"type":"array","items":{"type":"string"}}
            },"oneOf":[{"required":["port"]},{"required":["any"]}]}
        },"anyOf":[{"properties":{"spec":{"required":["list"]}}}]});
        assert_eq!(errs(ok), Vec::<String>::new());
    }

    #[test]
    fn missing_types_and_items() {
        let bad = json!({"type":"object","properties":{"spec":{"properties":{
            "list":{"type":"array"},"x":{"type":"array","items":{}}}}}});
        assert_eq!(
            errs(bad),
            vec![
                "spec.validation.openAPIV3Schema.properties[spec].properties[list].items: Required value: must be specified",
                "spec.validation.openAPIV3Schema.properties[spec].properties[x].items.type: Required value: must not be empty for specified array items",
                "spec.validation.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields",
            ]
        );
        assert_eq!(
            errs(json!({"properties":{}})),
            vec!["spec.validation.openAPIV3Schema.type: Required value: must not be empty at the root"]
        );
    }

    #[test]
    fn value_validations_must_not_be_structural() {
        let bad = json!({"type":"object","properties":{"a":{"type":"string"}},
            "anyOf":[{"type":"object","description":"d","properties":{"b":{"nullable":true}}}]});
        assert_eq!(
            errs(bad),
            vec![
                "spec.validation.openAPIV3Schema.anyOf[0].description: Forbidden: must be empty to be structural",
                "spec.validation.openAPIV3Schema.anyOf[0].properties[b].nullable: Forbidden: must be false to be structural",
                "spec.validation.openAPIV3Schema.anyOf[0].type: Forbidden: must be empty to be structural",
                "spec.validation.openAPIV3Schema.properties[b]: Required value: because it is defined in spec.validation.openAPIV3Schema.anyOf[0].properties[b]",
            ]
        );
    }

    #[test]
    fn metadata_root_and_embedded_rules() {
        let bad = json!({"type":"object","additionalProperties":{"type":"string"},"properties":{
            "metadata":{"type":"object","properties":{"labels":{"type":"object"}}},
            "kind":{"type":"integer"},
            "t":{"type":"object","x-kubernetes-embedded-resource":true}}});
        assert_eq!(
            errs(bad),
            vec![
                "spec.validation.openAPIV3Schema.additionalProperties: Forbidden: must not be used at the root",
                "spec.validation.openAPIV3Schema.properties[kind].type: Invalid value: \"integer\": must be string",
                "spec.validation.openAPIV3Schema.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified",
                "spec.validation.openAPIV3Schema.properties[t].properties: Required value: must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
            ]
        );
    }

    #[test]
    fn bad_pattern_and_int_or_string_conflict() {
        let bad = json!({"type":"object","properties":{
            "p":{"type":"string","pattern":"("},
            "q":{"x-kubernetes-int-or-string":true,"x-kubernetes-preserve-unknown-fields":true}}});
        let e = errs(bad);
        assert!(e[0].starts_with("spec.validation.openAPIV3Schema.properties[p].pattern: Invalid value: \"(\": must be a valid regular expression, but isn't: "), "{e:?}");
        assert_eq!(e[1], "spec.validation.openAPIV3Schema.properties[q].x-kubernetes-preserve-unknown-fields: Invalid value: true: must be false if x-kubernetes-int-or-string is true");
    }
}
