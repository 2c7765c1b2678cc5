//! The merge-key table: list/map semantics of every field of every built-in kind, as needed by
//! strategic merge patch (patch strategy, merge key) and server-side apply (list type, keys).

use crate::schema_data::{KINDS, STRUCTS};

/// The `x-kubernetes-patch-strategy` of a field (comma-separated upstream, hence flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PatchStrategy {
    /// `merge`: lists merge by merge key (or dedupe-append for primitives).
    pub merge: bool,
    /// `retainKeys`: the `$retainKeys` directive clears keys not listed (union types).
    pub retain_keys: bool,
    /// `replace`: a struct field is replaced wholesale instead of merged.
    pub replace: bool,
}

/// The `x-kubernetes-list-type` of a list (SSA semantics); untagged lists are atomic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKind {
    /// The whole list is one value owned by one manager.
    Atomic,
    /// A list of unique scalars, each item owned separately.
    Set,
    /// A list of objects identified by `keys`, each item owned separately.
    Map,
}

/// Static description of a list type.
#[derive(Debug)]
pub struct ListDef {
    /// Type of the list items.
    pub item: Ty,
    /// SSA list type.
    pub kind: ListKind,
    /// `x-kubernetes-list-map-keys` (empty unless `kind` is `Map`).
    pub keys: &'static [&'static str],
}

/// Static description of a map (`additionalProperties`) type.
#[derive(Debug)]
pub struct MapDef {
    /// Type of the map values.
    pub value: Ty,
    /// `x-kubernetes-map-type: atomic`: the whole map is one value.
    pub atomic: bool,
}

/// A field's type: only what matters for merging is modelled.
#[derive(Clone, Copy, Debug)]
pub enum Ty {
    /// A scalar or a value without schema (merged like JSON merge patch).
    Scalar,
    /// A struct, by index into the generated struct table.
    Struct(usize),
    /// A list.
    List(&'static ListDef),
    /// A string-keyed map.
    Map(&'static MapDef),
}

/// Static description of one struct field.
#[derive(Debug)]
pub struct FieldDef {
    /// JSON field name.
    pub name: &'static str,
    /// Field type.
    pub ty: Ty,
    /// `x-kubernetes-patch-strategy`.
    pub strategy: PatchStrategy,
    /// `x-kubernetes-patch-merge-key`.
    pub merge_key: Option<&'static str>,
}

/// Static description of one struct type.
#[derive(Debug)]
pub struct StructDef {
    /// OpenAPI definition name, e.g. `io.k8s.api.core.v1.PodSpec`.
    pub name: &'static str,
    /// `x-kubernetes-map-type: atomic` on the struct (e.g. LabelSelector).
    pub atomic: bool,
    /// Non-scalar fields (and scalars carrying a patch strategy).
    pub fields: &'static [FieldDef],
}

/// Maps a group/version/kind to its root struct.
#[derive(Debug)]
pub struct KindDef {
    /// API group ("" for core).
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Index into the struct table.
    pub root: usize,
}

/// A field found by [`MergeKeyTable::field`]: everything SMP and SSA need to know about it.
#[derive(Clone, Copy, Debug)]
pub struct FieldInfo {
    /// The field's type.
    pub ty: Ty,
    /// Its patch strategy (default when the field is not in the table).
    pub strategy: PatchStrategy,
    /// Its patch merge key.
    pub merge_key: Option<&'static str>,
}

/// Lookup of list/map semantics for built-in kinds, generated from upstream OpenAPI, optionally
/// extended by one custom resource kind (see [`MergeKeyTable::with_custom`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct MergeKeyTable {
    custom: Option<&'static CustomKind>,
}

/// A custom resource kind's structs, numbered after the built-in ones.
#[derive(Debug)]
pub(crate) struct CustomKind {
    pub(crate) group: &'static str,
    pub(crate) version: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) root: usize,
    pub(crate) structs: &'static [StructDef],
}

impl MergeKeyTable {
    /// The table of built-in Kubernetes v1.33 kinds.
    pub fn builtin() -> Self {
        MergeKeyTable { custom: None }
    }

    pub(crate) fn with_custom_kind(custom: &'static CustomKind) -> Self {
        MergeKeyTable {
            custom: Some(custom),
        }
    }

    /// Index of a built-in struct by OpenAPI definition name.
    pub(crate) fn builtin_struct(name: &str) -> Option<usize> {
        STRUCTS.iter().position(|s| s.name == name)
    }

    /// Index the first custom struct gets.
    pub(crate) fn first_custom_index() -> usize {
        STRUCTS.len()
    }

    /// Root type of an object with this `apiVersion` and `kind`; `Ty::Scalar` when unknown
    /// (custom resources), which makes SMP behave like JSON merge patch.
    pub fn root(&self, api_version: &str, kind: &str) -> Ty {
        let (group, version) = split_api_version(api_version);
        self.root_gvk(group, version, kind)
    }

    /// Root type by group, version and kind.
    pub fn root_gvk(&self, group: &str, version: &str, kind: &str) -> Ty {
        if let Some(c) = self.custom {
            if (c.group, c.version, c.kind) == (group, version, kind) {
                return Ty::Struct(c.root);
            }
        }
        KINDS
            .binary_search_by(|k| (k.group, k.version, k.kind).cmp(&(group, version, kind)))
            .ok()
            .and_then(|i| KINDS.get(i))
            .map_or(Ty::Scalar, |k| Ty::Struct(k.root))
    }

    /// The struct definition behind `Ty::Struct(index)`.
    pub fn struct_def(&self, index: usize) -> Option<&'static StructDef> {
        match (STRUCTS.get(index), self.custom) {
            (Some(def), _) => Some(def),
            (None, Some(c)) => c.structs.get(index - STRUCTS.len()),
            (None, None) => None,
        }
    }

    /// Metadata of field `name` inside a value of type `ty` (struct fields, or map values).
    pub fn child(&self, ty: Ty, name: &str) -> FieldInfo {
        match ty {
            Ty::Struct(i) => self
                .struct_def(i)
                .and_then(|s| s.fields.iter().find(|f| f.name == name))
                .map_or(FieldInfo::scalar(), |f| FieldInfo {
                    ty: f.ty,
                    strategy: f.strategy,
                    merge_key: f.merge_key,
                }),
            Ty::Map(m) => FieldInfo {
                ty: m.value,
                ..FieldInfo::scalar()
            },
            Ty::Scalar | Ty::List(_) => FieldInfo::scalar(),
        }
    }

    /// Looks up a field by JSON path of field names (list items are stepped through), e.g.
    /// `["spec", "template", "spec", "containers", "ports"]` in `apps/v1` `Deployment`.
    pub fn field(&self, api_version: &str, kind: &str, path: &[&str]) -> Option<FieldInfo> {
        let mut ty = self.root(api_version, kind);
        let mut info = None;
        for name in path {
            if let Ty::List(l) = ty {
                ty = l.item;
            }
            if matches!(ty, Ty::Scalar) {
                return None;
            }
            let f = self.child(ty, name);
            ty = f.ty;
            info = Some(f);
        }
        info
    }

    /// Number of built-in kinds in the table (for diagnostics and tests).
    pub fn kind_count(&self) -> usize {
        KINDS.len()
    }
}

impl FieldInfo {
    fn scalar() -> Self {
        FieldInfo {
            ty: Ty::Scalar,
            strategy: PatchStrategy::default(),
            merge_key: None,
        }
    }
}

/// Splits `apps/v1` into (`apps`, `v1`) and `v1` into (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
