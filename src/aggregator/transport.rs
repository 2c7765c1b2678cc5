//! How extension API servers are dialed and told who is asking (upstream's proxy transport
//! plus `transport.SetAuthProxyHeaders`): TLS verified against the APIService's `caBundle`
//! for the name `<service>.<namespace>.svc` (or not verified with `insecureSkipTLSVerify`),
//! this server presenting its front-proxy client certificate, and the requesting user in the
//! `X-Remote-*` headers that the extension server trusts because of that certificate (see
//! [`super::authentication_config`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use ferrokube_auth::pki_types::ServerName;
use ferrokube_auth::{IssuedCertificate, UserInfo};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::Remote;

/// The front-proxy client certificate's common name (kubeadm's `front-proxy-client`), the one
/// name extension servers accept request headers from (`requestheader-allowed-names`).
pub const FRONT_PROXY_USER: &str = "front-proxy-client";

/// How long connecting and the TLS handshake may take (upstream's discovery probe gives up
/// after 6s; its proxy dialer after 30s).
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// The headers upstream's request-header authentication reads.
pub const USER_HEADER: &str = "x-remote-user";
pub const GROUP_HEADER: &str = "x-remote-group";
pub const EXTRA_PREFIX: &str = "x-remote-extra-";

/// The front-proxy identity and the TLS configs built from it, one per trust setting.
#[derive(Default)]
pub struct Transport {
    identity: Option<IssuedCertificate>,
    /// Roots used when an APIService has neither `caBundle` nor `insecureSkipTLSVerify`
    /// (upstream falls back to the system roots; ours are the cluster CA).
    default_roots_pem: String,
    configs: Mutex<HashMap<(String, bool), Arc<rustls::ClientConfig>>>,
}

impl Transport {
    /// Dials as `identity`, trusting `default_roots_pem` when an APIService names no roots.
    pub fn new(identity: IssuedCertificate, default_roots_pem: String) -> Self {
        Transport {
            identity: Some(identity),
            default_roots_pem,
            configs: Mutex::default(),
        }
    }

    /// The TLS config for an APIService's trust settings (cached: building one parses PEM).
    fn config(&self, remote: &Remote) -> Result<Arc<rustls::ClientConfig>, String> {
        let roots = remote
            .ca_bundle
            .clone()
            .unwrap_or_else(|| self.default_roots_pem.clone());
        let key = (roots, remote.insecure_skip_tls_verify);
        let mut configs = self.configs.lock().map_err(|_| "poisoned".to_string())?;
        if let Some(config) = configs.get(&key) {
            return Ok(config.clone());
        }
        let identity = self
            .identity
            .as_ref()
            .ok_or("no front-proxy client certificate")?;
        let config = if key.1 {
            ferrokube_auth::insecure_client_config_with(identity)
        } else {
            ferrokube_auth::client_config_from_pem(&key.0, Some(identity))
        }
        .map_err(|e| format!("building the TLS config: {e}"))?;
        configs.insert(key, config.clone());
        Ok(config)
    }

    /// Opens a verified TLS connection to one endpoint (`host:port`) of `remote`'s service.
    pub async fn dial(&self, remote: &Remote, addr: &str) -> Result<TlsStream<TcpStream>, String> {
        let config = self.config(remote)?;
        let tcp = tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("dial tcp {addr}: i/o timeout"))?
            .map_err(|e| format!("dial tcp {addr}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let name = format!("{}.{}.svc", remote.service.name, remote.service.namespace);
        let name = ServerName::try_from(name).map_err(|e| format!("server name: {e}"))?;
        tokio::time::timeout(
            DIAL_TIMEOUT,
            tokio_rustls::TlsConnector::from(config).connect(name, tcp),
        )
        .await
        .map_err(|_| "net/http: TLS handshake timeout".to_string())?
        .map_err(|e| format!("tls: {e}"))
    }
}

/// Replaces any `X-Remote-*` headers with `user`'s identity (a client must not choose whom
/// the extension server believes it is).
pub fn set_identity(headers: &mut HeaderMap, user: &UserInfo) {
    let stale: Vec<HeaderName> = headers
        .keys()
        .filter(|n| {
            let n = n.as_str();
            n == USER_HEADER || n == GROUP_HEADER || n.starts_with(EXTRA_PREFIX)
        })
        .cloned()
        .collect();
    for name in stale {
        headers.remove(name);
    }
    if let Ok(v) = HeaderValue::from_str(&user.name) {
        headers.insert(USER_HEADER, v);
    }
    for group in &user.groups {
        if let Ok(v) = HeaderValue::from_str(group) {
            headers.append(GROUP_HEADER, v);
        }
    }
    for (key, values) in &user.extra {
        // Upstream path-escapes the key: header names cannot carry every character.
        let escaped = percent_encoding::utf8_percent_encode(key, EXTRA_KEY_ESCAPES);
        let Ok(name) = HeaderName::from_bytes(format!("{EXTRA_PREFIX}{escaped}").as_bytes()) else {
            continue;
        };
        for value in values {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.append(name.clone(), v);
            }
        }
    }
}

/// What Go's `url.PathEscape` escapes (everything but unreserved characters and `$&+:=@`).
const EXTRA_KEY_ESCAPES: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b':')
    .remove(b'=')
    .remove(b'@');

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_headers_replace_what_the_client_sent() {
        let mut h = HeaderMap::new();
        h.insert("x-remote-user", HeaderValue::from_static("root"));
        h.insert("x-remote-extra-evil", HeaderValue::from_static("1"));
        h.insert("accept", HeaderValue::from_static("application/json"));
        let mut user = UserInfo {
            name: "alice".into(),
            groups: vec!["dev".into(), "system:authenticated".into()],
            ..Default::default()
        };
        user.extra
            .insert("example.com/team a".into(), vec!["x".into()]);
        set_identity(&mut h, &user);
        assert_eq!(h["x-remote-user"], "alice");
        assert_eq!(h.get_all("x-remote-group").iter().count(), 2);
        assert!(!h.contains_key("x-remote-extra-evil"));
        assert_eq!(h["x-remote-extra-example.com%2fteam%20a"], "x");
        assert_eq!(h["accept"], "application/json");
    }
}
