//! Schema-aware walks over objects for server-side apply: field sets, comparison, merging
//! and removal, following `sigs.k8s.io/structured-merge-diff` semantics.

use crate::error::ApplyError;
use crate::fieldpath::{FieldSet, PathElement};
use crate::schema::{ListDef, ListKind, MergeKeyTable, Ty};
use serde_json::{Map, Value};

/// Metadata fields the server owns; they never appear in managed field sets.
const SERVER_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "name",
    "namespace",
];

/// Defaults of list-map key fields the OpenAPI schema declares, so `{containerPort: 80}`
/// and the defaulted live `{containerPort: 80, protocol: TCP}` are the same item.
const KEY_DEFAULTS: &[(&str, &str)] = &[("protocol", "\"TCP\"")];

/// Whether a path is excluded from field tracking (type meta and server-owned metadata).
pub(crate) fn ignored(path: &[PathElement]) -> bool {
    match path {
        [PathElement::Field(f)] => f == "apiVersion" || f == "kind",
        [PathElement::Field(m), PathElement::Field(f)] => {
            m == "metadata" && SERVER_METADATA.contains(&f.as_str())
        }
        _ => false,
    }
}

/// How a value is walked.
enum Shape {
    /// Owned as a whole: scalars, atomic lists/maps/structs, schemaless lists.
    Leaf,
    /// A struct (fields do not make the node itself a member).
    Struct(Ty),
    /// A granular map (the map node is itself tracked, like upstream's `.` entries).
    Map(Ty),
    /// A set or list-map.
    List(&'static ListDef),
}

fn shape(table: &MergeKeyTable, ty: Ty, value: &Value) -> Shape {
    match (ty, value) {
        (Ty::Struct(i), Value::Object(_)) if !table.struct_def(i).is_some_and(|s| s.atomic) => {
            Shape::Struct(ty)
        }
        (Ty::Map(m), Value::Object(_)) if !m.atomic => Shape::Map(ty),
        (Ty::List(l), Value::Array(_)) if l.kind != ListKind::Atomic => Shape::List(l),
        // Schemaless objects (custom resources) are granular maps, lists atomic: "deduced" types.
        (Ty::Scalar, Value::Object(_)) => Shape::Map(ty),
        _ => Shape::Leaf,
    }
}

fn item_type(list: &ListDef) -> Ty {
    list.item
}

/// The path element identifying a list item; None when a list-map item lacks all key fields.
pub(crate) fn item_element(list: &ListDef, item: &Value) -> Option<PathElement> {
    match list.kind {
        ListKind::Set => Some(PathElement::Value(item.to_string())),
        ListKind::Map => {
            let mut fields = Vec::with_capacity(list.keys.len());
            for key in list.keys {
                match item.get(*key) {
                    Some(v) if !v.is_null() => fields.push((key.to_string(), v.to_string())),
                    _ => {
                        if let Some((_, d)) = KEY_DEFAULTS.iter().find(|(k, _)| k == key) {
                            fields.push((key.to_string(), d.to_string()));
                        }
                    }
                }
            }
            fields.sort();
            let has_own_key = list
                .keys
                .iter()
                .any(|k| item.get(*k).is_some_and(|v| !v.is_null()));
            has_own_key.then_some(PathElement::Key(fields))
        }
        ListKind::Atomic => None,
    }
}

/// The fields set by `value` (upstream `ToFieldSet`): leaves and list items, not structs/maps.
pub(crate) fn to_field_set(
    table: &MergeKeyTable,
    ty: Ty,
    value: &Value,
) -> Result<FieldSet, ApplyError> {
    let mut out = FieldSet::new();
    let mut path = Vec::new();
    field_set_walk(table, ty, value, &mut path, &mut out)?;
    Ok(out)
}

fn field_set_walk(
    table: &MergeKeyTable,
    ty: Ty,
    value: &Value,
    path: &mut Vec<PathElement>,
    out: &mut FieldSet,
) -> Result<(), ApplyError> {
    match shape(table, ty, value) {
        Shape::Leaf => {
            if !path.is_empty() {
                out.insert(path);
            }
        }
        Shape::Struct(ty) | Shape::Map(ty) => {
            if let Value::Object(m) = value {
                for (k, v) in m {
                    path.push(PathElement::Field(k.clone()));
                    if !v.is_null() && !ignored(path) {
                        field_set_walk(table, table.child(ty, k).ty, v, path, out)?;
                    }
                    path.pop();
                }
            }
        }
        Shape::List(list) => {
            if let Value::Array(items) = value {
                for item in items {
                    let pe = item_element(list, item).ok_or_else(|| missing_key(list, path))?;
                    path.push(pe);
                    out.insert(path);
                    if item.is_object() {
                        field_set_walk(table, item_type(list), item, path, out)?;
                    }
                    path.pop();
                }
            }
        }
    }
    Ok(())
}

fn missing_key(list: &ListDef, path: &[PathElement]) -> ApplyError {
    ApplyError::Invalid(format!(
        "{}: associative list with keys has an element that omits key field {:?}",
        crate::fieldpath::path_string(path),
        list.keys.first().copied().unwrap_or_default()
    ))
}

/// Paths added, modified and removed going from one object to another.
#[derive(Debug, Default)]
pub(crate) struct Comparison {
    /// Present only in the new object.
    pub added: FieldSet,
    /// Leaves whose value changed.
    pub modified: FieldSet,
    /// Present only in the old object.
    pub removed: FieldSet,
}

/// Compares two objects of type `ty` (either may be absent).
pub(crate) fn compare(
    table: &MergeKeyTable,
    ty: Ty,
    old: Option<&Value>,
    new: Option<&Value>,
) -> Comparison {
    let mut c = Comparison::default();
    compare_walk(table, ty, old, new, &mut Vec::new(), &mut c);
    c
}

fn non_null(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

fn compare_walk<'v>(
    table: &MergeKeyTable,
    ty: Ty,
    old: Option<&'v Value>,
    new: Option<&'v Value>,
    path: &mut Vec<PathElement>,
    c: &mut Comparison,
) {
    let (old, new) = (non_null(old), non_null(new));
    if let (Some(a), Some(b)) = (old, new) {
        // Equal subtrees add, modify and remove nothing: most of an updated object is unchanged.
        if a == b {
            return;
        }
    }
    let Some(sample) = new.or(old) else { return };
    let sh = shape(table, ty, sample);
    // A change of JSON kind (object vs list vs scalar) is a plain value change.
    let same_kind = match (old, new) {
        (Some(a), Some(b)) => std::mem::discriminant(a) == std::mem::discriminant(b),
        _ => true,
    };
    match sh {
        Shape::Struct(ty) | Shape::Map(ty) if same_kind => {
            if matches!(sh, Shape::Map(_)) && !path.is_empty() {
                mark_presence(old, new, path, c);
            }
            let empty = Map::new();
            let om = old.and_then(Value::as_object).unwrap_or(&empty);
            let nm = new.and_then(Value::as_object).unwrap_or(&empty);
            let keys: Vec<&String> = om
                .keys()
                .chain(nm.keys().filter(|k| !om.contains_key(*k)))
                .collect();
            for k in keys {
                path.push(PathElement::Field(k.clone()));
                if !ignored(path) {
                    compare_walk(table, table.child(ty, k).ty, om.get(k), nm.get(k), path, c);
                }
                path.pop();
            }
        }
        Shape::List(list) if same_kind => {
            let (oi, ni) = (keyed_items(list, old), keyed_items(list, new));
            let find =
                |items: &[(PathElement, &'v Value)], pe: &PathElement| -> Option<&'v Value> {
                    items.iter().find(|(p, _)| p == pe).map(|(_, v)| *v)
                };
            let mut pes: Vec<PathElement> = oi.iter().map(|(p, _)| p.clone()).collect();
            for (p, _) in &ni {
                if !pes.contains(p) {
                    pes.push(p.clone());
                }
            }
            for pe in pes {
                let (o, n) = (find(&oi, &pe), find(&ni, &pe));
                path.push(pe);
                match list.kind {
                    ListKind::Set => mark_presence(o, n, path, c),
                    _ => {
                        mark_presence(o, n, path, c);
                        compare_walk(table, item_type(list), o, n, path, c);
                    }
                }
                path.pop();
            }
        }
        _ => match (old, new) {
            (None, Some(_)) => c.added.insert(path),
            (Some(_), None) => c.removed.insert(path),
            (Some(a), Some(b)) if a != b => c.modified.insert(path),
            _ => {}
        },
    }
}

/// A list's items with the path element each is known by (its key, else its index).
fn keyed_items<'v>(list: &ListDef, v: Option<&'v Value>) -> Vec<(PathElement, &'v Value)> {
    v.and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    (
                        item_element(list, item).unwrap_or(PathElement::Index(i)),
                        item,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn mark_presence(
    old: Option<&Value>,
    new: Option<&Value>,
    path: &[PathElement],
    c: &mut Comparison,
) {
    match (old, new) {
        (None, Some(_)) => c.added.insert(path),
        (Some(_), None) => c.removed.insert(path),
        _ => {}
    }
}

/// Merges an apply configuration into a live value (upstream typed `Merge`).
pub(crate) fn merge(
    table: &MergeKeyTable,
    ty: Ty,
    live: Option<&Value>,
    config: &Value,
) -> Result<Value, ApplyError> {
    match shape(table, ty, config) {
        Shape::Leaf => Ok(config.clone()),
        Shape::Struct(ty) | Shape::Map(ty) => {
            let mut out = match live {
                Some(Value::Object(m)) => m.clone(),
                _ => Map::new(),
            };
            if let Value::Object(cm) = config {
                for (k, v) in cm {
                    if v.is_null() {
                        continue;
                    }
                    let merged = merge(table, table.child(ty, k).ty, out.get(k), v)?;
                    out.insert(k.clone(), merged);
                }
            }
            Ok(Value::Object(out))
        }
        Shape::List(list) => merge_list(
            table,
            list,
            live.and_then(Value::as_array),
            config.as_array().map_or(&[][..], Vec::as_slice),
        ),
    }
}

/// Merges associative lists keeping live order and placing config items where upstream does.
fn merge_list(
    table: &MergeKeyTable,
    list: &'static ListDef,
    live: Option<&Vec<Value>>,
    config: &[Value],
) -> Result<Value, ApplyError> {
    let live = live.map_or(&[][..], Vec::as_slice);
    let mut rhs = Vec::with_capacity(config.len());
    for item in config {
        let pe = item_element(list, item).ok_or_else(|| missing_key(list, &[]))?;
        if rhs.iter().any(|(p, _)| *p == pe) {
            return Err(ApplyError::Invalid(format!(
                "duplicate entries for key {pe}"
            )));
        }
        rhs.push((pe, item));
    }
    let lhs: Vec<(PathElement, &Value)> = live
        .iter()
        .enumerate()
        .map(|(i, item)| {
            (
                item_element(list, item).unwrap_or(PathElement::Index(i)),
                item,
            )
        })
        .collect();
    let in_rhs = |pe: &PathElement| rhs.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
    let in_lhs = |pe: &PathElement| lhs.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
    let shared: Vec<&PathElement> = rhs
        .iter()
        .map(|(p, _)| p)
        .filter(|p| in_lhs(p).is_some())
        .collect();
    let mut next_shared = 0usize;
    let mut merged_rhs: Vec<PathElement> = Vec::new();
    let mut out = Vec::with_capacity(lhs.len() + rhs.len());
    let merge_item = |l: Option<&Value>, r: &Value| -> Result<Value, ApplyError> {
        if list.kind == ListKind::Set {
            Ok(r.clone())
        } else {
            merge(table, list.item, l, r)
        }
    };
    let (mut li, mut ri) = (0usize, 0usize);
    while li < lhs.len() || ri < rhs.len() {
        if let (Some((lpe, lv)), Some((rpe, rv))) = (lhs.get(li), rhs.get(ri)) {
            if lpe == rpe {
                merged_rhs.push(lpe.clone());
                out.push(merge_item(Some(lv), rv)?);
                li += 1;
                ri += 1;
                if shared.get(next_shared) == Some(&rpe) {
                    next_shared += 1;
                }
                continue;
            }
            if in_rhs(lpe).is_some() && shared.get(next_shared).is_some_and(|s| *s != lpe) {
                li += 1;
                continue;
            }
        }
        if let Some((lpe, lv)) = lhs.get(li) {
            if in_rhs(lpe).is_none() {
                out.push((*lv).clone());
                li += 1;
                continue;
            }
            if merged_rhs.contains(lpe) {
                li += 1;
                continue;
            }
        }
        if let Some((rpe, rv)) = rhs.get(ri) {
            merged_rhs.push(rpe.clone());
            out.push(merge_item(in_lhs(rpe), rv)?);
            ri += 1;
            if shared.get(next_shared) == Some(&rpe) {
                next_shared += 1;
            }
        }
    }
    Ok(Value::Array(out))
}

/// Removes the value at `path` from `value` (no-op when absent).
pub(crate) fn remove_path(table: &MergeKeyTable, ty: Ty, value: &mut Value, path: &[PathElement]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    match (first, value) {
        (PathElement::Field(name), Value::Object(m)) => {
            if rest.is_empty() {
                m.shift_remove(name);
            } else if let Some(child) = m.get_mut(name) {
                remove_path(table, table.child(ty, name).ty, child, rest);
            }
        }
        (pe, Value::Array(items)) => {
            let Ty::List(list) = ty else { return };
            let position = items.iter().enumerate().position(|(i, item)| match pe {
                PathElement::Index(n) => *n == i,
                _ => item_element(list, item).as_ref() == Some(pe),
            });
            let Some(i) = position else { return };
            if rest.is_empty() {
                items.remove(i);
            } else if let Some(item) = items.get_mut(i) {
                remove_path(table, list.item, item, rest);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn containers_type(table: &MergeKeyTable) -> Ty {
        table
            .field("v1", "Pod", &["spec", "containers"])
            .map_or(Ty::Scalar, |f| f.ty)
    }

    fn names(v: &Value) -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| i["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn list_merge_follows_config_order_for_shared_items() {
        let t = MergeKeyTable::builtin();
        let ty = containers_type(&t);
        let live = json!([{"name": "a"}, {"name": "b"}, {"name": "c"}]);
        let out = merge(&t, ty, Some(&live), &json!([{"name": "c"}, {"name": "a"}])).unwrap();
        assert_eq!(names(&out), ["b", "c", "a"]);
        let live = json!([{"name": "a", "image": "i"}, {"name": "b"}]);
        let out = merge(&t, ty, Some(&live), &json!([{"name": "b"}, {"name": "x"}])).unwrap();
        assert_eq!(names(&out), ["a", "b", "x"]);
        assert_eq!(out[0]["image"], "i");
    }

    #[test]
    fn compare_reports_added_modified_removed() {
        let t = MergeKeyTable::builtin();
        let ty = t.root("v1", "Pod");
        let old = json!({"apiVersion": "v1", "metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"nodeName": "n1"}});
        let new = json!({"apiVersion": "v2", "metadata": {"labels": {"a": "1", "c": "3"}}, "spec": {"nodeName": "n2"}});
        let c = compare(&t, ty, Some(&old), Some(&new));
        let f = |s: &str| PathElement::Field(s.to_string());
        assert_eq!(
            c.added.members(),
            vec![vec![f("metadata"), f("labels"), f("c")]]
        );
        assert_eq!(
            c.removed.members(),
            vec![vec![f("metadata"), f("labels"), f("b")]]
        );
        assert_eq!(c.modified.members(), vec![vec![f("spec"), f("nodeName")]]);
    }

    #[test]
    fn field_set_of_sets_maps_and_atomics() {
        let t = MergeKeyTable::builtin();
        let ty = t.root("v1", "Pod");
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "finalizers": ["x"]},
            "spec": {"nodeSelector": {"a": "b"}, "tolerations": [{"key": "k"}]}});
        let set = to_field_set(&t, ty, &pod).unwrap();
        assert_eq!(
            set.to_fields_v1(),
            json!({"f:metadata": {"f:finalizers": {"v:\"x\"": {}}}, "f:spec": {"f:nodeSelector": {}, "f:tolerations": {}}})
        );
    }

    #[test]
    fn remove_path_handles_keys_values_and_fields() {
        let t = MergeKeyTable::builtin();
        let ty = t.root("v1", "Pod");
        let mut pod = json!({"metadata": {"finalizers": ["x", "y"]}, "spec": {"containers": [{"name": "a", "image": "i"}]}});
        remove_path(
            &t,
            ty,
            &mut pod,
            &[
                PathElement::Field("metadata".into()),
                PathElement::Field("finalizers".into()),
                PathElement::Value("\"x\"".into()),
            ],
        );
        let key = PathElement::Key(vec![("name".into(), "\"a\"".into())]);
        remove_path(
            &t,
            ty,
            &mut pod,
            &[
                PathElement::Field("spec".into()),
                PathElement::Field("containers".into()),
                key.clone(),
                PathElement::Field("image".into()),
            ],
        );
        assert_eq!(
            pod,
            json!({"metadata": {"finalizers": ["y"]}, "spec": {"containers": [{"name": "a"}]}})
        );
        remove_path(
            &t,
            ty,
            &mut pod,
            &[
                PathElement::Field("spec".into()),
                PathElement::Field("containers".into()),
                key,
            ],
        );
        remove_path(
            &t,
            ty,
            &mut pod,
            &[PathElement::Field("nope".into()), PathElement::Index(3)],
        );
        assert_eq!(pod["spec"]["containers"], json!([]));
    }
}
