//! Strategic merge patch, ported as behaviour from upstream `strategicpatch/patch.go`
//! (`StrategicMergeMapPatch`: parallel delete lists merged, unmatched nulls ignored).

use crate::error::MergeError;
use crate::schema::{FieldInfo, MergeKeyTable, Ty};
use serde_json::{Map, Value};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_PRIMITIVE_PREFIX: &str = "$deleteFromPrimitiveList";
const SET_ORDER_PREFIX: &str = "$setElementOrder";

/// Applies a strategic merge `patch` to `original`, whose type is `root`
/// (`table.root(apiVersion, kind)`; `Ty::Scalar` for unknown kinds gives JSON-merge-patch
/// behaviour). Both documents must be objects.
pub fn strategic_merge_patch(
    original: &Value,
    patch: &Value,
    table: &MergeKeyTable,
    root: Ty,
) -> Result<Value, MergeError> {
    let original = original
        .as_object()
        .ok_or(MergeError::NotAnObject("original"))?;
    let patch = patch.as_object().ok_or(MergeError::NotAnObject("patch"))?;
    let merger = Merger { table };
    merger
        .merge_map(original.clone(), patch.clone(), root)
        .map(Value::Object)
}

struct Merger<'a> {
    table: &'a MergeKeyTable,
}

/// Go's reflect kind of a decoded JSON value, which upstream compares to decide replace vs merge.
fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
    }
}

/// Strips `prefix/` from a directive key.
fn extract_key<'k>(key: &'k str, prefix: &str) -> Result<&'k str, MergeError> {
    match key.split_once('/') {
        Some((p, rest)) if p == prefix => Ok(rest),
        _ if prefix == DELETE_PRIMITIVE_PREFIX => Err(MergeError::BadPrimitiveList),
        _ => Err(MergeError::BadSetElementOrder),
    }
}

impl Merger<'_> {
    fn merge_map(
        &self,
        mut original: Map<String, Value>,
        mut patch: Map<String, Value>,
        ty: Ty,
    ) -> Result<Map<String, Value>, MergeError> {
        if let Some(directive) = patch.get(DIRECTIVE) {
            return match directive.as_str() {
                Some("replace") => {
                    patch.shift_remove(DIRECTIVE);
                    Ok(patch)
                }
                Some("delete") => Ok(Map::new()),
                _ => Err(MergeError::BadPatchType {
                    directive: directive.to_string(),
                    map: Value::Object(patch.clone()).to_string(),
                }),
            };
        }
        apply_retain_keys(&mut original, &mut patch)?;
        self.merge_set_element_order(&mut original, &mut patch, ty)?;

        // Parallel delete lists run after the merges so "add b, delete a" is order independent.
        let mut deletions = Vec::new();
        for (key, patch_value) in patch {
            if key.starts_with(DELETE_PRIMITIVE_PREFIX) {
                let target = extract_key(&key, DELETE_PRIMITIVE_PREFIX)?.to_string();
                deletions.push((target, patch_value));
                continue;
            }
            self.merge_key(&mut original, key, patch_value, ty, false)?;
        }
        for (key, patch_value) in deletions {
            self.merge_key(&mut original, key, patch_value, ty, true)?;
        }
        Ok(original)
    }

    fn merge_key(
        &self,
        original: &mut Map<String, Value>,
        key: String,
        patch_value: Value,
        ty: Ty,
        is_delete_list: bool,
    ) -> Result<(), MergeError> {
        if patch_value.is_null() {
            original.shift_remove(&key);
            return Ok(());
        }
        let info = self.table.child(ty, &key);
        let same_kind = match original.get(&key) {
            Some(current) => kind_name(current) == kind_name(&patch_value),
            None => false,
        };
        if !same_kind {
            // Absent or of another JSON type: take the patch value as is, cleaned of nulls
            // and directives (upstream `discardNullValuesFromPatch` + `removeDirectives`).
            // Deleting from an absent list is a no-op.
            if !is_delete_list {
                match take_patch_value(patch_value) {
                    Some(value) => {
                        original.insert(key, value);
                    }
                    None => {
                        original.shift_remove(&key);
                    }
                }
            }
            return Ok(());
        }
        let Some(original_value) = original.get_mut(&key) else {
            return Ok(());
        };
        let current = original_value.take();
        *original_value = match (current, patch_value) {
            (Value::Object(o), Value::Object(p)) => {
                if info.strategy.replace {
                    Value::Object(p)
                } else {
                    Value::Object(self.merge_map(o, p, info.ty)?)
                }
            }
            (Value::Array(o), Value::Array(p)) => {
                Value::Array(self.merge_slice_handler(o, p, info, is_delete_list)?)
            }
            (_, p) => p,
        };
        Ok(())
    }

    fn merge_slice_handler(
        &self,
        original: Vec<Value>,
        patch: Vec<Value>,
        info: FieldInfo,
        is_delete_list: bool,
    ) -> Result<Vec<Value>, MergeError> {
        if !info.strategy.merge {
            return Ok(patch);
        }
        let item = match info.ty {
            Ty::List(l) => l.item,
            _ => Ty::Scalar,
        };
        self.merge_slice(
            original,
            patch,
            item,
            info.merge_key.unwrap_or(""),
            is_delete_list,
        )
    }

    fn merge_slice(
        &self,
        original: Vec<Value>,
        patch: Vec<Value>,
        item: Ty,
        merge_key: &str,
        is_delete_list: bool,
    ) -> Result<Vec<Value>, MergeError> {
        if original.is_empty() && patch.is_empty() {
            return Ok(original);
        }
        let kind = slice_element_kind(&[&original, &patch])?;
        let is_map = kind == "map";
        let (original, patch, merged) = if !is_map {
            if is_delete_list {
                return Ok(original
                    .into_iter()
                    .filter(|v| !patch.contains(v))
                    .collect());
            }
            let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
            for v in original.iter().chain(patch.iter()) {
                if !merged.contains(v) {
                    merged.push(v.clone());
                }
            }
            (original, patch, merged)
        } else {
            if merge_key.is_empty() {
                return Err(MergeError::NoMergeKeyDeclared);
            }
            let (original, patch) = merge_special_elements(original, patch, merge_key)?;
            let merged = self.merge_plain_elements(original.clone(), &patch, merge_key, item)?;
            (original, patch, merged)
        };
        let key = if is_map { merge_key } else { "" };
        let (patch_items, server_only) = partition_by_presence(merged, &patch, key)?;
        normalize_element_order(patch_items, server_only, &patch, &original, key, is_map)
    }

    fn merge_plain_elements(
        &self,
        mut original: Vec<Value>,
        patch: &[Value],
        merge_key: &str,
        item: Ty,
    ) -> Result<Vec<Value>, MergeError> {
        for v in patch {
            let Some(typed) = v.as_object() else {
                return Err(MergeError::BadArgType {
                    expected: "map",
                    actual: kind_name(v),
                });
            };
            let Some(merge_value) = typed.get(merge_key) else {
                return Err(no_merge_key(v, merge_key));
            };
            match find_by_key(&original, merge_key, merge_value)? {
                Some(index) => {
                    let current = original.get_mut(index).map(Value::take);
                    let current = match current {
                        Some(Value::Object(m)) => m,
                        _ => Map::new(),
                    };
                    let merged = self.merge_map(current, typed.clone(), item)?;
                    if let Some(slot) = original.get_mut(index) {
                        *slot = Value::Object(merged);
                    }
                }
                None => original.push(v.clone()),
            }
        }
        Ok(original)
    }

    /// Handles every `$setElementOrder/<field>` of `patch`: merges that field's list and orders
    /// it by the directive, then removes both from the patch.
    fn merge_set_element_order(
        &self,
        original: &mut Map<String, Value>,
        patch: &mut Map<String, Value>,
        ty: Ty,
    ) -> Result<(), MergeError> {
        let keys: Vec<String> = patch
            .keys()
            .filter(|k| k.starts_with(SET_ORDER_PREFIX))
            .cloned()
            .collect();
        for key in keys {
            let Some(order) = patch.shift_remove(&key) else {
                continue;
            };
            let Value::Array(order) = order else {
                return Err(MergeError::BadArgType {
                    expected: "slice",
                    actual: kind_name(&order),
                });
            };
            let field = extract_key(&key, SET_ORDER_PREFIX)?.to_string();
            let original_list = match original.get(&field) {
                None => None,
                Some(Value::Array(a)) => Some(a.clone()),
                Some(other) => {
                    return Err(MergeError::BadArgType {
                        expected: "slice",
                        actual: kind_name(other),
                    })
                }
            };
            let patch_list = match patch.get(&field) {
                None => None,
                Some(Value::Array(a)) => Some(a.clone()),
                Some(other) => {
                    return Err(MergeError::BadArgType {
                        expected: "slice",
                        actual: kind_name(other),
                    })
                }
            };
            let info = self.table.child(ty, &field);
            let merge_key = info.merge_key.unwrap_or("");
            if let Some(p) = &patch_list {
                validate_patch_with_set_order(p, &order, merge_key)?;
            }
            let merged = match (&original_list, patch_list) {
                (Some(o), None) => o.clone(),
                (o, Some(p)) => {
                    self.merge_slice_handler(o.clone().unwrap_or_default(), p, info, false)?
                }
                (None, None) => continue,
            };
            let original_items = original_list.unwrap_or_default();
            let kind = match slice_element_kind(&[&merged]) {
                Ok(kind) => kind,
                // Nothing to order (empty result).
                Err(_) if merged.is_empty() => {
                    original.insert(field.clone(), Value::Array(merged));
                    patch.shift_remove(&field);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let is_map = kind == "map";
            let key_for_order = if is_map { merge_key } else { "" };
            let (patch_items, server_only) = partition_by_presence(merged, &order, key_for_order)?;
            let both = normalize_element_order(
                patch_items,
                server_only,
                &order,
                &original_items,
                key_for_order,
                is_map,
            )?;
            original.insert(field.clone(), Value::Array(both));
            patch.shift_remove(&field);
        }
        Ok(())
    }
}

/// Cleans a patch value taken verbatim: nulls are dropped and any object carrying `$patch`
/// is dropped whole; None when the value itself is such an object.
fn take_patch_value(value: Value) -> Option<Value> {
    match value {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE) {
                return None;
            }
            let cleaned = m
                .into_iter()
                .filter(|(k, v)| !v.is_null() && !is_directive_key(k))
                .filter_map(|(k, v)| take_patch_value(v).map(|v| (k, v)))
                .collect();
            Some(Value::Object(cleaned))
        }
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(take_patch_value).collect(),
        )),
        other => Some(other),
    }
}

/// Directive keys other than `$patch`, which must never reach a stored object.
fn is_directive_key(key: &str) -> bool {
    key == RETAIN_KEYS
        || key.starts_with(DELETE_PRIMITIVE_PREFIX)
        || key.starts_with(SET_ORDER_PREFIX)
}

fn no_merge_key(map: &Value, key: &str) -> MergeError {
    MergeError::NoMergeKey {
        map: map.to_string(),
        key: key.to_string(),
    }
}

/// The common JSON type of the items of all lists (upstream `sliceElementType`).
fn slice_element_kind(lists: &[&Vec<Value>]) -> Result<&'static str, MergeError> {
    let mut kind: Option<&'static str> = None;
    for list in lists {
        for v in list.iter() {
            let k = kind_name(v);
            match kind {
                None if k == "slice" => return Err(MergeError::ListOfLists),
                None => kind = Some(k),
                Some(prev) if prev != k => {
                    let all: Vec<Value> =
                        lists.iter().map(|l| Value::Array((*l).clone())).collect();
                    return Err(MergeError::MixedElementTypes(Value::Array(all).to_string()));
                }
                Some(_) => {}
            }
        }
    }
    kind.ok_or(MergeError::BadArgType {
        expected: "non-empty list",
        actual: "empty list",
    })
}

/// Applies `$patch: delete|replace` items of a merging list of objects.
fn merge_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), MergeError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for v in patch {
        let Some(typed) = v.as_object() else {
            return Err(MergeError::BadArgType {
                expected: "map",
                actual: kind_name(&v),
            });
        };
        match typed.get(DIRECTIVE) {
            None => plain.push(v),
            Some(d) => match d.as_str() {
                Some("delete") => {
                    let Some(merge_value) = typed.get(merge_key) else {
                        return Err(no_merge_key(&v, merge_key));
                    };
                    while let Some(i) = find_by_key(&original, merge_key, merge_value)? {
                        original.remove(i);
                    }
                }
                // Keep scanning so other `$patch` items are pruned too.
                Some("replace") => replace = true,
                Some("merge") => return Err(MergeError::MergeDirectiveInList),
                _ => {
                    return Err(MergeError::BadPatchType {
                        directive: d.to_string(),
                        map: v.to_string(),
                    })
                }
            },
        }
    }
    if replace {
        return Ok((plain, Vec::new()));
    }
    Ok((original, plain))
}

fn find_by_key(list: &[Value], key: &str, value: &Value) -> Result<Option<usize>, MergeError> {
    for (i, v) in list.iter().enumerate() {
        let Some(m) = v.as_object() else {
            return Err(MergeError::ItemNotAMap(i));
        };
        if m.get(key) == Some(value) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// The value an item is identified by: its merge key for objects, itself for primitives.
fn identity<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    if key.is_empty() {
        Some(v)
    } else {
        v.as_object().and_then(|m| m.get(key))
    }
}

fn index_of(list: &[Value], v: &Value, key: &str) -> Option<usize> {
    let id = identity(v, key);
    list.iter().position(|x| identity(x, key) == id)
}

/// Splits `merged` into items present in `by` and items only on the server.
fn partition_by_presence(
    merged: Vec<Value>,
    by: &[Value],
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), MergeError> {
    let mut present = Vec::new();
    let mut server_only = Vec::new();
    for v in merged {
        if !key.is_empty() {
            let Some(m) = v.as_object() else {
                return Err(MergeError::BadArgType {
                    expected: "map",
                    actual: kind_name(&v),
                });
            };
            if !m.contains_key(key) {
                return Err(no_merge_key(&v, key));
            }
        }
        if index_of(by, &v, key).is_some() {
            present.push(v);
        } else {
            server_only.push(v);
        }
    }
    Ok((present, server_only))
}

/// Sorts patch items by `patch_order` and server-only items by `server_order`, then
/// interleaves them keeping both relative orders (upstream `normalizeElementOrder`).
fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: &str,
    is_map: bool,
) -> Result<Vec<Value>, MergeError> {
    let patch = normalize_slice_order(patch, patch_order, key, is_map)?;
    let server_only = normalize_slice_order(server_only, server_order, key, is_map)?;
    Ok(merge_sorted(server_only, patch, server_order, key))
}

fn normalize_slice_order(
    to_sort: Vec<Value>,
    order: &[Value],
    key: &str,
    is_map: bool,
) -> Result<Vec<Value>, MergeError> {
    let mut keep = Vec::with_capacity(to_sort.len());
    let mut to_delete = Vec::new();
    if is_map {
        for v in order.iter().chain(to_sort.iter()) {
            if identity(v, key).is_none() {
                return Err(no_merge_key(v, key));
            }
        }
        for v in to_sort {
            let is_delete = v.get(DIRECTIVE).and_then(Value::as_str) == Some("delete");
            if is_delete {
                to_delete.push(v);
            } else {
                keep.push(v);
            }
        }
    } else {
        keep = to_sort;
    }
    keep.sort_by_key(|v| index_of(order, v, key).unwrap_or(usize::MAX));
    keep.extend(to_delete);
    Ok(keep)
}

/// Inserts `left` items into `right`, placing a left item first only when both are found in
/// `server_order` and it comes earlier there (upstream `mergeSortedSlice`).
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    key: &str,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => match (
                index_of(server_order, l, key),
                index_of(server_order, r, key),
            ) {
                (Some(li), Some(ri)) => li < ri,
                _ => false,
            },
        };
        let next = if take_left { left.next() } else { right.next() };
        if let Some(v) = next {
            out.push(v);
        }
    }
    out
}

/// Checks that the non-deleted patch items appear in `$setElementOrder` in the same order.
fn validate_patch_with_set_order(
    patch: &[Value],
    order: &[Value],
    merge_key: &str,
) -> Result<(), MergeError> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let mut non_delete = Vec::with_capacity(patch.len());
    if merge_key.is_empty() {
        non_delete.extend(patch.iter());
    } else {
        for v in patch {
            let Some(m) = v.as_object() else {
                return Err(MergeError::BadArgType {
                    expected: "map",
                    actual: kind_name(v),
                });
            };
            if m.get(DIRECTIVE).and_then(Value::as_str) != Some("delete") {
                non_delete.push(v);
            }
        }
    }
    let (mut pi, mut oi) = (0, 0);
    while let (Some(p), Some(o)) = (non_delete.get(pi), order.get(oi)) {
        if p.get(DIRECTIVE).is_some() {
            pi += 1;
            continue;
        }
        let equal = if merge_key.is_empty() {
            *p == o
        } else {
            let pk = p.get(merge_key).ok_or_else(|| no_merge_key(p, merge_key))?;
            let ok = o.get(merge_key).ok_or_else(|| no_merge_key(o, merge_key))?;
            pk == ok
        };
        if equal {
            pi += 1;
        }
        oi += 1;
    }
    if pi < non_delete.len() && oi >= order.len() {
        return Err(MergeError::OrderMismatch {
            patch: Value::Array(patch.to_vec()).to_string(),
            order: Value::Array(order.to_vec()).to_string(),
        });
    }
    Ok(())
}

/// Applies `$retainKeys`: validates that every set field is listed, then clears unlisted keys.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), MergeError> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(MergeError::BadRetainKeys);
    };
    let listed = |k: &str| retain.iter().any(|v| v.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null() || k.starts_with(DELETE_PRIMITIVE_PREFIX) || k.starts_with(SET_ORDER_PREFIX)
        {
            continue;
        }
        if !listed(k) {
            return Err(MergeError::BadRetainKeys);
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

#[cfg(test)]
#[path = "smp_tests.rs"]
mod tests;
