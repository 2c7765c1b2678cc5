//! In-memory [`ContainerRuntime`] for unit tests of pod logic: containers change state only when
//! the test says so, exec results come from a scripted table.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::Utc;
use futures::stream::BoxStream;
use futures::StreamExt;

use super::{
    ContainerConfig, ContainerInfo, ContainerRuntime, ContainerState, ExecOptions, LogOptions,
    OutputChunk, OutputKind, ResourceUpdate, RuntimeEvent, RuntimeVersion, StreamSession,
};
use crate::error::{KubeletError, Result};

/// One container held by the fake engine.
#[derive(Debug, Clone)]
pub struct FakeContainer {
    /// The config it was created with.
    pub config: ContainerConfig,
    /// Its current info.
    pub info: ContainerInfo,
    /// Its log output.
    pub logs: Vec<u8>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    containers: BTreeMap<String, FakeContainer>,
    images: HashMap<String, String>,
    pulls: Vec<String>,
    exec_codes: HashMap<String, i64>,
    execs: HashMap<String, i64>,
    start_errors: HashMap<String, String>,
}

/// Scriptable in-memory engine.
#[derive(Clone, Default)]
pub struct FakeRuntime {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for FakeRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FakeRuntime")
    }
}

impl FakeRuntime {
    /// An engine with no images and no containers.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panicking test thread must not poison every later assertion.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Make an image present locally.
    pub fn add_image(&self, image: &str) {
        let mut g = self.lock();
        let id = format!("sha256:{:064x}", g.images.len() + 1);
        g.images.insert(image.to_string(), id);
    }

    /// Images the engine was asked to pull.
    pub fn pulls(&self) -> Vec<String> {
        self.lock().pulls.clone()
    }

    /// Exit code that an exec whose command joined by spaces equals `command` returns.
    pub fn set_exec_result(&self, command: &str, code: i64) {
        self.lock().exec_codes.insert(command.to_string(), code);
    }

    /// Starting a container whose config name starts with `name_prefix` fails with `message`.
    pub fn fail_start(&self, name_prefix: &str, message: &str) {
        self.lock()
            .start_errors
            .insert(name_prefix.to_string(), message.to_string());
    }

    /// Snapshot of every container.
    pub fn containers(&self) -> Vec<FakeContainer> {
        self.lock().containers.values().cloned().collect()
    }

    /// Mark a running container as exited with `code`.
    pub fn exit_container(&self, id: &str, code: i64, oom: bool) {
        if let Some(c) = self.lock().containers.get_mut(id) {
            c.info.state = ContainerState::Exited;
            c.info.exit_code = Some(code);
            c.info.oom_killed = oom;
            c.info.finished_at = Some(Utc::now());
        }
    }

    /// Append log output to a container.
    pub fn write_logs(&self, id: &str, data: &[u8]) {
        if let Some(c) = self.lock().containers.get_mut(id) {
            c.logs.extend_from_slice(data);
        }
    }
}

#[async_trait]
impl ContainerRuntime for FakeRuntime {
    async fn version(&self) -> Result<RuntimeVersion> {
        Ok(RuntimeVersion {
            name: "fake".into(),
            version: "0.0.1".into(),
        })
    }

    async fn image_id(&self, image: &str) -> Result<Option<String>> {
        Ok(self.lock().images.get(image).cloned())
    }

    async fn pull_image(&self, image: &str) -> Result<()> {
        let mut g = self.lock();
        g.pulls.push(image.to_string());
        Err(KubeletError::ImagePull(format!(
            "fake registry has no image {image}"
        )))
    }

    async fn create_container(&self, config: &ContainerConfig) -> Result<String> {
        let mut g = self.lock();
        if g.containers.values().any(|c| c.info.name == config.name) {
            return Err(KubeletError::Runtime(format!(
                "Conflict. The container name \"/{}\" is already in use",
                config.name
            )));
        }
        let Some(image_id) = g.images.get(&config.image).cloned() else {
            return Err(KubeletError::NotFound(format!(
                "No such image: {}",
                config.image
            )));
        };
        g.next_id += 1;
        let id = format!("{:064x}", g.next_id);
        let info = ContainerInfo {
            id: id.clone(),
            name: config.name.clone(),
            image: config.image.clone(),
            image_id,
            labels: config.labels.clone(),
            state: ContainerState::Created,
            exit_code: None,
            oom_killed: false,
            error: String::new(),
            started_at: None,
            finished_at: None,
            ip: None,
        };
        g.containers.insert(
            id.clone(),
            FakeContainer {
                config: config.clone(),
                info,
                logs: Vec::new(),
            },
        );
        Ok(id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        let mut g = self.lock();
        let n = g.next_id;
        let errors = g.start_errors.clone();
        let c = g
            .containers
            .get_mut(id)
            .ok_or_else(|| KubeletError::NotFound(id.to_string()))?;
        if let Some((_, msg)) = errors.iter().find(|(p, _)| c.info.name.starts_with(*p)) {
            c.info.state = ContainerState::Exited;
            c.info.exit_code = Some(127);
            c.info.error = msg.clone();
            c.info.finished_at = Some(Utc::now());
            return Err(KubeletError::Runtime(msg.clone()));
        }
        c.info.state = ContainerState::Running;
        c.info.started_at = Some(Utc::now());
        if c.config.network == Some(super::NetworkMode::Bridge) {
            c.info.ip = Some(format!("172.17.{}.{}", (n / 250) % 250, n % 250 + 2));
        }
        Ok(())
    }

    async fn stop_container(&self, id: &str, _grace: Duration) -> Result<()> {
        let mut g = self.lock();
        if let Some(c) = g.containers.get_mut(id) {
            if c.info.state == ContainerState::Running {
                c.info.state = ContainerState::Exited;
                // 137 = killed by SIGKILL / 143 = SIGTERM; the fake process honours SIGTERM.
                c.info.exit_code = Some(143);
                c.info.finished_at = Some(Utc::now());
            }
        }
        Ok(())
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        self.lock().containers.remove(id);
        Ok(())
    }

    async fn inspect_container(&self, id: &str) -> Result<ContainerInfo> {
        self.lock()
            .containers
            .get(id)
            .map(|c| c.info.clone())
            .ok_or_else(|| KubeletError::NotFound(id.to_string()))
    }

    async fn list_containers(&self, labels: &[(String, String)]) -> Result<Vec<ContainerInfo>> {
        Ok(self
            .lock()
            .containers
            .values()
            .filter(|c| {
                labels
                    .iter()
                    .all(|(k, v)| c.info.labels.get(k).is_some_and(|x| x == v))
            })
            .map(|c| c.info.clone())
            .collect())
    }

    fn logs(&self, id: &str, _options: &LogOptions) -> BoxStream<'static, Result<OutputChunk>> {
        let data = self.lock().containers.get(id).map(|c| c.logs.clone());
        let item = match data {
            Some(d) => Ok(OutputChunk {
                kind: OutputKind::Stdout,
                data: Bytes::from(d),
            }),
            None => Err(KubeletError::NotFound(id.to_string())),
        };
        futures::stream::iter(vec![item]).boxed()
    }

    async fn exec(&self, id: &str, options: &ExecOptions) -> Result<StreamSession> {
        let mut g = self.lock();
        let running = g
            .containers
            .get(id)
            .is_some_and(|c| c.info.state == ContainerState::Running);
        if !running {
            return Err(KubeletError::Runtime(format!(
                "container {id} is not running"
            )));
        }
        let code = g
            .exec_codes
            .get(&options.command.join(" "))
            .copied()
            .unwrap_or(0);
        g.next_id += 1;
        let exec_id = format!("exec-{}", g.next_id);
        g.execs.insert(exec_id.clone(), code);
        Ok(StreamSession {
            id: exec_id,
            input: None,
            output: futures::stream::empty().boxed(),
        })
    }

    async fn resize_exec(&self, _exec_id: &str, _width: u16, _height: u16) -> Result<()> {
        Ok(())
    }

    async fn exec_exit_code(&self, exec_id: &str) -> Result<Option<i64>> {
        Ok(self.lock().execs.get(exec_id).copied())
    }

    async fn attach(&self, id: &str, _stdin: bool) -> Result<StreamSession> {
        Err(KubeletError::Runtime(format!(
            "fake runtime cannot attach to {id}"
        )))
    }

    async fn resize_container(&self, _id: &str, _width: u16, _height: u16) -> Result<()> {
        Ok(())
    }

    async fn update_resources(&self, id: &str, update: &ResourceUpdate) -> Result<()> {
        let mut g = self.lock();
        let c = g
            .containers
            .get_mut(id)
            .ok_or_else(|| KubeletError::Runtime(format!("no such container: {id}")))?;
        let cfg = &mut c.config;
        cfg.memory_limit = update.memory_limit.or(cfg.memory_limit);
        cfg.nano_cpus = update.nano_cpus.or(cfg.nano_cpus);
        cfg.cpu_shares = update.cpu_shares.or(cfg.cpu_shares);
        Ok(())
    }

    fn events(&self, _labels: &[(String, String)]) -> BoxStream<'static, Result<RuntimeEvent>> {
        // The fake changes state only when a test says so; tests drive syncs directly.
        futures::stream::pending().boxed()
    }
}
