//! Duplicate keys in a JSON or YAML request body.
//!
//! serde_json, like Go's encoding/json, silently keeps the last of repeated keys, so by the time a
//! body is a `Value` the duplicates are gone. Upstream's strict decoder (sigs.k8s.io/json
//! `UnmarshalStrict`) reports each repeated key by its path, as `duplicate field "spec.replicas"`
//! (list items as `[i]`), which `fieldValidation=Strict` turns into a 400 and `Warn` into a
//! `Warning` header. This scan finds them without building the value: one pass, allocating only
//! the keys of the objects it is inside.

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
    let scan = Scan {
        found: &mut found,
        path: String::new(),
        fail_on_repeat: false,
    };
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

/// Upstream's YAML→JSON step on an apply body (go-yaml's strict unmarshal): the first repeated
/// key as `line N: key "k" already set in map`, None when no key repeats. Only called for bodies
/// the scan above found duplicates in.
pub fn yaml_duplicate_error(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let mut found = Vec::new();
    let probe = Scan {
        found: &mut found,
        path: String::new(),
        fail_on_repeat: true,
    };
    // The probe fails at the repeated key, so the error carries that key's line.
    let err = probe
        .deserialize(serde_yaml_ng::Deserializer::from_str(text))
        .err()?;
    let key = found.first()?.rsplit('.').next()?.to_string();
    let mapping = err.location()?;
    let line = repeated_key_line(text, mapping.line(), mapping.column(), &key);
    Some(format!(
        "error converting YAML to JSON: yaml: unmarshal errors:\n  line {line}: key {key:?} already set in map"
    ))
}

/// The line of the second `key:` of the block mapping starting at `line`/`column` (1-based; where
/// the decoder locates the error): go-yaml reports the repeat's own line. Flow mappings and
/// anything unusual fall back to the mapping's line.
fn repeated_key_line(text: &str, line: usize, column: usize, key: &str) -> usize {
    let indent = column.saturating_sub(1);
    let starts_key = |rest: &str| {
        [key.to_string(), format!("{key:?}"), format!("'{key}'")]
            .iter()
            .any(|k| {
                rest.strip_prefix(k.as_str())
                    .is_some_and(|r| r.trim_start().starts_with(':'))
            })
    };
    let mut seen = 0;
    for (i, l) in text.lines().enumerate().skip(line.saturating_sub(1)) {
        let content = l.trim_start();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let (prefix, rest) = l.split_at(indent.min(l.len()));
        let inside = prefix.chars().all(|c| c == ' ' || c == '-');
        if i + 1 > line && (!inside || l.len() - content.len() < indent) {
            break;
        }
        if inside && starts_key(rest) {
            seen += 1;
            if seen == 2 {
                return i + 1;
            }
        }
    }
    line
}

/// Walks any value, recording repeated keys of every object it meets.
struct Scan<'a> {
    found: &'a mut Vec<String>,
    /// Path of the value being walked (`spec.ports[0]`), empty at the top.
    path: String,
    /// Stop at the first repeated key with an error (which the YAML decoder locates).
    fail_on_repeat: bool,
}

impl Scan<'_> {
    fn record(&mut self, key: String) {
        if self.found.len() < MAX_REPORTED && !self.found.contains(&key) {
            self.found.push(key);
        }
    }

    fn child(&mut self, path: String) -> Scan<'_> {
        Scan {
            found: &mut *self.found,
            path,
            fail_on_repeat: self.fail_on_repeat,
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
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if !seen.insert(key) {
                self.record(path.clone());
                if self.fail_on_repeat {
                    return Err(de::Error::custom("repeated key"));
                }
            }
            map.next_value_seed(self.child(path))?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        for i in 0.. {
            let path = format!("{}[{i}]", self.path);
            if seq.next_element_seed(self.child(path))?.is_none() {
                break;
            }
        }
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
            vec![
                "metadata.name",
                "metadata.labels.x",
                "data",
                "items[0].a",
                "items[1].a"
            ]
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
            vec!["metadata.name", "spec.replicas"]
        );
    }

    #[test]
    fn yaml_duplicates_are_located_as_go_yaml_does() {
        let body = b"\napiVersion: v1\nkind: X\nmetadata:\n  name: a\nspec:\n  unknown: uk1\n  foo: foo1\n  foo: foo2\n";
        assert_eq!(
            yaml_duplicate_error(body).as_deref(),
            Some("error converting YAML to JSON: yaml: unmarshal errors:\n  line 9: key \"foo\" already set in map")
        );
        assert_eq!(yaml_duplicate_error(b"a: 1\nb: 2\n"), None);
        let list = b"items:\n- name: a\n  x: 1\n- name: b\n  x: 2\n  name: c\n";
        assert!(yaml_duplicate_error(list)
            .is_some_and(|e| e.ends_with("line 6: key \"name\" already set in map")));
    }
}
