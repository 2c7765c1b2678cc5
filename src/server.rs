//! `ferrokube server`: PKI, store, registry, HTTP over TLS, and the in-process components.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use ferrokube_auth::{Authenticator, Pki, PkiOptions};
use ferrokube_store::{Store, StoreConfig};
use serde_json::json;

use crate::http::{self, AppState};
use crate::master_service::{self, MasterEndpoint};
use crate::registry::rest::WriteOptions;
use crate::registry::service_alloc::ServiceRanges;
use crate::registry::Registry;

/// Options of `ferrokube server`.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Where everything is kept.
    pub data_dir: PathBuf,
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Extra names/IPs for the serving certificate.
    pub tls_san: Vec<String>,
    /// Watch history window, in events.
    pub watch_history: usize,
    /// Where Service ClusterIPs and node ports come from.
    pub service_ranges: ServiceRanges,
    /// The address pods reach the server on (default: the Docker bridge's, else the listen IP).
    pub advertise_address: Option<IpAddr>,
    /// `--audit-policy-file` with the log it writes to.
    pub audit: Option<(PathBuf, crate::audit::LogConfig)>,
    /// `--admission-control-config-file`: the admission plugins' configuration.
    pub admission: crate::registry::admission::config::AdmissionConfig,
    /// Seats shared by the limited priority levels (upstream: `--max-requests-inflight` +
    /// `--max-mutating-requests-inflight`).
    pub max_inflight: usize,
    /// The longest a non-long-running request may take (`--request-timeout`).
    pub request_timeout: std::time::Duration,
    /// `--etcd-compaction-interval`: the history the store keeps at least (zero: no compactor).
    pub compaction_interval: std::time::Duration,
    /// `--peer-listen` (and `--join`): run as a member of a multi-server cluster.
    pub ha: Option<crate::ha::HaOptions>,
    /// `--token`: the join token a new data dir starts with (an existing one is kept).
    pub join_token: Option<String>,
}

/// The namespaces that exist from the first start.
const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// A started server: where it listens and its parts.
pub struct Started {
    /// The bound address.
    pub addr: SocketAddr,
    /// The admin kubeconfig path.
    pub kubeconfig: PathBuf,
    /// Shared state.
    pub state: Arc<AppState>,
    /// The PKI (CA for the root-CA publisher, tokens for agents).
    pub pki: Pki,
    /// The router, for in-process clients (see `http::loopback`).
    pub app: axum::Router,
    /// Where the `kubernetes` Service points.
    pub master: MasterEndpoint,
    serve: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Started {
    /// Waits for the HTTP server to end (it ends only on error).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.serve.await??;
        Ok(())
    }
}

/// Starts the API server and returns once it is serving.
pub async fn start(opts: ServerOptions) -> anyhow::Result<Started> {
    let began = Instant::now();
    std::fs::create_dir_all(&opts.data_dir)
        .with_context(|| format!("creating {}", opts.data_dir.display()))?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("binding {}", opts.listen))?;
    let addr = listener.local_addr()?;
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    let server_url = format!("https://{}", SocketAddr::new(host.parse()?, addr.port()));
    let master = MasterEndpoint {
        cluster_ip: opts.service_ranges.cidr.first_host(),
        advertise: opts
            .advertise_address
            .unwrap_or_else(|| master_service::default_advertise_address(host_ip(&host))),
        port: addr.port(),
        service_cidr: opts.service_ranges.cidr.to_string(),
    };
    // In-cluster clients dial the `kubernetes` ClusterIP or the advertise address (the
    // `kubernetes.default.svc` names are among the PKI's defaults).
    let mut tls_sans = opts.tls_san.clone();
    tls_sans.push(master.cluster_ip.to_string());
    tls_sans.push(master.advertise.to_string());
    let pki_opts = PkiOptions {
        tls_sans,
        server_url: server_url.clone(),
    };
    let plan = match &opts.ha {
        Some(ha) => Some(crate::ha::join::prepare(&opts.data_dir, ha).await?),
        None => None,
    };
    if let Some(token) = &opts.join_token {
        // After a join installed the cluster's secrets, whose token is this one anyway.
        if !ferrokube_auth::seed_bootstrap_token(&opts.data_dir, token)? {
            tracing::debug!("the data dir already has a join token; --token does not replace it");
        }
    }
    let pki = Pki::load_or_create(&opts.data_dir, &pki_opts)?;
    let kubeconfig = opts.data_dir.join("kubeconfig.yaml");
    pki.write_kubeconfig(&kubeconfig, &server_url)?;
    let store = match (&opts.ha, plan) {
        (Some(ha), Some(plan)) => open_member_store(&opts, ha, plan, &pki).await?,
        _ => {
            Store::open(StoreConfig {
                history_events: opts.watch_history,
                ..StoreConfig::new(opts.data_dir.join("store"))
            })
            .await?
        }
    };
    let mut registry = Registry::with_admission(store, &opts.admission);
    registry.service_ranges = opts.service_ranges.clone();
    ensure_system_namespaces(&registry).await?;
    crate::registry::bootstrap_tokens::ensure_join_token_secret(&registry, pki.bootstrap_token())
        .await?;
    crate::rbac::bootstrap::reconcile(&registry).await?;
    let authorizer = crate::rbac::Authorizer::start(registry.store.clone()).await?;
    crate::rbac::escalation::install(&registry, &authorizer);
    crate::registry::claims::ensure_default_class(&registry).await?;
    crate::registry::admission::priority::ensure_system_classes(&registry).await?;
    crate::registry::csr::install(&registry, &authorizer);
    crate::flowcontrol::bootstrap::ensure(&registry).await?;
    // Upstream's order for every kind: mutating policies, mutating webhooks, validating
    // policies, validating webhooks.
    crate::registry::admission::mutating_policy::install(&registry).await?;
    crate::registry::admission::webhook::install_mutating(&registry).await?;
    crate::registry::admission::policy::install(&registry).await?;
    crate::registry::admission::webhook::install_validating(&registry).await?;
    let flow_control =
        crate::flowcontrol::FlowControl::start(registry.store.clone(), opts.max_inflight).await?;
    let kubelet_tls = http::kubelet_client::tls_config(&pki)?;
    registry.metrics.set_kubelet_tls(kubelet_tls.clone());
    let state = Arc::new(AppState {
        registry,
        authenticator: Authenticator::from_pki(&pki)?,
        authorizer: authorizer.clone(),
        advertise_address: format!("{host}:{}", addr.port()),
        metrics: Default::default(),
        flow_control,
        audit: match &opts.audit {
            Some((policy, log)) => {
                Some(Arc::new(crate::audit::Auditor::start(policy, log.clone())?))
            }
            None => None,
        },
        kubelet_tls,
        request_timeout: opts.request_timeout,
        aggregator: crate::aggregator::Aggregator::new(
            crate::aggregator::transport::Transport::new(
                pki.issue_client_certificate(crate::aggregator::transport::FRONT_PROXY_USER, None)?,
                pki.ca_cert_pem().to_string(),
            ),
        ),
    });
    tokio::spawn(crate::rbac::aggregation::run(state.clone(), authorizer));
    if !opts.compaction_interval.is_zero() {
        let store = state.registry.store.clone();
        tokio::spawn(crate::registry::compactor::run(
            store,
            opts.compaction_interval,
        ));
    }
    // Custom resources stored before a restart are served before the first request.
    crate::crd::start(state.clone()).await?;
    let app = http::router(state.clone());
    if !addr.ip().is_unspecified() && addr.ip() != master.advertise {
        // Pods reach the server on the advertise address; a server bound only to loopback
        // listens there too, on the same port.
        let also = SocketAddr::new(master.advertise, addr.port());
        match tokio::net::TcpListener::bind(also).await {
            Ok(l) => {
                tokio::spawn(http::serve::serve_tls(
                    l,
                    pki.server_tls_config(),
                    app.clone(),
                ));
            }
            Err(e) => tracing::warn!("pods cannot reach the API server: binding {also}: {e}"),
        }
    }
    let serve = tokio::spawn(http::serve::serve_tls(
        listener,
        pki.server_tls_config(),
        app.clone(),
    ));
    tracing::info!(elapsed_ms = began.elapsed().as_millis() as u64, %server_url, "API server serving");
    Ok(Started {
        addr,
        kubeconfig,
        state,
        pki,
        app,
        master,
        serve,
    })
}

/// Opens the store as a cluster member: peer certificate, peer listener, then (when joining)
/// the request to be added, and finally a wait for a leader and a caught-up local state.
async fn open_member_store(
    opts: &ServerOptions,
    ha: &crate::ha::HaOptions,
    plan: crate::ha::join::MemberPlan,
    pki: &Pki,
) -> anyhow::Result<Store> {
    use crate::ha::{member_file::MemberFile, peer_client::PeerClient, peer_server};
    let listener = tokio::net::TcpListener::bind(ha.peer_listen)
        .await
        .with_context(|| format!("binding the peer listener {}", ha.peer_listen))?;
    let bound = listener.local_addr()?;
    let address = ha.advertised(bound);
    let mut sans = vec![
        peer_server::advertised(bound).ip().to_string(),
        "localhost".to_string(),
    ];
    sans.extend(ha.advertised_host());
    sans.extend(opts.tls_san.iter().cloned());
    let cert = pki.issue_peer_certificate(plan.node_id, &sans)?;
    let transport = std::sync::Arc::new(PeerClient::new(pki.ca_cert_der(), &cert)?);
    let store = Store::open(StoreConfig {
        history_events: opts.watch_history,
        node_id: plan.node_id,
        peer: Some(ferrokube_store::PeerConfig {
            address: address.clone(),
            transport,
            bootstrap: plan.bootstrap,
        }),
        ..StoreConfig::new(opts.data_dir.join("store"))
    })
    .await?;
    if MemberFile::load(&opts.data_dir)?.is_none() {
        let cluster = pki.ca_fingerprint();
        MemberFile {
            node_id: plan.node_id,
            cluster,
        }
        .save(&opts.data_dir)?;
    }
    let tls = ferrokube_auth::server_config(&cert.cert_pem, &cert.key_pem, pki.ca_cert_der())?;
    let state = Arc::new(peer_server::PeerState {
        store: store.clone(),
        secrets: pki.cluster_secrets(),
    });
    peer_server::spawn(listener, tls, state);
    tracing::info!(node_id = plan.node_id, peer = %address, "peer listener serving");
    if let Some(via) = &plan.join_via {
        if !store.is_member().await? {
            tracing::info!(%via, "joining the cluster (learner, catch-up, then voter)");
            store.join(via, &address).await?;
        }
    }
    store.wait_ready().await?;
    tracing::info!(
        node_id = plan.node_id,
        "store ready: leader known and caught up"
    );
    Ok(store)
}

fn host_ip(host: &str) -> IpAddr {
    host.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

async fn ensure_system_namespaces(registry: &Registry) -> anyhow::Result<()> {
    let d = registry
        .lookup("", "v1", "namespaces")
        .context("namespaces are always served")?;
    for ns in SYSTEM_NAMESPACES {
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        match registry
            .create(&d, None, body, &WriteOptions::default())
            .await
        {
            Ok(_) => {}
            Err(e) if e.code == 409 => {}
            Err(e) => return Err(anyhow::anyhow!("creating namespace {ns}: {e}")),
        }
    }
    Ok(())
}
