//! Shared fixtures for the Docker-backed tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use ferrokube_kubelet::downward::NodeResources;
use ferrokube_kubelet::env::ObjectSource;
use ferrokube_kubelet::error::Result;
use ferrokube_kubelet::pod_worker::{NodeContext, PodApi, WorkerDeps};
use ferrokube_kubelet::runtime::DockerRuntime;
use ferrokube_kubelet::volumes::TokenSource;
use k8s_openapi::api::core::v1::{Pod, PodStatus};
use tokio::sync::OnceCell;

static IMPORTED: OnceCell<()> = OnceCell::const_new();

/// The engine, with the test image imported once per test binary.
pub async fn docker() -> DockerRuntime {
    IMPORTED
        .get_or_init(|| async {
            ferrokube_kubelet::import_busybox(&["ferrokube-test/busybox:1".to_string()])
                .await
                .expect("import busybox");
        })
        .await;
    DockerRuntime::connect().await.expect("docker")
}

/// A name unlikely to collide with other test runs.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// Records status writes instead of calling an API server.
pub struct Recorder(pub std::sync::Mutex<Vec<PodStatus>>);

impl Recorder {
    /// The newest status written.
    pub fn last(&self) -> Option<PodStatus> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .cloned()
    }
}

#[async_trait]
impl PodApi for Recorder {
    async fn patch_status(&self, _: &str, _: &str, status: &PodStatus) -> Result<()> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(status.clone());
        Ok(())
    }
    async fn delete_now(&self, _: &str, _: &str, _: &str) -> Result<()> {
        Ok(())
    }
}

/// A single ConfigMap `cfg` with key `greeting`.
pub struct Objects;

#[async_trait]
impl ObjectSource for Objects {
    async fn config_map(&self, _: &str, name: &str) -> Result<Option<BTreeMap<String, Vec<u8>>>> {
        Ok((name == "cfg")
            .then(|| BTreeMap::from([("greeting".to_string(), b"hello from configmap".to_vec())])))
    }
    async fn secret(&self, _: &str, _: &str) -> Result<Option<BTreeMap<String, Vec<u8>>>> {
        Ok(None)
    }
}

#[async_trait]
impl TokenSource for Objects {
    async fn token(
        &self,
        _: &str,
        _: &str,
        _: Option<&str>,
        _: i64,
        _: &Pod,
    ) -> Result<Option<String>> {
        Ok(None)
    }
}

/// Worker dependencies on the real engine for node `node`.
pub fn deps(
    rt: Arc<DockerRuntime>,
    node: &str,
    dir: &std::path::Path,
    api: Arc<Recorder>,
) -> WorkerDeps {
    WorkerDeps {
        runtime: rt,
        objects: Arc::new(Objects),
        tokens: Arc::new(Objects),
        api,
        events: Arc::new(ferrokube_kubelet::events::Collected::default()),
        node: Arc::new(NodeContext {
            node_name: node.to_string(),
            cluster_id: "docker-tests".into(),
            data_dir: dir.to_path_buf(),
            no_image_pull: true,
            allowed_unsafe_sysctls: Vec::new(),
            pause_image: "busybox:latest".into(),
            resources: NodeResources {
                cpu_millis: 2000,
                memory_bytes: 1 << 30,
                ephemeral_bytes: 0,
            },
            host_ip: "127.0.0.1".into(),
            memory_root: dir.join("shm"),
            dns: Default::default(),
        }),
    }
}
