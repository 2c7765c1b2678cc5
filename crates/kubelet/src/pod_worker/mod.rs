//! One worker per pod bound to this node: drives the engine toward the pod spec and reports status.

pub mod admission;
mod api;
mod backoff;
mod config;
mod deadline;
mod lifecycle;
pub mod resize;
pub mod sysctls;

pub use api::PodApi;
pub use backoff::{go_duration, Backoff};
pub use config::{container_config, sandbox_config, Resolved, PAUSE_COMMAND};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod, PodStatus};
use tokio::sync::{watch, Notify};

use crate::downward::NodeResources;
use crate::env::ObjectSource;
use crate::error::Result;
use crate::events::{container_reference, pod_reference, EventSink, NORMAL, WARNING};
use crate::naming::{attempt_of, Owner, PodRef, Role, LABEL_POD_UID};
use crate::probes::ProbeManager;
use crate::runtime::{ContainerInfo, ContainerRuntime, ContainerState};
use crate::status::{compute_status, instances, sandboxes, StatusInput, Waiting};
use crate::volumes::{HostVolume, TokenSource};

/// Node-wide settings every pod worker shares.
#[derive(Debug, Clone)]
pub struct NodeContext {
    /// This node's name (label on every container it owns).
    pub node_name: String,
    /// The cluster's identity (label on every container it owns; empty: unknown).
    pub cluster_id: String,
    /// Root of per-pod directories (`<data_dir>/pods/<uid>`).
    pub data_dir: PathBuf,
    /// Never ask the engine to pull.
    pub no_image_pull: bool,
    /// Unsafe sysctls (names or `prefix*`) pods may set beyond the safe set.
    pub allowed_unsafe_sysctls: Vec<String>,
    /// Image the pause container runs.
    pub pause_image: String,
    /// Allocatable resources (resourceFieldRef defaults).
    pub resources: NodeResources,
    /// The node's IP (status.hostIP).
    pub host_ip: String,
    /// Root for memory-backed emptyDirs.
    pub memory_root: PathBuf,
    /// What pods' resolv.conf and hosts files are made from.
    pub dns: crate::pod_dns::PodDnsConfig,
}

impl NodeContext {
    /// Who owns this node's containers.
    pub fn owner(&self) -> Owner<'_> {
        Owner {
            cluster: &self.cluster_id,
            node: &self.node_name,
        }
    }
}

/// Collaborators of a pod worker.
#[derive(Clone)]
pub struct WorkerDeps {
    /// Container engine.
    pub runtime: Arc<dyn ContainerRuntime>,
    /// ConfigMaps/Secrets.
    pub objects: Arc<dyn ObjectSource>,
    /// Service-account tokens.
    pub tokens: Arc<dyn TokenSource>,
    /// Status and deletion writes.
    pub api: Arc<dyn PodApi>,
    /// Where pod and container events go.
    pub events: Arc<dyn EventSink>,
    /// Node settings.
    pub node: Arc<NodeContext>,
}

/// How often kubelet-managed volume content (configMap, secret, ...) is refreshed.
const VOLUME_REFRESH: Duration = Duration::from_secs(60);
/// Re-sync interval while something is changing.
const FAST: Duration = Duration::from_secs(1);
/// Re-sync interval when the pod is steady (engine events wake the worker sooner).
const STEADY: Duration = Duration::from_secs(10);

/// State machine for one pod.
pub struct PodWorker {
    deps: WorkerDeps,
    pod: Pod,
    pod_ref: PodRef,
    backoff: Backoff,
    waiting: BTreeMap<String, Waiting>,
    probes: ProbeManager,
    wake: Arc<Notify>,
    last_status: Option<PodStatus>,
    volumes: Option<(Instant, BTreeMap<String, HostVolume>)>,
    deleted_via_api: bool,
    busy: bool,
    /// Killed for running past `activeDeadlineSeconds`: reports Failed/DeadlineExceeded.
    past_deadline: bool,
    /// Refused at admission (a forbidden sysctl, a taken host port): reports Failed.
    refused: Option<admission::Refusal>,
    /// What in-place resizes applied, and the resize condition to report.
    resize: resize::ResizeState,
}

impl std::fmt::Debug for PodWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodWorker")
            .field("pod", &self.pod_ref)
            .finish()
    }
}

fn pod_ref(pod: &Pod) -> PodRef {
    PodRef {
        namespace: pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
    }
}

fn restart_policy(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.restart_policy.clone())
        .unwrap_or_else(|| "Always".into())
}

/// Whether a finished container should run again under the pod's restart policy.
pub fn should_restart(policy: &str, exit_code: i64) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => exit_code != 0,
        _ => true,
    }
}

impl PodWorker {
    /// A worker for `pod`; `wake` is notified by probes and engine events.
    pub fn new(deps: WorkerDeps, pod: Pod, wake: Arc<Notify>) -> Self {
        Self {
            pod_ref: pod_ref(&pod),
            deps,
            pod,
            backoff: Backoff::default(),
            waiting: BTreeMap::new(),
            probes: ProbeManager::default(),
            wake,
            last_status: None,
            volumes: None,
            deleted_via_api: false,
            busy: false,
            past_deadline: false,
            refused: None,
            resize: resize::ResizeState::default(),
        }
    }

    /// Refuses the pod at admission: it never starts and reports Failed for `refusal`.
    pub fn refuse(&mut self, refusal: admission::Refusal) {
        self.refused = Some(refusal);
    }

    /// The handle probes and engine events use to wake this worker.
    pub fn wake_handle(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Take a newer version of the pod from the API.
    pub fn update(&mut self, pod: Pod) {
        self.pod = pod;
    }

    /// Records an event about container `name` of this pod.
    fn container_event(&self, name: &str, type_: &str, reason: &str, message: &str) {
        let obj = container_reference(&self.pod, name);
        self.deps.events.record(&obj, type_, reason, message);
    }

    /// Records an event about the pod itself.
    fn pod_event(&self, type_: &str, reason: &str, message: &str) {
        let obj = pod_reference(&self.pod);
        self.deps.events.record(&obj, type_, reason, message);
    }

    /// Per-pod directory on the host.
    pub fn pod_dir(&self) -> PathBuf {
        self.deps.node.data_dir.join("pods").join(&self.pod_ref.uid)
    }

    async fn list(&self) -> Result<Vec<ContainerInfo>> {
        self.deps
            .runtime
            .list_containers(
                &[
                    vec![(LABEL_POD_UID.to_string(), self.pod_ref.uid.clone())],
                    self.deps.node.owner().selector(),
                ]
                .concat(),
            )
            .await
    }

    fn grace(&self) -> Duration {
        let secs = self
            .pod
            .metadata
            .deletion_grace_period_seconds
            .or_else(|| {
                self.pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.termination_grace_period_seconds)
            })
            .unwrap_or(30);
        Duration::from_secs(secs.max(0) as u64)
    }

    /// One reconciliation pass; returns how soon to run the next one.
    pub async fn sync(&mut self) -> Result<Duration> {
        let containers = self.list().await?;
        if self.pod.metadata.deletion_timestamp.is_some() {
            if !self.deleted_via_api {
                self.terminate(&containers).await?;
            }
            return Ok(STEADY);
        }
        if admission::terminal(&self.pod) {
            // Finished pods keep their containers (for logs) but nothing runs.
            self.probes.stop_all();
            for c in containers
                .iter()
                .filter(|c| c.state == ContainerState::Running)
            {
                self.deps
                    .runtime
                    .stop_container(&c.id, Duration::from_secs(2))
                    .await?;
            }
            return Ok(STEADY * 3);
        }
        let forbidden = sysctls::forbidden(&self.pod, &self.deps.node.allowed_unsafe_sysctls);
        if let Some(why) = forbidden.map(|message| admission::Refusal {
            reason: sysctls::REASON,
            message,
        }) {
            self.refused = Some(why);
        }
        if let Some(why) = &self.refused {
            // Upstream's kubelet admission: the pod never starts and ends Failed.
            tracing::info!(namespace = %self.pod_ref.namespace, pod = %self.pod_ref.name, reason = why.reason, "pod refused");
            self.report(&containers).await?;
            return Ok(STEADY);
        }
        let deadline = deadline::time_left(&self.pod, chrono::Utc::now());
        if deadline == Some(Duration::ZERO) {
            self.fail_past_deadline(&containers).await?;
            return Ok(FAST);
        }
        self.busy = false;
        let running: Vec<String> = containers
            .iter()
            .filter(|c| c.state == ContainerState::Running)
            .map(|c| c.id.clone())
            .collect();
        self.probes.retain(&|id| running.iter().any(|r| r == id));

        let containers = match self.ensure_sandbox(&containers).await? {
            Some(fresh) => fresh,
            None => containers,
        };
        if let Some(sandbox) = sandboxes(&containers)
            .first()
            .filter(|s| s.state == ContainerState::Running)
        {
            let sandbox = (*sandbox).clone();
            if self.ensure_volumes().await {
                self.sync_containers(&containers, &sandbox).await;
                self.actuate_resizes(&containers, &sandbox).await;
            }
        }
        let containers = self.list().await?;
        self.report(&containers).await?;
        let any_waiting = !self.waiting.is_empty()
            || containers
                .iter()
                .any(|c| c.state == ContainerState::Created);
        let next = if self.busy || any_waiting {
            FAST
        } else {
            STEADY
        };
        Ok(deadline.map_or(next, |left| next.min(left)))
    }

    /// Make sure a running pause container exists; returns a fresh listing if it created one.
    async fn ensure_sandbox(
        &mut self,
        containers: &[ContainerInfo],
    ) -> Result<Option<Vec<ContainerInfo>>> {
        let latest = sandboxes(containers).first().copied().cloned();
        if latest
            .as_ref()
            .is_some_and(|s| s.state == ContainerState::Running)
        {
            return Ok(None);
        }
        // Once every container is done for good the sandbox is not needed again.
        let policy = restart_policy(&self.pod);
        let spec = self.pod.spec.clone().unwrap_or_default();
        let all_done = latest.is_some()
            && spec.containers.iter().all(|c| {
                instances(containers, &c.name).first().is_some_and(|i| {
                    i.state == ContainerState::Exited
                        && !should_restart(&policy, i.exit_code.unwrap_or(0))
                })
            });
        if all_done {
            return Ok(None);
        }
        // The network namespace is gone: everything in it must be restarted, as upstream does.
        for c in containers
            .iter()
            .filter(|c| c.state == ContainerState::Running)
        {
            self.deps
                .runtime
                .stop_container(&c.id, Duration::from_secs(2))
                .await?;
        }
        if latest.is_some() {
            let msg = "Pod sandbox changed, it will be killed and re-created.";
            self.pod_event(NORMAL, crate::events::reason::SANDBOX_CHANGED, msg);
        }
        let image = self.deps.node.pause_image.clone();
        if let Err(w) = self.ensure_image(&image, "IfNotPresent", None).await {
            for c in spec
                .init_containers
                .iter()
                .flatten()
                .chain(&spec.containers)
            {
                self.waiting.insert(c.name.clone(), w.clone());
            }
            return Ok(None);
        }
        let attempt = latest
            .as_ref()
            .map(|s| attempt_of(&s.labels) + 1)
            .unwrap_or(0);
        let cfg = sandbox_config(
            self.deps.node.owner(),
            &self.pod,
            &self.pod_ref,
            &image,
            attempt,
        );
        let id = self.deps.runtime.create_container(&cfg).await?;
        self.deps.runtime.start_container(&id).await?;
        if let Some(old) = latest {
            self.deps.runtime.remove_container(&old.id).await?;
        }
        self.busy = true;
        Ok(Some(self.list().await?))
    }

    /// Prepare or refresh volumes; false (and ContainerCreating) while they cannot be set up.
    async fn ensure_volumes(&mut self) -> bool {
        if let Some((at, _)) = &self.volumes {
            if at.elapsed() < VOLUME_REFRESH {
                return true;
            }
        }
        let ctx = crate::volumes::VolumeContext {
            objects: self.deps.objects.as_ref(),
            tokens: self.deps.tokens.as_ref(),
            node: self.deps.node.resources,
            memory_root: self.deps.node.memory_root.clone(),
        };
        let pod_with_status = self.pod_with_ip(None);
        match crate::volumes::prepare_volumes(&ctx, &pod_with_status, &self.pod_dir()).await {
            Ok(v) => {
                self.volumes = Some((Instant::now(), v));
                true
            }
            Err(e) => {
                tracing::warn!(pod = %self.pod_ref.name, error = %e, "volume setup failed");
                let reason = crate::events::reason::FAILED_MOUNT;
                self.pod_event(WARNING, reason, &format!("MountVolume.SetUp failed: {e}"));
                // Existing volumes keep serving running containers; new ones wait.
                self.busy = true;
                self.volumes.is_some()
            }
        }
    }

    /// The pod with the addresses its downward API may ask for: the node's IP, and the pod's
    /// (the sandbox's, or the node's for host-network pods), known before the first status
    /// report so a container's `status.podIP`/`status.hostIP` env vars are never empty.
    fn pod_with_ip(&self, sandbox_ip: Option<&str>) -> Pod {
        let mut pod = self.pod.clone();
        let host_network = pod
            .spec
            .as_ref()
            .and_then(|s| s.host_network)
            .unwrap_or(false);
        let host_ip = self.deps.node.host_ip.clone();
        let st = pod.status.get_or_insert_with(Default::default);
        let pod_ip = if host_network {
            Some(host_ip.clone())
        } else {
            sandbox_ip
                .map(str::to_string)
                .or_else(|| self.last_status.as_ref().and_then(|l| l.pod_ip.clone()))
                .or(st.pod_ip.clone())
        }
        .filter(|ip| !ip.is_empty());
        st.pod_ips = pod_ip
            .clone()
            .map(|ip| vec![k8s_openapi::api::core::v1::PodIP { ip }]);
        st.pod_ip = pod_ip;
        if !host_ip.is_empty() {
            st.host_ips = Some(vec![k8s_openapi::api::core::v1::HostIP {
                ip: host_ip.clone(),
            }]);
            st.host_ip = Some(host_ip);
        }
        pod
    }

    async fn sync_containers(&mut self, containers: &[ContainerInfo], sandbox: &ContainerInfo) {
        let spec = self.pod.spec.clone().unwrap_or_default();
        let policy = restart_policy(&self.pod);
        for c in spec.init_containers.iter().flatten() {
            let sidecar = c.restart_policy.as_deref() == Some("Always");
            let latest = instances(containers, &c.name).first().copied().cloned();
            let done = match &latest {
                Some(i) if sidecar => {
                    i.state == ContainerState::Running && self.probes.verdicts(&i.id, c).started
                }
                Some(i) => {
                    i.state == ContainerState::Exited
                        && i.exit_code == Some(0)
                        && i.error.is_empty()
                }
                None => false,
            };
            if done {
                self.waiting.remove(&c.name);
                if sidecar {
                    self.ensure_container(c, Role::Init, "Always", latest.as_ref(), sandbox)
                        .await;
                }
                continue;
            }
            // Failed init with policy Never: the pod fails, nothing else starts.
            let init_policy = if sidecar {
                "Always"
            } else if policy == "Never" {
                "Never"
            } else {
                "OnFailure"
            };
            self.ensure_container(c, Role::Init, init_policy, latest.as_ref(), sandbox)
                .await;
            return;
        }
        for c in &spec.containers {
            let latest = instances(containers, &c.name).first().copied().cloned();
            self.ensure_container(c, Role::App, &policy, latest.as_ref(), sandbox)
                .await;
        }
        // Ephemeral containers run once each, never restarted (upstream).
        for c in crate::ephemeral::containers(&spec) {
            let latest = instances(containers, &c.name).first().copied().cloned();
            self.ensure_container(&c, Role::Ephemeral, "Never", latest.as_ref(), sandbox)
                .await;
        }
    }

    async fn report(&mut self, containers: &[ContainerInfo]) -> Result<()> {
        let messages = self.termination_messages(containers).await;
        let probes = &self.probes;
        let verdicts = |id: &str, c: &Container| probes.verdicts(id, c);
        let mut status = compute_status(&StatusInput {
            pod: &self.pod,
            containers,
            waiting: &self.waiting,
            probes: &verdicts,
            host_ip: &self.deps.node.host_ip,
            now: chrono::Utc::now(),
            messages: &messages,
        });
        self.report_resources(&mut status, containers);
        if self.past_deadline {
            status = deadline::failed(status);
        }
        if let Some(why) = &self.refused {
            status = admission::refused(status, why);
        }
        if self.last_status.as_ref() == Some(&status) && self.pod.status.as_ref() == Some(&status) {
            return Ok(());
        }
        self.deps
            .api
            .patch_status(&self.pod_ref.namespace, &self.pod_ref.name, &status)
            .await?;
        // Keep our own view current so terminal phases stick before the watch echoes them.
        self.pod.status = Some(status.clone());
        self.last_status = Some(status);
        Ok(())
    }

    /// Graceful termination after the API marked the pod for deletion.
    async fn terminate(&mut self, containers: &[ContainerInfo]) -> Result<()> {
        let grace = self.grace();
        self.kill_all(containers, grace).await?;
        let containers = self.list().await?;
        // Final status so watchers see the containers terminated; the pod may already be gone.
        if let Err(e) = self.report(&containers).await {
            tracing::debug!(error = %e, "final status write failed");
        }
        self.deps
            .api
            .delete_now(
                &self.pod_ref.namespace,
                &self.pod_ref.name,
                &self.pod_ref.uid,
            )
            .await?;
        self.deleted_via_api = true;
        Ok(())
    }

    /// The pod no longer exists in the API: stop and remove everything it left behind.
    pub async fn remove(&mut self) -> Result<()> {
        let containers = self.list().await?;
        let grace = if self.deleted_via_api {
            Duration::ZERO
        } else {
            self.grace()
        };
        self.kill_all(&containers, grace).await?;
        for c in &containers {
            self.deps.runtime.remove_container(&c.id).await?;
        }
        crate::volumes::cleanup_pod_dirs(
            &self.pod_dir(),
            &self.deps.node.memory_root,
            &self.pod_ref.uid,
        );
        Ok(())
    }
}

/// What the pod manager tells a worker.
#[derive(Debug, Clone)]
pub enum PodUpdate {
    /// The latest version of the pod.
    Present(Box<Pod>),
    /// The pod is gone from the API (with its last known state when the watch had it).
    Gone(Option<Box<Pod>>),
}

/// Drive a worker until its pod is gone; `updates` carries the newest pod version.
pub async fn run_worker(
    mut worker: PodWorker,
    mut updates: watch::Receiver<PodUpdate>,
    mut shutdown: watch::Receiver<bool>,
) {
    let wake = worker.wake_handle();
    loop {
        let delay = match worker.sync().await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(pod = %worker.pod_ref.name, error = %e, "pod sync failed");
                Duration::from_secs(2)
            }
        };
        tokio::select! {
            changed = updates.changed() => {
                if changed.is_err() {
                    return;
                }
                let update = updates.borrow_and_update().clone();
                match update {
                    PodUpdate::Present(p) => worker.update(*p),
                    PodUpdate::Gone(last) => {
                        // The final object carries the grace period of a forced deletion.
                        if let Some(p) = last {
                            worker.update(*p);
                        }
                        if let Err(e) = worker.remove().await {
                            tracing::warn!(pod = %worker.pod_ref.name, error = %e, "pod cleanup failed");
                        }
                        return;
                    }
                }
            }
            _ = wake.notified() => {}
            _ = tokio::time::sleep(delay) => {}
            // Agent shutdown leaves containers running so a restarted agent adopts them.
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests;
