//! The store's error type.

use crate::types::Revision;

/// Everything a store operation can fail with.
#[derive(thiserror::Error, Debug)]
pub enum StoreError {
    /// The requested revision is older than the history the store still keeps
    /// (the API server maps this to `410 Gone`, reason `Expired`).
    #[error("required revision {requested} has been compacted (compacted revision {compacted})")]
    Compacted {
        /// The revision asked for.
        requested: u64,
        /// The oldest revision still readable.
        compacted: Revision,
    },
    /// The requested revision has not been written yet.
    #[error("required revision {requested} is a future revision (current revision {current})")]
    FutureRevision {
        /// The revision asked for.
        requested: Revision,
        /// The newest applied revision.
        current: Revision,
    },
    /// A watcher fell too far behind the live event stream; it should re-watch from the last
    /// revision it saw.
    #[error("watcher fell behind and was closed; re-watch from the last seen revision")]
    WatcherTooSlow,
    /// The store cannot serve the request now (not leader, shutting down, raft failure).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A write or linearizable read could not complete in time: no leader, or no quorum
    /// reachable from this server (the API server maps this to `504 Timeout`).
    #[error("store timeout: {0}")]
    Timeout(String),
    /// A named cluster member does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A cluster change that is not allowed (e.g. removing the last voter).
    #[error("{0}")]
    Refused(String),
    /// A file under the data directory could not be read or written.
    #[error("store I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Data on disk failed to decode or is inconsistent.
    #[error("corrupt store data: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// A copy for fanning one failure out to every txn of a batch (I/O errors lose their
    /// source but keep their message).
    pub(crate) fn clone_shallow(&self) -> StoreError {
        match self {
            StoreError::Compacted {
                requested,
                compacted,
            } => StoreError::Compacted {
                requested: *requested,
                compacted: *compacted,
            },
            StoreError::FutureRevision { requested, current } => StoreError::FutureRevision {
                requested: *requested,
                current: *current,
            },
            StoreError::WatcherTooSlow => StoreError::WatcherTooSlow,
            StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
            StoreError::Timeout(m) => StoreError::Timeout(m.clone()),
            StoreError::NotFound(m) => StoreError::NotFound(m.clone()),
            StoreError::Refused(m) => StoreError::Refused(m.clone()),
            StoreError::Io(e) => StoreError::Unavailable(e.to_string()),
            StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
        }
    }
}
