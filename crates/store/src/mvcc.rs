//! The multi-version key space: every key keeps the versions written inside the history window,
//! so reads at an older revision see the state as it was then.

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::types::{KeyValue, Revision};

/// One version of one key: a value written at `mod_revision`, or a tombstone (`value: None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Version {
    /// Revision of the write that produced this version.
    pub mod_revision: Revision,
    /// Revision at which the key was (re)created; 0 for tombstones.
    pub create_revision: Revision,
    /// The stored bytes; None marks a delete.
    pub value: Option<Bytes>,
}

/// All keys with their versions, oldest first per key.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Mvcc {
    keys: BTreeMap<String, Vec<Version>>,
}

fn to_kv(key: &str, v: &Version) -> Option<KeyValue> {
    v.value.as_ref().map(|value| KeyValue {
        key: key.to_string(),
        value: value.clone(),
        create_revision: v.create_revision,
        mod_revision: v.mod_revision,
    })
}

/// The version of a key visible at `rev`: the newest one written at or before it.
fn visible_at(versions: &[Version], rev: Revision) -> Option<&Version> {
    let idx = versions.partition_point(|v| v.mod_revision <= rev);
    idx.checked_sub(1).and_then(|i| versions.get(i))
}

impl Mvcc {
    /// Number of keys that currently hold any version (live or tombstone).
    #[cfg(test)]
    pub fn tracked_keys(&self) -> usize {
        self.keys.len()
    }

    /// The latest live value of `key`.
    pub fn latest(&self, key: &str) -> Option<KeyValue> {
        let versions = self.keys.get(key)?;
        versions.last().and_then(|v| to_kv(key, v))
    }

    /// The live value of `key` as of revision `rev`.
    pub fn at(&self, key: &str, rev: Revision) -> Option<KeyValue> {
        let versions = self.keys.get(key)?;
        visible_at(versions, rev).and_then(|v| to_kv(key, v))
    }

    /// Writes `value` to `key` at `rev`; returns the new and the previous live value.
    pub fn put(&mut self, key: &str, value: Bytes, rev: Revision) -> (KeyValue, Option<KeyValue>) {
        let versions = self.keys.entry(key.to_string()).or_default();
        let prev = versions.last().and_then(|v| to_kv(key, v));
        let create_revision = prev.as_ref().map_or(rev, |p| p.create_revision);
        let version = Version {
            mod_revision: rev,
            create_revision,
            value: Some(value.clone()),
        };
        push_version(versions, version);
        let kv = KeyValue {
            key: key.to_string(),
            value,
            create_revision,
            mod_revision: rev,
        };
        (kv, prev)
    }

    /// Deletes `key` at `rev`; returns the previous live value (None: nothing was deleted).
    pub fn delete(&mut self, key: &str, rev: Revision) -> Option<KeyValue> {
        let versions = self.keys.get_mut(key)?;
        let prev = versions.last().and_then(|v| to_kv(key, v))?;
        push_version(
            versions,
            Version {
                mod_revision: rev,
                create_revision: 0,
                value: None,
            },
        );
        Some(prev)
    }

    /// Live keys with `prefix` at revision `rev`, from `start` on, at most `limit` (0 = all);
    /// also returns how many more live keys follow the last returned one.
    pub fn range(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
        rev: Revision,
    ) -> (Vec<KeyValue>, usize) {
        let from = if start > prefix { start } else { prefix };
        let live = self
            .keys
            .range::<str, _>((Bound::Included(from), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter_map(|(k, versions)| visible_at(versions, rev).map(|v| (k, v)))
            .filter(|(_, v)| v.value.is_some());
        let mut items = Vec::new();
        let mut remaining = 0;
        for (k, v) in live {
            if limit == 0 || items.len() < limit {
                if let Some(kv) = to_kv(k, v) {
                    items.push(kv);
                }
            } else {
                remaining += 1;
            }
        }
        (items, remaining)
    }

    /// Drops the versions of `key` that no read at or after `compacted` can see any more.
    pub fn compact_key(&mut self, key: &str, compacted: Revision) {
        let Some(versions) = self.keys.get_mut(key) else {
            return;
        };
        let visible = versions.partition_point(|v| v.mod_revision <= compacted);
        // Keep the version visible at `compacted` itself: reads at exactly that revision stay valid.
        let keep_from = visible.saturating_sub(1);
        versions.drain(..keep_from);
        if versions
            .first()
            .is_some_and(|v| v.value.is_none() && v.mod_revision <= compacted)
        {
            // A tombstone at or before the compacted revision hides nothing readable any more.
            versions.remove(0);
        }
        if versions.is_empty() {
            self.keys.remove(key);
        }
    }
}

/// Appends a version; a second write to the same key in one transaction replaces the first so
/// a revision maps to at most one version per key.
fn push_version(versions: &mut Vec<Version>, version: Version) {
    match versions.last_mut() {
        Some(last) if last.mod_revision == version.mod_revision => *last = version,
        _ => versions.push(version),
    }
}

/// Returns `value` with `metadata.resourceVersion` set to `rev`, or `value` unchanged when it is
/// not a JSON object with an object `metadata` (the store holds opaque bytes too).
///
/// Runs for every write inside the state machine, so it re-parses only the two levels it
/// touches: the top-level members and `metadata`'s are kept as raw JSON and copied through.
pub(crate) fn stamp_resource_version(value: &[u8], rev: Revision) -> Bytes {
    stamp_raw(value, rev).unwrap_or_else(|| Bytes::copy_from_slice(value))
}

fn stamp_raw(value: &[u8], rev: Revision) -> Option<Bytes> {
    let top: RawMembers<'_> = serde_json::from_slice(value).ok()?;
    let meta_at = top.0.iter().position(|(k, _)| k == "metadata")?;
    let meta: RawMembers<'_> = serde_json::from_str(top.0[meta_at].1.get()).ok()?;
    let rv = format!("\"{rev}\"");
    let mut meta_out = Vec::with_capacity(top.0[meta_at].1.get().len() + 32);
    let mut stamped = false;
    write_members(
        &mut meta_out,
        meta.0.iter().map(|(k, v)| {
            if k == "resourceVersion" {
                stamped = true;
                (k.as_str(), rv.as_str())
            } else {
                (k.as_str(), v.get())
            }
        }),
    );
    if !stamped {
        // Append the member: reopen the object just written.
        meta_out.pop();
        if meta.0.is_empty() {
            meta_out.extend_from_slice(b"\"resourceVersion\":");
        } else {
            meta_out.extend_from_slice(b",\"resourceVersion\":");
        }
        meta_out.extend_from_slice(rv.as_bytes());
        meta_out.push(b'}');
    }
    let meta_text = std::str::from_utf8(&meta_out).ok()?;
    let mut out = Vec::with_capacity(value.len() + 32);
    write_members(
        &mut out,
        top.0.iter().enumerate().map(|(i, (k, v))| {
            if i == meta_at {
                (k.as_str(), meta_text)
            } else {
                (k.as_str(), v.get())
            }
        }),
    );
    Some(Bytes::from(out))
}

/// An object's members in document order, values left as raw JSON text.
struct RawMembers<'a>(Vec<(String, &'a serde_json::value::RawValue)>);

impl<'de> Deserialize<'de> for RawMembers<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = RawMembers<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(RawMembers(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Writes `{"k":v,...}` with each key JSON-escaped and each value copied as is.
fn write_members<'a>(out: &mut Vec<u8>, members: impl Iterator<Item = (&'a str, &'a str)>) {
    out.push(b'{');
    for (i, (k, v)) in members.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, k);
        out.push(b':');
        out.extend_from_slice(v.as_bytes());
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn stamp_sets_resource_version_and_keeps_order() {
        let out = stamp_resource_version(br#"{"kind":"Pod","metadata":{"name":"a"},"x":1}"#, 42);
        assert_eq!(
            &out[..],
            br#"{"kind":"Pod","metadata":{"name":"a","resourceVersion":"42"},"x":1}"#
        );
        let out = stamp_resource_version(br#"{"metadata":{"resourceVersion":"3","name":"a"}}"#, 7);
        assert_eq!(
            &out[..],
            br#"{"metadata":{"resourceVersion":"7","name":"a"}}"#
        );
    }

    #[test]
    fn stamp_handles_empty_metadata_escapes_and_nesting() {
        assert_eq!(
            &stamp_resource_version(br#"{"metadata":{}}"#, 5)[..],
            br#"{"metadata":{"resourceVersion":"5"}}"#
        );
        let v = br#"{"a\"b":{"resourceVersion":"1"},"metadata":{"na\u00e9":"x\"y","l":[1,{"z":null}]}}"#;
        let out = stamp_resource_version(v, 8);
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed["metadata"]["resourceVersion"], "8");
        assert_eq!(parsed["metadata"]["na\u{e9}"], "x\"y");
        assert_eq!(
            parsed["a\"b"]["resourceVersion"], "1",
            "only metadata's is stamped"
        );
        assert_eq!(parsed["metadata"]["l"][1]["z"], serde_json::Value::Null);
    }

    #[test]
    fn stamp_leaves_non_objects_alone() {
        for v in [
            &b"not json"[..],
            b"[1,2]",
            br#"{"metadata":5}"#,
            br#"{"a":1}"#,
            b"",
        ] {
            assert_eq!(&stamp_resource_version(v, 9)[..], v);
        }
    }

    #[test]
    fn put_tracks_create_and_mod_revision() {
        let mut m = Mvcc::default();
        let (kv, prev) = m.put("/a", b("1"), 1);
        assert_eq!((kv.create_revision, kv.mod_revision), (1, 1));
        assert!(prev.is_none());
        let (kv, prev) = m.put("/a", b("2"), 2);
        assert_eq!((kv.create_revision, kv.mod_revision), (1, 2));
        assert_eq!(prev.map(|p| p.value), Some(b("1")));
        assert_eq!(m.delete("/a", 3).map(|p| p.mod_revision), Some(2));
        assert!(m.latest("/a").is_none());
        assert!(
            m.delete("/a", 4).is_none(),
            "deleting an absent key is a no-op"
        );
        let (kv, _) = m.put("/a", b("3"), 5);
        assert_eq!((kv.create_revision, kv.mod_revision), (5, 5));
    }

    #[test]
    fn reads_at_older_revisions() {
        let mut m = Mvcc::default();
        m.put("/a", b("1"), 1);
        m.put("/a", b("2"), 3);
        m.delete("/a", 5);
        assert!(m.at("/a", 0).is_none());
        assert_eq!(m.at("/a", 1).map(|k| k.value), Some(b("1")));
        assert_eq!(m.at("/a", 2).map(|k| k.value), Some(b("1")));
        assert_eq!(m.at("/a", 4).map(|k| k.value), Some(b("2")));
        assert!(m.at("/a", 5).is_none());
    }

    #[test]
    fn range_prefix_start_limit_remaining() {
        let mut m = Mvcc::default();
        for (i, k) in ["/p/a", "/p/b", "/p/c", "/p/d", "/q/a", "/o/z"]
            .iter()
            .enumerate()
        {
            m.put(k, b(k), i as u64 + 1);
        }
        m.delete("/p/c", 7);
        let keys = |v: Vec<KeyValue>| v.into_iter().map(|k| k.key).collect::<Vec<_>>();
        let (items, rem) = m.range("/p/", "", 0, 7);
        assert_eq!(
            (keys(items), rem),
            (vec!["/p/a".into(), "/p/b".into(), "/p/d".into()], 0)
        );
        let (items, rem) = m.range("/p/", "", 2, 7);
        assert_eq!((keys(items), rem), (vec!["/p/a".into(), "/p/b".into()], 1));
        let (items, rem) = m.range("/p/", "/p/b\0", 1, 7);
        assert_eq!((keys(items), rem), (vec!["/p/d".into()], 0));
        // At revision 6 the deleted key is still there.
        let (items, rem) = m.range("/p/", "/p/b", 1, 6);
        assert_eq!((keys(items), rem), (vec!["/p/b".into()], 2));
        // A start before the prefix is clamped to the prefix.
        let (items, _) = m.range("/p/", "/a", 1, 7);
        assert_eq!(keys(items), vec!["/p/a".to_string()]);
    }

    #[test]
    fn compaction_keeps_the_version_visible_at_the_compacted_revision() {
        let mut m = Mvcc::default();
        m.put("/a", b("1"), 1);
        m.put("/a", b("2"), 2);
        m.put("/a", b("3"), 4);
        m.compact_key("/a", 3);
        assert_eq!(m.at("/a", 3).map(|k| k.value), Some(b("2")));
        assert_eq!(m.at("/a", 4).map(|k| k.value), Some(b("3")));
        assert!(m.at("/a", 1).is_none(), "version 1 was compacted away");
        m.delete("/a", 5);
        m.compact_key("/a", 5);
        assert_eq!(m.tracked_keys(), 0, "a compacted tombstone frees the key");
    }

    #[test]
    fn same_revision_writes_collapse() {
        let mut m = Mvcc::default();
        m.put("/a", b("1"), 1);
        m.put("/a", b("2"), 1);
        let kv = m.latest("/a");
        assert_eq!(kv.map(|k| (k.value, k.create_revision)), Some((b("2"), 1)));
        m.delete("/a", 1);
        assert!(m.latest("/a").is_none());
        assert!(m.at("/a", 1).is_none());
    }
}
