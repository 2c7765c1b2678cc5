//! The store's vocabulary: keys, values, transactions, ranges and watch events.
//!
//! Values are JSON objects (Kubernetes objects). The store stamps
//! `metadata.resourceVersion` with the revision of the write when it applies one, so a value read
//! back (or seen in a watch event) is ready to send to a client without re-encoding.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A global revision: every write gets the next one; 0 means "none yet" / "latest" in requests.
pub type Revision = u64;

/// One stored object as a reader sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    /// `/<group or core>/<resource>/<namespace or _>/<name>`
    pub key: String,
    /// The object's JSON with `metadata.resourceVersion` == `mod_revision`.
    pub value: Bytes,
    /// Revision of the write that created this key (since it last did not exist).
    pub create_revision: Revision,
    /// Revision of the last write to this key.
    pub mod_revision: Revision,
}

/// A precondition on one key, checked atomically before a transaction's operations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compare {
    /// The key must not exist.
    Absent,
    /// The key must exist (any revision).
    Exists,
    /// The key must exist with exactly this mod revision.
    ModRevision(Revision),
}

/// One write inside a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Create or replace the key's value (JSON object bytes; resourceVersion is stamped on apply).
    Put {
        /// The key to write.
        key: String,
        /// The object's JSON.
        value: Vec<u8>,
    },
    /// Remove the key; a missing key is not an error (the watch sees no event for it).
    Delete {
        /// The key to remove.
        key: String,
    },
    /// etcd's compaction: forget the history at and before `revision` (reads and watches
    /// from then on start after it). Writes nothing and takes no revision; a revision not
    /// newer than the last compaction, or past the current one, changes nothing.
    Compact {
        /// The newest revision to forget.
        revision: Revision,
    },
}

/// An atomic transaction: if every compare holds, apply every op at one new revision.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    /// Preconditions, each on one key.
    pub compares: Vec<(String, Compare)>,
    /// Writes applied when all compares hold.
    pub ops: Vec<Op>,
}

/// What a transaction did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnOutcome {
    /// All compares held; the ops were applied at `revision`. `values` holds, per op, the stored
    /// value after the op (Put) or the deleted value stamped with `revision` (Delete; None if absent).
    Applied {
        /// The revision the ops were written at.
        revision: Revision,
        /// Per op: the stored value (Put) or the stamped deleted value (Delete; None if absent).
        values: Vec<Option<KeyValue>>,
    },
    /// Compare number `failed_compare` did not hold; nothing was written. `current` is that key's
    /// current value (None when absent).
    Failed {
        /// Index into `compares` of the first compare that did not hold.
        failed_compare: usize,
        /// That key's current value (None when absent).
        current: Option<KeyValue>,
    },
}

/// A range read: every key with `prefix`, in key order, starting at `start` (inclusive).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeRequest {
    /// Keys must start with this.
    pub prefix: String,
    /// First key to return (inclusive); empty = from the beginning of the prefix.
    pub start: String,
    /// At most this many items; 0 = no limit.
    pub limit: usize,
    /// Read the state as of this revision; 0 = latest.
    pub revision: Revision,
}

/// A range read's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeResponse {
    /// The items, in key order.
    pub items: Vec<KeyValue>,
    /// The revision the read was served at.
    pub revision: Revision,
    /// How many more keys with the prefix come after the last item at that revision.
    pub remaining: usize,
}

/// What happened to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// The key was created (it did not exist before this write).
    Added,
    /// The key existed and was replaced.
    Modified,
    /// The key was deleted.
    Deleted,
}

/// One watch event: a change to one key at one revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// Which key.
    pub key: String,
    /// Revision of the write.
    pub revision: Revision,
    /// New value (Added/Modified), or the last value stamped with the delete's revision (Deleted).
    pub value: Bytes,
    /// The value before this write (Modified/Deleted), as it was stored.
    pub prev: Option<Bytes>,
}
