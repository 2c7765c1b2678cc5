//! Automatic approval of kubelet serving certificates. Upstream leaves requests for
//! `kubernetes.io/kubelet-serving` to an administrator (or an external approver); like k3s we
//! approve them ourselves, but only a request a node makes for itself: the requester is
//! `system:node:<name>` with `<name>` the request's CN, the subject is `system:nodes`, the
//! names are only DNS names and IP addresses, and the usages are exactly the serving ones.
//! Anything else stays pending for a human. Runs as the controller manager, which holds
//! `approve` on that signer only.

use std::collections::HashSet;

use futures::StreamExt;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::api::{Patch, PatchParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use rcgen::{DnType, DnValue};
use serde_json::json;

use super::rules;

/// The reason on our approvals (upstream's auto-approver uses the same).
pub const REASON: &str = "AutoApproved";
/// The message on our approvals.
pub const MESSAGE: &str =
    "Auto approving kubelet serving certificate requested by the node itself.";

/// Whether `username` may obtain a serving certificate for node `node`: only the node itself.
pub fn may_request_serving_cert(username: &str, node: &str) -> bool {
    username
        .strip_prefix("system:node:")
        .is_some_and(|n| n == node)
}

/// Why a request is not approved automatically; None when it is approved.
pub fn refusal(csr: &CertificateSigningRequest) -> Option<String> {
    if csr.spec.signer_name != rules::KUBELET_SERVING {
        return Some("not a kubelet serving request".into());
    }
    let parsed = match crate::registry::csr::parse_request(&csr.spec.request.0) {
        Ok(parsed) => parsed,
        Err(e) => return Some(e),
    };
    let usages = csr.spec.usages.clone().unwrap_or_default();
    // The signer's own policy: system:nodes, a system:node: CN, DNS/IP names only, and the
    // serving usages exactly.
    if let Err(why) = rules::check(rules::KUBELET_SERVING, &parsed, &usages) {
        return Some(why);
    }
    let cn = parsed
        .params
        .distinguished_name
        .get(&DnType::CommonName)
        .map(|v| match v {
            DnValue::Utf8String(s) => s.clone(),
            DnValue::PrintableString(s) => s.as_str().to_string(),
            other => format!("{other:?}"),
        })
        .unwrap_or_default();
    let node = cn.strip_prefix("system:node:").unwrap_or_default();
    let username = csr.spec.username.as_deref().unwrap_or_default();
    if !may_request_serving_cert(username, node) {
        return Some(format!(
            "{username:?} may not request a serving certificate for {cn:?}"
        ));
    }
    None
}

fn settled(csr: &CertificateSigningRequest) -> bool {
    csr.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| {
            c.iter()
                .any(|c| c.type_ == "Approved" || c.type_ == "Denied" || c.type_ == "Failed")
        })
}

/// Watches requests and approves the ones [`refusal`] lets through; runs until the process
/// ends (the watcher restarts itself on errors).
pub async fn run(client: kube::Client) {
    let api: Api<CertificateSigningRequest> = Api::all(client);
    let mut stream =
        std::pin::pin!(watcher(api.clone(), watcher::Config::default()).default_backoff());
    // Requests we already judged and left pending, so each is logged once.
    let mut left_pending: HashSet<String> = HashSet::new();
    while let Some(event) = stream.next().await {
        let csr = match event {
            Ok(watcher::Event::Apply(csr) | watcher::Event::InitApply(csr)) => csr,
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!("serving certificate approver watch: {e}");
                continue;
            }
        };
        if csr.spec.signer_name != rules::KUBELET_SERVING || settled(&csr) {
            continue;
        }
        let name = csr.metadata.name.clone().unwrap_or_default();
        if let Some(why) = refusal(&csr) {
            if left_pending.insert(name.clone()) {
                tracing::info!(csr = %name, "kubelet serving request left for manual approval: {why}");
            }
            continue;
        }
        approve(&api, &csr, &name).await;
    }
}

async fn approve(
    api: &Api<CertificateSigningRequest>,
    csr: &CertificateSigningRequest,
    name: &str,
) {
    let conditions = super::conditions_with(csr, "Approved", REASON, MESSAGE);
    let patch = Patch::Merge(json!({ "status": { "conditions": conditions } }));
    match api
        .patch_approval(name, &PatchParams::default(), &patch)
        .await
    {
        Ok(_) => tracing::info!(csr = %name, "approved kubelet serving certificate request"),
        Err(e) => tracing::warn!(csr = %name, "approving kubelet serving request: {e}"),
    }
}

#[cfg(test)]
#[path = "serving_approval_tests.rs"]
mod tests;
