//! Upstream `defaulting.ValidateDefaults`: every `default` in the structure must be pruned
//! (no unknown fields) and valid against its own schema.

use ferrokube_apimachinery::validation::FieldError;
use serde_json::Value;

use crate::field::{self, Path};
use crate::schema::Node;
use crate::{embedded, prune, validate};

pub(crate) fn validate(path: &Path, schema: &Value, errs: &mut Vec<FieldError>) {
    walk(path, schema, errs);
}

fn walk(path: &Path, schema: &Value, errs: &mut Vec<FieldError>) {
    if !schema.is_object() {
        return;
    }
    let node = Node::parse(schema);
    if let Some(default) = node.default.as_ref().filter(|d| !d.is_null()) {
        let at = path.child("default");
        let mut pruned = default.clone();
        prune::prune(&mut pruned, &node, node.embedded);
        if &pruned != default {
            errs.push(field::invalid(&at, default, "must not have unknown fields"));
        } else {
            let meta = embedded::validate(&at, &node, default);
            if meta.is_empty() {
                errs.extend(validate::validate_value(&node, default, &at));
            } else {
                errs.extend(meta);
            }
        }
    }
    // additionalProperties is not followed: defaults are forbidden there
    if let Some(items) = schema.get("items").filter(|i| i.is_object()) {
        walk(&path.child("items"), items, errs);
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            walk(&path.child("properties").key(k), v, errs);
        }
    }
}
