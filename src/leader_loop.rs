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

/// One status condition a reconciler sets on an object it owns.
pub struct Condition<'a> {
    pub type_: &'a str,
    pub status: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
    /// `lastTransitionTime` (RFC 3339).
    pub since: &'a str,
}

impl Condition<'_> {
    /// The server-side-apply body of the status subresource that sets this condition on a
    /// `kind` of `api_version`.
    pub fn apply_body(&self, api_version: &str, kind: &str) -> serde_json::Value {
        serde_json::json!({
            "apiVersion": api_version, "kind": kind,
            "status": {"conditions": [{
                "type": self.type_, "status": self.status, "reason": self.reason,
                "message": self.message, "lastTransitionTime": self.since,
            }]},
        })
    }
}
