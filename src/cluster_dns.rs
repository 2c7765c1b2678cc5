//! The server's cluster DNS (crate `ferrokube-dns`) and the `kube-system/kube-dns` Service in
//! front of it: the DNS server listens on the advertise address (where pods reach this host) on
//! `--dns-port`, answers from Services and EndpointSlices it watches through the in-process API
//! client, and the Service's ClusterIP (`--cluster-dns-ip`, port 53) is mapped by each node's
//! service proxy to the Endpoints this module keeps pointing at the real socket — the same
//! arrangement as `default/kubernetes` (see [`crate::master_service`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::{json, Value};

use crate::cli::ServerArgs;
use crate::master_service::RECONCILE_INTERVAL;
use crate::server::Started;

const NAME: &str = "kube-dns";
const NAMESPACE: &str = "kube-system";
const MANAGER: &str = "kube-apiserver";

/// Where `kube-system/kube-dns` points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsEndpoint {
    /// The Service's ClusterIP (`--cluster-dns-ip`).
    pub cluster_ip: Ipv4Addr,
    /// The address and port the DNS server really listens on.
    pub serving: SocketAddr,
}

/// The cluster DNS ClusterIP: `--cluster-dns-ip`, else the tenth address of the service CIDR
/// (upstream's convention, `10.96.0.10` for the default range).
pub fn cluster_dns_ip(args: &ServerArgs) -> Ipv4Addr {
    args.cluster_dns_ip
        .unwrap_or_else(|| args.service_cidr.nth(10))
}

/// Rejects DNS flags the server could never honour (the kube-dns ClusterIP must be an address
/// the allocator would hand out, and the domain a DNS name).
pub fn check_flags(args: &ServerArgs) -> anyhow::Result<()> {
    let ip = cluster_dns_ip(args);
    anyhow::ensure!(
        args.service_cidr.assignable(ip),
        "--cluster-dns-ip {ip} is not an assignable address of --service-cidr {}",
        args.service_cidr
    );
    ferrokube_dns::snapshot::Snapshot::empty(&args.cluster_domain)
        .map_err(|e| anyhow::anyhow!("--cluster-domain {:?}: {e}", args.cluster_domain))?;
    Ok(())
}

/// Binds the DNS server on `advertise:--dns-port`, starts serving and keeps `kube-dns` pointing
/// at it. Returns where it listens.
pub async fn spawn(started: &Started, args: &ServerArgs) -> anyhow::Result<DnsEndpoint> {
    let listen = SocketAddr::new(started.master.advertise, args.dns_port);
    let options = ferrokube_dns::DnsOptions {
        listen,
        cluster_domain: args.cluster_domain.clone(),
        forward: args.dns_forward,
    };
    let bound = ferrokube_dns::BoundDns::bind(options)
        .await
        .map_err(|e| anyhow::anyhow!("cluster DNS: binding {listen}: {e:#}"))?;
    let endpoint = DnsEndpoint {
        cluster_ip: cluster_dns_ip(args),
        serving: bound.local_addr()?,
    };
    let client = crate::http::loopback::client(
        started.app.clone(),
        &started.pki.admin_credentials().cert_pem,
    )?;
    let serving = client.clone();
    tokio::spawn(async move {
        if let Err(e) = bound.serve(serving).await {
            tracing::error!("cluster DNS stopped: {e:#}");
        }
    });
    let reconciled = endpoint.clone();
    tokio::spawn(async move {
        loop {
            if let Err(e) = reconcile(&client, &reconciled).await {
                tracing::warn!("reconciling the kube-dns Service: {e:#}");
            }
            tokio::time::sleep(RECONCILE_INTERVAL).await;
        }
    });
    tracing::info!(addr = %endpoint.serving, cluster_ip = %endpoint.cluster_ip, "cluster DNS serving");
    Ok(endpoint)
}

/// The objects as the server wants them: port 53 UDP `dns` and TCP `dns-tcp` (upstream's
/// names) with targetPort the real port; no selector, so the endpoints are ours to keep.
pub fn desired(ep: &DnsEndpoint) -> (Value, Value, Value) {
    let port = ep.serving.port();
    let labels = json!({"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS",
                        "kubernetes.io/cluster-service": "true"});
    let service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": ep.cluster_ip.to_string(),
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": port},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": port},
            ],
        },
    });
    let ports = json!([
        {"name": "dns", "port": port, "protocol": "UDP"},
        {"name": "dns-tcp", "port": port, "protocol": "TCP"},
    ]);
    let ip = ep.serving.ip().to_string();
    let endpoints = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": NAME, "namespace": NAMESPACE,
                     "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": ip}], "ports": ports}],
    });
    let family = match ep.serving.ip() {
        IpAddr::V4(_) => "IPv4",
        IpAddr::V6(_) => "IPv6",
    };
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": NAME, "namespace": NAMESPACE,
                     "labels": {"kubernetes.io/service-name": NAME}},
        "addressType": family,
        "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}],
        "ports": ports,
    });
    (service, endpoints, slice)
}

/// Applies the three objects once (server-side apply: a no-op when they are as wanted).
async fn reconcile(client: &kube::Client, ep: &DnsEndpoint) -> anyhow::Result<()> {
    let (service, endpoints, slice) = desired(ep);
    let params = PatchParams::apply(MANAGER).force();
    Api::<Service>::namespaced(client.clone(), NAMESPACE)
        .patch(NAME, &params, &Patch::Apply(service))
        .await?;
    Api::<Endpoints>::namespaced(client.clone(), NAMESPACE)
        .patch(NAME, &params, &Patch::Apply(endpoints))
        .await?;
    Api::<EndpointSlice>::namespaced(client.clone(), NAMESPACE)
        .patch(NAME, &params, &Patch::Apply(slice))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_dns_points_port_53_at_the_real_socket() {
        let ep = DnsEndpoint {
            cluster_ip: Ipv4Addr::new(10, 96, 0, 10),
            serving: "172.17.0.1:40053".parse().unwrap(),
        };
        let (svc, eps, slice) = desired(&ep);
        assert_eq!(svc["spec"]["clusterIP"], "10.96.0.10");
        assert_eq!(svc["spec"]["ports"][0]["port"], 53);
        assert_eq!(svc["spec"]["ports"][1]["targetPort"], 40053);
        assert!(svc["spec"].get("selector").is_none());
        assert_eq!(eps["subsets"][0]["addresses"][0]["ip"], "172.17.0.1");
        assert_eq!(slice["ports"][0]["port"], 40053);
        assert_eq!(
            slice["metadata"]["labels"]["kubernetes.io/service-name"],
            "kube-dns"
        );
    }

    #[test]
    fn the_default_dns_ip_is_the_tenth_service_address() {
        assert_eq!(
            cluster_dns_ip(&ServerArgs::default()),
            Ipv4Addr::new(10, 96, 0, 10)
        );
        assert!(check_flags(&ServerArgs::default()).is_ok());
    }

    #[test]
    fn a_dns_ip_outside_the_service_range_is_refused() {
        let args = ServerArgs {
            cluster_dns_ip: Some(Ipv4Addr::new(192, 168, 0, 10)),
            ..ServerArgs::default()
        };
        let err = check_flags(&args).unwrap_err().to_string();
        assert!(err.contains("not an assignable address"), "{err}");
        let args = ServerArgs {
            cluster_domain: "bad..domain".into(),
            ..ServerArgs::default()
        };
        assert!(check_flags(&args).is_err());
    }
}
