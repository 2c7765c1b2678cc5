//! Field paths and field sets in the `FieldsV1` encoding of `metadata.managedFields`
//! (`f:<field>`, `k:<keys-json>`, `v:<value-json>`, `i:<index>`, `.` for the node itself).

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PathElement {
    /// A struct field or map key.
    Field(String),
    /// A list-map item, identified by its key fields (sorted by name; values as JSON text).
    Key(Vec<(String, String)>),
    /// A set item, identified by its value (JSON text).
    Value(String),
    /// A list item by position (lists without keys).
    Index(usize),
}

impl PathElement {
    /// The `FieldsV1` key of this element.
    pub fn encode(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(fields) => {
                let mut m = Map::new();
                for (k, v) in fields {
                    m.insert(k.clone(), serde_json::from_str(v).unwrap_or(Value::Null));
                }
                format!("k:{}", Value::Object(m))
            }
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a `FieldsV1` key; None for `.` and malformed keys.
    pub fn decode(key: &str) -> Option<PathElement> {
        let (prefix, rest) = key.split_once(':')?;
        match prefix {
            "f" => Some(PathElement::Field(rest.to_string())),
            "k" => {
                let Value::Object(m) = serde_json::from_str::<Value>(rest).ok()? else {
                    return None;
                };
                let mut fields: Vec<(String, String)> =
                    m.into_iter().map(|(k, v)| (k, v.to_string())).collect();
                fields.sort();
                Some(PathElement::Key(fields))
            }
            "v" => serde_json::from_str::<Value>(rest)
                .ok()
                .map(|v| PathElement::Value(v.to_string())),
            "i" => rest.parse().ok().map(PathElement::Index),
            _ => None,
        }
    }
}

impl fmt::Display for PathElement {
    /// Upstream `fieldpath.Path` display form, used in conflict messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                let parts: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={v}]"),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// Renders a path like `.spec.containers[name="app"].image`.
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// A set of field paths, stored as a tree; a node is a member when the path to it is in the set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    children: BTreeMap<PathElement, Node>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Node {
    member: bool,
    children: FieldSet,
}

impl FieldSet {
    /// An empty set.
    pub fn new() -> Self {
        FieldSet::default()
    }

    /// Whether the set has no members.
    pub fn is_empty(&self) -> bool {
        self.children
            .values()
            .all(|n| !n.member && n.children.is_empty())
    }

    /// Adds a path.
    pub fn insert(&mut self, path: &[PathElement]) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        let node = self.children.entry(first.clone()).or_default();
        if rest.is_empty() {
            node.member = true;
        } else {
            node.children.insert(rest);
        }
    }

    /// Whether the path is a member.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        let Some((first, rest)) = path.split_first() else {
            return false;
        };
        match self.children.get(first) {
            Some(node) if rest.is_empty() => node.member,
            Some(node) => node.children.contains(rest),
            None => false,
        }
    }

    /// Whether some member lies strictly below `path`.
    pub fn has_members_under(&self, path: &[PathElement]) -> bool {
        let Some((first, rest)) = path.split_first() else {
            return !self.is_empty();
        };
        self.children
            .get(first)
            .is_some_and(|n| n.children.has_members_under(rest))
    }

    /// Set union.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        for (pe, node) in &other.children {
            let mine = out.children.entry(pe.clone()).or_default();
            mine.member |= node.member;
            mine.children = mine.children.union(&node.children);
        }
        out
    }

    /// Members of `self` that are not members of `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        self.filter(&|path| !other.contains(path))
    }

    /// Members of both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        self.filter(&|path| other.contains(path))
    }

    fn filter(&self, keep: &dyn Fn(&[PathElement]) -> bool) -> FieldSet {
        let mut out = FieldSet::new();
        for path in self.members() {
            if keep(&path) {
                out.insert(&path);
            }
        }
        out
    }

    /// Every member path, in sorted order.
    pub fn members(&self) -> Vec<Vec<PathElement>> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        for (pe, node) in &self.children {
            prefix.push(pe.clone());
            if node.member {
                out.push(prefix.clone());
            }
            node.children.collect(prefix, out);
            prefix.pop();
        }
    }

    /// Encodes as a `fieldsV1` object.
    pub fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        for (pe, node) in &self.children {
            let mut inner = match node.children.to_fields_v1() {
                Value::Object(inner) => inner,
                _ => Map::new(),
            };
            if node.member && !inner.is_empty() {
                inner.insert(".".to_string(), Value::Object(Map::new()));
                inner.sort_keys();
            }
            m.insert(pe.encode(), Value::Object(inner));
        }
        Value::Object(m)
    }

    /// Decodes a `fieldsV1` object; malformed keys are skipped.
    pub fn from_fields_v1(value: &Value) -> FieldSet {
        let mut out = FieldSet::new();
        if let Some(m) = value.as_object() {
            for (key, child) in m {
                let Some(pe) = PathElement::decode(key) else {
                    continue;
                };
                let children = FieldSet::from_fields_v1(child);
                let is_leaf = child.as_object().is_none_or(|c| c.is_empty());
                let has_dot = child.as_object().is_some_and(|c| c.contains_key("."));
                out.children.insert(
                    pe,
                    Node {
                        member: is_leaf || has_dot,
                        children,
                    },
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str) -> PathElement {
        PathElement::Field(name.to_string())
    }

    #[test]
    fn fields_v1_round_trip() {
        let v = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}}},
                       "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}}}},
            "f:finalizers": {"v:\"a\"": {}}
        });
        let set = FieldSet::from_fields_v1(&v);
        assert!(set.contains(&[f("metadata"), f("labels")]));
        assert!(set.contains(&[f("metadata"), f("labels"), f("app")]));
        assert!(!set.contains(&[f("metadata")]));
        assert!(set.contains(&[f("finalizers"), PathElement::Value("\"a\"".into())]));
        let key = PathElement::Key(vec![("name".into(), "\"app\"".into())]);
        assert!(set.contains(&[f("spec"), f("containers"), key.clone(), f("image")]));
        assert_eq!(
            path_string(&[f("spec"), f("containers"), key, f("image")]),
            ".spec.containers[name=\"app\"].image"
        );
        assert_eq!(FieldSet::from_fields_v1(&set.to_fields_v1()), set);
        assert_eq!(
            set.to_fields_v1()["f:metadata"],
            json!({"f:labels": {".": {}, "f:app": {}}})
        );
    }

    #[test]
    fn set_algebra() {
        let mut a = FieldSet::new();
        a.insert(&[f("a"), f("b")]);
        a.insert(&[f("a"), f("c")]);
        let mut b = FieldSet::new();
        b.insert(&[f("a"), f("c")]);
        b.insert(&[f("d")]);
        assert_eq!(a.intersection(&b).members(), vec![vec![f("a"), f("c")]]);
        assert_eq!(a.difference(&b).members(), vec![vec![f("a"), f("b")]]);
        assert_eq!(a.union(&b).members().len(), 3);
        assert!(a.has_members_under(&[f("a")]));
        assert!(!a.has_members_under(&[f("a"), f("b")]));
        assert!(a.difference(&a).is_empty());
        assert_eq!(PathElement::Value("1".into()).to_string(), "[=1]");
        assert_eq!(PathElement::decode("i:3"), Some(PathElement::Index(3)));
        assert_eq!(PathElement::decode("x:3"), None);
    }
}
