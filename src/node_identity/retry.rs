//! The retry policy of the agent's and the CLI's kube clients.
//!
//! kube-rs's default client retries 429, 503 and 504 up to 15 times with a backoff that grows
//! to 1000 s, so one unavailable server (an HA member that lost its quorum, a request refused
//! by flow control) can stall a caller for many minutes — long after another server could
//! have answered. client-go, which upstream's components use, retries a few times, honouring
//! `Retry-After`, and then returns the error to its caller, whose own loop (an informer's
//! relist, a controller's requeue, a node status tick) decides what next. These clients do the
//! same: a handful of retries over a few seconds, then the Status.

use std::time::Duration;

use kube::client::retry::RetryPolicy;
use kube::client::ClientBuilder;
use tower::buffer::BufferLayer;
use tower::retry::RetryLayer;
use tower::ServiceBuilder;

/// Retries of one request before its 429/503/504 reaches the caller.
const MAX_RETRIES: u32 = 5;
/// The first backoff; each retry doubles it up to [`MAX_DELAY`].
const MIN_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(2);

/// Requests queued for the client's connection task (a retry re-sends through a clone of
/// the service, which the buffer makes cheap).
const QUEUE: usize = 1024;

/// A kube client for `config` whose retries are bounded (see the module notes). Must be
/// called inside a tokio runtime (the buffer's worker is a task).
pub fn bounded_client(mut config: kube::Config) -> anyhow::Result<kube::Client> {
    config.default_retry = false;
    let policy = RetryPolicy::new(MIN_DELAY, MAX_DELAY, MAX_RETRIES, true)?;
    let retrying = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .layer(BufferLayer::new(QUEUE));
    Ok(ClientBuilder::try_from(config)?
        .with_layer(&retrying)
        .build())
}
