//! `ferrokube bench api --against-etcd`: the same closed-loop client program (`closed_loop`)
//! against ferrokube and a one-member etcd in the same run — 1 KiB ConfigMap creates against
//! ferrokube, 1 KiB `/v3/kv/put`s through etcd's JSON gateway — at 1 and 64 clients, each
//! worker on its own keep-alive connection. Both stores fsync every acknowledged write.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;

use super::{
    closed_loop, create_namespace, free_port, ms, percentile, timed_creates, value_1k, BenchArgs,
    ServerProcess,
};

/// Refuses a benchmark target that is not on this machine's loopback: the benchmark writes
/// thousands of objects as fast as it can and must never be pointed at a real cluster.
pub(super) fn require_loopback(url: &str) -> anyhow::Result<()> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("refusing non-loopback benchmark target {url}: benchmarks only run against 127.0.0.1 or ::1");
    }
    Ok(())
}

/// A one-member etcd child process on a temp data dir and loopback ports, fsync on (etcd's
/// default; `--unsafe-no-fsync` is not given).
struct Etcd {
    /// None for an etcd the benchmark did not start (`--etcd-endpoint`).
    child: Option<Child>,
    url: String,
    version: String,
}

impl Etcd {
    fn start(binary: &Path, dir: &Path) -> anyhow::Result<Self> {
        let mut cluster = Self::start_cluster(binary, dir, 1)?;
        Ok(cluster.remove(0))
    }

    /// `members` etcd processes forming one cluster on loopback ports, each on its own data
    /// dir under `dir` (fsync on, as etcd's default).
    fn start_cluster(binary: &Path, dir: &Path, members: usize) -> anyhow::Result<Vec<Self>> {
        let ports = (0..members)
            .map(|_| Ok((free_port()?, free_port()?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let initial_cluster = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let version = Command::new(binary)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.lines().next().map(str::to_string))
            .unwrap_or_else(|| "etcd (version unknown)".into());
        let mut started = Vec::with_capacity(members);
        for (i, (client, peer)) in ports.iter().enumerate() {
            let url = format!("http://127.0.0.1:{client}");
            let peer_url = format!("http://127.0.0.1:{peer}");
            let child = Command::new(binary)
                .args([
                    "--name",
                    &format!("m{i}"),
                    "--log-level",
                    "error",
                    "--logger",
                    "zap",
                ])
                .arg("--data-dir")
                .arg(dir.join(format!("m{i}")))
                .args([
                    "--listen-client-urls",
                    &url,
                    "--advertise-client-urls",
                    &url,
                ])
                .args(["--listen-peer-urls", &peer_url])
                .args(["--initial-advertise-peer-urls", &peer_url])
                .args(["--initial-cluster", &initial_cluster])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("starting {}", binary.display()))?;
            started.push(Etcd {
                child: Some(child),
                url,
                version: version.clone(),
            });
        }
        Ok(started)
    }

    /// An etcd already serving at `url` (loopback only).
    fn existing(url: &str) -> anyhow::Result<Self> {
        require_loopback(url)?;
        Ok(Etcd {
            child: None,
            url: url.trim_end_matches('/').to_string(),
            version: format!("etcd at {url}"),
        })
    }

    /// Polls `/health` until etcd has elected itself and serves.
    async fn wait_ready(&self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let began = Instant::now();
        while began.elapsed() < Duration::from_secs(30) {
            let health = http.get(format!("{}/health", self.url)).send().await;
            if let Ok(body) = health {
                if body.text().await.unwrap_or_default().contains("true") {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!("etcd at {} did not become healthy in 30 s", self.url)
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `etcd` binary on PATH, if any.
fn etcd_on_path() -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join("etcd"))
        .find(|p| p.is_file())
}

/// One side's figures at one concurrency.
struct Row {
    rate: f64,
    p50: Duration,
    p99: Duration,
}

impl Row {
    fn of(lat: &[Duration], wall: Duration) -> Self {
        Row {
            rate: lat.len() as f64 / wall.as_secs_f64(),
            p50: percentile(lat, 0.5),
            p99: percentile(lat, 0.99),
        }
    }

    fn cells(&self) -> String {
        format!(
            "{:>7.0}/s  p50 {:>8}  p99 {:>8}",
            self.rate,
            ms(self.p50),
            ms(self.p99)
        )
    }
}

/// Runs the comparison against `server` (already started on `root`/a).
pub(super) async fn run(
    args: &BenchArgs,
    server: &ServerProcess,
    root: &Path,
) -> anyhow::Result<()> {
    let etcd = match (&args.etcd_endpoint, etcd_on_path()) {
        (Some(url), _) => {
            let etcd = Etcd::existing(url)?;
            etcd.wait_ready().await?;
            Some(etcd)
        }
        (None, Some(binary)) => {
            let etcd = Etcd::start(&binary, &root.join("etcd"))?;
            require_loopback(&etcd.url)?;
            etcd.wait_ready().await?;
            Some(etcd)
        }
        (None, None) => {
            println!(
                "no `etcd` binary on PATH: measuring ferrokube only (Debian: apt-get install etcd-server)"
            );
            None
        }
    };
    println!("1 KiB writes, closed loop, one keep-alive HTTP/1.1 connection per client:");
    println!("  ferrokube: ConfigMap creates over TLS (rustls), kube-rs client");
    if let Some(etcd) = &etcd {
        println!(
            "  etcd:      /v3/kv/put via the JSON gateway over plain HTTP (no TLS), fsync on — {}",
            etcd.version
        );
    }
    println!(
        "  {:<8}| {:<42}| {:<42}| ratio",
        "clients", "ferrokube creates", "etcd puts"
    );
    for clients in [1usize, 64] {
        let per = (args.creates / clients).max(1);
        let ours = ferrokube_side(server, clients, per).await?;
        let theirs = match &etcd {
            Some(etcd) => Some(etcd_side(&etcd.url, clients, per).await?),
            None => None,
        };
        let (cells, ratio) = match &theirs {
            Some(t) => (t.cells(), format!("{:.2}×", ours.rate / t.rate)),
            None => ("(no etcd)".to_string(), "-".to_string()),
        };
        println!("  {clients:<8}| {:<42}| {cells:<42}| {ratio}", ours.cells());
    }
    Ok(())
}

/// Creates through `timed_creates`, one kube client (so one connection) per worker.
async fn ferrokube_side(server: &ServerProcess, clients: usize, per: usize) -> anyhow::Result<Row> {
    let first = server.client().await?;
    let ns = format!("vs-etcd-{clients}");
    create_namespace(&first, &ns).await?;
    let mut apis: Vec<Api<ConfigMap>> = Vec::with_capacity(clients);
    for _ in 0..clients {
        apis.push(Api::namespaced(server.client().await?, &ns));
    }
    let (lat, wall) = timed_creates(apis, per).await?;
    Ok(Row::of(&lat, wall))
}

/// Puts through the same closed loop, one HTTP client (one pooled connection) per worker.
async fn etcd_side(url: &str, clients: usize, per: usize) -> anyhow::Result<Row> {
    etcd_members_side(&[url.to_string()], clients, per, "bench").await
}

/// Puts through the same closed loop, worker c on member c % n, under keys of `tag`.
async fn etcd_members_side(
    urls: &[String],
    clients: usize,
    per: usize,
    tag: &str,
) -> anyhow::Result<Row> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let value = b64.encode(value_1k());
    let workers = (0..clients)
        .map(|c| {
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()?;
            Ok((http, format!("{}/v3/kv/put", urls[c % urls.len()])))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let tag = tag.to_string();
    let (lat, wall) = closed_loop(workers, per, move |(http, put), c, i| {
        let body = serde_json::json!({
            "key": b64.encode(format!("/{tag}/{clients}/{c}/{i}")),
            "value": value.clone(),
        });
        async move {
            let resp = http.post(&put).json(&body).send().await?;
            if !resp.status().is_success() {
                bail!("etcd put: {} {}", resp.status(), resp.text().await?);
            }
            resp.bytes().await?;
            Ok(())
        }
    })
    .await?;
    Ok(Row::of(&lat, wall))
}

/// `bench ha --against-etcd`: what replication costs etcd on this machine — a one-member and a
/// three-member etcd (all on loopback, so sharing the same cores as ferrokube's three servers)
/// under the same closed loop at 1/16/64 clients, clients spread over the members. Returns
/// nothing when no etcd is on PATH (ferrokube's half still ran).
pub(super) async fn replication_cost(args: &BenchArgs, root: &Path) -> anyhow::Result<()> {
    let Some(binary) = etcd_on_path() else {
        println!(
            "no `etcd` binary on PATH: no etcd comparison (Debian: apt-get install etcd-server)"
        );
        return Ok(());
    };
    let mut rows: Vec<(usize, Vec<Row>)> = Vec::new();
    for members in [1usize, 3] {
        let cluster = Etcd::start_cluster(&binary, &root.join(format!("etcd-{members}")), members)?;
        for member in &cluster {
            require_loopback(&member.url)?;
            member.wait_ready().await?;
        }
        let urls: Vec<String> = cluster.iter().map(|m| m.url.clone()).collect();
        let mut by_clients = Vec::new();
        for clients in [1usize, 16, 64] {
            let per = (args.creates / clients).max(1);
            let tag = format!("ha-{members}");
            by_clients.push(etcd_members_side(&urls, clients, per, &tag).await?);
        }
        rows.push((members, by_clients));
    }
    println!("etcd on the same cores (1 KiB puts, JSON gateway, fsync on), 1 member vs 3:");
    for (i, clients) in [1usize, 16, 64].iter().enumerate() {
        let (one, three) = (&rows[0].1[i], &rows[1].1[i]);
        println!(
            "  {clients:>2} clients: 1 member {}  |  3 members {}  |  3/1 = {:.2}×",
            one.cells(),
            three.cells(),
            three.rate / one.rate
        );
    }
    Ok(())
}
