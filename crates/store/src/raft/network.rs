//! openraft's network: each RPC is encoded with postcard and sent through the
//! [`PeerTransport`] to the target's peer address. Without a transport (a single server with no
//! `--peer-listen`) every RPC is `Unreachable`, which a one-member cluster never notices: it is
//! its own quorum.

use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::transport::{decode, encode, routes, PeerTransport, TransportError};
use super::TypeConfig;

/// Creates a [`Network`] client per peer.
#[derive(Clone, Default)]
pub struct NetworkFactory {
    transport: Option<Arc<dyn PeerTransport>>,
}

impl NetworkFactory {
    /// A factory sending RPCs through `transport` (None: single server, no peers).
    pub fn new(transport: Option<Arc<dyn PeerTransport>>) -> Self {
        NetworkFactory { transport }
    }
}

/// An RPC client for one peer.
#[derive(Clone)]
pub struct Network {
    target: u64,
    addr: String,
    transport: Option<Arc<dyn PeerTransport>>,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Network;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Network {
        Network {
            target,
            addr: node.addr.clone(),
            transport: self.transport.clone(),
        }
    }
}

type RpcResult<T, E> = Result<T, RPCError<u64, BasicNode, RaftError<u64, E>>>;

fn io_error(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotConnected, msg)
}

impl Network {
    /// Sends one RPC; the peer answers with the postcard of `Result<Resp, RaftError<E>>`.
    async fn rpc<Req, Resp, E>(&self, route: &str, req: &Req, ttl: Duration) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let Some(transport) = &self.transport else {
            let msg = format!(
                "no peer transport to node {} at {:?}",
                self.target, self.addr
            );
            return Err(RPCError::Unreachable(Unreachable::new(&io_error(msg))));
        };
        let body = encode(req).map_err(|e| RPCError::Network(NetworkError::new(&io_error(e))))?;
        match transport.call(&self.addr, route, body, ttl).await {
            Ok(bytes) => match decode::<Result<Resp, RaftError<u64, E>>>(&bytes) {
                Ok(Ok(resp)) => Ok(resp),
                Ok(Err(remote)) => {
                    Err(RPCError::RemoteError(RemoteError::new(self.target, remote)))
                }
                Err(e) => Err(RPCError::Network(NetworkError::new(&io_error(e)))),
            },
            // Unreachable makes openraft back off from this peer instead of hammering it.
            Err(e @ TransportError::Unreachable(_)) => Err(RPCError::Unreachable(
                Unreachable::new(&io_error(e.to_string())),
            )),
            Err(e) => Err(RPCError::Network(NetworkError::new(&e))),
        }
    }
}

impl RaftNetwork<TypeConfig> for Network {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        self.rpc(routes::APPEND, &rpc, option.hard_ttl()).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        self.rpc(routes::SNAPSHOT, &rpc, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        self.rpc(routes::VOTE, &rpc, option.hard_ttl()).await
    }
}

/// Answers one raft RPC that arrived on the peer listener: decode, hand to raft, encode the
/// result (including raft's own errors, which the sender turns back into `RemoteError`).
pub(crate) async fn serve_raft_rpc(
    raft: &super::StoreRaft,
    route: &str,
    body: &[u8],
) -> Result<Vec<u8>, String> {
    match route {
        routes::APPEND => encode(&raft.append_entries(decode(body)?).await),
        routes::VOTE => encode(&raft.vote(decode(body)?).await),
        routes::SNAPSHOT => encode(&raft.install_snapshot(decode(body)?).await),
        other => Err(format!("unknown raft route {other:?}")),
    }
}
