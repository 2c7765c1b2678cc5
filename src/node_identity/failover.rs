//! A kube client over several API servers (an HA cluster): requests go to the current server;
//! when it cannot be reached (connection refused, TLS or transport failure before any answer)
//! the same request is sent to the next one, which then stays current. A server that answers,
//! even with an error Status, is never skipped: an answered write must not be sent twice.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::{Request, Response};
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use kube::client::Body;

use super::retry::bounded_client;

/// Builds one client per URL from `config` and routes between them.
pub fn client(config: &kube::Config, urls: &[axum::http::Uri]) -> anyhow::Result<kube::Client> {
    let mut clients = vec![bounded_client(config.clone())?];
    for url in urls {
        let mut c = config.clone();
        c.cluster_url = url.clone();
        clients.push(bounded_client(c)?);
    }
    if clients.len() == 1 {
        return Ok(clients.remove(0));
    }
    let namespace = config.default_namespace.clone();
    let route = Failover(Arc::new(Inner {
        clients,
        current: AtomicUsize::new(0),
    }));
    Ok(kube::Client::new(route, namespace))
}

struct Inner {
    clients: Vec<kube::Client>,
    current: AtomicUsize,
}

#[derive(Clone)]
struct Failover(Arc<Inner>);

/// Errors that mean the server never answered.
fn unreachable(e: &kube::Error) -> bool {
    matches!(e, kube::Error::HyperError(_) | kube::Error::Service(_))
}

impl tower::Service<Request<Body>> for Failover {
    type Response = Response<Body>;
    type Error = kube::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, kube::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let inner = self.0.clone();
        Box::pin(async move {
            // Agent requests are small: keep the body so the request can be sent again.
            let (parts, body) = req.into_parts();
            let bytes = body
                .collect()
                .await
                .map_err(|e| kube::Error::Service(Box::new(e)))?
                .to_bytes();
            let n = inner.clients.len();
            let start = inner.current.load(Ordering::Acquire);
            let mut last = None;
            for k in 0..n {
                let i = (start + k) % n;
                let mut req = Request::new(Body::from(bytes.to_vec()));
                *req.method_mut() = parts.method.clone();
                *req.uri_mut() = parts.uri.clone();
                *req.headers_mut() = parts.headers.clone();
                match inner.clients[i].send(req).await {
                    Ok(resp) => {
                        if i != start {
                            tracing::info!(server = i, "API server failover");
                            inner.current.store(i, Ordering::Release);
                        }
                        return Ok(resp);
                    }
                    Err(e) if unreachable(&e) => last = Some(e),
                    Err(e) => return Err(e),
                }
            }
            Err(last.unwrap_or_else(|| kube::Error::Service("no API server configured".into())))
        })
    }
}
