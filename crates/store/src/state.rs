//! The applied key-value state: MVCC versions, the revision counter and the event history window.
//! Applying a transaction here is deterministic, so every raft member computes the same result.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize, Serializer};

use crate::error::StoreError;
use crate::mvcc::{stamp_resource_version, Mvcc};
use crate::types::{
    Compare, Event, EventKind, KeyValue, Op, RangeRequest, RangeResponse, Revision, Txn, TxnOutcome,
};

/// The state machine's data, guarded by one lock in [`crate::raft::Shared`].
#[derive(Debug)]
pub(crate) struct KvState {
    mvcc: Mvcc,
    history: VecDeque<Arc<Event>>,
    revision: Revision,
    compacted: Revision,
    history_limit: usize,
}

/// Borrowed form used to write a snapshot without cloning the state.
#[derive(Serialize)]
struct SnapshotRef<'a> {
    revision: Revision,
    compacted: Revision,
    mvcc: &'a Mvcc,
    history: HistoryRef<'a>,
}

struct HistoryRef<'a>(&'a VecDeque<Arc<Event>>);

impl Serialize for HistoryRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|e| e.as_ref()))
    }
}

/// Owned form read back from a snapshot; field order matches [`SnapshotRef`].
#[derive(Deserialize)]
struct SnapshotOwned {
    revision: Revision,
    compacted: Revision,
    mvcc: Mvcc,
    history: Vec<Event>,
}

impl KvState {
    /// An empty state keeping at most `history_limit` events.
    pub fn new(history_limit: usize) -> Self {
        KvState {
            mvcc: Mvcc::default(),
            history: VecDeque::new(),
            revision: 0,
            compacted: 0,
            history_limit,
        }
    }

    /// Last revision written.
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// Oldest revision still readable; watches must start at or after it.
    pub fn compacted(&self) -> Revision {
        self.compacted
    }

    /// Resolves a requested read revision (0 = latest) against history bounds.
    fn read_revision(&self, requested: Revision) -> Result<Revision, StoreError> {
        if requested == 0 {
            return Ok(self.revision);
        }
        if requested < self.compacted {
            return Err(StoreError::Compacted {
                requested,
                compacted: self.compacted,
            });
        }
        if requested > self.revision {
            return Err(StoreError::FutureRevision {
                requested,
                current: self.revision,
            });
        }
        Ok(requested)
    }

    /// The value of `key` at `revision` (0 = latest).
    pub fn get(&self, key: &str, revision: Revision) -> Result<Option<KeyValue>, StoreError> {
        let rev = self.read_revision(revision)?;
        Ok(if rev == self.revision {
            self.mvcc.latest(key)
        } else {
            self.mvcc.at(key, rev)
        })
    }

    /// A range read at the request's revision.
    pub fn range(&self, req: &RangeRequest) -> Result<RangeResponse, StoreError> {
        let rev = self.read_revision(req.revision)?;
        let (items, remaining) = self.mvcc.range(&req.prefix, &req.start, req.limit, rev);
        Ok(RangeResponse {
            items,
            revision: rev,
            remaining,
        })
    }

    /// History events for keys with `prefix` and revision > `after`, oldest first.
    pub fn events_after(
        &self,
        prefix: &str,
        after: Revision,
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        if after < self.compacted {
            return Err(StoreError::Compacted {
                requested: after,
                compacted: self.compacted,
            });
        }
        let first = self.history.partition_point(|e| e.revision <= after);
        Ok(self
            .history
            .range(first..)
            .filter(|e| e.key.starts_with(prefix))
            .cloned()
            .collect())
    }

    fn check(&self, compare: &Compare, current: Option<&KeyValue>) -> bool {
        match compare {
            Compare::Absent => current.is_none(),
            Compare::Exists => current.is_some(),
            Compare::ModRevision(rev) => current.is_some_and(|kv| kv.mod_revision == *rev),
        }
    }

    /// Applies `txn`: checks compares, then writes all ops at the next revision. Returns the
    /// outcome and the watch events it produced (empty when nothing changed).
    pub fn apply_txn(&mut self, txn: &Txn) -> (TxnOutcome, Vec<Arc<Event>>) {
        for (i, (key, compare)) in txn.compares.iter().enumerate() {
            let current = self.mvcc.latest(key);
            if !self.check(compare, current.as_ref()) {
                let outcome = TxnOutcome::Failed {
                    failed_compare: i,
                    current,
                };
                return (outcome, Vec::new());
            }
        }
        let rev = self.revision + 1;
        let mut events = Vec::with_capacity(txn.ops.len());
        let mut values = Vec::with_capacity(txn.ops.len());
        for op in &txn.ops {
            match op {
                Op::Put { key, value } => {
                    let stamped = stamp_resource_version(value, rev);
                    let (kv, prev) = self.mvcc.put(key, stamped.clone(), rev);
                    let kind = if prev.is_some() {
                        EventKind::Modified
                    } else {
                        EventKind::Added
                    };
                    events.push(Arc::new(Event {
                        kind,
                        key: key.clone(),
                        revision: rev,
                        value: stamped,
                        prev: prev.map(|p| p.value),
                    }));
                    values.push(Some(kv));
                }
                Op::Delete { key } => match self.mvcc.delete(key, rev) {
                    Some(prev) => {
                        // Watchers of a delete see the last object carrying the delete's revision.
                        let stamped = stamp_resource_version(&prev.value, rev);
                        events.push(Arc::new(Event {
                            kind: EventKind::Deleted,
                            key: key.clone(),
                            revision: rev,
                            value: stamped.clone(),
                            prev: Some(prev.value),
                        }));
                        values.push(Some(KeyValue {
                            key: key.clone(),
                            value: stamped,
                            create_revision: prev.create_revision,
                            mod_revision: rev,
                        }));
                    }
                    None => values.push(None),
                },
                Op::Compact { revision } => {
                    self.compact_to(*revision);
                    values.push(None);
                }
            }
        }
        if events.is_empty() {
            // Like etcd, a transaction that changed nothing does not consume a revision.
            let outcome = TxnOutcome::Applied {
                revision: self.revision,
                values,
            };
            return (outcome, events);
        }
        self.revision = rev;
        self.history.extend(events.iter().cloned());
        self.compact();
        (
            TxnOutcome::Applied {
                revision: rev,
                values,
            },
            events,
        )
    }

    /// Drops whole revisions from the front of the history until it fits the window, and the
    /// key versions only those revisions could still show.
    fn compact(&mut self) {
        while self.history.len() > self.history_limit {
            let Some(oldest) = self.history.front().map(|e| e.revision) else {
                break;
            };
            let mut keys = Vec::new();
            while self.history.front().is_some_and(|e| e.revision == oldest) {
                if let Some(e) = self.history.pop_front() {
                    keys.push(e.key.clone());
                }
            }
            self.compacted = oldest;
            for key in keys {
                self.mvcc.compact_key(&key, oldest);
            }
        }
    }

    /// Compacts through `revision` (an explicit compaction, as etcd's): the history up to it
    /// goes, and the key versions only those revisions could still show.
    fn compact_to(&mut self, revision: Revision) {
        if revision <= self.compacted || revision > self.revision {
            return;
        }
        let mut keys = HashSet::new();
        while self.history.front().is_some_and(|e| e.revision <= revision) {
            if let Some(e) = self.history.pop_front() {
                keys.insert(e.key.clone());
            }
        }
        self.compacted = revision;
        for key in keys {
            self.mvcc.compact_key(&key, revision);
        }
    }

    /// Serializes the whole state for a raft snapshot.
    pub fn encode(&self) -> Result<Vec<u8>, StoreError> {
        let snap = SnapshotRef {
            revision: self.revision,
            compacted: self.compacted,
            mvcc: &self.mvcc,
            history: HistoryRef(&self.history),
        };
        postcard::to_stdvec(&snap).map_err(|e| StoreError::Corrupt(format!("encode snapshot: {e}")))
    }

    /// Rebuilds a state from [`KvState::encode`] output.
    pub fn decode(bytes: &[u8], history_limit: usize) -> Result<Self, StoreError> {
        let snap: SnapshotOwned = postcard::from_bytes(bytes)
            .map_err(|e| StoreError::Corrupt(format!("decode snapshot: {e}")))?;
        let mut state = KvState {
            mvcc: snap.mvcc,
            history: snap.history.into_iter().map(Arc::new).collect(),
            revision: snap.revision,
            compacted: snap.compacted,
            history_limit,
        };
        state.compact();
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str) -> Op {
        Op::Put {
            key: key.into(),
            value: value.as_bytes().to_vec(),
        }
    }

    fn txn(compares: Vec<(&str, Compare)>, ops: Vec<Op>) -> Txn {
        Txn {
            compares: compares
                .into_iter()
                .map(|(k, c)| (k.to_string(), c))
                .collect(),
            ops,
        }
    }

    fn applied_rev(o: &TxnOutcome) -> Revision {
        match o {
            TxnOutcome::Applied { revision, .. } => *revision,
            TxnOutcome::Failed { .. } => panic!("expected applied, got {o:?}"),
        }
    }

    #[test]
    fn compare_table() {
        // (compare on key "/a" which exists at mod revision 1 / on absent "/b", should apply)
        let cases = [
            ("/a", Compare::Absent, false),
            ("/a", Compare::Exists, true),
            ("/a", Compare::ModRevision(1), true),
            ("/a", Compare::ModRevision(2), false),
            ("/b", Compare::Absent, true),
            ("/b", Compare::Exists, false),
            ("/b", Compare::ModRevision(0), false),
        ];
        for (key, c, ok) in cases {
            let mut s = KvState::new(100);
            let (o, _) = s.apply_txn(&txn(vec![], vec![put("/a", "{}")]));
            assert_eq!(applied_rev(&o), 1);
            let (o, _) = s.apply_txn(&txn(vec![(key, c.clone())], vec![put("/c", "{}")]));
            match o {
                TxnOutcome::Applied { revision, .. } => {
                    assert!(ok, "{key} {c:?} should fail");
                    assert_eq!(revision, 2);
                }
                TxnOutcome::Failed {
                    failed_compare,
                    current,
                } => {
                    assert!(!ok, "{key} {c:?} should hold");
                    assert_eq!(failed_compare, 0);
                    let want = (key == "/a").then_some(1);
                    assert_eq!(current.map(|kv| kv.mod_revision), want);
                    assert_eq!(s.revision(), 1, "a failed txn consumes no revision");
                }
            }
        }
        // The failing compare's index is reported.
        let mut s = KvState::new(100);
        s.apply_txn(&txn(vec![], vec![put("/a", "{}")]));
        let (o, _) = s.apply_txn(&txn(
            vec![("/a", Compare::Exists), ("/b", Compare::Exists)],
            vec![put("/c", "{}")],
        ));
        assert!(matches!(
            o,
            TxnOutcome::Failed {
                failed_compare: 1,
                current: None
            }
        ));
    }

    #[test]
    fn events_and_values() {
        let mut s = KvState::new(100);
        let obj = r#"{"metadata":{"name":"x"}}"#;
        let (o, ev) = s.apply_txn(&txn(vec![], vec![put("/a", obj), put("/b", obj)]));
        assert_eq!(applied_rev(&o), 1);
        assert_eq!(ev.len(), 2);
        assert!(ev
            .iter()
            .all(|e| e.kind == EventKind::Added && e.revision == 1));
        let (_, ev) = s.apply_txn(&txn(vec![], vec![put("/a", obj)]));
        assert_eq!(ev[0].kind, EventKind::Modified);
        assert_eq!(
            ev[0].prev.as_deref(),
            Some(&br#"{"metadata":{"name":"x","resourceVersion":"1"}}"#[..])
        );
        let (o, ev) = s.apply_txn(&txn(
            vec![],
            vec![
                Op::Delete { key: "/a".into() },
                Op::Delete { key: "/zz".into() },
            ],
        ));
        assert_eq!(applied_rev(&o), 3);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].kind, EventKind::Deleted);
        assert_eq!(
            &ev[0].value[..],
            br#"{"metadata":{"name":"x","resourceVersion":"3"}}"#
        );
        if let TxnOutcome::Applied { values, .. } = o {
            assert_eq!(values[0].as_ref().map(|kv| kv.mod_revision), Some(3));
            assert_eq!(values[1], None);
        }
        // Nothing changes -> no revision consumed.
        let (o, ev) = s.apply_txn(&txn(vec![], vec![Op::Delete { key: "/a".into() }]));
        assert_eq!(applied_rev(&o), 3);
        assert!(ev.is_empty());
    }

    #[test]
    fn history_window_compacts_whole_revisions() {
        let mut s = KvState::new(3);
        for i in 0..3 {
            s.apply_txn(&txn(vec![], vec![put("/a", &i.to_string())]));
        }
        assert_eq!(s.compacted(), 0);
        s.apply_txn(&txn(vec![], vec![put("/b", "x"), put("/c", "y")]));
        // 5 events > 3: revisions 1 and 2 are dropped.
        assert_eq!(s.compacted(), 2);
        assert!(matches!(
            s.events_after("/", 1),
            Err(StoreError::Compacted {
                requested: 1,
                compacted: 2
            })
        ));
        let evs = s.events_after("/", 2).unwrap_or_default();
        assert_eq!(
            evs.iter().map(|e| e.revision).collect::<Vec<_>>(),
            vec![3, 4, 4]
        );
        assert_eq!(
            s.get("/a", 2).ok().flatten().map(|kv| kv.value),
            Some("1".into())
        );
        assert!(matches!(s.get("/a", 1), Err(StoreError::Compacted { .. })));
        assert!(matches!(
            s.get("/a", 5),
            Err(StoreError::FutureRevision { .. })
        ));
        let r = s.range(&RangeRequest {
            prefix: "/".into(),
            revision: 3,
            ..Default::default()
        });
        assert_eq!(r.map(|r| r.items.len()).ok(), Some(1));
    }

    #[test]
    fn an_explicit_compaction_forgets_history_through_its_revision() {
        let mut s = KvState::new(1000);
        for i in 0..6 {
            s.apply_txn(&txn(vec![], vec![put(&format!("/k/{}", i % 2), "{}")]));
        }
        let (outcome, events) = s.apply_txn(&txn(vec![], vec![Op::Compact { revision: 4 }]));
        assert!(events.is_empty());
        assert!(matches!(outcome, TxnOutcome::Applied { revision: 6, .. }));
        assert_eq!((s.revision(), s.compacted()), (6, 4));
        let at = |revision| RangeRequest {
            prefix: "/k/".into(),
            revision,
            ..Default::default()
        };
        assert!(s.range(&at(3)).is_err());
        assert_eq!(s.range(&at(4)).map(|r| r.items.len()).ok(), Some(2));
        assert_eq!(s.events_after("/", 4).map(|e| e.len()).ok(), Some(2));
        // Older or future revisions change nothing.
        s.apply_txn(&txn(vec![], vec![Op::Compact { revision: 2 }]));
        s.apply_txn(&txn(vec![], vec![Op::Compact { revision: 9 }]));
        assert_eq!((s.revision(), s.compacted()), (6, 4));
    }

    #[test]
    fn snapshot_roundtrip() {
        let mut s = KvState::new(10);
        for i in 0..20 {
            s.apply_txn(&txn(vec![], vec![put(&format!("/k/{}", i % 4), "{}")]));
        }
        s.apply_txn(&txn(vec![], vec![Op::Delete { key: "/k/1".into() }]));
        let bytes = s.encode().unwrap_or_default();
        let d = KvState::decode(&bytes, 10).expect("decode");
        assert_eq!((d.revision(), d.compacted()), (s.revision(), s.compacted()));
        let req = RangeRequest {
            prefix: "/k/".into(),
            ..Default::default()
        };
        assert_eq!(d.range(&req).ok(), s.range(&req).ok());
        assert_eq!(
            d.events_after("/", d.compacted()).ok(),
            s.events_after("/", s.compacted()).ok()
        );
        assert!(KvState::decode(b"\xff\xff\xff", 10).is_err());
    }
}
