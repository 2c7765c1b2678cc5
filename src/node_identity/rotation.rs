//! Renewal of the node's client certificate (upstream's certificate manager): at a jittered
//! 70–84% of its lifetime the agent makes a new key, asks for a certificate under its current
//! identity (approved as `selfnodeclient`), stores it, and switches its client. Pods are not
//! touched; a failed attempt is retried with back-off.

use std::time::{Duration, SystemTime};

use ferrokube_auth::node_credentials::rotation_deadline;

use super::files::{self, Credentials};
use super::{request, Bootstrap, SwitchableClient};

/// Back-off between failed renewals.
const MIN_RETRY: Duration = Duration::from_secs(2);
const MAX_RETRY: Duration = Duration::from_secs(300);

/// Renews forever (the task ends with the process).
pub async fn run(boot: Bootstrap, switchable: SwitchableClient, mut creds: Credentials) {
    let path = boot.credentials_path();
    loop {
        let deadline = rotation_deadline(&creds.validity, rand::random::<f64>());
        let wait = deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        tracing::info!(
            in_seconds = wait.as_secs(),
            "client certificate renewal scheduled"
        );
        tokio::time::sleep(wait).await;
        let mut retry = MIN_RETRY;
        creds = loop {
            match renew(&boot, &switchable, &path).await {
                Ok(next) => break next,
                Err(e) => {
                    tracing::warn!("renewing the client certificate: {e:#}");
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(MAX_RETRY);
                }
            }
        };
    }
}

async fn renew(
    boot: &Bootstrap,
    switchable: &SwitchableClient,
    path: &std::path::Path,
) -> anyhow::Result<Credentials> {
    // Asked as the node itself, so the approver sees a self-renewal.
    let next = request::obtain(&switchable.client(), &boot.node_name).await?;
    files::store(path, &next)?;
    switchable.switch(boot.cert_client(&next)?);
    tracing::info!(
        expires_in_seconds = next
            .validity
            .not_after
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .as_secs(),
        "client certificate renewed"
    );
    Ok(next)
}
