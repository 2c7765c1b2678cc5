//! The kubelet's own HTTP server, which the API server reverse-proxies `pods/log`, `pods/exec`,
//! `pods/attach` and `pods/portforward` to.
//!
//! | route | protocol |
//! |---|---|
//! | `GET /containerLogs/{ns}/{pod}/{container}` | chunked `text/plain` |
//! | `GET /exec/{ns}/{pod}/{container}?command=..` | WebSocket `v5.channel.k8s.io` / `v4.channel.k8s.io` |
//! | `GET /attach/{ns}/{pod}/{container}` | WebSocket `v5.channel.k8s.io` / `v4.channel.k8s.io` |
//! | `GET|POST /portforward/{ns}/{pod}` | WebSocket `SPDY/3.1+portforward.k8s.io` (tunneled) or `Upgrade: SPDY/3.1` |
//! | `GET /metrics/resource` | Prometheus text: upstream's resource metrics (what metrics-server scrapes) |
//! | `GET /logs/`, `GET /logs/{path}` | the node's `/var/log`, as upstream's file server |
//!
//! The agent serves it with [`bind_secure`]: HTTPS with a serving certificate from the cluster
//! CA, and every request authenticated and authorized ([`auth`]). [`bind`] serves the bare
//! router in plain HTTP, for tests of the streaming protocols alone.

pub mod auth;
mod channel;
mod exec;
mod logs;
mod node_logs;
mod node_usage;
mod portforward;
mod resource_metrics;
mod resource_text;
pub mod spdy;
pub mod tls;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;

use crate::naming::{
    attempt_of, LABEL_CONTAINER_NAME, LABEL_POD_NAME, LABEL_POD_NAMESPACE, LABEL_ROLE,
};
use crate::runtime::{ContainerInfo, ContainerRuntime};

/// Shared state of the streaming server.
#[derive(Clone)]
pub struct ServerState {
    /// Container engine.
    pub runtime: Arc<dyn ContainerRuntime>,
    /// Node whose containers this server exposes.
    pub node_name: String,
    /// The cluster those containers belong to (empty: unknown).
    pub cluster_id: String,
}

/// A Kubernetes `Status` error response.
pub fn status_error(code: StatusCode, reason: &str, message: impl Into<String>) -> Response {
    let body = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message.into(),
        "reason": reason,
        "code": code.as_u16(),
    });
    (
        code,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Parse a query string keeping repeated keys (`command=a&command=b`).
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// First value of a query key.
pub fn query_get<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Boolean query flag (`1`/`true`).
pub fn query_flag(q: &[(String, String)], keys: &[&str]) -> bool {
    keys.iter()
        .filter_map(|k| query_get(q, k))
        .any(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

impl ServerState {
    fn owner(&self) -> crate::naming::Owner<'_> {
        crate::naming::Owner {
            cluster: &self.cluster_id,
            node: &self.node_name,
        }
    }

    /// Every engine container of the pod (any attempt), owned by this node.
    pub async fn pod_containers(
        &self,
        ns: &str,
        pod: &str,
    ) -> Result<Vec<ContainerInfo>, Response> {
        self.runtime
            .list_containers(
                &[
                    self.owner().selector(),
                    vec![
                        (LABEL_POD_NAMESPACE.to_string(), ns.to_string()),
                        (LABEL_POD_NAME.to_string(), pod.to_string()),
                    ],
                ]
                .concat(),
            )
            .await
            .map_err(|e| {
                status_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    e.to_string(),
                )
            })
    }

    /// Latest (or the one before, for `previous`) instance of a named container of a pod.
    pub async fn find_container(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        previous: bool,
    ) -> Result<ContainerInfo, Response> {
        let all = self.pod_containers(ns, pod).await?;
        if all.is_empty() {
            return Err(status_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("pod \"{pod}\" not found on this node"),
            ));
        }
        let mut by_name: BTreeMap<String, Vec<ContainerInfo>> = BTreeMap::new();
        for c in all
            .into_iter()
            .filter(|c| c.labels.get(LABEL_ROLE).map(String::as_str) != Some("sandbox"))
        {
            by_name
                .entry(
                    c.labels
                        .get(LABEL_CONTAINER_NAME)
                        .cloned()
                        .unwrap_or_default(),
                )
                .or_default()
                .push(c);
        }
        let name = if container.is_empty() && by_name.len() == 1 {
            by_name.keys().next().cloned().unwrap_or_default()
        } else {
            container.to_string()
        };
        let Some(mut instances) = by_name.remove(&name) else {
            return Err(status_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("container {name} is not valid for pod {pod}"),
            ));
        };
        instances.sort_by_key(|c| std::cmp::Reverse(attempt_of(&c.labels)));
        let idx = usize::from(previous);
        instances.into_iter().nth(idx).ok_or_else(|| {
            status_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("previous terminated container \"{name}\" in pod \"{pod}\" not found"),
            )
        })
    }
}

/// The router with every streaming endpoint.
pub fn router(state: ServerState) -> Router {
    Router::new()
        .route(
            "/containerLogs/{ns}/{pod}/{container}",
            get(logs::container_logs),
        )
        .route("/exec/{ns}/{pod}/{container}", any(exec::exec))
        .route("/attach/{ns}/{pod}/{container}", any(exec::attach))
        .route("/portforward/{ns}/{pod}", any(portforward::port_forward))
        .route("/metrics/resource", get(resource_metrics::resource_metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/logs/", get(node_logs::root))
        .route("/logs/{*path}", get(node_logs::entry))
        .with_state(state)
}

/// Bind the server; returns the bound address and the serving future.
pub async fn bind(
    addr: SocketAddr,
    state: ServerState,
) -> std::io::Result<(
    SocketAddr,
    impl std::future::Future<Output = std::io::Result<()>>,
)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = router(state);
    Ok((local, async move { axum::serve(listener, app).await }))
}

/// Bind the kubelet's HTTPS server: TLS with `tls`, every request through `auth`. Returns the
/// bound address and the serving future.
pub async fn bind_secure(
    addr: SocketAddr,
    state: ServerState,
    tls: Arc<rustls::ServerConfig>,
    auth: Arc<auth::KubeletAuth>,
) -> std::io::Result<(SocketAddr, impl std::future::Future<Output = ()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = router(state).layer(axum::middleware::from_fn_with_state(auth, auth::guard));
    Ok((local, tls::serve_tls(listener, tls, app)))
}
