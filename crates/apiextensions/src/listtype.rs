//! Uniqueness of `x-kubernetes-list-type: set|map` lists (upstream `listtype.ValidateListSetsAndMaps`).

use ferrokube_apimachinery::validation::FieldError;
use serde_json::{Map, Value};

use crate::field::{self, Path};
use crate::schema::Node;

/// Duplicate items of set lists and duplicate keys of map lists, anywhere in `obj`.
pub(crate) fn validate(path: &Path, node: &Node, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Value::Object(m) = obj {
        object(path, node, m, &mut errs);
    }
    errs
}

fn object(path: &Path, node: &Node, obj: &Map<String, Value>, errs: &mut Vec<FieldError>) {
    if let Some(add) = node.additional_schema() {
        for (k, v) in obj {
            value(&path.key(k), add, v, errs);
        }
    }
    for (k, v) in obj {
        if let Some(sub) = node.properties.get(k) {
            value(&path.child(k), sub, v, errs);
        }
    }
}

fn value(path: &Path, node: &Node, v: &Value, errs: &mut Vec<FieldError>) {
    match v {
        Value::Array(items) => array(path, node, items, errs),
        Value::Object(m) => object(path, node, m, errs),
        _ => {}
    }
}

fn array(path: &Path, node: &Node, items: &[Value], errs: &mut Vec<FieldError>) {
    match node.list_type.as_deref() {
        Some("set") => {
            for i in first_repeats(items) {
                errs.push(field::duplicate(&path.index(i), &items[i]));
            }
        }
        Some("map") => map_list(path, node, items, errs),
        _ => {}
    }
    if let Some(item_schema) = &node.items {
        for (i, item) in items.iter().enumerate() {
            value(&path.index(i), item_schema, item, errs);
        }
    }
}

/// Indices of the second appearance of each repeated value (upstream reports each once).
fn first_repeats(items: &[Value]) -> Vec<usize> {
    let mut seen: Vec<(String, usize)> = Vec::new();
    let mut out = Vec::new();
    for (i, x) in items.iter().enumerate() {
        let key = x.to_string();
        match seen.iter_mut().find(|(k, _)| *k == key) {
            Some((_, times)) => {
                *times += 1;
                if *times == 2 {
                    out.push(i);
                }
            }
            None => seen.push((key, 1)),
        }
    }
    out
}

fn map_list(path: &Path, node: &Node, items: &[Value], errs: &mut Vec<FieldError>) {
    for (i, x) in items.iter().enumerate() {
        if !x.is_null() && !x.is_object() {
            errs.push(field::invalid(
                &path.index(i),
                x,
                "must be an object for an array of list-type map",
            ));
            return;
        }
    }
    if items.len() <= 1 {
        return;
    }
    // The key of each item: the key fields it has (absent keys are simply left out).
    let keys: Vec<Value> = items
        .iter()
        .map(|x| {
            let mut key = Map::new();
            for k in &node.list_map_keys {
                if let Some(v) = x.get(k) {
                    key.insert(k.clone(), v.clone());
                }
            }
            Value::Object(key)
        })
        .collect();
    for i in first_repeats(&keys) {
        errs.push(field::duplicate(&path.index(i), &keys[i]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(v: Value) -> Node {
        Node::parse(&v)
    }

    #[test]
    fn set_duplicates_reported_once() {
        let s = node(json!({"type":"object","properties":{"tags":{"type":"array",
            "x-kubernetes-list-type":"set","items":{"type":"string"}}}}));
        let errs = validate(&Path::root(), &s, &json!({"tags":["a","b","a","a"]}));
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].to_string(), "tags[2]: Duplicate value: \"a\"");
        assert_eq!(errs[0].reason_str(), "FieldValueDuplicate");
    }

    #[test]
    fn map_duplicate_keys() {
        let s = node(
            json!({"type":"object","properties":{"spec":{"type":"object","properties":{
            "ports":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["name"],
            "items":{"type":"object","properties":{"name":{"type":"string"}}}}}}}}),
        );
        let obj = json!({"spec":{"ports":[{"name":"a"},{"name":"b"},{"name":"a","x":1}]}});
        let errs = validate(&Path::root(), &s, &obj);
        assert_eq!(
            errs[0].to_string(),
            "spec.ports[2]: Duplicate value: map[string]interface {}{\"name\":\"a\"}"
        );
        let bad = json!({"spec":{"ports":["x"]}});
        assert_eq!(
            validate(&Path::root(), &s, &bad)[0].to_string(),
            "spec.ports[0]: Invalid value: \"x\": must be an object for an array of list-type map"
        );
    }
}
