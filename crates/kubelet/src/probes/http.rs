//! httpGet probes and handlers: one HTTP/1.1 GET over plain TCP or, for `scheme: HTTPS`, TLS
//! without certificate verification (upstream's prober sets `InsecureSkipVerify`: pods serve
//! self-signed certificates for names the kubelet does not dial).

use std::time::Duration;

use k8s_openapi::api::core::v1::HTTPGetAction;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::ProbeOutcome;

/// The probe TLS client: no certificate verification (see [`ferrokube_auth::insecure_client_config`]).
fn tls_connector() -> Result<tokio_rustls::TlsConnector, String> {
    Ok(tokio_rustls::TlsConnector::from(
        ferrokube_auth::insecure_client_config(),
    ))
}

/// Writes the request and reads up to the status line.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    request: &str,
) -> std::io::Result<String> {
    s.write_all(request.as_bytes()).await?;
    let mut buf = vec![0u8; 256];
    let mut n = 0;
    while n < buf.len() {
        let r = s.read(&mut buf[n..]).await?;
        n += r;
        if r == 0 || buf[..n].windows(2).any(|w| w == b"\r\n") {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// One GET against `host:port`; 2xx and 3xx pass, as upstream.
pub async fn http_get(
    host: &str,
    port: u16,
    get: &HTTPGetAction,
    timeout: Duration,
) -> ProbeOutcome {
    let https = get
        .scheme
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("HTTPS"));
    let scheme = if https { "https" } else { "http" };
    let path = get
        .path
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".into());
    let path = if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    };
    let mut headers = String::new();
    let mut host_header = format!("{host}:{port}");
    let mut user_agent = "kube-probe/1.33".to_string();
    for h in get.http_headers.iter().flatten() {
        match h.name.to_ascii_lowercase().as_str() {
            "host" => host_header = h.value.clone(),
            "user-agent" => user_agent = h.value.clone(),
            _ => headers.push_str(&format!("{}: {}\r\n", h.name, h.value)),
        }
    }
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {user_agent}\r\nAccept: */*\r\n{headers}Connection: close\r\n\r\n"
    );
    let url = format!("{scheme}://{host}:{port}{path}");
    let run = async {
        let tcp = tokio::net::TcpStream::connect((host, port)).await?;
        if !https {
            return exchange(tcp, &request).await;
        }
        let connector = tls_connector().map_err(std::io::Error::other)?;
        // SNI carries the Host header's name when it has one, as Go's client does.
        let sni_host = host_header.split(':').next().unwrap_or(host).to_string();
        let name = ServerName::try_from(sni_host)
            .or_else(|_| ServerName::try_from(host.to_string()))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let tls = connector.connect(name, tcp).await?;
        exchange(tls, &request).await
    };
    match tokio::time::timeout(timeout, run).await {
        Err(_) => ProbeOutcome::Failure(format!("Get \"{url}\": context deadline exceeded")),
        Ok(Err(e)) => ProbeOutcome::Failure(format!("Get \"{url}\": {e}")),
        Ok(Ok(head)) => {
            let code = head
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse::<u16>().ok());
            match code {
                Some(c) if (200..400).contains(&c) => ProbeOutcome::Success,
                Some(c) => ProbeOutcome::Failure(format!("HTTP probe failed with statuscode: {c}")),
                None => ProbeOutcome::Failure("malformed HTTP response".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// An HTTPS server with a self-signed certificate for a name the probe does not dial.
    async fn https_server(status: &'static str) -> u16 {
        let cert =
            rcgen::generate_simple_self_signed(vec!["pod.example".to_string()]).expect("cert");
        let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der())
            .expect("key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    continue;
                };
                let mut buf = [0u8; 512];
                let _ = tls.read(&mut buf).await;
                let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            }
        });
        port
    }

    #[tokio::test]
    async fn https_probes_skip_certificate_verification() {
        let get = |port: u16| HTTPGetAction {
            port: k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i32::from(port)),
            scheme: Some("HTTPS".into()),
            path: Some("healthz".into()),
            ..Default::default()
        };
        let t = Duration::from_secs(2);
        let ok = https_server("200 OK").await;
        assert_eq!(
            http_get("127.0.0.1", ok, &get(ok), t).await,
            ProbeOutcome::Success
        );
        let bad = https_server("500 Internal Server Error").await;
        assert_eq!(
            http_get("127.0.0.1", bad, &get(bad), t).await,
            ProbeOutcome::Failure("HTTP probe failed with statuscode: 500".into())
        );
        // A plain HTTP client against the TLS port fails instead of hanging.
        let mut plain = get(ok);
        plain.scheme = None;
        assert!(matches!(
            http_get("127.0.0.1", ok, &plain, t).await,
            ProbeOutcome::Failure(_)
        ));
    }
}
