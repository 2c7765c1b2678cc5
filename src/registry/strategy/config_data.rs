//! ConfigMaps and Secrets: the `immutable` lock (upstream `ValidateConfigMapUpdate` and
//! `ValidateSecretUpdate`) and Secrets' write-only `stringData`.

use base64::Engine;
use ferrokube_apimachinery::validation::FieldError;
use serde_json::{json, Value};

use super::{set_default, Strategy};

const LOCKED: &str = "field is immutable when `immutable` is set";

/// ConfigMaps: `data` and `binaryData` are frozen once `immutable` is true.
pub struct ConfigMapStrategy;
/// The config map strategy.
pub static CONFIG_MAP: ConfigMapStrategy = ConfigMapStrategy;

impl Strategy for ConfigMapStrategy {
    fn validate(&self, new: &Value, old: Option<&Value>) -> Vec<FieldError> {
        old.map_or_else(Vec::new, |old| {
            locked_fields(new, old, &["data", "binaryData"])
        })
    }
}

/// Secrets: type Opaque by default, `stringData` folded into `data`, `type` immutable, `data`
/// frozen once `immutable` is true.
pub struct SecretStrategy;
/// The secret strategy.
pub static SECRET: SecretStrategy = SecretStrategy;

impl Strategy for SecretStrategy {
    fn default(&self, obj: &mut Value) {
        set_default(obj, &["type"], json!("Opaque"));
        fold_string_data(obj);
    }

    fn validate(&self, new: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let Some(old) = old else {
            return Vec::new();
        };
        let mut errs = Vec::new();
        if new.get("type") != old.get("type") {
            let value = new.get("type").and_then(Value::as_str).unwrap_or("");
            errs.push(FieldError::invalid("type", value, "field is immutable"));
        }
        errs.extend(locked_fields(new, old, &["data"]));
        errs
    }
}

/// Upstream's v1 → internal conversion: `stringData` is a write-only convenience whose entries
/// overwrite `data`'s, and it is never stored or returned.
fn fold_string_data(obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let Some(Value::Object(strings)) = map.remove("stringData") else {
        return;
    };
    if strings.is_empty() {
        return;
    }
    let data = map.entry("data").or_insert_with(|| json!({}));
    if !data.is_object() {
        *data = json!({});
    }
    for (key, value) in strings {
        let text = value.as_str().unwrap_or_default();
        let encoded = base64::engine::general_purpose::STANDARD.encode(text);
        data[key] = Value::String(encoded);
    }
}

/// Once the stored object is `immutable: true`, the flag stays and `fields` do not change.
fn locked_fields(new: &Value, old: &Value, fields: &[&str]) -> Vec<FieldError> {
    if old.get("immutable") != Some(&Value::Bool(true)) {
        return Vec::new();
    }
    let mut errs = Vec::new();
    if new.get("immutable") != Some(&Value::Bool(true)) {
        errs.push(FieldError::forbidden("immutable", LOCKED));
    }
    let empty = |v: Option<&Value>| v.is_none_or(|v| v.is_null() || v == &json!({}));
    for field in fields {
        let (n, o) = (new.get(*field), old.get(*field));
        if n != o && !(empty(n) && empty(o)) {
            errs.push(FieldError::forbidden(field, LOCKED));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_data_becomes_data() {
        let mut s = json!({"data": {"a": "eA==", "b": "eA=="}, "stringData": {"b": "hi"}});
        SECRET.default(&mut s);
        assert_eq!(
            s,
            json!({"type": "Opaque", "data": {"a": "eA==", "b": "aGk="}})
        );
    }

    #[test]
    fn an_immutable_object_keeps_its_data_and_its_flag() {
        let old = json!({"immutable": true, "data": {"a": "1"}});
        assert!(CONFIG_MAP.validate(&old, Some(&old)).is_empty());
        let changed = json!({"immutable": true, "data": {"a": "2"}});
        let errs = CONFIG_MAP.validate(&changed, Some(&old));
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "data");
        let unlocked = json!({"immutable": false, "data": {"a": "1"}});
        assert_eq!(
            CONFIG_MAP.validate(&unlocked, Some(&old))[0].field,
            "immutable"
        );
        let mutable = json!({"data": {"a": "1"}});
        assert!(CONFIG_MAP.validate(&changed, Some(&mutable)).is_empty());
    }

    #[test]
    fn a_secret_keeps_its_type() {
        let old = json!({"type": "Opaque"});
        let new = json!({"type": "kubernetes.io/tls"});
        assert_eq!(SECRET.validate(&new, Some(&old))[0].field, "type");
    }
}
