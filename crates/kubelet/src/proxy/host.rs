//! What the proxy changes on the host outside its nft table, and undoes when it stops: the
//! service CIDR routed onto the pod bridge, `route_localnet` on the bridge, and an ACCEPT in
//! Docker's `DOCKER-USER` chain for DNATed traffic into the bridge.

use super::ProxyConfig;

/// What [`prepare`] changed, for [`HostSetup::undo`].
pub struct HostSetup {
    route_added: bool,
    forward_rule: Option<Vec<String>>,
}

/// Routes the service CIDR onto the pod bridge (so unserved cluster addresses stay on this host
/// while host processes can still connect to ClusterIPs), lets DNATed packets from 127.0.0.1
/// (node ports on localhost) be routed to the bridge, and lets node-port traffic from other
/// machines through Docker's forward policy (DROP for anything it did not publish itself).
pub async fn prepare(cfg: &ProxyConfig) -> HostSetup {
    let sysctl = format!("/proc/sys/net/ipv4/conf/{}/route_localnet", cfg.bridge);
    if let Err(e) = std::fs::write(&sysctl, "1") {
        tracing::warn!(path = %sysctl, error = %e, "node ports on 127.0.0.1 will not work");
    }
    let route_added = match &cfg.service_cidr {
        None => false,
        Some(cidr) => match run("ip", &["route", "add", cidr, "dev", &cfg.bridge]).await {
            Ok(()) => true,
            Err(e) if e.contains("File exists") => false,
            Err(e) => {
                tracing::warn!(%cidr, error = %e, "cannot route the service CIDR locally");
                false
            }
        },
    };
    HostSetup {
        route_added,
        forward_rule: allow_forwarding(cfg).await,
    }
}

impl HostSetup {
    /// Removes the route (when this proxy added it) and the forward rule.
    pub async fn undo(self, cfg: &ProxyConfig) {
        if let (true, Some(cidr)) = (self.route_added, &cfg.service_cidr) {
            let _ = run("ip", &["route", "del", cidr, "dev", &cfg.bridge]).await;
        }
        if let Some(rule) = self.forward_rule {
            let args: Vec<&str> = ["-D", "DOCKER-USER"]
                .into_iter()
                .chain(rule.iter().map(String::as_str))
                .collect();
            let _ = run("iptables", &args).await;
        }
    }
}

/// The DOCKER-USER rule accepting DNATed connections into the bridge, one per proxy (named by
/// its table in a comment), inserted unless already there. None when there is no such chain
/// (no Docker iptables) or no `iptables`.
async fn allow_forwarding(cfg: &ProxyConfig) -> Option<Vec<String>> {
    let rule: Vec<String> = [
        "-o",
        &cfg.bridge,
        "-m",
        "conntrack",
        "--ctstate",
        "DNAT",
        "-m",
        "comment",
        "--comment",
        &format!("{}: service traffic", cfg.table),
        "-j",
        "ACCEPT",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let with = |op: &'static str| -> Vec<&str> {
        [op, "DOCKER-USER"]
            .into_iter()
            .chain(rule.iter().map(String::as_str))
            .collect()
    };
    if run("iptables", &with("-C")).await.is_ok() {
        return Some(rule);
    }
    match run("iptables", &with("-I")).await {
        Ok(()) => Some(rule),
        Err(e) => {
            tracing::warn!(error = %e, "node ports will not be reachable from other machines");
            None
        }
    }
}

async fn run(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = tokio::process::Command::new(cmd)
        .args(args)
        .output()
        .await
        .map_err(|e| format!("running {cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}
