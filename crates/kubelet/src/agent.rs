//! The node agent: registers the Node, keeps its Lease fresh, runs one [`PodWorker`] per pod
//! bound to the node, wakes workers on engine events, and removes containers of vanished pods.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Taint};
use kube::runtime::watcher;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::naming::LABEL_POD_UID;
use crate::node::{self, MachineFacts, NodeSettings};
use crate::pod_worker::{admission, run_worker, NodeContext, PodUpdate, PodWorker, WorkerDeps};
use crate::runtime::ContainerRuntime;
use crate::server::{self, ServerState};
use ferrokube_apimachinery::host_ports::HostPort;

/// Default image for pause containers (the locally imported busybox).
pub const DEFAULT_PAUSE_IMAGE: &str = "busybox:latest";

/// Settings of one node agent.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Node name (several agents with different names may share one engine).
    pub node_name: String,
    /// The cluster's identity (a digest of its CA), labelled on every container so that
    /// clusters sharing an engine never touch each other's; empty: unknown.
    pub cluster_id: String,
    /// Where per-pod directories live.
    pub data_dir: PathBuf,
    /// Never ask the engine to pull (also `FERROKUBE_NO_IMAGE_PULL=1`).
    pub no_image_pull: bool,
    /// Unsafe sysctls (names or `prefix*`) pods may set beyond the safe set.
    pub allowed_unsafe_sysctls: Vec<String>,
    /// Address of the kubelet streaming server (port 0 picks a free one).
    pub listen_addr: SocketAddr,
    /// Address reported as the node's InternalIP (default: derived from `listen_addr`).
    pub node_ip: Option<std::net::IpAddr>,
    /// Image the pause container runs.
    pub pause_image: String,
    /// Extra node labels.
    pub labels: BTreeMap<String, String>,
    /// Taints to register the node with.
    pub taints: Vec<Taint>,
    /// Unmap start-up code once the agent runs (standalone agents; see [`crate::memory`]).
    pub release_startup_code: bool,
    /// The service proxy's settings; `None` runs no proxy.
    pub proxy: Option<crate::proxy::ProxyConfig>,
    /// Cluster DNS and the node resolver, for pods' resolv.conf and hosts files.
    pub dns: crate::pod_dns::PodDnsConfig,
    /// Where the local-path provisioner keeps this node's volumes (`--volume-dir`).
    pub volume_dir: PathBuf,
    /// The CA certificates (DER) client certificates to the kubelet are verified against
    /// (upstream's `--client-ca-file`: the cluster CA); empty: only bearer tokens
    /// authenticate.
    pub client_ca: Vec<Vec<u8>>,
}

impl AgentConfig {
    /// Defaults for `node_name` with data under `data_dir`; honours `FERROKUBE_NO_IMAGE_PULL`.
    pub fn new(node_name: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            node_name: node_name.into(),
            cluster_id: String::new(),
            volume_dir: data_dir.join("volumes"),
            data_dir,
            no_image_pull: no_image_pull_from_env(),
            allowed_unsafe_sysctls: Vec::new(),
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            node_ip: None,
            pause_image: DEFAULT_PAUSE_IMAGE.into(),
            labels: BTreeMap::new(),
            taints: Vec::new(),
            release_startup_code: false,
            proxy: None,
            dns: crate::pod_dns::PodDnsConfig::new(Vec::new(), "cluster.local"),
            client_ca: Vec::new(),
        }
    }
}

/// Whether `FERROKUBE_NO_IMAGE_PULL` asks for no-pull mode (`1`/`true`).
pub fn no_image_pull_from_env() -> bool {
    std::env::var("FERROKUBE_NO_IMAGE_PULL")
        .map(|v| v == "1" || v.eq_ignore_ascii_case("true"))
        .unwrap_or(false)
}

/// How long start-up (registration, first pod list, first syncs) takes at most, usually.
const STARTUP: Duration = Duration::from_secs(5);

struct WorkerHandle {
    updates: watch::Sender<PodUpdate>,
    wake: Arc<Notify>,
    task: JoinHandle<()>,
    /// The host ports the pod was admitted with (none when it was refused).
    host_ports: Vec<HostPort>,
}

impl WorkerHandle {
    /// The host ports this pod holds: admitted, still in the API and not finished.
    fn held_ports(&self) -> &[HostPort] {
        match &*self.updates.borrow() {
            PodUpdate::Present(p) if !admission::terminal(p) => &self.host_ports,
            _ => &[],
        }
    }
}

type Workers = Arc<Mutex<HashMap<String, WorkerHandle>>>;

fn lock(w: &Workers) -> std::sync::MutexGuard<'_, HashMap<String, WorkerHandle>> {
    w.lock().unwrap_or_else(|e| e.into_inner())
}

/// Binds the kubelet's HTTPS server and starts obtaining (and renewing) its serving
/// certificate; returns the bound address, the serving future and the certificate task.
async fn start_server(
    client: &kube::Client,
    cfg: &AgentConfig,
    runtime: Arc<dyn ContainerRuntime>,
    host_ip: std::net::IpAddr,
) -> anyhow::Result<(
    SocketAddr,
    impl std::future::Future<Output = ()> + Send + 'static,
    JoinHandle<()>,
)> {
    use crate::serving_cert::{self, CertSlot, ServingCertConfig};
    let slot = Arc::new(CertSlot::default());
    let tls = server::tls::server_config(slot.clone(), &cfg.client_ca)
        .map_err(|e| anyhow::anyhow!("kubelet TLS: {e}"))?;
    let auth = Arc::new(server::auth::KubeletAuth::new(
        cfg.node_name.clone(),
        Arc::new(client.clone()),
        server::auth::CacheTtls::default(),
    ));
    let state = ServerState {
        runtime,
        node_name: cfg.node_name.clone(),
        cluster_id: cfg.cluster_id.clone(),
    };
    let (bound, serve) = server::bind_secure(cfg.listen_addr, state, tls, auth).await?;
    let cert_cfg = ServingCertConfig {
        node_name: cfg.node_name.clone(),
        names: serving_cert::names_for(&cfg.node_name, host_ip, bound.ip()),
        path: serving_cert::store::path_in(&cfg.data_dir),
    };
    let certs = tokio::spawn(serving_cert::run(client.clone(), cert_cfg, slot));
    Ok((bound, serve, certs))
}

/// Run the agent with an explicit runtime until `shutdown` resolves. Containers keep running
/// when the agent stops, so a restarted agent adopts them.
pub async fn run_agent_with(
    client: kube::Client,
    cfg: AgentConfig,
    runtime: Arc<dyn ContainerRuntime>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    crate::pod_worker::sysctls::validate_allowed(&cfg.allowed_unsafe_sysctls)
        .map_err(|e| anyhow::anyhow!("--allowed-unsafe-sysctls: {e}"))?;
    std::fs::create_dir_all(cfg.data_dir.join("pods"))?;
    let facts = MachineFacts::detect(&cfg.data_dir);
    let host_ip = cfg
        .node_ip
        .unwrap_or_else(|| node::detect_host_ip(cfg.listen_addr.ip()));
    let version = runtime.version().await?;
    let (bound, serve, certs) = start_server(&client, &cfg, runtime.clone(), host_ip).await?;
    let server_task = tokio::spawn(serve);
    let settings = NodeSettings {
        name: cfg.node_name.clone(),
        ip: host_ip,
        kubelet_port: bound.port(),
        runtime_version: format!("{}://{}", version.name, version.version),
        labels: cfg.labels.clone(),
        taints: cfg.taints.clone(),
    };
    tracing::info!(node = %cfg.node_name, kubelet = %bound, "node agent starting");
    let ctx = Arc::new(NodeContext {
        node_name: cfg.node_name.clone(),
        cluster_id: cfg.cluster_id.clone(),
        data_dir: cfg.data_dir.clone(),
        no_image_pull: cfg.no_image_pull,
        allowed_unsafe_sysctls: cfg.allowed_unsafe_sysctls.clone(),
        pause_image: cfg.pause_image.clone(),
        resources: facts.allocatable(),
        host_ip: host_ip.to_string(),
        memory_root: PathBuf::from("/dev/shm/ferrokube").join(&cfg.node_name),
        dns: cfg.dns.clone(),
    });
    let deps = WorkerDeps {
        runtime: runtime.clone(),
        objects: Arc::new(client.clone()),
        tokens: Arc::new(crate::tokens::TokenCache::new(client.clone())),
        api: Arc::new(client.clone()),
        events: Arc::new(crate::events::node_recorder(client.clone(), &cfg.node_name)),
        node: ctx,
    };
    let workers: Workers = Arc::new(Mutex::new(HashMap::new()));
    let (stop_tx, stop_rx) = watch::channel(false);

    let proxy = cfg
        .proxy
        .clone()
        .map(|p| crate::proxy::spawn(client.clone(), p, cfg.node_name.clone()));
    let heartbeat = tokio::spawn(heartbeat_loop(client.clone(), settings, facts));
    let owner = crate::naming::Owner {
        cluster: &cfg.cluster_id,
        node: &cfg.node_name,
    };
    let events = tokio::spawn(engine_events(
        runtime.clone(),
        owner.selector(),
        workers.clone(),
    ));
    let provisioner =
        crate::provisioner::LocalPath::new(client.clone(), &cfg.node_name, cfg.volume_dir.clone());
    let provisioner = tokio::spawn(provisioner.run());
    let pods = tokio::spawn(watch_pods(client, deps, workers.clone(), stop_rx));
    if cfg.release_startup_code {
        tokio::spawn(async {
            // By then the node is registered and the first pod list is in.
            tokio::time::sleep(STARTUP).await;
            match crate::memory::release_startup_code() {
                Ok(bytes) => tracing::debug!(bytes, "released start-up code mappings"),
                Err(e) => tracing::debug!(error = %e, "cannot release start-up code"),
            }
        });
    }

    shutdown.await;
    let _ = stop_tx.send(true);
    if let Some(proxy) = proxy {
        proxy.stop().await;
    }
    for t in [
        &heartbeat,
        &events,
        &pods,
        &provisioner,
        &server_task,
        &certs,
    ] {
        t.abort();
    }
    let handles: Vec<JoinHandle<()>> = lock(&workers).drain().map(|(_, h)| h.task).collect();
    for h in handles {
        // Workers return promptly on the stop signal; a stuck one must not block shutdown.
        let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
    }
    Ok(())
}

async fn heartbeat_loop(client: kube::Client, settings: NodeSettings, facts: MachineFacts) {
    // Register until it works: the API server may come up after the agent.
    let node_uid = loop {
        match node::register(&client, &settings, &facts).await {
            Ok(uid) => break uid,
            Err(e) => {
                tracing::warn!(error = %e, "node registration failed, retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    };
    // As upstream with leases: the Lease is the fast heartbeat; the status is computed every
    // 10 s but written only when it changed (say, the node controller marked the node
    // Unknown during an API outage) or every 5 minutes.
    let mut tick = tokio::time::interval(node::STATUS_UPDATE_FREQUENCY);
    let mut last_report = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        if let Err(e) = node::renew_lease(&client, &settings.name, &node_uid).await {
            tracing::warn!(error = %e, "lease renewal failed");
        }
        let due = last_report.elapsed() >= node::STATUS_REPORT_FREQUENCY;
        match node::sync_status(&client, &settings, &facts, due).await {
            Ok(true) => last_report = tokio::time::Instant::now(),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "node status update failed"),
        }
    }
}

async fn engine_events(
    runtime: Arc<dyn ContainerRuntime>,
    owner: Vec<(String, String)>,
    workers: Workers,
) {
    loop {
        let mut stream = runtime.events(&owner);
        while let Some(ev) = stream.next().await {
            let Ok(ev) = ev else { break };
            if let Some(uid) = ev.labels.get(LABEL_POD_UID) {
                if let Some(w) = lock(&workers).get(uid) {
                    w.wake.notify_one();
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn spawn_worker(deps: &WorkerDeps, workers: &Workers, pod: Pod, stop: &watch::Receiver<bool>) {
    let Some(uid) = pod.metadata.uid.clone() else {
        return;
    };
    let mut map = lock(workers);
    if let Some(h) = map.get(&uid) {
        let _ = h.updates.send(PodUpdate::Present(Box::new(pod)));
        h.wake.notify_one();
        return;
    }
    let held: Vec<HostPort> = map.values().flat_map(|h| h.held_ports().to_vec()).collect();
    let refusal = admission::ports_refusal(&pod, &held);
    let host_ports = match refusal {
        Some(_) => Vec::new(),
        None => ferrokube_apimachinery::host_ports::of(&pod),
    };
    let wake = Arc::new(Notify::new());
    let (tx, rx) = watch::channel(PodUpdate::Present(Box::new(pod.clone())));
    let mut worker = PodWorker::new(deps.clone(), pod, wake.clone());
    if let Some(refusal) = refusal {
        worker.refuse(refusal);
    }
    let workers2 = workers.clone();
    let uid2 = uid.clone();
    let stop = stop.clone();
    let task = tokio::spawn(async move {
        run_worker(worker, rx, stop).await;
        lock(&workers2).remove(&uid2);
    });
    map.insert(
        uid,
        WorkerHandle {
            updates: tx,
            wake,
            task,
            host_ports,
        },
    );
}

fn gone(workers: &Workers, uid: &str, last: Option<Pod>) {
    if let Some(h) = lock(workers).get(uid) {
        let _ = h.updates.send(PodUpdate::Gone(last.map(Box::new)));
    }
}

async fn watch_pods(
    client: kube::Client,
    deps: WorkerDeps,
    workers: Workers,
    stop: watch::Receiver<bool>,
) {
    let api: kube::Api<Pod> = kube::Api::all(client);
    let selector = format!("spec.nodeName={}", deps.node.node_name);
    let config = watcher::Config::default().fields(&selector);
    let mut stream = watcher::watcher(api, config).boxed();
    let mut seen: HashSet<String> = HashSet::new();
    let mut cleanup = tokio::time::interval(Duration::from_secs(30));
    let mut synced = false;
    loop {
        tokio::select! {
            ev = stream.next() => {
                let Some(ev) = ev else { return };
                match ev {
                    Ok(watcher::Event::Apply(pod)) | Ok(watcher::Event::InitApply(pod)) => {
                        if let Some(uid) = pod.metadata.uid.clone() {
                            seen.insert(uid);
                        }
                        spawn_worker(&deps, &workers, pod, &stop);
                    }
                    Ok(watcher::Event::Delete(pod)) => {
                        if let Some(uid) = pod.metadata.uid.clone() {
                            gone(&workers, &uid, Some(pod));
                        }
                    }
                    Ok(watcher::Event::Init) => seen.clear(),
                    Ok(watcher::Event::InitDone) => {
                        // A relist is authoritative: workers for pods missing from it are done.
                        let known: Vec<String> = lock(&workers).keys().cloned().collect();
                        for uid in known.iter().filter(|u| !seen.contains(*u)) {
                            gone(&workers, uid, None);
                        }
                        synced = true;
                        remove_orphans(&deps, &workers, &seen).await;
                    }
                    Err(e) => {
                        // Pods keep running while the API is unreachable; the watcher retries.
                        tracing::debug!(error = %e, "pod watch error");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            _ = cleanup.tick() => {
                if synced {
                    let live: HashSet<String> = lock(&workers).keys().cloned().collect();
                    remove_orphans(&deps, &workers, &live).await;
                }
            }
        }
    }
}

/// Remove containers this node owns whose pod is unknown (deleted while the agent was down).
async fn remove_orphans(deps: &WorkerDeps, workers: &Workers, known: &HashSet<String>) {
    let containers = match deps
        .runtime
        .list_containers(&deps.node.owner().selector())
        .await
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list containers for cleanup");
            return;
        }
    };
    let active: HashSet<String> = lock(workers).keys().cloned().collect();
    for c in containers {
        let Some(uid) = c.labels.get(LABEL_POD_UID) else {
            continue;
        };
        if known.contains(uid) || active.contains(uid) {
            continue;
        }
        tracing::info!(container = %c.name, "removing container of deleted pod");
        if let Err(e) = deps
            .runtime
            .stop_container(&c.id, Duration::from_secs(2))
            .await
        {
            tracing::warn!(error = %e, "stop failed");
        }
        if let Err(e) = deps.runtime.remove_container(&c.id).await {
            tracing::warn!(error = %e, "remove failed");
        }
        crate::volumes::cleanup_pod_dirs(
            &deps.node.data_dir.join("pods").join(uid),
            &deps.node.memory_root,
            uid,
        );
    }
}
