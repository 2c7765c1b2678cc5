//! A kube client whose credentials can change under it: every request goes through whichever
//! client is current, so a renewed certificate takes effect for the next request while watches
//! already open finish on their connection (the old certificate stays valid until it expires).

use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use axum::http::{Request, Response};
use futures::future::BoxFuture;
use kube::client::Body;

/// Holds the current client; [`SwitchableClient::client`] hands out clients that follow it.
#[derive(Clone)]
pub struct SwitchableClient {
    current: Arc<RwLock<kube::Client>>,
}

impl SwitchableClient {
    /// Starts with `initial`.
    pub fn new(initial: kube::Client) -> SwitchableClient {
        SwitchableClient {
            current: Arc::new(RwLock::new(initial)),
        }
    }

    /// Makes `next` the client for all requests from now on.
    pub fn switch(&self, next: kube::Client) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = next;
    }

    fn current(&self) -> kube::Client {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A client that sends each request through the current one.
    pub fn client(&self) -> kube::Client {
        let namespace = self.current().default_namespace().to_string();
        kube::Client::new(Route(self.clone()), namespace)
    }
}

/// The tower service behind [`SwitchableClient::client`].
#[derive(Clone)]
struct Route(SwitchableClient);

impl tower::Service<Request<Body>> for Route {
    type Response = Response<Body>;
    type Error = kube::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, kube::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let client = self.0.current();
        Box::pin(async move { client.send(req).await })
    }
}
