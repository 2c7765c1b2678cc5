//! Fixture for HA tests: several real `ferrokube server` processes on 127.0.0.1 with their own
//! ports and temp data dirs, joined into one cluster; kill -9, SIGSTOP/SIGCONT, restart, wipe.
//! Or each in a network namespace of its own ([`hosts`]), where a member can be partitioned.
#![allow(dead_code)]

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kube::config::{KubeConfigOptions, Kubeconfig};
use tempfile::TempDir;

pub mod history;
pub mod hosts;

const SERVING_PREFIX: &str = "ferrokube is serving the Kubernetes API at ";
/// A joining or restarting debug binary on 2 busy cores can take a while.
pub const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A free TCP port on 127.0.0.1 (bound then released; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// One server process.
pub struct HaServer {
    /// Index in the cluster (names the data dir and the logs).
    pub index: usize,
    pub dir: PathBuf,
    pub port: u16,
    pub peer_port: u16,
    /// The address it listens on (127.0.0.1, or its namespace's).
    pub host: String,
    /// The network namespace it runs in, if any.
    netns: Option<String>,
    child: Option<Child>,
    starts: u32,
    /// `--join URL --token T` for the first start of a joiner.
    join: Option<(String, String)>,
    logs: PathBuf,
}

impl HaServer {
    fn new(
        root: &std::path::Path,
        index: usize,
        join: Option<(String, String)>,
        place: (String, Option<String>),
    ) -> Self {
        let dir = root.join(format!("server-{index}"));
        HaServer {
            index,
            dir,
            port: free_port(),
            peer_port: free_port(),
            host: place.0,
            netns: place.1,
            child: None,
            starts: 0,
            join,
            logs: root.join("logs"),
        }
    }

    pub fn peer_url(&self) -> String {
        format!("https://{}:{}", self.host, self.peer_port)
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig.yaml")
    }

    pub fn node_id(&self) -> u64 {
        let text = std::fs::read_to_string(self.dir.join("member.json")).expect("member.json");
        let v: serde_json::Value = serde_json::from_str(&text).expect("member.json json");
        v["node_id"].as_u64().expect("node_id")
    }

    pub fn join_token(&self) -> String {
        std::fs::read_to_string(self.dir.join("pki").join("join-token"))
            .expect("join-token")
            .trim()
            .to_string()
    }

    fn stdout_path(&self) -> PathBuf {
        self.logs
            .join(format!("server-{}-{}.stdout.log", self.index, self.starts))
    }

    /// Starts the process without waiting.
    pub fn spawn(&mut self) {
        self.spawn_with(&[]);
    }

    /// Starts the process with extra arguments, without waiting.
    pub fn spawn_with(&mut self, extra: &[&str]) {
        std::fs::create_dir_all(&self.logs).expect("logs dir");
        self.starts += 1;
        let stderr = self
            .logs
            .join(format!("server-{}-{}.stderr.log", self.index, self.starts));
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_ferrokube")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_ferrokube")),
        };
        cmd.arg("server")
            .arg("--data-dir")
            .arg(&self.dir)
            .arg("--listen")
            .arg(format!("{}:{}", self.host, self.port))
            .arg("--peer-listen")
            .arg(format!("{}:{}", self.host, self.peer_port))
            .args(["--no-agent", "--node-name"])
            .arg(format!("ha-node-{}-{}", self.index, self.port))
            .args(extra)
            .env("FERROKUBE_NO_IMAGE_PULL", "1")
            .env("NO_COLOR", "1")
            .env(
                "RUST_LOG",
                "ferrokube=info,ferrokube_store=info,openraft=warn,warn",
            )
            .stdin(Stdio::null())
            .stdout(File::create(self.stdout_path()).expect("stdout log"))
            .stderr(File::create(stderr).expect("stderr log"));
        // Extra `--join`/`--token` replace the fixture's own.
        match &self.join {
            Some(_) if extra.contains(&"--join") => {}
            Some((url, _)) if extra.contains(&"--token") => {
                cmd.args(["--join", url]);
            }
            Some((url, token)) => {
                cmd.args(["--join", url, "--token", token]);
            }
            None => {}
        }
        self.child = Some(cmd.spawn().expect("spawning ferrokube"));
    }

    /// Waits for the serving line and `/readyz`.
    pub async fn wait_serving(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let out = std::fs::read_to_string(self.stdout_path()).unwrap_or_default();
            if out.lines().any(|l| l.starts_with(SERVING_PREFIX)) {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "server {} exited with {status} before serving:\n{}",
                    self.index,
                    self.stderr_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "server {} did not serve in time:\n{}",
                self.index,
                self.stderr_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the process to exit on its own; returns its stderr.
    pub async fn wait_exit(&mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                // All of it: with RUST_BACKTRACE set, the error line is far from the tail.
                return (status, self.stderr_all());
            }
            assert!(
                Instant::now() < deadline,
                "server {} did not exit",
                self.index
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn stderr_all(&self) -> String {
        let path = self
            .logs
            .join(format!("server-{}-{}.stderr.log", self.index, self.starts));
        std::fs::read_to_string(path).unwrap_or_default()
    }

    pub fn stderr_tail(&self) -> String {
        let text = self.stderr_all();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP / SIGCONT (a cheap stand-in for a partitioned member).
    pub fn signal(&self, sig: &str) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
        }
    }

    /// A kube client against this server (its own admin kubeconfig).
    pub async fn client(&self) -> kube::Client {
        let kubeconfig = Kubeconfig::read_from(self.kubeconfig()).expect("kubeconfig");
        let mut config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .expect("kube config");
        config.read_timeout = Some(Duration::from_secs(30));
        config.connect_timeout = Some(Duration::from_secs(5));
        kube::Client::try_from(config).expect("kube client")
    }

    /// Runs the `ferrokube` binary with this server's kubeconfig (e.g. `members`).
    pub fn ferrokube(&self, args: &[&str]) -> std::process::Output {
        let (first, rest) = args.split_first().expect("a subcommand");
        Command::new(env!("CARGO_BIN_EXE_ferrokube"))
            .arg(first)
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(rest)
            .output()
            .expect("running ferrokube")
    }

    /// Runs kubectl against this server.
    pub fn kubectl(&self, args: &[&str]) -> std::process::Output {
        Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .env("HOME", &self.dir)
            .stdin(Stdio::null())
            .output()
            .expect("running kubectl")
    }
}

impl Drop for HaServer {
    fn drop(&mut self) {
        self.signal("-CONT");
        self.kill9();
    }
}

/// A cluster of servers sharing one temp root.
pub struct HaCluster {
    pub root: TempDir,
    pub servers: Vec<HaServer>,
    /// The namespaces the servers run in (dropped after them).
    pub hosts: Option<hosts::Hosts>,
}

impl HaCluster {
    /// Starts server 0 (bootstrapping) and joins `n - 1` more through it.
    pub async fn start(n: usize) -> HaCluster {
        Self::start_with(n, None).await
    }

    /// [`HaCluster::start`] with every server on a host of its own (a network namespace).
    pub async fn start_on_hosts(n: usize) -> HaCluster {
        Self::start_with(n, Some(hosts::Hosts::create(n))).await
    }

    async fn start_with(n: usize, hosts: Option<hosts::Hosts>) -> HaCluster {
        let root = tempfile::Builder::new()
            .prefix("ferrokube-ha-")
            .tempdir()
            .expect("temp dir");
        let mut cluster = HaCluster {
            root,
            servers: Vec::new(),
            hosts,
        };
        let place = cluster.place(0);
        let mut first = HaServer::new(cluster.root.path(), 0, None, place);
        first.spawn();
        first.wait_serving().await;
        cluster.servers.push(first);
        for _ in 1..n {
            cluster.add_server().await;
        }
        cluster
    }

    /// A new server joining through server 0 (not started).
    pub fn new_joiner(&mut self) -> &mut HaServer {
        let via = self
            .servers
            .iter()
            .find(|s| s.is_running())
            .expect("a running server");
        let join = Some((via.peer_url(), via.join_token()));
        let index = self.servers.len();
        let place = self.place(index);
        self.servers
            .push(HaServer::new(self.root.path(), index, join, place));
        self.servers.last_mut().expect("just pushed")
    }

    /// Starts a new server joining the cluster and waits for it to serve.
    pub async fn add_server(&mut self) -> usize {
        let s = self.new_joiner();
        s.spawn();
        s.wait_serving().await;
        s.index
    }

    /// The members as server `via` reports them: (id, role) pairs.
    pub async fn members(&self, via: usize) -> Vec<(u64, String)> {
        let client = self.servers[via].client().await;
        let req = axum::http::Request::get("/ferrokube/members")
            .body(Vec::new())
            .expect("request");
        let text = client.request_text(req).await.expect("members");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        v["members"]
            .as_array()
            .expect("members array")
            .iter()
            .map(|m| {
                (
                    m["id"].as_u64().expect("id"),
                    m["role"].as_str().expect("role").to_string(),
                )
            })
            .collect()
    }

    /// Index of the server that leads now (asked through any running server).
    pub async fn leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            for (i, s) in self.servers.iter().enumerate() {
                if !s.is_running() {
                    continue;
                }
                let client = s.client().await;
                let req = axum::http::Request::get("/ferrokube/members")
                    .body(Vec::new())
                    .expect("request");
                let Ok(text) = client.request_text(req).await else {
                    continue;
                };
                let v: serde_json::Value = serde_json::from_str(&text).expect("json");
                let leader_id = v["members"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|m| m["role"] == "leader")
                    .and_then(|m| m["id"].as_u64());
                if let Some(id) = leader_id {
                    if let Some(j) = self
                        .servers
                        .iter()
                        .position(|s| s.is_running() && s.node_id() == id)
                    {
                        return j;
                    }
                }
                let _ = i;
            }
            assert!(Instant::now() < deadline, "no leader found");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Where server `index` runs: its address and namespace.
    fn place(&self, index: usize) -> (String, Option<String>) {
        match &self.hosts {
            Some(h) => (h.address(index), Some(h.namespace(index))),
            None => ("127.0.0.1".to_string(), None),
        }
    }

    /// Cuts server `i` off from the other servers (not from the test's clients).
    pub fn isolate(&self, i: usize) {
        self.hosts.as_ref().expect("a cluster on hosts").isolate(i);
    }

    /// Ends server `i`'s partition.
    pub fn heal(&self, i: usize) {
        self.hosts.as_ref().expect("a cluster on hosts").heal(i);
    }

    /// Dumps every server's stderr tail (for failing tests).
    pub fn dump_logs(&self) {
        for s in &self.servers {
            eprintln!("===== server {} =====\n{}", s.index, s.stderr_tail());
        }
    }
}
