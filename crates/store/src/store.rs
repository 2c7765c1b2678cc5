//! The store handle the API server uses: writes go through raft, reads and watches are served
//! from the local applied state.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::{BasicNode, Config, SnapshotPolicy};

use crate::cluster::Cluster;
use crate::error::StoreError;
use crate::membership::MemberInfo;
use crate::proposer::Proposer;
use crate::raft::transport::PeerTransport;
use crate::raft::{LogStore, NetworkFactory, Shared, StateMachine, StoreRaft};
use crate::types::{KeyValue, Op, RangeRequest, RangeResponse, Revision, Txn, TxnOutcome};
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
    /// How to reach other servers; None for a single server without a peer listener.
    pub peer: Option<PeerConfig>,
}

/// A server's place among its peers.
#[derive(Clone)]
pub struct PeerConfig {
    /// This server's peer address (`host:port`), as the others dial it.
    pub address: String,
    /// Calls to other servers.
    pub transport: Arc<dyn PeerTransport>,
    /// Start a new cluster with this server as its only member (first server). Otherwise an
    /// empty store waits to be added by [`Store::join`] through an existing member.
    pub bootstrap: bool,
}

impl std::fmt::Debug for PeerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerConfig")
            .field("address", &self.address)
            .field("bootstrap", &self.bootstrap)
            .finish_non_exhaustive()
    }
}

impl StoreConfig {
    /// A config for node 1 in `data_dir` with the default history window.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        StoreConfig {
            data_dir: data_dir.into(),
            node_id: 1,
            history_events: DEFAULT_HISTORY_EVENTS,
            peer: None,
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
    cluster: Arc<Cluster>,
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
        // A follower that has seen a leader stands for election only after the leader's lease
        // (openraft: `election_timeout_max`) plus its own randomized timeout, so failover
        // takes max + [min, max): 1.6–2 s here, etcd's order (heartbeat 100 ms, election
        // 1 s). Heartbeats every 100 ms leave a loaded leader ten chances per lease.
        heartbeat_interval: 100,
        election_timeout_min: 600,
        election_timeout_max: 1000,
        // Snapshots travel to new or lagging members in chunks of 1 MiB, each RPC with its
        // own deadline (openraft's default of 200 ms is too tight for a busy machine).
        snapshot_max_chunk_size: 1 << 20,
        install_snapshot_timeout: 10_000,
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
    /// Opens (or creates) the store in `data_dir`. Without peers (or as the bootstrapping
    /// first server) a fresh node initializes a one-member cluster and this returns once it is
    /// leader and has applied its whole log; a member of a larger cluster returns at once and
    /// the caller waits with [`Store::wait_ready`] after its peer listener is up.
    pub async fn open(cfg: StoreConfig) -> Result<Store, StoreError> {
        let dir = cfg.data_dir.join("raft");
        let dir_lock = lock_dir(&cfg.data_dir)?;
        let shared = Shared::new(cfg.history_events);
        let (log_store, sm) = {
            let (dir, shared) = (dir.clone(), shared.clone());
            tokio::task::spawn_blocking(move || {
                let log = LogStore::open(&dir, shared.disk.clone())?;
                let sm = StateMachine::open(&dir, shared, cfg.history_events)?;
                Ok::<_, StoreError>((log, sm))
            })
            .await
            .map_err(unavailable)??
        };
        let transport = cfg.peer.as_ref().map(|p| p.transport.clone());
        let raft = StoreRaft::new(
            cfg.node_id,
            Arc::new(raft_config()?),
            NetworkFactory::new(transport.clone()),
            log_store,
            sm,
        )
        .await
        .map_err(unavailable)?;
        let id = cfg.node_id;
        let (address, bootstrap) = match &cfg.peer {
            Some(p) => (p.address.clone(), p.bootstrap),
            None => (String::new(), true),
        };
        let fresh = !raft.is_initialized().await.map_err(unavailable)?;
        if fresh && bootstrap {
            let members = BTreeMap::from([(id, BasicNode::new(&address))]);
            raft.initialize(members).await.map_err(unavailable)?;
        }
        let cluster = Arc::new(Cluster {
            raft: raft.clone(),
            id,
            transport,
            leaderless_since: parking_lot::Mutex::new(None),
            failing: parking_lot::Mutex::new(None),
        });
        let store = Store {
            inner: Arc::new(Inner {
                dir_lock: parking_lot::Mutex::new(Some(dir_lock)),
                raft: raft.clone(),
                proposer: Proposer::start(cluster.clone()),
                cluster,
                shared,
                node_id: id,
                shut_down: AtomicBool::new(false),
            }),
        };
        if cfg.peer.is_none() || (fresh && bootstrap) || store.is_single_server() {
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
            store.refresh_own_address(&address).await?;
        }
        Ok(store)
    }

    /// Whether this store is (or will be, once initialized) the only voter.
    fn is_single_server(&self) -> bool {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        let mut voters = m.membership_config.membership().voter_ids();
        voters.next() == Some(self.inner.node_id) && voters.next().is_none()
    }

    /// A sole member started with a new peer address (or a first peer address, after running
    /// without peers) records it, so servers joining later can reach it.
    async fn refresh_own_address(&self, address: &str) -> Result<(), StoreError> {
        let id = self.inner.node_id;
        let known = {
            let metrics = self.inner.raft.metrics();
            let m = metrics.borrow();
            m.membership_config
                .membership()
                .get_node(&id)
                .map(|n| n.addr.clone())
        };
        if address.is_empty() || known.as_deref() == Some(address) {
            return Ok(());
        }
        let nodes = BTreeMap::from([(id, BasicNode::new(address))]);
        self.inner
            .raft
            .change_membership(openraft::ChangeMembers::SetNodes(nodes), true)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Waits until a leader is known and this server has applied everything committed before
    /// now (a read barrier); logs while it waits (a restarted cluster needs a quorum back).
    pub async fn wait_ready(&self) -> Result<(), StoreError> {
        let began = std::time::Instant::now();
        let mut next_log = Duration::from_secs(10);
        loop {
            match self.inner.cluster.read_barrier().await {
                Ok(()) => return Ok(()),
                Err(e) if self.inner.shut_down.load(Ordering::Acquire) => return Err(e),
                Err(e) => {
                    if began.elapsed() >= next_log {
                        tracing::warn!(
                            waited_s = began.elapsed().as_secs(),
                            "store: waiting for a raft leader and quorum: {e}"
                        );
                        next_log += Duration::from_secs(10);
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// Whether this server is a member of a cluster (its raft state is initialized).
    pub async fn is_member(&self) -> Result<bool, StoreError> {
        self.inner.raft.is_initialized().await.map_err(unavailable)
    }

    /// Asks the member at `via` (a peer address) to add this server: it enters as a learner,
    /// catches up (by snapshot if needed), and is promoted to voter; returns when that is done.
    pub async fn join(&self, via: &str, my_address: &str) -> Result<(), StoreError> {
        let req = crate::membership::AddMember {
            id: self.inner.node_id,
            address: my_address.to_string(),
        };
        let timeout = Duration::from_secs(330);
        let cluster = &self.inner.cluster;
        let route = crate::raft::transport::routes::ADD_MEMBER;
        match cluster.call::<_, ()>(via, route, &req, timeout).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Refused(format!("joining through {via}: {e}"))),
            Err(e) => Err(StoreError::Unavailable(format!(
                "joining through {via}: {e}"
            ))),
        }
    }

    /// Adds a member through the leader (learner, catch-up, voter).
    pub async fn add_member(&self, id: u64, address: &str) -> Result<(), StoreError> {
        self.inner.cluster.add_member(id, address.to_string()).await
    }

    /// Removes a member through the leader; the last voter cannot be removed.
    pub async fn remove_member(&self, id: u64) -> Result<(), StoreError> {
        self.inner.cluster.remove_member(id).await
    }

    /// The members, as the leader reports them.
    pub async fn members(&self) -> Result<Vec<MemberInfo>, StoreError> {
        self.inner.cluster.members().await
    }

    /// Answers a request another server sent to this one's peer listener (`route` is the part
    /// after `/peer/`); an `Err` is a malformed request.
    pub async fn serve_peer(&self, route: &str, body: &[u8]) -> Result<Vec<u8>, String> {
        self.inner.cluster.serve_peer(route, body).await
    }

    /// Whether this server is the raft leader now.
    pub fn is_leader(&self) -> bool {
        self.inner.raft.metrics().borrow().current_leader == Some(self.inner.node_id)
    }

    /// This server's raft node id.
    pub fn node_id(&self) -> u64 {
        self.inner.node_id
    }

    /// Runs a transaction through raft (batched with concurrent ones) and returns what it did
    /// once it is applied locally.
    /// While this server's disk is full, new writes are refused at once: one already waiting
    /// for space still completes once there is room again.
    pub async fn txn(&self, txn: Txn) -> Result<TxnOutcome, StoreError> {
        if let Some(why) = self.disk_full() {
            return Err(StoreError::Unavailable(why));
        }
        self.inner.proposer.submit(txn).await
    }

    /// Compacts the history through `revision` on every member (etcd's Compact): lists and
    /// watches from older revisions answer `Compacted` from then on.
    pub async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let txn = Txn {
            compares: Vec::new(),
            ops: vec![Op::Compact { revision }],
        };
        self.txn(txn).await.map(|_| ())
    }

    /// Why this server cannot persist writes now (its disk is full), or None when it can.
    pub fn disk_full(&self) -> Option<String> {
        self.inner.shared.disk.current()
    }

    /// Whether this server's store can take writes: its raft core runs and its disk has room
    /// (what `/readyz/etcd` reports).
    pub fn health(&self) -> Result<(), String> {
        if let Err(fatal) = &self.inner.raft.metrics().borrow().running_state {
            return Err(format!("raft stopped: {fatal}"));
        }
        self.disk_full().map_or(Ok(()), Err)
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
        // Read index on the leader (here or forwarded), then wait for the local apply.
        self.inner.cluster.read_barrier().await
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
