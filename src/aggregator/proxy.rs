//! Upstream's aggregator proxy handler: a request under a remote group-version, already
//! authenticated and authorized here, is sent unchanged (method, path, query, headers without
//! credentials, body streamed) to one endpoint of the APIService's Service, with the user in
//! the `X-Remote-*` headers; the answer streams back as it comes, so watches pass through.
//! An APIService that is not Available, or whose Service has no endpoint, is upstream's plain
//! `503 service unavailable`; failing to reach the endpoint is a 503 with the error.
//! Upgrade requests (exec-like subresources of extension servers, WebSockets) are forwarded
//! with their upgrade headers; when the extension server switches protocols, the two
//! connections are spliced, as upstream's upgrade-aware proxy does.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use ferrokube_auth::UserInfo;
use hyper_util::rt::TokioIo;

use super::{endpoint, transport, Remote};
use crate::http::reverse_proxy::{forwarded_headers, is_upgrade, HOP_BY_HOP};
use crate::http::AppState;

/// Upstream's `proxyError`: `http.Error`'s plain-text answer.
fn plain(code: StatusCode, message: &str) -> Response {
    let mut resp = Response::new(Body::from(format!("{message}\n")));
    *resp.status_mut() = code;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// Proxies one request to `remote`'s extension server.
pub async fn serve(app: &Arc<AppState>, remote: Remote, req: Request) -> Response {
    // The table is reloaded every couple of seconds; a condition that just turned True is
    // read from the store rather than refused for the rest of that period.
    let remote = if remote.available {
        remote
    } else {
        match super::reload(&app.registry, &remote.name).await {
            Some(fresh) if fresh.available => fresh,
            _ => return plain(StatusCode::SERVICE_UNAVAILABLE, "service unavailable"),
        }
    };
    let Some(user) = req.extensions().get::<UserInfo>().cloned() else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "missing user");
    };
    let addr = match endpoint::resolve(&app.registry, &remote.service).await {
        Ok(addr) => addr,
        Err(e) => {
            tracing::debug!(apiservice = %remote.name, reason = e.reason, "{}", e.message);
            return plain(StatusCode::SERVICE_UNAVAILABLE, "service unavailable");
        }
    };
    match forward(app, &remote, &addr, &user, req).await {
        Ok(resp) => resp,
        Err(why) => {
            tracing::debug!(apiservice = %remote.name, %addr, "proxying: {why}");
            plain(StatusCode::SERVICE_UNAVAILABLE, &why)
        }
    }
}

/// Sends the request over a fresh connection and hands back the streaming answer.
async fn forward(
    app: &AppState,
    remote: &Remote,
    addr: &str,
    user: &UserInfo,
    mut req: Request,
) -> Result<Response, String> {
    let client_upgrade = is_upgrade(req.headers()).then(|| hyper::upgrade::on(&mut req));
    let (parts, body) = req.into_parts();
    let tls = app.aggregator.transport.dial(remote, addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "aggregated API connection ended");
        }
    });
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let mut headers = forwarded_headers(&parts.headers, client_upgrade.is_some());
    transport::set_identity(&mut headers, user);
    let host = format!("{}.{}.svc", remote.service.name, remote.service.namespace);
    headers.insert(
        header::HOST,
        HeaderValue::from_str(&host).map_err(|e| e.to_string())?,
    );
    if let Some(len) = parts.headers.get(header::CONTENT_LENGTH) {
        headers.insert(header::CONTENT_LENGTH, len.clone());
    }
    let mut backend = hyper::Request::builder()
        .method(parts.method)
        .uri(path_and_query)
        .body(body)
        .map_err(|e| e.to_string())?;
    *backend.headers_mut() = headers;
    let mut resp = sender
        .send_request(backend)
        .await
        .map_err(|e| format!("error trying to reach service: {e}"))?;
    if let (Some(client), StatusCode::SWITCHING_PROTOCOLS) = (client_upgrade, resp.status()) {
        let backend = hyper::upgrade::on(&mut resp);
        tokio::spawn(crate::http::proxy::splice(client, backend));
        let mut reply = Response::new(Body::empty());
        *reply.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        *reply.headers_mut() = resp.headers().clone();
        return Ok(reply);
    }
    let (mut parts, body) = resp.into_parts();
    for name in HOP_BY_HOP {
        parts.headers.remove(*name);
    }
    Ok(Response::from_parts(parts, Body::new(body)))
}
