//! Duplicate keys in a JSON or YAML request body.
//!
//! serde_json, like Go's encoding/json, silently keeps the last of repeated keys, so by the time a
//! body is a `Value` the duplicates are gone. Upstream's strict decoder (sigs.k8s.io/json
//! `UnmarshalStrict`) reports each repeated key as `duplicate field "<key>"` (the key alone, not its
//! path), which `fieldValidation=Strict` turns into a 400 and `Warn` into a `Warning` header. This
//! scan finds them without building the value: one pass, allocating only the keys of the objects
//! it is inside.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// Upstream stops collecting strict errors after this many.
const MAX_REPORTED: usize = 100;

/// The repeated keys of a body, in document order, each once. Bodies that do not parse give none:
/// the decoder that builds the object reports the syntax error.
pub fn duplicate_fields(media_type: &str, body: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let scan = Scan { found: &mut found };
    match media_type {
        "application/json"
        | "application/merge-patch+json"
        | "application/strategic-merge-patch+json"
        | ""
        | "*/*" => {
            let mut de = serde_json::Deserializer::from_slice(body);
            let _ = scan.deserialize(&mut de);
        }
        "application/yaml"
        | "application/x-yaml"
        | "text/yaml"
        | "application/apply-patch+yaml" => {
            if let Ok(text) = std::str::from_utf8(body) {
                let _ = scan.deserialize(serde_yaml_ng::Deserializer::from_str(text));
            }
        }
        // Protobuf cannot repeat a field name; JSON patches are operation lists.
        _ => {}
    }
    found
}

/// Walks any value, recording repeated keys of every object it meets.
struct Scan<'a> {
    found: &'a mut Vec<String>,
}

impl Scan<'_> {
    fn record(&mut self, key: String) {
        if self.found.len() < MAX_REPORTED && !self.found.contains(&key) {
            self.found.push(key);
        }
    }
}

impl<'de> DeserializeSeed<'de> for Scan<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Scan<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        // YAML keys may be numbers or booleans; Go's YAML→JSON step stringifies them too.
        while let Some(key) = map.next_key::<Value>()? {
            let key = match key {
                Value::String(s) => s,
                other => other.to_string(),
            };
            if !seen.insert(key.clone()) {
                self.record(key);
            }
            map.next_value_seed(Scan {
                found: &mut *self.found,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(Scan {
                found: &mut *self.found,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.deserialize(d)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        // YAML tags (`!foo bar`) arrive as enums; their content cannot hold object keys we check.
        let (_, variant): (IgnoredAny, _) = data.variant()?;
        de::VariantAccess::newtype_variant::<IgnoredAny>(variant).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_duplicates_are_found_at_any_depth_once_each() {
        let body =
            br#"{"kind":"ConfigMap","metadata":{"name":"a","name":"b","labels":{"x":"1","x":"2"}},
            "data":{"k":"1"},"data":{"k":"2"},"items":[{"a":1,"a":2},{"a":1,"a":3}]}"#;
        assert_eq!(
            duplicate_fields("application/json", body),
            vec!["name", "x", "data", "a"]
        );
    }

    #[test]
    fn no_duplicates_no_findings_and_broken_bodies_are_left_to_the_decoder() {
        assert!(duplicate_fields("application/json", br#"{"a":{"a":1},"b":[1,2]}"#).is_empty());
        assert!(duplicate_fields("application/json", b"{\"a\":").is_empty());
        assert!(duplicate_fields("application/vnd.kubernetes.protobuf", b"k8s\0").is_empty());
        assert!(
            duplicate_fields("application/json-patch+json", br#"[{"op":"add","op":"x"}]"#)
                .is_empty()
        );
    }

    #[test]
    fn yaml_duplicates_are_found() {
        let body = b"metadata:\n  name: a\n  name: b\nspec:\n  replicas: 1\n  replicas: 2\n";
        assert_eq!(
            duplicate_fields("application/apply-patch+yaml", body),
            vec!["name", "replicas"]
        );
    }
}
