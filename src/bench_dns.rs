//! `ferrokube bench dns`: the cluster DNS server's queries/s and latency (p50/p99), measured
//! from the host against a server child process with 1000 Services, over UDP, at several
//! numbers of concurrent clients (each sends its next query when the previous is answered, as a
//! stub resolver does). Figures are printed, not asserted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrokube_dns::proto::op::{Message, MessageType, OpCode, Query};
use ferrokube_dns::proto::rr::{Name, RecordType};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, PostParams};
use serde_json::json;
use tokio::net::UdpSocket;

use super::{ms, percentile, ServerProcess};

const SERVICES: usize = 1000;
/// How long each concurrency level runs.
const RUN: Duration = Duration::from_secs(5);

/// Runs the DNS benchmark.
pub async fn run() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("ferrokube-bench-dns-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let flags = ["--no-agent", "--advertise-address", "127.0.0.1"];
    let (server, _) = ServerProcess::start_with(&dir, &flags)?;
    let result = measure(&server).await;
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure(server: &ServerProcess) -> anyhow::Result<()> {
    let client = server.client().await?;
    let dns = dns_address(&client).await?;
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    for i in 0..SERVICES {
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": format!("svc-{i}")},
            "spec": {"ports": [{"name": "http", "port": 80}]}}))?;
        services.create(&PostParams::default(), &svc).await?;
    }
    // The last Service answering means the snapshot holds all of them.
    let last = format!("svc-{}.default.svc.cluster.local.", SERVICES - 1);
    let began = Instant::now();
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    while exchange(&socket, dns, &last, 1).await?.is_none() {
        anyhow::ensure!(
            began.elapsed() < Duration::from_secs(60),
            "DNS never caught up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("ferrokube bench dns  ({SERVICES} Services, UDP from the host to {dns})");
    for clients in [1usize, 8, 32] {
        let names: Arc<Vec<String>> = Arc::new(
            (0..SERVICES)
                .map(|i| format!("svc-{i}.default.svc.cluster.local."))
                .collect(),
        );
        let tasks: Vec<_> = (0..clients)
            .map(|c| tokio::spawn(client_loop(dns, names.clone(), c)))
            .collect();
        let mut latencies = Vec::new();
        let mut lost = 0usize;
        for t in tasks {
            let (lat, l) = t.await??;
            latencies.extend(lat);
            lost += l;
        }
        latencies.sort();
        println!(
            "{clients:>3} clients: {:>8.0} queries/s, p50 {}, p99 {}, unanswered {lost}",
            latencies.len() as f64 / RUN.as_secs_f64(),
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99)),
        );
    }
    Ok(())
}

/// One stub resolver: queries for [`RUN`], returns the latencies of answered queries and the
/// number that went unanswered.
async fn client_loop(
    dns: SocketAddr,
    names: Arc<Vec<String>>,
    seed: usize,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    let began = Instant::now();
    let (mut latencies, mut lost) = (Vec::new(), 0);
    let mut i = seed * 7919;
    while began.elapsed() < RUN {
        let name = &names[i % names.len()];
        let t = Instant::now();
        match exchange(&socket, dns, name, i as u16).await? {
            Some(_) => latencies.push(t.elapsed()),
            None => lost += 1,
        }
        i += 1;
    }
    Ok((latencies, lost))
}

/// One A query; `None` when no answer with A records arrives within a second.
async fn exchange(
    socket: &UdpSocket,
    dns: SocketAddr,
    name: &str,
    id: u16,
) -> anyhow::Result<Option<Message>> {
    let mut m = Message::new();
    m.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true);
    m.add_query(Query::query(Name::from_ascii(name)?, RecordType::A));
    socket.send_to(&m.to_vec()?, dns).await?;
    let mut buf = [0u8; 1500];
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(got) = tokio::time::timeout(left, socket.recv(&mut buf)).await else {
            return Ok(None);
        };
        let reply = Message::from_vec(&buf[..got?])?;
        // A late answer to an earlier query is skipped.
        if reply.id() == id {
            return Ok((!reply.answers().is_empty()).then_some(reply));
        }
    }
}

/// The DNS server's address from the `kube-dns` EndpointSlice.
async fn dns_address(client: &kube::Client) -> anyhow::Result<SocketAddr> {
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "kube-system");
    let began = Instant::now();
    loop {
        if let Some(slice) = slices.get_opt("kube-dns").await? {
            let ip = slice
                .endpoints
                .iter()
                .flatten()
                .next()
                .and_then(|e| e.addresses.first());
            let port = slice.ports.as_ref().and_then(|p| p.first()?.port);
            if let (Some(ip), Some(port)) = (ip, port) {
                return Ok(SocketAddr::new(ip.parse()?, u16::try_from(port)?));
            }
        }
        anyhow::ensure!(
            began.elapsed() < Duration::from_secs(30),
            "no kube-dns endpoints"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
