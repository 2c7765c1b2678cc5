//! The sockets: UDP and TCP on one address, every piece of work bounded so a flood or a slow
//! client cannot wedge the server — lookups are answered inline by a fixed set of UDP workers,
//! TCP connections and forwarded queries each have a fixed number of slots, and every read and
//! forward has a deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{watch, Semaphore};

use crate::handler::{handle, Reply, Transport};
use crate::snapshot::Snapshot;

/// Tasks answering UDP queries (each loops recv → answer → send).
const UDP_WORKERS: usize = 2;
/// TCP connections served at once; more wait in the kernel's accept queue.
const TCP_CONNECTIONS: usize = 128;
/// Forwarded queries in flight at once; beyond that a query is dropped and the client retries.
const FORWARDS_IN_FLIGHT: usize = 256;
/// How long a TCP client may take to send its next message.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// How long the forward resolver may take.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest datagram read (a longer one is cut there, fails to parse, and gets FORMERR).
const UDP_BUFFER: usize = 4096;

/// The latest snapshot, `None` before the first sync with the API.
pub type SnapshotRx = watch::Receiver<Option<Arc<Snapshot>>>;

/// The bound sockets of a DNS server.
pub struct Sockets {
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
}

impl Sockets {
    /// Binds UDP and TCP on `addr`; port 0 picks one free port for both.
    pub async fn bind(addr: SocketAddr) -> anyhow::Result<Self> {
        for _ in 0..20 {
            let udp = UdpSocket::bind(addr).await?;
            let port = udp.local_addr()?.port();
            match TcpListener::bind(SocketAddr::new(addr.ip(), port)).await {
                Ok(tcp) => {
                    let udp = Arc::new(udp);
                    return Ok(Self { udp, tcp });
                }
                // The UDP port's TCP twin is taken: try another free port.
                Err(_) if addr.port() == 0 => continue,
                Err(e) => return Err(e.into()),
            }
        }
        anyhow::bail!("no port free for both UDP and TCP on {}", addr.ip())
    }

    /// The address both sockets listen on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.udp.local_addr()
    }

    /// Serves queries until the task is dropped.
    pub async fn serve(self, snapshots: SnapshotRx, forward: Option<SocketAddr>) {
        let forwards = Arc::new(Semaphore::new(FORWARDS_IN_FLIGHT));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..UDP_WORKERS {
            let udp = self.udp.clone();
            let (snapshots, forwards) = (snapshots.clone(), forwards.clone());
            tasks.spawn(udp_worker(udp, snapshots, forward, forwards));
        }
        tasks.spawn(tcp_acceptor(self.tcp, snapshots, forward, forwards));
        while tasks.join_next().await.is_some() {}
    }
}

async fn udp_worker(
    udp: Arc<UdpSocket>,
    snapshots: SnapshotRx,
    forward: Option<SocketAddr>,
    forwards: Arc<Semaphore>,
) {
    let mut buf = vec![0u8; UDP_BUFFER];
    loop {
        let (len, peer) = match udp.recv_from(&mut buf).await {
            Ok(got) => got,
            // ICMP errors of earlier sends surface here on some systems: keep serving.
            Err(_) => continue,
        };
        let packet = &buf[..len];
        let snapshot = snapshots.borrow().clone();
        match handle(
            snapshot.as_deref(),
            forward.is_some(),
            packet,
            Transport::Udp,
        ) {
            Reply::Send(bytes) => {
                let _ = udp.send_to(&bytes, peer).await;
            }
            Reply::Drop => {}
            Reply::Forward => {
                let (Some(upstream), Ok(permit)) = (forward, forwards.clone().try_acquire_owned())
                else {
                    continue;
                };
                let (udp, packet) = (udp.clone(), packet.to_vec());
                tokio::spawn(async move {
                    if let Some(answer) = forward_udp(upstream, &packet).await {
                        let _ = udp.send_to(&answer, peer).await;
                    }
                    drop(permit);
                });
            }
        }
    }
}

async fn tcp_acceptor(
    listener: TcpListener,
    snapshots: SnapshotRx,
    forward: Option<SocketAddr>,
    forwards: Arc<Semaphore>,
) {
    let slots = Arc::new(Semaphore::new(TCP_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (snapshots, forwards) = (snapshots.clone(), forwards.clone());
        tokio::spawn(async move {
            let _ = tcp_connection(stream, snapshots, forward, forwards).await;
            drop(permit);
        });
    }
}

/// Serves length-prefixed queries on one connection until the client closes it, idles, or
/// sends something we will not answer.
async fn tcp_connection(
    mut stream: TcpStream,
    snapshots: SnapshotRx,
    forward: Option<SocketAddr>,
    forwards: Arc<Semaphore>,
) -> std::io::Result<()> {
    loop {
        let packet = match tokio::time::timeout(TCP_IDLE, read_frame(&mut stream)).await {
            Ok(Ok(Some(packet))) => packet,
            _ => return Ok(()),
        };
        let snapshot = snapshots.borrow().clone();
        let answer = match handle(
            snapshot.as_deref(),
            forward.is_some(),
            &packet,
            Transport::Tcp,
        ) {
            Reply::Send(bytes) => bytes,
            Reply::Drop => return Ok(()),
            Reply::Forward => {
                let Ok(_permit) = forwards.try_acquire() else {
                    return Ok(());
                };
                let upstream = forward.expect("Forward only when forwarding");
                match forward_udp(upstream, &packet).await {
                    Some(answer) => answer,
                    None => return Ok(()),
                }
            }
        };
        let len = u16::try_from(answer.len()).unwrap_or(u16::MAX);
        stream.write_all(&len.to_be_bytes()).await?;
        stream.write_all(&answer[..usize::from(len)]).await?;
    }
}

/// One TCP DNS message (2-byte length, then the message); `None` at a clean end of stream.
async fn read_frame(stream: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    match stream.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut packet = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut packet).await?;
    Ok(Some(packet))
}

/// Relays `packet` to the forward resolver over UDP and returns its answer (same id), or
/// `None` when it does not answer in time.
async fn forward_udp(upstream: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    let local: SocketAddr = if upstream.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let exchange = async {
        let socket = UdpSocket::bind(local).await.ok()?;
        socket.connect(upstream).await.ok()?;
        socket.send(packet).await.ok()?;
        let mut buf = vec![0u8; UDP_BUFFER];
        loop {
            let len = socket.recv(&mut buf).await.ok()?;
            // Only the answer to this query (same id) counts.
            if len >= 2 && packet.len() >= 2 && buf[..2] == packet[..2] {
                return Some(buf[..len].to_vec());
            }
        }
    };
    tokio::time::timeout(FORWARD_TIMEOUT, exchange)
        .await
        .ok()
        .flatten()
}
