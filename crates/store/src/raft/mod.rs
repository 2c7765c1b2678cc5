//! openraft wiring: the type config, the durable log store (a WAL of our own), the in-memory state
//! machine with file snapshots, and the network seam for multi-node clusters.

mod disk_full;
mod log_store;
mod network;
mod state_machine;
pub mod transport;
mod wal;

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use openraft::{AnyError, BasicNode, LogId, StorageError, StorageIOError, StoredMembership};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::state::KvState;
use crate::types::{Event, Txn, TxnOutcome};
use crate::watch::WatchHub;

pub use disk_full::DiskFull;
pub use log_store::{LogReader, LogStore};
pub(crate) use network::serve_raft_rpc;
pub use network::{Network, NetworkFactory};
pub use state_machine::{SnapshotBuilder, StateMachine};

/// The payload of a raft log entry: a batch of transactions applied in order, each at its own
/// revision. Shared behind an Arc so log reads do not copy the values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal(pub Arc<Vec<Txn>>);

impl Serialize for Proposal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.as_ref().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Proposal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<Txn>::deserialize(d).map(|t| Proposal(Arc::new(t)))
    }
}

/// What applying one log entry returned: one outcome per txn of the batch (empty for
/// raft-internal entries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyResult(pub Vec<TxnOutcome>);

openraft::declare_raft_types!(
    /// The store's raft type configuration.
    pub TypeConfig:
        D = Proposal,
        R = ApplyResult,
        NodeId = u64,
        Node = BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The raft handle type for this store.
pub type StoreRaft = openraft::Raft<TypeConfig>;

/// The state machine's data; one lock covers all of it so a snapshot is always consistent.
pub(crate) struct SmData {
    pub kv: KvState,
    pub last_applied: Option<LogId<u64>>,
    pub membership: StoredMembership<u64, BasicNode>,
}

/// State shared by the raft state machine (writer) and the store's read/watch paths.
pub struct Shared {
    pub(crate) data: RwLock<SmData>,
    pub(crate) hub: Mutex<WatchHub>,
    revision: AtomicU64,
    compacted: AtomicU64,
    /// Whether a durable write (log, vote, snapshot) is waiting for disk space.
    pub(crate) disk: Arc<DiskFull>,
}

impl Shared {
    /// Empty shared state keeping `history_limit` events.
    pub fn new(history_limit: usize) -> Arc<Self> {
        Arc::new(Shared {
            data: RwLock::new(SmData {
                kv: KvState::new(history_limit),
                last_applied: None,
                membership: StoredMembership::default(),
            }),
            hub: Mutex::new(WatchHub::default()),
            revision: AtomicU64::new(0),
            compacted: AtomicU64::new(0),
            disk: Arc::default(),
        })
    }

    /// Last applied revision, readable without taking the state lock.
    pub fn revision(&self) -> u64 {
        self.revision.load(Ordering::Acquire)
    }

    /// Compacted revision, readable without taking the state lock.
    pub fn compacted(&self) -> u64 {
        self.compacted.load(Ordering::Acquire)
    }

    /// Refreshes the lock-free counters and fans `events` out; called with the write lock held
    /// so a concurrent watch registration sees either none or all of them in its replay.
    pub(crate) fn publish(&self, data: &SmData, events: &[Arc<Event>]) {
        self.revision.store(data.kv.revision(), Ordering::Release);
        self.compacted.store(data.kv.compacted(), Ordering::Release);
        self.hub.lock().broadcast(events);
    }
}

/// Wraps any error as an openraft storage error about the log.
pub(crate) fn log_err(e: impl std::fmt::Display) -> StorageError<u64> {
    StorageIOError::write_logs(AnyError::error(e)).into()
}

/// Wraps any error as an openraft storage error about the state machine or snapshots.
pub(crate) fn sm_err(e: impl std::fmt::Display) -> StorageError<u64> {
    StorageIOError::write_state_machine(AnyError::error(e)).into()
}

#[cfg(test)]
mod suite_tests;
