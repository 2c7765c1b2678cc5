//! The multi-server side of the store: where the leader is, forwarding a batch of writes or a
//! read-index request to it, and waiting until this server has applied what the leader
//! answered, so a client talking to any server reads its own writes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::StoreError;
use crate::raft::transport::{decode, encode, routes, PeerError, PeerTransport, TransportError};
use crate::raft::{Proposal, StoreRaft};
use crate::types::{Txn, TxnOutcome};

/// How long a write may wait for a leader and a quorum before it fails with a timeout (the
/// API answers 504): a server cut off from the majority answers rather than hanging.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The same for a linearizable read.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause before asking again while there is no leader (an election takes 1–2 s).
const NO_LEADER_PAUSE: Duration = Duration::from_millis(50);
/// After this long without a leader (several election rounds), or as a leader without a
/// quorum acknowledgement for this long, requests fail at once instead of each waiting out its
/// own deadline: one API request does several reads, and a cut-off server must answer
/// promptly rather than after minutes.
const FAIL_FAST_AFTER: Duration = Duration::from_secs(5);

/// This server's raft handle plus the way to reach the others.
pub(crate) struct Cluster {
    pub raft: StoreRaft,
    pub id: u64,
    pub transport: Option<Arc<dyn PeerTransport>>,
    /// Since when no leader is known (None: one is).
    pub leaderless_since: parking_lot::Mutex<Option<Instant>>,
    /// Calls to a peer that keep failing (None: the last one worked).
    pub failing: parking_lot::Mutex<Option<Failing>>,
}

/// A peer that has not answered: which, since when, and when a request last went to it.
pub(crate) struct Failing {
    addr: String,
    since: Instant,
    last_try: Instant,
}

/// While the leader does not answer, one request a second still goes through to find out when
/// it is back; the others fail at once.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Who leads, as this server knows it.
pub(crate) enum Leader {
    /// Nobody known (election in progress, or cut off).
    Unknown,
    /// This server.
    Me,
    /// Another server, at this peer address.
    Other(String),
}

/// The outcomes of a batch and the raft log index it was applied at.
pub(crate) type Applied = (Vec<TxnOutcome>, u64);

fn timeout_error(what: &str, waited: Duration) -> StoreError {
    StoreError::Timeout(format!(
        "{what} did not complete within {}s (no leader or no quorum reachable)",
        waited.as_secs()
    ))
}

impl Cluster {
    /// Who leads now.
    pub fn leader(&self) -> Leader {
        let leader = self.leader_now();
        let mut since = self.leaderless_since.lock();
        match (&leader, *since) {
            (Leader::Unknown, None) => *since = Some(Instant::now()),
            (Leader::Unknown, Some(_)) => {}
            _ => *since = None,
        }
        leader
    }

    /// Why this server cannot reach a quorum now, if it evidently cannot: no leader for a
    /// while, or leading without quorum acknowledgements (an isolated old leader).
    pub fn cut_off(&self) -> Option<String> {
        let leader = self.leader();
        if let (Leader::Unknown, Some(since)) = (&leader, *self.leaderless_since.lock()) {
            let for_ = since.elapsed();
            if for_ >= FAIL_FAST_AFTER {
                return Some(format!("no raft leader for {}s", for_.as_secs()));
            }
        }
        if let Leader::Other(addr) = &leader {
            let mut failing = self.failing.lock();
            if let Some(f) = failing.as_mut().filter(|f| f.addr == *addr) {
                if f.since.elapsed() >= FAIL_FAST_AFTER {
                    if f.last_try.elapsed() >= PROBE_EVERY {
                        f.last_try = Instant::now();
                        return None;
                    }
                    return Some(format!(
                        "the leader at {addr} has not answered for {}s",
                        f.since.elapsed().as_secs()
                    ));
                }
            }
        }
        if let Leader::Me = leader {
            let metrics = self.raft.metrics();
            let m = metrics.borrow();
            // A sole voter is its own quorum.
            m.membership_config.membership().voter_ids().nth(1)?;
            let quiet = m.millis_since_quorum_ack;
            let limit = FAIL_FAST_AFTER.as_millis() as u64;
            if quiet.is_some_and(|ms| ms >= limit) {
                return Some("this server leads but no quorum has answered it".into());
            }
        }
        None
    }

    fn leader_now(&self) -> Leader {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        match m.current_leader {
            None => Leader::Unknown,
            Some(id) if id == self.id => Leader::Me,
            Some(id) => match m.membership_config.membership().get_node(&id) {
                Some(node) if !node.addr.is_empty() => Leader::Other(node.addr.clone()),
                _ => Leader::Unknown,
            },
        }
    }

    /// Calls `route` on the peer at `addr` with `req`, decoding a `Result<T, PeerError>`.
    pub async fn call<Req: Serialize, T: DeserializeOwned>(
        &self,
        addr: &str,
        route: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Result<T, PeerError>, TransportError> {
        let Some(transport) = &self.transport else {
            return Err(TransportError::Unreachable("no peer transport".into()));
        };
        let body = encode(req).map_err(TransportError::Refused)?;
        let result = transport.call(addr, route, body, timeout).await;
        let mut failing = self.failing.lock();
        match &result {
            Ok(_) => *failing = None,
            Err(_) if failing.as_ref().is_some_and(|f| f.addr == addr) => {}
            Err(_) => {
                *failing = Some(Failing {
                    addr: addr.to_string(),
                    since: Instant::now(),
                    last_try: Instant::now(),
                })
            }
        }
        drop(failing);
        decode(&result?).map_err(TransportError::NoAnswer)
    }

    /// Runs a batch through raft on the leader, wherever it is, and returns once this server
    /// has applied it. Retries only where the batch certainly was not appended (no leader yet,
    /// leader unreachable, "not the leader"), so a batch is never proposed twice by us.
    pub async fn write(&self, txns: Arc<Vec<Txn>>) -> Result<Vec<TxnOutcome>, StoreError> {
        if let Some(why) = self.cut_off() {
            return Err(StoreError::Timeout(format!("write refused: {why}")));
        }
        let began = Instant::now();
        let deadline = began + WRITE_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timeout_error("write", WRITE_TIMEOUT));
            }
            let attempt: Option<()> = match self.leader() {
                Leader::Unknown => None,
                Leader::Me => {
                    match tokio::time::timeout(left, self.write_local(txns.clone())).await {
                        Err(_) => return Err(timeout_error("write", WRITE_TIMEOUT)),
                        Ok(Err(PeerError::NotLeader)) => None,
                        Ok(Err(e)) => return Err(StoreError::Unavailable(e.to_string())),
                        Ok(Ok((outcomes, _))) => return Ok(outcomes),
                    }
                }
                Leader::Other(addr) => {
                    match self.call::<_, Applied>(&addr, routes::TXN, &*txns, left).await {
                        Ok(Ok((outcomes, index))) => {
                            self.wait_applied(index, deadline).await?;
                            return Ok(outcomes);
                        }
                        Ok(Err(PeerError::NotLeader)) | Err(TransportError::Unreachable(_)) => {
                            None
                        }
                        Ok(Err(e)) => return Err(StoreError::Unavailable(e.to_string())),
                        Err(e) => return Err(StoreError::Unavailable(format!(
                            "forwarding the write to the leader at {addr}: {e}; its outcome is unknown"
                        ))),
                    }
                }
            };
            if attempt.is_none() {
                tokio::time::sleep(NO_LEADER_PAUSE.min(left)).await;
            }
        }
    }

    /// Proposes a batch on this server, which must be the leader.
    pub async fn write_local(&self, txns: Arc<Vec<Txn>>) -> Result<Applied, PeerError> {
        let n = txns.len();
        match self.raft.client_write(Proposal(txns)).await {
            Ok(resp) if resp.data.0.len() == n => Ok((resp.data.0, resp.log_id.index)),
            Ok(resp) => Err(PeerError::Unavailable(format!(
                "raft returned {} outcomes for {n} txns",
                resp.data.0.len()
            ))),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => {
                Err(PeerError::NotLeader)
            }
            Err(e) => Err(PeerError::Unavailable(e.to_string())),
        }
    }

    /// Makes the local state linearizable: confirms leadership with a quorum (read index),
    /// here or on the leader, then waits until this server has applied up to that index.
    pub async fn read_barrier(&self) -> Result<(), StoreError> {
        if let Some(why) = self.cut_off() {
            return Err(StoreError::Timeout(format!(
                "linearizable read refused: {why}"
            )));
        }
        let deadline = Instant::now() + READ_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timeout_error("linearizable read", READ_TIMEOUT));
            }
            let index = match self.leader() {
                Leader::Unknown => None,
                Leader::Me => match tokio::time::timeout(left, self.read_index_local()).await {
                    Err(_) => return Err(timeout_error("linearizable read", READ_TIMEOUT)),
                    Ok(Ok(index)) => Some(index),
                    Ok(Err(PeerError::NotLeader)) => None,
                    Ok(Err(e)) => return Err(StoreError::Unavailable(e.to_string())),
                },
                Leader::Other(addr) => {
                    match self
                        .call::<_, u64>(&addr, routes::READ_INDEX, &(), left)
                        .await
                    {
                        Ok(Ok(index)) => Some(index),
                        Ok(Err(PeerError::NotLeader)) => None,
                        Ok(Err(e)) => return Err(StoreError::Unavailable(e.to_string())),
                        // A read is safe to retry whatever happened to the request.
                        Err(_) => None,
                    }
                }
            };
            match index {
                Some(index) => return self.wait_applied(index, deadline).await,
                None => tokio::time::sleep(NO_LEADER_PAUSE.min(left)).await,
            }
        }
    }

    /// The leader's read index: the log index a read must see to be linearizable.
    pub async fn read_index_local(&self) -> Result<u64, PeerError> {
        match self.raft.get_read_log_id().await {
            Ok((read, applied)) => Ok(read.max(applied).map_or(0, |l| l.index)),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(_))) => {
                Err(PeerError::NotLeader)
            }
            Err(e) => Err(PeerError::Unavailable(e.to_string())),
        }
    }

    /// Waits until this server's state machine has applied log index `index`.
    pub async fn wait_applied(&self, index: u64, deadline: Instant) -> Result<(), StoreError> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.raft
            .wait(Some(left))
            .applied_index_at_least(Some(index), "apply a forwarded write")
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Timeout(format!("waiting to apply index {index}: {e}")))
    }
}
