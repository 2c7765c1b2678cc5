//! Which address an APIService's requests are sent to. Upstream dials the Service's ClusterIP
//! unless `--enable-aggregator-routing` makes it pick an endpoint itself; we always do the
//! latter: the service CIDR is implemented by each agent's proxy for pods and the host's
//! traffic through it, but pod IPs on our Docker bridge are directly reachable from the host
//! the API server runs on, and an endpoint needs no agent on this machine. The checks and
//! their reasons are the availability controller's (`ServiceNotFound`, `ServicePortError`,
//! `EndpointsNotFound`, `MissingEndpoints`).

use rand::Rng;
use serde_json::Value;

use super::ServiceRef;
use crate::registry::endpoints;
use crate::registry::list::ListOptions;
use crate::registry::Registry;

/// Why a Service cannot take requests: upstream's condition reason and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unresolved {
    pub reason: &'static str,
    pub message: String,
}

fn unresolved(reason: &'static str, message: String) -> Unresolved {
    Unresolved { reason, message }
}

/// One ready endpoint of `svc` for its port `svc.port`, as `host:port`.
pub async fn resolve(reg: &Registry, svc: &ServiceRef) -> Result<String, Unresolved> {
    let (ns, name) = (svc.namespace.as_str(), svc.name.as_str());
    let service = reg
        .get_value("", "Service", Some(ns), name)
        .await
        .map_err(|e| {
            unresolved(
                "ServiceAccessError",
                format!(
                    "service/{name} in {ns:?} cannot be checked due to: {}",
                    e.message
                ),
            )
        })?
        .ok_or_else(|| {
            unresolved(
                "ServiceNotFound",
                format!("service/{name} in {ns:?} is not present"),
            )
        })?;
    let port_name = endpoints::port_name(&service, svc.port).ok_or_else(|| {
        unresolved(
            "ServicePortError",
            format!(
                "service/{name} in {ns:?} is not listening on port {}",
                svc.port
            ),
        )
    })?;
    let slices = slices_of(reg, svc).await;
    if slices.is_empty() {
        return Err(unresolved(
            "EndpointsNotFound",
            format!("cannot find endpoints for service/{name} in {ns:?}"),
        ));
    }
    let addresses = endpoints::ready_addresses(&slices, &port_name);
    if addresses.is_empty() {
        return Err(unresolved(
            "MissingEndpoints",
            format!("endpoints for service/{name} in {ns:?} have no addresses with port name {port_name:?}"),
        ));
    }
    let pick = rand::rng().random_range(0..addresses.len());
    Ok(addresses[pick].clone())
}

/// The EndpointSlices of a Service (label `kubernetes.io/service-name`).
async fn slices_of(reg: &Registry, svc: &ServiceRef) -> Vec<Value> {
    let Some(d) = reg.lookup("discovery.k8s.io", "v1", "endpointslices") else {
        return Vec::new();
    };
    let Ok(page) = reg
        .list(&d, Some(&svc.namespace), &ListOptions::default())
        .await
    else {
        return Vec::new();
    };
    page.items
        .iter()
        .filter_map(|raw| serde_json::from_slice::<Value>(raw).ok())
        .filter(|s| endpoints::serves(s, &svc.name))
        .collect()
}
