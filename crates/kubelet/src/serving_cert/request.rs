//! Obtaining a serving certificate through the API, as upstream's kubelet does with
//! `serverTLSBootstrap`: a fresh key, a CertificateSigningRequest for the signer
//! `kubernetes.io/kubelet-serving` (CN `system:node:<name>`, O `system:nodes`, the node's
//! addresses as SANs), then waiting until it is approved and issued.

use std::time::Duration;

use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use kube::api::{Api, PostParams};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};

use super::store::{StoredCert, SubjectName};

/// The signer of kubelet serving certificates.
pub const KUBELET_SERVING_SIGNER: &str = "kubernetes.io/kubelet-serving";
/// The group every node's certificates carry.
pub const NODES_GROUP: &str = "system:nodes";
/// The usages of a serving certificate.
pub const SERVING_USAGES: [&str; 3] = ["digital signature", "key encipherment", "server auth"];
/// How long we wait for approval and issuance before asking again with a new request
/// (upstream's certificate manager gives up on one request after 15 minutes too).
const WAIT_LIMIT: Duration = Duration::from_secs(15 * 60);
/// How often we look at our request while it is pending.
const POLL: Duration = Duration::from_millis(500);

/// Why no certificate came back.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Building the key or request failed.
    #[error("building the certificate request: {0}")]
    Build(#[from] rcgen::Error),
    /// The API refused or failed.
    #[error("certificate signing request: {0}")]
    Api(#[from] kube::Error),
    /// The request was denied or failed.
    #[error("certificate signing request {name} {condition}: {message}")]
    Refused {
        /// The CSR's name.
        name: String,
        /// `Denied` or `Failed`.
        condition: String,
        /// Its message.
        message: String,
    },
    /// Nobody approved or issued it in time.
    #[error("certificate signing request {0} was not issued within 15 minutes")]
    TimedOut(String),
}

/// A new key and the PEM certificate request for `node` covering `names`.
pub fn build(node: &str, names: &[SubjectName]) -> Result<(KeyPair, String), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, NODES_GROUP);
    dn.push(DnType::CommonName, format!("system:node:{node}"));
    params.distinguished_name = dn;
    params.subject_alt_names = names
        .iter()
        .map(|n| match n {
            SubjectName::Dns(d) => d.clone().try_into().map(SanType::DnsName),
            SubjectName::Ip(ip) => Ok(SanType::IpAddress(*ip)),
        })
        .collect::<Result<_, _>>()?;
    let csr = params.serialize_request(&key)?;
    Ok((key, csr.pem()?))
}

/// Submits a request for `node`'s serving certificate and waits until it is issued.
pub async fn obtain(
    client: &kube::Client,
    node: &str,
    names: &[SubjectName],
) -> Result<StoredCert, RequestError> {
    let (key, request_pem) = build(node, names)?;
    let api: Api<CertificateSigningRequest> = Api::all(client.clone());
    let csr = CertificateSigningRequest {
        metadata: ObjectMeta {
            generate_name: Some("csr-".into()),
            ..Default::default()
        },
        spec: CertificateSigningRequestSpec {
            request: ByteString(request_pem.into_bytes()),
            signer_name: KUBELET_SERVING_SIGNER.into(),
            usages: Some(SERVING_USAGES.iter().map(|u| u.to_string()).collect()),
            ..Default::default()
        },
        status: None,
    };
    let created = api.create(&PostParams::default(), &csr).await?;
    let name = created.metadata.name.unwrap_or_default();
    tracing::info!(node, csr = %name, "requested a kubelet serving certificate");
    let cert_pem = wait_issued(&api, &name).await?;
    Ok(StoredCert {
        cert_pem,
        key_pem: key.serialize_pem(),
    })
}

/// Polls the request until it carries a certificate, is denied or failed, or time runs out.
async fn wait_issued(
    api: &Api<CertificateSigningRequest>,
    name: &str,
) -> Result<String, RequestError> {
    let started = tokio::time::Instant::now();
    while started.elapsed() < WAIT_LIMIT {
        let csr = api.get(name).await?;
        let status = csr.status.unwrap_or_default();
        if let Some(cert) = status.certificate.filter(|c| !c.0.is_empty()) {
            return Ok(String::from_utf8_lossy(&cert.0).into_owned());
        }
        let refused = status
            .conditions
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == "Denied" || c.type_ == "Failed");
        if let Some(c) = refused {
            return Err(RequestError::Refused {
                name: name.to_string(),
                condition: c.type_,
                message: c.message.unwrap_or_default(),
            });
        }
        tokio::time::sleep(POLL).await;
    }
    Err(RequestError::TimedOut(name.to_string()))
}
