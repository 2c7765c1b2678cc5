//! The command line (DESIGN.md: server, agent, kubeconfig, bench, plus developer tools).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::server::{self, ServerOptions};

/// A Kubernetes-compatible control plane and node agent in one binary.
#[derive(Parser, Debug)]
#[command(name = "ferrokube", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the API server (store, scheduler, controllers) — the default.
    Server(Box<ServerArgs>),
    /// Run a node agent (kubelet on Docker) for another node against a running server.
    Agent(AgentArgs),
    /// Local images for clusters without a registry.
    Images {
        #[command(subcommand)]
        command: ImagesCommand,
    },
    /// Print the admin kubeconfig of a data dir.
    Kubeconfig {
        /// Data directory.
        #[arg(long, default_value = "ferrokube-data")]
        data_dir: PathBuf,
    },
    /// Built-in benchmarks.
    Bench(crate::bench::BenchArgs),
    /// List the servers of an HA cluster (id, peer address, role, last index), or remove one.
    Members {
        /// Admin kubeconfig (default: `<data-dir>/kubeconfig.yaml`).
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// Data directory whose admin kubeconfig to use.
        #[arg(long, default_value = "ferrokube-data")]
        data_dir: PathBuf,
        #[command(subcommand)]
        action: Option<MembersCommand>,
    },
    /// Register N fake Ready nodes (`hollow-<i>`) that "run" the pods bound to them, for tests and
    /// benchmarks without Docker; the nodes are removed on exit (Ctrl-C).
    HollowNodes {
        /// How many nodes.
        #[arg(long, default_value_t = 3)]
        count: usize,
        /// Index of the first node (`hollow-<first>`), so several processes can share a cluster.
        #[arg(long, default_value_t = 0)]
        first: usize,
        /// Kubeconfig to use (default: $KUBECONFIG).
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
    },
    /// Regenerate the OpenAPI documents under the given folder (the repository's `openapi/`).
    GenOpenapi {
        /// Output folder.
        #[arg(default_value = "openapi")]
        dir: PathBuf,
    },
}

/// `ferrokube members ...`
#[derive(Subcommand, Debug)]
enum MembersCommand {
    /// Remove a member (by id) from the cluster; the last voter cannot be removed.
    Remove {
        /// The member's id (first column of `ferrokube members`).
        id: u64,
    },
}

/// `ferrokube images ...`
#[derive(Subcommand, Debug)]
enum ImagesCommand {
    /// Build `busybox:latest` (plus any extra tags) from Debian's busybox-static with `docker import`.
    ImportBusybox {
        /// Extra tags, e.g. `busybox:v2`.
        tags: Vec<String>,
    },
    /// Build the `ferrokube` image from this binary (or `--binary`): the binary at
    /// `/ferrokube` (the entrypoint) with the shared libraries it loads, imported into the
    /// local Docker engine; no registry or base image is involved.
    Build {
        /// Tags to give it (repeatable; default `ferrokube:<version>` and `ferrokube:latest`).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// The binary to package (default: the running one).
        #[arg(long)]
        binary: Option<PathBuf>,
    },
}

/// Flags of `ferrokube agent`.
#[derive(clap::Args, Debug, Clone)]
pub struct AgentArgs {
    /// Server URL (with --token); otherwise the kubeconfig decides. Several servers of an HA
    /// cluster: repeat the flag or separate with commas; the agent fails over between them.
    #[arg(long, value_delimiter = ',')]
    pub server: Vec<String>,
    /// A bootstrap token (the server's join token, `<data-dir>/pki/join-token`, or one made as
    /// a `bootstrap.kubernetes.io/token` Secret): the agent uses it once to get its
    /// `system:node:<name>` client certificate, kept under `<data-dir>/pki/`.
    #[arg(long, env = "FERROKUBE_TOKEN")]
    pub token: Option<String>,
    /// CA certificate of the server (with --server; `<data-dir>/pki/ca.crt`).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Kubeconfig to use when --server is not given (default: $KUBECONFIG).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// This node's name.
    #[arg(long)]
    pub node_name: String,
    /// Where the agent keeps pod volumes.
    #[arg(long, default_value = "ferrokube-agent")]
    pub data_dir: PathBuf,
    /// Where the built-in local-path provisioner creates this node's volumes (default:
    /// `<data-dir>/volumes`).
    #[arg(long)]
    pub volume_dir: Option<PathBuf>,
    /// Never ask the container engine to pull images.
    #[arg(long, env = "FERROKUBE_NO_IMAGE_PULL", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false)]
    pub no_image_pull: bool,
    /// Unsafe sysctls pods on this node may set beyond the safe set (upstream
    /// `--allowed-unsafe-sysctls`): names or prefixes ending in `*`, namespaced ones only.
    #[arg(long, value_delimiter = ',')]
    pub allowed_unsafe_sysctls: Vec<String>,
    /// The node's InternalIP, where the API server reaches this kubelet for logs/exec/attach/
    /// port-forward (upstream `--node-ip`). Default: the `--address` when specific, else the
    /// primary outbound interface's address.
    #[arg(long)]
    pub node_ip: Option<std::net::IpAddr>,
    /// Address the kubelet streaming server listens on (upstream `--address`). Default: the
    /// `--node-ip` when given, else 127.0.0.1 (same-host servers only).
    #[arg(long)]
    pub address: Option<std::net::IpAddr>,
    /// Port of the kubelet streaming server (0 picks a free one; upstream uses 10250).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// The cluster's Service CIDR (the server's `--service-cidr`), routed locally by the proxy.
    #[arg(long, default_value = "10.96.0.0/12", value_parser = crate::registry::service_alloc::Ipv4Cidr::parse)]
    pub service_cidr: crate::registry::service_alloc::Ipv4Cidr,
    /// Run no service proxy on this node (Services then carry no traffic here).
    #[arg(long)]
    pub no_proxy: bool,
    /// The cluster DNS server(s) ClusterFirst pods use (upstream `--cluster-dns`); none gives
    /// them the host's resolver, as upstream does.
    #[arg(long, value_delimiter = ',')]
    pub cluster_dns: Vec<std::net::IpAddr>,
    /// The cluster's DNS domain (upstream `--cluster-domain`).
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
}

/// Flags of `ferrokube server`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// Data directory (created on first start).
    #[arg(long, default_value = "ferrokube-data", env = "FERROKUBE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Where the built-in local-path provisioner creates this node's volumes (default:
    /// `<data-dir>/volumes`).
    #[arg(long)]
    pub volume_dir: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// Extra subject alternative names for the serving certificate.
    #[arg(long = "tls-san")]
    pub tls_san: Vec<String>,
    /// Watch event history kept for resuming watches (events).
    #[arg(long, default_value_t = ferrokube_store::DEFAULT_HISTORY_EVENTS, env = "FERROKUBE_WATCH_HISTORY")]
    pub watch_history: usize,
    /// Run the API server alone: no controller manager and no scheduler (for API-only tests and
    /// for HA members whose controllers run elsewhere). An embedded agent then waits until its
    /// certificate request is approved and signed elsewhere.
    #[arg(long)]
    pub no_controllers: bool,
    /// How long a node may miss heartbeats before the node lifecycle controller marks it
    /// NotReady (upstream `--node-monitor-grace-period`, e.g. `40s`).
    #[arg(long, default_value = "40s", value_parser = parse_seconds)]
    pub node_monitor_grace_period: std::time::Duration,
    /// The longest lifetime of a certificate the built-in CSR signers issue, e.g. `8760h`
    /// (upstream kube-controller-manager's `--cluster-signing-duration`, one year by default);
    /// agents renew their client certificates at 70–90% of it.
    #[arg(long, default_value = "8760h", value_parser = parse_seconds)]
    pub cluster_signing_duration: std::time::Duration,
    /// Do not run the embedded node agent.
    #[arg(long)]
    pub no_agent: bool,
    /// Run the embedded agent without its service proxy (no nftables rules on this host).
    #[arg(long)]
    pub no_proxy: bool,
    /// Never ask the container engine to pull images.
    #[arg(long, env = "FERROKUBE_NO_IMAGE_PULL", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false)]
    pub no_image_pull: bool,
    /// Unsafe sysctls pods on the embedded agent's node may set (see `ferrokube agent`).
    #[arg(long, value_delimiter = ',')]
    pub allowed_unsafe_sysctls: Vec<String>,
    /// Node name of the embedded agent (default: the host name); servers sharing one Docker
    /// engine need distinct names, since each agent removes containers of its node it does not know.
    #[arg(long, env = "FERROKUBE_NODE_NAME")]
    pub node_name: Option<String>,
    /// The embedded agent's InternalIP (upstream `--node-ip`), where its kubelet listens and
    /// where pods reach the node (host ports, node ports); e.g. the Docker bridge's gateway.
    /// Default: the listen address's.
    #[arg(long)]
    pub node_ip: Option<std::net::IpAddr>,
    /// The range Service ClusterIPs are allocated from; its first address is the `kubernetes`
    /// Service's (upstream `--service-cluster-ip-range`).
    #[arg(long, default_value = "10.96.0.0/12", value_parser = crate::registry::service_alloc::Ipv4Cidr::parse)]
    pub service_cidr: crate::registry::service_alloc::Ipv4Cidr,
    /// The range NodePorts are allocated from.
    #[arg(long, default_value = "30000-32767", value_parser = crate::registry::service_alloc::parse_port_range)]
    pub service_node_port_range: std::ops::RangeInclusive<u16>,
    /// Seats for read-only requests; with the next flag, what the priority levels share
    /// (upstream's default 400; long-running requests such as watches do not count).
    #[arg(long, default_value_t = 400)]
    pub max_requests_inflight: usize,
    /// Seats for mutating requests (upstream's default 200), added to the shared total.
    #[arg(long, default_value_t = 200)]
    pub max_mutating_requests_inflight: usize,
    /// The longest a request other than a watch or stream may take before it is abandoned
    /// with a 504 (upstream's `--request-timeout`; a request's own `?timeout=` may shorten it).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub request_timeout: std::time::Duration,
    /// How much history the store keeps at least: every such interval it compacts to the
    /// revision it had one interval before (upstream's `--etcd-compaction-interval`; 0 never).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub etcd_compaction_interval: std::time::Duration,
    /// Audit policy (`audit.k8s.io/v1` Policy); with --audit-log-path, turns auditing on.
    #[arg(long)]
    pub audit_policy_file: Option<PathBuf>,
    /// Admission plugins' configuration (`apiserver.config.k8s.io/v1` AdmissionConfiguration),
    /// e.g. PodSecurity's cluster-wide default levels and exemptions.
    #[arg(long)]
    pub admission_control_config_file: Option<PathBuf>,
    /// Where audit events are written as JSON lines (`-` is not supported).
    #[arg(long)]
    pub audit_log_path: Option<PathBuf>,
    /// Rotate the audit log after this many megabytes (0: never).
    #[arg(long, default_value_t = 100)]
    pub audit_log_maxsize: u64,
    /// How many rotated audit logs to keep (0: all).
    #[arg(long, default_value_t = 0)]
    pub audit_log_maxbackup: usize,
    /// The address pods reach the API server on, published in the `kubernetes` Service's
    /// endpoints; the server also listens there. Default: the Docker bridge's (`docker0`)
    /// address, else the listen IP.
    #[arg(long)]
    pub advertise_address: Option<std::net::IpAddr>,
    /// Port of the cluster DNS server on the advertise address (UDP and TCP; 0 picks a free
    /// one). Pods reach it through the `kube-system/kube-dns` ClusterIP on port 53.
    #[arg(long, default_value_t = 0)]
    pub dns_port: u16,
    /// The cluster's DNS domain (upstream `--cluster-domain`).
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Resolver that names outside the cluster are forwarded to (`ip:port`). Off by default:
    /// such names are then REFUSED, so no query leaves the host.
    #[arg(long)]
    pub dns_forward: Option<SocketAddr>,
    /// ClusterIP of `kube-system/kube-dns`, the pods' nameserver (default: the tenth address
    /// of --service-cidr, 10.96.0.10).
    #[arg(long)]
    pub cluster_dns_ip: Option<std::net::Ipv4Addr>,
    /// Listen for the other servers of an HA cluster here (raft, forwarded writes, joins;
    /// mutual TLS with the cluster CA). Must be an address they can dial.
    #[arg(long)]
    pub peer_listen: Option<SocketAddr>,
    /// The peer address (`host:port`) the other servers dial, when it is not --peer-listen's
    /// (a StatefulSet pod's stable DNS name; a 0.0.0.0 listener). The peer certificate names
    /// its host.
    #[arg(long, requires = "peer_listen", env = "FERROKUBE_PEER_ADVERTISE")]
    pub peer_advertise: Option<String>,
    /// Join the cluster of the server whose peer listener is at this URL
    /// (`https://host:port`), with --token; needs --peer-listen. A URL naming this server's
    /// own peer address starts the cluster instead (one command line for every replica).
    #[arg(long, requires = "token", requires = "peer_listen")]
    pub join: Option<String>,
    /// The cluster's join token (`<data-dir>/pki/join-token` of a member), with --join; on a
    /// server starting a new cluster it becomes that cluster's join token
    /// (`[a-z0-9]{6}.[a-z0-9]{16}`; a data dir that has a token keeps it).
    #[arg(long, env = "FERROKUBE_JOIN_TOKEN")]
    pub token: Option<String>,
}

impl Default for ServerArgs {
    fn default() -> Self {
        match Cli::parse_from(["ferrokube", "server"]).command {
            Some(Command::Server(args)) => *args,
            _ => unreachable!("`server` parses as the server command"),
        }
    }
}

/// Runs the command line.
pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "ferrokube=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if matches!(cli.command, Some(Command::Agent(_))) {
        // A node agent waits on the engine and the API; two workers are plenty on any machine
        // and keep its threads (stacks, malloc arenas) from growing with the core count.
        builder.worker_threads(2);
    }
    let runtime = builder.enable_all().build()?;
    runtime.block_on(async move {
        match cli
            .command
            .unwrap_or_else(|| Command::Server(Box::default()))
        {
            Command::Server(args) => run_server(*args).await,
            Command::Kubeconfig { data_dir } => {
                let path = data_dir.join("kubeconfig.yaml");
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    anyhow::anyhow!("reading {}: {e} (start the server first)", path.display())
                })?;
                print!("{text}");
                Ok(())
            }
            Command::Bench(args) => crate::bench::run(args).await,
            Command::Members {
                kubeconfig,
                data_dir,
                action,
            } => {
                let path = kubeconfig.unwrap_or_else(|| data_dir.join("kubeconfig.yaml"));
                let client = crate::components::admin_client(&path).await?;
                let remove = action.map(|MembersCommand::Remove { id }| id);
                crate::ha::members::run_cli(client, remove).await
            }
            Command::Agent(args) => run_agent(args).await,
            Command::Images {
                command: ImagesCommand::ImportBusybox { tags },
            } => {
                ferrokube_kubelet::import_busybox(&tags).await?;
                println!(
                    "imported busybox:latest{}",
                    tags.iter().map(|t| format!(", {t}")).collect::<String>()
                );
                Ok(())
            }
            Command::Images {
                command: ImagesCommand::Build { tags, binary },
            } => build_image(tags, binary).await,
            Command::HollowNodes {
                count,
                first,
                kubeconfig,
            } => {
                let client = match kubeconfig {
                    Some(path) => crate::components::admin_client(&path).await?,
                    None => kube::Client::try_default().await?,
                };
                let shutdown = async {
                    let _ = tokio::signal::ctrl_c().await;
                };
                ferrokube_controllers::run_hollow_node_range(client, first..first + count, shutdown)
                    .await
            }
            Command::GenOpenapi { dir } => {
                crate::openapi::write(&dir)?;
                println!("wrote OpenAPI documents to {}", dir.display());
                Ok(())
            }
        }
    })
}

/// `ferrokube images build`.
async fn build_image(mut tags: Vec<String>, binary: Option<PathBuf>) -> anyhow::Result<()> {
    let binary = match binary {
        Some(b) => b,
        None => std::env::current_exe()?,
    };
    if tags.is_empty() {
        tags = vec![
            format!("ferrokube:{}", env!("CARGO_PKG_VERSION")),
            "ferrokube:latest".to_string(),
        ];
    }
    ferrokube_kubelet::build_self_image(&binary, &tags).await?;
    println!("built {} from {}", tags.join(", "), binary.display());
    Ok(())
}

async fn run_agent(args: AgentArgs) -> anyhow::Result<()> {
    // Without a CA file the agent does not know its cluster, and labels by node name only.
    let mut cluster = String::new();
    let data_dir = std::path::absolute(&args.data_dir)?;
    let client = match (args.server.first(), &args.token) {
        (Some(server), Some(token)) => {
            let mut base = kube::Config::new(server.parse()?);
            let fallback = args.server[1..]
                .iter()
                .map(|s| s.parse())
                .collect::<Result<Vec<axum::http::Uri>, _>>()?;
            let Some(ca) = &args.ca_file else {
                anyhow::bail!("--server needs --ca-file (the server's <data-dir>/pki/ca.crt)")
            };
            let pem = std::fs::read(ca)?;
            let ders = rustls_pemfile::certs(&mut pem.as_slice()).collect::<Result<Vec<_>, _>>()?;
            cluster = ders
                .first()
                .map(|d| crate::components::cluster_id(d))
                .unwrap_or_default();
            base.root_cert = Some(ders.into_iter().map(|d| d.to_vec()).collect());
            // The token only buys a node certificate (TLS bootstrap); the agent runs as
            // system:node:<name>.
            crate::node_identity::node_client(crate::node_identity::Bootstrap {
                base,
                token: token.clone(),
                node_name: args.node_name.clone(),
                data_dir: data_dir.clone(),
                fallback,
            })
            .await?
        }
        (Some(_), None) => anyhow::bail!("--server needs --token"),
        _ => match &args.kubeconfig {
            Some(path) => crate::components::admin_client(path).await?,
            None => kube::Client::try_default().await?,
        },
    };
    let mut cfg = ferrokube_kubelet::AgentConfig::new(&args.node_name, data_dir);
    cfg.no_image_pull = args.no_image_pull;
    cfg.allowed_unsafe_sysctls = args.allowed_unsafe_sysctls.clone();
    cfg.cluster_id = cluster;
    if let Some(dir) = &args.volume_dir {
        cfg.volume_dir = std::path::absolute(dir)?;
    }
    // An agent on another machine must be reachable: listening on the node IP by default.
    let address = args
        .address
        .or(args.node_ip)
        .unwrap_or(cfg.listen_addr.ip());
    cfg.listen_addr = SocketAddr::new(address, args.port);
    cfg.node_ip = args.node_ip;
    cfg.release_startup_code = true;
    cfg.proxy = crate::components::proxy_config(&args.node_name, &args.service_cidr, args.no_proxy);
    cfg.dns = ferrokube_kubelet::PodDnsConfig::new(args.cluster_dns.clone(), &args.cluster_domain);
    cfg.client_ca = agent_client_ca(&args).await?;
    ferrokube_kubelet::run_agent(client, cfg, shutdown_signal()).await
}

/// The CA the kubelet verifies client certificates against (the API server's kubelet client
/// certificate among them): the server's CA, from `--ca-file` or the kubeconfig.
async fn agent_client_ca(args: &AgentArgs) -> anyhow::Result<Vec<Vec<u8>>> {
    if let (Some(_), Some(ca)) = (args.server.first(), &args.ca_file) {
        let pem = std::fs::read(ca)?;
        let ders = rustls_pemfile::certs(&mut pem.as_slice()).collect::<Result<Vec<_>, _>>()?;
        return Ok(ders.into_iter().map(|d| d.to_vec()).collect());
    }
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    Ok(config.root_cert.unwrap_or_default())
}

/// The audit flags, both or neither.
fn audit_options(args: &ServerArgs) -> anyhow::Result<Option<(PathBuf, crate::audit::LogConfig)>> {
    match (&args.audit_policy_file, &args.audit_log_path) {
        (None, None) => Ok(None),
        (Some(policy), Some(path)) => Ok(Some((
            policy.clone(),
            crate::audit::LogConfig {
                path: std::path::absolute(path)?,
                max_size_mb: args.audit_log_maxsize,
                max_backups: args.audit_log_maxbackup,
            },
        ))),
        _ => anyhow::bail!("--audit-policy-file and --audit-log-path go together"),
    }
}

async fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    let data_dir = std::path::absolute(&args.data_dir)?;
    let started = server::start(ServerOptions {
        data_dir: data_dir.clone(),
        listen: args.listen,
        tls_san: args.tls_san.clone(),
        watch_history: args.watch_history,
        service_ranges: crate::registry::service_alloc::ServiceRanges {
            cidr: args.service_cidr,
            node_ports: args.service_node_port_range.clone(),
        },
        advertise_address: args.advertise_address,
        max_inflight: args.max_requests_inflight + args.max_mutating_requests_inflight,
        request_timeout: args.request_timeout,
        compaction_interval: args.etcd_compaction_interval,
        audit: audit_options(&args)?,
        admission: match &args.admission_control_config_file {
            Some(path) => crate::registry::admission::config::AdmissionConfig::load(path)?,
            None => Default::default(),
        },
        ha: ha_options(&args),
        join_token: args.token.clone(),
    })
    .await?;
    crate::components::spawn_master_service(&started)?;
    crate::cluster_dns::check_flags(&args)?;
    if let Err(e) = crate::cluster_dns::spawn(&started, &args).await {
        tracing::warn!("no cluster DNS: {e:#}");
    }
    println!(
        "ferrokube is serving the Kubernetes API at https://{}",
        started.addr
    );
    println!(
        "To use it:  export KUBECONFIG={}",
        started.kubeconfig.display()
    );
    if !args.no_controllers {
        crate::components::spawn_all(&started, &args).await?;
    }
    let (stop_agent, agent_stopped) = tokio::sync::watch::channel(false);
    let agent = if args.no_agent {
        None
    } else {
        let mut agent_args = args.clone();
        agent_args.data_dir = data_dir.clone();
        let mut stopped = agent_stopped;
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        Some(crate::components::spawn_agent(&started, &agent_args, shutdown).await?)
    };
    tokio::spawn(release_startup_code());
    let res = tokio::select! {
        res = started_wait(started) => res,
        _ = shutdown_signal() => Ok(()),
    };
    // The agent's proxy removes its rules on the way out; pods keep running.
    let _ = stop_agent.send(true);
    if let Some(agent) = agent {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), agent).await;
    }
    res
}

/// Start-up touches code and constants from all over the binary (every registry kind,
/// controller and the agent), and the kernel maps 64 KiB around each faulting page; once the
/// components are up, drop this process's mappings of the executable's clean read-only pages
/// so an idle single node keeps resident only what its loops run (as a standalone agent does:
/// `ferrokube_kubelet::memory`). Those pages stay in the page cache and fault back in on use.
async fn release_startup_code() {
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    match ferrokube_kubelet::memory::release_startup_code() {
        Ok(bytes) => tracing::debug!(bytes, "released start-up code mappings"),
        Err(e) => tracing::debug!(error = %e, "cannot release start-up code"),
    }
}

fn ha_options(args: &ServerArgs) -> Option<crate::ha::HaOptions> {
    let peer_listen = args.peer_listen?;
    let join = match (&args.join, &args.token) {
        (Some(url), Some(token)) => Some(crate::ha::JoinTarget {
            url: url.clone(),
            token: token.trim().to_string(),
        }),
        _ => None,
    };
    Some(crate::ha::HaOptions {
        peer_listen,
        peer_advertise: args.peer_advertise.clone(),
        join,
    })
}

async fn started_wait(started: server::Started) -> anyhow::Result<()> {
    started.wait().await
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM, so both stop the process cleanly.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// Parses a duration flag given as seconds, optionally suffixed `s`, `m` or `h` (`40s`, `2m`,
/// `8760h`, `15`).
fn parse_seconds(v: &str) -> Result<std::time::Duration, String> {
    let (num, mult) = if let Some(n) = v.strip_suffix('h') {
        (n, 3600)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60)
    } else {
        (v.strip_suffix('s').unwrap_or(v), 1)
    };
    num.parse::<u64>()
        .map(|n| std::time::Duration::from_secs(n * mult))
        .map_err(|e| format!("invalid duration {v:?}: {e}"))
}
