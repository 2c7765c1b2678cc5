//! openraft's state machine: applies entries to the shared in-memory [`KvState`] and keeps the
//! latest snapshot in one file, replaced atomically.

use std::fs;
use std::io::{self, Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use openraft::storage::RaftStateMachine;
use openraft::{
    BasicNode, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, Snapshot, SnapshotMeta,
    StorageError, StoredMembership,
};

use super::disk_full::retry_while_full;
use super::wal::sync_dir;
use super::{sm_err, ApplyResult, Shared, TypeConfig};
use crate::error::StoreError;
use crate::state::KvState;

type Entry = openraft::Entry<TypeConfig>;
type Meta = SnapshotMeta<u64, BasicNode>;

const SNAPSHOT_FILE: &str = "snapshot";
const SNAPSHOT_TMP: &str = "snapshot.tmp";
const MAGIC: &[u8; 8] = b"FKSNAP1\n";

/// The raft state machine over the store's shared state.
pub struct StateMachine {
    shared: Arc<Shared>,
    dir: PathBuf,
    history_limit: usize,
}

/// Builds snapshots of the shared state (openraft runs it beside the apply loop).
pub struct SnapshotBuilder {
    shared: Arc<Shared>,
    dir: PathBuf,
}

impl StateMachine {
    /// Opens the state machine in `dir`, loading the latest snapshot into `shared` if there is one.
    pub fn open(dir: &Path, shared: Arc<Shared>, history_limit: usize) -> Result<Self, StoreError> {
        fs::create_dir_all(dir)?;
        if let Some((meta, data)) = read_snapshot_file(dir)? {
            let kv = KvState::decode(&data, history_limit)?;
            let mut guard = shared.data.write();
            guard.kv = kv;
            guard.last_applied = meta.last_log_id;
            guard.membership = meta.last_membership;
            shared.publish(&guard, &[]);
        }
        Ok(StateMachine {
            shared,
            dir: dir.to_path_buf(),
            history_limit,
        })
    }
}

/// File layout: magic, meta length (u64 LE), CRC32 of the rest (u32 LE), meta (postcard), data.
/// A failed write removes its temporary file, so a full disk does not keep a partial snapshot's
/// space while it waits for room.
fn write_snapshot_file(dir: &Path, meta: &Meta, data: &[u8]) -> Result<(), StoreError> {
    let res = write_snapshot_tmp(dir, meta, data);
    if res.is_err() {
        let _ = fs::remove_file(dir.join(SNAPSHOT_TMP));
    }
    res
}

fn write_snapshot_tmp(dir: &Path, meta: &Meta, data: &[u8]) -> Result<(), StoreError> {
    let meta_bytes = postcard::to_stdvec(meta)
        .map_err(|e| StoreError::Corrupt(format!("encode snapshot meta: {e}")))?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&meta_bytes);
    crc.update(data);
    let tmp = dir.join(SNAPSHOT_TMP);
    {
        let mut f = io::BufWriter::new(fs::File::create(&tmp)?);
        f.write_all(MAGIC)?;
        f.write_all(&(meta_bytes.len() as u64).to_le_bytes())?;
        f.write_all(&crc.finalize().to_le_bytes())?;
        f.write_all(&meta_bytes)?;
        f.write_all(data)?;
        let f = f.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(SNAPSHOT_FILE))?;
    sync_dir(dir)?;
    Ok(())
}

fn read_snapshot_file(dir: &Path) -> Result<Option<(Meta, Vec<u8>)>, StoreError> {
    let mut buf = match fs::read(dir.join(SNAPSHOT_FILE)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let bad = |what: &str| StoreError::Corrupt(format!("snapshot file: {what}"));
    if buf.get(..8) != Some(&MAGIC[..]) {
        return Err(bad("bad magic"));
    }
    let meta_len = buf
        .get(8..16)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| bad("short header"))?;
    let crc = buf
        .get(16..20)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| bad("short header"))?;
    let meta_end = usize::try_from(meta_len)
        .ok()
        .and_then(|l| l.checked_add(20))
        .filter(|&e| e <= buf.len())
        .ok_or_else(|| bad("meta length out of range"))?;
    if crc32fast::hash(&buf[20..]) != crc {
        return Err(bad("checksum mismatch"));
    }
    let meta: Meta = postcard::from_bytes(&buf[20..meta_end])
        .map_err(|e| StoreError::Corrupt(format!("snapshot meta: {e}")))?;
    let data = buf.split_off(meta_end);
    Ok(Some((meta, data)))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StorageError<u64>> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(sm_err)?
        .map_err(sm_err)
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<u64>> {
        let (last_log_id, last_membership, data) = {
            // Encoding under the read lock keeps data and meta consistent; writers wait for it.
            let guard = self.shared.data.read();
            let data = guard.kv.encode().map_err(sm_err)?;
            (guard.last_applied, guard.membership.clone(), data)
        };
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let snapshot_id = match last_log_id {
            Some(l) => format!("{}-{}-{millis}", l.leader_id.term, l.index),
            None => format!("0-0-{millis}"),
        };
        let meta = Meta {
            last_log_id,
            last_membership,
            snapshot_id,
        };
        let (dir, m, shared) = (self.dir.clone(), meta.clone(), self.shared.clone());
        let data = blocking(move || {
            retry_while_full(&shared.disk, "write a raft snapshot", || {
                write_snapshot_file(&dir, &m, &data)
            })
            .map(|()| data)
        })
        .await?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, BasicNode>), StorageError<u64>> {
        let guard = self.shared.data.read();
        Ok((guard.last_applied, guard.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<ApplyResult>, StorageError<u64>>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut results = Vec::new();
        let mut events = Vec::new();
        let mut guard = self.shared.data.write();
        for entry in entries {
            guard.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => results.push(ApplyResult(Vec::new())),
                EntryPayload::Normal(p) => {
                    let mut outcomes = Vec::with_capacity(p.0.len());
                    for txn in p.0.iter() {
                        let (outcome, evs) = guard.kv.apply_txn(txn);
                        events.extend(evs);
                        outcomes.push(outcome);
                    }
                    results.push(ApplyResult(outcomes));
                }
                EntryPayload::Membership(m) => {
                    guard.membership = StoredMembership::new(Some(entry.log_id), m);
                    results.push(ApplyResult(Vec::new()));
                }
            }
        }
        // One broadcast per applied batch, still under the write lock (see Shared::publish).
        self.shared.publish(&guard, &events);
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            shared: self.shared.clone(),
            dir: self.dir.clone(),
        }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<u64>> {
        let data = snapshot.into_inner();
        let kv = KvState::decode(&data, self.history_limit).map_err(sm_err)?;
        let (dir, m, shared) = (self.dir.clone(), meta.clone(), self.shared.clone());
        blocking(move || {
            retry_while_full(&shared.disk, "install a raft snapshot", || {
                write_snapshot_file(&dir, &m, &data)
            })
        })
        .await?;
        let mut guard = self.shared.data.write();
        guard.kv = kv;
        guard.last_applied = meta.last_log_id;
        guard.membership = meta.last_membership.clone();
        self.shared.publish(&guard, &[]);
        // Live watchers cannot be continued across a jump in state; they re-watch and get
        // either the history they need or Compacted.
        self.shared.hub.lock().reset();
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<u64>> {
        let dir = self.dir.clone();
        let found = blocking(move || read_snapshot_file(&dir)).await?;
        Ok(found.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, Membership};
    use std::collections::BTreeSet;

    #[test]
    fn snapshot_file_roundtrip_and_checksum() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(read_snapshot_file(dir.path()), Ok(None)));
        let meta = Meta {
            last_log_id: Some(LogId::new(CommittedLeaderId::new(2, 1), 9)),
            last_membership: StoredMembership::new(
                Some(LogId::new(CommittedLeaderId::new(1, 1), 1)),
                Membership::new(vec![BTreeSet::from([1u64])], None),
            ),
            snapshot_id: "x".into(),
        };
        write_snapshot_file(dir.path(), &meta, b"payload").expect("write");
        let (m, d) = read_snapshot_file(dir.path())
            .ok()
            .flatten()
            .expect("read back");
        assert_eq!((m, d), (meta, b"payload".to_vec()));
        let path = dir.path().join(SNAPSHOT_FILE);
        let mut raw = fs::read(&path).expect("read");
        if let Some(b) = raw.last_mut() {
            *b ^= 0xff;
        }
        fs::write(&path, &raw).expect("write");
        assert!(matches!(
            read_snapshot_file(dir.path()),
            Err(StoreError::Corrupt(_))
        ));
        fs::write(&path, b"FKSNAP1\n\xff\xff\xff\xff\xff\xff\xff\xff\0\0\0\0").expect("write");
        assert!(matches!(
            read_snapshot_file(dir.path()),
            Err(StoreError::Corrupt(_))
        ));
    }
}
