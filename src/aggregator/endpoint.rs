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
    let ports = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let port_name = ports
        .iter()
        .find(|p| p.get("port").and_then(Value::as_i64) == Some(i64::from(svc.port)))
        .map(|p| {
            p.get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        })
        .ok_or_else(|| {
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
    let addresses = ready_addresses(&slices, &port_name);
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
        .filter(|s| {
            s.pointer("/metadata/labels/kubernetes.io~1service-name")
                .and_then(Value::as_str)
                == Some(svc.name.as_str())
        })
        .collect()
}

/// `host:port` of every ready endpoint address serving the port named `port_name`.
pub fn ready_addresses(slices: &[Value], port_name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for slice in slices {
        let port = slice
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|p| p.get("name").and_then(Value::as_str).unwrap_or("") == port_name)
            .and_then(|p| p.get("port").and_then(Value::as_i64));
        let Some(port) = port else { continue };
        let endpoints = slice.get("endpoints").and_then(Value::as_array);
        for ep in endpoints.into_iter().flatten() {
            // Upstream counts an endpoint whose readiness is unknown as ready.
            let ready = ep.pointer("/conditions/ready").and_then(Value::as_bool) != Some(false);
            let addresses = ep.get("addresses").and_then(Value::as_array);
            for addr in addresses.into_iter().flatten().filter_map(Value::as_str) {
                if ready {
                    let host = if addr.contains(':') {
                        format!("[{addr}]")
                    } else {
                        addr.to_string()
                    };
                    out.push(format!("{host}:{port}"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_ready_addresses_of_the_named_port() {
        let slices = vec![json!({
            "ports": [{"name": "https", "port": 8443}, {"name": "", "port": 9}],
            "endpoints": [
                {"addresses": ["10.0.0.1"]},
                {"addresses": ["10.0.0.2"], "conditions": {"ready": false}},
                {"addresses": ["fd00::3"], "conditions": {"ready": true}},
            ],
        })];
        assert_eq!(
            ready_addresses(&slices, "https"),
            vec!["10.0.0.1:8443", "[fd00::3]:8443"]
        );
        assert_eq!(ready_addresses(&slices, "")[0], "10.0.0.1:9");
        assert!(ready_addresses(&slices, "other").is_empty());
    }
}
