//! Dropping unknown fields (upstream `schema/pruning`): what the schema does not specify goes,
//! except under `x-kubernetes-preserve-unknown-fields: true` and the TypeMeta/ObjectMeta fields
//! of the root and of embedded resources.

use serde_json::Value;

use crate::schema::Node;

const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// Prunes `obj` (a whole object when `resource_root`); returns the dropped paths, sorted,
/// spelled as upstream's unknown-field warnings spell them (`spec.foo`, `spec.list[0].bar`).
pub(crate) fn prune(obj: &mut Value, node: &Node, resource_root: bool) -> Vec<String> {
    let mut pruned = Vec::new();
    walk(
        obj,
        Some(node),
        resource_root,
        &mut String::new(),
        &mut pruned,
    );
    pruned.sort();
    pruned
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// `embedded` forces the meta-field exemption (for the resource root).
fn walk(
    x: &mut Value,
    node: Option<&Node>,
    embedded: bool,
    path: &mut String,
    out: &mut Vec<String>,
) {
    if let Some(n) = node {
        if n.preserve_unknown {
            skip_walk(x, n, embedded, path, out);
            return;
        }
    }
    match x {
        Value::Object(map) => {
            let Some(n) = node else {
                // no schema: everything below goes, unrecorded (the parent key was recorded)
                map.clear();
                return;
            };
            let is_embedded = embedded || n.embedded;
            let mut drop = Vec::new();
            for (k, v) in map.iter_mut() {
                if is_embedded && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                if let Some(p) = n.properties.get(k) {
                    walk(v, Some(p), false, &mut join(path, k), out);
                } else if let Some(add) = &n.additional {
                    let add = match add {
                        crate::schema::Additional::Schema(s) => Some(&**s),
                        crate::schema::Additional::Allows(_) => None,
                    };
                    walk(v, add, false, &mut join(path, k), out);
                } else {
                    if !META_FIELDS.contains(&k.as_str()) || !path.is_empty() {
                        out.push(join(path, k));
                    }
                    drop.push(k.clone());
                }
            }
            for k in drop {
                map.shift_remove(&k);
            }
        }
        Value::Array(items) => {
            let item_node = node.and_then(|n| n.items.as_deref());
            for (i, v) in items.iter_mut().enumerate() {
                walk(v, item_node, false, &mut format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Under preserve-unknown-fields: known fields are still pruned below, unknown ones stay.
fn skip_walk(x: &mut Value, n: &Node, embedded: bool, path: &mut String, out: &mut Vec<String>) {
    let is_embedded = embedded || n.embedded;
    match x {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_embedded && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                if let Some(p) = n.properties.get(k) {
                    walk(v, Some(p), false, &mut join(path, k), out);
                } else if let Some(add) = n.additional_schema() {
                    walk(v, Some(add), false, &mut join(path, k), out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_node) = n.items.as_deref() {
                for (i, v) in items.iter_mut().enumerate() {
                    skip_walk(v, item_node, false, &mut format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}
