//! The in-process components the all-in-one server runs beside the API: each is an ordinary
//! kube-rs client of the API, exactly as it would be in another process, under its own
//! identity and upstream's least privilege. The controller manager and scheduler reach the
//! router over an in-memory connection (`http::loopback`) as `system:kube-controller-manager`
//! and `system:kube-scheduler` (client certificates issued by the cluster CA at start); the
//! embedded node agent joins over TLS like any other agent: the join token (a bootstrap token)
//! gets it a `system:node:<name>` client certificate through a CertificateSigningRequest. Only the `default/kubernetes` Service reconciler, part of the API server
//! itself, keeps the admin identity.

use std::path::Path;

use crate::cli::ServerArgs;
use crate::server::Started;

/// A kube client for the admin kubeconfig the server wrote.
pub async fn admin_client(kubeconfig: &Path) -> anyhow::Result<kube::Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    crate::node_identity::retry::bounded_client(config)
}

/// Starts the embedded node agent for this machine (a kubelet on the local Docker engine, with
/// the service proxy unless `--no-proxy`); it stops, removing its proxy rules, when `shutdown`
/// resolves, and the returned task ends then.
pub async fn spawn_agent(
    started: &Started,
    args: &ServerArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let node_name = match &args.node_name {
        Some(name) => name.clone(),
        None => hostname::get()?.to_string_lossy().to_lowercase(),
    };
    let agent_dir = args.data_dir.join("agent");
    let boot = agent_bootstrap(started, &node_name, &agent_dir).await?;
    let mut cfg = ferrokube_kubelet::AgentConfig::new(node_name, agent_dir);
    cfg.no_image_pull = args.no_image_pull;
    cfg.allowed_unsafe_sysctls = args.allowed_unsafe_sysctls.clone();
    if let Some(ip) = args.node_ip {
        // The API server reaches the kubelet (logs, exec) at the node's address.
        cfg.node_ip = Some(ip);
        cfg.listen_addr.set_ip(ip);
    }
    cfg.cluster_id = cluster_id(started.pki.ca_cert_der());
    cfg.client_ca = vec![started.pki.ca_cert_der().to_vec()];
    cfg.volume_dir = match &args.volume_dir {
        Some(dir) => std::path::absolute(dir)?,
        None => args.data_dir.join("volumes"),
    };
    cfg.proxy = proxy_config(&cfg.node_name, &args.service_cidr, args.no_proxy);
    let dns_ip = crate::cluster_dns::cluster_dns_ip(args).into();
    cfg.dns = ferrokube_kubelet::PodDnsConfig::new(vec![dns_ip], &args.cluster_domain);
    Ok(tokio::spawn(async move {
        // Bootstrap waits for the controller manager's approver: off the server's start path.
        let client = match crate::node_identity::node_client(boot).await {
            Ok(client) => client,
            Err(e) => {
                tracing::error!("node agent: TLS bootstrap failed: {e:#}");
                return;
            }
        };
        if let Err(e) = ferrokube_kubelet::run_agent(client, cfg, shutdown).await {
            tracing::error!("node agent stopped (is the Docker engine reachable?): {e:#}");
        }
    }))
}

/// The cluster's identity as container labels carry it: the first 16 hex digits of the
/// SHA-256 of the cluster CA certificate (DER), the same for the embedded agent and agents
/// joined with `--ca-file`.
pub fn cluster_id(ca_der: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(ca_der);
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The service proxy of a node agent: its own nft table, the service CIDR routed onto the
/// pod bridge; `None` with `--no-proxy`.
pub fn proxy_config(
    node: &str,
    service_cidr: &crate::registry::service_alloc::Ipv4Cidr,
    no_proxy: bool,
) -> Option<ferrokube_kubelet::proxy::ProxyConfig> {
    (!no_proxy).then(|| ferrokube_kubelet::proxy::ProxyConfig {
        service_cidr: Some(service_cidr.to_string()),
        ..ferrokube_kubelet::proxy::ProxyConfig::for_node(node)
    })
}

/// How the embedded agent joins: the admin kubeconfig's server and CA, and the join token (a
/// bootstrap token) for TLS bootstrap to its node identity, like any joining agent.
async fn agent_bootstrap(
    started: &Started,
    node_name: &str,
    data_dir: &Path,
) -> anyhow::Result<crate::node_identity::Bootstrap> {
    let kubeconfig = kube::config::Kubeconfig::read_from(&started.kubeconfig)?;
    let mut base = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    base.auth_info = Default::default();
    Ok(crate::node_identity::Bootstrap {
        base,
        token: started.pki.bootstrap_token().to_string(),
        node_name: node_name.to_string(),
        data_dir: data_dir.to_path_buf(),
        fallback: Vec::new(),
    })
}

/// An in-memory client authenticated by a fresh client certificate for `user`.
fn component_client(started: &Started, user: &str) -> anyhow::Result<kube::Client> {
    let cert = started.pki.issue_client_certificate(user, None)?;
    crate::http::loopback::client(started.app.clone(), &cert.cert_pem)
}

/// Starts the reconcilers of the `default/kubernetes` Service and of the local APIServices
/// (part of the API server: they run even without controllers).
pub fn spawn_master_service(started: &Started) -> anyhow::Result<()> {
    let client = crate::http::loopback::client(
        started.app.clone(),
        &started.pki.admin_credentials().cert_pem,
    )?;
    let store = started.state.registry.store.clone();
    crate::master_service::spawn(client.clone(), started.master.clone(), store.clone());
    crate::apiservices::spawn(client.clone(), started.state.clone());
    crate::policy_typecheck::spawn(client.clone());
    // The aggregation layer: every server probes, the leader writes status and the
    // extension servers' authentication ConfigMap.
    crate::aggregator::spawn(started.state.clone());
    crate::aggregator::availability::spawn(client.clone(), started.state.clone());
    let ca_pem = started.pki.ca_cert_pem().to_string();
    crate::aggregator::authentication_config::spawn(client, store, ca_pem);
    Ok(())
}

/// Starts the controller manager and the scheduler (each ends when the process does).
pub async fn spawn_all(started: &Started, args: &ServerArgs) -> anyhow::Result<()> {
    use ferrokube_auth::rbac::bootstrap::{CONTROLLER_MANAGER_USER, SCHEDULER_USER};
    let client = component_client(started, CONTROLLER_MANAGER_USER)?;
    let scheduler = component_client(started, SCHEDULER_USER)?;
    let cfg = ferrokube_controllers::ControllerConfig {
        ca_pem: started.pki.ca_cert_pem().to_string(),
        node_monitor_grace: args.node_monitor_grace_period,
        ..Default::default()
    };
    let controllers = client.clone();
    let csr_signer = started.pki.request_signer()?;
    tokio::spawn(crate::certificates::run(
        client.clone(),
        csr_signer,
        args.cluster_signing_duration,
    ));
    tokio::spawn(crate::certificates::approver::run(client.clone()));
    tokio::spawn(crate::certificates::serving_approval::run(client.clone()));
    tokio::spawn(async move {
        let forever = std::future::pending::<()>();
        if let Err(e) =
            ferrokube_controllers::run_controller_manager(controllers, cfg, forever).await
        {
            tracing::error!("controller manager stopped: {e:#}");
        }
    });
    tokio::spawn(async move {
        if let Err(e) =
            ferrokube_controllers::run_scheduler(scheduler, std::future::pending::<()>()).await
        {
            tracing::error!("scheduler stopped: {e:#}");
        }
    });
    Ok(())
}
