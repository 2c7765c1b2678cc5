//! TypeMeta/ObjectMeta checks for `x-kubernetes-embedded-resource` values
//! (upstream `schema/objectmeta.Validate` with isResourceRoot=false).

use ferrokube_apimachinery::validation::{
    is_dns1035_label, validate_object_meta, FieldError, NameRule,
};
use serde_json::Value;

use crate::field::{self, Path};
use crate::schema::Node;

/// Causes for embedded resources anywhere below the root of `obj`.
pub(crate) fn validate(path: &Path, node: &Node, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    walk(path, node, obj, &mut errs, true);
    errs
}

fn walk(path: &Path, node: &Node, x: &Value, errs: &mut Vec<FieldError>, root: bool) {
    match x {
        Value::Object(m) => {
            if node.embedded && !root {
                embedded_resource(path, x, errs);
            }
            for (k, v) in m {
                if let Some(p) = node.properties.get(k) {
                    walk(&path.child(k), p, v, errs, false);
                } else if let Some(a) = node.additional_schema() {
                    walk(&path.key(k), a, v, errs, false);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = &node.items {
                for (i, v) in items.iter().enumerate() {
                    walk(&path.index(i), item_schema, v, errs, false);
                }
            }
        }
        _ => {}
    }
}

fn embedded_resource(path: &Path, x: &Value, errs: &mut Vec<FieldError>) {
    match x.get("apiVersion") {
        None => errs.push(field::required(&path.child("apiVersion"), "")),
        Some(Value::String(s)) if s.is_empty() => {
            errs.push(field::required(&path.child("apiVersion"), ""))
        }
        Some(Value::String(s)) => {
            if s.matches('/').count() > 1 {
                errs.push(field::invalid_str(
                    &path.child("apiVersion"),
                    s,
                    &format!("unexpected GroupVersion string: {s}"),
                ));
            }
        }
        Some(other) => errs.push(field::invalid(
            &path.child("apiVersion"),
            other,
            "must be a string",
        )),
    }
    match x.get("kind") {
        None => errs.push(field::required(&path.child("kind"), "")),
        Some(Value::String(s)) if s.is_empty() => {
            errs.push(field::required(&path.child("kind"), ""))
        }
        Some(Value::String(s)) => {
            let msgs = is_dns1035_label(&s.to_lowercase());
            if !msgs.is_empty() {
                let detail = format!(
                    "may have mixed case, but should otherwise match: {}",
                    msgs.join(",")
                );
                errs.push(field::invalid_str(&path.child("kind"), s, &detail));
            }
        }
        Some(other) => errs.push(field::invalid(
            &path.child("kind"),
            other,
            "must be a string",
        )),
    }
    match x.get("metadata") {
        None => {}
        Some(Value::Object(meta)) => {
            // Upstream fills a fake name so that a nameless embedded object validates.
            let mut meta = meta.clone();
            if meta
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                meta.insert("name".into(), Value::String("fakename".into()));
            }
            let namespaced = meta
                .get("namespace")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty());
            let wrapped = serde_json::json!({ "metadata": Value::Object(meta) });
            for mut e in validate_object_meta(&wrapped, namespaced, NameRule::PathSegment) {
                e.field = path.child(&e.field).as_str().to_owned();
                errs.push(e);
            }
        }
        Some(other) => errs.push(field::invalid(
            &path.child("metadata"),
            other,
            "must be an object",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn embedded_resource_needs_type_meta() {
        let s = Node::parse(
            &json!({"type":"object","properties":{"template":{"type":"object",
            "x-kubernetes-embedded-resource":true,"x-kubernetes-preserve-unknown-fields":true}}}),
        );
        let errs = validate(
            &Path::root(),
            &s,
            &json!({"template":{"metadata":{"name":"x"}}}),
        );
        let rendered: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            rendered,
            vec![
                "template.apiVersion: Required value",
                "template.kind: Required value"
            ]
        );
        let errs = validate(
            &Path::root(),
            &s,
            &json!({"template":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"Bad/Name"}}}),
        );
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].field.starts_with("template.metadata.name"),
            "{:?}",
            errs
        );
        // the root itself is not checked here (the registry validates root metadata)
        assert!(validate(&Path::root(), &s, &json!({})).is_empty());
    }
}
