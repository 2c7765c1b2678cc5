//! Runs the controller manager, the scheduler and N hollow nodes against the cluster in
//! `KUBECONFIG` until Ctrl-C: `cargo run -p ferrokube-controllers --example run_all -- 3 [CA.pem]`.

use ferrokube_controllers::{
    run_controller_manager, run_hollow_nodes, run_scheduler, ControllerConfig,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber_init();
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let ca_pem = match args.next() {
        Some(path) => std::fs::read_to_string(path)?,
        None => String::new(),
    };
    let client = kube::Client::try_default().await?;
    let cfg = ControllerConfig {
        ca_pem,
        ..Default::default()
    };
    let stop = || async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let (a, b, c) = tokio::join!(
        run_controller_manager(client.clone(), cfg, stop()),
        run_scheduler(client.clone(), stop()),
        run_hollow_nodes(client, count, stop()),
    );
    a?;
    b?;
    c
}

fn tracing_subscriber_init() {}
