//! `meta.k8s.io/v1` Table output as kube-apiserver's printers produce it.
//!
//! The server always renders every column (upstream calls the printers with `Wide: true`);
//! clients hide `priority: 1` columns unless asked for wide output.

mod columns;
mod rows_autoscaling;
mod rows_core;
mod rows_other;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

pub use columns::*;

/// What each row's `object` carries (`includeObject` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// `None`: `object` is null.
    None,
    /// `Metadata` (kubectl's default): a `PartialObjectMetadata` with the object's metadata.
    #[default]
    Metadata,
    /// `Object`: the full object.
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query value (`None`, `Metadata`, `Object`); empty is the default.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "None" => Some(IncludeObject::None),
            "" | "Metadata" => Some(IncludeObject::Metadata),
            "Object" => Some(IncludeObject::Object),
            _ => None,
        }
    }
}

/// One printed row: its cells and optional `TableRowCondition`s.
pub(crate) struct Row {
    pub cells: Vec<Value>,
    pub conditions: Option<Value>,
}

impl Row {
    pub(crate) fn new(cells: Vec<Value>) -> Self {
        Row {
            cells,
            conditions: None,
        }
    }
}

/// Renders one object into a row at the instant `now`.
pub(crate) type RowFn = fn(&Value, DateTime<Utc>) -> Row;

/// A kind's table printer (upstream's `TableConvertor` of one resource): its column
/// definitions and the function rendering one object as a row. Each kind's descriptor names
/// the printer it uses; [`DEFAULT`] is upstream's default convertor (Name, Created At).
#[derive(Clone, Copy)]
pub struct Printer {
    pub(crate) columns: fn() -> Vec<Column>,
    pub(crate) row: RowFn,
}

impl std::fmt::Debug for Printer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Printer").finish_non_exhaustive()
    }
}

/// `duration.HumanDuration`: the compact ages kubectl shows (`5s`, `3m20s`, `3h20m`, `2d`, `3y`).
pub fn human_duration(d: chrono::Duration) -> String {
    let seconds = d.num_milliseconds() / 1000;
    if seconds < -1 {
        return "<invalid>".to_owned();
    } else if seconds < 0 {
        return "0s".to_owned();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// Parses an RFC 3339 `Time`/`MicroTime` field; absent or malformed reads as the zero time.
pub(crate) fn timestamp(v: Option<&Value>) -> Option<DateTime<Utc>> {
    v.and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// `translateTimestampSince`: `<unknown>` for a zero time, otherwise the human age.
pub(crate) fn since(v: Option<&Value>, now: DateTime<Utc>) -> String {
    match timestamp(v) {
        Some(t) => human_duration(now - t),
        None => "<unknown>".to_owned(),
    }
}

/// The object's age cell (`translateTimestampSince(creationTimestamp)`).
pub(crate) fn age(obj: &Value, now: DateTime<Utc>) -> Value {
    Value::String(since(obj.pointer("/metadata/creationTimestamp"), now))
}

/// String at a JSON pointer, `""` when absent.
pub(crate) fn str_at<'a>(obj: &'a Value, ptr: &str) -> &'a str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// Integer at a JSON pointer, `default` when absent.
pub(crate) fn int_at(obj: &Value, ptr: &str, default: i64) -> i64 {
    obj.pointer(ptr).and_then(Value::as_i64).unwrap_or(default)
}

/// Array at a JSON pointer, empty when absent.
pub(crate) fn arr_at<'a>(obj: &'a Value, ptr: &str) -> &'a [Value] {
    obj.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The object's name cell.
pub(crate) fn name(obj: &Value) -> Value {
    Value::String(str_at(obj, "/metadata/name").to_owned())
}

/// `layoutContainerCells`: comma-joined container names and images.
pub(crate) fn container_cells(containers: &[Value]) -> (Value, Value) {
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, "/image")).collect();
    (
        Value::String(names.join(",")),
        Value::String(images.join(",")),
    )
}

/// `listWithMoreString`: the first `max` items, then `+ N more...`, or `<unset>` when empty.
pub(crate) fn list_with_more(list: &[String], more: bool, count: usize, max: usize) -> String {
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count - max)
    } else if ret.is_empty() {
        "<unset>".to_owned()
    } else {
        ret
    }
}

fn column_json(cols: &[Column]) -> Value {
    Value::Array(
        cols.iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "type": c.ty,
                    "format": c.format,
                    "description": c.description,
                    "priority": c.priority,
                })
            })
            .collect(),
    )
}

/// `columnDefinitions` of the printer's Table. Computed once per printer and cached (the
/// descriptions come from the API types' schemas, which are costly to build).
pub fn column_definitions(printer: &Printer) -> Value {
    static CACHE: OnceLock<Mutex<HashMap<usize, Value>>> = OnceLock::new();
    let key = printer.columns as usize;
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Ok(map) = cache.lock() {
        if let Some(v) = map.get(&key) {
            return v.clone();
        }
    }
    let v = column_json(&(printer.columns)());
    if let Ok(mut map) = cache.lock() {
        map.insert(key, v.clone());
    }
    v
}

/// The `object` of a Table row, as `includeObject` asks.
pub fn row_object(obj: &Value, include: IncludeObject) -> Value {
    match include {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => obj.clone(),
        IncludeObject::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or_else(|| Value::Object(Map::new())),
        }),
    }
}

pub(crate) fn default_row(obj: &Value, _now: DateTime<Utc>) -> Row {
    // The default convertor prints creationTimestamp as RFC 3339 in UTC (Go's zero time if unset).
    let created = timestamp(obj.pointer("/metadata/creationTimestamp"))
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_owned());
    Row::new(vec![name(obj), Value::String(created)])
}

/// Builds the `meta.k8s.io/v1` Table for `objects` with `printer`. The caller adds list
/// metadata (`resourceVersion`, `continue`, `remainingItemCount`) to `metadata`.
pub fn table(
    printer: &Printer,
    objects: &[&Value],
    include_object: IncludeObject,
    now: DateTime<Utc>,
) -> Value {
    let row_fn = printer.row;
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let row = row_fn(obj, now);
            let mut out = Map::new();
            out.insert("cells".to_owned(), Value::Array(row.cells));
            if let Some(c) = row.conditions {
                out.insert("conditions".to_owned(), c);
            }
            out.insert("object".to_owned(), row_object(obj, include_object));
            Value::Object(out)
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": column_definitions(printer),
        "rows": rows,
    })
}

#[cfg(test)]
mod tests;
