//! Auto-approval of kubelet client certificates (upstream kube-controller-manager's
//! `csrapproving` controller): a `kubernetes.io/kube-apiserver-client-kubelet` request whose
//! content is a node client certificate is approved when a SubjectAccessReview says its
//! requester may create `certificatesigningrequests/selfnodeclient` (a node renewing its own
//! certificate: CN = the requester) or `certificatesigningrequests/nodeclient` (a bootstrap
//! token's first request). Anything else is left to a human (`kubectl certificate approve`).

use futures::StreamExt;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use serde_json::json;

use super::rules;

/// One kind of request the approver recognises and the permission its requester needs.
struct Recognizer {
    subresource: &'static str,
    self_only: bool,
    message: &'static str,
}

/// Upstream's order: a node renewing its own certificate first, then bootstrap requests.
const RECOGNIZERS: &[Recognizer] = &[
    Recognizer {
        subresource: "selfnodeclient",
        self_only: true,
        message: "Auto approving self kubelet client certificate after SubjectAccessReview.",
    },
    Recognizer {
        subresource: "nodeclient",
        self_only: false,
        message: "Auto approving kubelet client certificate after SubjectAccessReview.",
    },
];

/// Runs the approver until the process ends (the watcher restarts itself on errors).
pub async fn run(client: kube::Client) {
    let api: Api<CertificateSigningRequest> = Api::all(client.clone());
    let reviews: Api<SubjectAccessReview> = Api::all(client);
    let mut stream =
        std::pin::pin!(watcher(api.clone(), watcher::Config::default()).default_backoff());
    while let Some(event) = stream.next().await {
        let csr = match event {
            Ok(watcher::Event::Apply(csr) | watcher::Event::InitApply(csr)) => csr,
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!("csr approver watch: {e}");
                continue;
            }
        };
        if let Err(e) = handle(&api, &reviews, &csr).await {
            let name = csr.metadata.name.as_deref().unwrap_or_default();
            tracing::warn!("csr approver: {name}: {e}");
        }
    }
}

/// Whether the request is still waiting for a decision.
fn pending(csr: &CertificateSigningRequest) -> bool {
    let Some(status) = &csr.status else {
        return true;
    };
    let issued = status.certificate.as_ref().is_some_and(|c| !c.0.is_empty());
    let decided = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Approved" || c.type_ == "Denied");
    !issued && !decided
}

/// The recognizers that fit the request's content (upstream `isNodeClientCert` and
/// `isSelfNodeClientCert`): the kubelet client signer, a node subject, client usages.
fn recognized(csr: &CertificateSigningRequest) -> Vec<&'static Recognizer> {
    if csr.spec.signer_name != rules::KUBELET_CLIENT {
        return Vec::new();
    }
    let Ok(parsed) = crate::registry::csr::parse_request(&csr.spec.request.0) else {
        return Vec::new();
    };
    let usages = csr.spec.usages.clone().unwrap_or_default();
    if rules::check(rules::KUBELET_CLIENT, &parsed, &usages).is_err() {
        return Vec::new();
    }
    let cn = parsed
        .params
        .distinguished_name
        .get(&rcgen::DnType::CommonName)
        .map(rules::dn_text);
    let requester = csr.spec.username.as_deref();
    RECOGNIZERS
        .iter()
        .filter(|r| !r.self_only || (cn.is_some() && cn.as_deref() == requester))
        .collect()
}

async fn handle(
    api: &Api<CertificateSigningRequest>,
    reviews: &Api<SubjectAccessReview>,
    csr: &CertificateSigningRequest,
) -> anyhow::Result<()> {
    if !pending(csr) {
        return Ok(());
    }
    let candidates = recognized(csr);
    for r in &candidates {
        if !requester_may(reviews, csr, r.subresource).await? {
            continue;
        }
        let name = csr.metadata.name.clone().unwrap_or_default();
        let conditions = super::conditions_with(csr, "Approved", "AutoApproved", r.message);
        // The resourceVersion guards against approving over a decision made meanwhile.
        let patch = Patch::Merge(json!({
            "metadata": {"resourceVersion": csr.metadata.resource_version},
            "status": {"conditions": conditions},
        }));
        api.patch_approval(&name, &PatchParams::default(), &patch)
            .await?;
        tracing::info!(csr = %name, "{}", r.message);
        return Ok(());
    }
    if !candidates.is_empty() {
        tracing::debug!(
            csr = csr.metadata.name.as_deref().unwrap_or_default(),
            "recognized as a node client request but the SubjectAccessReview was not approved"
        );
    }
    Ok(())
}

/// Upstream's `authorize`: may the request's author create `certificatesigningrequests/<sub>`?
async fn requester_may(
    reviews: &Api<SubjectAccessReview>,
    csr: &CertificateSigningRequest,
    subresource: &str,
) -> anyhow::Result<bool> {
    let spec = &csr.spec;
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: spec.username.clone(),
            uid: spec.uid.clone(),
            groups: spec.groups.clone(),
            extra: spec.extra.clone(),
            resource_attributes: Some(ResourceAttributes {
                group: Some("certificates.k8s.io".into()),
                resource: Some("certificatesigningrequests".into()),
                subresource: Some(subresource.into()),
                verb: Some("create".into()),
                version: Some("*".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let answer = reviews.create(&PostParams::default(), &review).await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}
