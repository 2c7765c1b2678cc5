//! Run one node agent against an API server: `agent <kubeconfig> <node-name> <data-dir> [listen]`.

use ferrokube_kubelet::{run_agent, AgentConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args: Vec<String> = std::env::args().collect();
    let (Some(kubeconfig), Some(node), Some(data)) = (args.get(1), args.get(2), args.get(3)) else {
        anyhow::bail!("usage: agent <kubeconfig> <node-name> <data-dir> [listen-addr]");
    };
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    let client = kube::Client::try_from(config)?;
    let mut cfg = AgentConfig::new(node.clone(), data.clone());
    if let Some(listen) = args.get(4) {
        cfg.listen_addr = listen.parse()?;
    }
    run_agent(client, cfg, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
