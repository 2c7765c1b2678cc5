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
    /// A file under the data directory could not be read or written.
    #[error("store I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Data on disk failed to decode or is inconsistent.
    #[error("corrupt store data: {0}")]
    Corrupt(String),
}
