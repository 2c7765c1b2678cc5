//! The shared end-to-end fixture: [`TestCluster`] starts the real `ferrokube` binary on an
//! ephemeral port with a temp data dir, waits for `/readyz`, and hands out a kube `Client`, the
//! kubeconfig for `kubectl`, an admin HTTP client, and the server log when a test fails.
//!
//! Each test binary compiles this module on its own and uses a different subset of it.
#![allow(dead_code)]

pub mod audit;
pub mod objects;
pub mod tokens;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use kube::config::{KubeConfigOptions, Kubeconfig};
use tempfile::TempDir;

/// How long a start may take before the fixture gives up (a cold debug binary on 2 busy cores).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The line the server prints on stdout once it listens.
const SERVING_PREFIX: &str = "ferrokube is serving the Kubernetes API at ";

/// Extra command-line arguments and environment for a cluster.
#[derive(Clone, Debug, Default)]
pub struct ClusterOptions {
    /// Arguments appended to `ferrokube server --data-dir D --listen ADDR`.
    pub args: Vec<String>,
    /// Environment variables set on the server process.
    pub env: Vec<(String, String)>,
    /// Run the embedded node agent (Docker). Off by default: most tests exercise the API alone.
    pub agent: bool,
}

impl ClusterOptions {
    /// Adds an environment variable for the server process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Runs the embedded node agent on the local Docker engine (always in no-pull mode).
    pub fn with_agent(mut self) -> Self {
        self.agent = true;
        self
    }

    /// Adds a command-line argument for the server process.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_string());
        self
    }
}

/// A running `ferrokube server` child process with its own data dir.
pub struct TestCluster {
    dir: TempDir,
    options: ClusterOptions,
    child: Option<Child>,
    /// The port the first start picked; restarts reuse it so kubeconfigs stay valid.
    port: u16,
    /// How many times the server was started (names the log files).
    starts: u32,
    /// With an agent: the Service CIDR its proxy routes and DNATs, distinct per test server.
    service_cidr: Option<String>,
}

impl TestCluster {
    /// Starts a server with default options.
    pub async fn start() -> Self {
        Self::start_with(ClusterOptions::default()).await
    }

    /// Starts a server with extra arguments / environment.
    pub async fn start_with(options: ClusterOptions) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ferrokube-e2e-")
            .tempdir()
            .expect("temp dir");
        let mut cluster = TestCluster {
            dir,
            options: options.clone(),
            child: None,
            port: 0,
            starts: 0,
            service_cidr: (options.agent && !options.args.iter().any(|a| a == "--service-cidr"))
                .then(distinct_service_cidr),
        };
        cluster.spawn().await;
        cluster
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The admin kubeconfig the server wrote.
    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir().join("kubeconfig.yaml")
    }

    /// A scratch directory for test files (manifests, kubectl output).
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// `https://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// A kube client authenticated as the admin, built from the kubeconfig.
    pub async fn client(&self) -> kube::Client {
        let kubeconfig = Kubeconfig::read_from(self.kubeconfig()).expect("reading kubeconfig");
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .expect("kube config from kubeconfig");
        kube::Client::try_from(config).expect("kube client")
    }

    /// A kube-rs client that reports the server's 429/503/504 answers instead of retrying them
    /// (kube's default retries them with a backoff growing to minutes): for tests that assert
    /// those answers.
    pub async fn client_without_retries(&self) -> kube::Client {
        let kubeconfig = Kubeconfig::read_from(self.kubeconfig()).expect("reading kubeconfig");
        let mut config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .expect("kube config from kubeconfig");
        config.default_retry = false;
        kube::Client::try_from(config).expect("kube client")
    }

    /// An HTTP client trusting the cluster CA and presenting the admin client certificate.
    pub fn http(&self) -> reqwest::Client {
        self.http_with(reqwest::Client::builder())
    }

    /// [`Self::http`] from a caller's builder (e.g. one that follows no redirects).
    pub fn http_with(&self, builder: reqwest::ClientBuilder) -> reqwest::Client {
        let pki = self.data_dir().join("pki");
        let mut pem = std::fs::read(pki.join("admin.crt")).expect("admin.crt");
        pem.extend(std::fs::read(pki.join("admin.key")).expect("admin.key"));
        builder
            .use_rustls_tls()
            .add_root_certificate(self.ca())
            .identity(reqwest::Identity::from_pem(&pem).expect("admin identity"))
            .build()
            .expect("reqwest client")
    }

    /// An HTTP client trusting the cluster CA but presenting no credentials.
    pub fn anonymous_http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(self.ca())
            .build()
            .expect("reqwest client")
    }

    fn ca(&self) -> reqwest::Certificate {
        let ca = std::fs::read(self.data_dir().join("pki").join("ca.crt")).expect("ca.crt");
        reqwest::Certificate::from_pem(&ca).expect("CA certificate")
    }

    /// Runs `kubectl` (the one on PATH) against this cluster.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_bin(Path::new("kubectl"), args)
    }

    /// Runs a given kubectl binary against this cluster.
    pub fn kubectl_bin(&self, kubectl: &Path, args: &[&str]) -> Output {
        let mut cmd = self.kubectl_command(kubectl, args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        output_within(
            &format!("kubectl {}", args.join(" ")),
            cmd.spawn().expect("running kubectl"),
            COMMAND_TIMEOUT,
        )
    }

    /// A ready-to-spawn kubectl command with KUBECONFIG set (for background processes).
    pub fn kubectl_command(&self, kubectl: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(kubectl);
        cmd.args(args)
            .env("KUBECONFIG", self.kubeconfig())
            // The gcloud kubectl dispatcher and kubectl itself cache discovery under HOME.
            .env("HOME", self.dir.path())
            .stdin(Stdio::null());
        cmd
    }

    /// Kills the server with SIGKILL (no chance to flush anything) and waits for it to die.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server (SIGTERM, then SIGKILL after a grace period) and starts it again on the
    /// same data dir and port. Also starts a server that was `kill9`ed.
    pub async fn restart(&mut self) {
        self.terminate();
        self.spawn().await;
    }

    /// SIGTERM, then SIGKILL after a grace period (an agent's proxy removes its rules meanwhile).
    fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(50))
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
    }

    /// Everything the server printed so far, all starts, stdout and stderr.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for n in 1..=self.starts {
            for stream in ["stdout", "stderr"] {
                let path = self.dir.path().join(format!("server-{n}.{stream}.log"));
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                out.push_str(&format!("----- start {n} {stream} -----\n{text}\n"));
            }
        }
        out
    }

    async fn spawn(&mut self) {
        self.starts += 1;
        let n = self.starts;
        let stdout_path = self.dir.path().join(format!("server-{n}.stdout.log"));
        let stderr_path = self.dir.path().join(format!("server-{n}.stderr.log"));
        let listen = format!("127.0.0.1:{}", self.port);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferrokube"));
        cmd.arg("server")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--listen")
            .arg(&listen)
            .args(&self.options.args)
            .args(
                self.service_cidr
                    .iter()
                    .flat_map(|c| ["--service-cidr", c.as_str()]),
            )
            .args(if self.options.agent {
                None
            } else {
                Some("--no-agent")
            })
            // No registry is reachable here: the kubelet must never ask the engine to pull.
            .env("FERROKUBE_NO_IMAGE_PULL", "1")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(File::create(&stdout_path).expect("stdout log"))
            .stderr(File::create(&stderr_path).expect("stderr log"));
        for (k, v) in &self.options.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("spawning ferrokube"));
        let deadline = Instant::now() + START_TIMEOUT;
        let url = loop {
            let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
            if let Some(url) = stdout.lines().find_map(|l| l.strip_prefix(SERVING_PREFIX)) {
                break url.trim().to_string();
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("ferrokube exited with {status} before serving");
            }
            assert!(
                Instant::now() < deadline,
                "ferrokube did not print its address within {START_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .expect("port in the serving line");
        assert!(
            self.port == 0 || self.port == port,
            "restart moved the server from {} to {port}",
            self.port
        );
        self.port = port;
        self.wait_ready(deadline).await;
    }

    async fn wait_ready(&mut self, deadline: Instant) {
        let http = self.anonymous_http();
        let url = format!("{}/readyz", self.base_url());
        loop {
            if let Ok(resp) = http.get(&url).send().await {
                if resp.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "/readyz did not answer 200 within {START_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if self.options.agent {
            // Let the agent's service proxy remove its nftables table and route.
            self.terminate();
        }
        self.kill9();
        if std::thread::panicking() {
            eprintln!(
                "===== ferrokube server log ({}) =====\n{}",
                self.dir.path().display(),
                self.logs()
            );
        }
    }
}

/// A /24 Service CIDR in 10.112.0.0/12 (outside the default 10.96.0.0/12 a real server may
/// use) that no route on this host touches yet, starting from a point derived from the pid and
/// a counter: concurrent test servers share the host's nftables and routes, so their ClusterIPs
/// must never overlap.
fn distinct_service_cidr() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let routes = Command::new("ip")
        .args(["-4", "route", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let seed = std::process::id().wrapping_mul(64);
    loop {
        let n = seed.wrapping_add(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) % 4096;
        let prefix = format!("10.{}.{}.", 112 + n / 256, n % 256);
        if !routes.lines().any(|r| r.starts_with(&prefix)) {
            return format!("{prefix}0/24");
        }
    }
}

/// How long one kubectl (or other client) run may take before the test fails instead of hanging.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(180);

/// Waits for a spawned child with piped output; past `timeout` it is killed and the test fails
/// with what it wrote so far, so a stuck stream cannot hang the whole test run.
pub fn output_within(what: &str, mut child: Child, timeout: Duration) -> Output {
    use std::io::Read;
    fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let out = String::from_utf8_lossy(&stdout.join().unwrap_or_default()).into_owned();
            let err = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
            panic!("{what} did not finish within {timeout:?}:\nstdout:\n{out}\nstderr:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Asserts that a command succeeded and returns its stdout.
pub fn stdout_ok(what: &str, out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    stdout
}

/// Polls `check` every 100 ms until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The kubectl binaries to check: the one on PATH and `kubectl.1.33` when installed beside it.
pub fn kubectls() -> Vec<std::path::PathBuf> {
    let mut out = vec![std::path::PathBuf::from("kubectl")];
    let beside = std::env::var_os("PATH").and_then(|path| {
        let found = std::env::split_paths(&path)
            .map(|d| d.join("kubectl"))
            .find(|p| p.is_file())?;
        let dir = std::fs::canonicalize(found).ok()?.parent()?.to_path_buf();
        Some(dir.join("kubectl.1.33")).filter(|p| p.is_file())
    });
    out.extend(beside);
    out
}

/// A TLS server config with a fresh self-signed certificate for `names` (IPs or DNS names), and
/// that certificate's PEM — the `caBundle` a webhook or aggregated server is registered with.
pub fn self_signed_tls(names: &[&str]) -> (std::sync::Arc<rustls::ServerConfig>, String) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let cert = rcgen::generate_simple_self_signed(names).expect("self-signed certificate");
    let pem = cert.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der())
        .expect("private key");
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .expect("server certificate");
    (std::sync::Arc::new(config), pem)
}

/// Runs `tests/python/<script>` with `args` against `cluster` (its kubeconfig, a scratch HOME)
/// and returns its stdout; fails the test unless the script exits 0 and ends by printing `ok`.
pub fn python_script(cluster: &TestCluster, script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/python")
                .join(script),
        )
        .args(args)
        .env("KUBECONFIG", cluster.kubeconfig())
        .env("HOME", cluster.scratch())
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.trim_end().ends_with("ok"),
        "{script}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
