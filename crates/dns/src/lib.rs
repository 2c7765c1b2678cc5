//! ferrokube's cluster DNS: upstream's DNS schema for Kubernetes (kubernetes/dns
//! `docs/specification.md`) served over UDP and TCP, answered from Services and
//! EndpointSlices that the server watches through the API like any other client.
//!
//! - [`snapshot`] — the objects reduced to what records need, rebuilt on every change.
//! - [`records`] — names to answers, pure and unit-tested (A/AAAA, SRV, headless endpoint
//!   names, pod names, ExternalName CNAMEs, PTR, NXDOMAIN with the zone's SOA).
//! - [`handler`] — one packet to one reply: malformed input, UDP size limits, forwarding.
//! - [`server`] — the sockets, with bounded work everywhere.
//!
//! Names outside the cluster domain are relayed only to an explicit forward resolver
//! ([`DnsOptions::forward`]); without one they are REFUSED, so nothing leaves the host.

#![warn(missing_docs)]

pub mod handler;
pub mod records;
pub mod server;
pub mod snapshot;
mod sync;

/// The DNS message types this crate is built on (for clients and tests).
pub use hickory_proto as proto;

use std::net::SocketAddr;

use tokio::sync::watch;

/// Settings of the cluster DNS server.
#[derive(Debug, Clone)]
pub struct DnsOptions {
    /// Where to listen, UDP and TCP (port 0 picks one).
    pub listen: SocketAddr,
    /// The cluster domain (`cluster.local`).
    pub cluster_domain: String,
    /// Resolver for names outside the cluster; `None` refuses them.
    pub forward: Option<SocketAddr>,
}

/// A bound, not yet serving, DNS server.
pub struct BoundDns {
    sockets: server::Sockets,
    options: DnsOptions,
}

impl BoundDns {
    /// Binds the sockets (so the caller learns the address before serving starts).
    pub async fn bind(options: DnsOptions) -> anyhow::Result<Self> {
        snapshot::Snapshot::empty(&options.cluster_domain)?;
        let sockets = server::Sockets::bind(options.listen).await?;
        Ok(Self { sockets, options })
    }

    /// The address queries go to.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.sockets.local_addr()
    }

    /// Serves until the process ends; answers SERVFAIL until the first sync with the API.
    pub async fn serve(self, client: kube::Client) -> anyhow::Result<()> {
        let (tx, rx) = watch::channel(None);
        let serving = self.sockets.serve(rx, self.options.forward);
        let syncing = sync::keep_current(client, self.options.cluster_domain, tx);
        tokio::select! {
            () = serving => Ok(()),
            res = syncing => res,
        }
    }
}
