//! The proxy subresources' HTTP side (upstream's `UpgradeAwareHandler` with its wrapping
//! `Transport`): the kind's locator names a backend, and the client's request — any method,
//! its headers, body and query, the path after `/proxy` — is sent there; the answer comes back
//! with hop-by-hop and CORS headers dropped and same-host links rewritten to go through the
//! proxy again. An upgrade request (WebSocket) is forwarded and spliced once the backend
//! switches protocols. Failing to reach the backend is upstream's 503 "error trying to reach
//! service".

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use super::link_rewrite::{clean_path, LinkRewriter};
use super::resources::Call;
use super::AppState;
use crate::registry::subresource::{Locate, LocateFn, ProxyTarget, Transport};
use crate::status::{ApiError, ApiResult};

/// How long reaching a backend may take (upstream's proxy dialer uses 30s).
const DIAL_TIMEOUT: Duration = Duration::from_secs(30);

/// The most of an HTML page read to rewrite its links.
const MAX_REWRITTEN_PAGE: usize = 32 * 1024 * 1024;

/// Methods the proxy carries (upstream's `proxyMethods`).
const PROXY_METHODS: &[Method] = &[
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::HEAD,
    Method::OPTIONS,
];

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1, as Go's
/// `httputil.ReverseProxy`), plus the client's credentials, which upstream's authentication
/// and impersonation filters strip before any handler.
pub(crate) const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Backend CORS headers upstream's `corsRemovingTransport` drops: the API server's origin
/// policy, not a pod's, applies to what it serves.
const CORS: &[&str] = &[
    "access-control-allow-credentials",
    "access-control-allow-headers",
    "access-control-allow-methods",
    "access-control-allow-origin",
];

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Serves one proxy subresource request (the caller found `locate` on the kind).
pub async fn serve(app: &Arc<AppState>, locate: LocateFn, call: Call) -> ApiResult<Response> {
    if !PROXY_METHODS.contains(&call.method) {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({} {}/proxy)",
            call.method, call.info.resource
        )));
    }
    // Upstream routes on the decoded path: clients escape `:` in ids and `/` in subpaths.
    let id = decode(call.info.name.as_deref().unwrap_or(""));
    let target = locate(Locate {
        registry: &app.registry,
        namespace: call.info.namespace.as_deref(),
        id: &id,
    })
    .await?;
    let raw_subpath = call.info.subpath.clone().unwrap_or_default();
    let path = backend_path(&decode(&raw_subpath));
    if path.is_empty() && matches!(call.method, Method::GET | Method::HEAD) {
        // Upstream's redirect of the bare `.../proxy` to `.../proxy/` (issue 4958).
        return Ok(redirect_to_slash(&call));
    }
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        path
    };
    let io = dial(app, &target).await.map_err(unreachable)?;
    if is_upgrade(&call.headers) {
        return upgrade(io, &target, &path, call).await;
    }
    forward(io, &target, (&path, &raw_subpath), call).await
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// What Go's `url.URL` escapes in a path: everything but unreserved characters, `/` and
/// the sub-delimiters `$&+,:;=@`.
const PATH_ESCAPES: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b'\'')
    .add(b'!')
    .add(b'(')
    .add(b')')
    .add(b'*');

/// The backend path: the decoded subpath cleaned as Go's `path.Join`, keeping a trailing
/// slash, escaped for the request line.
fn backend_path(subpath: &str) -> String {
    if subpath.is_empty() {
        return String::new();
    }
    let mut path = clean_path(subpath);
    if subpath.ends_with('/') && !path.ends_with('/') {
        path.push('/');
    }
    percent_encoding::utf8_percent_encode(&path, PATH_ESCAPES).to_string()
}

fn redirect_to_slash(call: &Call) -> Response {
    let query = call
        .raw_query
        .as_deref()
        .filter(|q| !q.is_empty())
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let location = format!("{}/{query}", call.uri.path());
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// Upstream's answer when the backend cannot be reached or spoken to.
fn unreachable(why: String) -> ApiError {
    ApiError::unavailable(format!("error trying to reach service: {why}"))
}

/// Opens the connection to the backend: plain TCP, TLS without verification (`https` to a
/// pod or endpoint, as upstream's proxy transport), or the kubelet's verified TLS.
async fn dial(app: &AppState, target: &ProxyTarget) -> Result<Box<dyn Io>, String> {
    let addr = with_default_port(&target.authority, target.scheme);
    let tcp = tokio::time::timeout(DIAL_TIMEOUT, tokio::net::TcpStream::connect(&addr))
        .await
        .map_err(|_| format!("dial tcp {addr}: i/o timeout"))?
        .map_err(|e| format!("dial tcp {addr}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let config = match (target.transport, target.scheme) {
        (Transport::Kubelet, _) => app.kubelet_tls.clone(),
        (Transport::Direct, "https") => ferrokube_auth::insecure_client_config(),
        (Transport::Direct, _) => return Ok(Box::new(tcp)),
    };
    let name = super::kubelet_client::server_name(&addr)?;
    let tls = tokio::time::timeout(
        DIAL_TIMEOUT,
        tokio_rustls::TlsConnector::from(config).connect(name, tcp),
    )
    .await
    .map_err(|_| "net/http: TLS handshake timeout".to_string())?
    .map_err(|e| format!("tls: {e}"))?;
    Ok(Box::new(tls))
}

/// `host:port` for dialing: the scheme's port when the authority names none.
fn with_default_port(authority: &str, scheme: &str) -> String {
    let has_port = match authority.strip_prefix('[') {
        Some(v6) => v6.contains("]:"),
        None => authority.contains(':'),
    };
    if has_port {
        authority.to_string()
    } else {
        format!("{authority}:{}", if scheme == "https" { 443 } else { 80 })
    }
}

/// The request line and headers the backend gets.
fn backend_request(
    target: &ProxyTarget,
    path: &str,
    call: &Call,
    keep_upgrade: bool,
) -> ApiResult<hyper::http::request::Builder> {
    let query = call
        .raw_query
        .as_deref()
        .filter(|q| !q.is_empty())
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let mut builder = hyper::Request::builder()
        .method(call.method.clone())
        .uri(format!("{path}{query}"));
    let headers = builder
        .headers_mut()
        .ok_or_else(|| ApiError::internal("building the proxied request"))?;
    *headers = forwarded_headers(&call.headers, keep_upgrade);
    // HTTP/2 clients carry the host in the URI; Go's proxy forwards the request's host.
    let host = call
        .headers
        .get(header::HOST)
        .cloned()
        .or_else(|| {
            call.uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        })
        .or_else(|| HeaderValue::from_str(&target.authority).ok());
    if let Some(host) = host {
        headers.insert(header::HOST, host);
    }
    if let Ok(uri) = HeaderValue::from_str(call.uri.path()) {
        headers.insert(HeaderName::from_static("x-forwarded-uri"), uri);
    }
    Ok(builder)
}

/// The client's headers without per-connection ones and credentials.
pub(crate) fn forwarded_headers(from: &HeaderMap, keep_upgrade: bool) -> HeaderMap {
    let listed: Vec<String> = from
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::new();
    for (name, value) in from {
        let n = name.as_str();
        let upgrade_header = keep_upgrade && matches!(n, "connection" | "upgrade");
        let dropped = HOP_BY_HOP.contains(&n)
            || listed.iter().any(|l| l == n)
            || n == "authorization"
            || n == "host"
            || n == "content-length"
            || n.starts_with("impersonate-");
        if upgrade_header || !dropped {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Whether the request asks to switch protocols (`Connection: upgrade` plus an `Upgrade`).
pub(crate) fn is_upgrade(headers: &HeaderMap) -> bool {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        });
    connection_upgrade && headers.contains_key(header::UPGRADE)
}

/// One request and its answer over the backend connection.
async fn forward(
    io: Box<dyn Io>,
    target: &ProxyTarget,
    (path, raw_subpath): (&str, &str),
    call: Call,
) -> ApiResult<Response> {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "proxied connection ended");
        }
    });
    let req = backend_request(target, path, &call, false)?
        .body(Full::new(call.body.clone()))
        .map_err(|e| ApiError::internal(format!("building the proxied request: {e}")))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    // Upstream's prefix is of the decoded path (`echo:80`, not `echo%3A80`).
    let request_path = decode(call.uri.path());
    let rewriter = LinkRewriter {
        prefix: path_prefix(&request_path, &decode(raw_subpath)),
        backend_host: &target.authority,
        request_host: call
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or(call.uri.authority().map(|a| a.as_str()))
            .unwrap_or(""),
    };
    answer(resp, &rewriter).await
}

/// The part of the request path before the subpath (upstream's `PathPrepend`).
fn path_prefix<'a>(request_path: &'a str, subpath: &str) -> &'a str {
    let mut suffix = subpath.to_string();
    if request_path.ends_with('/') && !suffix.ends_with('/') {
        suffix.push('/');
    }
    request_path
        .strip_suffix(suffix.as_str())
        .unwrap_or(request_path)
}

/// The backend's answer for the client: headers filtered, redirects and HTML links rewritten.
async fn answer(
    resp: hyper::Response<hyper::body::Incoming>,
    rewriter: &LinkRewriter<'_>,
) -> ApiResult<Response> {
    let (mut parts, body) = resp.into_parts();
    for name in HOP_BY_HOP.iter().chain(CORS) {
        parts.headers.remove(*name);
    }
    if let Some(location) = parts
        .headers
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
    {
        if let Ok(v) = HeaderValue::from_str(&rewriter.rewrite_url(location)) {
            parts.headers.insert(header::LOCATION, v);
        }
        return Ok(Response::from_parts(parts, Body::new(body)));
    }
    let html = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.split(';').next().unwrap_or("").trim() == "text/html");
    let encoding = parts
        .headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !html || !matches!(encoding.as_str(), "" | "gzip" | "deflate") {
        return Ok(Response::from_parts(parts, Body::new(body)));
    }
    let page = Limited::new(body, MAX_REWRITTEN_PAGE)
        .collect()
        .await
        .map_err(|e| unreachable(format!("reading the backend's page: {e}")))?
        .to_bytes();
    let page =
        super::page_codec::rewrite_encoded(&page, &encoding, |text| rewriter.rewrite_html(text))
            .map_err(|e| ApiError::internal(format!("failed to rewrite URLs: {e}")))?;
    parts.headers.remove(header::CONTENT_LENGTH);
    Ok(Response::from_parts(parts, Body::from(page)))
}

/// Forwards an upgrade request; on `101` splices the client and backend connections, any
/// other answer of 400 or more is passed back, below that it is upstream's error.
async fn upgrade(
    io: Box<dyn Io>,
    target: &ProxyTarget,
    path: &str,
    mut call: Call,
) -> ApiResult<Response> {
    let Some(client_upgrade) = call.upgrade.take() else {
        return Err(ApiError::bad_request("Upgrade request required"));
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "proxied upgrade connection ended");
        }
    });
    let req = backend_request(target, path, &call, true)?
        .body(Full::new(call.body.clone()))
        .map_err(|e| ApiError::internal(format!("building the proxied request: {e}")))?;
    let mut resp = sender
        .send_request(req)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let code = resp.status();
    if code != StatusCode::SWITCHING_PROTOCOLS {
        if code.as_u16() < 400 {
            return Err(ApiError::internal(format!(
                "invalid upgrade response: status code {}",
                code.as_u16()
            )));
        }
        let (parts, body) = resp.into_parts();
        return Ok(Response::from_parts(parts, Body::new(body)));
    }
    let backend_upgrade = hyper::upgrade::on(&mut resp);
    let mut reply = Response::new(Body::empty());
    *reply.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *reply.headers_mut() = resp.headers().clone();
    tokio::spawn(super::proxy::splice(client_upgrade, backend_upgrade));
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_paths_keep_the_trailing_slash() {
        assert_eq!(backend_path(""), "");
        assert_eq!(backend_path("/"), "/");
        assert_eq!(backend_path("/some/path/"), "/some/path/");
        assert_eq!(backend_path("/a/../b"), "/b");
        assert_eq!(backend_path("/a b/%?"), "/a%20b/%25%3F");
        assert_eq!(with_default_port("10.0.0.1", "https"), "10.0.0.1:443");
        assert_eq!(with_default_port("10.0.0.1:8", "http"), "10.0.0.1:8");
        assert_eq!(with_default_port("[::1]", "http"), "[::1]:80");
        assert_eq!(with_default_port("[::1]:9", "http"), "[::1]:9");
        assert_eq!(
            path_prefix("/api/v1/namespaces/n/pods/p/proxy/x/", "/x/"),
            "/api/v1/namespaces/n/pods/p/proxy"
        );
        assert_eq!(
            path_prefix("/api/v1/namespaces/n/pods/p/proxy/", "/"),
            "/api/v1/namespaces/n/pods/p/proxy"
        );
    }

    #[test]
    fn credentials_and_hop_headers_stay_here() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer x"));
        h.insert("impersonate-user", HeaderValue::from_static("bob"));
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("x-kept", HeaderValue::from_static("2"));
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        let out = forwarded_headers(&h, false);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out["x-kept"], "2");
        let out = forwarded_headers(&h, true);
        assert!(out.contains_key("upgrade") && out.contains_key("connection"));
        assert!(!out.contains_key("authorization"));
    }
}
