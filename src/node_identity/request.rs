//! Asking the cluster for a node client certificate: a fresh key, a
//! CertificateSigningRequest for `kubernetes.io/kube-apiserver-client-kubelet`, then waiting
//! until the signer has put the certificate into its status (or a decision refused it).

use std::time::{Duration, Instant};

use ferrokube_auth::node_credentials::{node_client_request, NODE_CLIENT_USAGES};
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use kube::api::PostParams;
use kube::Api;

use super::files::Credentials;
use crate::certificates::rules::KUBELET_CLIENT;

/// How often the request is looked at while the first seconds pass (bootstrap is usually
/// approved and signed within them), and afterwards.
const FAST_POLL: Duration = Duration::from_millis(200);
const SLOW_POLL: Duration = Duration::from_secs(2);
const FAST_FOR: Duration = Duration::from_secs(10);
/// Pause before trying again after the API refused or failed.
const RETRY: Duration = Duration::from_secs(2);

/// Gets a certificate for `node` through `client` (bootstrap token or the current node
/// identity), retrying while the API is unreachable; fails when the request is denied.
pub async fn obtain(client: &kube::Client, node: &str) -> anyhow::Result<Credentials> {
    loop {
        match request_once(client, node).await {
            Ok(creds) => return Ok(creds),
            Err(Outcome::Refused(why)) => anyhow::bail!("{why}"),
            Err(Outcome::Retry(why)) => {
                tracing::warn!("requesting a client certificate: {why}; retrying");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// Why one attempt did not give a certificate.
enum Outcome {
    /// The cluster said no (denied, failed, or a 4xx on create): trying again will not help.
    Refused(String),
    /// Something transient (connection, 5xx).
    Retry(String),
}

fn from_kube(e: kube::Error) -> Outcome {
    match &e {
        kube::Error::Api(s) if (400..500).contains(&s.code) && s.code != 429 => {
            Outcome::Refused(format!("the API refused the certificate request: {e}"))
        }
        _ => Outcome::Retry(e.to_string()),
    }
}

async fn request_once(client: &kube::Client, node: &str) -> Result<Credentials, Outcome> {
    let api: Api<CertificateSigningRequest> = Api::all(client.clone());
    let req = node_client_request(node).map_err(|e| Outcome::Refused(e.to_string()))?;
    let csr = CertificateSigningRequest {
        metadata: ObjectMeta {
            generate_name: Some("node-csr-".into()),
            ..Default::default()
        },
        spec: CertificateSigningRequestSpec {
            request: ByteString(req.csr_pem.into_bytes()),
            signer_name: KUBELET_CLIENT.into(),
            usages: Some(NODE_CLIENT_USAGES.iter().map(|u| u.to_string()).collect()),
            ..Default::default()
        },
        status: None,
    };
    let created = api
        .create(&PostParams::default(), &csr)
        .await
        .map_err(from_kube)?;
    let name = created.metadata.name.unwrap_or_default();
    tracing::info!(csr = %name, "waiting for the client certificate request to be approved and signed");
    let cert_pem = wait_for_certificate(&api, &name).await?;
    Credentials::new(cert_pem, req.key_pem).map_err(Outcome::Refused)
}

/// Polls the request until it carries a certificate; a Denied or Failed condition ends it.
async fn wait_for_certificate(
    api: &Api<CertificateSigningRequest>,
    name: &str,
) -> Result<String, Outcome> {
    let began = Instant::now();
    let mut last_note = began;
    loop {
        let csr = api.get(name).await.map_err(from_kube)?;
        let status = csr.status.unwrap_or_default();
        if let Some(cert) = status.certificate.filter(|c| !c.0.is_empty()) {
            return String::from_utf8(cert.0).map_err(|e| Outcome::Refused(e.to_string()));
        }
        if let Some(c) = status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Denied" || c.type_ == "Failed")
        {
            return Err(Outcome::Refused(format!(
                "certificate request {name} {}: {}",
                c.type_.to_lowercase(),
                c.message.as_deref().unwrap_or_default()
            )));
        }
        if last_note.elapsed() > Duration::from_secs(30) {
            last_note = Instant::now();
            tracing::warn!(
                csr = %name,
                "still waiting for approval (is a controller manager running? \
                 `kubectl certificate approve {name}` approves it by hand)"
            );
        }
        let pause = if began.elapsed() < FAST_FOR {
            FAST_POLL
        } else {
            SLOW_POLL
        };
        tokio::time::sleep(pause).await;
    }
}
