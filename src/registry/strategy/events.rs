//! events.k8s.io/v1 Event is served from core/v1 Event storage, as upstream keeps one `events`
//! resource for both groups (`pkg/apis/events/v1/conversion.go`): an event a controller records
//! through either API shows up in `kubectl get events` and in `events.k8s.io` watches alike.
//! The two shapes differ only in field names.

use serde_json::{Map, Value};

use crate::registry::descriptor::VersionConversion;

/// events.k8s.io/v1 field → core/v1 field; every other field has the same name in both.
const RENAMED: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
];

/// How events.k8s.io/v1 objects reach core/v1 storage and back.
pub const EVENTS_V1_CONVERSION: VersionConversion = VersionConversion {
    storage_api_version: "v1",
    to_storage: |event| {
        let mut core = renamed(event, "v1", forward);
        // core/v1 requires involvedObject; an event about nothing keeps an empty reference.
        if let Value::Object(map) = &mut core {
            map.entry("involvedObject")
                .or_insert_with(|| Value::Object(Map::new()));
        }
        core
    },
    from_storage: |core| renamed(core, "events.k8s.io/v1", backward),
};

fn forward(name: &str) -> &str {
    RENAMED
        .iter()
        .find(|(events, _)| *events == name)
        .map_or(name, |(_, core)| core)
}

fn backward(name: &str) -> &str {
    RENAMED
        .iter()
        .find(|(_, core)| *core == name)
        .map_or(name, |(events, _)| events)
}

/// A copy of `obj` with top-level fields renamed by `rename` and `apiVersion` set; fields of
/// the source shape that the target shape has under another name never leak through.
fn renamed<'a>(obj: &'a Value, api_version: &str, rename: impl Fn(&'a str) -> &'a str) -> Value {
    let Some(fields) = obj.as_object() else {
        return obj.clone();
    };
    let mut out = Map::with_capacity(fields.len());
    for (name, value) in fields {
        out.insert(rename(name).to_string(), value.clone());
    }
    out.insert("apiVersion".into(), Value::String(api_version.into()));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_api_fields_map_to_core_names_and_back() {
        let event = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "ns"},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "regarding": {"kind": "Pod", "name": "p"},
            "note": "hello", "reason": "Test", "type": "Normal", "action": "Do",
            "reportingController": "test-controller", "reportingInstance": "i",
            "deprecatedSource": {"component": "test-controller"},
            "deprecatedCount": 2,
            "series": {"count": 3, "lastObservedTime": "2026-01-01T00:00:01.000000Z"}
        });
        let core = (EVENTS_V1_CONVERSION.to_storage)(&event);
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["name"], "p");
        assert_eq!(core["message"], "hello");
        assert_eq!(core["reportingComponent"], "test-controller");
        assert_eq!(core["source"]["component"], "test-controller");
        assert_eq!(core["count"], 2);
        assert_eq!(core["series"]["count"], 3);
        assert!(core.get("note").is_none() && core.get("regarding").is_none());
        assert_eq!((EVENTS_V1_CONVERSION.from_storage)(&core), event);
    }

    #[test]
    fn an_event_without_a_subject_gets_an_empty_involved_object() {
        let core = (EVENTS_V1_CONVERSION.to_storage)(&json!({"metadata": {"name": "e"}}));
        assert_eq!(core["involvedObject"], json!({}));
    }
}
