//! What the store needs from the network between servers: one request/response call to a peer
//! address on a named route, bytes in and bytes out. The API server implements it over HTTPS
//! with mutual TLS (the cluster CA); the store never sees sockets or certificates, so the raft
//! wiring stays testable and the TLS policy stays with the rest of the PKI.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The routes a server answers on its peer listener (`POST /peer/<route>`).
pub mod routes {
    /// openraft AppendEntries.
    pub const APPEND: &str = "raft/append";
    /// openraft RequestVote.
    pub const VOTE: &str = "raft/vote";
    /// One chunk of an openraft InstallSnapshot.
    pub const SNAPSHOT: &str = "raft/snapshot";
    /// A batch of transactions forwarded to the leader.
    pub const TXN: &str = "store/txn";
    /// The leader's read index, for a linearizable read on a follower.
    pub const READ_INDEX: &str = "store/read-index";
    /// Add a member (learner, caught up, then voter).
    pub const ADD_MEMBER: &str = "cluster/add";
    /// Remove a member.
    pub const REMOVE_MEMBER: &str = "cluster/remove";
    /// The members as the leader sees them.
    pub const MEMBERS: &str = "cluster/members";
}

/// How a call to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The request never reached the peer (connection refused, no route, TLS refused): it was
    /// certainly not delivered, so it is safe to send it elsewhere.
    #[error("peer unreachable: {0}")]
    Unreachable(String),
    /// The request may have been delivered but no answer came (timeout, connection broken).
    #[error("no answer from peer: {0}")]
    NoAnswer(String),
    /// The peer answered with an HTTP error (authentication, unknown route, bad body).
    #[error("peer refused the request: {0}")]
    Refused(String),
}

/// A boxed, sendable future (the trait is used as `dyn`).
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Sends one request to a peer and returns its response body.
pub trait PeerTransport: Send + Sync + 'static {
    /// POSTs `body` to `route` at `addr` (`host:port`), giving up after `timeout`.
    fn call(
        &self,
        addr: &str,
        route: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> BoxFuture<Result<Vec<u8>, TransportError>>;
}

/// Application-level refusal carried in a peer's (successful) HTTP response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum PeerError {
    /// The peer is not the leader (any more); ask the leader.
    #[error("not the leader")]
    NotLeader,
    /// The named member does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request is not allowed (e.g. removing the last voter).
    #[error("{0}")]
    Refused(String),
    /// The peer could not do it now.
    #[error("{0}")]
    Unavailable(String),
}

/// Encodes a peer message (postcard: compact, and already what the log uses).
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    postcard::to_stdvec(value).map_err(|e| format!("encode: {e}"))
}

/// Decodes a peer message; garbage is an error, never a panic.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    postcard::from_bytes(bytes).map_err(|e| format!("decode: {e}"))
}
