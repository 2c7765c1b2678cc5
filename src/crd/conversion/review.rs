//! The ConversionReview exchange as data: the request sent, the checks on the answer
//! (upstream's `getConvertedObjectsFromResponse`), and the checks and metadata restoration
//! each converted object gets (upstream's `validateConvertedObject` and `restoreObjectMeta`:
//! a webhook may change labels and annotations, nothing else in `metadata`).

use ferrokube_apimachinery::validation::{
    aggregate_message, validate_annotations, validate_labels,
};
use serde_json::{json, Map, Value};

/// The review versions we speak, in upstream's order of preference among a CRD's list.
pub const SUPPORTED: [&str; 2] = ["v1", "v1beta1"];

/// The first of `conversionReviewVersions` we speak (validation guarantees there is one).
pub fn pick_version(listed: &[String]) -> Option<&'static str> {
    listed
        .iter()
        .find_map(|v| SUPPORTED.iter().find(|s| **s == v.as_str()).copied())
}

/// A ConversionReview asking for `objects` at `desired` (`group/version`).
pub fn request(version: &str, uid: &str, desired: &str, objects: &[Value]) -> Value {
    json!({
        "apiVersion": format!("apiextensions.k8s.io/{version}"),
        "kind": "ConversionReview",
        "request": {"uid": uid, "desiredAPIVersion": desired, "objects": objects},
    })
}

/// The converted objects of a webhook's answer, or why the answer is refused. v1 answers must
/// be v1 ConversionReviews for our uid; v1beta1 was never checked that way upstream.
pub fn converted_objects(version: &str, uid: &str, answer: Value) -> Result<Vec<Value>, String> {
    let mut answer = answer;
    if version == "v1" {
        let got = format!(
            "{}, Kind={}",
            answer["apiVersion"].as_str().unwrap_or("/"),
            answer["kind"].as_str().unwrap_or("")
        );
        let want = "apiextensions.k8s.io/v1, Kind=ConversionReview";
        if got != want {
            return Err(format!("expected webhook response of {want}, got {got}"));
        }
    }
    let Some(response) = answer.get_mut("response").filter(|r| r.is_object()) else {
        return Err("no response provided".into());
    };
    if version == "v1" {
        let got = response["uid"].as_str().unwrap_or("");
        if got != uid {
            return Err(format!("expected response.uid={uid:?}, got {got:?}"));
        }
    }
    let status = response["result"]["status"].as_str().unwrap_or("");
    if status != "Success" {
        let message = response["result"]["message"].as_str().unwrap_or("");
        return Err(if message.is_empty() {
            format!("response.result.status was '{status}', not 'Success'")
        } else {
            message.to_string()
        });
    }
    match response["convertedObjects"].take() {
        Value::Array(items) => Ok(items),
        Value::Null => Ok(Vec::new()),
        other => Err(format!("response.convertedObjects is not a list: {other}")),
    }
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.pointer(&format!("/metadata/{field}"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Upstream's `validateConvertedObject`: kind, name, namespace and uid must be kept.
pub fn validate_converted(original: &Value, converted: &Value) -> Result<(), String> {
    let (a, b) = (
        original["kind"].as_str().unwrap_or(""),
        converted["kind"].as_str().unwrap_or(""),
    );
    if a != b {
        return Err(format!("must have the same kind: {a} != {b}"));
    }
    for (field, label) in [("name", "name"), ("namespace", "namespace"), ("uid", "UID")] {
        let (a, b) = (meta_str(original, field), meta_str(converted, field));
        if a != b {
            return Err(format!("must have the same {label}: {a} != {b}"));
        }
    }
    Ok(())
}

/// Upstream's `restoreObjectMeta`: the converted object gets the original's metadata back,
/// with the webhook's labels and annotations (checked as labels and annotations are).
pub fn restore_meta(original: &Value, converted: &mut Value) -> Result<(), String> {
    let answered = match converted.get("metadata") {
        None if original.get("metadata").is_none() => return Ok(()),
        None => return Err("missing metadata in converted object".into()),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => {
            return Err(format!(
                "invalid metadata of type {} in converted object",
                go_type(other)
            ))
        }
    };
    let mut restored: Map<String, Value> = match original.get("metadata") {
        Some(Value::Object(m)) => m.clone(),
        None => Map::new(),
        Some(other) => {
            return Err(format!(
                "invalid metadata of type {} in input object",
                go_type(other)
            ))
        }
    };
    for field in ["labels", "annotations"] {
        let map = match answered.get(field) {
            None | Some(Value::Null) => {
                restored.remove(field);
                continue;
            }
            Some(Value::Object(map)) => map,
            Some(other) => {
                return Err(format!(
                    "invalid metadata.{field} of type {} in converted object",
                    go_type(other)
                ))
            }
        };
        if let Some((k, v)) = map.iter().find(|(_, v)| !v.is_string()) {
            return Err(format!(
                "metadata.{field}[{k}] must be a string, but is {} in converted object",
                go_type(v)
            ));
        }
        let value = Value::Object(map.clone());
        if restored.get(field) != Some(&value) {
            // Upstream reports annotation errors under `metadata.annotation`.
            let errs = match field {
                "labels" => validate_labels(Some(&value), "metadata.labels"),
                _ => validate_annotations(Some(&value), "metadata.annotation"),
            };
            if !errs.is_empty() {
                return Err(aggregate_message(&errs));
            }
        }
        restored.insert(field.to_string(), value);
    }
    converted["metadata"] = Value::Object(restored);
    Ok(())
}

/// How Go's `%T` names a decoded JSON value.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(version: &str) -> Value {
        json!({"apiVersion": format!("g/{version}"), "kind": "W",
               "metadata": {"name": "a", "namespace": "n", "uid": "u", "resourceVersion": "7",
                            "labels": {"x": "1"}}, "spec": {}})
    }

    #[test]
    fn answers_are_checked_like_upstream() {
        let ok = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
            "response": {"uid": "id", "result": {"status": "Success"}, "convertedObjects": [obj("v2")]}});
        assert_eq!(converted_objects("v1", "id", ok.clone()).unwrap().len(), 1);
        assert_eq!(
            converted_objects("v1", "other", ok.clone()).unwrap_err(),
            "expected response.uid=\"other\", got \"id\""
        );
        let failed = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
            "response": {"uid": "id", "result": {"status": "Failure", "message": "no way"}}});
        assert_eq!(converted_objects("v1", "id", failed).unwrap_err(), "no way");
        let wrong = json!({"apiVersion": "v1", "kind": "Status"});
        assert_eq!(
            converted_objects("v1", "id", wrong.clone()).unwrap_err(),
            "expected webhook response of apiextensions.k8s.io/v1, Kind=ConversionReview, got v1, Kind=Status"
        );
        assert_eq!(
            converted_objects("v1beta1", "id", wrong).unwrap_err(),
            "no response provided"
        );
    }

    #[test]
    fn only_labels_and_annotations_may_change() {
        let original = obj("v1");
        let mut converted = obj("v2");
        converted["metadata"]["resourceVersion"] = json!("999");
        converted["metadata"]["labels"] = json!({"x": "2"});
        converted["metadata"]["generation"] = json!(5);
        validate_converted(&original, &converted).unwrap();
        restore_meta(&original, &mut converted).unwrap();
        assert_eq!(converted["metadata"]["resourceVersion"], "7");
        assert_eq!(converted["metadata"]["labels"], json!({"x": "2"}));
        assert!(converted["metadata"].get("generation").is_none());

        let mut renamed = obj("v2");
        renamed["metadata"]["name"] = json!("b");
        assert_eq!(
            validate_converted(&original, &renamed).unwrap_err(),
            "must have the same name: a != b"
        );
        let mut bad = obj("v2");
        bad["metadata"]["labels"] = json!({"x": 1});
        assert_eq!(
            restore_meta(&original, &mut bad).unwrap_err(),
            "metadata.labels[x] must be a string, but is int64 in converted object"
        );
        let mut dropped = obj("v2");
        dropped["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("labels");
        restore_meta(&original, &mut dropped).unwrap();
        assert!(dropped["metadata"].get("labels").is_none());
    }

    #[test]
    fn the_first_supported_review_version_is_used() {
        let listed = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            pick_version(&listed(&["v9", "v1beta1", "v1"])),
            Some("v1beta1")
        );
        assert_eq!(pick_version(&listed(&["v1"])), Some("v1"));
        assert_eq!(pick_version(&listed(&["v3"])), None);
    }
}
