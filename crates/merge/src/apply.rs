//! Server-side apply and managed-fields bookkeeping for updates, following upstream
//! `structured-merge-diff` `Updater.Apply`/`Updater.Update` and the apiserver field manager.

use crate::error::{ApplyError, Conflict};
use crate::fieldpath::{path_string, FieldSet};
use crate::schema::{MergeKeyTable, Ty};
use crate::typed::{compare, merge, remove_path, to_field_set};
use serde_json::{json, Map, Value};

/// One `metadata.managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedFieldsEntry {
    /// Field manager name.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// apiVersion the fields were recorded in.
    pub api_version: String,
    /// RFC 3339 timestamp of the last change.
    pub time: Option<String>,
    /// Subresource (e.g. `status`), empty for the main resource.
    pub subresource: String,
    /// Owned fields.
    pub fields: FieldSet,
}

/// Who writes: a field manager, and the subresource it writes through (empty for the main
/// resource). Upstream keeps one managedFields entry per (manager, operation, subresource).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Manager<'a> {
    /// Field manager name.
    pub name: &'a str,
    /// `status`, `scale`, ... or empty.
    pub subresource: &'a str,
}

impl<'a> Manager<'a> {
    /// A manager writing through `subresource`.
    pub fn of(name: &'a str, subresource: &'a str) -> Self {
        Manager { name, subresource }
    }
}

impl<'a> From<&'a str> for Manager<'a> {
    fn from(name: &'a str) -> Self {
        Manager::of(name, "")
    }
}

impl ManagedFieldsEntry {
    fn is(&self, manager: Manager<'_>, operation: &str) -> bool {
        self.manager == manager.name
            && self.operation == operation
            && self.subresource == manager.subresource
    }

    /// Manager as upstream prints it in conflicts (`"kubectl" using apps/v1 at <time>`).
    pub fn display(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == "Update" {
            s.push_str(&format!(" using {}", self.api_version));
            if let Some(t) = &self.time {
                s.push_str(&format!(" at {t}"));
            }
        }
        s
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation));
        m.insert("apiVersion".into(), json!(self.api_version));
        if let Some(t) = &self.time {
            m.insert("time".into(), json!(t));
        }
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(m)
    }

    fn from_json(v: &Value) -> Option<Self> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        v.as_object()?;
        Some(ManagedFieldsEntry {
            // Upstream omits an empty manager (a client without User-Agent or fieldManager).
            manager: s("manager").unwrap_or_default(),
            operation: s("operation").unwrap_or_else(|| "Update".into()),
            api_version: s("apiVersion").unwrap_or_default(),
            time: s("time"),
            subresource: s("subresource").unwrap_or_default(),
            fields: v
                .get("fieldsV1")
                .map(FieldSet::from_fields_v1)
                .unwrap_or_default(),
        })
    }
}

/// Reads `metadata.managedFields` of an object (malformed entries are skipped).
pub fn managed_fields(obj: &Value) -> Vec<ManagedFieldsEntry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(ManagedFieldsEntry::from_json).collect())
        .unwrap_or_default()
}

fn set_managed_fields(obj: &mut Value, entries: &[ManagedFieldsEntry]) {
    let Value::Object(root) = obj else { return };
    let meta = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    if let Value::Object(meta) = meta {
        if entries.is_empty() {
            meta.shift_remove("managedFields");
        } else {
            meta.insert(
                "managedFields".into(),
                Value::Array(entries.iter().map(ManagedFieldsEntry::to_json).collect()),
            );
        }
    }
}

/// The object without `metadata.managedFields` (never part of merges or comparisons).
fn strip_managed(obj: &Value) -> Value {
    let mut out = obj.clone();
    if let Some(Value::Object(meta)) = out.get_mut("metadata") {
        meta.shift_remove("managedFields");
    }
    out
}

fn root_type(table: &MergeKeyTable, obj: &Value) -> Ty {
    let s = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("");
    table.root(s("apiVersion"), s("kind"))
}

/// Server-side apply of `config` by `manager` onto `live` (None on create). Returns the new
/// object with `metadata.managedFields` updated, or the conflicts with other managers
/// (unless `force`, which takes their fields over). `now` is an RFC 3339 timestamp.
pub fn apply<'a>(
    live: Option<&Value>,
    config: &Value,
    manager: impl Into<Manager<'a>>,
    force: bool,
    table: &MergeKeyTable,
    now: &str,
) -> Result<Value, ApplyError> {
    if !config.is_object() {
        return Err(ApplyError::Invalid(
            "apply configuration must be an object".into(),
        ));
    }
    if config
        .pointer("/metadata/managedFields")
        .is_some_and(|m| !m.is_null())
    {
        return Err(ApplyError::Invalid(
            "metadata.managedFields must be nil".into(),
        ));
    }
    let manager = manager.into();
    let api_version = config
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let ty = root_type(table, config);
    let mut entries = live.map(managed_fields).unwrap_or_default();
    let live_clean = live.map(strip_managed);

    let applied = to_field_set(table, ty, config)?;
    let mut merged = merge(table, ty, live_clean.as_ref(), config)?;

    // Prune what this manager applied last time, no longer applies, and nobody else owns.
    let last = entries
        .iter()
        .find(|e| e.is(manager, "Apply"))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let mut owned = applied.clone();
    for e in entries.iter().filter(|e| !e.is(manager, "Apply")) {
        owned = owned.union(&e.fields);
    }
    for path in last.difference(&owned).members() {
        if !owned.has_members_under(&path) {
            remove_path(table, ty, &mut merged, &path);
        }
    }

    let cmp = compare(table, ty, live_clean.as_ref(), Some(&merged));
    let changed = cmp.modified.union(&cmp.added);
    let mut conflicts = Vec::new();
    for e in entries.iter_mut().filter(|e| !e.is(manager, "Apply")) {
        let clash = e.fields.intersection(&changed);
        if force {
            e.fields = e.fields.difference(&clash);
        } else {
            conflicts.extend(clash.members().iter().map(|p| Conflict {
                manager: e.display(),
                path: path_string(p),
            }));
        }
        e.fields = e.fields.difference(&cmp.removed);
    }
    if !conflicts.is_empty() {
        conflicts.sort_by(|a, b| (&a.manager, &a.path).cmp(&(&b.manager, &b.path)));
        return Err(ApplyError::Conflicts(conflicts));
    }

    match entries.iter_mut().find(|e| e.is(manager, "Apply")) {
        Some(e) => {
            if e.fields != applied || e.api_version != api_version {
                e.time = Some(now.to_string());
            }
            e.fields = applied;
            e.api_version = api_version;
        }
        None => entries.push(ManagedFieldsEntry {
            manager: manager.name.to_string(),
            operation: "Apply".into(),
            api_version,
            time: Some(now.to_string()),
            subresource: manager.subresource.to_string(),
            fields: applied,
        }),
    }
    entries.retain(|e| !e.fields.is_empty());
    set_managed_fields(&mut merged, &entries);
    Ok(merged)
}

/// Records a non-apply write (`operation` is `Update`, also used for creates): fields that
/// changed from `old` to `new` become owned by `manager` and are taken from other managers;
/// removed fields are dropped from everyone. Writes `new`'s `metadata.managedFields`.
pub fn record_update<'a>(
    old: Option<&Value>,
    new: &mut Value,
    manager: impl Into<Manager<'a>>,
    operation: &str,
    table: &MergeKeyTable,
    now: &str,
) {
    let manager = manager.into();
    let old_entries = old.map(managed_fields).unwrap_or_default();
    // A client may reset managed fields by sending a different list (`[]` clears them).
    let sent = new.pointer("/metadata/managedFields").cloned();
    let old_sent = old.and_then(|o| o.pointer("/metadata/managedFields").cloned());
    let mut entries = match sent {
        Some(s) if Some(&s) != old_sent.as_ref() => managed_fields(new),
        _ => old_entries,
    };
    let api_version = new
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let ty = root_type(table, new);
    // The comparison skips metadata.managedFields itself (`typed::ignored`).
    let cmp = compare(table, ty, old, Some(&*new));
    let changed = cmp.modified.union(&cmp.added);

    for e in entries.iter_mut().filter(|e| !e.is(manager, operation)) {
        e.fields = e.fields.difference(&changed).difference(&cmp.removed);
    }
    match entries.iter_mut().find(|e| e.is(manager, operation)) {
        Some(e) => {
            let fields = e.fields.difference(&cmp.removed).union(&changed);
            if fields != e.fields || e.api_version != api_version {
                e.time = Some(now.to_string());
            }
            e.fields = fields;
            e.api_version = api_version;
        }
        None => entries.push(ManagedFieldsEntry {
            manager: manager.name.to_string(),
            operation: operation.to_string(),
            api_version,
            time: Some(now.to_string()),
            subresource: manager.subresource.to_string(),
            fields: changed,
        }),
    }
    entries.retain(|e| !e.fields.is_empty());
    set_managed_fields(new, &entries);
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
