//! openraft's log storage: the live log tail is kept in memory for reads and made durable by the
//! WAL writer thread; the vote lives in its own file, replaced atomically.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, LogId, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote};
use parking_lot::Mutex;

use super::disk_full::{retry_while_full, DiskFull};
use super::wal::{self, encode_record, FlushDone, RecordRef, WalOp};
use super::{log_err, TypeConfig};
use crate::error::StoreError;

type Entry = openraft::Entry<TypeConfig>;

const VOTE_FILE: &str = "vote";
const VOTE_TMP: &str = "vote.tmp";

struct LogCache {
    entries: BTreeMap<u64, Entry>,
    last_purged: Option<LogId<u64>>,
}

/// Reads log entries from the in-memory tail (shared with [`LogStore`]).
#[derive(Clone)]
pub struct LogReader {
    cache: Arc<Mutex<LogCache>>,
}

/// The durable raft log plus vote.
pub struct LogStore {
    reader: LogReader,
    wal: mpsc::Sender<WalOp>,
    writer: Option<std::thread::JoinHandle<()>>,
    dir: PathBuf,
    vote: Option<Vote<u64>>,
    disk: Arc<DiskFull>,
}

impl LogStore {
    /// Opens (or creates) the log under `dir`, replaying the WAL and reading the vote; `disk`
    /// reports writes waiting for disk space.
    pub fn open(dir: &Path, disk: Arc<DiskFull>) -> Result<Self, StoreError> {
        Self::open_with(dir, wal::SEGMENT_BYTES, disk)
    }

    pub(crate) fn open_with(
        dir: &Path,
        segment_bytes: u64,
        disk: Arc<DiskFull>,
    ) -> Result<Self, StoreError> {
        fs::create_dir_all(dir)?;
        let recovered = wal::open_with(&dir.join("log"), segment_bytes, disk.clone())?;
        let vote = read_vote_file(dir)?;
        Ok(LogStore {
            reader: LogReader {
                cache: Arc::new(Mutex::new(LogCache {
                    entries: recovered.entries,
                    last_purged: recovered.last_purged,
                })),
            },
            wal: recovered.wal,
            writer: Some(recovered.writer),
            dir: dir.to_path_buf(),
            vote,
            disk,
        })
    }

    /// Blocks until everything queued to the WAL is durable.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.wal
            .send(WalOp::Flush(tx))
            .map_err(|_| StoreError::Unavailable("raft log writer stopped".into()))?;
        rx.recv()
            .map_err(|_| StoreError::Unavailable("raft log writer stopped".into()))?
            .map_err(|e| StoreError::Io(io::Error::other(e)))
    }

    // openraft's trait methods return StorageError; this helper just feeds them.
    #[allow(clippy::result_large_err)]
    fn send(&self, op: WalOp) -> Result<(), StorageError<u64>> {
        self.wal
            .send(op)
            .map_err(|_| log_err("raft log writer stopped"))
    }
}

impl Drop for LogStore {
    fn drop(&mut self) {
        // Wait for the writer to drain so a reopen of the same directory never races a
        // still-running writer. Closing our sender lets it exit; its queue holds at most one
        // batch, so this waits for at most one fsync.
        let (closed, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.wal, closed));
        if let Some(handle) = self.writer.take() {
            if handle.join().is_err() {
                tracing::error!("raft log writer thread panicked");
            }
        }
    }
}

fn read_vote_file(dir: &Path) -> Result<Option<Vote<u64>>, StoreError> {
    let data = match fs::read(dir.join(VOTE_FILE)) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let (crc, body) = data
        .split_first_chunk::<4>()
        .ok_or_else(|| StoreError::Corrupt("vote file too short".into()))?;
    if crc32fast::hash(body) != u32::from_le_bytes(*crc) {
        return Err(StoreError::Corrupt("vote file checksum mismatch".into()));
    }
    postcard::from_bytes(body)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(format!("vote file: {e}")))
}

/// Writes the vote to a temp file, fsyncs it and renames it over the old one, so a crash leaves
/// either the old or the new vote, never a torn one.
fn write_vote_file(dir: &Path, vote: &Vote<u64>) -> Result<(), StoreError> {
    let body =
        postcard::to_stdvec(vote).map_err(|e| StoreError::Corrupt(format!("encode vote: {e}")))?;
    let mut data = crc32fast::hash(&body).to_le_bytes().to_vec();
    data.extend_from_slice(&body);
    let tmp = dir.join(VOTE_TMP);
    {
        use std::io::Write;
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(VOTE_FILE))?;
    wal::sync_dir(dir)?;
    Ok(())
}

/// Converts any `RangeBounds<u64>` into a half-open `start..end`, empty when inverted.
fn to_half_open<RB: RangeBounds<u64>>(range: &RB) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(s) => *s,
        Bound::Excluded(s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(e) => e.saturating_add(1),
        Bound::Excluded(e) => *e,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError<u64>> {
        let (start, end) = to_half_open(&range);
        if start >= end {
            return Ok(Vec::new());
        }
        let cache = self.cache.lock();
        Ok(cache
            .entries
            .range(start..end)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError<u64>> {
        self.reader.try_get_log_entries(range).await
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<u64>> {
        let cache = self.reader.cache.lock();
        let last = cache.entries.values().next_back().map(|e| e.log_id);
        Ok(LogState {
            last_purged_log_id: cache.last_purged,
            last_log_id: last.or(cache.last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.reader.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError<u64>> {
        let (dir, disk) = (self.dir.clone(), self.disk.clone());
        let v = *vote;
        // Vote changes are rare; do the fsyncs off the async worker threads.
        tokio::task::spawn_blocking(move || {
            retry_while_full(&disk, "save the raft vote", || write_vote_file(&dir, &v))
        })
        .await
        .map_err(|e| StorageIOError::write_vote(AnyError::error(e)))?
        .map_err(|e| StorageIOError::write_vote(AnyError::error(e)))?;
        self.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError<u64>> {
        Ok(self.vote)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<u64>>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut buf = Vec::new();
        let mut max_index = None;
        {
            let mut cache = self.reader.cache.lock();
            for e in entries {
                encode_record(&RecordRef::Entry(&e), &mut buf).map_err(log_err)?;
                max_index = Some(e.log_id.index);
                cache.entries.insert(e.log_id.index, e);
            }
        }
        let Some(max_index) = max_index else {
            callback.log_io_completed(Ok(()));
            return Ok(());
        };
        let done: FlushDone = Box::new(move |res| callback.log_io_completed(res));
        self.send(WalOp::Append {
            buf,
            max_index,
            done,
        })
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        let mut buf = Vec::new();
        encode_record(&RecordRef::Truncate(log_id.index), &mut buf).map_err(log_err)?;
        self.reader.cache.lock().entries.split_off(&log_id.index);
        self.send(WalOp::Truncate { buf })
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        let mut buf = Vec::new();
        encode_record(&RecordRef::Purge(&log_id), &mut buf).map_err(log_err)?;
        {
            let mut cache = self.reader.cache.lock();
            let keep = cache.entries.split_off(&log_id.index.saturating_add(1));
            cache.entries = keep;
            if cache.last_purged.is_none_or(|p| p.index < log_id.index) {
                cache.last_purged = Some(log_id);
            }
        }
        self.send(WalOp::Purge { log_id, buf })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_open_ranges() {
        assert_eq!(to_half_open(&(3..7)), (3, 7));
        assert_eq!(to_half_open(&(3..=7)), (3, 8));
        assert_eq!(to_half_open(&(..)), (0, u64::MAX));
        assert_eq!(to_half_open(&(..=u64::MAX)), (0, u64::MAX));
        let (hi, lo) = (9, 2);
        let (s, e) = to_half_open(&(hi..lo));
        assert!(s >= e);
    }

    #[test]
    fn vote_file_roundtrip_and_corruption() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(read_vote_file(dir.path()), Ok(None)));
        let vote = Vote::new_committed(3, 1);
        write_vote_file(dir.path(), &vote).expect("write");
        assert_eq!(read_vote_file(dir.path()).ok().flatten(), Some(vote));
        fs::write(dir.path().join(VOTE_FILE), b"\0\0\0\0junk").expect("write");
        assert!(matches!(
            read_vote_file(dir.path()),
            Err(StoreError::Corrupt(_))
        ));
    }
}
