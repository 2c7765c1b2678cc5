//! The store handle the API server uses: writes go through raft, reads and watches are served
//! from the local applied state.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::{BasicNode, Config, SnapshotPolicy};

use crate::error::StoreError;
use crate::proposer::Proposer;
use crate::raft::{LogStore, NetworkFactory, Shared, StateMachine, StoreRaft};
use crate::types::{KeyValue, RangeRequest, RangeResponse, Revision, Txn, TxnOutcome};
use crate::watch::{WatchStream, WATCH_BUFFER};

/// Default size of the watch/MVCC history window, in events.
pub const DEFAULT_HISTORY_EVENTS: usize = 100_000;

/// How long `open` waits for this node to lead and catch up before giving up.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and how to open a store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Directory for the raft log, vote and snapshot (created if missing).
    pub data_dir: PathBuf,
    /// This node's raft id; must stay the same across restarts.
    pub node_id: u64,
    /// How many events (and the versions they wrote) to keep for watches and old reads.
    pub history_events: usize,
}

impl StoreConfig {
    /// A config for node 1 in `data_dir` with the default history window.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        StoreConfig {
            data_dir: data_dir.into(),
            node_id: 1,
            history_events: DEFAULT_HISTORY_EVENTS,
        }
    }
}

/// A handle to the revisioned store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    /// Exclusive lock on the data dir, released by `shutdown` so the dir can be reopened.
    dir_lock: parking_lot::Mutex<Option<std::fs::File>>,
    raft: StoreRaft,
    proposer: Proposer,
    shared: Arc<Shared>,
    node_id: u64,
    shut_down: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Best effort when the last handle goes away without `shutdown`: stop the raft task so
        // it releases the log files.
        if !self.shut_down.swap(true, Ordering::AcqRel) {
            self.shared.hub.lock().shutdown();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let raft = self.raft.clone();
                rt.spawn(async move {
                    let _ = raft.shutdown().await;
                });
            }
        }
    }
}

fn raft_config() -> Result<Config, StoreError> {
    let config = Config {
        cluster_name: "ferrokube".into(),
        heartbeat_interval: 250,
        election_timeout_min: 1000,
        election_timeout_max: 2000,
        // Snapshots bound both the log on disk and the replay work at start-up.
        // An entry carries up to a batch of txns; a full snapshot serializes the whole state,
        // so under steady single writes (5,000 node leases renew ~500 times a second) a low
        // count means re-serializing everything every few seconds. etcd uses 100,000.
        snapshot_policy: SnapshotPolicy::LogsSinceLast(10_000),
        max_in_snapshot_log_to_keep: 500,
        purge_batch_size: 256,
        ..Default::default()
    };
    config
        .validate()
        .map_err(|e| StoreError::Unavailable(format!("raft config: {e}")))
}

/// Takes an exclusive advisory lock on `<data_dir>/LOCK` so two processes never share a store.
fn lock_dir(data_dir: &std::path::Path) -> Result<std::fs::File, StoreError> {
    std::fs::create_dir_all(data_dir)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data_dir.join("LOCK"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Unavailable(format!(
            "data dir {} is in use by another store",
            data_dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl Store {
    /// Opens (or creates) the store in `data_dir`; a fresh single node bootstraps itself as a
    /// one-member raft cluster; returns once this node is leader and has applied its whole log.
    pub async fn open(cfg: StoreConfig) -> Result<Store, StoreError> {
        let dir = cfg.data_dir.join("raft");
        let dir_lock = lock_dir(&cfg.data_dir)?;
        let shared = Shared::new(cfg.history_events);
        let (log_store, sm) = {
            let (dir, shared) = (dir.clone(), shared.clone());
            tokio::task::spawn_blocking(move || {
                let log = LogStore::open(&dir)?;
                let sm = StateMachine::open(&dir, shared, cfg.history_events)?;
                Ok::<_, StoreError>((log, sm))
            })
            .await
            .map_err(unavailable)??
        };
        let raft = StoreRaft::new(
            cfg.node_id,
            Arc::new(raft_config()?),
            NetworkFactory,
            log_store,
            sm,
        )
        .await
        .map_err(unavailable)?;
        if !raft.is_initialized().await.map_err(unavailable)? {
            let members = BTreeMap::from([(cfg.node_id, BasicNode::default())]);
            raft.initialize(members).await.map_err(unavailable)?;
        }
        let id = cfg.node_id;
        let store = Store {
            inner: Arc::new(Inner {
                dir_lock: parking_lot::Mutex::new(Some(dir_lock)),
                raft: raft.clone(),
                proposer: Proposer::start(raft.clone()),
                shared,
                node_id: id,
                shut_down: AtomicBool::new(false),
            }),
        };
        raft.wait(Some(OPEN_TIMEOUT))
            .metrics(
                |m| {
                    m.current_leader == Some(id)
                        && m.last_applied.map(|l| l.index) >= m.last_log_index
                },
                "leader with the whole log applied",
            )
            .await
            .map_err(unavailable)?;
        Ok(store)
    }

    /// Runs a transaction through raft (batched with concurrent ones) and returns what it did
    /// once it is applied locally.
    pub async fn txn(&self, txn: Txn) -> Result<TxnOutcome, StoreError> {
        self.inner.proposer.submit(txn).await
    }

    /// The latest value of `key` (linearizable).
    pub async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        self.ensure_read().await?;
        self.inner.shared.data.read().kv.get(key, 0)
    }

    /// The value of `key` at `revision` (0 = latest, linearizable).
    pub async fn get_at(
        &self,
        key: &str,
        revision: Revision,
    ) -> Result<Option<KeyValue>, StoreError> {
        if revision == 0 {
            self.ensure_read().await?;
        }
        self.inner.shared.data.read().kv.get(key, revision)
    }

    /// A range read; `revision: 0` reads the latest state (linearizable).
    pub async fn range(&self, req: RangeRequest) -> Result<RangeResponse, StoreError> {
        if req.revision == 0 {
            self.ensure_read().await?;
        }
        self.inner.shared.data.read().kv.range(&req)
    }

    /// Events for keys with `prefix` and revision > `after`: history replay, then live.
    pub fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        // Holding the read lock while registering means no apply can slip between the replay
        // and the live subscription: no gap, no duplicate.
        let data = self.inner.shared.data.read();
        let replay = data.kv.events_after(prefix, after)?;
        let stream = self
            .inner
            .shared
            .hub
            .lock()
            .subscribe(prefix, after, replay, WATCH_BUFFER)?;
        drop(data);
        Ok(stream)
    }

    /// Last applied revision on this node.
    pub fn current_revision(&self) -> Revision {
        self.inner.shared.revision()
    }

    /// Oldest revision still readable / watchable.
    pub fn compacted_revision(&self) -> Revision {
        self.inner.shared.compacted()
    }

    /// The raft handle, for mounting raft RPC routes and metrics.
    pub fn raft(&self) -> &StoreRaft {
        &self.inner.raft
    }

    /// Stops raft (releasing the data dir) and ends all watches with `Unavailable`.
    pub async fn shutdown(&self) -> Result<(), StoreError> {
        if self.inner.shut_down.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.inner.shared.hub.lock().shutdown();
        let res = self.inner.raft.shutdown().await.map_err(unavailable);
        // Raft has stopped and its log store (and WAL writer) is gone: the dir is free again.
        self.inner.dir_lock.lock().take();
        res
    }

    /// Makes a read of the local state linearizable.
    async fn ensure_read(&self) -> Result<(), StoreError> {
        if self.is_sole_voter() {
            // The only voter is necessarily the leader, and every acknowledged write was applied
            // here before it was acknowledged: local state is already linearizable.
            return Ok(());
        }
        self.inner
            .raft
            .ensure_linearizable()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    fn is_sole_voter(&self) -> bool {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        let mut voters = m.membership_config.membership().voter_ids();
        m.current_leader == Some(self.inner.node_id)
            && voters.next() == Some(self.inner.node_id)
            && voters.next().is_none()
    }
}
