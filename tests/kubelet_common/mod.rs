//! Helpers shared by the `kubelet_*` end-to-end tests (Docker): the offline busybox image,
//! per-test node names with a container sweep, servers with the embedded agent, standalone
//! `ferrokube agent` processes, pod polling, and kubectl wrappers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::api::{Api, PostParams};

use crate::support::{eventually, stdout_ok, ClusterOptions, TestCluster};

/// How long a pod may take to reach a state on a busy 2-core machine.
pub const POD_WAIT: Duration = Duration::from_secs(60);

/// The label every engine container carries with its agent's node name.
pub const NODE_LABEL: &str = "io.ferrokube.node";

/// Builds `busybox:latest` once per test binary (offline, from /bin/busybox).
pub fn import_busybox() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let out = Command::new(env!("CARGO_BIN_EXE_ferrokube"))
            .args(["images", "import-busybox"])
            .output()
            .expect("running ferrokube images import-busybox");
        stdout_ok("ferrokube images import-busybox", &out);
    });
}

/// A node name no other test (or engineer) uses on this engine.
pub fn unique_node(prefix: &str) -> String {
    let n: u32 = rand::random::<u32>() % 1_000_000;
    format!("{prefix}-{}-{n}", std::process::id())
}

/// Removes every engine container of the listed nodes when dropped.
pub struct ContainerSweep(pub Vec<String>);

impl Drop for ContainerSweep {
    fn drop(&mut self) {
        for node in &self.0 {
            for id in containers_of(node) {
                let _ = Command::new("docker").args(["rm", "-f", &id]).output();
            }
        }
    }
}

/// IDs of the engine containers labelled with a node name (any state).
pub fn containers_of(node: &str) -> Vec<String> {
    docker_ids(&format!("label={NODE_LABEL}={node}"))
}

pub fn docker_ids(filter: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--no-trunc", "--filter", filter])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Serializes the tests of this binary: on 2 cores, concurrent servers, agents and engine
/// operations only slow each other down and blur the timing the probes rely on.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A server with its embedded agent. The serial guard and the sweep come first so that they are
/// dropped last, after the server (and its agent, which would otherwise recreate what the sweep
/// removes) is gone.
pub async fn cluster(
    prefix: &str,
) -> (
    tokio::sync::MutexGuard<'static, ()>,
    ContainerSweep,
    TestCluster,
    String,
) {
    cluster_with(prefix, &[]).await
}

/// [`cluster`] with extra server arguments.
pub async fn cluster_with(
    prefix: &str,
    args: &[&str],
) -> (
    tokio::sync::MutexGuard<'static, ()>,
    ContainerSweep,
    TestCluster,
    String,
) {
    let serial = SERIAL.lock().await;
    import_busybox();
    let node = unique_node(prefix);
    let sweep = ContainerSweep(vec![node.clone()]);
    let mut options = ClusterOptions::default()
        .with_agent()
        .arg("--node-name")
        .arg(&node);
    for arg in args {
        options = options.arg(arg);
    }
    let cluster = TestCluster::start_with(options).await;
    (serial, sweep, cluster, node)
}

pub async fn create(api: &Api<Pod>, pod: serde_json::Value) -> Pod {
    let pod: Pod = serde_json::from_value(pod).expect("pod json");
    api.create(&PostParams::default(), &pod)
        .await
        .expect("create pod")
}

/// Waits until `check` holds for the pod; panics with the last seen status otherwise.
pub async fn wait_pod(api: &Api<Pod>, name: &str, what: &str, check: impl Fn(&Pod) -> bool) -> Pod {
    let found = eventually(POD_WAIT, || async {
        api.get(name).await.ok().filter(|p| check(p))
    })
    .await;
    match found {
        Some(p) => p,
        None => {
            let last = api.get(name).await.ok().and_then(|p| p.status);
            panic!("pod {name} never became {what}; last status: {last:#?}")
        }
    }
}

pub fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

pub fn container_status<'a>(p: &'a Pod, name: &str) -> Option<&'a ContainerStatus> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == name)
}

pub fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

pub fn running(p: &Pod) -> bool {
    phase(p) == "Running"
}

pub fn kubectl_ok(c: &TestCluster, args: &[&str]) -> String {
    stdout_ok(&format!("kubectl {}", args.join(" ")), &c.kubectl(args))
}

pub fn kubectl_fails(c: &TestCluster, args: &[&str]) -> String {
    let out = c.kubectl(args);
    assert!(
        !out.status.success(),
        "kubectl {} should fail; stdout: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A background kubectl process killed when dropped.
pub struct Background(pub Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Background {
    /// Kills the process and returns what it wrote on stderr (for failure messages).
    pub fn stderr(&mut self) -> String {
        use std::io::Read;
        let _ = self.0.kill();
        let mut text = String::new();
        if let Some(mut err) = self.0.stderr.take() {
            let _ = err.read_to_string(&mut text);
        }
        text
    }
}

pub fn background(c: &TestCluster, args: &[&str]) -> Background {
    let child = c
        .kubectl_command(Path::new("kubectl"), args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning kubectl");
    Background(child)
}

/// Reads the first stdout lines of a background kubectl until one matches.
pub fn read_until(child: &mut Background, mut want: impl FnMut(&str) -> bool) -> Vec<String> {
    let stdout = child.0.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Keep draining after the caller stopped listening: a closed pipe would kill kubectl
        // (Go dies of SIGPIPE on stdout) the next time it prints "Handling connection".
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + POD_WAIT;
    while std::time::Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let done = want(&line);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    panic!("kubectl never printed the expected line; saw {seen:?}");
}

/// A standalone `ferrokube agent` process for a second node on the same engine.
pub fn spawn_agent(c: &TestCluster, node: &str, n: u32) -> Child {
    let log = std::fs::File::create(c.scratch().join(format!("agent-{n}.log"))).expect("agent log");
    // An agent joins with the join token as upstream's nodes do, not as the admin: only a
    // node's own serving-certificate requests are approved automatically.
    let pki = c.data_dir().join("pki");
    let token = std::fs::read_to_string(pki.join("join-token")).expect("join token");
    Command::new(env!("CARGO_BIN_EXE_ferrokube"))
        .arg("agent")
        .arg("--server")
        .arg(c.base_url())
        .arg("--token")
        .arg(token.trim())
        .arg("--ca-file")
        .arg(pki.join("ca.crt"))
        .arg("--node-name")
        .arg(node)
        .arg("--data-dir")
        .arg(c.scratch().join("agent-data"))
        // These agents are killed with SIGKILL, which would leave proxy rules behind.
        .arg("--no-proxy")
        // No registry is reachable here: never let the engine pull.
        .env("FERROKUBE_NO_IMAGE_PULL", "1")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawning ferrokube agent")
}

/// Prints the standalone agents' logs when a test fails.
pub struct AgentLogs(pub std::path::PathBuf);

impl Drop for AgentLogs {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for n in 1..=2 {
                let path = self.0.join(format!("agent-{n}.log"));
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                eprintln!("===== agent log {n} =====\n{text}");
            }
        }
    }
}

pub fn container_id(p: &Pod) -> Option<String> {
    container_status(p, "main").and_then(|s| s.container_id.clone())
}

/// Pods are admitted once the namespace's `default` service account exists (its controller
/// makes it just after start).
pub async fn default_service_account(c: &TestCluster) {
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::default_namespaced(c.client().await);
    let found = eventually(Duration::from_secs(30), || async {
        accounts.get("default").await.ok()
    })
    .await;
    assert!(found.is_some(), "no default service account");
}
