//! An agent's node identity by TLS bootstrap, as upstream's kubelet gets it: with a bootstrap
//! token it submits a CertificateSigningRequest for `system:node:<name>` (signer
//! `kubernetes.io/kube-apiserver-client-kubelet`, key made here), waits for the certificate,
//! keeps certificate and key in `<data-dir>/pki/kubelet-client-current.pem`, and from then on
//! talks to the API with that client certificate. A restart reuses a stored certificate that
//! is still valid; a background task renews it at 70–84% of its lifetime.

mod client;
pub mod failover;
mod files;
mod request;
pub mod retry;
mod rotation;

use std::path::PathBuf;

use base64::Engine;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use kube::api::PostParams;

pub use client::SwitchableClient;
pub use files::Credentials;

/// How an agent reaches the API and proves it may join.
#[derive(Clone)]
pub struct Bootstrap {
    /// The server and its CA, without credentials.
    pub base: kube::Config,
    /// The bootstrap token (`<id>.<secret>`).
    pub token: String,
    /// This node's name.
    pub node_name: String,
    /// The agent's data dir; credentials go to its `pki/` folder.
    pub data_dir: PathBuf,
    /// More servers of the same cluster (HA), tried in order when the current one is down.
    pub fallback: Vec<axum::http::Uri>,
}

impl Bootstrap {
    fn credentials_path(&self) -> PathBuf {
        self.data_dir.join("pki").join(files::CURRENT_FILE)
    }

    /// A client authenticated by the bootstrap token (only for requesting the first
    /// certificate).
    fn token_client(&self) -> anyhow::Result<kube::Client> {
        let mut config = self.base.clone();
        config.auth_info = kube::config::AuthInfo {
            token: Some(self.token.clone().into()),
            ..Default::default()
        };
        failover::client(&config, &self.fallback)
    }

    /// A client authenticated by `creds`' client certificate.
    fn cert_client(&self, creds: &Credentials) -> anyhow::Result<kube::Client> {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let mut config = self.base.clone();
        config.auth_info = kube::config::AuthInfo {
            client_certificate_data: Some(b64(&creds.cert_pem)),
            client_key_data: Some(b64(&creds.key_pem).into()),
            ..Default::default()
        };
        failover::client(&config, &self.fallback)
    }
}

/// The agent's API client under its node identity: a stored certificate when still valid
/// (and accepted), else one obtained with the bootstrap token. Starts the renewal task.
pub async fn node_client(boot: Bootstrap) -> anyhow::Result<kube::Client> {
    let path = boot.credentials_path();
    let user = format!("system:node:{}", boot.node_name);
    let stored = match files::load(&path) {
        Ok(Some(creds)) if creds.usable_for(&user) => Some(creds),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!("ignoring {}: {e}", path.display());
            None
        }
    };
    let creds = match stored {
        Some(creds) if still_accepted(&boot.cert_client(&creds)?).await => {
            tracing::info!(%user, "using the stored client certificate");
            creds
        }
        _ => {
            let creds = request::obtain(&boot.token_client()?, &boot.node_name).await?;
            files::store(&path, &creds)?;
            tracing::info!(%user, "TLS bootstrap: got a client certificate");
            creds
        }
    };
    let switchable = SwitchableClient::new(boot.cert_client(&creds)?);
    tokio::spawn(rotation::run(boot, switchable.clone(), creds));
    Ok(switchable.client())
}

/// Whether the server still takes a stored certificate: only a 401 says no (a server that is
/// down says nothing, and the agent keeps its identity and its pods).
async fn still_accepted(client: &kube::Client) -> bool {
    let api: kube::Api<SelfSubjectReview> = kube::Api::all(client.clone());
    let review = SelfSubjectReview::default();
    match api.create(&PostParams::default(), &review).await {
        Err(kube::Error::Api(s)) if s.code == 401 => false,
        Err(e) => {
            tracing::warn!("cannot check the stored client certificate yet: {e}");
            true
        }
        Ok(_) => true,
    }
}
