//! EndpointSliceMirroring controller (upstream `endpointslicemirroring_controller.go`): an
//! Endpoints object that someone wrote by hand for a Service without a selector is mirrored into
//! `discovery.k8s.io/v1` EndpointSlices — labelled with the service name and managed by
//! `endpointslicemirroring-controller.k8s.io`, owned by the Endpoints — so that everything
//! reading slices (the service proxy, DNS) sees custom endpoints too. Services with a selector
//! are the EndpointSlice controller's, and `endpointslice.kubernetes.io/skip-mirror: "true"`
//! opts an Endpoints object out.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{EndpointSubset, Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::ResourceExt;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::endpointslice::{MANAGED_BY, MAX_ENDPOINTS_PER_SLICE, SERVICE_NAME};
use crate::error::Result;
use crate::util::{delete_ignore_missing, drain, on_error, owner_ref, pod_prefix, post_params};
use crate::Context;

/// This controller's manager value (upstream's).
pub const CONTROLLER_NAME: &str = "endpointslicemirroring-controller.k8s.io";
/// The label that keeps an Endpoints object from being mirrored.
pub const SKIP_MIRROR: &str = "endpointslice.kubernetes.io/skip-mirror";
/// Upstream's `--mirroring-max-endpoints-per-subset` default: addresses beyond it are dropped.
pub const MAX_ENDPOINTS_PER_SUBSET: usize = 1000;
/// Annotations of the Endpoints that are not copied onto its slices (as upstream).
const NOT_COPIED: &[&str] = &[
    "endpoints.kubernetes.io/last-change-trigger-time",
    "kubectl.kubernetes.io/last-applied-configuration",
];

/// What a reconcile reads: Services and this controller's slices, from reflector stores.
struct Mirror {
    ctx: Context,
    services: Store<Service>,
    slices: Store<EndpointSlice>,
}

/// Runs the mirroring controller until `token` is cancelled.
pub async fn run(ctx: Context, token: CancellationToken) {
    let client = ctx.client.clone();
    let (services, svc_writer) = reflector::store();
    let svc_changes = watcher(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(svc_writer)
    .touched_objects();
    let (slices, slice_writer) = reflector::store();
    let mine = watcher::Config::default().labels(&format!("{MANAGED_BY}={CONTROLLER_NAME}"));
    let slice_changes = watcher(Api::<EndpointSlice>::all(client.clone()), mine)
        .default_backoff()
        .reflect(slice_writer)
        .touched_objects();
    let state = Arc::new(Mirror {
        ctx: ctx.clone(),
        services,
        slices,
    });
    let stream = Controller::new(Api::<Endpoints>::all(client), watcher::Config::default())
        // A Service appearing, or gaining or losing its selector, changes what its Endpoints
        // (same name) should mirror.
        .watches_stream(svc_changes, |svc: Service| {
            Some(ObjectRef::<Endpoints>::new(&svc.name_any()).within(&svc.namespace()?))
        })
        .owns_stream(slice_changes)
        .graceful_shutdown_on(async move { token.cancelled().await })
        .run(reconcile, mirror_error, state);
    drain("endpointslice-mirroring", stream).await;
}

fn mirror_error(ep: Arc<Endpoints>, err: &crate::error::Error, st: Arc<Mirror>) -> Action {
    on_error(ep, err, Arc::new(st.ctx.clone()))
}

/// Whether `ep` is to be mirrored: its Service exists without a selector, and it did not opt out.
fn mirrored(ep: &Endpoints, services: &Store<Service>) -> bool {
    if ep.labels().get(SKIP_MIRROR).map(String::as_str) == Some("true")
        || ep.metadata.deletion_timestamp.is_some()
    {
        return false;
    }
    let Some(ns) = ep.namespace() else {
        return false;
    };
    let key = ObjectRef::<Service>::new(&ep.name_any()).within(&ns);
    services.get(&key).is_some_and(|svc| {
        svc.spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .is_none_or(|s| s.is_empty())
    })
}

async fn reconcile(ep: Arc<Endpoints>, st: Arc<Mirror>) -> Result<Action> {
    let ns = ep.namespace().unwrap_or_default();
    let name = ep.name_any();
    let desired = if mirrored(&ep, &st.services) {
        desired_slices(ep.subsets.as_deref().unwrap_or_default())
    } else {
        Vec::new()
    };
    let mut existing: Vec<Arc<EndpointSlice>> = st
        .slices
        .state()
        .into_iter()
        .filter(|s| s.namespace().as_deref() == Some(&ns))
        .filter(|s| s.labels().get(SERVICE_NAME) == Some(&name))
        .collect();
    existing.sort_by_key(|s| s.name_any());
    let api: Api<EndpointSlice> = Api::namespaced(st.ctx.client.clone(), &ns);
    let meta = slice_meta(&ep);
    let mut unused: Vec<&Arc<EndpointSlice>> = existing.iter().collect();
    for slice in &desired {
        // Reuse a slice of the same address type (immutable) and ports, else of the same type.
        let same_type = |s: &&Arc<EndpointSlice>| s.address_type == slice.address_type;
        let pos = unused
            .iter()
            .position(|s| same_type(s) && ports(s) == slice.ports)
            .or_else(|| unused.iter().position(same_type));
        let mut obj = slice.to_object(&ns, &meta);
        match pos.map(|i| unused.remove(i)) {
            Some(cur) if slice.matches(cur, &meta) => {}
            Some(cur) => {
                obj["metadata"]["name"] = json!(cur.name_any());
                obj["metadata"]["resourceVersion"] = json!(cur.metadata.resource_version);
                let body: EndpointSlice = serde_json::from_value(obj)?;
                api.replace(&cur.name_any(), &post_params(), &body).await?;
            }
            None => {
                obj["metadata"]["generateName"] = json!(pod_prefix(&name));
                let body: EndpointSlice = serde_json::from_value(obj)?;
                api.create(&post_params(), &body).await?;
            }
        }
    }
    for extra in unused {
        delete_ignore_missing(&api, &extra.name_any(), &DeleteParams::default()).await?;
    }
    Ok(Action::await_change())
}

/// The labels, annotations and owner every slice of `ep` carries.
fn slice_meta(ep: &Endpoints) -> Value {
    let mut labels = ep.labels().clone();
    labels.insert(SERVICE_NAME.into(), ep.name_any());
    labels.insert(MANAGED_BY.into(), CONTROLLER_NAME.into());
    let annotations: BTreeMap<&String, &String> = ep
        .annotations()
        .iter()
        .filter(|(k, _)| !NOT_COPIED.contains(&k.as_str()))
        .collect();
    json!({"labels": labels, "annotations": annotations, "ownerReferences": [owner_ref(ep)]})
}

fn ports(slice: &EndpointSlice) -> Value {
    serde_json::to_value(&slice.ports).unwrap_or(Value::Null)
}

/// One slice to be: its address type, ports and endpoints as the API writes them.
#[derive(Debug, PartialEq)]
pub struct DesiredSlice {
    /// `IPv4` or `IPv6`.
    pub address_type: String,
    /// The slice's `ports` (`null` for none).
    pub ports: Value,
    /// The slice's `endpoints`.
    pub endpoints: Value,
}

impl DesiredSlice {
    fn to_object(&self, ns: &str, meta: &Value) -> Value {
        let mut metadata = meta.clone();
        metadata["namespace"] = json!(ns);
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": metadata, "addressType": self.address_type,
            "ports": self.ports, "endpoints": self.endpoints})
    }

    /// Whether `cur` already says what this slice would.
    fn matches(&self, cur: &EndpointSlice, meta: &Value) -> bool {
        let endpoints = serde_json::to_value(&cur.endpoints).unwrap_or(Value::Null);
        cur.address_type == self.address_type
            && ports(cur) == self.ports
            && endpoints == self.endpoints
            && json!(cur.labels()) == meta["labels"]
            && json!(cur.annotations()) == meta["annotations"]
    }
}

/// The slices mirroring `subsets`: subsets with the same ports merge, each port set splits by
/// address family, at most [`MAX_ENDPOINTS_PER_SUBSET`] addresses per subset are taken (ready
/// ones first, as upstream) and each slice holds at most [`MAX_ENDPOINTS_PER_SLICE`]. Addresses
/// that are not IPs are skipped.
pub fn desired_slices(subsets: &[EndpointSubset]) -> Vec<DesiredSlice> {
    let mut by_key: BTreeMap<(String, String), (Value, Vec<Value>)> = BTreeMap::new();
    for subset in subsets {
        let ports = subset_ports(subset);
        let ready = subset.addresses.iter().flatten().map(|a| (a, true));
        let not_ready = subset
            .not_ready_addresses
            .iter()
            .flatten()
            .map(|a| (a, false));
        for (address, is_ready) in ready.chain(not_ready).take(MAX_ENDPOINTS_PER_SUBSET) {
            let Ok(ip) = address.ip.parse::<IpAddr>() else {
                continue;
            };
            let family = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
            let mut endpoint =
                json!({"addresses": [address.ip], "conditions": {"ready": is_ready}});
            if let Some(h) = &address.hostname {
                endpoint["hostname"] = json!(h);
            }
            if let Some(n) = &address.node_name {
                endpoint["nodeName"] = json!(n);
            }
            if let Some(t) = &address.target_ref {
                endpoint["targetRef"] = serde_json::to_value(t).unwrap_or(Value::Null);
            }
            let key = (family.to_string(), ports.to_string());
            let entry = by_key
                .entry(key)
                .or_insert_with(|| (ports.clone(), Vec::new()));
            if !entry.1.contains(&endpoint) {
                entry.1.push(endpoint);
            }
        }
    }
    let mut out = Vec::new();
    for ((family, _), (ports, endpoints)) in by_key {
        for chunk in endpoints.chunks(MAX_ENDPOINTS_PER_SLICE) {
            out.push(DesiredSlice {
                address_type: family.clone(),
                ports: ports.clone(),
                endpoints: json!(chunk),
            });
        }
    }
    out
}

/// A subset's ports as slice ports (`null` when it has none, as the stored slice reads back).
fn subset_ports(subset: &EndpointSubset) -> Value {
    let ports: Vec<Value> = subset
        .ports
        .iter()
        .flatten()
        .map(|p| {
            let mut v = json!({"port": p.port, "protocol": p.protocol.as_deref().unwrap_or("TCP")});
            if let Some(n) = &p.name {
                v["name"] = json!(n);
            }
            if let Some(a) = &p.app_protocol {
                v["appProtocol"] = json!(a);
            }
            v
        })
        .collect();
    if ports.is_empty() {
        Value::Null
    } else {
        json!(ports)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subsets(v: Value) -> Vec<EndpointSubset> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn one_slice_per_port_set_and_family() {
        let slices = desired_slices(&subsets(json!([
            {"ports": [{"name": "a", "port": 8090}], "addresses": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}],
             "notReadyAddresses": [{"ip": "10.0.0.2", "hostname": "h", "nodeName": "n"}]},
            {"ports": [{"name": "a", "port": 8090}], "addresses": [{"ip": "10.0.0.3"}]},
            {"ports": [{"name": "b", "port": 9090}], "addresses": [{"ip": "10.0.0.1"}]},
            {"ports": [{"port": 1}], "addresses": [{"ip": "not-an-ip"}]},
        ])));
        let summary: Vec<(String, Value, usize)> = slices
            .iter()
            .map(|s| {
                (
                    s.address_type.clone(),
                    s.ports.clone(),
                    s.endpoints.as_array().unwrap().len(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "IPv4".into(),
                    json!([{"name": "a", "port": 8090, "protocol": "TCP"}]),
                    3
                ),
                (
                    "IPv4".into(),
                    json!([{"name": "b", "port": 9090, "protocol": "TCP"}]),
                    1
                ),
                (
                    "IPv6".into(),
                    json!([{"name": "a", "port": 8090, "protocol": "TCP"}]),
                    1
                ),
            ]
        );
        assert_eq!(
            slices[0].endpoints[1],
            json!({"addresses": ["10.0.0.2"], "conditions": {"ready": false}, "hostname": "h", "nodeName": "n"})
        );
    }

    #[test]
    fn subsets_are_capped_and_slices_chunked() {
        let addresses: Vec<Value> = (0..1200)
            .map(|i| json!({"ip": format!("10.1.{}.{}", i / 256, i % 256)}))
            .collect();
        let slices = desired_slices(&subsets(
            json!([{"ports": [{"port": 80}], "addresses": addresses}]),
        ));
        let total: usize = slices
            .iter()
            .map(|s| s.endpoints.as_array().unwrap().len())
            .sum();
        assert_eq!(total, MAX_ENDPOINTS_PER_SUBSET);
        assert_eq!(
            slices.len(),
            MAX_ENDPOINTS_PER_SUBSET / MAX_ENDPOINTS_PER_SLICE
        );
    }

    #[test]
    fn nothing_to_mirror_without_subsets() {
        assert!(desired_slices(&[]).is_empty());
    }
}
