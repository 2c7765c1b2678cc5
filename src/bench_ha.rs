//! `ferrokube bench ha`: a 3-server cluster against a single server — durable creates/s and
//! latency at 1/16/64 clients (clients spread over all three servers), and failover time
//! (kill -9 of the leader → first successful write on a survivor) over N kills.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use kube::Client;

use super::{configmap, create_namespace, free_port, ms, percentile, timed_creates, BenchArgs};

/// One server of the benchmark cluster; restarts keep its ports and data dir.
struct Member {
    dir: PathBuf,
    port: u16,
    peer_port: u16,
    join: Option<(String, String)>,
    child: Option<Child>,
}

impl Member {
    fn new(dir: &Path, join: Option<(String, String)>) -> anyhow::Result<Self> {
        Ok(Member {
            dir: dir.to_path_buf(),
            port: free_port()?,
            peer_port: free_port()?,
            join,
            child: None,
        })
    }

    fn spawn(&mut self, peers: bool) -> anyhow::Result<()> {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.args(["server", "--no-agent", "--listen"])
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(&self.dir)
            .env("FERROKUBE_NO_IMAGE_PULL", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if peers {
            cmd.arg("--peer-listen")
                .arg(format!("127.0.0.1:{}", self.peer_port));
        }
        if let Some((url, token)) = &self.join {
            cmd.args(["--join", url, "--token", token]);
        }
        self.child = Some(cmd.spawn()?);
        Ok(())
    }

    /// Polls until a kube client answers (the server prints its kubeconfig before serving).
    async fn wait_ready(&self) -> anyhow::Result<Client> {
        let began = Instant::now();
        loop {
            if began.elapsed() > Duration::from_secs(180) {
                bail!("server {} did not become ready", self.dir.display());
            }
            if let Ok(client) = self.client().await {
                if client.apiserver_version().await.is_ok() {
                    return Ok(client);
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn client(&self) -> anyhow::Result<Client> {
        let kubeconfig = kube::config::Kubeconfig::read_from(self.dir.join("kubeconfig.yaml"))?;
        let mut config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
        config.read_timeout = Some(Duration::from_secs(15));
        config.connect_timeout = Some(Duration::from_secs(2));
        Ok(Client::try_from(config)?)
    }

    fn node_id(&self) -> Option<u64> {
        let text = std::fs::read_to_string(self.dir.join("member.json")).ok()?;
        serde_json::from_str::<serde_json::Value>(&text).ok()?["node_id"].as_u64()
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Runs `ferrokube bench ha`.
pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let root = std::env::temp_dir().join(format!("ferrokube-bench-ha-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    println!(
        "ferrokube bench ha  ({} cores)",
        std::thread::available_parallelism()?
    );
    {
        let mut single = Member::new(&root.join("single"), None)?;
        single.spawn(false)?;
        let client = single.wait_ready().await?;
        println!("single server:");
        creates(&[client], args.creates, "single").await?;
    }
    let mut members = start_cluster(&root).await?;
    let mut clients = Vec::new();
    for m in &members {
        clients.push(m.wait_ready().await?);
    }
    println!("3 servers (clients spread over all three):");
    creates(&clients, args.creates, "ha").await?;
    drop(clients);
    if args.against_etcd {
        super::etcd_bench::replication_cost(args, &root).await?;
    }
    failover(&mut members, args.kills).await?;
    catch_up(&root, &members, args.catchup_objects).await?;
    drop(members);
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}

async fn start_cluster(root: &Path) -> anyhow::Result<Vec<Member>> {
    let mut first = Member::new(&root.join("m0"), None)?;
    first.spawn(true)?;
    first.wait_ready().await?;
    let token = std::fs::read_to_string(first.dir.join("pki/join-token"))?;
    let join = (
        format!("https://127.0.0.1:{}", first.peer_port),
        token.trim().to_string(),
    );
    let mut members = vec![first];
    for i in 1..3 {
        let mut m = Member::new(&root.join(format!("m{i}")), Some(join.clone()))?;
        m.spawn(true)?;
        m.wait_ready().await?;
        members.push(m);
    }
    Ok(members)
}

/// Durable creates at 1/16/64 concurrent clients; client c talks to server c % n.
async fn creates(clients: &[Client], total: usize, tag: &str) -> anyhow::Result<()> {
    for n in [1usize, 16, 64] {
        let ns = format!("{tag}-creates-{n}");
        create_namespace(&clients[0], &ns).await?;
        let per = (total / n).max(1);
        let apis = (0..n)
            .map(|c| Api::namespaced(clients[c % clients.len()].clone(), &ns))
            .collect();
        let (lat, wall) = timed_creates(apis, per).await?;
        println!(
            "  creates, {n:>2} clients: {:>7.0} creates/s  p50 {}  p99 {}",
            lat.len() as f64 / wall.as_secs_f64(),
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99))
        );
    }
    Ok(())
}

/// The index of the member that leads, asked through `via`.
async fn leader(members: &[Member], via: &Client) -> anyhow::Result<usize> {
    let req = axum::http::Request::get(crate::ha::members::MEMBERS_PATH).body(Vec::new())?;
    let v: serde_json::Value = serde_json::from_str(&via.request_text(req).await?)?;
    let id = v["members"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["role"] == "leader")
        .and_then(|m| m["id"].as_u64())
        .context("no leader")?;
    members
        .iter()
        .position(|m| m.node_id() == Some(id))
        .context("leader is not one of ours")
}

/// Kills the leader `kills` times; each time measures until a write succeeds on a survivor.
async fn failover(members: &mut [Member], kills: usize) -> anyhow::Result<()> {
    let mut times = Vec::new();
    for k in 0..kills {
        let via = members[k % 3].wait_ready().await?;
        let l = leader(members, &via).await?;
        let survivor = (l + 1) % 3;
        let api: Api<ConfigMap> = Api::namespaced(members[survivor].wait_ready().await?, "default");
        let killed = Instant::now();
        members[l].kill9();
        let mut i = 0;
        loop {
            i += 1;
            let name = format!("failover-{k}-{i}");
            if api
                .create(&PostParams::default(), &configmap(&name))
                .await
                .is_ok()
            {
                break;
            }
            if killed.elapsed() > Duration::from_secs(60) {
                bail!("no write succeeded within 60 s of the leader kill");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        times.push(killed.elapsed());
        members[l].spawn(true)?;
        members[l].wait_ready().await?;
        // Let the restarted member catch up before the next kill.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    times.sort();
    if !times.is_empty() {
        println!(
            "failover (leader kill -9 -> first successful write), {} kills: p50 {}  p99 {}  max {}",
            times.len(),
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            ms(*times.last().unwrap_or(&Duration::ZERO))
        );
    }
    Ok(())
}

/// Writes `objects` ConfigMaps, then times a fourth server joining (learner, snapshot,
/// voter) until it answers.
async fn catch_up(root: &Path, members: &[Member], objects: usize) -> anyhow::Result<()> {
    if objects == 0 {
        return Ok(());
    }
    let client = members[0].wait_ready().await?;
    create_namespace(&client, "catchup").await?;
    let api: Api<ConfigMap> = Api::namespaced(client, "catchup");
    let per = objects.div_ceil(64);
    let tasks: Vec<_> = (0..64)
        .map(|c| {
            let api = api.clone();
            tokio::spawn(async move {
                for i in 0..per {
                    let cm = configmap(&format!("cm-{c}-{i}"));
                    api.create(&PostParams::default(), &cm).await?;
                }
                Ok::<_, kube::Error>(())
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    let token = std::fs::read_to_string(members[0].dir.join("pki/join-token"))?;
    let join = (
        format!("https://127.0.0.1:{}", members[0].peer_port),
        token.trim().to_string(),
    );
    let mut new = Member::new(&root.join("m3"), Some(join))?;
    let began = Instant::now();
    new.spawn(true)?;
    new.wait_ready().await?;
    println!(
        "catch-up: a new member joined a cluster holding {} objects in {}",
        per * 64,
        ms(began.elapsed())
    );
    Ok(())
}
