//! The API server side of `pods/log`, `pods/exec`, `pods/attach` and `pods/portforward`.
//!
//! Like upstream's kube-apiserver, the server does not speak the streaming protocols itself: it
//! resolves pod → node → kubelet address, picks the container as upstream does, and then either
//! streams the kubelet's chunked log body through, or forwards the client's upgrade request
//! (WebSocket `v5.channel.k8s.io`/`v4.channel.k8s.io`, `SPDY/3.1+portforward.k8s.io`, or a raw
//! `Upgrade: SPDY/3.1`) to the kubelet and, once both sides answered `101`, splices the two
//! connections byte for byte (upstream's UpgradeAwareHandler). Whatever the kubelet refuses comes
//! back to the client as the kubelet's `Status`, so an unsupported fallback never hangs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::resources::Call;
use super::AppState;
use crate::registry::locate::kubelet_host_port;
use crate::registry::ResourceDescriptor;
use crate::status::{ApiError, ApiResult, Cause};

/// Annotation naming the container kubectl (and we) pick when none is given.
pub const DEFAULT_CONTAINER_ANNOTATION: &str = "kubectl.kubernetes.io/default-container";

/// How long dialing a kubelet may take before the request fails.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// The most of a kubelet error body we read back.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Failures talking to a kubelet.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The TCP connection to the kubelet failed or timed out.
    #[error("error dialing backend: dial tcp {addr}: {source}")]
    Dial {
        /// The kubelet address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS handshake with the kubelet failed (e.g. its certificate is not from the
    /// cluster CA or does not name the address dialed).
    #[error("error dialing backend: {0}")]
    Tls(std::io::Error),
    /// The HTTP exchange with the kubelet failed.
    #[error("error talking to the kubelet: {0}")]
    Http(#[from] hyper::Error),
    /// The request to the kubelet could not be built.
    #[error("invalid kubelet request: {0}")]
    Request(#[from] axum::http::Error),
    /// The node object gives no address for its kubelet.
    #[error("node {0:?} has no address for its kubelet")]
    NoAddress(String),
}

impl From<ProxyError> for ApiError {
    fn from(err: ProxyError) -> Self {
        ApiError::internal(err.to_string())
    }
}

/// Serves one connect subresource request of a pod (`log`, `exec`, `attach`, `portforward`;
/// the caller checked the method against the subresource's verbs).
pub async fn serve(app: &Arc<AppState>, d: &ResourceDescriptor, call: Call) -> ApiResult<Response> {
    let sub = call.info.subresource.clone().unwrap_or_default();
    let ns = call.info.namespace.clone().unwrap_or_default();
    let name = call.info.name.clone().unwrap_or_default();
    let pod = load_pod(app, d, &ns, &name).await?;
    if sub != "log" {
        admit_connect(app, d, &call, &ns, &name).await?;
    }
    match sub.as_str() {
        "log" => logs(app, &pod, &ns, &name, call).await,
        "exec" | "attach" => {
            let container = select_container(&pod, &name, call.query.get("container"))?;
            let node = assigned_node(&pod, &name)?;
            let query = without_key(call.raw_query.as_deref(), "container");
            let path = format!(
                "/{sub}/{}/{}/{}{}",
                enc(&ns),
                enc(&name),
                enc(&container),
                query
            );
            upgrade(app, node, path, call).await
        }
        _ => {
            let node = assigned_node(&pod, &name)?;
            let query = call
                .raw_query
                .as_deref()
                .filter(|q| !q.is_empty())
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            let path = format!("/portforward/{}/{}{query}", enc(&ns), enc(&name));
            upgrade(app, node, path, call).await
        }
    }
}

/// Upstream's `CONNECT` admission (webhooks and policies) before a stream is opened.
async fn admit_connect(
    app: &AppState,
    d: &ResourceDescriptor,
    call: &Call,
    ns: &str,
    name: &str,
) -> ApiResult<()> {
    let subresource: &'static str = match call.info.subresource.as_deref() {
        Some("exec") => "exec",
        Some("attach") => "attach",
        _ => "portforward",
    };
    let query = super::request::query_pairs(call.raw_query.as_deref());
    let mut options = crate::registry::connect::pod_connect_options(subresource, ns, name, &query);
    app.registry
        .admit_connect(d, call.user.as_ref(), subresource, &mut options)
        .await
}

async fn load_pod(app: &AppState, d: &ResourceDescriptor, ns: &str, name: &str) -> ApiResult<Pod> {
    let kv = app.registry.get(d, Some(ns), name).await?;
    serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::internal(format!("decoding stored pod {ns}/{name}: {e}")))
}

/// The node a pod is bound to; upstream's 400 when it is not scheduled yet.
fn assigned_node<'a>(pod: &'a Pod, name: &str) -> ApiResult<&'a str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("pod {name} does not have a host assigned")))
}

/// Upstream's container choice (`validateContainer`): the named one must exist; without a name,
/// the default-container annotation, else the only container, else a 400 listing the choices.
pub fn select_container(pod: &Pod, name: &str, requested: Option<&String>) -> ApiResult<String> {
    let spec = pod.spec.clone().unwrap_or_default();
    let names = |list: Vec<String>| format!("[{}]", list.join(" "));
    let containers: Vec<String> = spec.containers.iter().map(|c| c.name.clone()).collect();
    let init: Vec<String> = spec
        .init_containers
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.name)
        .collect();
    let ephemeral: Vec<String> = spec
        .ephemeral_containers
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.name)
        .collect();
    if let Some(requested) = requested.filter(|c| !c.is_empty()) {
        let known = containers
            .iter()
            .chain(&init)
            .chain(&ephemeral)
            .any(|c| c == requested);
        if !known {
            return Err(ApiError::bad_request(format!(
                "container {requested} is not valid for pod {name}"
            )));
        }
        return Ok(requested.clone());
    }
    let annotated = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DEFAULT_CONTAINER_ANNOTATION))
        .filter(|c| containers.contains(c));
    if let Some(c) = annotated {
        return Ok(c.clone());
    }
    match containers.len() {
        1 => Ok(containers[0].clone()),
        0 => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {name}"
        ))),
        _ => {
            let mut msg = format!(
                "a container name must be specified for pod {name}, choose one of: {}",
                names(containers)
            );
            if !init.is_empty() {
                msg.push_str(&format!(" or one of the init containers: {}", names(init)));
            }
            if !ephemeral.is_empty() {
                msg.push_str(&format!(
                    " or one of the ephemeral containers: {}",
                    names(ephemeral)
                ));
            }
            Err(ApiError::bad_request(msg))
        }
    }
}

/// The parsed, validated `PodLogOptions` of a request.
#[derive(Debug, Default, PartialEq)]
pub struct LogOptions {
    /// `follow`.
    pub follow: bool,
    /// `previous`.
    pub previous: bool,
    /// `timestamps`.
    pub timestamps: bool,
    /// `tailLines`.
    pub tail_lines: Option<i64>,
    /// `limitBytes`.
    pub limit_bytes: Option<i64>,
    /// `sinceSeconds`.
    pub since_seconds: Option<i64>,
    /// `sinceTime` (RFC 3339, as given).
    pub since_time: Option<String>,
}

fn flag(q: &HashMap<String, String>, key: &str) -> ApiResult<bool> {
    match q.get(key).map(String::as_str) {
        None | Some("") => Ok(false),
        Some("true") | Some("1") | Some("True") | Some("TRUE") => Ok(true),
        Some("false") | Some("0") | Some("False") | Some("FALSE") => Ok(false),
        Some(other) => Err(ApiError::bad_request(format!(
            "strconv.ParseBool: parsing {other:?}: invalid syntax"
        ))),
    }
}

fn int(q: &HashMap<String, String>, key: &str) -> ApiResult<Option<i64>> {
    match q.get(key).map(String::as_str) {
        None | Some("") => Ok(None),
        Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
            ApiError::bad_request(format!("strconv.ParseInt: parsing {v:?}: invalid syntax"))
        }),
    }
}

impl LogOptions {
    /// Parses and validates the query as upstream's `ValidatePodLogOptions` does.
    pub fn parse(q: &HashMap<String, String>, pod: &str) -> ApiResult<Self> {
        let opts = LogOptions {
            follow: flag(q, "follow")?,
            previous: flag(q, "previous")?,
            timestamps: flag(q, "timestamps")?,
            tail_lines: int(q, "tailLines")?,
            limit_bytes: int(q, "limitBytes")?,
            since_seconds: int(q, "sinceSeconds")?,
            since_time: q.get("sinceTime").filter(|t| !t.is_empty()).cloned(),
        };
        if let Some(t) = &opts.since_time {
            chrono::DateTime::parse_from_rfc3339(t).map_err(|_| {
                ApiError::bad_request(format!(
                    "parsing time {t:?} as \"2006-01-02T15:04:05Z07:00\": cannot parse"
                ))
            })?;
        }
        let mut causes = Vec::new();
        let invalid = |field: &str, value: i64, why: &str| Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {value}: {why}"),
            field: field.into(),
        };
        if let Some(t) = opts.tail_lines.filter(|t| *t < 0) {
            causes.push(invalid(
                "tailLines",
                t,
                "must be greater than or equal to 0",
            ));
        }
        if let Some(l) = opts.limit_bytes.filter(|l| *l < 1) {
            causes.push(invalid("limitBytes", l, "must be greater than 0"));
        }
        match (opts.since_seconds, &opts.since_time) {
            (Some(_), Some(_)) => causes.push(Cause {
                reason: "FieldValueForbidden".into(),
                message: "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"
                    .into(),
                field: String::new(),
            }),
            (Some(s), None) if s < 1 => {
                causes.push(invalid("sinceSeconds", s, "must be greater than 0"))
            }
            _ => {}
        }
        if !causes.is_empty() {
            return Err(ApiError::invalid("", "PodLogOptions", pod, causes));
        }
        Ok(opts)
    }

    /// The kubelet's `/containerLogs` query string (with its leading `?`, or empty).
    pub fn kubelet_query(&self) -> String {
        let mut parts = Vec::new();
        for (key, on) in [
            ("follow", self.follow),
            ("previous", self.previous),
            ("timestamps", self.timestamps),
        ] {
            if on {
                parts.push(format!("{key}=true"));
            }
        }
        for (key, v) in [
            ("tailLines", self.tail_lines),
            ("limitBytes", self.limit_bytes),
            ("sinceSeconds", self.since_seconds),
        ] {
            if let Some(v) = v {
                parts.push(format!("{key}={v}"));
            }
        }
        if let Some(t) = &self.since_time {
            parts.push(format!("sinceTime={}", enc(t)));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }
}

/// Upstream's kubelet refuses logs of a container that never started with these messages; we
/// answer them from the pod status so a client sees the same 400 whatever our kubelet knows.
pub fn log_status_error(pod: &Pod, name: &str, container: &str, previous: bool) -> Option<String> {
    let status = pod.status.as_ref()?;
    let all = status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten())
        .chain(status.ephemeral_container_statuses.iter().flatten());
    let Some(cs) = all.into_iter().find(|cs| cs.name == container) else {
        return Some(format!(
            "container {container:?} in pod {name:?} is waiting to start: ContainerCreating"
        ));
    };
    let state = cs.state.clone().unwrap_or_default();
    let last = cs.last_state.clone().unwrap_or_default();
    if previous {
        let has_previous = last
            .terminated
            .as_ref()
            .is_some_and(|t| t.container_id.as_deref().is_some_and(|id| !id.is_empty()));
        return (!has_previous).then(|| {
            format!("previous terminated container {container:?} in pod {name:?} not found")
        });
    }
    if state.running.is_some() || state.terminated.is_some() || last.terminated.is_some() {
        return None;
    }
    let reason = state.waiting.and_then(|w| w.reason).unwrap_or_default();
    Some(match reason.as_str() {
        "ErrImagePull" => {
            format!("container {container:?} in pod {name:?} is waiting to start: image can't be pulled")
        }
        "ImagePullBackOff" => format!(
            "container {container:?} in pod {name:?} is waiting to start: trying and failing to pull image"
        ),
        "" => format!("container {container:?} in pod {name:?} is waiting to start - no logs yet"),
        other => format!("container {container:?} in pod {name:?} is waiting to start: {other}"),
    })
}

async fn logs(app: &AppState, pod: &Pod, ns: &str, name: &str, call: Call) -> ApiResult<Response> {
    let container = select_container(pod, name, call.query.get("container"))?;
    let opts = LogOptions::parse(&call.query, name)?;
    let node = match pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
        Some(n) if !n.is_empty() => n,
        // Upstream answers an unscheduled pod's logs with an empty stream.
        _ => return Ok(text_response(Body::empty())),
    };
    if let Some(msg) = log_status_error(pod, name, &container, opts.previous) {
        return Err(ApiError::bad_request(msg));
    }
    let addr = kubelet_address(app, node).await?;
    let path = format!(
        "/containerLogs/{}/{}/{}{}",
        enc(ns),
        enc(name),
        enc(&container),
        opts.kubelet_query()
    );
    let mut sender = connect(app, &addr, false).await?;
    let req = hyper::Request::get(path)
        .header(header::HOST, &addr)
        .body(Empty::<Bytes>::new())
        .map_err(ProxyError::from)?;
    let resp = sender.send_request(req).await.map_err(ProxyError::from)?;
    if resp.status() != StatusCode::OK {
        return Err(kubelet_error(resp).await);
    }
    let body = Body::new(resp.into_body());
    if super::log_stream::is_websocket(&call.headers) {
        return super::log_stream::serve(call.headers, call.uri, call.upgrade, body).await;
    }
    Ok(text_response(body))
}

fn text_response(body: Body) -> Response {
    let mut resp = Response::new(body);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}

/// Resolves a node's kubelet `host:port` from its status, as upstream's node connection info.
async fn kubelet_address(app: &AppState, node_name: &str) -> ApiResult<String> {
    let kv = app.registry.node(node_name).await?;
    let node: Node = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::internal(format!("decoding stored node {node_name}: {e}")))?;
    kubelet_address_of(&node, node_name).map_err(ApiError::from)
}

/// A node's kubelet address (`host:port`, IPv6 bracketed), as [`kubelet_host_port`] picks it.
pub fn kubelet_address_of(node: &Node, node_name: &str) -> Result<String, ProxyError> {
    let (host, port) =
        kubelet_host_port(node).ok_or_else(|| ProxyError::NoAddress(node_name.to_string()))?;
    Ok(match host.parse::<std::net::Ipv6Addr>() {
        Ok(v6) => format!("[{v6}]:{port}"),
        Err(_) => format!("{host}:{port}"),
    })
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

/// Opens one HTTPS (HTTP/1.1) connection to a kubelet, driving it on its own task.
async fn connect(app: &AppState, addr: &str, upgrades: bool) -> Result<Sender, ProxyError> {
    let dial = |source| ProxyError::Dial {
        addr: addr.to_string(),
        source,
    };
    let tcp = tokio::time::timeout(DIAL_TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| dial(std::io::Error::from(std::io::ErrorKind::TimedOut)))?
        .map_err(dial)?;
    let _ = tcp.set_nodelay(true);
    let tls = tokio::time::timeout(
        DIAL_TIMEOUT,
        super::kubelet_client::handshake(app.kubelet_tls.clone(), tcp, addr),
    )
    .await
    .map_err(|_| ProxyError::Tls(std::io::Error::from(std::io::ErrorKind::TimedOut)))?
    .map_err(ProxyError::Tls)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(tls).await?;
    tokio::spawn(async move {
        let result = if upgrades {
            conn.with_upgrades().await
        } else {
            conn.await
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "kubelet connection ended");
        }
    });
    Ok(sender)
}

/// The kubelet's error answer as a Status: passed through when it is one, wrapped otherwise.
async fn kubelet_error(resp: hyper::Response<hyper::body::Incoming>) -> ApiError {
    let code = resp.status().as_u16();
    let body = match Limited::new(resp.into_body(), MAX_ERROR_BODY)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => return ApiError::internal(format!("reading the kubelet's answer: {e}")),
    };
    error_from_kubelet(code, &body)
}

/// Builds the client's error from a kubelet's non-success status code and body.
pub fn error_from_kubelet(code: u16, body: &[u8]) -> ApiError {
    let status: Option<Value> = serde_json::from_slice(body).ok();
    let message = status
        .as_ref()
        .and_then(|s| s.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    let reason = match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        _ => "InternalError",
    };
    ApiError::new(code, reason, message)
}

/// Forwards the client's upgrade request to the kubelet; on `101` from the kubelet, answers the
/// client with the kubelet's handshake and splices both connections until either side ends.
async fn upgrade(app: &AppState, node: &str, path: String, call: Call) -> ApiResult<Response> {
    let wants_upgrade = super::reverse_proxy::is_upgrade(&call.headers);
    let Some(client_upgrade) = call.upgrade.filter(|_| wants_upgrade) else {
        return Err(ApiError::bad_request("Upgrade request required"));
    };
    let addr = kubelet_address(app, node).await?;
    let mut sender = connect(app, &addr, true).await?;
    let mut builder = hyper::Request::builder()
        .method(call.method.clone())
        .uri(path);
    if let Some(h) = builder.headers_mut() {
        *h = forwarded_headers(&call.headers);
        if let Ok(host) = HeaderValue::from_str(&addr) {
            h.insert(header::HOST, host);
        }
    }
    let req = builder
        .body(Empty::<Bytes>::new())
        .map_err(ProxyError::from)?;
    let mut resp = sender.send_request(req).await.map_err(ProxyError::from)?;
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Err(kubelet_error(resp).await);
    }
    let backend_upgrade = hyper::upgrade::on(&mut resp);
    let mut answer = Response::new(Body::empty());
    *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *answer.headers_mut() = resp.headers().clone();
    tokio::spawn(splice(client_upgrade, backend_upgrade));
    Ok(answer)
}

/// The client's headers the kubelet needs: everything but credentials and per-hop framing.
fn forwarded_headers(from: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in from {
        let n = name.as_str();
        let dropped = n == "authorization"
            || n == "host"
            || n == "content-length"
            || n == "transfer-encoding"
            || n.starts_with("impersonate-")
            || n.starts_with("proxy-");
        if !dropped {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Copies bytes both ways; when one direction ends, both connections close (as upstream's
/// proxy does), so neither kubectl nor the kubelet waits on a half-dead session.
pub(crate) async fn splice(client: OnUpgrade, backend: OnUpgrade) {
    let (client, backend) = tokio::join!(client, backend);
    let (client, backend) = match (client, backend) {
        (Ok(c), Ok(b)) => (TokioIo::new(c), TokioIo::new(b)),
        (Err(e), _) | (_, Err(e)) => {
            tracing::debug!(error = %e, "streaming upgrade failed");
            return;
        }
    };
    let (mut client_rd, mut client_wr) = tokio::io::split(client);
    let (mut backend_rd, mut backend_wr) = tokio::io::split(backend);
    tokio::select! {
        r = tokio::io::copy(&mut client_rd, &mut backend_wr) => {
            if let Err(e) = r { tracing::debug!(error = %e, "client to kubelet copy ended"); }
        }
        r = tokio::io::copy(&mut backend_rd, &mut client_wr) => {
            if let Err(e) = r { tracing::debug!(error = %e, "kubelet to client copy ended"); }
        }
    }
    let _ = client_wr.shutdown().await;
    let _ = backend_wr.shutdown().await;
}

/// Percent-encodes one path segment or query value.
fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The raw query without every `key=...` pair, with its leading `?` (or empty).
fn without_key(raw: Option<&str>, key: &str) -> String {
    let kept: Vec<&str> = raw
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| p.split('=').next() != Some(key))
        .collect();
    if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    }
}

#[cfg(test)]
#[path = "proxy_tests.rs"]
mod tests;
