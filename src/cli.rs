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
    Server(ServerArgs),
    /// Print the admin kubeconfig of a data dir.
    Kubeconfig {
        /// Data directory.
        #[arg(long, default_value = "ferrokube-data")]
        data_dir: PathBuf,
    },
    /// Built-in benchmarks.
    Bench(crate::bench::BenchArgs),
    /// Register N fake Ready nodes (`hollow-<i>`) that "run" the pods bound to them, for tests and
    /// benchmarks without Docker; the nodes are removed on exit (Ctrl-C).
    HollowNodes {
        /// How many nodes.
        #[arg(long, default_value_t = 3)]
        count: usize,
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

/// Flags of `ferrokube server`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// Data directory (created on first start).
    #[arg(long, default_value = "ferrokube-data", env = "FERROKUBE_DATA_DIR")]
    pub data_dir: PathBuf,
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
    /// for HA members whose controllers run elsewhere).
    #[arg(long)]
    pub no_controllers: bool,
    /// Do not run the embedded node agent.
    #[arg(long)]
    pub no_agent: bool,
    /// Never ask the container engine to pull images.
    #[arg(long, env = "FERROKUBE_NO_IMAGE_PULL", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false)]
    pub no_image_pull: bool,
}

impl Default for ServerArgs {
    fn default() -> Self {
        match Cli::parse_from(["ferrokube", "server"]).command {
            Some(Command::Server(args)) => args,
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli
            .command
            .unwrap_or(Command::Server(ServerArgs::default()))
        {
            Command::Server(args) => run_server(args).await,
            Command::Kubeconfig { data_dir } => {
                let path = data_dir.join("kubeconfig.yaml");
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    anyhow::anyhow!("reading {}: {e} (start the server first)", path.display())
                })?;
                print!("{text}");
                Ok(())
            }
            Command::Bench(args) => crate::bench::run(args).await,
            Command::HollowNodes { count, kubeconfig } => {
                let client = match kubeconfig {
                    Some(path) => crate::components::admin_client(&path).await?,
                    None => kube::Client::try_default().await?,
                };
                let shutdown = async {
                    let _ = tokio::signal::ctrl_c().await;
                };
                ferrokube_controllers::run_hollow_nodes(client, count, shutdown).await
            }
            Command::GenOpenapi { dir } => {
                crate::openapi::write(&dir)?;
                println!("wrote OpenAPI documents to {}", dir.display());
                Ok(())
            }
        }
    })
}

async fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    let data_dir = std::path::absolute(&args.data_dir)?;
    let started = server::start(ServerOptions {
        data_dir: data_dir.clone(),
        listen: args.listen,
        tls_san: args.tls_san.clone(),
        watch_history: args.watch_history,
    })
    .await?;
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
    tokio::select! {
        res = started_wait(started) => res,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

async fn started_wait(started: server::Started) -> anyhow::Result<()> {
    started.wait().await
}
