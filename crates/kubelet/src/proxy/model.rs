//! What the proxy must program, derived from Services and discovery.k8s.io/v1 EndpointSlices:
//! one [`PortRule`] per Service port with the ready backends behind it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// Label tying an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Transport protocol of a Service port (SCTP is not proxied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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
}

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
        let all = ready_backends(slices, &port_name, protocol, None);
        let local = ready_backends(slices, &port_name, protocol, Some(node));
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
            external: if external_local { local } else { all },
        });
    }
    out
}

/// Ready (hence not terminating) endpoints serving the named port, optionally only `node`'s.
fn ready_backends(
    slices: &[&EndpointSlice],
    port_name: &str,
    protocol: Protocol,
    node: Option<&str>,
) -> Vec<Backend> {
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
        for ep in &slice.endpoints {
            let conditions = ep.conditions.as_ref();
            // Upstream: an unset `ready` means ready; terminating endpoints are never ready.
            let ready = conditions.and_then(|c| c.ready).unwrap_or(true)
                && !conditions.and_then(|c| c.terminating).unwrap_or(false);
            if !ready || node.is_some_and(|n| ep.node_name.as_deref() != Some(n)) {
                continue;
            }
            for ip in ep
                .addresses
                .iter()
                .filter_map(|a| a.parse::<Ipv4Addr>().ok())
            {
                out.push(Backend { ip, port });
            }
        }
    }
    out.sort();
    out.dedup();
    out
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
}
