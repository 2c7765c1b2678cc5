use super::*;
use hickory_proto::op::ResponseCode;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;

fn service(v: serde_json::Value) -> Service {
    serde_json::from_value(v).expect("service")
}

fn slice(
    ns: &str,
    svc: &str,
    endpoints: serde_json::Value,
    ports: serde_json::Value,
) -> EndpointSlice {
    serde_json::from_value(json!({
        "metadata": {"name": format!("{svc}-x"), "namespace": ns,
                     "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4", "endpoints": endpoints, "ports": ports
    }))
    .expect("slice")
}

/// web (ClusterIP 10.96.0.20, named port http/80 and an unnamed one), db (headless with two
/// ready pods, one StatefulSet-style hostname, one unready), ext (ExternalName), in `ns`.
pub(crate) fn cluster() -> Snapshot {
    let services = [
        service(json!({"metadata": {"name": "web", "namespace": "ns"},
            "spec": {"clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"],
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"port": 81}]}})),
        service(json!({"metadata": {"name": "db", "namespace": "ns"},
            "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}})),
        service(json!({"metadata": {"name": "ext", "namespace": "ns"},
            "spec": {"type": "ExternalName", "externalName": "example.com"}})),
        service(json!({"metadata": {"name": "empty", "namespace": "other"},
            "spec": {"clusterIP": "None"}})),
        service(json!({"metadata": {"name": "pending", "namespace": "ns"}, "spec": {}})),
    ];
    let slices = [
        slice(
            "ns",
            "web",
            json!([{"addresses": ["10.1.0.5"], "conditions": {"ready": true}}]),
            json!([{"name": "http", "port": 8080, "protocol": "TCP"}]),
        ),
        slice(
            "ns",
            "db",
            json!([
                {"addresses": ["10.1.0.7"], "hostname": "db-0", "conditions": {"ready": true}},
                {"addresses": ["10.1.0.8"]},
                {"addresses": ["10.1.0.9"], "hostname": "db-2", "conditions": {"ready": false}}]),
            json!([{"name": "pg", "port": 15432, "protocol": "TCP"}]),
        ),
    ];
    Snapshot::build("cluster.local", &services, &slices, 7).expect("snapshot")
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("name")
}

fn answer(snap: &Snapshot, q: &str, t: RecordType) -> Answer {
    match snap.resolve(&name(q), t) {
        Outcome::Answer(a) => a,
        Outcome::OutOfZone => panic!("{q} out of zone"),
    }
}

fn rdatas(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.data().to_string()).collect()
}

#[test]
fn cluster_ip_service_has_an_a_record_in_the_questions_spelling() {
    let snap = cluster();
    let a = answer(&snap, "Web.NS.svc.cluster.local.", RecordType::A);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert_eq!(rdatas(&a.answers), ["10.96.0.20"]);
    assert_eq!(a.answers[0].name().to_ascii(), "Web.NS.svc.cluster.local.");
    assert_eq!(a.answers[0].ttl(), TTL);
    // The name exists, AAAA has no data: NOERROR, empty, SOA in authority.
    let aaaa = answer(&snap, "web.ns.svc.cluster.local.", RecordType::AAAA);
    assert_eq!(aaaa.rcode, ResponseCode::NoError);
    assert!(aaaa.answers.is_empty());
    assert_eq!(aaaa.authority[0].record_type(), RecordType::SOA);
}

#[test]
fn srv_for_named_ports_only() {
    let snap = cluster();
    let a = answer(
        &snap,
        "_http._tcp.web.ns.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_eq!(rdatas(&a.answers), ["0 100 80 web.ns.svc.cluster.local."]);
    assert_eq!(rdatas(&a.additionals), ["10.96.0.20"]);
    let wrong_proto = answer(
        &snap,
        "_http._udp.web.ns.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_eq!(wrong_proto.rcode, ResponseCode::NXDomain);
    let unnamed = answer(&snap, "_81._tcp.web.ns.svc.cluster.local.", RecordType::SRV);
    assert_eq!(unnamed.rcode, ResponseCode::NXDomain);
}

#[test]
fn headless_service_answers_ready_endpoints_and_their_hostnames() {
    let snap = cluster();
    let a = answer(&snap, "db.ns.svc.cluster.local.", RecordType::A);
    assert_eq!(rdatas(&a.answers), ["10.1.0.7", "10.1.0.8"]);
    let pet = answer(&snap, "db-0.db.ns.svc.cluster.local.", RecordType::A);
    assert_eq!(rdatas(&pet.answers), ["10.1.0.7"]);
    // Without a hostname an endpoint is named by its dashed IP.
    let anon = answer(&snap, "10-1-0-8.db.ns.svc.cluster.local.", RecordType::A);
    assert_eq!(rdatas(&anon.answers), ["10.1.0.8"]);
    let unready = answer(&snap, "db-2.db.ns.svc.cluster.local.", RecordType::A);
    assert_eq!(unready.rcode, ResponseCode::NXDomain);
    let srv = answer(&snap, "_pg._tcp.db.ns.svc.cluster.local.", RecordType::SRV);
    assert_eq!(
        rdatas(&srv.answers),
        [
            "0 50 15432 db-0.db.ns.svc.cluster.local.",
            "0 50 15432 10-1-0-8.db.ns.svc.cluster.local."
        ]
    );
    assert_eq!(rdatas(&srv.additionals), ["10.1.0.7", "10.1.0.8"]);
    // No ready endpoints: NXDOMAIN, as the spec says.
    let empty = answer(&snap, "empty.other.svc.cluster.local.", RecordType::A);
    assert_eq!(empty.rcode, ResponseCode::NXDomain);
}

#[test]
fn unready_endpoints_are_published_when_the_service_asks() {
    let svc = service(json!({"metadata": {"name": "db", "namespace": "ns"},
        "spec": {"clusterIP": "None", "publishNotReadyAddresses": true}}));
    let eps = slice(
        "ns",
        "db",
        json!([{"addresses": ["10.1.0.9"], "conditions": {"ready": false}}]),
        json!(null),
    );
    let snap = Snapshot::build("cluster.local", [&svc], [&eps], 1).expect("snapshot");
    let a = answer(&snap, "db.ns.svc.cluster.local.", RecordType::A);
    assert_eq!(rdatas(&a.answers), ["10.1.0.9"]);
}

#[test]
fn external_name_is_a_cname_for_every_type() {
    let snap = cluster();
    for t in [RecordType::A, RecordType::AAAA, RecordType::CNAME] {
        let a = answer(&snap, "ext.ns.svc.cluster.local.", t);
        assert_eq!(a.answers[0].record_type(), RecordType::CNAME);
        assert_eq!(rdatas(&a.answers), ["example.com."]);
    }
}

#[test]
fn pod_names_carry_their_address() {
    let snap = cluster();
    let a = answer(&snap, "10-1-0-42.any.pod.cluster.local.", RecordType::A);
    assert_eq!(rdatas(&a.answers), ["10.1.0.42"]);
    let v6 = answer(&snap, "fd00--1.ns.pod.cluster.local.", RecordType::AAAA);
    assert_eq!(rdatas(&v6.answers), ["fd00::1"]);
    for bad in ["10-1-0-300", "010-1-0-4", "web"] {
        let q = format!("{bad}.ns.pod.cluster.local.");
        assert_eq!(
            answer(&snap, &q, RecordType::A).rcode,
            ResponseCode::NXDomain,
            "{q}"
        );
    }
}

#[test]
fn ptr_for_cluster_ips_and_endpoints() {
    let snap = cluster();
    let svc = answer(&snap, "20.0.96.10.in-addr.arpa.", RecordType::PTR);
    assert_eq!(rdatas(&svc.answers), ["web.ns.svc.cluster.local."]);
    let pet = answer(&snap, "7.0.1.10.in-addr.arpa.", RecordType::PTR);
    assert_eq!(rdatas(&pet.answers), ["db-0.db.ns.svc.cluster.local."]);
    // An address the cluster does not know is not ours to answer.
    assert_eq!(
        snap.resolve(&name("8.8.8.8.in-addr.arpa."), RecordType::PTR),
        Outcome::OutOfZone
    );
}

#[test]
fn ipv6_reverse_names_parse() {
    let v6: Ipv6Addr = "fd00::1".parse().expect("v6");
    let nibbles: String = format!("{:032x}", u128::from(v6))
        .chars()
        .rev()
        .map(|c| format!("{c}."))
        .collect();
    let q = name(&format!("{nibbles}ip6.arpa."));
    assert_eq!(reverse_ip(&q), Some(IpAddr::V6(v6)));
}

#[test]
fn unknown_cluster_names_are_nxdomain_with_the_soa() {
    let snap = cluster();
    for q in [
        "nope.ns.svc.cluster.local.",
        "web.nope.svc.cluster.local.",
        "a.b.c.d.e.f.svc.cluster.local.",
        "web.cluster.local.",
        "nope.db.ns.svc.cluster.local.",
    ] {
        let a = answer(&snap, q, RecordType::A);
        assert_eq!(a.rcode, ResponseCode::NXDomain, "{q}");
        assert_eq!(a.authority.len(), 1, "{q}");
        assert_eq!(a.authority[0].record_type(), RecordType::SOA);
        assert_eq!(a.authority[0].name().to_ascii(), "cluster.local.");
    }
    // A Service not yet given an address has no name.
    let pending = answer(&snap, "pending.ns.svc.cluster.local.", RecordType::A);
    assert_eq!(pending.rcode, ResponseCode::NXDomain);
    // The namespace of an existing Service exists.
    let ns = answer(&snap, "ns.svc.cluster.local.", RecordType::A);
    assert_eq!(ns.rcode, ResponseCode::NoError);
}

#[test]
fn zone_apex_and_schema_version() {
    let snap = cluster();
    let soa = answer(&snap, "cluster.local.", RecordType::SOA);
    assert_eq!(soa.answers.len(), 1);
    assert!(
        soa.answers[0].data().to_string().contains(" 7 "),
        "serial 7"
    );
    let version = answer(&snap, "dns-version.cluster.local.", RecordType::TXT);
    assert_eq!(rdatas(&version.answers), ["1.1.0"]);
}

#[test]
fn names_outside_the_domain_are_not_ours() {
    let snap = cluster();
    for q in ["example.com.", "cluster.local.example.com.", "local."] {
        assert_eq!(
            snap.resolve(&name(q), RecordType::A),
            Outcome::OutOfZone,
            "{q}"
        );
    }
}

#[test]
fn a_custom_domain_is_honoured() {
    let svc = service(json!({"metadata": {"name": "web", "namespace": "ns"},
        "spec": {"clusterIP": "10.0.0.1"}}));
    let none: [&EndpointSlice; 0] = [];
    let snap = Snapshot::build("corp.example.", [&svc], none, 1).expect("snapshot");
    let a = answer(&snap, "web.ns.svc.corp.example.", RecordType::A);
    assert_eq!(rdatas(&a.answers), ["10.0.0.1"]);
    assert_eq!(
        snap.resolve(&name("web.ns.svc.cluster.local."), RecordType::A),
        Outcome::OutOfZone
    );
}
