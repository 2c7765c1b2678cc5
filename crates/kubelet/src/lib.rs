//! ferrokube's node agent (kubelet): a kube-rs client of the API server that runs the pods bound
//! to its node on the Docker engine.
//!
//! Public entry points:
//! - [`run_agent`]`(client, AgentConfig, shutdown)` — register the Node, heartbeat its Lease, run
//!   pods (pause container + init + app containers, probes, volumes, restarts, graceful
//!   deletion), report `pods/status`, and serve the kubelet streaming API.
//! - [`import_busybox`]`(tags)` — build `busybox:latest` (plus `tags`) offline from Debian's
//!   `busybox-static` with `docker import`; [`build_self_image`]`(binary, tags)` — the
//!   `ferrokube` image of a binary and its shared libraries, no base image.
//! - [`runtime::ContainerRuntime`] — the engine seam, with [`runtime::DockerRuntime`] (bollard)
//!   and [`runtime::FakeRuntime`] (tests).
//! - [`server`] — the streaming endpoints the API server proxies to:
//!   `/containerLogs/{ns}/{pod}/{container}`, `/exec/...`, `/attach/...` (WebSocket
//!   `v5.channel.k8s.io`/`v4.channel.k8s.io`), `/portforward/{ns}/{pod}` (SPDY/3.1
//!   `portforward.k8s.io`, tunneled in WebSocket `SPDY/3.1+portforward.k8s.io` or raw upgrade).
//!   Served over HTTPS, every request authenticated (client certificate or TokenReview) and
//!   authorized (SubjectAccessReview), see [`server::auth`].
//! - [`serving_cert`] — the kubelet's serving certificate, requested by CSR
//!   (`kubernetes.io/kubelet-serving`), stored, reused and renewed.
//! - [`service_env`] — upstream's service environment variables; [`tokens`] — projected
//!   service-account tokens via TokenRequest with upstream's refresh policy; [`memory`] — how a
//!   standalone agent keeps its resident set small.
//!
//! Every engine container is named `k8s_<container>_<pod>_<ns>_<uid>_<attempt>` and labelled
//! with pod uid/name/namespace, container name and node name, so several agents can share one
//! engine and a restarted agent adopts its running pods.

#![warn(missing_docs)]

pub mod agent;
pub mod downward;
pub mod env;
pub mod ephemeral;
pub mod error;
pub mod events;
pub mod images;
pub mod memory;
pub mod naming;
pub mod node;
pub mod pod_dns;
pub mod pod_worker;
pub mod probes;
pub mod provisioner;
pub mod proxy;
pub mod quantity;
pub mod runtime;
pub mod self_image;
pub mod server;
pub mod service_env;
pub mod serving_cert;
pub mod status;
pub mod tokens;
pub mod volumes;

use std::sync::Arc;

pub use agent::{no_image_pull_from_env, run_agent_with, AgentConfig};
pub use error::KubeletError;
pub use pod_dns::PodDnsConfig;

/// Run the node agent on the local Docker engine until `shutdown` resolves.
pub async fn run_agent(
    client: kube::Client,
    cfg: AgentConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let runtime = runtime::DockerRuntime::connect().await?;
    run_agent_with(client, cfg, Arc::new(runtime), shutdown).await
}

/// Build the `ferrokube` image from `binary` (see [`self_image`]), tagged with every entry of
/// `tags`.
pub async fn build_self_image(binary: &std::path::Path, tags: &[String]) -> anyhow::Result<()> {
    let runtime = runtime::DockerRuntime::connect().await?;
    self_image::build_self_image(&runtime, binary, tags).await?;
    Ok(())
}

/// Build and import `busybox:latest` (plus every tag in `tags`) from `/bin/busybox`.
pub async fn import_busybox(tags: &[String]) -> anyhow::Result<()> {
    let runtime = runtime::DockerRuntime::connect().await?;
    images::import_busybox_with(&runtime, tags).await?;
    Ok(())
}
