//! Server-owned metadata: uid, timestamps, generateName, and what an update may not change.

use rand::Rng;
use serde_json::{json, Map, Value};

/// Now as upstream's RFC 3339 `metav1.Time` (second precision, UTC).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// An RFC 3339 time `seconds` from now.
pub fn rfc3339_in(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A fresh uid.
pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Upstream's generateName suffix: five characters from an alphabet without vowels or lookalikes.
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// `obj.metadata` as a mutable map, created if missing or not an object.
pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = json!({});
    }
    let map = obj.as_object_mut().expect("just made an object");
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    meta.as_object_mut().expect("just made an object")
}

/// `metadata.<field>` as a string.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// The object's name.
pub fn name(obj: &Value) -> &str {
    meta_str(obj, "name").unwrap_or("")
}

/// Parses a resourceVersion string; "" and absent are None.
pub fn parse_rv(rv: Option<&str>) -> Result<Option<u64>, String> {
    match rv {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse::<u64>()
            .map(Some)
            .map_err(|_| format!("invalid resource version: {s:?}")),
    }
}

/// Fields of ObjectMeta the server owns on update: copied from the stored object.
const SERVER_OWNED_ON_UPDATE: &[&str] = &[
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "selfLink",
];

/// Carries server-owned metadata of `old` into `new` (the client cannot change them by update).
pub fn keep_server_owned(new: &mut Value, old: &Value) {
    let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let meta = metadata_mut(new);
    for field in SERVER_OWNED_ON_UPDATE {
        match old_meta.get(*field) {
            Some(v) => {
                meta.insert(field.to_string(), v.clone());
            }
            None => {
                meta.remove(*field);
            }
        }
    }
    if !meta.contains_key("managedFields") {
        if let Some(mf) = old_meta.get("managedFields") {
            meta.insert("managedFields".into(), mf.clone());
        }
    }
}

/// True when the object has finalizers left that block its removal.
pub fn has_finalizers(obj: &Value) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty())
}

/// Removes null-valued metadata fields clients send (e.g. `creationTimestamp: null`).
pub fn drop_null_metadata(obj: &mut Value) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.retain(|_, v| !v.is_null());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_uses_upstream_alphabet() {
        let s = random_suffix();
        assert_eq!(s.len(), 5);
        assert!(s.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    }

    #[test]
    fn server_owned_fields_survive_update() {
        let old = json!({"metadata": {"name": "a", "uid": "u", "creationTimestamp": "t", "generation": 3}});
        let mut new = json!({"metadata": {"name": "a", "uid": "forged", "labels": {"x": "y"}}});
        keep_server_owned(&mut new, &old);
        assert_eq!(new.pointer("/metadata/uid"), Some(&json!("u")));
        assert_eq!(new.pointer("/metadata/generation"), Some(&json!(3)));
        assert_eq!(new.pointer("/metadata/labels/x"), Some(&json!("y")));
    }

    #[test]
    fn rv_parsing() {
        assert_eq!(parse_rv(None), Ok(None));
        assert_eq!(parse_rv(Some("")), Ok(None));
        assert_eq!(parse_rv(Some("12")), Ok(Some(12)));
        assert!(parse_rv(Some("abc")).is_err());
    }
}
