//! The container runtime seam: pod logic talks to this trait, never to Docker directly, so it can
//! be tested against [`FakeRuntime`] and run against [`DockerRuntime`].

mod docker;
mod docker_stats;
mod fake;
mod privileged;

pub use docker::DockerRuntime;
pub use fake::{FakeContainer, FakeRuntime};

use std::collections::BTreeMap;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use tokio::io::AsyncWrite;

use crate::error::Result;

/// How a container's network namespace is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// Own namespace on the default Docker bridge (used by the pause container).
    Bridge,
    /// The host's network namespace (`hostNetwork: true`).
    Host,
    /// Join another container's namespace (`container:<id>`), i.e. the pod's pause container.
    Container(String),
}

/// A container port published on the node (a pod's `hostPort`), set on the pod's sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPort {
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// Node address it is published on (`0.0.0.0`: every address).
    pub host_ip: String,
    /// Port on the node.
    pub host_port: u16,
    /// Port in the pod's network namespace.
    pub container_port: u16,
}

/// One bind mount from the host into a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    /// Path on the host.
    pub host_path: String,
    /// Path inside the container.
    pub container_path: String,
    /// Mount read-only.
    pub read_only: bool,
}

/// Everything needed to create one container.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerConfig {
    /// Engine-level container name (`k8s_<container>_<pod>_<ns>_<uid>_<attempt>`).
    pub name: String,
    /// Image reference.
    pub image: String,
    /// Entrypoint override (`command`); empty keeps the image's.
    pub entrypoint: Vec<String>,
    /// Arguments (`args`); empty keeps the image's.
    pub args: Vec<String>,
    /// Environment in order.
    pub env: Vec<(String, String)>,
    /// Working directory override.
    pub working_dir: Option<String>,
    /// Labels identifying the pod/container/node.
    pub labels: BTreeMap<String, String>,
    /// Bind mounts (volumes).
    pub mounts: Vec<BindMount>,
    /// Network namespace; `None` means the engine default.
    pub network: Option<NetworkMode>,
    /// Engine container whose PID namespace this one joins (an ephemeral container's
    /// `targetContainerName`); None: its own.
    pub pid_of: Option<String>,
    /// Hostname (only meaningful for the namespace owner).
    pub hostname: Option<String>,
    /// Memory limit in bytes.
    pub memory_limit: Option<i64>,
    /// CPU limit in billionths of a CPU.
    pub nano_cpus: Option<i64>,
    /// Relative CPU weight derived from the CPU request.
    pub cpu_shares: Option<i64>,
    /// User (`uid` or `uid:gid`).
    pub user: Option<String>,
    /// Supplementary groups of the container's processes (the pod's `fsGroup` and
    /// `supplementalGroups`).
    pub supplemental_groups: Vec<i64>,
    /// Run privileged.
    pub privileged: bool,
    /// Capabilities added to the engine's default set (`securityContext.capabilities.add`).
    pub cap_add: Vec<String>,
    /// Capabilities dropped from it (`securityContext.capabilities.drop`).
    pub cap_drop: Vec<String>,
    /// Set the `no_new_privs` bit: setuid binaries cannot raise the effective user.
    pub no_new_privileges: bool,
    /// Mount the root file system read-only.
    pub read_only_rootfs: bool,
    /// Allocate a TTY.
    pub tty: bool,
    /// Keep stdin open.
    pub stdin: bool,
    /// Close stdin after the first attach disconnects.
    pub stdin_once: bool,
    /// Namespaced sysctls to set (the sandbox's; its containers share its namespaces).
    pub sysctls: BTreeMap<String, String>,
    /// Ports published on the node (the sandbox's: its containers' `hostPort`s).
    pub published_ports: Vec<PublishedPort>,
}

/// The cgroup settings an in-place resize changes on a running container (None: unchanged).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceUpdate {
    /// Memory limit in bytes.
    pub memory_limit: Option<i64>,
    /// CPU limit in billionths of a CPU.
    pub nano_cpus: Option<i64>,
    /// Relative CPU weight derived from the CPU request.
    pub cpu_shares: Option<i64>,
}

/// Coarse engine state of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    /// Created but never started.
    Created,
    /// Running now.
    Running,
    /// Finished (or failed to start).
    Exited,
    /// Anything else the engine reports (paused, dead, removing).
    Unknown,
}

/// What the runtime knows about one container.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerInfo {
    /// Engine id.
    pub id: String,
    /// Engine name without the leading slash.
    pub name: String,
    /// Image reference the container was created from.
    pub image: String,
    /// Image id (`sha256:...`).
    pub image_id: String,
    /// Labels set at creation.
    pub labels: BTreeMap<String, String>,
    /// Coarse state.
    pub state: ContainerState,
    /// Exit code once exited.
    pub exit_code: Option<i64>,
    /// Killed by the OOM killer.
    pub oom_killed: bool,
    /// Engine error (e.g. the executable was not found); empty if none.
    pub error: String,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// IP address on the bridge network (pause containers only).
    pub ip: Option<String>,
}

/// A container's resource usage at one instant, as the engine's stats report it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContainerStats {
    /// When the engine read the figures.
    pub timestamp: DateTime<Utc>,
    /// Cumulative CPU time consumed since the container started, in core-seconds.
    pub cpu_usage_seconds: f64,
    /// Memory working set in bytes (usage minus inactive file pages, as cAdvisor counts it).
    pub memory_working_set_bytes: u64,
}

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// Standard output (or the TTY).
    Stdout,
    /// Standard error.
    Stderr,
}

/// A chunk of container output.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputChunk {
    /// Stream it came from.
    pub kind: OutputKind,
    /// Bytes (log lines keep their RFC3339 prefix when timestamps were requested).
    pub data: Bytes,
}

/// Options for reading container logs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogOptions {
    /// Keep streaming new output.
    pub follow: bool,
    /// Only the last N lines.
    pub tail_lines: Option<i64>,
    /// Only output newer than this Unix time (seconds).
    pub since_unix: Option<i64>,
    /// Prefix each line with its RFC3339Nano timestamp.
    pub timestamps: bool,
}

/// Options for an exec session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecOptions {
    /// Command and arguments.
    pub command: Vec<String>,
    /// Attach stdin.
    pub stdin: bool,
    /// Attach stdout.
    pub stdout: bool,
    /// Attach stderr.
    pub stderr: bool,
    /// Allocate a TTY.
    pub tty: bool,
}

/// Writer half of an interactive session.
pub type SessionInput = Pin<Box<dyn AsyncWrite + Send>>;

/// An attached exec or attach session.
pub struct StreamSession {
    /// Exec id (exec) or container id (attach), used for resize and exit code.
    pub id: String,
    /// Stdin, when attached.
    pub input: Option<SessionInput>,
    /// Stdout/stderr chunks until the process ends.
    pub output: BoxStream<'static, Result<OutputChunk>>,
}

impl std::fmt::Debug for StreamSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSession")
            .field("id", &self.id)
            .finish()
    }
}

/// A container lifecycle event from the engine (start, die, oom, destroy, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeEvent {
    /// Container id.
    pub container_id: String,
    /// Engine action name.
    pub action: String,
    /// Labels of the container.
    pub labels: BTreeMap<String, String>,
}

/// Engine identity for `nodeInfo.containerRuntimeVersion`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeVersion {
    /// Runtime name (`docker`).
    pub name: String,
    /// Engine version.
    pub version: String,
}

/// The operations the kubelet needs from a container engine.
#[async_trait]
pub trait ContainerRuntime: Send + Sync + 'static {
    /// Engine name and version.
    async fn version(&self) -> Result<RuntimeVersion>;
    /// The local image id when the image is present, `None` when absent.
    async fn image_id(&self, image: &str) -> Result<Option<String>>;
    /// Ask the engine to pull an image (never called in no-pull mode).
    async fn pull_image(&self, image: &str) -> Result<()>;
    /// Create a container; returns its id.
    async fn create_container(&self, config: &ContainerConfig) -> Result<String>;
    /// Start a created container.
    async fn start_container(&self, id: &str) -> Result<()>;
    /// SIGTERM, wait up to `grace`, then SIGKILL.
    async fn stop_container(&self, id: &str, grace: Duration) -> Result<()>;
    /// Remove a (stopped) container; absent containers are not an error.
    async fn remove_container(&self, id: &str) -> Result<()>;
    /// Full state of one container.
    async fn inspect_container(&self, id: &str) -> Result<ContainerInfo>;
    /// All containers (any state) carrying every one of the given labels.
    async fn list_containers(&self, labels: &[(String, String)]) -> Result<Vec<ContainerInfo>>;
    /// Log output of a container.
    fn logs(&self, id: &str, options: &LogOptions) -> BoxStream<'static, Result<OutputChunk>>;
    /// Run a command inside a running container with attached streams.
    async fn exec(&self, id: &str, options: &ExecOptions) -> Result<StreamSession>;
    /// Resize the TTY of an exec session.
    async fn resize_exec(&self, exec_id: &str, width: u16, height: u16) -> Result<()>;
    /// Exit code of a finished exec session (`None` while running).
    async fn exec_exit_code(&self, exec_id: &str) -> Result<Option<i64>>;
    /// Attach to the main process of a running container.
    async fn attach(&self, id: &str, stdin: bool) -> Result<StreamSession>;
    /// Resize the TTY of a container.
    async fn resize_container(&self, id: &str, width: u16, height: u16) -> Result<()>;
    /// Change a running container's cpu and memory settings in place (upstream's CRI
    /// `UpdateContainerResources`).
    async fn update_resources(&self, id: &str, update: &ResourceUpdate) -> Result<()>;
    /// Live container events for containers carrying every one of the given labels.
    fn events(&self, labels: &[(String, String)]) -> BoxStream<'static, Result<RuntimeEvent>>;
    /// Resource usage of a running container now (one sample, never a stream). Engines that
    /// cannot tell answer an error, and the container is left out of the resource metrics.
    async fn stats(&self, id: &str) -> Result<ContainerStats> {
        Err(crate::error::KubeletError::Runtime(format!(
            "no stats for container {id}: the runtime does not report them"
        )))
    }
}

/// Run an exec to completion, collecting output, bounded by `timeout`; returns (exit code, output).
pub async fn exec_collect(
    runtime: &dyn ContainerRuntime,
    id: &str,
    command: Vec<String>,
    timeout: Duration,
) -> Result<(i64, Vec<u8>)> {
    use futures::StreamExt;
    let options = ExecOptions {
        command,
        stdout: true,
        stderr: true,
        ..Default::default()
    };
    let run = async {
        let mut session = runtime.exec(id, &options).await?;
        let mut out = Vec::new();
        while let Some(chunk) = session.output.next().await {
            let chunk = chunk?;
            // Probe output is only used for messages; cap it so a chatty probe cannot grow memory.
            if out.len() < 10 * 1024 {
                out.extend_from_slice(&chunk.data);
            }
        }
        let code = runtime.exec_exit_code(&session.id).await?.unwrap_or(-1);
        Ok((code, out))
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(r) => r,
        Err(_) => Err(crate::error::KubeletError::Timeout(timeout)),
    }
}
