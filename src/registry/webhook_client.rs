//! Calling a webhook, shared by admission webhooks and CRD conversion webhooks: resolve where
//! it listens (its `url`, or its Service's ready endpoint), verify it with the configuration's
//! `caBundle`, POST the review over HTTPS within the timeout, and read the review back.
//! Connections are kept alive between calls (see [`pool`]).
//!
//! A Service target is dialled at one of its ready EndpointSlice addresses, as upstream's
//! aggregator routing does, not at its cluster IP (upstream's default for webhooks): cluster IPs
//! only work where the agent's service proxy runs, while endpoint addresses (pod IPs on our
//! Docker bridge, or any address a selectorless Service's slice names) are reachable from the
//! server's host whether or not an agent runs there. TLS still verifies `<name>.<ns>.svc`.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::admissionregistration::v1::WebhookClientConfig;
use serde_json::Value;
use tokio::net::TcpStream;

use ferrokube_store::{RangeRequest, Store};

/// The most of a webhook's answer we read.
const MAX_RESPONSE: usize = 3 * 1024 * 1024;

/// Where to send the review: the address to dial, the TLS name to verify, the URL.
struct Target {
    dial: String,
    server_name: String,
    url: String,
    path_and_query: String,
}

async fn target(store: &Store, client: &WebhookClientConfig) -> Result<Target, String> {
    if let Some(url) = &client.url {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| format!("invalid url {url:?}: {e}"))?;
        let host = uri
            .host()
            .ok_or("url has no host")?
            .trim_matches(['[', ']'])
            .to_owned();
        let port = uri.port_u16().unwrap_or(443);
        return Ok(Target {
            dial: format!("{host}:{port}"),
            server_name: host,
            url: url.clone(),
            path_and_query: uri
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or("/".into()),
        });
    }
    let svc = client
        .service
        .as_ref()
        .ok_or("webhook has neither url nor service")?;
    let port = svc.port.unwrap_or(443);
    let path = svc.path.clone().unwrap_or_else(|| "/".into());
    let host = format!("{}.{}.svc", svc.name, svc.namespace);
    let dial = service_endpoint(store, &svc.namespace, &svc.name, port).await?;
    Ok(Target {
        url: format!("https://{host}:{port}{path}"),
        dial,
        server_name: host,
        path_and_query: path,
    })
}

/// A ready endpoint of the Service port `port`: `ip:targetPort`.
async fn service_endpoint(
    store: &Store,
    ns: &str,
    name: &str,
    port: i32,
) -> Result<String, String> {
    // Read from the store directly (keys as the core and discovery descriptors spell them), so
    // a conversion running inside a watch stream needs only a store handle.
    let service: Value = store
        .get(&format!("/core/services/{ns}/{name}"))
        .await
        .map_err(|e| e.to_string())?
        .and_then(|kv| serde_json::from_slice(&kv.value).ok())
        .ok_or_else(|| format!("service \"{name}\" not found"))?;
    let port_name = super::endpoints::port_name(&service, port)
        .ok_or_else(|| format!("service {ns}/{name} has no port {port}"))?;
    let page = store
        .range(RangeRequest {
            prefix: format!("/discovery.k8s.io/endpointslices/{ns}/"),
            start: String::new(),
            limit: 0,
            revision: 0,
        })
        .await
        .map_err(|e| e.to_string())?;
    let slices: Vec<Value> = page
        .items
        .iter()
        .filter_map(|kv| serde_json::from_slice::<Value>(&kv.value).ok())
        .filter(|slice| super::endpoints::serves(slice, name))
        .collect();
    super::endpoints::ready_addresses(&slices, &port_name)
        .into_iter()
        .next()
        .ok_or_else(|| format!("no endpoints available for service \"{name}\""))
}

fn tls_config(ca_bundle: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = ca_bundle.ok_or("the webhook configuration has no caBundle")?;
    for cert in rustls_pemfile::certs(&mut &pem[..]) {
        let cert = cert.map_err(|e| format!("caBundle: {e}"))?;
        roots.add(cert).map_err(|e| format!("caBundle: {e}"))?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// POSTs `review` (a `kind` of review) and returns the webhook's answer; the error text is
/// upstream's shape (`Post "<url>": <why>`).
pub async fn call(
    store: &Store,
    client: &WebhookClientConfig,
    timeout: std::time::Duration,
    review: &Value,
) -> Result<Value, String> {
    let kind = review["kind"].as_str().unwrap_or("review").to_owned();
    let t = target(store, client).await?;
    // Like upstream's REST client, the request carries its timeout (`?timeout=10s`), so the
    // webhook may give up in time too; errors name the URL with it.
    let with_timeout = |u: &str| {
        let sep = if u.contains('?') { '&' } else { '?' };
        format!("{u}{sep}timeout={}s", timeout.as_secs())
    };
    let url = with_timeout(&t.url);
    let path_and_query = with_timeout(&t.path_and_query);
    let exchange = async {
        let ca = client.ca_bundle.as_ref().map(|b| b.0.as_slice());
        let key = pool::Key::new(&t.dial, &t.server_name, ca);
        let body = Bytes::from(serde_json::to_vec(review).map_err(|e| e.to_string())?);
        let request = || {
            hyper::Request::post(&path_and_query)
                .header(hyper::header::HOST, &t.server_name)
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .header(hyper::header::ACCEPT, "application/json")
                .body(Full::new(body.clone()))
                .map_err(|e| e.to_string())
        };
        // A kept-alive connection saves a TLS handshake per call; one the webhook closed
        // meanwhile fails before any answer, so the call goes once more on a fresh one.
        let (mut sender, resp) = match pool::checkout(&key) {
            Some(mut idle) => match idle.send_request(request()?).await {
                Ok(resp) => (idle, resp),
                Err(_) => {
                    let mut fresh = connect(&t, ca).await?;
                    let resp = fresh.send_request(request()?).await;
                    (fresh, resp.map_err(|e| e.to_string())?)
                }
            },
            None => {
                let mut fresh = connect(&t, ca).await?;
                let resp = fresh.send_request(request()?).await;
                (fresh, resp.map_err(|e| e.to_string())?)
            }
        };
        let status = resp.status();
        let bytes = Limited::new(resp.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if sender.ready().await.is_ok() {
            pool::checkin(key, sender);
        }
        if !status.is_success() {
            return Err(format!("server responded with {status}"));
        }
        serde_json::from_slice(&bytes).map_err(|e| format!("the response is not a {kind}: {e}"))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result.map_err(|e| format!("Post \"{url}\": {e}")),
        Err(_) => Err(format!("Post \"{url}\": context deadline exceeded")),
    }
}

/// A new HTTP/1.1 connection to the target over TLS verified with `ca`.
async fn connect(t: &Target, ca: Option<&[u8]>) -> Result<pool::Sender, String> {
    let config = tls_config(ca)?;
    let name = rustls::pki_types::ServerName::try_from(t.server_name.clone())
        .map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect(&t.dial)
        .await
        .map_err(|e| format!("dial tcp {}: {e}", t.dial))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("tls: {e}"))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(sender)
}

/// Kept-alive connections to webhooks, by where they go and whom they trust.
mod pool {
    use std::collections::HashMap;
    use std::hash::{Hash, Hasher};
    use std::sync::{LazyLock, Mutex};

    use bytes::Bytes;
    use http_body_util::Full;

    /// A connection's request half.
    pub type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

    /// The most idle connections kept per target.
    const IDLE_PER_TARGET: usize = 8;

    /// The address dialled, the name verified and the CA bundle trusted (a changed bundle
    /// must not reuse a connection verified with the old one).
    #[derive(Clone, PartialEq, Eq, Hash)]
    pub struct Key(String, String, u64);

    impl Key {
        pub fn new(dial: &str, server_name: &str, ca: Option<&[u8]>) -> Self {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            ca.hash(&mut h);
            Key(dial.to_owned(), server_name.to_owned(), h.finish())
        }
    }

    static IDLE: LazyLock<Mutex<HashMap<Key, Vec<Sender>>>> = LazyLock::new(Default::default);

    /// An idle connection to `key` the peer has not closed, if any.
    pub fn checkout(key: &Key) -> Option<Sender> {
        let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(key)?;
        while let Some(sender) = list.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    /// Keeps a connection that finished its exchange for the next call.
    pub fn checkin(key: Key, sender: Sender) {
        let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(key).or_default();
        list.retain(|s| !s.is_closed());
        if list.len() < IDLE_PER_TARGET {
            list.push(sender);
        }
    }
}
