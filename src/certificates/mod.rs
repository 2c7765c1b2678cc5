//! The CertificateSigningRequest signer (upstream kube-controller-manager's `csrsigning`
//! controllers): for approved requests naming one of the built-in signers it issues a
//! certificate from the cluster CA into `status.certificate`, or adds a `Failed` condition
//! when the request does not fit the signer. Requests for other signers are left alone.
//! It is an ordinary API client and runs under the controller manager's identity.

pub mod approver;
pub mod rules;
pub mod serving_approval;

use std::sync::Arc;

use base64::Engine;
use ferrokube_auth::signer::RequestSigner;
use futures::StreamExt;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::api::{Patch, PatchParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use serde_json::{json, Value};

/// Runs the signer until the watch ends (it is restarted by the watcher on errors);
/// certificates last at most `max_ttl` (upstream's `--cluster-signing-duration`).
pub async fn run(client: kube::Client, signer: RequestSigner, max_ttl: std::time::Duration) {
    let api: Api<CertificateSigningRequest> = Api::all(client);
    let signer = Arc::new(signer);
    let mut stream =
        std::pin::pin!(watcher(api.clone(), watcher::Config::default()).default_backoff());
    while let Some(event) = stream.next().await {
        let csr = match event {
            Ok(watcher::Event::Apply(csr) | watcher::Event::InitApply(csr)) => csr,
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!("csr signer watch: {e}");
                continue;
            }
        };
        let Some(status) = decide(&signer, &csr, max_ttl) else {
            continue;
        };
        let name = csr.metadata.name.clone().unwrap_or_default();
        let patch = Patch::Merge(json!({ "status": status }));
        if let Err(e) = api
            .patch_status(&name, &PatchParams::default(), &patch)
            .await
        {
            tracing::warn!("csr signer: updating {name}: {e}");
        }
    }
}

/// The request's conditions with one more (`status: True`, stamped now), as the signer and
/// the approvers write them.
pub(crate) fn conditions_with(
    csr: &CertificateSigningRequest,
    type_: &str,
    reason: &str,
    message: &str,
) -> Value {
    let mut conditions = serde_json::to_value(
        csr.status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default(),
    )
    .unwrap_or_else(|_| json!([]));
    if let Some(list) = conditions.as_array_mut() {
        list.push(json!({
            "type": type_, "status": "True", "reason": reason, "message": message,
            "lastUpdateTime": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        }));
    }
    conditions
}

fn has_condition(csr: &CertificateSigningRequest, ty: &str) -> bool {
    csr.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == ty))
}

/// The status to write for one request, None when there is nothing to do.
fn decide(
    signer: &RequestSigner,
    csr: &CertificateSigningRequest,
    max_ttl: std::time::Duration,
) -> Option<Value> {
    let issued = csr
        .status
        .as_ref()
        .and_then(|s| s.certificate.as_ref())
        .is_some_and(|c| !c.0.is_empty());
    let settled = has_condition(csr, "Denied") || has_condition(csr, "Failed");
    if issued
        || settled
        || !has_condition(csr, "Approved")
        || !rules::is_ours(&csr.spec.signer_name)
    {
        return None;
    }
    let parsed = crate::registry::csr::parse_request(&csr.spec.request.0).ok()?;
    let usages = csr.spec.usages.clone().unwrap_or_default();
    let outcome = rules::check(&csr.spec.signer_name, &parsed, &usages).and_then(|usages| {
        let ttl = rules::ttl(csr.spec.expiration_seconds.map(i64::from), max_ttl);
        signer
            .sign(parsed, &usages, ttl)
            .map_err(|e| format!("signing failed: {e}"))
    });
    Some(match outcome {
        Ok(pem) => json!({
            "certificate": base64::engine::general_purpose::STANDARD.encode(pem),
        }),
        Err(message) => {
            let conditions = conditions_with(csr, "Failed", "SignerValidationFailure", &message);
            json!({ "conditions": conditions })
        }
    })
}
