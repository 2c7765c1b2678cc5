//! Cluster DNS end to end (no Docker): a server with hollow nodes, Services of every kind made
//! with kubectl, and the server's DNS port queried straight from the test over UDP and TCP, the
//! way a pod's resolver would after the proxy maps `kube-dns`'s ClusterIP to it.

mod controllers_common;
mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use controllers_common::{kubectl_ok, wait_nodes_ready, wait_running, HollowNodes};
use ferrokube_dns::proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use ferrokube_dns::proto::rr::{Name, RData, RecordType};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use support::{eventually, TestCluster};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const WAIT: Duration = Duration::from_secs(60);

const OBJECTS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}, {name: metrics, port: 9090, protocol: UDP}]
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: pg, port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec: {type: ExternalName, externalName: example.com}
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, labels: {app: db}}
spec:
  hostname: db-0
  subdomain: db
  containers: [{name: c, image: busybox, command: [sleep, "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: db-1, labels: {app: db}}
spec:
  containers: [{name: c, image: busybox, command: [sleep, "3600"]}]
"#;

/// Sends one query over UDP and returns the reply.
async fn udp_query(dns: SocketAddr, name: &str, qtype: RecordType) -> Message {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let query = query(name, qtype).to_vec().expect("encode");
    for _ in 0..5 {
        socket.send_to(&query, dns).await.expect("send");
        let mut buf = vec![0u8; 4096];
        let got = tokio::time::timeout(Duration::from_secs(2), socket.recv(&mut buf)).await;
        if let Ok(Ok(len)) = got {
            return Message::from_vec(&buf[..len]).expect("reply parses");
        }
    }
    panic!("no DNS answer for {name} from {dns}");
}

/// Sends one query over TCP (length-prefixed) and returns the reply.
async fn tcp_query(dns: SocketAddr, name: &str, qtype: RecordType) -> Message {
    let mut stream = TcpStream::connect(dns).await.expect("connect");
    let query = query(name, qtype).to_vec().expect("encode");
    stream
        .write_all(&(query.len() as u16).to_be_bytes())
        .await
        .expect("len");
    stream.write_all(&query).await.expect("query");
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.expect("reply length");
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await.expect("reply");
    Message::from_vec(&buf).expect("reply parses")
}

fn query(name: &str, qtype: RecordType) -> Message {
    let mut m = Message::new();
    m.set_id(rand_id())
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true);
    m.add_query(Query::query(Name::from_ascii(name).expect("name"), qtype));
    m.set_edns(Edns::new());
    m
}

fn rand_id() -> u16 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        & 0xffff) as u16
}

fn rdata(m: &Message) -> Vec<String> {
    let mut out: Vec<String> = m.answers().iter().map(|r| r.data().to_string()).collect();
    out.sort();
    out
}

fn addresses(m: &Message) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = m
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

/// The DNS server's real address, as `kube-system/kube-dns`'s EndpointSlice publishes it.
async fn dns_address(client: &kube::Client) -> SocketAddr {
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "kube-system");
    eventually(WAIT, || async {
        let slice = slices.get_opt("kube-dns").await.ok()??;
        let ip: IpAddr = slice
            .endpoints
            .as_ref()?
            .first()?
            .addresses
            .first()?
            .parse()
            .ok()?;
        let port = slice.ports.as_ref()?.first()?.port?;
        Some(SocketAddr::new(ip, u16::try_from(port).ok()?))
    })
    .await
    .expect("kube-dns EndpointSlice with the DNS port")
}

async fn pod_ip(client: &kube::Client, name: &str) -> IpAddr {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod = pods.get(name).await.expect("pod");
    let ip = pod.status.and_then(|s| s.pod_ip).expect("pod IP");
    ip.parse().expect("pod IP parses")
}

#[tokio::test]
async fn cluster_dns_answers_services_pods_and_bad_input() {
    let cluster = TestCluster::start_with(
        support::ClusterOptions::default().arg("--advertise-address=127.0.0.1"),
    )
    .await;
    let client = cluster.client().await;
    let dns = dns_address(&client).await;

    // kube-dns fronts it: ClusterIP the tenth service address, port 53 → the real port.
    let svcs: Api<Service> = Api::namespaced(client.clone(), "kube-system");
    let kube_dns = svcs.get("kube-dns").await.expect("kube-dns Service");
    let spec = kube_dns.spec.expect("spec");
    assert_eq!(spec.cluster_ip.as_deref(), Some("10.96.0.10"));
    let ports: Vec<_> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| (p.name.clone(), p.port))
        .collect();
    assert_eq!(
        ports,
        [(Some("dns".into()), 53), (Some("dns-tcp".into()), 53)]
    );
    let own = udp_query(
        dns,
        "kube-dns.kube-system.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_eq!(addresses(&own), ["10.96.0.10".parse::<IpAddr>().unwrap()]);
    assert!(own.authoritative());

    let _nodes = HollowNodes::start(&cluster, 0, 1);
    wait_nodes_ready(&client, 1).await;
    let file = cluster.scratch().join("objects.yaml");
    std::fs::write(&file, OBJECTS).expect("write objects");
    kubectl_ok(&cluster, &["apply", "-f", file.to_str().unwrap()]);
    wait_running(&client, "default", "app=db", 2).await;
    let (db0, db1) = (pod_ip(&client, "db-0").await, pod_ip(&client, "db-1").await);

    // Headless: every ready pod, once the endpoints reach DNS.
    let mut want = vec![db0, db1];
    want.sort();
    let headless = eventually(WAIT, || async {
        let m = udp_query(dns, "db.default.svc.cluster.local.", RecordType::A).await;
        (addresses(&m) == want).then_some(m)
    })
    .await;
    assert!(headless.is_some(), "headless A set {want:?} never answered");

    // ClusterIP A, with the Service's address; any spelling of the name.
    let web: Api<Service> = Api::namespaced(client.clone(), "default");
    let web_ip: IpAddr = web
        .get("web")
        .await
        .unwrap()
        .spec
        .unwrap()
        .cluster_ip
        .unwrap()
        .parse()
        .unwrap();
    let a = udp_query(dns, "WEB.default.svc.Cluster.Local.", RecordType::A).await;
    assert_eq!(a.response_code(), ResponseCode::NoError);
    assert_eq!(addresses(&a), [web_ip]);

    // SRV for named ports: the Service's port on the Service's name; UDP ports too.
    let srv = udp_query(
        dns,
        "_http._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    )
    .await;
    assert_eq!(rdata(&srv), ["0 100 80 web.default.svc.cluster.local."]);
    let udp_srv = udp_query(
        dns,
        "_metrics._udp.web.default.svc.cluster.local.",
        RecordType::SRV,
    )
    .await;
    assert_eq!(
        rdata(&udp_srv),
        ["0 100 9090 web.default.svc.cluster.local."]
    );
    // Headless SRV names each endpoint: db-0 by its hostname, db-1 by its dashed IP.
    let srv = udp_query(
        dns,
        "_pg._tcp.db.default.svc.cluster.local.",
        RecordType::SRV,
    )
    .await;
    let dashed = db1.to_string().replace('.', "-");
    let mut want_srv = vec![
        "0 50 5432 db-0.db.default.svc.cluster.local.".to_string(),
        format!("0 50 5432 {dashed}.db.default.svc.cluster.local."),
    ];
    want_srv.sort();
    assert_eq!(rdata(&srv), want_srv);
    let host = udp_query(dns, "db-0.db.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(addresses(&host), [db0]);

    // ExternalName is a CNAME; pod records; PTR of a ClusterIP.
    let cname = udp_query(dns, "ext.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(rdata(&cname), ["example.com."]);
    let pod = udp_query(dns, "10-1-2-3.default.pod.cluster.local.", RecordType::A).await;
    assert_eq!(addresses(&pod), ["10.1.2.3".parse::<IpAddr>().unwrap()]);
    let reverse: String = match web_ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(_) => unreachable!("IPv4 service range"),
    };
    let ptr = udp_query(dns, &reverse, RecordType::PTR).await;
    assert_eq!(rdata(&ptr), ["web.default.svc.cluster.local."]);

    // Unknown cluster names: NXDOMAIN with the zone's SOA; outside names: REFUSED (no
    // --dns-forward, so nothing leaves the host).
    let nx = udp_query(dns, "nope.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(nx.response_code(), ResponseCode::NXDomain);
    assert_eq!(nx.name_servers().len(), 1);
    let out = udp_query(dns, "example.com.", RecordType::A).await;
    assert_eq!(out.response_code(), ResponseCode::Refused);
    assert!(out.answers().is_empty());

    // TCP answers the same.
    let tcp = tcp_query(dns, "web.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(addresses(&tcp), [web_ip]);

    // Garbage over UDP and TCP, an oversized datagram, a half-sent TCP frame: the server
    // keeps answering.
    let junk = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for packet in [vec![], vec![0xff; 3], vec![0x12; 40], vec![0u8; 9000]] {
        let _ = junk.send_to(&packet, dns).await;
    }
    let mut half = TcpStream::connect(dns).await.unwrap();
    half.write_all(&[0x01, 0x00, 0xde, 0xad]).await.unwrap();
    let mut garbage = TcpStream::connect(dns).await.unwrap();
    garbage.write_all(&[0x00, 0x04, 1, 2, 3, 4]).await.unwrap();
    let again = udp_query(dns, "web.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(addresses(&again), [web_ip]);
    let again = tcp_query(dns, "web.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(addresses(&again), [web_ip]);

    // A deleted Service is gone from DNS.
    kubectl_ok(&cluster, &["delete", "svc", "web"]);
    let gone = eventually(WAIT, || async {
        let m = udp_query(dns, "web.default.svc.cluster.local.", RecordType::A).await;
        (m.response_code() == ResponseCode::NXDomain).then_some(())
    })
    .await;
    assert!(gone.is_some(), "deleted Service still in DNS");
}

/// A resolver on loopback standing in for `--dns-forward`'s upstream: answers every A query
/// with 192.0.2.7 (TEST-NET-1), so forwarding is checked without a packet leaving the host.
async fn fake_upstream() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind upstream");
    let addr = socket.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((len, peer)) = socket.recv_from(&mut buf).await {
            let Ok(q) = Message::from_vec(&buf[..len]) else {
                continue;
            };
            let mut r = Message::new();
            r.set_id(q.id()).set_message_type(MessageType::Response);
            r.add_queries(q.queries().iter().cloned());
            let name = q.queries()[0].name().clone();
            let a = RData::A(ferrokube_dns::proto::rr::rdata::A::new(192, 0, 2, 7));
            r.add_answer(ferrokube_dns::proto::rr::Record::from_rdata(name, 30, a));
            let _ = socket.send_to(&r.to_vec().expect("encode"), peer).await;
        }
    });
    addr
}

#[tokio::test]
async fn outside_names_are_forwarded_only_with_dns_forward() {
    let upstream = fake_upstream().await;
    let cluster = TestCluster::start_with(
        support::ClusterOptions::default()
            .arg("--advertise-address=127.0.0.1")
            .arg(&format!("--dns-forward={upstream}"))
            .arg("--cluster-domain=corp.internal"),
    )
    .await;
    let client = cluster.client().await;
    let dns = dns_address(&client).await;
    // Cluster names stay ours, under the configured domain.
    let own = eventually(WAIT, || async {
        let m = udp_query(dns, "kubernetes.default.svc.corp.internal.", RecordType::A).await;
        (m.response_code() == ResponseCode::NoError).then_some(m)
    })
    .await
    .expect("kubernetes Service under the custom domain");
    assert_eq!(addresses(&own), ["10.96.0.1".parse::<IpAddr>().unwrap()]);
    assert!(own.recursion_available());
    // cluster.local is an outside name now: the upstream answers it.
    let other = udp_query(dns, "kubernetes.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(addresses(&other), ["192.0.2.7".parse::<IpAddr>().unwrap()]);
    // Outside names get the upstream's answer, over UDP and TCP.
    for reply in [
        udp_query(dns, "example.com.", RecordType::A).await,
        tcp_query(dns, "example.com.", RecordType::A).await,
    ] {
        assert_eq!(reply.response_code(), ResponseCode::NoError);
        assert_eq!(addresses(&reply), ["192.0.2.7".parse::<IpAddr>().unwrap()]);
    }
}
