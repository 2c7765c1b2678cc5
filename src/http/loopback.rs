//! An in-memory connection to the router for the components the all-in-one server runs in its
//! own process (controller manager and scheduler). They stay ordinary kube-rs clients of the
//! whole HTTP API (routing, authentication, authorization, admission, watch streaming), but
//! their requests skip TLS, HTTP framing and the loopback socket, which under the scheduler
//! benchmark cost them and the server over a tenth of the CPU.

use std::sync::Arc;

use axum::Router;
use tower::ServiceExt;

use super::PeerCertificates;

/// A kube client whose requests go straight into `app`, authenticated as the holder of the
/// client certificate `cert_pem` (as if it had been presented on a TLS connection).
pub fn client(app: Router, cert_pem: &str) -> anyhow::Result<kube::Client> {
    let leaf = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .next()
        .ok_or_else(|| anyhow::anyhow!("no certificate in the PEM"))??;
    let peer = PeerCertificates(Some(Arc::new(ferrokube_auth::client_cert_user(&leaf))));
    let service = tower::service_fn(move |mut req: axum::http::Request<kube::client::Body>| {
        req.extensions_mut().insert(peer.clone());
        app.clone().oneshot(req.map(axum::body::Body::new))
    });
    Ok(kube::Client::new(service, "default"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    #[tokio::test]
    async fn requests_reach_the_router_with_the_certificate_user() {
        let pki = ferrokube_auth::Pki::load_or_create(
            tempfile::tempdir().unwrap().path(),
            &ferrokube_auth::PkiOptions {
                tls_sans: vec![],
                server_url: "https://127.0.0.1:1".into(),
            },
        )
        .unwrap();
        let app = Router::new().route(
            "/version",
            get(|req: axum::extract::Request| async move {
                let peer = req.extensions().get::<PeerCertificates>().cloned();
                let user = peer
                    .and_then(|p| p.0)
                    .and_then(|r| r.as_ref().as_ref().ok().cloned().flatten());
                let name = user.map(|u| u.name).unwrap_or_default();
                axum::Json(
                    serde_json::json!({"major": "1", "minor": "33", "gitVersion": name,
                    "gitCommit": "", "gitTreeState": "", "buildDate": "", "goVersion": "",
                    "compiler": "", "platform": ""}),
                )
            }),
        );
        let client = client(app, &pki.admin_credentials().cert_pem).unwrap();
        let info = client.apiserver_version().await.unwrap();
        assert_eq!(info.git_version, "admin");
    }
}
