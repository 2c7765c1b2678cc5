//! CustomResourceDefinition: upstream's defaulting (`SetDefaults_CustomResourceDefinitionSpec`),
//! the strategy's status bookkeeping (`storedVersions`), validation through
//! `ferrokube_apiextensions`, and the cleanup finalizer a delete request adds.

use ferrokube_apimachinery::validation::FieldError;
use serde_json::{json, Value};

use super::{get_mut, set_default, Strategy};

/// The finalizer that holds a CRD until every custom object is gone (upstream's name).
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// The CustomResourceDefinition strategy.
pub struct Crd;

/// The shared CRD strategy.
pub static CRD: Crd = Crd;

impl Strategy for Crd {
    fn default(&self, obj: &mut Value) {
        let kind = obj
            .pointer("/spec/names/kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        set_default(
            obj,
            &["spec", "names", "singular"],
            json!(kind.to_lowercase()),
        );
        if !kind.is_empty() {
            set_default(
                obj,
                &["spec", "names", "listKind"],
                json!(format!("{kind}List")),
            );
        }
        set_default(obj, &["spec", "conversion"], json!({"strategy": "None"}));
        if obj.pointer("/spec/conversion/strategy") == Some(&json!("Webhook")) {
            set_default(
                obj,
                &["spec", "conversion", "webhook", "conversionReviewVersions"],
                json!(["v1"]),
            );
        }
        // Upstream's v1 `ServiceReference` defaulting.
        if obj
            .pointer("/spec/conversion/webhook/clientConfig/service")
            .is_some_and(Value::is_object)
        {
            set_default(
                obj,
                &[
                    "spec",
                    "conversion",
                    "webhook",
                    "clientConfig",
                    "service",
                    "port",
                ],
                json!(443),
            );
        }
        // A storage version that is new to this CRD joins storedVersions (upstream's
        // PrepareForUpdate); the status subresource keeps the rest of the status.
        if let Some(storage) = storage_version(obj) {
            if let Some(status) = get_mut(obj, &["status"]).and_then(Value::as_object_mut) {
                let stored = status.entry("storedVersions").or_insert_with(|| json!([]));
                if let Some(list) = stored.as_array_mut() {
                    if !list.iter().any(|v| v == storage.as_str()) {
                        list.push(json!(storage));
                    }
                }
            }
        }
    }

    fn prepare_create(&self, obj: &mut Value) {
        // Status starts empty but for the storage version; the controllers fill in the rest.
        let stored: Vec<String> = storage_version(obj).into_iter().collect();
        if let Some(map) = obj.as_object_mut() {
            map.insert(
                "status".into(),
                json!({
                    "acceptedNames": {"plural": "", "kind": ""},
                    "conditions": [],
                    "storedVersions": stored,
                }),
            );
        }
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn validate(&self, new: &Value, old: Option<&Value>) -> Vec<FieldError> {
        ferrokube_apiextensions::validate_crd(new, old)
    }

    fn delete_finalizer(&self) -> Option<&'static str> {
        Some(CLEANUP_FINALIZER)
    }

    fn on_delete(&self, obj: &mut Value) {
        set_condition(
            obj,
            "Terminating",
            "True",
            "InstanceDeletionPending",
            "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon",
        );
    }
}

/// The name of the version marked `storage: true`, if any.
pub fn storage_version(crd: &Value) -> Option<String> {
    crd.pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .and_then(|v| v.get("name"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Sets a `status.conditions` entry as upstream's `SetCRDCondition` does: the transition time
/// changes only when the status does.
pub fn set_condition(crd: &mut Value, type_: &str, status: &str, reason: &str, message: &str) {
    if !crd.get("status").is_some_and(Value::is_object) {
        crd["status"] = json!({});
    }
    let conditions = crd["status"]
        .as_object_mut()
        .map(|s| s.entry("conditions").or_insert_with(|| json!([])));
    let Some(Value::Array(list)) = conditions else {
        return;
    };
    let now = crate::registry::meta::now_rfc3339();
    match list
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
    {
        Some(existing) => {
            if existing.get("status").and_then(Value::as_str) != Some(status) {
                existing["lastTransitionTime"] = json!(now);
            }
            existing["status"] = json!(status);
            existing["reason"] = json!(reason);
            existing["message"] = json!(message);
        }
        None => list.push(json!({
            "type": type_,
            "status": status,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        })),
    }
}

/// Whether the CRD has condition `type_` with status `True`.
pub fn condition_true(crd: &Value, type_: &str) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|list| {
            list.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some(type_)
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({
            "spec": {
                "group": "example.com",
                "names": {"plural": "widgets", "kind": "Widget"},
                "scope": "Namespaced",
                "versions": [
                    {"name": "v1beta1", "served": true, "storage": false},
                    {"name": "v1", "served": true, "storage": true},
                ],
            }
        })
    }

    #[test]
    fn defaults_as_upstream() {
        let mut obj = crd();
        CRD.default(&mut obj);
        assert_eq!(obj.pointer("/spec/names/singular"), Some(&json!("widget")));
        assert_eq!(
            obj.pointer("/spec/names/listKind"),
            Some(&json!("WidgetList"))
        );
        assert_eq!(
            obj.pointer("/spec/conversion"),
            Some(&json!({"strategy": "None"}))
        );
    }

    #[test]
    fn create_records_storage_version_and_update_adds_new_ones() {
        let mut obj = crd();
        CRD.prepare_create(&mut obj);
        assert_eq!(obj.pointer("/status/storedVersions"), Some(&json!(["v1"])));
        obj["spec"]["versions"][0]["storage"] = json!(true);
        obj["spec"]["versions"][1]["storage"] = json!(false);
        CRD.default(&mut obj);
        assert_eq!(
            obj.pointer("/status/storedVersions"),
            Some(&json!(["v1", "v1beta1"]))
        );
    }

    #[test]
    fn conditions_keep_transition_time_unless_status_changes() {
        let mut obj = crd();
        set_condition(&mut obj, "Established", "False", "Installing", "x");
        obj["status"]["conditions"][0]["lastTransitionTime"] = json!("then");
        set_condition(&mut obj, "Established", "False", "Installing", "y");
        assert_eq!(
            obj.pointer("/status/conditions/0/lastTransitionTime"),
            Some(&json!("then"))
        );
        set_condition(&mut obj, "Established", "True", "InitialNamesAccepted", "z");
        assert_ne!(
            obj.pointer("/status/conditions/0/lastTransitionTime"),
            Some(&json!("then"))
        );
        assert!(condition_true(&obj, "Established"));
    }
}
