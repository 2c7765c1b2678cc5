//! Table output of custom resources: upstream's CRD table convertor. A Name column, then the
//! version's `additionalPrinterColumns` (an Age column when it names none), each cell the
//! value at the column's JSONPath rendered per the column's type.

use chrono::{DateTime, Utc};
use ferrokube_apimachinery::printers::{human_duration, row_object, IncludeObject};
use serde_json::{json, Value};

use crate::registry::descriptor::PrinterColumn;

/// ObjectMeta's description of `name`, which upstream puts on the Name column.
const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// ObjectMeta's description of `creationTimestamp`, on the default Age column.
const CREATED_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// The columns a CRD version prints: its own, or upstream's default Age column.
pub fn columns_or_default(columns: Vec<PrinterColumn>) -> Vec<PrinterColumn> {
    if !columns.is_empty() {
        return columns;
    }
    vec![PrinterColumn {
        name: "Age".into(),
        type_: "date".into(),
        format: String::new(),
        description: CREATED_DESCRIPTION.into(),
        priority: 0,
        json_path: ".metadata.creationTimestamp".into(),
    }]
}

/// The `meta.k8s.io/v1` Table of custom objects.
pub fn table(
    columns: &[PrinterColumn],
    objects: &[&Value],
    include: IncludeObject,
    now: DateTime<Utc>,
) -> Value {
    let mut definitions = vec![json!({
        "name": "Name", "type": "string", "format": "name",
        "description": NAME_DESCRIPTION, "priority": 0,
    })];
    definitions.extend(columns.iter().map(|c| {
        json!({
            "name": c.name, "type": c.type_, "format": c.format,
            "description": c.description, "priority": c.priority,
        })
    }));
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let mut cells = vec![json!(obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or(""))];
            cells.extend(columns.iter().map(|c| {
                let value = ferrokube_apiextensions::printer_cell(&c.json_path, obj);
                cell(&c.type_, &value, now)
            }));
            json!({"cells": cells, "object": row_object(obj, include)})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

/// One cell as upstream's `cellForJSONValue`: typed values stay typed, dates become ages, a
/// value of the wrong type is an empty cell.
fn cell(type_: &str, value: &Value, now: DateTime<Utc>) -> Value {
    match (type_, value) {
        (_, Value::Null) => Value::Null,
        ("integer", Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(|i| json!(i))
            .unwrap_or(Value::Null),
        ("number", Value::Number(n)) => n.as_f64().map(|f| json!(f)).unwrap_or(Value::Null),
        ("boolean", Value::Bool(b)) => json!(b),
        ("date", Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| json!(human_duration(now - t.with_timezone(&Utc))))
            .unwrap_or(Value::Null),
        ("integer" | "number" | "boolean" | "date", _) => Value::Null,
        (_, Value::String(s)) => json!(s),
        (_, other) => json!(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_follow_column_types() {
        let now = Utc::now();
        assert_eq!(cell("integer", &json!(3), now), json!(3));
        assert_eq!(cell("integer", &json!("x"), now), Value::Null);
        assert_eq!(cell("boolean", &json!(true), now), json!(true));
        assert_eq!(cell("string", &json!(5), now), json!("5"));
        let then = (now - chrono::Duration::seconds(125)).to_rfc3339();
        assert_eq!(cell("date", &json!(then), now), json!("2m5s"));
    }

    #[test]
    fn default_columns_are_name_and_age() {
        let cols = columns_or_default(Vec::new());
        let obj = json!({"metadata": {"name": "w", "creationTimestamp": "2020-01-01T00:00:00Z"}});
        let t = table(&cols, &[&obj], IncludeObject::None, Utc::now());
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Name", "Age"]);
        assert_eq!(t["rows"][0]["cells"][0], "w");
        assert_eq!(t["rows"][0]["object"], Value::Null);
    }
}
