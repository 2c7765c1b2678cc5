//! Answers from a [`Snapshot`]: upstream's DNS schema for Kubernetes
//! (kubernetes/dns `docs/specification.md`) — pure, so every record is unit-tested without a
//! socket.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::snapshot::{dashed, Endpoint, ServiceKind, ServiceRecord, Snapshot};

/// TTL of every cluster record (CoreDNS' `kubernetes` plugin default).
pub const TTL: u32 = 5;
/// The schema version `dns-version.<zone>` answers (the spec's current version).
pub const SCHEMA_VERSION: &str = "1.1.0";

/// What the snapshot says about a question.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Not a cluster name (nor a reverse name of a cluster address): forward or refuse.
    OutOfZone,
    /// An authoritative answer.
    Answer(Answer),
}

/// An authoritative answer: response code, answer and additional records, and whether the
/// zone's SOA belongs in the authority section (NXDOMAIN and no-data answers, as upstream).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Answer {
    /// NOERROR or NXDOMAIN.
    pub rcode: ResponseCode,
    /// Answer section.
    pub answers: Vec<Record>,
    /// Additional section (addresses of SRV targets).
    pub additionals: Vec<Record>,
    /// The SOA for the authority section, on negative answers.
    pub authority: Vec<Record>,
}

impl Snapshot {
    /// Answers `qname`/`qtype` from this snapshot (comparisons are case-insensitive; answer
    /// records carry the question's own spelling).
    pub fn resolve(&self, qname: &Name, qtype: RecordType) -> Outcome {
        let lower = qname.to_lowercase();
        if let Some(ip) = reverse_ip(&lower) {
            return self.resolve_reverse(qname, qtype, ip);
        }
        if !self.zone.zone_of(&lower) {
            return Outcome::OutOfZone;
        }
        let labels = relative_labels(&lower, self.zone.num_labels());
        let found = match labels.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            [] => Some(self.apex(qname, qtype)),
            ["dns-version"] => Some(txt_answer(qname, qtype)),
            ["svc"] => Some(no_data()),
            [ns, "svc"] => self.namespaces.contains(ns).then(no_data),
            [svc, ns, "svc"] => return self.service(qname, qtype, ns, svc),
            [host, svc, ns, "svc"] => self.endpoint(qname, qtype, ns, svc, host),
            [port, proto, svc, ns, "svc"] => self.srv(qname, qtype, ns, svc, port, proto),
            ["pod"] => Some(no_data()),
            [ns, "pod"] => self.namespaces.contains(ns).then(no_data),
            [ip, _ns, "pod"] => pod_address(qname, qtype, ip),
            _ => None,
        };
        match found {
            Some((answers, additionals)) => self.positive(answers, additionals),
            None => self.negative(ResponseCode::NXDomain),
        }
    }

    /// The zone's SOA record (authority section of negative answers).
    pub fn soa(&self) -> Record {
        let mname = Name::from_ascii("ns.dns")
            .and_then(|n| n.append_domain(&self.zone))
            .unwrap_or_else(|_| self.zone.clone());
        let rname = Name::from_ascii("hostmaster")
            .and_then(|n| n.append_domain(&self.zone))
            .unwrap_or_else(|_| self.zone.clone());
        let soa = SOA::new(mname, rname, self.serial, 7200, 1800, 86400, TTL);
        Record::from_rdata(self.zone.clone(), TTL, RData::SOA(soa))
    }

    fn positive(&self, answers: Vec<Record>, additionals: Vec<Record>) -> Outcome {
        let authority = if answers.is_empty() {
            vec![self.soa()]
        } else {
            Vec::new()
        };
        Outcome::Answer(Answer {
            rcode: ResponseCode::NoError,
            answers,
            additionals,
            authority,
        })
    }

    fn negative(&self, rcode: ResponseCode) -> Outcome {
        Outcome::Answer(Answer {
            rcode,
            authority: vec![self.soa()],
            ..Default::default()
        })
    }

    fn apex(&self, qname: &Name, qtype: RecordType) -> Records {
        let answers = match qtype {
            RecordType::SOA | RecordType::ANY => {
                let mut soa = self.soa();
                soa.set_name(qname.clone());
                vec![soa]
            }
            _ => Vec::new(),
        };
        (answers, Vec::new())
    }

    fn service(&self, qname: &Name, qtype: RecordType, ns: &str, svc: &str) -> Outcome {
        let Some(record) = self.services.get(&(ns.to_string(), svc.to_string())) else {
            return self.negative(ResponseCode::NXDomain);
        };
        let answers = match &record.kind {
            ServiceKind::ClusterIp(ips) => addresses(qname, qtype, ips.iter().copied()),
            // The spec: a headless Service without ready endpoints is NXDOMAIN.
            ServiceKind::Headless if record.endpoints.is_empty() => {
                return self.negative(ResponseCode::NXDomain)
            }
            ServiceKind::Headless => addresses(qname, qtype, record.endpoints.iter().map(|e| e.ip)),
            ServiceKind::ExternalName(target) => {
                let cname = RData::CNAME(CNAME(target.clone()));
                vec![Record::from_rdata(qname.clone(), TTL, cname)]
            }
        };
        self.positive(answers, Vec::new())
    }

    fn endpoint(
        &self,
        qname: &Name,
        qtype: RecordType,
        ns: &str,
        svc: &str,
        host: &str,
    ) -> Option<Records> {
        let record = self.services.get(&(ns.to_string(), svc.to_string()))?;
        let ips: Vec<IpAddr> = record
            .endpoints
            .iter()
            .filter(|e| e.hostname == host)
            .map(|e| e.ip)
            .collect();
        (!ips.is_empty()).then(|| (addresses(qname, qtype, ips), Vec::new()))
    }

    fn srv(
        &self,
        qname: &Name,
        qtype: RecordType,
        ns: &str,
        svc: &str,
        port: &str,
        proto: &str,
    ) -> Option<Records> {
        let record = self.services.get(&(ns.to_string(), svc.to_string()))?;
        let port = port.strip_prefix('_')?;
        let proto = proto.strip_prefix('_')?;
        let targets = srv_targets(record, port, proto);
        if targets.is_empty() {
            return None;
        }
        if !matches!(qtype, RecordType::SRV | RecordType::ANY) {
            return Some((Vec::new(), Vec::new()));
        }
        let mut answers = Vec::new();
        let mut additionals = Vec::new();
        // Equal shares: weight 100 / number of targets (as CoreDNS), priority 0.
        let weight = u16::try_from(100 / targets.len()).unwrap_or(0).max(1);
        for (host, number, ips) in targets {
            let target = self.service_name(host, svc, ns);
            let srv = SRV::new(0, weight, number, target.clone());
            answers.push(Record::from_rdata(qname.clone(), TTL, RData::SRV(srv)));
            for ip in ips {
                additionals.extend(addresses(&target, address_type(ip), [ip]));
            }
        }
        Some((answers, additionals))
    }

    fn resolve_reverse(&self, qname: &Name, qtype: RecordType, ip: IpAddr) -> Outcome {
        let Some(names) = self.reverse.get(&ip) else {
            return Outcome::OutOfZone;
        };
        let answers = if matches!(qtype, RecordType::PTR | RecordType::ANY) {
            let ptr = |n: &Name| Record::from_rdata(qname.clone(), TTL, RData::PTR(PTR(n.clone())));
            names.iter().map(ptr).collect()
        } else {
            Vec::new()
        };
        self.positive(answers, Vec::new())
    }
}

/// Answer and additional records of a positive answer.
type Records = (Vec<Record>, Vec<Record>);

fn no_data() -> Records {
    (Vec::new(), Vec::new())
}

/// `(hostname for the target, port number, target addresses)` of each SRV record: the
/// Service's own name for a ClusterIP Service, every endpoint's name for a headless one.
fn srv_targets<'a>(
    record: &'a ServiceRecord,
    port: &str,
    proto: &str,
) -> Vec<(Option<&'a str>, u16, Vec<IpAddr>)> {
    let matches = |p: &&crate::snapshot::NamedPort| p.name == port && p.protocol == proto;
    match &record.kind {
        ServiceKind::ClusterIp(ips) => record
            .ports
            .iter()
            .filter(matches)
            .map(|p| (None, p.port, ips.clone()))
            .collect(),
        ServiceKind::Headless => record
            .endpoints
            .iter()
            .flat_map(|e: &'a Endpoint| {
                let ports = e.ports.iter().filter(matches);
                ports.map(move |p| (Some(e.hostname.as_str()), p.port, vec![e.ip]))
            })
            .collect(),
        ServiceKind::ExternalName(_) => Vec::new(),
    }
}

/// A or AAAA records of `ips` for `qtype` (the other family and other types: no data).
fn addresses(
    qname: &Name,
    qtype: RecordType,
    ips: impl IntoIterator<Item = IpAddr>,
) -> Vec<Record> {
    ips.into_iter()
        .filter_map(|ip| match (ip, qtype) {
            (IpAddr::V4(v4), RecordType::A | RecordType::ANY) => Some(RData::A(A(v4))),
            (IpAddr::V6(v6), RecordType::AAAA | RecordType::ANY) => Some(RData::AAAA(AAAA(v6))),
            _ => None,
        })
        .map(|rdata| Record::from_rdata(qname.clone(), TTL, rdata))
        .collect()
}

fn address_type(ip: IpAddr) -> RecordType {
    match ip {
        IpAddr::V4(_) => RecordType::A,
        IpAddr::V6(_) => RecordType::AAAA,
    }
}

/// `<a-b-c-d>.<ns>.pod.<zone>`: the address written in the name (upstream's deprecated but
/// required pod records, answered for any address as the spec says).
fn pod_address(qname: &Name, qtype: RecordType, label: &str) -> Option<Records> {
    let v4 = label.replace('-', ".").parse::<Ipv4Addr>().map(IpAddr::V4);
    let ip = v4
        .or_else(|_| label.replace('-', ":").parse::<Ipv6Addr>().map(IpAddr::V6))
        .ok()?;
    // Only the canonical spelling names the address (`010-0-0-1` is not `10-0-0-1`).
    (dashed(ip) == label).then(|| (addresses(qname, qtype, [ip]), Vec::new()))
}

fn txt_answer(qname: &Name, qtype: RecordType) -> Records {
    let answers = match qtype {
        RecordType::TXT | RecordType::ANY => {
            let txt = RData::TXT(TXT::new(vec![SCHEMA_VERSION.to_string()]));
            vec![Record::from_rdata(qname.clone(), TTL, txt)]
        }
        _ => Vec::new(),
    };
    (answers, Vec::new())
}

/// The labels of `name` left of its last `zone_labels` labels, lowercase.
fn relative_labels(name: &Name, zone_labels: u8) -> Vec<String> {
    let keep = name.num_labels().saturating_sub(zone_labels) as usize;
    name.iter()
        .take(keep)
        .map(|l| String::from_utf8_lossy(l).to_lowercase())
        .collect()
}

/// The address a reverse name (`d.c.b.a.in-addr.arpa.` or the 32 nibbles of `ip6.arpa.`)
/// stands for.
fn reverse_ip(name: &Name) -> Option<IpAddr> {
    let labels: Vec<String> = name
        .iter()
        .map(|l| String::from_utf8_lossy(l).to_lowercase())
        .collect();
    match labels.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [d, c, b, a, "in-addr", "arpa"] => format!("{a}.{b}.{c}.{d}").parse().ok(),
        ref nibbles if nibbles.len() == 34 && nibbles[32..] == ["ip6", "arpa"] => {
            let hex: String = nibbles[..32].iter().rev().copied().collect();
            if hex.len() != 32 {
                return None;
            }
            let value = u128::from_str_radix(&hex, 16).ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(value)))
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "records_tests.rs"]
pub(crate) mod tests;
