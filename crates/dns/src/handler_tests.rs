use super::*;
use hickory_proto::op::Query;
use hickory_proto::rr::Name;

fn query(name: &str, t: RecordType) -> Message {
    let mut m = Message::new();
    m.set_id(0x1234)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true);
    m.add_query(Query::query(Name::from_ascii(name).expect("name"), t));
    m
}

fn reply(snap: Option<&Snapshot>, forwarding: bool, packet: &[u8], t: Transport) -> Message {
    match handle(snap, forwarding, packet, t) {
        Reply::Send(bytes) => Message::from_vec(&bytes).expect("reply parses"),
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn bytes(m: &Message) -> Vec<u8> {
    m.to_vec().expect("encode")
}

#[test]
fn answers_a_cluster_name_authoritatively() {
    let snap = crate::records::tests::cluster();
    let q = query("web.ns.svc.cluster.local.", RecordType::A);
    let r = reply(Some(&snap), false, &bytes(&q), Transport::Udp);
    assert_eq!(r.id(), 0x1234);
    assert_eq!(r.message_type(), MessageType::Response);
    assert!(r.authoritative() && r.recursion_desired() && !r.recursion_available());
    assert_eq!(r.response_code(), ResponseCode::NoError);
    assert_eq!(r.queries(), q.queries());
    assert_eq!(r.answers().len(), 1);
}

#[test]
fn outside_names_are_refused_unless_forwarding() {
    let snap = crate::records::tests::cluster();
    let q = bytes(&query("example.com.", RecordType::A));
    let r = reply(Some(&snap), false, &q, Transport::Udp);
    assert_eq!(r.response_code(), ResponseCode::Refused);
    assert!(r.answers().is_empty());
    assert_eq!(
        handle(Some(&snap), true, &q, Transport::Udp),
        Reply::Forward
    );
}

#[test]
fn before_the_first_sync_everything_is_servfail() {
    let q = bytes(&query("web.ns.svc.cluster.local.", RecordType::A));
    let r = reply(None, false, &q, Transport::Udp);
    assert_eq!(r.response_code(), ResponseCode::ServFail);
}

#[test]
fn what_we_do_not_serve_gets_upstreams_codes() {
    let snap = crate::records::tests::cluster();
    let mut notify = query("web.ns.svc.cluster.local.", RecordType::A);
    notify.set_op_code(OpCode::Notify);
    assert_eq!(
        reply(Some(&snap), false, &bytes(&notify), Transport::Udp).response_code(),
        ResponseCode::NotImp
    );
    let mut two = query("web.ns.svc.cluster.local.", RecordType::A);
    two.add_query(Query::query(
        Name::from_ascii("db.ns.svc.cluster.local.").expect("n"),
        RecordType::A,
    ));
    assert_eq!(
        reply(Some(&snap), false, &bytes(&two), Transport::Udp).response_code(),
        ResponseCode::FormErr
    );
    let axfr = query("cluster.local.", RecordType::AXFR);
    assert_eq!(
        reply(Some(&snap), false, &bytes(&axfr), Transport::Tcp).response_code(),
        ResponseCode::Refused
    );
    let mut chaos = query("version.bind.", RecordType::TXT);
    chaos.queries_mut()[0].set_query_class(DNSClass::CH);
    assert_eq!(
        reply(Some(&snap), false, &bytes(&chaos), Transport::Udp).response_code(),
        ResponseCode::Refused
    );
}

#[test]
fn responses_and_runts_are_dropped_garbage_with_a_header_is_formerr() {
    let snap = crate::records::tests::cluster();
    let mut response = query("web.ns.svc.cluster.local.", RecordType::A);
    response.set_message_type(MessageType::Response);
    assert_eq!(
        handle(Some(&snap), false, &bytes(&response), Transport::Udp),
        Reply::Drop
    );
    assert_eq!(
        handle(Some(&snap), false, &[1, 2, 3], Transport::Udp),
        Reply::Drop
    );
    // A query header claiming one question that is not there.
    let garbage = [0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xff];
    let r = reply(Some(&snap), false, &garbage, Transport::Udp);
    assert_eq!((r.id(), r.response_code()), (0xabcd, ResponseCode::FormErr));
}

#[test]
fn udp_answers_that_do_not_fit_are_truncated() {
    // A headless Service with 100 endpoints: 100 A records do not fit 512 bytes.
    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    let svc: Service = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "big", "namespace": "ns"}, "spec": {"clusterIP": "None"}}))
    .expect("svc");
    let eps: Vec<_> = (0..100)
        .map(|i| serde_json::json!({"addresses": [format!("10.2.0.{i}")]}))
        .collect();
    let slice: EndpointSlice = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "big-1", "namespace": "ns", "labels": {"kubernetes.io/service-name": "big"}},
        "addressType": "IPv4", "endpoints": eps}))
    .expect("slice");
    let snap = Snapshot::build("cluster.local", [&svc], [&slice], 1).expect("snap");
    let q = bytes(&query("big.ns.svc.cluster.local.", RecordType::A));
    let udp = reply(Some(&snap), false, &q, Transport::Udp);
    assert!(udp.truncated() && udp.answers().is_empty());
    let tcp = reply(Some(&snap), false, &q, Transport::Tcp);
    assert!(!tcp.truncated());
    assert_eq!(tcp.answers().len(), 100);
}

/// A tiny deterministic generator (xorshift), so the fuzz run needs no extra crate and a
/// failure reproduces from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Bounded fuzzing in every `cargo test`: random bytes and mutations of valid queries must
/// never panic, and every reply must be a parseable response to the packet's id.
#[test]
fn random_and_mutated_packets_never_panic() {
    let snap = crate::records::tests::cluster();
    let seeds: Vec<Vec<u8>> = [
        ("web.ns.svc.cluster.local.", RecordType::A),
        ("_pg._tcp.db.ns.svc.cluster.local.", RecordType::SRV),
        ("20.0.96.10.in-addr.arpa.", RecordType::PTR),
        ("ext.ns.svc.cluster.local.", RecordType::CNAME),
        ("example.com.", RecordType::AAAA),
    ]
    .iter()
    .map(|(n, t)| {
        let mut q = query(n, *t);
        q.set_edns(Edns::new());
        bytes(&q)
    })
    .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..20_000 {
        let packet = if i % 4 == 0 {
            let len = rng.below(600);
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            let mut p = seeds[rng.below(seeds.len())].clone();
            for _ in 0..=rng.below(4) {
                match rng.below(3) {
                    0 if !p.is_empty() => {
                        let at = rng.below(p.len());
                        p[at] = rng.next() as u8;
                    }
                    1 => p.truncate(rng.below(p.len() + 1)),
                    _ => p.extend((0..rng.below(8)).map(|_| rng.next() as u8)),
                }
            }
            p
        };
        for transport in [Transport::Udp, Transport::Tcp] {
            if let Reply::Send(out) = handle(Some(&snap), false, &packet, transport) {
                let parsed = Message::from_vec(&out).expect("our reply parses");
                assert_eq!(parsed.message_type(), MessageType::Response);
                assert_eq!(
                    parsed.id().to_be_bytes(),
                    [packet[0], packet[1]],
                    "iteration {i}"
                );
                if transport == Transport::Udp {
                    assert!(out.len() <= usize::from(MAX_UDP_PAYLOAD));
                }
            }
        }
    }
}

#[test]
fn an_unknown_edns_version_gets_badvers_with_our_opt_record() {
    let snap = crate::records::tests::cluster();
    let mut q = query("web.ns.svc.cluster.local.", RecordType::A);
    let mut edns = Edns::new();
    edns.set_version(1);
    q.set_edns(edns);
    let r = reply(Some(&snap), false, &bytes(&q), Transport::Udp);
    // BADVERS and BADSIG share code 16 (RFC 6891/2845); the decoder names it BADSIG.
    assert_eq!(
        u16::from(r.response_code()),
        u16::from(ResponseCode::BADVERS)
    );
    assert!(r.answers().is_empty());
    let opt = r.extensions().as_ref().expect("OPT record in the reply");
    assert_eq!((opt.version(), opt.max_payload()), (0, OUR_EDNS_PAYLOAD));
}
