//! structured-merge-diff's rendering of a field's path, as its errors print it
//! (`.spec.containers[name="app"].imagePulPolicy`): list-map items by their keys, set items by
//! value, other list items by index.

use serde_json::Value;

use crate::fieldpath::{path_string, PathElement};
use crate::schema::{MergeKeyTable, Ty};
use crate::typed::item_element;

/// The typed path of `dotted` (`spec.containers[0].imagePulPolicy`, list items as `[i]`) in
/// `obj`, an object of type `root`.
pub fn typed_path(table: &MergeKeyTable, root: Ty, obj: &Value, dotted: &str) -> String {
    let mut elements = Vec::new();
    let (mut ty, mut node, mut rest) = (root, Some(obj), dotted);
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let (index, tail) = after.split_once(']').unwrap_or((after, ""));
            let i: usize = index.parse().unwrap_or(0);
            let item = node.and_then(|n| n.get(i));
            let element = match (ty, item) {
                (Ty::List(list), Some(item)) => {
                    ty = list.item;
                    item_element(list, item).unwrap_or(PathElement::Index(i))
                }
                _ => PathElement::Index(i),
            };
            elements.push(element);
            node = item;
            rest = tail.strip_prefix('.').unwrap_or(tail);
            continue;
        }
        let key = field_at(node, rest);
        elements.push(PathElement::Field(key.to_string()));
        ty = table.child(ty, key).ty;
        node = node.and_then(|n| n.get(key));
        let tail = &rest[key.len()..];
        rest = tail.strip_prefix('.').unwrap_or(tail);
    }
    path_string(&elements)
}

/// The next field name of `rest`: the longest key of `node` it starts with (keys may hold dots,
/// as label keys do), else everything up to the next `.` or `[`.
fn field_at<'a>(node: Option<&Value>, rest: &'a str) -> &'a str {
    let ends_here = |k: &str| {
        rest == k
            || rest
                .strip_prefix(k)
                .is_some_and(|t| t.starts_with('.') || t.starts_with('['))
    };
    let known = node
        .and_then(Value::as_object)
        .and_then(|m| m.keys().filter(|k| ends_here(k)).max_by_key(|k| k.len()));
    match known {
        Some(k) => &rest[..k.len()],
        None => rest.split(['.', '[']).next().unwrap_or(rest),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn list_map_items_are_named_by_their_keys() {
        let table = MergeKeyTable::builtin();
        let pod = json!({"spec": {"containers": [{"name": "c", "image": "busybox",
            "ports": [{"containerPort": 80, "protocol": "TCP", "bogus": 1}]}],
            "args": ["a"]}, "metadata": {"labels": {"app.kubernetes.io/name": "x"}}});
        let root = table.root("v1", "Pod");
        assert_eq!(
            typed_path(&table, root, &pod, "spec.containers[0].imagePulPolicy"),
            ".spec.containers[name=\"c\"].imagePulPolicy"
        );
        assert_eq!(
            typed_path(&table, root, &pod, "spec.containers[0].ports[0].bogus"),
            ".spec.containers[name=\"c\"].ports[containerPort=80,protocol=\"TCP\"].bogus"
        );
        assert_eq!(
            typed_path(
                &table,
                root,
                &pod,
                "metadata.labels.app.kubernetes.io/name.x"
            ),
            ".metadata.labels.app.kubernetes.io/name.x"
        );
        assert_eq!(
            typed_path(&table, root, &pod, "unknownField"),
            ".unknownField"
        );
    }
}
