//! High availability: several `ferrokube server`s forming one raft cluster.
//!
//! ```text
//! --peer-listen ADDR           the peer listener: raft RPCs, forwarded writes and read-index
//!                              requests (mutual TLS, cluster CA, peer certificates only) and
//!                              `POST /join` (join token)
//! --peer-advertise HOST:PORT   the address the others dial, when it is not the listen
//!                              address (a StatefulSet pod's stable DNS name)
//! --join https://PEER --token  fetch the cluster's shared secrets (CA, service-account key,
//!                              join token) with the token, then ask to be added: learner,
//!                              catch-up by snapshot, voter. A server told to join itself (the
//!                              URL names its own advertised address) starts the cluster, so
//!                              every replica of a StatefulSet can run the same command line.
//! --token T (without --join)   the join token of a new cluster (kept when the data dir has one)
//! ```
//! The store does the consensus work ([`ferrokube_store::Store`]); this module owns the
//! sockets, certificates and files around it.

pub mod join;
pub mod member_file;
pub mod members;
pub mod peer_client;
pub mod peer_server;

use std::net::SocketAddr;

/// The HA flags of `ferrokube server`.
#[derive(Clone, Debug)]
pub struct HaOptions {
    /// Where the peer listener binds; also the address the other servers dial (so it must be
    /// a concrete address, not 0.0.0.0).
    pub peer_listen: SocketAddr,
    /// `--peer-advertise`: the `host:port` the other servers dial instead of the listen
    /// address (a name that outlives the pod's IP).
    pub peer_advertise: Option<String>,
    /// `--join URL --token T`: join the cluster of the server at URL (its peer listener).
    pub join: Option<JoinTarget>,
}

impl HaOptions {
    /// The peer address this server is known by: `--peer-advertise`, else the bound listen
    /// address (loopback for an unspecified IP).
    pub fn advertised(&self, bound: SocketAddr) -> String {
        match &self.peer_advertise {
            Some(a) => a.clone(),
            None => peer_server::advertised(bound).to_string(),
        }
    }

    /// The host part of `--peer-advertise`, which the peer certificate must name.
    pub fn advertised_host(&self) -> Option<String> {
        let a = self.peer_advertise.as_deref()?;
        let host = a.rsplit_once(':').map_or(a, |(h, _)| h);
        Some(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
        )
    }
}

/// Where and how to join.
#[derive(Clone, Debug)]
pub struct JoinTarget {
    /// `https://host:port` of a member's peer listener.
    pub url: String,
    /// The cluster's join token (`<data-dir>/pki/join-token` of a member).
    pub token: String,
}

impl JoinTarget {
    /// The `host:port` part of the URL (peer addresses are stored that way).
    pub fn peer_address(&self) -> anyhow::Result<String> {
        let rest = self
            .url
            .strip_prefix("https://")
            .ok_or_else(|| anyhow::anyhow!("--join must be an https:// URL, got {:?}", self.url))?;
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() {
            anyhow::bail!("--join {:?} has no host", self.url);
        }
        Ok(authority.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(advertise: Option<&str>) -> HaOptions {
        HaOptions {
            peer_listen: "0.0.0.0:7443".parse().expect("addr"),
            peer_advertise: advertise.map(str::to_string),
            join: None,
        }
    }

    #[test]
    fn the_advertised_peer_address_is_the_flag_else_the_listen_address() {
        let bound = "0.0.0.0:7443".parse().expect("addr");
        assert_eq!(options(None).advertised(bound), "127.0.0.1:7443");
        assert_eq!(options(None).advertised_host(), None);
        let named = options(Some("fk-0.fk-peers.ns.svc.cluster.local:7443"));
        assert_eq!(
            named.advertised(bound),
            "fk-0.fk-peers.ns.svc.cluster.local:7443"
        );
        assert_eq!(
            named.advertised_host().as_deref(),
            Some("fk-0.fk-peers.ns.svc.cluster.local")
        );
        assert_eq!(
            options(Some("[fd00::1]:7443")).advertised_host().as_deref(),
            Some("fd00::1")
        );
    }
}
