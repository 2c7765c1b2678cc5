//! The API server's side of the kubelet's TLS (upstream's `--kubelet-certificate-authority`
//! and `--kubelet-client-certificate`): kubelets are dialed over HTTPS, their serving
//! certificate verified against the cluster CA for the address dialed, and the API server
//! presents a client certificate for `kube-apiserver-kubelet-client`, issued by the cluster CA
//! at every start and bound to `system:kubelet-api-admin`.

use std::sync::Arc;

use ferrokube_auth::pki_types::ServerName;
use ferrokube_auth::rbac::bootstrap::KUBELET_CLIENT_USER;
use ferrokube_auth::Pki;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// The TLS client config for dialing kubelets: the cluster CA as the only root, a fresh
/// `kube-apiserver-kubelet-client` certificate, HTTP/1.1 (upgrades need it).
pub fn tls_config(pki: &Pki) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let identity = pki.issue_client_certificate(KUBELET_CLIENT_USER, None)?;
    let config = ferrokube_auth::client_config(pki.ca_cert_der(), Some(&identity))?;
    let mut config = (*config).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The host part of a `host:port` or `[v6]:port` kubelet address: the name its serving
/// certificate must carry.
pub fn server_name(addr: &str) -> Result<ServerName<'static>, String> {
    let host = match addr.rsplit_once(':') {
        Some((host, _port)) => host,
        None => addr,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).map_err(|e| format!("{host:?}: {e}"))
}

/// Completes the TLS handshake with a kubelet over `tcp`, verifying it as `addr`'s host.
pub async fn handshake(
    config: Arc<rustls::ClientConfig>,
    tcp: TcpStream,
    addr: &str,
) -> std::io::Result<TokioIo<TlsStream<TcpStream>>> {
    let name =
        server_name(addr).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let stream = TlsConnector::from(config).connect(name, tcp).await?;
    Ok(TokioIo::new(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_of_kubelet_addresses() {
        assert_eq!(
            server_name("10.0.0.5:10250").expect("v4"),
            ServerName::try_from("10.0.0.5").expect("name")
        );
        assert_eq!(
            server_name("[::1]:10250").expect("v6"),
            ServerName::try_from("::1").expect("name")
        );
        assert_eq!(
            server_name("node-a:10250").expect("dns"),
            ServerName::try_from("node-a").expect("name")
        );
        assert!(server_name("bad name:1").is_err());
    }
}
