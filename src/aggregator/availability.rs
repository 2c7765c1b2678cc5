//! Upstream's remote availability controller: an APIService with a service is Available when
//! its Service exists, listens on the APIService's port, has a ready endpoint for that port,
//! and the extension server answers its discovery document
//! (`GET /apis/<group>/<version>`, asked as `system:kube-aggregator` in `system:masters` so
//! that its own authorization never fails the check). Each server probes (the document also
//! feeds its discovery); the leader writes the condition, only when it changed.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use bytes::Bytes;
use ferrokube_auth::UserInfo;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::Value;

use super::{endpoint, transport, Aggregator, Probe, Remote};
use crate::registry::Registry;

/// How long the discovery probe waits for an answer (upstream: 6s).
const PROBE_TIMEOUT: Duration = Duration::from_secs(6);
/// The largest discovery document read.
const MAX_DOCUMENT: usize = 4 * 1024 * 1024;
/// The identity the probe asks as (upstream's).
const PROBE_USER: &str = "system:kube-aggregator";
const MANAGER: &str = "kube-apiserver";

/// Checks one remote APIService now.
pub async fn probe(agg: &Aggregator, reg: &Registry, remote: &Remote) -> Probe {
    let addr = match endpoint::resolve(reg, &remote.service).await {
        Ok(addr) => addr,
        Err(e) => {
            return Probe::Failed {
                reason: e.reason.to_string(),
                message: e.message,
            }
        }
    };
    let path = format!("/apis/{}/{}", remote.group, remote.version);
    let url = format!("https://{addr}{path}");
    let failed = |why: String| Probe::Failed {
        reason: "FailedDiscoveryCheck".into(),
        message: format!("failing or missing response from {url}: {why}"),
    };
    let fetched = tokio::time::timeout(PROBE_TIMEOUT, get(agg, remote, &addr, &path)).await;
    match fetched {
        Err(_) => Probe::Failed {
            reason: "FailedDiscoveryCheck".into(),
            message: format!("timed out waiting for {url}"),
        },
        Ok(Err(e)) => failed(format!("Get {url:?}: {e}")),
        Ok(Ok((code, _))) if !code.is_success() && !code.is_redirection() => {
            failed(format!("bad status from {url}: {}", code.as_u16()))
        }
        Ok(Ok((_, body))) => Probe::Passed(serde_json::from_slice(&body).unwrap_or(Value::Null)),
    }
}

/// `GET path` on one endpoint as the probe's identity: the status and body.
pub(super) async fn get(
    agg: &Aggregator,
    remote: &Remote,
    addr: &str,
    path: &str,
) -> Result<(StatusCode, Bytes), String> {
    let tls = agg.transport.dial(remote, addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut headers = HeaderMap::new();
    let user = UserInfo {
        name: PROBE_USER.into(),
        groups: vec![ferrokube_auth::ADMIN_GROUP.into()],
        ..Default::default()
    };
    transport::set_identity(&mut headers, &user);
    headers.insert("accept", HeaderValue::from_static("application/json"));
    let host = format!("{}.{}.svc", remote.service.name, remote.service.namespace);
    headers.insert(
        "host",
        HeaderValue::from_str(&host).map_err(|e| e.to_string())?,
    );
    let mut req = hyper::Request::get(path)
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    *req.headers_mut() = headers;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let code = resp.status();
    let body = Limited::new(resp.into_body(), MAX_DOCUMENT)
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((code, body))
}

/// The `Available` condition a probe calls for: (status, reason, message).
pub fn condition_of(probe: &Probe) -> (String, String, String) {
    match probe {
        Probe::Passed(_) => ("True".into(), "Passed".into(), "all checks passed".into()),
        Probe::Failed { reason, message } => ("False".into(), reason.clone(), message.clone()),
    }
}

/// Writes the condition of every probed remote APIService whose stored one differs.
pub async fn write_conditions(client: &kube::Client, agg: &Aggregator) -> anyhow::Result<()> {
    let api: Api<APIService> = Api::all(client.clone());
    let params = PatchParams::apply(MANAGER).force();
    for entry in agg.entries() {
        let Some(probe) = &entry.probe else { continue };
        let wanted = condition_of(probe);
        let stored = entry.remote.condition.as_ref();
        if stored == Some(&wanted) {
            continue;
        }
        // The transition time moves only when the status does (upstream's SetAPIServiceCondition).
        let since = match stored {
            Some(old) if old.0 == wanted.0 => entry.remote.condition_since.clone(),
            _ => None,
        }
        .unwrap_or_else(crate::registry::meta::now_rfc3339);
        let status = crate::leader_loop::Condition {
            type_: "Available",
            status: &wanted.0,
            reason: &wanted.1,
            message: &wanted.2,
            since: &since,
        }
        .apply_body("apiregistration.k8s.io/v1", "APIService");
        api.patch_status(&entry.remote.name, &params, &Patch::Apply(status))
            .await?;
    }
    Ok(())
}

/// Writes conditions every [`super::REFRESH_INTERVAL`] while this server leads the store.
pub fn spawn(client: kube::Client, state: std::sync::Arc<crate::http::AppState>) {
    let store = state.registry.store.clone();
    crate::leader_loop::spawn(
        store,
        super::REFRESH_INTERVAL,
        "the aggregated APIServices' availability",
        move || {
            let (client, state) = (client.clone(), state.clone());
            async move { write_conditions(&client, &state.aggregator).await }
        },
    );
}
