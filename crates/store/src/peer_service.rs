//! The server side of the peer routes: what a server does when another server calls it.

use std::sync::Arc;

use crate::cluster::Cluster;
use crate::membership::AddMember;
use crate::raft::transport::{decode, encode, routes, PeerError};
use crate::types::Txn;

impl Cluster {
    /// Answers one peer request; `Err` means the request itself was bad (the HTTP layer
    /// answers 400), while refusals travel inside the encoded `Result<_, PeerError>`.
    pub async fn serve_peer(&self, route: &str, body: &[u8]) -> Result<Vec<u8>, String> {
        if route.starts_with("raft/") {
            return crate::raft::serve_raft_rpc(&self.raft, route, body).await;
        }
        self.serve_cluster_route(route, body).await
    }

    /// The store and membership routes (everything but raft's own RPCs). Membership requests
    /// may come from a server that is not a member yet (a joiner only knows the address it
    /// was given), so they are passed on to the leader from here.
    pub(crate) async fn serve_cluster_route(
        &self,
        route: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, String> {
        match route {
            routes::ADD_MEMBER => {
                let req: AddMember = decode(body)?;
                if req.address.is_empty() {
                    return Err("a member needs a peer address".into());
                }
                encode(
                    &self
                        .add_member(req.id, req.address)
                        .await
                        .map_err(to_peer_error),
                )
            }
            routes::REMOVE_MEMBER => encode(
                &self
                    .remove_member(decode(body)?)
                    .await
                    .map_err(to_peer_error),
            ),
            routes::MEMBERS => encode(&self.members().await.map_err(to_peer_error)),
            _ => self.serve_leader_route(route, body).await,
        }
    }

    /// Routes answered by this server as the leader (or refused with `NotLeader`).
    pub(crate) async fn serve_leader_route(
        &self,
        route: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, String> {
        match route {
            routes::TXN => {
                let txns: Vec<Txn> = decode(body)?;
                if txns.is_empty() {
                    return Err("empty batch".into());
                }
                encode(&self.write_local(Arc::new(txns)).await)
            }
            routes::READ_INDEX => encode(&self.read_index_local().await),
            routes::ADD_MEMBER => encode(&self.add_member_local(decode(body)?).await),
            routes::REMOVE_MEMBER => encode(&self.remove_member_local(decode(body)?).await),
            routes::MEMBERS => encode(&self.members_local()),
            other => encode(&Err::<(), _>(PeerError::Unavailable(format!(
                "unknown peer route {other:?}"
            )))),
        }
    }
}

fn to_peer_error(e: crate::StoreError) -> PeerError {
    match e {
        crate::StoreError::NotFound(m) => PeerError::NotFound(m),
        crate::StoreError::Refused(m) => PeerError::Refused(m),
        other => PeerError::Unavailable(other.to_string()),
    }
}
