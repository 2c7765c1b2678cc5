//! Changing and listing the raft membership. Every change runs on the leader; a server that
//! is not the leader forwards the request to it over the peer transport.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, ServerState};
use serde::{Deserialize, Serialize};

use crate::cluster::{Cluster, Leader};
use crate::error::StoreError;
use crate::raft::transport::{decode, encode, routes, PeerError, TransportError};

/// How long a new member may take to catch up (snapshot plus log) before its join fails.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(300);
/// How long listing or removing may take.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// A member's role in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// The current raft leader.
    Leader,
    /// A voter following the leader.
    Follower,
    /// A non-voting member still catching up (or left as a learner).
    Learner,
}

/// One member as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Raft node id.
    pub id: u64,
    /// Peer address (`host:port`).
    pub address: String,
    /// Leader, follower or learner.
    pub role: Role,
    /// The last log index known to be on this member (the leader's own applied index for the
    /// leader; what replication has matched for the others).
    pub last_index: Option<u64>,
}

/// A request to add a member.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AddMember {
    pub id: u64,
    pub address: String,
}

fn to_store_error(e: PeerError) -> StoreError {
    match e {
        PeerError::NotFound(m) => StoreError::NotFound(m),
        PeerError::Refused(m) => StoreError::Refused(m),
        other => StoreError::Unavailable(other.to_string()),
    }
}

fn raft_failure(e: RaftError<u64, ClientWriteError<u64, BasicNode>>) -> PeerError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => PeerError::NotLeader,
        other => PeerError::Unavailable(other.to_string()),
    }
}

impl Cluster {
    /// Runs a membership request on the leader (here or forwarded), retrying while no leader
    /// is known or the one we asked stepped down.
    pub async fn on_leader<Req, T>(
        &self,
        route: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<T, StoreError>
    where
        Req: Serialize + Clone,
        T: serde::de::DeserializeOwned,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(StoreError::Timeout(format!(
                    "{route}: no leader answered within {}s",
                    timeout.as_secs()
                )));
            }
            let reply: Result<T, PeerError> = match self.leader() {
                Leader::Unknown => Err(PeerError::NotLeader),
                Leader::Me => {
                    // The same code path as a forwarded request, minus the network.
                    let body = encode(req).map_err(StoreError::Unavailable)?;
                    let bytes = self
                        .serve_leader_route(route, &body)
                        .await
                        .map_err(StoreError::Unavailable)?;
                    decode::<Result<T, PeerError>>(&bytes).map_err(StoreError::Unavailable)?
                }
                Leader::Other(addr) => match self.call(&addr, route, req, left).await {
                    Ok(reply) => reply,
                    Err(TransportError::Unreachable(_)) => Err(PeerError::NotLeader),
                    Err(e) => return Err(StoreError::Unavailable(e.to_string())),
                },
            };
            match reply {
                Ok(v) => return Ok(v),
                Err(PeerError::NotLeader) => {
                    tokio::time::sleep(Duration::from_millis(100).min(left)).await
                }
                Err(e) => return Err(to_store_error(e)),
            }
        }
    }

    /// Adds a member: as a learner, waits for it to catch up, then promotes it to voter.
    pub async fn add_member(&self, id: u64, address: String) -> Result<(), StoreError> {
        let req = AddMember { id, address };
        self.on_leader(routes::ADD_MEMBER, &req, CATCH_UP_TIMEOUT + CHANGE_TIMEOUT)
            .await
    }

    /// Removes a member (voter or learner); refuses to remove the last voter.
    pub async fn remove_member(&self, id: u64) -> Result<(), StoreError> {
        self.on_leader(routes::REMOVE_MEMBER, &id, CHANGE_TIMEOUT)
            .await
    }

    /// The members as the leader sees them.
    pub async fn members(&self) -> Result<Vec<MemberInfo>, StoreError> {
        self.on_leader(routes::MEMBERS, &(), CHANGE_TIMEOUT).await
    }

    /// Leader side of [`Cluster::add_member`].
    pub(crate) async fn add_member_local(&self, req: AddMember) -> Result<(), PeerError> {
        let node = BasicNode::new(&req.address);
        let existing = {
            let m = self.raft.metrics().borrow().membership_config.clone();
            m.membership().get_node(&req.id).cloned()
        };
        match existing {
            Some(n) if n.addr != req.address => {
                return Err(PeerError::Refused(format!(
                    "member id {} is already used by {}; remove it first",
                    req.id, n.addr
                )))
            }
            Some(_) => {}
            None => {
                // Blocking: returns once the learner has caught up (by snapshot if needed).
                self.raft
                    .add_learner(req.id, node, true)
                    .await
                    .map_err(raft_failure)?;
            }
        }
        self.raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([req.id])), false)
            .await
            .map_err(raft_failure)?;
        Ok(())
    }

    /// Leader side of [`Cluster::remove_member`].
    pub(crate) async fn remove_member_local(&self, id: u64) -> Result<(), PeerError> {
        let membership = self.raft.metrics().borrow().membership_config.clone();
        let m = membership.membership();
        if m.get_node(&id).is_none() {
            return Err(PeerError::NotFound(format!("no member with id {id}")));
        }
        let voters: BTreeSet<u64> = m.voter_ids().collect();
        let change = if voters.contains(&id) {
            if voters.len() == 1 {
                return Err(PeerError::Refused(format!(
                    "refusing to remove member {id}: it is the last voter"
                )));
            }
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        };
        // retain=false: a removed voter leaves the membership entirely, not as a learner.
        self.raft
            .change_membership(change, false)
            .await
            .map_err(raft_failure)?;
        Ok(())
    }

    /// Leader side of [`Cluster::members`].
    pub(crate) fn members_local(&self) -> Result<Vec<MemberInfo>, PeerError> {
        let metrics = self.raft.metrics().borrow().clone();
        if metrics.state != ServerState::Leader {
            return Err(PeerError::NotLeader);
        }
        let m = metrics.membership_config.membership();
        let voters: BTreeSet<u64> = m.voter_ids().collect();
        let matched: BTreeMap<u64, Option<u64>> = metrics
            .replication
            .as_ref()
            .map(|r| r.iter().map(|(id, l)| (*id, l.map(|l| l.index))).collect())
            .unwrap_or_default();
        Ok(m.nodes()
            .map(|(id, node)| {
                let role = if *id == self.id {
                    Role::Leader
                } else if voters.contains(id) {
                    Role::Follower
                } else {
                    Role::Learner
                };
                let last_index = if *id == self.id {
                    metrics.last_applied.map(|l| l.index)
                } else {
                    matched.get(id).copied().flatten()
                };
                MemberInfo {
                    id: *id,
                    address: node.addr.clone(),
                    role,
                    last_index,
                }
            })
            .collect())
    }
}
