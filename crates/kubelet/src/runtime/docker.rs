//! [`ContainerRuntime`] on the Docker engine through bollard.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{
    ContainerCreateBody, ContainerStateStatusEnum, ContainerUpdateBody, HostConfig, PortBinding,
    PortMap,
};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    ResizeContainerTTYOptionsBuilder, ResizeExecOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::Docker;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use super::{
    ContainerConfig, ContainerInfo, ContainerRuntime, ContainerState, ExecOptions, LogOptions,
    NetworkMode, OutputChunk, OutputKind, PublishedPort, ResourceUpdate, RuntimeEvent,
    RuntimeVersion, StreamSession,
};
use crate::error::{KubeletError, Result};

/// The Docker engine, reached over its local socket with the API version negotiated down.
#[derive(Clone, Debug)]
pub struct DockerRuntime {
    docker: Docker,
}

impl DockerRuntime {
    /// Connect to the local engine (`DOCKER_HOST` or the default socket) and negotiate the API version.
    pub async fn connect() -> Result<Self> {
        let docker = Docker::connect_with_local_defaults()?
            .negotiate_version()
            .await?;
        Ok(Self { docker })
    }

    /// The underlying bollard client (for image import).
    pub fn client(&self) -> &Docker {
        &self.docker
    }
}

fn output_chunk(out: LogOutput) -> Option<OutputChunk> {
    match out {
        LogOutput::StdOut { message } | LogOutput::Console { message } => Some(OutputChunk {
            kind: OutputKind::Stdout,
            data: message,
        }),
        LogOutput::StdErr { message } => Some(OutputChunk {
            kind: OutputKind::Stderr,
            data: message,
        }),
        LogOutput::StdIn { .. } => None,
    }
}

fn parse_time(s: Option<&String>) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(s?).ok()?.with_timezone(&Utc);
    // Docker reports "0001-01-01T00:00:00Z" for "never".
    (t.timestamp() > 0).then_some(t)
}

/// Docker's form of published ports: `"<port>/<proto>"` keys, exposed and bound to the node
/// address and port (Docker's own NAT rules and proxy carry the traffic, as the CNI `portmap`
/// plugin does for upstream's runtimes).
fn port_map(ports: &[PublishedPort]) -> (Option<Vec<String>>, Option<PortMap>) {
    if ports.is_empty() {
        return (None, None);
    }
    let mut map = PortMap::new();
    for p in ports {
        let bindings = map
            .entry(format!("{}/{}", p.container_port, p.protocol))
            .or_insert_with(|| Some(Vec::new()));
        if let Some(list) = bindings {
            list.push(PortBinding {
                host_ip: Some(p.host_ip.clone()),
                host_port: Some(p.host_port.to_string()),
            });
        }
    }
    let mut exposed: Vec<String> = map.keys().cloned().collect();
    exposed.sort();
    (Some(exposed), Some(map))
}

fn to_engine_config(c: &ContainerConfig) -> ContainerCreateBody {
    let network_mode = c.network.as_ref().map(|n| match n {
        NetworkMode::Bridge => "bridge".to_string(),
        NetworkMode::Host => "host".to_string(),
        NetworkMode::Container(id) => format!("container:{id}"),
    });
    let binds: Vec<String> = c
        .mounts
        .iter()
        .map(|m| {
            let mode = if m.read_only { "ro" } else { "rw" };
            format!("{}:{}:{mode}", m.host_path, m.container_path)
        })
        .collect();
    let joins_namespace = matches!(c.network, Some(NetworkMode::Container(_)));
    let (exposed_ports, port_bindings) = port_map(&c.published_ports);
    let privilege = super::privileged::settings(c.privileged, &c.cap_add, &c.cap_drop);
    let mut security_opt = privilege.security_opt.clone();
    if c.no_new_privileges {
        security_opt.push("no-new-privileges".to_string());
    }
    ContainerCreateBody {
        exposed_ports,
        image: Some(c.image.clone()),
        entrypoint: (!c.entrypoint.is_empty()).then(|| c.entrypoint.clone()),
        cmd: (!c.args.is_empty()).then(|| c.args.clone()),
        env: Some(c.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        working_dir: c.working_dir.clone(),
        labels: Some(c.labels.clone().into_iter().collect::<HashMap<_, _>>()),
        // Docker refuses a hostname on containers that join another's UTS namespace.
        hostname: if joins_namespace {
            None
        } else {
            c.hostname.clone()
        },
        user: c.user.clone(),
        tty: Some(c.tty),
        open_stdin: Some(c.stdin),
        stdin_once: Some(c.stdin_once),
        attach_stdin: Some(false),
        attach_stdout: Some(false),
        attach_stderr: Some(false),
        host_config: Some(HostConfig {
            binds: (!binds.is_empty()).then_some(binds),
            network_mode,
            port_bindings,
            // Pods share IPC with the sandbox like upstream's shareable IPC namespace.
            ipc_mode: Some(match &c.network {
                Some(NetworkMode::Container(id)) => format!("container:{id}"),
                _ => "shareable".to_string(),
            }),
            pid_mode: c.pid_of.as_ref().map(|id| format!("container:{id}")),
            memory: c.memory_limit,
            nano_cpus: c.nano_cpus,
            cpu_shares: c.cpu_shares,
            privileged: Some(privilege.privileged),
            cap_add: (!privilege.cap_add.is_empty()).then_some(privilege.cap_add),
            cap_drop: (!privilege.cap_drop.is_empty()).then_some(privilege.cap_drop),
            masked_paths: privilege.unmask_system_paths.then(Vec::new),
            readonly_paths: privilege.unmask_system_paths.then(Vec::new),
            group_add: (!c.supplemental_groups.is_empty())
                .then(|| c.supplemental_groups.iter().map(i64::to_string).collect()),
            security_opt: (!security_opt.is_empty()).then_some(security_opt),
            readonly_rootfs: Some(c.read_only_rootfs),
            sysctls: (!c.sysctls.is_empty()).then(|| {
                c.sysctls
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[async_trait]
impl ContainerRuntime for DockerRuntime {
    async fn version(&self) -> Result<RuntimeVersion> {
        let v = self.docker.version().await?;
        Ok(RuntimeVersion {
            name: "docker".into(),
            version: v.version.unwrap_or_default(),
        })
    }

    async fn image_id(&self, image: &str) -> Result<Option<String>> {
        match self.docker.inspect_image(image).await {
            Ok(i) => Ok(Some(i.id.unwrap_or_default())),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn pull_image(&self, image: &str) -> Result<()> {
        let opts = CreateImageOptionsBuilder::default()
            .from_image(image)
            .build();
        let mut stream = self.docker.create_image(Some(opts), None, None);
        while let Some(item) = stream.next().await {
            item.map_err(|e| KubeletError::ImagePull(e.to_string()))?;
        }
        Ok(())
    }

    async fn create_container(&self, config: &ContainerConfig) -> Result<String> {
        let opts = CreateContainerOptionsBuilder::default()
            .name(&config.name)
            .build();
        let resp = self
            .docker
            .create_container(Some(opts), to_engine_config(config))
            .await?;
        Ok(resp.id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        self.docker
            .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
            .await?;
        Ok(())
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<()> {
        let secs = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        let opts = StopContainerOptionsBuilder::default().t(secs).build();
        match self.docker.stop_container(id, Some(opts)).await {
            Ok(()) => Ok(()),
            // 304: already stopped.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        let opts = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(id, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) => match KubeletError::from(e) {
                KubeletError::NotFound(_) => Ok(()),
                // 409: removal already in progress.
                KubeletError::Runtime(m) if m.contains("already in progress") => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn inspect_container(&self, id: &str) -> Result<ContainerInfo> {
        let c = self
            .docker
            .inspect_container(
                id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await?;
        let state = c.state.unwrap_or_default();
        let config = c.config.unwrap_or_default();
        let ip = c
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|nets| {
                nets.values()
                    .filter_map(|e| e.ip_address.clone())
                    .find(|ip| !ip.is_empty())
            });
        let failed_start = state.error.as_deref().is_some_and(|e| !e.is_empty());
        let coarse = match state.status {
            // A failed start leaves the container "created" with the engine's error.
            Some(ContainerStateStatusEnum::CREATED) if failed_start => ContainerState::Exited,
            Some(ContainerStateStatusEnum::CREATED) => ContainerState::Created,
            Some(ContainerStateStatusEnum::RUNNING) => ContainerState::Running,
            Some(ContainerStateStatusEnum::EXITED) | Some(ContainerStateStatusEnum::DEAD) => {
                ContainerState::Exited
            }
            _ => ContainerState::Unknown,
        };
        Ok(ContainerInfo {
            id: c.id.unwrap_or_default(),
            name: c
                .name
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            image: config.image.unwrap_or_default(),
            image_id: c.image.unwrap_or_default(),
            labels: config
                .labels
                .unwrap_or_default()
                .into_iter()
                .collect::<BTreeMap<_, _>>(),
            state: coarse,
            exit_code: state.exit_code,
            oom_killed: state.oom_killed.unwrap_or(false),
            error: state.error.unwrap_or_default(),
            started_at: parse_time(state.started_at.as_ref()),
            finished_at: parse_time(state.finished_at.as_ref()),
            ip,
        })
    }

    async fn list_containers(&self, labels: &[(String, String)]) -> Result<Vec<ContainerInfo>> {
        let mut filters: HashMap<String, Vec<String>> = HashMap::new();
        filters.insert(
            "label".into(),
            labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        );
        let opts = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let summaries = self.docker.list_containers(Some(opts)).await?;
        let mut out = Vec::with_capacity(summaries.len());
        for s in summaries {
            let Some(id) = s.id else { continue };
            match self.inspect_container(&id).await {
                Ok(info) => out.push(info),
                // Removed between list and inspect.
                Err(KubeletError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    fn logs(&self, id: &str, options: &LogOptions) -> BoxStream<'static, Result<OutputChunk>> {
        let tail = options
            .tail_lines
            .map(|n| n.max(0).to_string())
            .unwrap_or_else(|| "all".into());
        let mut b = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .follow(options.follow)
            .timestamps(options.timestamps)
            .tail(&tail);
        if let Some(since) = options.since_unix {
            b = b.since(i32::try_from(since).unwrap_or(i32::MAX));
        }
        self.docker
            .logs(id, Some(b.build()))
            .map_err(KubeletError::from)
            .try_filter_map(|o| async move { Ok(output_chunk(o)) })
            .boxed()
    }

    async fn exec(&self, id: &str, options: &ExecOptions) -> Result<StreamSession> {
        let created = self
            .docker
            .create_exec(
                id,
                CreateExecOptions::<String> {
                    cmd: Some(options.command.clone()),
                    attach_stdin: Some(options.stdin),
                    attach_stdout: Some(options.stdout),
                    attach_stderr: Some(options.stderr),
                    tty: Some(options.tty),
                    ..Default::default()
                },
            )
            .await?;
        let started = self
            .docker
            .start_exec(
                &created.id,
                Some(StartExecOptions {
                    detach: false,
                    tty: options.tty,
                    output_capacity: None,
                }),
            )
            .await?;
        match started {
            StartExecResults::Attached { output, input } => Ok(StreamSession {
                id: created.id,
                input: options.stdin.then_some(input),
                output: output
                    .map_err(KubeletError::from)
                    .try_filter_map(|o| async move { Ok(output_chunk(o)) })
                    .boxed(),
            }),
            StartExecResults::Detached => Err(KubeletError::Runtime(
                "engine detached an attached exec".into(),
            )),
        }
    }

    async fn resize_exec(&self, exec_id: &str, width: u16, height: u16) -> Result<()> {
        let opts = ResizeExecOptionsBuilder::default()
            .w(i32::from(width))
            .h(i32::from(height))
            .build();
        self.docker.resize_exec(exec_id, opts).await?;
        Ok(())
    }

    async fn exec_exit_code(&self, exec_id: &str) -> Result<Option<i64>> {
        let r = self.docker.inspect_exec(exec_id).await?;
        if r.running.unwrap_or(false) {
            return Ok(None);
        }
        Ok(r.exit_code)
    }

    async fn attach(&self, id: &str, stdin: bool) -> Result<StreamSession> {
        let opts = AttachContainerOptionsBuilder::default()
            .stdin(stdin)
            .stdout(true)
            .stderr(true)
            .stream(true)
            .logs(false)
            .build();
        // Docker ends the whole attach (output too) when the client's stdin closes on a
        // container without StdinOnce; CRI runtimes keep streaming output until the process
        // exits. Such a container's stdin stays open, as upstream's does.
        let once = self
            .docker
            .inspect_container(
                id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await?
            .config
            .and_then(|c| c.stdin_once)
            .unwrap_or(false);
        let r = self.docker.attach_container(id, Some(opts)).await?;
        let input = if once {
            r.input
        } else {
            Box::pin(KeepOpen(r.input))
        };
        Ok(StreamSession {
            id: id.to_string(),
            input: stdin.then_some(input),
            output: r
                .output
                .map_err(KubeletError::from)
                .try_filter_map(|o| async move { Ok(output_chunk(o)) })
                .boxed(),
        })
    }

    async fn resize_container(&self, id: &str, width: u16, height: u16) -> Result<()> {
        let opts = ResizeContainerTTYOptionsBuilder::default()
            .w(i32::from(width))
            .h(i32::from(height))
            .build();
        self.docker.resize_container_tty(id, opts).await?;
        Ok(())
    }

    async fn update_resources(&self, id: &str, update: &ResourceUpdate) -> Result<()> {
        let body = ContainerUpdateBody {
            memory: update.memory_limit,
            // No swap beyond the limit, and raising the limit past the engine's default swap
            // ceiling (twice the old limit) must not be refused.
            memory_swap: update.memory_limit,
            nano_cpus: update.nano_cpus,
            cpu_shares: update.cpu_shares,
            ..Default::default()
        };
        self.docker.update_container(id, body).await?;
        Ok(())
    }

    async fn stats(&self, id: &str) -> Result<super::ContainerStats> {
        super::docker_stats::fetch(&self.docker, id).await
    }

    fn events(&self, labels: &[(String, String)]) -> BoxStream<'static, Result<RuntimeEvent>> {
        let mut filters: HashMap<String, Vec<String>> = HashMap::new();
        filters.insert("type".into(), vec!["container".into()]);
        filters.insert(
            "label".into(),
            labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        );
        let opts = bollard::query_parameters::EventsOptionsBuilder::default()
            .filters(&filters)
            .build();
        self.docker
            .events(Some(opts))
            .map_err(KubeletError::from)
            .map_ok(|m| {
                let actor = m.actor.unwrap_or_default();
                RuntimeEvent {
                    container_id: actor.id.unwrap_or_default(),
                    action: m.action.unwrap_or_default(),
                    labels: actor.attributes.unwrap_or_default().into_iter().collect(),
                }
            })
            .boxed()
    }
}

/// An attach stdin whose shutdown is not passed on (see `attach`).
struct KeepOpen(std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>);

impl tokio::io::AsyncWrite for KeepOpen {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.0.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.0.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.0.as_mut().poll_flush(cx)
    }
}
