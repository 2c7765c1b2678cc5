//! The `default/kubernetes` Service and its Endpoints/EndpointSlice, reconciled by the API server
//! to the address it serves on (upstream's kubernetesservice controller and master endpoint
//! reconciler): ClusterIP the first address of the service CIDR, port 443 `https` → this
//! server's port on its advertise address. Reconciled at start and every
//! [`RECONCILE_INTERVAL`], so a deleted or edited object comes back.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::ServiceCIDR;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::{json, Value};

/// Upstream reconciles the master Service every 10 seconds.
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(10);

const NAME: &str = "kubernetes";
const MANAGER: &str = "kube-apiserver";

/// Where the `kubernetes` Service points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MasterEndpoint {
    /// The Service's ClusterIP (first address of `--service-cidr`).
    pub cluster_ip: Ipv4Addr,
    /// The address pods reach the API server on (`--advertise-address`).
    pub advertise: IpAddr,
    /// The API server's port.
    pub port: u16,
    /// `--service-cidr`, published as the default ServiceCIDR.
    pub service_cidr: String,
}

/// The default advertise address: the Docker bridge's gateway (what pods on `docker0` reach
/// the host on), else `fallback`.
pub fn default_advertise_address(fallback: IpAddr) -> IpAddr {
    bridge_address("docker0").unwrap_or(fallback)
}

/// The first IPv4 address of interface `dev` (`ip -4 -o addr show dev <dev>`).
fn bridge_address(dev: &str) -> Option<IpAddr> {
    let out = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", "dev", dev])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_ip_addr_output(&text)
}

fn parse_ip_addr_output(text: &str) -> Option<IpAddr> {
    let mut words = text.split_whitespace();
    words.find(|w| *w == "inet")?;
    let cidr = words.next()?;
    cidr.split('/').next()?.parse().ok()
}

/// The objects as the server wants them.
pub fn desired(ep: &MasterEndpoint) -> (Value, Value, Value) {
    let service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": NAME, "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": ep.cluster_ip.to_string(),
            "sessionAffinity": "None",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": ep.port}],
        },
    });
    let endpoints = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": NAME, "namespace": "default",
                     "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{
            "addresses": [{"ip": ep.advertise.to_string()}],
            "ports": [{"name": "https", "port": ep.port, "protocol": "TCP"}],
        }],
    });
    let family = if ep.advertise.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    };
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": NAME, "namespace": "default",
                     "labels": {"kubernetes.io/service-name": NAME}},
        "addressType": family,
        "endpoints": [{"addresses": [ep.advertise.to_string()], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": ep.port, "protocol": "TCP"}],
    });
    (service, endpoints, slice)
}

/// The default ServiceCIDR (upstream's defaultservicecidr controller): the range ClusterIPs
/// come from, named `kubernetes`.
pub fn desired_service_cidr(ep: &MasterEndpoint) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
        "metadata": {"name": NAME},
        "spec": {"cidrs": [ep.service_cidr]},
    })
}

fn service_cidr_ready() -> Value {
    crate::leader_loop::Condition {
        type_: "Ready",
        status: "True",
        reason: "",
        message: "Kubernetes default Service CIDR is ready",
        since: &crate::registry::meta::now_rfc3339(),
    }
    .apply_body("networking.k8s.io/v1", "ServiceCIDR")
}

/// Publishes the default ServiceCIDR and marks it Ready once.
async fn reconcile_service_cidr(client: &kube::Client, ep: &MasterEndpoint) -> anyhow::Result<()> {
    let api = Api::<ServiceCIDR>::all(client.clone());
    let params = PatchParams::apply(MANAGER).force();
    let stored = api
        .patch(NAME, &params, &Patch::Apply(desired_service_cidr(ep)))
        .await?;
    let ready = stored
        .status
        .and_then(|s| s.conditions)
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    if !ready {
        api.patch_status(NAME, &params, &Patch::Apply(service_cidr_ready()))
            .await?;
    }
    Ok(())
}

/// Applies the objects once (server-side apply: a no-op when they are as wanted).
pub async fn reconcile(client: &kube::Client, ep: &MasterEndpoint) -> anyhow::Result<()> {
    let (service, endpoints, slice) = desired(ep);
    let params = PatchParams::apply(MANAGER).force();
    Api::<Service>::namespaced(client.clone(), "default")
        .patch(NAME, &params, &Patch::Apply(service))
        .await?;
    Api::<Endpoints>::namespaced(client.clone(), "default")
        .patch(NAME, &params, &Patch::Apply(endpoints))
        .await?;
    Api::<EndpointSlice>::namespaced(client.clone(), "default")
        .patch(NAME, &params, &Patch::Apply(slice))
        .await?;
    reconcile_service_cidr(client, ep).await
}

/// Reconciles now and then every [`RECONCILE_INTERVAL`] for as long as the process runs.
///
/// In an HA cluster only the raft leader reconciles, so the servers do not take turns
/// overwriting the endpoints with their own address (every server serves the full API, so the
/// leader's address is as good as any, and it only changes on failover).
pub fn spawn(client: kube::Client, ep: MasterEndpoint, store: ferrokube_store::Store) {
    crate::leader_loop::spawn(
        store,
        RECONCILE_INTERVAL,
        "the kubernetes Service",
        move || {
            let (client, ep) = (client.clone(), ep.clone());
            async move { reconcile(&client, &ep).await }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_bridge_address() {
        let line = "5: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\\       valid_lft forever";
        assert_eq!(
            parse_ip_addr_output(line),
            Some("172.17.0.1".parse().unwrap())
        );
        assert_eq!(parse_ip_addr_output(""), None);
    }

    #[test]
    fn desired_objects_point_at_the_advertise_address() {
        let ep = MasterEndpoint {
            cluster_ip: Ipv4Addr::new(10, 96, 0, 1),
            advertise: "172.17.0.1".parse().unwrap(),
            port: 6443,
            service_cidr: "10.96.0.0/12".into(),
        };
        let (svc, eps, slice) = desired(&ep);
        assert_eq!(svc["spec"]["clusterIP"], "10.96.0.1");
        assert_eq!(svc["spec"]["ports"][0]["targetPort"], 6443);
        assert_eq!(eps["subsets"][0]["addresses"][0]["ip"], "172.17.0.1");
        assert_eq!(slice["endpoints"][0]["addresses"][0], "172.17.0.1");
        assert_eq!(
            slice["metadata"]["labels"]["kubernetes.io/service-name"],
            "kubernetes"
        );
        assert_eq!(
            desired_service_cidr(&ep)["spec"]["cidrs"][0],
            "10.96.0.0/12"
        );
    }
}
