//! What the proxy must program, derived from Services and discovery.k8s.io/v1 EndpointSlices:
//! one [`PortRule`] per Service port with the ready backends behind it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// Label tying an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Transport protocol of a Service port (SCTP is not proxied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP: refused with a reset when there is no endpoint.
    Tcp,
    /// UDP: refused with ICMP port unreachable.
    Udp,
}

impl Protocol {
    /// The nft keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// One endpoint address and the resolved (numeric) target port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Backend {
    /// Pod IP.
    pub ip: Ipv4Addr,
    /// Target port as resolved by the EndpointSlice (named ports already numeric there).
    pub port: u16,
}

/// One Service port to program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRule {
    /// `namespace/name:port-name`, for comments and logs.
    pub id: String,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The ClusterIP (None for headless or not yet allocated).
    pub cluster_ip: Option<Ipv4Addr>,
    /// The Service port.
    pub port: u16,
    /// The NodePort, for NodePort and LoadBalancer Services.
    pub node_port: Option<u16>,
    /// Ready backends for ClusterIP traffic (only this node's with internalTrafficPolicy Local).
    pub internal: Vec<Backend>,
    /// Ready backends for NodePort traffic (only this node's with externalTrafficPolicy Local).
    pub external: Vec<Backend>,
    /// Whether the Service has usable endpoints anywhere: when a Local policy leaves none on
    /// this node, upstream drops the traffic instead of rejecting it.
    pub has_endpoints: bool,
    /// externalTrafficPolicy Local: node-port clients keep their source address (no masquerade
    /// except for connections from the node itself).
    pub external_local: bool,
    /// `sessionAffinity: ClientIP`: how long a client sticks to its backend, in seconds.
    pub affinity_timeout: Option<u32>,
}

/// Upstream's default `sessionAffinityConfig.clientIP.timeoutSeconds` (3 hours).
pub const DEFAULT_AFFINITY_TIMEOUT: u32 = 10800;

/// Builds the rules for every proxied Service port, sorted by id, for `node`.
pub fn build(services: &[&Service], slices: &[&EndpointSlice], node: &str) -> Vec<PortRule> {
    let mut by_service: BTreeMap<(String, String), Vec<&EndpointSlice>> = BTreeMap::new();
    for slice in slices {
        if slice.address_type != "IPv4" {
            continue;
        }
        let Some(svc) = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
        else {
            continue;
        };
        let ns = slice.metadata.namespace.clone().unwrap_or_default();
        by_service.entry((ns, svc.clone())).or_default().push(slice);
    }
    let mut rules = Vec::new();
    for svc in services {
        let ns = svc.metadata.namespace.clone().unwrap_or_default();
        let name = svc.metadata.name.clone().unwrap_or_default();
        let slices = by_service
            .remove(&(ns.clone(), name.clone()))
            .unwrap_or_default();
        rules.extend(service_rules(svc, &ns, &name, &slices, node));
    }
    rules.sort_by(|a, b| a.id.cmp(&b.id));
    rules
}

fn service_rules(
    svc: &Service,
    ns: &str,
    name: &str,
    slices: &[&EndpointSlice],
    node: &str,
) -> Vec<PortRule> {
    let Some(spec) = svc.spec.as_ref() else {
        return Vec::new();
    };
    if spec.type_.as_deref() == Some("ExternalName") {
        return Vec::new();
    }
    let cluster_ip = spec
        .cluster_ip
        .as_deref()
        .and_then(|ip| ip.parse::<Ipv4Addr>().ok());
    let internal_local = spec.internal_traffic_policy.as_deref() == Some("Local");
    let external_local = spec.external_traffic_policy.as_deref() == Some("Local");
    let affinity_timeout = affinity_timeout(spec);
    let mut out = Vec::new();
    for port in spec.ports.iter().flatten() {
        let protocol = match port.protocol.as_deref().unwrap_or("TCP") {
            "TCP" => Protocol::Tcp,
            "UDP" => Protocol::Udp,
            _ => continue,
        };
        let node_port = port.node_port.and_then(|p| u16::try_from(p).ok());
        if cluster_ip.is_none() && node_port.is_none() {
            continue;
        }
        let Ok(svc_port) = u16::try_from(port.port) else {
            continue;
        };
        let port_name = port.name.clone().unwrap_or_default();
        let endpoints = endpoints_of(slices, &port_name, protocol);
        let all = usable(&endpoints, None);
        let local = usable(&endpoints, Some(node));
        out.push(PortRule {
            id: format!("{ns}/{name}:{port_name}"),
            protocol,
            cluster_ip,
            port: svc_port,
            node_port,
            internal: if internal_local {
                local.clone()
            } else {
                all.clone()
            },
            external: if external_local { local } else { all.clone() },
            has_endpoints: !all.is_empty(),
            external_local,
            affinity_timeout,
        });
    }
    out
}

/// The ClientIP affinity timeout of a Service, if it asks for affinity.
fn affinity_timeout(spec: &k8s_openapi::api::core::v1::ServiceSpec) -> Option<u32> {
    if spec.session_affinity.as_deref() != Some("ClientIP") {
        return None;
    }
    let configured = spec
        .session_affinity_config
        .as_ref()
        .and_then(|c| c.client_ip.as_ref())
        .and_then(|c| c.timeout_seconds)
        .and_then(|t| u32::try_from(t).ok())
        .filter(|t| *t > 0);
    Some(configured.unwrap_or(DEFAULT_AFFINITY_TIMEOUT))
}

/// One endpoint of a Service port with the conditions that decide whether it gets traffic.
struct Endpoint<'a> {
    backend: Backend,
    node: Option<&'a str>,
    ready: bool,
    serving: bool,
    terminating: bool,
}

/// Every endpoint serving the named port, across the Service's slices.
fn endpoints_of<'a>(
    slices: &[&'a EndpointSlice],
    port_name: &str,
    protocol: Protocol,
) -> Vec<Endpoint<'a>> {
    let mut out = Vec::new();
    for slice in slices {
        let port = slice.ports.iter().flatten().find(|p| {
            p.name.as_deref().unwrap_or("") == port_name
                && p.protocol.as_deref().unwrap_or("TCP") == protocol_name(protocol)
        });
        let Some(port) = port
            .and_then(|p| p.port)
            .and_then(|p| u16::try_from(p).ok())
        else {
            continue;
        };
        for ep in slice.endpoints.iter().flatten() {
            let c = ep.conditions.as_ref();
            // Upstream: an unset `ready` or `serving` means true, an unset `terminating` false.
            let ready = c.and_then(|c| c.ready).unwrap_or(true);
            let terminating = c.and_then(|c| c.terminating).unwrap_or(false);
            let serving = c.and_then(|c| c.serving).unwrap_or(ready);
            for ip in ep
                .addresses
                .iter()
                .filter_map(|a| a.parse::<Ipv4Addr>().ok())
            {
                out.push(Endpoint {
                    backend: Backend { ip, port },
                    node: ep.node_name.as_deref(),
                    ready: ready && !terminating,
                    serving,
                    terminating,
                });
            }
        }
    }
    out
}

/// The backends new connections go to (optionally only `node`'s): the ready endpoints, or,
/// when there is none, the ones still serving while terminating (upstream's
/// ProxyTerminatingEndpoints), so a rollout's last pods drain instead of refusing.
fn usable(endpoints: &[Endpoint<'_>], node: Option<&str>) -> Vec<Backend> {
    let mine = |e: &&Endpoint<'_>| node.is_none() || e.node == node;
    let pick = |keep: &dyn Fn(&Endpoint<'_>) -> bool| -> Vec<Backend> {
        let mut v: Vec<Backend> = endpoints
            .iter()
            .filter(mine)
            .filter(|e| keep(e))
            .map(|e| e.backend)
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let ready = pick(&|e| e.ready);
    if !ready.is_empty() {
        return ready;
    }
    pick(&|e| e.serving && e.terminating)
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(v: serde_json::Value) -> Service {
        serde_json::from_value(v).unwrap()
    }

    fn slice(v: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn ready_endpoints_with_named_ports_and_local_policy() {
        let s = svc(json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"clusterIP": "10.0.0.10", "type": "NodePort",
                "externalTrafficPolicy": "Local",
                "ports": [{"name": "http", "port": 80, "targetPort": "web", "nodePort": 30080}]}}));
        let sl = slice(json!({"metadata": {"name": "web-1", "namespace": "default",
                "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": ["172.17.0.3"], "conditions": {"ready": true}, "nodeName": "a"},
                {"addresses": ["172.17.0.4"], "conditions": {"ready": false}, "nodeName": "a"},
                {"addresses": ["172.17.0.5"], "conditions": {"ready": true, "terminating": true}},
                {"addresses": ["172.17.0.6"], "nodeName": "b"}]}));
        let rules = build(&[&s], &[&sl], "a");
        assert_eq!(rules.len(), 1);
        let r = &rules[0];
        assert_eq!(r.id, "default/web:http");
        assert_eq!(r.node_port, Some(30080));
        let ip = |s: &str| Backend {
            ip: s.parse().unwrap(),
            port: 8080,
        };
        assert_eq!(r.internal, vec![ip("172.17.0.3"), ip("172.17.0.6")]);
        assert_eq!(r.external, vec![ip("172.17.0.3")]);
    }

    #[test]
    fn headless_and_external_name_are_not_proxied() {
        let headless = svc(json!({"metadata": {"name": "h", "namespace": "d"},
            "spec": {"clusterIP": "None", "ports": [{"port": 80}]}}));
        let ext = svc(json!({"metadata": {"name": "e", "namespace": "d"},
            "spec": {"type": "ExternalName", "externalName": "example.org"}}));
        assert!(build(&[&headless, &ext], &[], "a").is_empty());
    }

    #[test]
    fn terminating_endpoints_only_when_nothing_is_ready() {
        let s = svc(json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"clusterIP": "10.0.0.10", "ports": [{"port": 80}]}}));
        let slice_with = |eps: serde_json::Value| {
            slice(json!({"metadata": {"name": "web-1", "namespace": "default",
                    "labels": {"kubernetes.io/service-name": "web"}},
                "addressType": "IPv4", "ports": [{"name": "", "port": 8080}], "endpoints": eps}))
        };
        let draining = json!({"addresses": ["172.17.0.5"],
            "conditions": {"ready": false, "serving": true, "terminating": true}});
        let gone = json!({"addresses": ["172.17.0.6"],
            "conditions": {"ready": false, "serving": false, "terminating": true}});
        let fresh = json!({"addresses": ["172.17.0.7"], "conditions": {"ready": true}});
        let only_old = slice_with(json!([draining.clone(), gone.clone()]));
        let r = &build(&[&s], &[&only_old], "a")[0];
        let ips: Vec<String> = r.internal.iter().map(|b| b.ip.to_string()).collect();
        assert_eq!(ips, vec!["172.17.0.5"]);
        assert!(r.has_endpoints);
        let with_new = slice_with(json!([draining, gone, fresh]));
        let r = &build(&[&s], &[&with_new], "a")[0];
        let ips: Vec<String> = r.internal.iter().map(|b| b.ip.to_string()).collect();
        assert_eq!(ips, vec!["172.17.0.7"]);
        let none = build(&[&s], &[], "a");
        assert!(!none[0].has_endpoints && none[0].internal.is_empty());
    }

    #[test]
    fn client_ip_affinity_timeout_defaults_to_three_hours() {
        let sticky = svc(json!({"metadata": {"name": "a", "namespace": "d"},
            "spec": {"clusterIP": "10.0.0.1", "sessionAffinity": "ClientIP", "ports": [{"port": 80}]}}));
        let timed = svc(json!({"metadata": {"name": "b", "namespace": "d"},
            "spec": {"clusterIP": "10.0.0.2", "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
                "ports": [{"port": 80}]}}));
        let plain = svc(json!({"metadata": {"name": "c", "namespace": "d"},
            "spec": {"clusterIP": "10.0.0.3", "sessionAffinity": "None", "ports": [{"port": 80}]}}));
        let rules = build(&[&sticky, &timed, &plain], &[], "n");
        let timeouts: Vec<Option<u32>> = rules.iter().map(|r| r.affinity_timeout).collect();
        assert_eq!(timeouts, vec![Some(10800), Some(60), None]);
    }
}
