//! Structural defaulting (upstream `schema/defaulting`): first drop `null`s of non-nullable
//! fields that have no default (`PruneNonNullableNullsWithoutDefaults`), then fill defaults
//! top-down (`Default`). Both are idempotent.

use serde_json::Value;

use crate::schema::Node;

/// Applies both steps in place.
pub(crate) fn apply(obj: &mut Value, node: &Node) {
    prune_non_nullable_nulls(obj, node);
    default(obj, Some(node));
}

fn drops_null(v: &Value, s: &Node) -> bool {
    v.is_null() && s.default.is_none() && !s.nullable
}

fn prune_non_nullable_nulls(x: &mut Value, node: &Node) {
    match x {
        Value::Object(map) => {
            let mut drop = Vec::new();
            for (k, v) in map.iter_mut() {
                let sub = node.properties.get(k).or_else(|| node.additional_schema());
                let Some(sub) = sub else { continue };
                if drops_null(v, sub) {
                    drop.push(k.clone());
                } else {
                    prune_non_nullable_nulls(v, sub);
                }
            }
            for k in drop {
                map.shift_remove(&k);
            }
        }
        Value::Array(items) => {
            if let Some(item) = &node.items {
                for v in items.iter_mut() {
                    prune_non_nullable_nulls(v, item);
                }
            }
        }
        _ => {}
    }
}

fn is_non_nullable_null(v: &Value, s: Option<&Node>) -> bool {
    v.is_null() && s.is_some_and(|s| !s.nullable)
}

fn default(x: &mut Value, node: Option<&Node>) {
    let Some(node) = node else { return };
    match x {
        Value::Object(map) => {
            for (k, prop) in &node.properties {
                let Some(d) = &prop.default else { continue };
                let missing = map
                    .get(k)
                    .is_none_or(|v| is_non_nullable_null(v, Some(prop)));
                if missing {
                    map.insert(k.clone(), d.clone());
                }
            }
            let add = node.additional_schema();
            for (k, v) in map.iter_mut() {
                if let Some(prop) = node.properties.get(k) {
                    default(v, Some(prop));
                } else if node.additional.is_some() {
                    if let Some(d) = add.and_then(|a| a.default.as_ref()) {
                        if is_non_nullable_null(v, add) {
                            *v = d.clone();
                        }
                    }
                    default(v, add);
                }
            }
        }
        Value::Array(items) => {
            let item = node.items.as_deref();
            for v in items.iter_mut() {
                if let Some(d) = item.and_then(|i| i.default.as_ref()) {
                    if is_non_nullable_null(v, item) {
                        *v = d.clone();
                    }
                }
                default(v, item);
            }
        }
        _ => {}
    }
}
