//! EndpointSlice controller (upstream `endpointslice_controller.go`): for every Service with a
//! selector, `discovery.k8s.io/v1` slices labelled `kubernetes.io/service-name` and managed by
//! `endpointslice-controller.k8s.io`, owned by the Service, one per resolved port set and at
//! most 100 endpoints each, with `ready` / `serving` / `terminating` conditions per pod. A
//! managed slice that is deleted or edited by someone else is put back.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::ResourceExt;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::endpoints::{has_selector, resolve, selected, service_controller, Address, EpCtx, Port};
use crate::error::Result;
use crate::util::{delete_ignore_missing, drain, on_error, owner_ref};
use crate::Context;

/// Label naming a slice's service.
pub const SERVICE_NAME: &str = "kubernetes.io/service-name";
/// Label naming the slice's manager.
pub const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller's manager value (upstream's).
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
/// Upstream `--max-endpoints-per-slice` default.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// Runs the EndpointSlice controller until `token` is cancelled.
pub async fn run(ctx: Context, token: CancellationToken) {
    let pods = ctx.informers.pods.store();
    ctx.informers.pods.ready().await;
    let state = Arc::new(EpCtx {
        ctx: ctx.clone(),
        pods,
    });
    let stream = service_controller(&ctx, token)
        .watches(
            Api::<EndpointSlice>::all(ctx.client.clone()),
            watcher::Config::default().labels(&format!("{MANAGED_BY}={CONTROLLER_NAME}")),
            owning_service,
        )
        .run(reconcile, slice_error, state);
    drain("endpointslice", stream).await;
}

/// The Service a managed slice belongs to: a change to the slice (someone deleting or editing
/// it) syncs that Service again, so its slices are put back as upstream's controller does.
fn owning_service(slice: EndpointSlice) -> Option<ObjectRef<Service>> {
    let namespace = slice.namespace()?;
    let service = slice.labels().get(SERVICE_NAME)?;
    Some(ObjectRef::new(service).within(&namespace))
}

fn slice_error(svc: Arc<Service>, err: &crate::error::Error, ctx: Arc<EpCtx>) -> Action {
    on_error(svc, err, Arc::new(ctx.ctx.clone()))
}

fn endpoint(a: &Address, ns: &str) -> Value {
    let mut v = json!({"addresses": [a.ip],
        "conditions": {"ready": a.ready, "serving": a.serving, "terminating": a.terminating},
        "nodeName": a.node,
        "targetRef": {"kind": "Pod", "namespace": ns, "name": a.pod, "uid": a.uid}});
    // Only when set: the stored slice omits an absent hostname, and a null here would make
    // every comparison with it differ.
    if let Some(h) = &a.hostname {
        v["hostname"] = json!(h);
    }
    v
}

fn ports_json(ports: &[Port]) -> Value {
    if ports.is_empty() {
        return Value::Null;
    }
    json!(ports
        .iter()
        .map(|(n, p, proto, app)| {
            let mut v = json!({"name": n, "port": p, "protocol": proto});
            if let Some(a) = app {
                v["appProtocol"] = json!(a);
            }
            v
        })
        .collect::<Vec<_>>())
}

/// The desired slices' `(endpoints, ports)`: one per port set, chunked to `max` endpoints,
/// or a single empty placeholder when nothing is selected (as upstream keeps one).
pub fn desired_slices(
    resolved: &BTreeMap<Vec<Port>, Vec<Address>>,
    ns: &str,
    max: usize,
) -> Vec<(Value, Value)> {
    let mut out = Vec::new();
    for (ports, addrs) in resolved {
        for chunk in addrs.chunks(max.max(1)) {
            let eps: Vec<Value> = chunk.iter().map(|a| endpoint(a, ns)).collect();
            out.push((json!(eps), ports_json(ports)));
        }
    }
    if out.is_empty() {
        out.push((json!([]), Value::Null));
    }
    out
}

async fn reconcile(svc: Arc<Service>, st: Arc<EpCtx>) -> Result<Action> {
    if !has_selector(&svc) || svc.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    let all = st.pods.state();
    let resolved = resolve(&svc, &selected(&svc, &all), true);
    let desired = desired_slices(&resolved, &ns, MAX_ENDPOINTS_PER_SLICE);
    let api: Api<EndpointSlice> = Api::namespaced(st.ctx.client.clone(), &ns);
    let mut existing = api
        .list(&ListParams::default().labels(&format!(
            "{SERVICE_NAME}={name},{MANAGED_BY}={CONTROLLER_NAME}"
        )))
        .await?
        .items;
    existing.sort_by_key(|s| s.name_any());
    let mut labels = svc.labels().clone();
    labels.insert(SERVICE_NAME.into(), name.clone());
    labels.insert(MANAGED_BY.into(), CONTROLLER_NAME.into());
    if svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None") {
        labels.insert("service.kubernetes.io/headless".into(), String::new());
    }
    let owner = serde_json::to_value(owner_ref(svc.as_ref())).unwrap_or(Value::Null);
    for (i, (eps, ports)) in desired.iter().enumerate() {
        let mut obj = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"namespace": ns, "labels": labels, "ownerReferences": [owner]},
            "addressType": "IPv4", "endpoints": eps, "ports": ports});
        match existing.get(i) {
            Some(cur) => {
                let cur_eps = serde_json::to_value(&cur.endpoints).unwrap_or(Value::Null);
                let cur_ports = serde_json::to_value(&cur.ports).unwrap_or(Value::Null);
                let same = (cur_eps == *eps || (cur_eps.is_null() && *eps == json!([])))
                    && cur_ports == *ports
                    && cur.labels() == &labels;
                if same {
                    continue;
                }
                obj["metadata"]["name"] = json!(cur.name_any());
                obj["metadata"]["resourceVersion"] = json!(cur.metadata.resource_version);
                let slice: EndpointSlice = serde_json::from_value(obj)?;
                api.replace(&cur.name_any(), &crate::util::post_params(), &slice)
                    .await?;
            }
            None => {
                obj["metadata"]["generateName"] = json!(crate::util::pod_prefix(&name));
                let slice: EndpointSlice = serde_json::from_value(obj)?;
                api.create(&crate::util::post_params(), &slice).await?;
            }
        }
    }
    for extra in existing.iter().skip(desired.len()) {
        delete_ignore_missing(&api, &extra.name_any(), &DeleteParams::default()).await?;
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(ip: &str, serving: bool, terminating: bool) -> Address {
        Address {
            ip: ip.into(),
            pod: format!("p-{ip}"),
            uid: "u".into(),
            node: Some("n".into()),
            ready: serving && !terminating,
            serving,
            terminating,
            hostname: None,
        }
    }

    #[test]
    fn chunks_and_conditions() {
        let port: Port = ("http".into(), 8080, "TCP".into(), None);
        let addrs: Vec<Address> = (0..5)
            .map(|i| addr(&format!("10.0.0.{i}"), i != 1, i == 4))
            .collect();
        let resolved = BTreeMap::from([(vec![port], addrs)]);
        let slices = desired_slices(&resolved, "ns", 2);
        assert_eq!(slices.len(), 3);
        assert_eq!(
            slices[0].1,
            json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
        );
        assert_eq!(
            slices[0].0[1]["conditions"],
            json!({"ready": false, "serving": false, "terminating": false})
        );
        assert_eq!(
            slices[2].0[0]["conditions"],
            json!({"ready": false, "serving": true, "terminating": true})
        );
        assert_eq!(slices[0].0[0]["targetRef"]["namespace"], "ns");
    }

    #[test]
    fn hostname_only_when_the_subdomain_names_the_service() {
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": "db", "namespace": "ns"},
            "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": 5432}]}}))
        .unwrap();
        let pod = |name: &str, subdomain: &str| -> k8s_openapi::api::core::v1::Pod {
            serde_json::from_value(json!({"metadata": {"name": name, "namespace": "ns"},
                "spec": {"hostname": name, "subdomain": subdomain, "nodeName": "n",
                    "containers": [{"name": "c", "image": "busybox"}]},
                "status": {"phase": "Running", "podIP": format!("10.0.0.{}", name.len()),
                    "conditions": [{"type": "Ready", "status": "True"}]}}))
            .unwrap()
        };
        let (inside, other) = (pod("db-0", "db"), pod("web-00", "web"));
        let resolved = crate::endpoints::resolve(&svc, &[&inside, &other], true);
        let eps = &desired_slices(&resolved, "ns", 100)[0].0;
        assert_eq!(eps[0]["hostname"], "db-0");
        assert!(eps[1].get("hostname").is_none(), "{eps}");
        let slice: EndpointSlice = serde_json::from_value(json!({
            "metadata": {}, "addressType": "IPv4", "endpoints": eps}))
        .unwrap();
        assert_eq!(serde_json::to_value(&slice.endpoints).unwrap(), *eps);
    }

    #[test]
    fn nothing_selected_keeps_a_placeholder() {
        let slices = desired_slices(&BTreeMap::new(), "ns", 100);
        assert_eq!(slices, vec![(json!([]), Value::Null)]);
    }
}
