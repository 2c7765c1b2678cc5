//! ferrokube's scheduler, controller manager and hollow nodes: ordinary kube-rs clients of
//! the API server, one module per controller.
//!
//! Entry points:
//! - [`run_controller_manager`]`(client, ControllerConfig, shutdown)`: wins the
//!   `kube-system/ferrokube-controller-manager` Lease, then runs every controller (namespace,
//!   service account, root CA publisher, ReplicaSet, ReplicationController, Deployment,
//!   garbage collector, Job, CronJob, DaemonSet, StatefulSet, Endpoints, EndpointSlice, node
//!   lifecycle, pod GC, persistent volumes, disruption budgets, resource quotas,
//!   horizontal pod autoscalers) until `shutdown` resolves; on losing the lease it stops them and
//!   campaigns again. [`run_controllers`] runs them unelected.
//! - [`run_scheduler`]`(client, shutdown)`: wins `kube-system/ferrokube-scheduler` and binds
//!   pending `default-scheduler` pods through `pods/binding` ([`scheduler`] holds the pure
//!   filter and score plugins).
//! - [`run_hollow_nodes`]`(client, count, shutdown)`: fake `hollow-<i>` nodes with Lease
//!   heartbeats that mark their pods Running/Ready (or Succeeded for `true`/`echo`);
//!   [`run_hollow_node_range`] runs a slice of them so several processes share a cluster.
//! - [`history`]: ControllerRevision bookkeeping shared by DaemonSet and StatefulSet.
//! - [`informers`]: the watches the controllers share (one pod and one node watch for the
//!   whole controller manager, like upstream's shared informers).
//!
//! Pure logic (predicates, scores, rollout math, cron, revision history) lives in small
//! functions with unit tests beside them; the API interplay is tested end to end at the
//! workspace root.

#![deny(missing_docs)]

pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod endpointslice;
pub mod endpointslice_mirroring;
pub mod error;
pub mod events;
pub mod gc;
pub mod history;
pub mod hollow;
pub mod informers;
pub mod job;
pub mod leader;
pub mod namespace;
pub mod nodelifecycle;
pub mod podautoscaler;
pub mod podgc;
pub mod quota;
pub mod quota_scopes;
pub mod quota_usage;
pub mod replicaset;
pub mod rootca;
pub mod scheduler;
pub mod serviceaccount;
pub mod statefulset;
pub mod util;
pub mod volume;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio_util::sync::CancellationToken;

pub use error::{Error, Result};
pub use hollow::{run_hollow_node_range, run_hollow_nodes};
pub use scheduler::run_scheduler;

/// Settings of the controller manager.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// PEM of the cluster CA, published as `kube-root-ca.crt` in every namespace.
    pub ca_pem: String,
    /// How long a node may miss heartbeats before it is marked NotReady/Unknown (upstream 40 s).
    pub node_monitor_grace: Duration,
    /// Default `tolerationSeconds` for the not-ready/unreachable NoExecute taints (upstream 300 s).
    pub eviction_timeout: Duration,
    /// Identity in the leader-election Lease (unique per process).
    pub identity: String,
    /// Terminated pods kept before pod GC deletes the oldest (upstream 12500).
    pub terminated_pod_gc_threshold: usize,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            ca_pem: String::new(),
            node_monitor_grace: Duration::from_secs(40),
            eviction_timeout: Duration::from_secs(300),
            identity: format!("ferrokube-{:016x}", rand::random::<u64>()),
            terminated_pod_gc_threshold: 12500,
        }
    }
}

/// What every controller gets: the client, the configuration and the shared informers.
#[derive(Clone)]
pub struct Context {
    /// Client of the API server.
    pub client: Client,
    /// Controller manager settings.
    pub cfg: Arc<ControllerConfig>,
    /// Watches shared by the controllers (one per kind).
    pub informers: Arc<informers::Informers>,
}

/// Turns a shutdown future into a cancellation token.
pub(crate) fn token_from(shutdown: impl Future<Output = ()> + Send + 'static) -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown => t.cancel(),
            _ = t.cancelled() => {}
        }
    });
    token
}

/// Runs the controller manager with leader election until `shutdown` resolves.
pub async fn run_controller_manager(
    client: Client,
    cfg: ControllerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let token = token_from(shutdown);
    let cfg = Arc::new(cfg);
    let identity = cfg.identity.clone();
    let elector = leader::LeaderElector::new(
        client.clone(),
        "kube-system",
        "ferrokube-controller-manager",
        &identity,
        util::FIELD_MANAGER,
        leader::ElectionTiming::default(),
    );
    elector
        .run(token, move |leading| {
            run_controllers(client.clone(), cfg.clone(), leading)
        })
        .await;
    Ok(())
}

/// Runs every controller until `token` is cancelled (no leader election).
pub async fn run_controllers(client: Client, cfg: Arc<ControllerConfig>, token: CancellationToken) {
    let ctx = Context {
        informers: Arc::new(informers::Informers::spawn(&client, &token)),
        client,
        cfg,
    };
    let mut set = tokio::task::JoinSet::new();
    set.spawn(namespace::run(ctx.clone(), token.clone()));
    set.spawn(serviceaccount::run(ctx.clone(), token.clone()));
    set.spawn(rootca::run(ctx.clone(), token.clone()));
    set.spawn(replicaset::run_replicasets(ctx.clone(), token.clone()));
    set.spawn(replicaset::run_replication_controllers(
        ctx.clone(),
        token.clone(),
    ));
    set.spawn(deployment::run(ctx.clone(), token.clone()));
    set.spawn(gc::run(ctx.clone(), token.clone()));
    set.spawn(job::run(ctx.clone(), token.clone()));
    set.spawn(cronjob::run(ctx.clone(), token.clone()));
    set.spawn(daemonset::run(ctx.clone(), token.clone()));
    set.spawn(statefulset::run(ctx.clone(), token.clone()));
    set.spawn(endpoints::run(ctx.clone(), token.clone()));
    set.spawn(endpointslice::run(ctx.clone(), token.clone()));
    set.spawn(endpointslice_mirroring::run(ctx.clone(), token.clone()));
    set.spawn(nodelifecycle::run(ctx.clone(), token.clone()));
    set.spawn(podgc::run(ctx.clone(), token.clone()));
    set.spawn(podautoscaler::run(ctx.clone(), token.clone()));
    set.spawn(volume::run(ctx.clone(), token.clone()));
    set.spawn(disruption::run(ctx.clone(), token.clone()));
    set.spawn(quota::run(ctx.clone(), token.clone()));
    while let Some(r) = set.join_next().await {
        if let Err(e) = r {
            tracing::error!(error = %e, "controller task failed");
        }
    }
}
