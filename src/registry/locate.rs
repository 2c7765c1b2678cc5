//! Where `pods/proxy`, `services/proxy` and `nodes/proxy` lead (upstream's `ResourceLocation`
//! of each kind): the object id from the path (`name`, `name:port`, `scheme:name:port`) is
//! resolved to a backend address the HTTP layer's reverse proxy dials. Only addresses the
//! cluster itself vouches for are ever returned: a pod's own IP, an endpoint address that is
//! the IP of the pod it names, a node's registered kubelet — so writing an Endpoints object
//! cannot turn the API server into a proxy to arbitrary hosts.

use std::net::IpAddr;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{EndpointAddress, Endpoints, Node, Pod, Service};
use rand::Rng;
use serde::de::DeserializeOwned;

use super::subresource::{Locate, ProxyTarget, Transport};
use super::Registry;
use crate::status::{ApiError, ApiResult};

/// The kubelet port upstream assumes when a node reports none.
pub const DEFAULT_KUBELET_PORT: i32 = 10250;

/// An id split as upstream's `SplitSchemeNamePort`: `name`, `name:port`, `scheme:name:port`
/// with scheme `http`, `https` or empty; None when malformed.
pub fn split_scheme_name_port(id: &str) -> Option<(&str, &str, &str)> {
    let parts: Vec<&str> = id.split(':').collect();
    let (scheme, name, port) = match parts.as_slice() {
        [name] => ("", *name, ""),
        [name, port] => ("", *name, *port),
        [scheme, name, port] => (*scheme, *name, *port),
        _ => return None,
    };
    let valid = !name.is_empty() && matches!(scheme, "" | "http" | "https");
    valid.then_some((scheme, name, port))
}

/// `http` unless the request asked for `https`.
fn scheme_of(requested: &str) -> &'static str {
    if requested == "https" {
        "https"
    } else {
        "http"
    }
}

/// `host:port`, bracketing IPv6 hosts; the bare (bracketed) host without a port.
fn join_host_port(host: &str, port: &str) -> String {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    if port.is_empty() {
        host
    } else {
        format!("{host}:{port}")
    }
}

/// Upstream's `IsGlobalUnicast`: no loopback, link-local, multicast or unspecified address.
fn global_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_unspecified()
                || v4.is_broadcast())
        }
        IpAddr::V6(v6) => {
            let link_local = (v6.segments()[0] & 0xffc0) == 0xfe80;
            !(v6.is_loopback() || v6.is_multicast() || v6.is_unspecified() || link_local)
        }
    }
}

async fn load<T: DeserializeOwned>(
    reg: &Registry,
    resource: &str,
    ns: Option<&str>,
    name: &str,
) -> ApiResult<T> {
    let d = reg
        .lookup("", "v1", resource)
        .ok_or_else(ApiError::not_found_path)?;
    let kv = reg.get(&d, ns, name).await?;
    serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::internal(format!("decoding stored {resource} {name}: {e}")))
}

/// `pods/proxy`: the pod's IP with the given port, else its first declared container port.
pub fn pod(l: Locate<'_>) -> BoxFuture<'_, ApiResult<ProxyTarget>> {
    Box::pin(async move {
        let (scheme, name, port) = split_scheme_name_port(l.id)
            .ok_or_else(|| ApiError::bad_request(format!("invalid pod request {:?}", l.id)))?;
        let pod: Pod = load(l.registry, "pods", l.namespace, name).await?;
        let spec = pod.spec.unwrap_or_default();
        let first_port = spec.containers.iter().find_map(|c| {
            c.ports
                .as_ref()?
                .first()
                .map(|p| p.container_port.to_string())
        });
        let port = match port {
            "" => first_port.unwrap_or_default(),
            p => p.to_string(),
        };
        let ip = pod
            .status
            .and_then(|s| s.pod_ip)
            .unwrap_or_default()
            .parse::<IpAddr>()
            .ok()
            .filter(|ip| global_unicast(*ip))
            .ok_or_else(|| ApiError::bad_request("address not allowed"))?;
        Ok(ProxyTarget {
            scheme: scheme_of(scheme),
            authority: join_host_port(&ip.to_string(), &port),
            transport: Transport::Direct,
        })
    })
}

/// `services/proxy`: a ready endpoint of the service on the named (or numbered) port, picked
/// at random as upstream does; 503 when there is none.
pub fn service(l: Locate<'_>) -> BoxFuture<'_, ApiResult<ProxyTarget>> {
    Box::pin(async move {
        let (scheme, name, port) = split_scheme_name_port(l.id)
            .ok_or_else(|| ApiError::bad_request(format!("invalid service request {:?}", l.id)))?;
        let mut port_name = port.to_string();
        if let Ok(number) = port.parse::<i64>() {
            // A port number names the service port declaring it.
            let svc: Service = load(l.registry, "services", l.namespace, name).await?;
            let ports = svc.spec.and_then(|s| s.ports).unwrap_or_default();
            let declared = ports.iter().find(|p| i64::from(p.port) == number);
            port_name = declared
                .map(|p| p.name.clone().unwrap_or_default())
                .ok_or_else(|| {
                    ApiError::unavailable(format!(
                        "no service port {number} found for service {name:?}"
                    ))
                })?;
        }
        let eps: Endpoints = load(l.registry, "endpoints", l.namespace, name).await?;
        let subsets = eps.subsets.unwrap_or_default();
        let no_endpoints = |what: &str| {
            ApiError::unavailable(format!("no endpoints available for service {what:?}"))
        };
        if subsets.is_empty() {
            return Err(no_endpoints(name));
        }
        let start = rand::rng().random_range(0..subsets.len());
        for i in 0..subsets.len() {
            let subset = &subsets[(start + i) % subsets.len()];
            let addresses = subset.addresses.as_deref().unwrap_or_default();
            let ports = subset.ports.as_deref().unwrap_or_default();
            let Some(ep_port) = ports
                .iter()
                .find(|p| p.name.as_deref().unwrap_or("") == port_name)
            else {
                continue;
            };
            if let Some(addr) = pick_address(l.registry, l.namespace, addresses).await? {
                return Ok(ProxyTarget {
                    scheme: scheme_of(scheme),
                    authority: join_host_port(&addr, &ep_port.port.to_string()),
                    transport: Transport::Direct,
                });
            }
        }
        Err(no_endpoints(l.id))
    })
}

/// A random address of the subset that is the IP of the pod it names (upstream's
/// `isValidAddress`): endpoints may be written by hand, pods' IPs only by their kubelet.
async fn pick_address(
    reg: &Registry,
    ns: Option<&str>,
    addresses: &[EndpointAddress],
) -> ApiResult<Option<String>> {
    if addresses.is_empty() {
        return Ok(None);
    }
    let start = rand::rng().random_range(0..addresses.len());
    for i in 0..addresses.len() {
        let addr = &addresses[(start + i) % addresses.len()];
        let Some(target) = addr.target_ref.as_ref() else {
            continue;
        };
        if target.namespace.as_deref() != ns || target.kind.as_deref() != Some("Pod") {
            continue;
        }
        let pod_name = target.name.as_deref().unwrap_or("");
        let pod: Pod = match load(reg, "pods", ns, pod_name).await {
            Ok(p) => p,
            Err(e) if e.code == 404 => continue,
            Err(e) => return Err(e),
        };
        let ips = pod.status.and_then(|s| s.pod_ips).unwrap_or_default();
        if ips.iter().any(|p| p.ip == addr.ip) {
            return Ok(Some(addr.ip.clone()));
        }
    }
    Ok(None)
}

/// `nodes/proxy`: the node's kubelet over its TLS for no port or the kubelet's port; any other
/// port of the node's address directly, when that address is a global unicast IP.
pub fn node(l: Locate<'_>) -> BoxFuture<'_, ApiResult<ProxyTarget>> {
    Box::pin(async move {
        let (scheme, name, port) = split_scheme_name_port(l.id)
            .ok_or_else(|| ApiError::bad_request(format!("invalid node request {:?}", l.id)))?;
        let node: Node = load(l.registry, "nodes", None, name).await?;
        let (host, kubelet_port) = kubelet_host_port(&node).ok_or_else(|| {
            ApiError::internal(format!("node {name:?} has no address for its kubelet"))
        })?;
        if port.is_empty() || port == kubelet_port.to_string() {
            return Ok(ProxyTarget {
                scheme: "https",
                authority: join_host_port(&host, &kubelet_port.to_string()),
                transport: Transport::Kubelet,
            });
        }
        // Upstream's isProxyableHostname: only a global unicast node address, so nothing on the
        // API server's own loopback is reachable through a node's arbitrary port.
        let ip = host
            .parse::<IpAddr>()
            .ok()
            .filter(|ip| global_unicast(*ip))
            .ok_or_else(|| ApiError::bad_request("address not allowed"))?;
        Ok(ProxyTarget {
            scheme: scheme_of(scheme),
            authority: join_host_port(&ip.to_string(), port),
            transport: Transport::Direct,
        })
    })
}

/// A node's kubelet host and port: the first InternalIP, else Hostname, else ExternalIP, with
/// the `daemonEndpoints.kubeletEndpoint` port (upstream's node connection info).
pub fn kubelet_host_port(node: &Node) -> Option<(String, i32)> {
    let status = node.status.clone().unwrap_or_default();
    let addresses = status.addresses.unwrap_or_default();
    let host = ["InternalIP", "Hostname", "ExternalIP"]
        .iter()
        .find_map(|kind| addresses.iter().find(|a| a.type_ == *kind))
        .map(|a| a.address.clone())
        .filter(|a| !a.is_empty())?;
    let port = status
        .daemon_endpoints
        .and_then(|d| d.kubelet_endpoint)
        .map(|e| e.port)
        .filter(|p| *p > 0)
        .unwrap_or(DEFAULT_KUBELET_PORT);
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_split_like_upstream() {
        assert_eq!(split_scheme_name_port("p"), Some(("", "p", "")));
        assert_eq!(split_scheme_name_port("p:80"), Some(("", "p", "80")));
        assert_eq!(
            split_scheme_name_port("https:p:443"),
            Some(("https", "p", "443"))
        );
        assert_eq!(split_scheme_name_port("https:p:"), Some(("https", "p", "")));
        assert_eq!(split_scheme_name_port("ftp:p:21"), None);
        assert_eq!(split_scheme_name_port(":80"), None);
        assert_eq!(split_scheme_name_port("a:b:c:d"), None);
    }

    #[test]
    fn only_global_unicast_addresses() {
        for bad in [
            "127.0.0.1",
            "169.254.1.1",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "fe80::1",
        ] {
            assert!(!global_unicast(bad.parse().expect("ip")), "{bad}");
        }
        for good in ["172.17.0.2", "10.0.0.1", "2001:db8::1"] {
            assert!(global_unicast(good.parse().expect("ip")), "{good}");
        }
        assert_eq!(join_host_port("2001:db8::1", "80"), "[2001:db8::1]:80");
        assert_eq!(join_host_port("10.0.0.1", ""), "10.0.0.1");
    }
}
