//! The API server's own reconcilers (the `kubernetes` Service, the default ServiceCIDR, the
//! local APIServices) run on the raft leader only, so the servers of an HA cluster do not take
//! turns rewriting the same objects; each pass's failure is logged and retried next period.

use std::future::Future;
use std::time::Duration;

/// Runs `pass` now and every `period` while this server leads `store`, for as long as the
/// process runs; `what` names the reconciler in the warning a failed pass logs.
pub fn spawn<F, Fut>(
    store: ferrokube_store::Store,
    period: Duration,
    what: &'static str,
    mut pass: F,
) where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    tokio::spawn(async move {
        loop {
            if store.is_leader() {
                if let Err(e) = pass().await {
                    tracing::warn!("reconciling {what}: {e:#}");
                }
            }
            tokio::time::sleep(period).await;
        }
    });
}
