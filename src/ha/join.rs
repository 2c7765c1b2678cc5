//! Joining a cluster. The joiner presents the join token to a member's `POST /join` and gets
//! the cluster's shared secrets (CA, service-account key, join token), installs them, and later
//! asks to be added as a member ([`ferrokube_store::Store::join`]).
//!
//! Trust: the joiner has no CA yet, so it cannot verify the member's certificate on this one
//! call (like a k3s token without its CA hash); it relies on reaching the right address. The
//! member side requires the token; everything after the join is mutual TLS with the CA.

use std::path::Path;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferrokube_auth::ClusterSecrets;
use serde::{Deserialize, Serialize};

use super::member_file::{new_node_id, MemberFile};
use super::peer_server::{bearer, PeerState};
use super::HaOptions;

/// The answer to a join.
#[derive(Serialize, Deserialize)]
pub struct JoinResponse {
    /// The cluster's shared secrets.
    pub secrets: ClusterSecrets,
}

/// Compares in time independent of where the strings differ (the token is a secret).
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// `POST /join` on the peer listener.
pub async fn serve_join(State(state): State<Arc<PeerState>>, headers: HeaderMap) -> Response {
    let ok = bearer(&headers).is_some_and(|t| same_secret(t, &state.secrets.join_token));
    if !ok {
        tracing::warn!("refused a join with a missing or wrong token");
        return (
            StatusCode::UNAUTHORIZED,
            "join refused: the token does not match this cluster's join token\n",
        )
            .into_response();
    }
    Json(JoinResponse {
        secrets: state.secrets.clone(),
    })
    .into_response()
}

/// Fetches the shared secrets from the member at `url` with `token`.
pub async fn fetch_secrets(url: &str, token: &str) -> anyhow::Result<ClusterSecrets> {
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    let resp = http
        .post(format!("{}/join", url.trim_end_matches('/')))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| anyhow::Error::new(e).context(format!("joining {url}")))?;
    let status = resp.status();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        anyhow::bail!("join refused by {url}: wrong join token");
    }
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        anyhow::bail!("join refused by {url}: {status}: {}", text.trim());
    }
    Ok(resp.json::<JoinResponse>().await?.secrets)
}

/// How long a new server keeps trying to reach the member it joins through: replicas started
/// together (a StatefulSet in parallel) come up before the first server listens.
const JOIN_PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

/// [`fetch_secrets`], retried while the member cannot be reached when `patient` (an answer,
/// such as a refused token, ends it at once).
async fn fetch_secrets_patiently(
    url: &str,
    token: &str,
    patient: bool,
) -> anyhow::Result<ClusterSecrets> {
    let deadline = std::time::Instant::now() + JOIN_PATIENCE;
    loop {
        match fetch_secrets(url, token).await {
            Err(e) if patient && unreachable(&e) && std::time::Instant::now() < deadline => {
                tracing::info!("waiting for {url} to answer the join: {e:#}");
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
            other => return other,
        }
    }
}

/// Whether the join failed before any answer (no connection, or none in time).
fn unreachable(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<reqwest::Error>())
        .any(|r| r.is_connect() || r.is_timeout())
}

/// What this start must do about membership.
#[derive(Debug)]
pub struct MemberPlan {
    /// Raft node id.
    pub node_id: u64,
    /// Start a new cluster (first server).
    pub bootstrap: bool,
    /// Peer address of the member to join through, when joining.
    pub join_via: Option<String>,
}

/// Decides the node id and installs the cluster's secrets when joining. A data dir that
/// belongs to another cluster (its CA differs from the one the member sends) is refused.
pub async fn prepare(data_dir: &Path, ha: &HaOptions) -> anyhow::Result<MemberPlan> {
    let existing = MemberFile::load(data_dir)?;
    // Joining oneself is starting the cluster: one pod template serves every replica.
    let own = ha.advertised(ha.peer_listen);
    let join = match &ha.join {
        Some(j) if j.peer_address()? == own => {
            tracing::info!(%own, "--join names this server: starting the cluster");
            None
        }
        other => other.as_ref(),
    };
    let Some(join) = join else {
        return Ok(MemberPlan {
            node_id: existing.map_or(1, |m| m.node_id),
            bootstrap: true,
            join_via: None,
        });
    };
    let via = join.peer_address()?;
    let installed = ferrokube_auth::installed_ca_fingerprint(data_dir)?;
    let mut cluster = existing.as_ref().map(|m| m.cluster.clone());
    match fetch_secrets_patiently(&join.url, &join.token, existing.is_none()).await {
        Ok(secrets) => {
            let theirs = secrets.ca_fingerprint()?;
            cluster = Some(theirs.clone());
            let cluster = theirs;
            if let Some(mine) = installed.as_ref().or(existing.as_ref().map(|m| &m.cluster)) {
                if *mine != cluster {
                    anyhow::bail!(
                        "refusing to join: {} holds data of another cluster (CA {}…, the cluster \
                         at {} has CA {}…); use an empty data dir",
                        data_dir.display(),
                        &mine[..12.min(mine.len())],
                        join.url,
                        &cluster[..12]
                    );
                }
            } else {
                secrets.install(data_dir)?;
            }
        }
        // A member restarting while the server it first joined through is down starts anyway.
        Err(e) if existing.is_some() => {
            tracing::warn!(
                "could not reach {} ({e:#}); starting as a known member",
                join.url
            )
        }
        Err(e) => return Err(e),
    }
    let node_id = existing.as_ref().map_or_else(new_node_id, |m| m.node_id);
    // Recorded before asking to be added, so a crash mid-join restarts with the same id.
    if let (None, Some(cluster)) = (&existing, cluster) {
        MemberFile { node_id, cluster }.save(data_dir)?;
    }
    Ok(MemberPlan {
        node_id,
        bootstrap: false,
        join_via: Some(via),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ha::JoinTarget;

    #[tokio::test]
    async fn a_server_told_to_join_itself_starts_the_cluster() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ha = HaOptions {
            peer_listen: "0.0.0.0:7443".parse().expect("addr"),
            peer_advertise: Some("fk-0.fk-peers.ns.svc.cluster.local:7443".into()),
            join: Some(JoinTarget {
                url: "https://fk-0.fk-peers.ns.svc.cluster.local:7443".into(),
                token: "abcdef.0123456789abcdef".into(),
            }),
        };
        let plan = prepare(dir.path(), &ha).await.expect("plan");
        assert!(plan.bootstrap);
        assert_eq!(plan.node_id, 1);
        assert!(plan.join_via.is_none());
    }
}
