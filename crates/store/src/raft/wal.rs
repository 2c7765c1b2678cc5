//! The raft log's write-ahead log: numbered segment files of length+CRC framed records, written
//! by one thread that covers every queued batch with a single fsync (group commit).
//!
//! Records are replayed in order on open: `Entry` inserts (superseding any later indexes),
//! `Truncate` drops indexes >= its argument, `Purge` drops indexes <= its log id. Each new segment
//! starts with the current `Purge` record so deleting older segments never loses it. A torn
//! record at the end of the last segment (crash mid-write) is cut off; anything else that fails
//! its CRC is reported as corruption.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use openraft::LogId;
use serde::{Deserialize, Serialize};

use super::disk_full::{retry_while_full, DiskFull};
use super::TypeConfig;
use crate::error::StoreError;
use std::sync::Arc;

type Entry = openraft::Entry<TypeConfig>;

/// Called with the result of the fsync that made an append durable.
pub(crate) type FlushDone = Box<dyn FnOnce(io::Result<()>) + Send>;

/// A segment is closed and a new one started once it grows past this size.
pub(crate) const SEGMENT_BYTES: u64 = 64 << 20;
const HEADER: usize = 8;

#[derive(Serialize)]
pub(crate) enum RecordRef<'a> {
    Entry(&'a Entry),
    Truncate(u64),
    Purge(&'a LogId<u64>),
}

/// Owned mirror of [`RecordRef`]; postcard encodes both identically.
#[derive(Deserialize)]
enum Record {
    Entry(Entry),
    Truncate(u64),
    Purge(LogId<u64>),
}

/// Appends one framed record (`len u32 LE`, `crc32 u32 LE`, postcard payload) to `out`.
pub(crate) fn encode_record(rec: &RecordRef<'_>, out: &mut Vec<u8>) -> Result<(), StoreError> {
    let start = out.len();
    out.extend_from_slice(&[0u8; HEADER]);
    let buf = std::mem::take(out);
    let mut buf = postcard::to_extend(rec, buf)
        .map_err(|e| StoreError::Corrupt(format!("encode log record: {e}")))?;
    let payload_len = buf.len() - start - HEADER;
    let len = u32::try_from(payload_len)
        .map_err(|_| StoreError::Corrupt("log record larger than 4 GiB".into()))?;
    let crc = crc32fast::hash(&buf[start + HEADER..]);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..start + HEADER].copy_from_slice(&crc.to_le_bytes());
    *out = buf;
    Ok(())
}

/// Work for the writer thread, processed strictly in order.
pub(crate) enum WalOp {
    /// Entries to make durable; `done` is called after the fsync that covers them.
    Append {
        buf: Vec<u8>,
        max_index: u64,
        done: FlushDone,
    },
    /// An encoded `Truncate` record.
    Truncate { buf: Vec<u8> },
    /// An encoded `Purge` record; segments wholly at or below it are deleted after it is durable.
    Purge { log_id: LogId<u64>, buf: Vec<u8> },
    /// Replies once everything queued before it is durable.
    Flush(mpsc::SyncSender<Result<(), String>>),
}

/// What replaying the WAL produced, plus the writer to continue appending with.
pub(crate) struct Recovered {
    pub entries: BTreeMap<u64, Entry>,
    pub last_purged: Option<LogId<u64>>,
    pub wal: mpsc::Sender<WalOp>,
    /// The writer thread; it exits once every sender is dropped and its queue is drained.
    pub writer: std::thread::JoinHandle<()>,
}

struct Segment {
    seq: u64,
    max_index: Option<u64>,
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.wal"))
}

/// fsyncs a directory so file creations, renames and deletions in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replays the WAL in `dir` (creating it if needed) and starts the writer thread.
#[cfg(test)]
pub(crate) fn open(dir: &Path) -> Result<Recovered, StoreError> {
    open_with(dir, SEGMENT_BYTES, Arc::default())
}

/// [`open`] with a chosen segment size; `disk` reports appends waiting for space.
pub(crate) fn open_with(
    dir: &Path,
    segment_bytes: u64,
    disk: Arc<DiskFull>,
) -> Result<Recovered, StoreError> {
    fs::create_dir_all(dir)?;
    let mut seqs: Vec<u64> = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".wal")?.parse().ok()
        })
        .collect();
    seqs.sort_unstable();

    let mut entries = BTreeMap::new();
    let mut last_purged: Option<LogId<u64>> = None;
    let mut segments = VecDeque::new();
    for (i, &seq) in seqs.iter().enumerate() {
        let path = segment_path(dir, seq);
        let data = fs::read(&path)?;
        let mut max_index = None;
        let mut off = 0;
        while let Some((payload, next)) = frame_at(&data, off) {
            let rec: Record = postcard::from_bytes(payload).map_err(|e| {
                StoreError::Corrupt(format!("{}: record at {off}: {e}", path.display()))
            })?;
            match rec {
                Record::Entry(e) => {
                    let index = e.log_id.index;
                    entries.split_off(&index);
                    max_index = Some(max_index.map_or(index, |m: u64| m.max(index)));
                    entries.insert(index, e);
                }
                Record::Truncate(since) => {
                    entries.split_off(&since);
                }
                Record::Purge(log_id) => {
                    entries = entries.split_off(&log_id.index.saturating_add(1));
                    if last_purged.is_none_or(|p| p.index < log_id.index) {
                        last_purged = Some(log_id);
                    }
                }
            }
            off = next;
        }
        if off < data.len() {
            if i + 1 != seqs.len() {
                return Err(StoreError::Corrupt(format!(
                    "{}: bad record at offset {off} in a closed segment",
                    path.display()
                )));
            }
            tracing::warn!(path = %path.display(), offset = off, "cutting torn tail off the raft log");
            let f = OpenOptions::new().write(true).open(&path)?;
            f.set_len(off as u64)?;
            f.sync_all()?;
        }
        segments.push_back(Segment { seq, max_index });
    }

    let writer = Writer::open(
        dir.to_path_buf(),
        segments,
        last_purged,
        segment_bytes,
        disk,
    )?;
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("raft-wal".into())
        .spawn(move || writer.run(rx))?;
    Ok(Recovered {
        entries,
        last_purged,
        wal: tx,
        writer: handle,
    })
}

/// The payload of the intact record at `off` and the offset after it, if there is one.
fn frame_at(data: &[u8], off: usize) -> Option<(&[u8], usize)> {
    let header = data.get(off..off + HEADER)?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    let end = off.checked_add(HEADER)?.checked_add(len)?;
    let payload = data.get(off + HEADER..end)?;
    (crc32fast::hash(payload) == crc).then_some((payload, end))
}

struct Writer {
    dir: PathBuf,
    segments: VecDeque<Segment>,
    file: File,
    size: u64,
    last_purged: Option<LogId<u64>>,
    segment_bytes: u64,
    /// The current segment still needs its leading purge record (see [`Writer::rotate`]).
    header_pending: bool,
    /// Reports appends waiting for disk space.
    disk: Arc<DiskFull>,
    /// Once a write or fsync fails the file's state is unknown; every later op fails too.
    failed: Option<String>,
}

impl Writer {
    fn open(
        dir: PathBuf,
        mut segments: VecDeque<Segment>,
        last_purged: Option<LogId<u64>>,
        segment_bytes: u64,
        disk: Arc<DiskFull>,
    ) -> io::Result<Self> {
        let seq = match segments.back() {
            Some(s) => s.seq,
            None => {
                segments.push_back(Segment {
                    seq: 1,
                    max_index: None,
                });
                1
            }
        };
        let path = segment_path(&dir, seq);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        sync_dir(&dir)?;
        Ok(Writer {
            dir,
            segments,
            file,
            size,
            last_purged,
            segment_bytes,
            header_pending: false,
            disk,
            failed: None,
        })
    }

    fn run(mut self, rx: mpsc::Receiver<WalOp>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            batch.extend(rx.try_iter());
            self.process(batch);
        }
    }

    fn process(&mut self, batch: Vec<WalOp>) {
        let mut done = Vec::new();
        let mut flushes = Vec::new();
        let mut dirty = false;
        let mut purge_upto = None;
        for op in batch {
            match op {
                WalOp::Append {
                    buf,
                    max_index,
                    done: cb,
                } => {
                    self.write(&buf, Some(max_index));
                    done.push(cb);
                    dirty = true;
                }
                WalOp::Truncate { buf } => {
                    self.write(&buf, None);
                    dirty = true;
                }
                WalOp::Purge { log_id, buf } => {
                    self.write(&buf, None);
                    purge_upto = Some(log_id.index);
                    self.last_purged = Some(log_id);
                    dirty = true;
                }
                WalOp::Flush(reply) => flushes.push(reply),
            }
        }
        if dirty && self.failed.is_none() {
            // One fsync for the whole batch: this is the group commit.
            if let Err(e) = self.file.sync_data() {
                self.failed = Some(format!("fsync raft log: {e}"));
            }
        }
        if let (Some(upto), None) = (purge_upto, &self.failed) {
            self.delete_segments_upto(upto);
        }
        let result = match &self.failed {
            Some(msg) => Err(msg.clone()),
            None => Ok(()),
        };
        for cb in done {
            cb(result.clone().map_err(io::Error::other));
        }
        for reply in flushes {
            // The requester may have given up waiting; nothing to do then.
            let _ = reply.send(result.clone());
        }
    }

    fn write(&mut self, buf: &[u8], max_index: Option<u64>) {
        if self.failed.is_some() {
            return;
        }
        // A full disk pauses the writer (and with it every append queued behind this one)
        // until space is freed; any other error fails the log for good.
        let disk = self.disk.clone();
        let res = retry_while_full(&disk, "append to the raft log", || {
            self.write_once(buf).map_err(StoreError::Io)
        });
        match res {
            Ok(()) => {
                if let (Some(seg), Some(idx)) = (self.segments.back_mut(), max_index) {
                    seg.max_index = Some(seg.max_index.map_or(idx, |m| m.max(idx)));
                }
            }
            Err(e) => self.failed = Some(format!("write raft log: {e}")),
        }
    }

    /// One attempt at appending `buf`: rotates when the segment is full and writes a new
    /// segment's purge record first. On failure the segment is cut back to its last good length,
    /// so a retry appends whole records after intact ones.
    fn write_once(&mut self, buf: &[u8]) -> io::Result<()> {
        let res = (|| -> io::Result<()> {
            if self.size >= self.segment_bytes {
                self.rotate()?;
            }
            if self.header_pending {
                if let Some(p) = self.last_purged {
                    let mut header = Vec::new();
                    encode_record(&RecordRef::Purge(&p), &mut header).map_err(io::Error::other)?;
                    self.file.write_all(&header)?;
                    self.size += header.len() as u64;
                }
                self.header_pending = false;
            }
            self.file.write_all(buf)?;
            self.size += buf.len() as u64;
            Ok(())
        })();
        if let Err(e) = &res {
            if let Err(cut) = self.file.set_len(self.size) {
                // Not an out-of-space error, so the caller stops retrying: the segment may
                // end in a partial record and must not be appended to.
                return Err(io::Error::other(format!(
                    "{e}; cutting the partial write back also failed: {cut}"
                )));
            }
        }
        res
    }

    /// Closes the current segment (durably) and starts the next one; its first record, written
    /// by [`Writer::write_once`], is the purge marker. Nothing changes until the new file is
    /// durably created, so a failed rotation can simply be tried again.
    fn rotate(&mut self) -> io::Result<()> {
        // A failed fsync is never retried (see `disk_full`): report it as a plain error.
        self.file
            .sync_data()
            .map_err(|e| io::Error::other(format!("fsync raft log: {e}")))?;
        let seq = self.segments.back().map_or(1, |s| s.seq + 1);
        let path = segment_path(&self.dir, seq);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        sync_dir(&self.dir)?;
        self.file = file;
        self.size = 0;
        self.segments.push_back(Segment {
            seq,
            max_index: None,
        });
        self.header_pending = true;
        Ok(())
    }

    /// Deletes closed segments whose entries are all purged.
    fn delete_segments_upto(&mut self, upto: u64) {
        let mut deleted = false;
        while self.segments.len() > 1 {
            let Some(first) = self.segments.front() else {
                break;
            };
            if first.max_index.is_some_and(|m| m > upto) {
                break;
            }
            let path = segment_path(&self.dir, first.seq);
            if let Err(e) = fs::remove_file(&path) {
                // Keeping a purged segment only costs disk; replay skips its entries.
                tracing::warn!(path = %path.display(), error = %e, "could not delete raft log segment");
                break;
            }
            self.segments.pop_front();
            deleted = true;
        }
        if deleted {
            if let Err(e) = sync_dir(&self.dir) {
                tracing::warn!(error = %e, "fsync of raft log directory failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, EntryPayload};

    fn entry(term: u64, index: u64) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
            payload: EntryPayload::Blank,
        }
    }

    fn write_raw(dir: &Path, recs: &[RecordRef<'_>]) -> Vec<u8> {
        let mut buf = Vec::new();
        for r in recs {
            encode_record(r, &mut buf).expect("encode");
        }
        fs::write(segment_path(dir, 1), &buf).expect("write");
        buf
    }

    #[test]
    fn replay_applies_truncate_and_purge() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (e1, e2, e3, e3b) = (entry(1, 1), entry(1, 2), entry(1, 3), entry(2, 3));
        let purged = LogId::new(CommittedLeaderId::new(1, 1), 1);
        write_raw(
            dir.path(),
            &[
                RecordRef::Entry(&e1),
                RecordRef::Entry(&e2),
                RecordRef::Entry(&e3),
                RecordRef::Truncate(3),
                RecordRef::Entry(&e3b),
                RecordRef::Purge(&purged),
            ],
        );
        let r = open(dir.path()).expect("open");
        assert_eq!(r.entries.keys().copied().collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(r.entries.get(&3).map(|e| e.log_id.leader_id.term), Some(2));
        assert_eq!(r.last_purged, Some(purged));
    }

    #[test]
    fn torn_tail_is_cut_off() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (e1, e2) = (entry(1, 1), entry(1, 2));
        let full = write_raw(dir.path(), &[RecordRef::Entry(&e1), RecordRef::Entry(&e2)]);
        let mut one = Vec::new();
        encode_record(&RecordRef::Entry(&e1), &mut one).expect("encode");
        for cut in [one.len() + 3, full.len() - 1] {
            fs::write(segment_path(dir.path(), 1), &full[..cut]).expect("write");
            let r = open(dir.path()).expect("open");
            assert_eq!(r.entries.len(), 1, "cut at {cut}");
            drop(r);
            let len = fs::metadata(segment_path(dir.path(), 1))
                .map(|m| m.len())
                .ok();
            assert_eq!(len, Some(one.len() as u64), "torn bytes removed");
        }
        // A flipped bit fails the CRC the same way.
        let mut bad = full.clone();
        if let Some(b) = bad.last_mut() {
            *b ^= 1;
        }
        fs::write(segment_path(dir.path(), 1), &bad).expect("write");
        assert_eq!(open(dir.path()).map(|r| r.entries.len()).ok(), Some(1));
    }

    #[test]
    fn corruption_in_a_closed_segment_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e1 = entry(1, 1);
        let mut full = write_raw(dir.path(), &[RecordRef::Entry(&e1)]);
        full.extend_from_slice(b"garbage");
        fs::write(segment_path(dir.path(), 1), &full).expect("write");
        fs::write(segment_path(dir.path(), 2), b"").expect("write");
        assert!(matches!(open(dir.path()), Err(StoreError::Corrupt(_))));
    }

    fn flush(wal: &mpsc::Sender<WalOp>) -> Result<(), String> {
        let (tx, rx) = mpsc::sync_channel(1);
        wal.send(WalOp::Flush(tx)).map_err(|e| e.to_string())?;
        rx.recv().map_err(|e| e.to_string())?
    }

    #[test]
    fn rotation_purge_and_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = open_with(dir.path(), 64, Arc::default()).expect("open");
        let (done_tx, done_rx) = mpsc::channel();
        for i in 1..=40 {
            let mut buf = Vec::new();
            encode_record(&RecordRef::Entry(&entry(1, i)), &mut buf).expect("encode");
            let tx = done_tx.clone();
            let done: FlushDone = Box::new(move |res| {
                let _ = tx.send(res.is_ok());
            });
            r.wal
                .send(WalOp::Append {
                    buf,
                    max_index: i,
                    done,
                })
                .expect("send");
        }
        let acked = (0..40).filter(|_| done_rx.recv().unwrap_or(false)).count();
        assert_eq!(acked, 40);
        let segs_before = fs::read_dir(dir.path()).map(|d| d.count()).unwrap_or(0);
        assert!(segs_before > 3, "small segments rotate ({segs_before})");
        let purged = LogId::new(CommittedLeaderId::new(1, 1), 30);
        let mut buf = Vec::new();
        encode_record(&RecordRef::Purge(&purged), &mut buf).expect("encode");
        r.wal
            .send(WalOp::Purge {
                log_id: purged,
                buf,
            })
            .expect("send");
        // Written after the purge, in a fresh segment that must carry the purge marker.
        for i in 41..=60 {
            let mut buf = Vec::new();
            encode_record(&RecordRef::Entry(&entry(1, i)), &mut buf).expect("encode");
            let done: FlushDone = Box::new(|_| {});
            r.wal
                .send(WalOp::Append {
                    buf,
                    max_index: i,
                    done,
                })
                .expect("send");
        }
        assert_eq!(flush(&r.wal), Ok(()));
        let mut buf = Vec::new();
        let purged2 = LogId::new(CommittedLeaderId::new(1, 1), 50);
        encode_record(&RecordRef::Purge(&purged2), &mut buf).expect("encode");
        r.wal
            .send(WalOp::Purge {
                log_id: purged2,
                buf,
            })
            .expect("send");
        assert_eq!(flush(&r.wal), Ok(()));
        let segs_after = fs::read_dir(dir.path()).map(|d| d.count()).unwrap_or(0);
        assert!(segs_after < segs_before, "purged segments deleted");
        drop(r);
        let r = open_with(dir.path(), 64, Arc::default()).expect("reopen");
        assert_eq!(r.last_purged, Some(purged2));
        assert_eq!(
            r.entries.keys().copied().collect::<Vec<_>>(),
            (51..=60).collect::<Vec<_>>()
        );
    }
}
