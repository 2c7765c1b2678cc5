//! `ferrokube-store`: the revisioned (MVCC) key-value store behind the API server, replicated by
//! openraft — what etcd is to kube-apiserver.
//!
//! ```text
//! Store::open(StoreConfig { data_dir, node_id, history_events }) -> Store   // bootstraps 1-node raft
//! store.txn(Txn { compares, ops })      -> TxnOutcome::{Applied{revision, values}, Failed{..}}
//! store.get(key) / get_at(key, rev)     -> Option<KeyValue>   (latest reads are linearizable)
//! store.range(RangeRequest{prefix, start, limit, revision}) -> RangeResponse{items, revision, remaining}
//! store.watch(prefix, after)            -> WatchStream of Result<Arc<Event>, StoreError>
//! store.current_revision() / compacted_revision() / shutdown()
//! ```
//!
//! Semantics:
//! - One global revision; every transaction that changes something gets the next one (a failed
//!   compare, or a txn whose ops change nothing, consumes none). On apply every Put has
//!   `metadata.resourceVersion` stamped with its revision; a Delete's event carries the last value
//!   re-stamped with the delete's revision.
//! - The last `history_events` events, and the key versions they wrote, are kept: reads at an
//!   older revision and watches from an older revision work inside that window and fail with
//!   [`StoreError::Compacted`] before it.
//! - Watches replay history then go live with no gap and no duplicate; a watcher whose buffer
//!   overflows gets [`StoreError::WatcherTooSlow`] as its last item and should re-watch.
//! - Several servers: with a [`PeerConfig`] the raft RPCs travel through a [`PeerTransport`];
//!   writes on a follower are forwarded to the leader as a batch and acknowledged once applied
//!   locally (read-your-writes on any server); latest reads take the leader's read index and
//!   wait for the local apply; watches are served from the local applied state, with the same
//!   revisions on every server. Without a leader or quorum, writes and latest reads fail with
//!   [`StoreError::Timeout`] after 10 s rather than hang.
//! - Durability: concurrent txns are batched into one raft entry; the raft log is a WAL of our own
//!   (CRC-framed segments, one fsync per batch of appends from a dedicated thread = group commit);
//!   the state machine lives in memory and is snapshotted to one file, after which the log is
//!   purged. An acknowledged txn is on disk.

#![deny(missing_docs)]

mod cluster;
mod error;
mod membership;
mod mvcc;
mod peer_service;
mod proposer;
pub mod raft;
mod state;
mod store;
mod types;
mod watch;

pub use error::StoreError;
pub use membership::{MemberInfo, Role};
pub use raft::transport::{PeerTransport, TransportError};
pub use store::{PeerConfig, Store, StoreConfig, DEFAULT_HISTORY_EVENTS};
pub use types::{
    Compare, Event, EventKind, KeyValue, Op, RangeRequest, RangeResponse, Revision, Txn, TxnOutcome,
};
pub use watch::WatchStream;
