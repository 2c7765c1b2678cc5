//! The objects the DNS server answers from, reduced to what records need: built from the
//! API's Services and EndpointSlices, rebuilt whole on every change (a snapshot is immutable, so
//! queries never wait on an update).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use hickory_proto::rr::Name;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// Label naming an EndpointSlice's Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// Upstream's legacy annotation that publishes unready endpoints in DNS.
const TOLERATE_UNREADY: &str = "service.alpha.kubernetes.io/tolerate-unready-endpoints";

/// A Service's kind as DNS sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceKind {
    /// A Service with ClusterIP(s): `<svc>.<ns>.svc` answers them.
    ClusterIp(Vec<IpAddr>),
    /// `clusterIP: None`: `<svc>.<ns>.svc` answers every ready endpoint.
    Headless,
    /// `type: ExternalName`: `<svc>.<ns>.svc` is a CNAME to the external name.
    ExternalName(Name),
}

/// A named port (ports without a name have no SRV record).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedPort {
    /// Port name, lowercase.
    pub name: String,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// Port number.
    pub port: u16,
}

/// One ready endpoint address of a Service.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// The endpoint's IP.
    pub ip: IpAddr,
    /// The endpoint's `hostname`, or (as CoreDNS) its IP with dashes when it has none.
    pub hostname: String,
    /// The named ports of the endpoint's slice (the pod's real ports: headless SRV uses them).
    pub ports: Vec<NamedPort>,
}

/// What DNS knows of one Service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRecord {
    /// ClusterIP, headless or ExternalName.
    pub kind: ServiceKind,
    /// The Service's named ports.
    pub ports: Vec<NamedPort>,
    /// Ready endpoints (unready ones too when the Service publishes them), one per IP.
    pub endpoints: Vec<Endpoint>,
}

/// Everything one query may read: an immutable view of the cluster's Services.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The cluster domain as a fully qualified, lowercase name (`cluster.local.`).
    pub zone: Name,
    /// Services by `(namespace, name)`, lowercase.
    pub services: HashMap<(String, String), ServiceRecord>,
    /// Namespaces that have at least one Service (their `<ns>.svc` name exists).
    pub namespaces: HashSet<String>,
    /// Reverse records: ClusterIPs and endpoint IPs to the names that point at them.
    pub reverse: HashMap<IpAddr, Vec<Name>>,
    /// SOA serial: changes whenever the snapshot does.
    pub serial: u32,
}

impl Snapshot {
    /// An empty snapshot for `cluster_domain` (e.g. `cluster.local`).
    pub fn empty(cluster_domain: &str) -> anyhow::Result<Self> {
        let mut zone = Name::from_ascii(cluster_domain.trim_end_matches('.'))?.to_lowercase();
        zone.set_fqdn(true);
        Ok(Self {
            zone,
            services: HashMap::new(),
            namespaces: HashSet::new(),
            reverse: HashMap::new(),
            serial: 1,
        })
    }

    /// The snapshot of the given objects (objects that cannot be named in DNS are skipped).
    pub fn build<'a>(
        cluster_domain: &str,
        services: impl IntoIterator<Item = &'a Service>,
        slices: impl IntoIterator<Item = &'a EndpointSlice>,
        serial: u32,
    ) -> anyhow::Result<Self> {
        let mut snap = Self::empty(cluster_domain)?;
        snap.serial = serial;
        let mut by_service: BTreeMap<(String, String), Vec<&EndpointSlice>> = BTreeMap::new();
        for slice in slices {
            let ns = slice.metadata.namespace.clone().unwrap_or_default();
            let labels = slice.metadata.labels.as_ref();
            if let Some(svc) = labels.and_then(|l| l.get(SERVICE_NAME_LABEL)) {
                let key = (ns.to_lowercase(), svc.to_lowercase());
                by_service.entry(key).or_default().push(slice);
            }
        }
        for svc in services {
            let ns = svc
                .metadata
                .namespace
                .clone()
                .unwrap_or_default()
                .to_lowercase();
            let name = svc.metadata.name.clone().unwrap_or_default().to_lowercase();
            let Some(kind) = service_kind(svc) else {
                continue;
            };
            let publish_unready = publishes_unready(svc);
            let key = (ns.clone(), name.clone());
            let slices = by_service.get(&key).map(Vec::as_slice).unwrap_or_default();
            let record = ServiceRecord {
                kind,
                ports: service_ports(svc),
                endpoints: ready_endpoints(slices, publish_unready),
            };
            snap.add_reverse(&ns, &name, &record);
            snap.namespaces.insert(ns);
            snap.services.insert(key, record);
        }
        Ok(snap)
    }

    /// `<svc>.<ns>.svc.<zone>`, optionally under a leading label (an endpoint's hostname).
    pub fn service_name(&self, host: Option<&str>, svc: &str, ns: &str) -> Name {
        let mut labels: Vec<&str> = Vec::with_capacity(4);
        labels.extend(host);
        labels.extend([svc, ns, "svc"]);
        Name::from_labels(labels.iter().map(|l| l.as_bytes()))
            .and_then(|n| n.append_domain(&self.zone))
            .unwrap_or_else(|_| self.zone.clone())
    }

    fn add_reverse(&mut self, ns: &str, svc: &str, record: &ServiceRecord) {
        if let ServiceKind::ClusterIp(ips) = &record.kind {
            for ip in ips {
                let name = self.service_name(None, svc, ns);
                self.reverse.entry(*ip).or_default().push(name);
            }
        }
        for ep in &record.endpoints {
            let name = self.service_name(Some(&ep.hostname), svc, ns);
            self.reverse.entry(ep.ip).or_default().push(name);
        }
    }
}

/// A Service's DNS kind; `None` when it has neither an IP nor an external name (not yet
/// allocated, or an invalid external name).
fn service_kind(svc: &Service) -> Option<ServiceKind> {
    let spec = svc.spec.as_ref()?;
    if spec.type_.as_deref() == Some("ExternalName") {
        let target = spec.external_name.as_deref()?.trim_end_matches('.');
        let mut name = Name::from_ascii(target).ok()?.to_lowercase();
        name.set_fqdn(true);
        return Some(ServiceKind::ExternalName(name));
    }
    let mut ips: Vec<String> = spec.cluster_ips.clone().unwrap_or_default();
    if ips.is_empty() {
        ips.extend(spec.cluster_ip.clone());
    }
    if ips.iter().any(|ip| ip == "None") {
        return Some(ServiceKind::Headless);
    }
    let ips: Vec<IpAddr> = ips.iter().filter_map(|ip| ip.parse().ok()).collect();
    (!ips.is_empty()).then_some(ServiceKind::ClusterIp(ips))
}

fn publishes_unready(svc: &Service) -> bool {
    let spec_says = svc
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let annotation_says = svc
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(TOLERATE_UNREADY))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    spec_says || annotation_says
}

fn named_port(name: Option<&str>, protocol: Option<&str>, port: Option<i32>) -> Option<NamedPort> {
    let name = name.filter(|n| !n.is_empty())?.to_lowercase();
    let port = u16::try_from(port?).ok()?;
    let protocol = protocol.unwrap_or("TCP").to_lowercase();
    Some(NamedPort {
        name,
        protocol,
        port,
    })
}

fn service_ports(svc: &Service) -> Vec<NamedPort> {
    let ports = svc.spec.as_ref().and_then(|s| s.ports.as_ref());
    ports
        .into_iter()
        .flatten()
        .filter_map(|p| named_port(p.name.as_deref(), p.protocol.as_deref(), Some(p.port)))
        .collect()
}

/// The endpoints DNS publishes: ready ones (a missing `ready` condition means ready, as the
/// API documents), or all of them when the Service publishes unready addresses; one per IP.
fn ready_endpoints(slices: &[&EndpointSlice], publish_unready: bool) -> Vec<Endpoint> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for slice in slices {
        let ports: Vec<NamedPort> = slice
            .ports
            .iter()
            .flatten()
            .filter_map(|p| named_port(p.name.as_deref(), p.protocol.as_deref(), p.port))
            .collect();
        for ep in slice.endpoints.iter().flatten() {
            let ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            if !ready && !publish_unready {
                continue;
            }
            for ip in ep.addresses.iter().filter_map(|a| a.parse::<IpAddr>().ok()) {
                if !seen.insert(ip) {
                    continue;
                }
                let hostname = ep
                    .hostname
                    .as_deref()
                    .filter(|h| !h.is_empty())
                    .map(str::to_lowercase)
                    .unwrap_or_else(|| dashed(ip));
                out.push(Endpoint {
                    ip,
                    hostname,
                    ports: ports.clone(),
                });
            }
        }
    }
    out.sort_by_key(|e| e.ip);
    out
}

/// An IP written as one DNS label: `10.1.2.3` → `10-1-2-3`, `fd00::1` → `fd00--1`.
pub fn dashed(ip: IpAddr) -> String {
    ip.to_string().replace(['.', ':'], "-")
}
