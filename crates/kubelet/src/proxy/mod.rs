//! The service proxy (kube-proxy's job): programs one nftables table per node from Services and
//! EndpointSlices, rewriting the whole table in one `nft -f -` transaction whenever the wanted
//! rules change (see [`render`]). ClusterIP and NodePort (also on 127.0.0.1), TCP and UDP,
//! random balancing over ready endpoints, ClientIP affinity, REJECT for ports without
//! endpoints, masquerade for hairpin and node ports. The host changes around it (see [`host`])
//! keep cluster addresses on this host. Stopping the proxy removes the table and undoes those.

pub mod host;
pub mod model;
pub mod render;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::Api;
use tokio::io::AsyncWriteExt;
use tokio::sync::{watch, Notify};

/// How the proxy is set up on this host.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The nft table this node owns (see [`render::table_name`]).
    pub table: String,
    /// The Service CIDR, routed onto the pod bridge (e.g. `10.96.0.0/12`).
    pub service_cidr: Option<String>,
    /// The bridge the pods sit on (Docker's default `docker0`).
    pub bridge: String,
}

impl ProxyConfig {
    /// Defaults for `node`: its own table, Docker's default bridge, no route.
    pub fn for_node(node: &str) -> Self {
        Self {
            table: render::table_name(node),
            service_cidr: None,
            bridge: "docker0".into(),
        }
    }
}

/// A running proxy; [`ProxyHandle::stop`] removes its rules.
pub struct ProxyHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ProxyHandle {
    /// Stops programming and removes the table and the route.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

/// Starts the proxy for `node`.
pub fn spawn(client: kube::Client, cfg: ProxyConfig, node: String) -> ProxyHandle {
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(run(client, cfg, node, stop_rx));
    ProxyHandle { stop, task }
}

async fn run(
    client: kube::Client,
    cfg: ProxyConfig,
    node: String,
    mut stop: watch::Receiver<bool>,
) {
    let host = host::prepare(&cfg).await;
    tracing::info!(
        table = %cfg.table,
        service_cidr = cfg.service_cidr.as_deref().unwrap_or("-"),
        bridge = %cfg.bridge,
        "service proxy starting (nftables)"
    );
    // Racing the whole programming loop against the stop signal means a stop is honoured even
    // while the API server is unreachable (the reflectors would wait for it forever).
    tokio::select! {
        _ = program(client, &cfg, &node) => {}
        _ = stop.wait_for(|s| *s) => {}
    }
    if let Err(e) = nft(&render::removal(&cfg.table)).await {
        tracing::warn!(table = %cfg.table, error = %e, "removing service rules failed");
    }
    host.undo(&cfg).await;
}

/// Watches Services and EndpointSlices and rewrites the table whenever the wanted rules change
/// (and every 30 s, repairing rules someone else removed). Runs until dropped.
async fn program(client: kube::Client, cfg: &ProxyConfig, node: &str) {
    let changed = Arc::new(Notify::new());
    let (services, svc_writer) = reflector::store::<Service>();
    let (slices, slice_writer) = reflector::store::<EndpointSlice>();
    let svc_api: Api<Service> = Api::all(client.clone());
    let slice_api: Api<EndpointSlice> = Api::all(client);
    let svc_watch = drive(
        reflector::reflector(svc_writer, watcher::watcher(svc_api, Default::default()))
            .default_backoff()
            .boxed(),
        changed.clone(),
    );
    let slice_watch = drive(
        reflector::reflector(
            slice_writer,
            watcher::watcher(slice_api, Default::default()),
        )
        .default_backoff()
        .boxed(),
        changed.clone(),
    );
    let apply_loop = async {
        // What the kernel holds, as far as we know; None: unknown, replace the whole table.
        let mut applied: Option<render::Rendered> = None;
        let mut resync = tokio::time::interval(Duration::from_secs(30));
        loop {
            let resyncing = tokio::select! {
                _ = changed.notified() => false,
                _ = resync.tick() => true,
            };
            if services.wait_until_ready().await.is_err()
                || slices.wait_until_ready().await.is_err()
            {
                return;
            }
            // Let a burst of events (a rollout's slices) settle into one transaction.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let svcs = services.state();
            let sls = slices.state();
            let rules = model::build(
                &svcs.iter().map(|s| s.as_ref()).collect::<Vec<_>>(),
                &sls.iter().map(|s| s.as_ref()).collect::<Vec<_>>(),
                node,
            );
            let wanted = render::render(&cfg.table, &rules);
            // The resync repairs a table someone removed (say, a flushed ruleset).
            if resyncing && !table_exists(&cfg.table).await {
                applied = None;
            }
            if applied.as_ref() == Some(&wanted) {
                continue;
            }
            let script = match &applied {
                Some(previous) => wanted.update_script(&cfg.table, previous),
                None => wanted.replace_script(&cfg.table),
            };
            match nft(&script).await {
                Ok(()) => {
                    tracing::debug!(table = %cfg.table, ports = rules.len(), "service rules applied");
                    applied = Some(wanted);
                }
                Err(e) => {
                    tracing::warn!(table = %cfg.table, error = %e, "applying service rules failed");
                    applied = None;
                }
            }
        }
    };
    tokio::select! {
        _ = svc_watch => {}
        _ = slice_watch => {}
        _ = apply_loop => {}
    }
}

async fn drive<T>(
    mut stream: futures::stream::BoxStream<'static, Result<watcher::Event<T>, watcher::Error>>,
    changed: Arc<Notify>,
) {
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(watcher::Event::Init) | Ok(watcher::Event::InitApply(_)) => {}
            Ok(_) => changed.notify_one(),
            Err(e) => tracing::debug!(error = %e, "service proxy watch error"),
        }
    }
}

/// Whether `nft list table ip <table>` finds the table.
async fn table_exists(table: &str) -> bool {
    tokio::process::Command::new("nft")
        .args(["list", "table", "ip", table])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// Runs `nft -f -` with `script` on stdin (one atomic transaction).
async fn nft(script: &str) -> Result<(), String> {
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("running nft: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .await
            .map_err(|e| format!("writing to nft: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| format!("waiting for nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}
