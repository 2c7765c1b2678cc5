//! `ferrokube bench api`: the API core's numbers, measured against a real server process with a
//! real kube-rs client (figures go into README; nothing here is asserted).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use kube::Client;
use serde_json::json;

#[path = "bench_admission.rs"]
mod admission_bench;
#[path = "bench_apply.rs"]
mod apply_bench;
#[path = "bench_authz.rs"]
mod authz_bench;
#[path = "bench_claims.rs"]
mod claims_bench;
#[path = "bench_dns.rs"]
mod dns_bench;
#[path = "bench_etcd.rs"]
mod etcd_bench;
#[path = "bench_ha.rs"]
mod ha_bench;
#[path = "bench_pods.rs"]
mod pods_bench;
#[path = "bench_proxy.rs"]
mod proxy_bench;
#[path = "bench_rss.rs"]
mod rss_bench;
#[path = "bench_scheduler.rs"]
mod scheduler_bench;
#[path = "bench_proxy_traffic.rs"]
mod traffic_bench;

/// Flags of `ferrokube bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// What to measure: `api`, `rss`, `ha`, `apply`, `scheduler`, `pods`, `proxy`, `dns`, `authz`,
    /// `claims` or `admission`.
    pub what: String,
    /// Creates per concurrency level.
    #[arg(long, default_value_t = 3000)]
    pub creates: usize,
    /// Concurrent watchers for the fan-out measurement.
    #[arg(long, default_value_t = 1000)]
    pub watchers: usize,
    /// Hollow nodes for `scheduler`.
    #[arg(long, default_value_t = 5000)]
    pub nodes: usize,
    /// Pods for `scheduler`.
    #[arg(long, default_value_t = 10000)]
    pub pods: usize,
    /// Leader kills for `ha`'s failover measurement.
    #[arg(long, default_value_t = 20)]
    pub kills: usize,
    /// Objects written before `ha` times a new member's catch-up (0 skips it).
    #[arg(long, default_value_t = 100_000)]
    pub catchup_objects: usize,
    /// `api`: only the side-by-side durable creates against a one-member etcd (the `etcd` on
    /// PATH, started on a temp dir and loopback ports; without one, ferrokube's half alone).
    /// `ha`: also etcd's own 3-member/1-member ratio on the same cores.
    #[arg(long)]
    pub against_etcd: bool,
    /// With --against-etcd: an etcd already listening here (loopback only) instead of a new one.
    #[arg(long)]
    pub etcd_endpoint: Option<String>,
    /// `rss`: seconds the single node settles before its resident set is read.
    #[arg(long, default_value_t = 30)]
    pub settle: u64,
}

/// Runs a benchmark.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.what.as_str() {
        "api" => api(&args).await,
        "rss" => rss_bench::run(&args).await,
        "apply" => apply_bench::run().await,
        "scheduler" => scheduler_bench::run(&args).await,
        "pods" => pods_bench::run().await,
        "proxy" => proxy_bench::run().await,
        "dns" => dns_bench::run().await,
        "authz" => authz_bench::run(),
        "admission" => admission_bench::run().await,
        "claims" => claims_bench::run().await,
        "ha" => ha_bench::run(&args).await,
        other => bail!(
            "unknown benchmark {other:?} (known: api, rss, ha, apply, scheduler, pods, proxy, dns, authz, claims, admission)"
        ),
    }
}

/// A server child process on a temp data dir.
struct ServerProcess {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl ServerProcess {
    fn start(dir: &Path) -> anyhow::Result<(Self, Duration)> {
        Self::start_with(dir, &["--no-agent"])
    }

    /// Starts `ferrokube server` on `dir` with extra flags; returns it once `/readyz` answers,
    /// with the time that took. An embedded agent (without `--no-agent`) runs in no-pull mode:
    /// no registry is reachable here and the engine must never pull.
    pub(crate) fn start_with(dir: &Path, flags: &[&str]) -> anyhow::Result<(Self, Duration)> {
        let port = free_port()?;
        let began = Instant::now();
        let child = Command::new(std::env::current_exe()?)
            .args(["server", "--listen", &format!("127.0.0.1:{port}")])
            .args(flags)
            .arg("--data-dir")
            .arg(dir)
            .env("FERROKUBE_NO_IMAGE_PULL", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let server = ServerProcess {
            child,
            dir: dir.to_path_buf(),
            port,
        };
        let ready = server.wait_ready(began)?;
        Ok((server, ready))
    }

    /// Polls /readyz over TLS (the CA is in the data dir once the server wrote it).
    fn wait_ready(&self, began: Instant) -> anyhow::Result<Duration> {
        loop {
            if began.elapsed() > Duration::from_secs(30) {
                bail!("server did not become ready");
            }
            let ok = Command::new("curl")
                .args([
                    "-sf",
                    "-k",
                    "--max-time",
                    "1",
                    &format!("https://127.0.0.1:{}/readyz", self.port),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                return Ok(began.elapsed());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    async fn client(&self) -> anyhow::Result<Client> {
        let kubeconfig = kube::config::Kubeconfig::read_from(self.dir.join("kubeconfig.yaml"))?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
        etcd_bench::require_loopback(&config.cluster_url.to_string())?;
        Ok(Client::try_from(config)?)
    }

    fn memory(&self) -> anyhow::Result<rss_bench::Memory> {
        rss_bench::Memory::of(self.child.id())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // SIGTERM first: an embedded agent's service proxy removes its nft table and route.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn configmap(name: &str) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": {"bench": "api"}}, "data": {"k": "v"}}),
    )
    .expect("static configmap")
}

async fn api(args: &BenchArgs) -> anyhow::Result<()> {
    if let Some(endpoint) = &args.etcd_endpoint {
        etcd_bench::require_loopback(endpoint)?;
    }
    let root = std::env::temp_dir().join(format!("ferrokube-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    println!(
        "ferrokube bench api  ({} cores, binary {}, data dir under {})",
        std::thread::available_parallelism()?,
        rss_bench::binary_size(),
        root.display()
    );

    let (server, first_start) = ServerProcess::start(&root.join("a"))?;
    println!("start-up to /readyz (fresh data dir): {}", ms(first_start));
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("idle RSS after start (no agent): {}", server.memory()?);
    if args.against_etcd {
        let result = etcd_bench::run(args, &server, &root).await;
        drop(server);
        let _ = std::fs::remove_dir_all(&root);
        return result;
    }
    let client = server.client().await?;

    for clients in [1usize, 16, 64] {
        let ns = format!("creates-{clients}");
        create_namespace(&client, &ns).await?;
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
        let per = args.creates / clients;
        let (lat, wall) = timed_creates(vec![api; clients], per).await?;
        println!(
            "creates, {clients:>2} clients: {:>7.0} creates/s  p50 {}  p99 {}",
            lat.len() as f64 / wall.as_secs_f64(),
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99))
        );
    }

    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "creates-1");
    let mut lat = Vec::new();
    for i in 0..1000 {
        let t = Instant::now();
        api.get(&format!("cm-0-{}", i % args.creates.max(1)))
            .await?;
        lat.push(t.elapsed());
    }
    lat.sort();
    println!(
        "GET one object: p50 {}  p99 {}",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99))
    );

    for size in [1000usize, 10_000] {
        let ns = format!("list-{size}");
        create_namespace(&client, &ns).await?;
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
        futures::stream::iter(0..size)
            .map(|i| {
                let api = api.clone();
                async move {
                    api.create(&PostParams::default(), &configmap(&format!("cm-{i}")))
                        .await
                }
            })
            .buffer_unordered(64)
            .try_collect::<Vec<_>>()
            .await?;
        let mut lat = Vec::new();
        for _ in 0..10 {
            let t = Instant::now();
            let list = api.list(&ListParams::default()).await?;
            lat.push(t.elapsed());
            // The namespace also holds the root-CA publisher's kube-root-ca.crt.
            if list.items.len() < size {
                bail!(
                    "LIST returned {} objects, expected at least {size}",
                    list.items.len()
                );
            }
        }
        lat.sort();
        println!(
            "LIST {size:>6} objects: p50 {}  p99 {}",
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99))
        );
    }

    watch_fanout(&client, args.watchers).await?;
    println!("RSS with the objects above: {}", server.memory()?);

    drop(client);
    let dir = server.dir.clone();
    drop(server);
    let (server, restart) = ServerProcess::start(&dir)?;
    println!(
        "start-up to /readyz (restart with the data above): {}",
        ms(restart)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("idle RSS after restart with data: {}", server.memory()?);
    drop(server);
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}

/// Closed-loop creates: one task per API handle, each creating `per` 1 KiB ConfigMaps one after
/// the other; every create's latency (sorted) and the wall time of the whole run.
async fn timed_creates(
    apis: Vec<Api<ConfigMap>>,
    per: usize,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    closed_loop(apis, per, |api, c, i| async move {
        api.create(
            &PostParams::default(),
            &configmap_1k(&format!("cm-{c}-{i}")),
        )
        .await?;
        Ok(())
    })
    .await
}

/// The closed-loop client program: one task per worker, each sending `per` requests one after
/// the other (`op(worker, worker index, request index)`); every request's latency (sorted) and
/// the wall time of the whole run. `bench api --against-etcd` runs it against both stores.
async fn closed_loop<W, F, Fut>(
    workers: Vec<W>,
    per: usize,
    op: F,
) -> anyhow::Result<(Vec<Duration>, Duration)>
where
    W: Clone + Send + 'static,
    F: Fn(W, usize, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let began = Instant::now();
    let tasks: Vec<_> = workers
        .into_iter()
        .enumerate()
        .map(|(c, worker)| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(per);
                for i in 0..per {
                    let t = Instant::now();
                    op(worker.clone(), c, i).await?;
                    lat.push(t.elapsed());
                }
                anyhow::Ok(lat)
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let wall = began.elapsed();
    lat.sort();
    Ok((lat, wall))
}

/// The 1 KiB value both sides of the etcd comparison write (a ConfigMap's one data value).
fn value_1k() -> String {
    "x".repeat(1024)
}

fn configmap_1k(name: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"bench": "api"}},
        "data": {"k": value_1k()}
    }))
    .expect("static configmap")
}

async fn create_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    Ok(())
}

/// N watchers on one namespace; per write, the time until the last watcher saw it.
async fn watch_fanout(client: &Client, watchers: usize) -> anyhow::Result<()> {
    let ns = "fanout";
    create_namespace(client, ns).await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let rv = api
        .list(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let writes = 20usize;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let ready = Arc::new(tokio::sync::Barrier::new(watchers + 1));
    for _ in 0..watchers {
        let api = api.clone();
        let tx = tx.clone();
        let rv = rv.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let stream = api.watch(&WatchParams::default().timeout(120), &rv).await;
            ready.wait().await;
            let Ok(stream) = stream else { return };
            let mut stream = stream.boxed();
            let mut seen = 0;
            while let Some(Ok(event)) = stream.next().await {
                if let WatchEvent::Added(cm) = event {
                    // Only the benchmark's writes (the namespace also gets kube-root-ca.crt).
                    let name = cm.metadata.name.unwrap_or_default();
                    let Some(Ok(idx)) = name.strip_prefix("w-").map(str::parse::<usize>) else {
                        continue;
                    };
                    let _ = tx.send((idx, Instant::now()));
                    seen += 1;
                    if seen == writes {
                        break;
                    }
                }
            }
        });
    }
    drop(tx);
    ready.wait().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut last_seen = vec![None::<Instant>; writes];
    let mut counts = vec![0usize; writes];
    let mut lat = Vec::new();
    for i in 0..writes {
        let start = Instant::now();
        api.create(&PostParams::default(), &configmap(&format!("w-{i}")))
            .await?;
        while counts[i] < watchers {
            match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
                Ok(Some((idx, at))) if idx < writes => {
                    counts[idx] += 1;
                    last_seen[idx] = Some(last_seen[idx].map_or(at, |t: Instant| t.max(at)));
                }
                Ok(Some(_)) => {}
                _ => bail!(
                    "watchers stopped receiving (write {i}: {} of {watchers})",
                    counts[i]
                ),
            }
        }
        lat.push(
            last_seen[i]
                .map(|t| t.duration_since(start))
                .unwrap_or_default(),
        );
    }
    lat.sort();
    println!(
        "watch fan-out, {watchers} watchers: write -> last watcher p50 {}  p99 {}",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99))
    );
    Ok(())
}
