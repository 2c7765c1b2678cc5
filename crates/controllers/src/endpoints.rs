//! Endpoints controller (upstream `endpoints_controller.go`): for every Service with a
//! selector, an `Endpoints` object of the same name listing the selected pods that have an IP
//! — Ready ones under `addresses`, others under `notReadyAddresses` (all Ready with
//! `publishNotReadyAddresses`) — grouped into subsets by resolved port set. The pure
//! resolution ([`resolve`]) is shared with the EndpointSlice controller.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use kube::api::{Api, DeleteParams, ObjectMeta};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::ResourceExt;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::error::{kube_not_found, Result};
use crate::util::{delete_ignore_missing, drain, is_pod_ready, on_error, set_selector};
use crate::Context;

/// One selected pod as an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Address {
    /// Pod IP.
    pub ip: String,
    /// Pod name (for `targetRef`).
    pub pod: String,
    /// Pod UID.
    pub uid: String,
    /// Node the pod runs on.
    pub node: Option<String>,
    /// Ready and not terminating (or published regardless: `publishNotReadyAddresses`).
    pub ready: bool,
    /// Pod readiness regardless of termination (EndpointSlice `serving`).
    pub serving: bool,
    /// Whether the pod is terminating.
    pub terminating: bool,
    /// The pod's `spec.hostname` when its `spec.subdomain` names this service (upstream: what
    /// gives StatefulSet pods their `<hostname>.<service>` DNS records).
    pub hostname: Option<String>,
}

/// A resolved service port: (name, port, protocol, appProtocol).
pub type Port = (String, i32, String, Option<String>);

/// Endpoints of a service grouped by resolved port set (ports sorted; addresses sorted by IP).
pub type Resolved = BTreeMap<Vec<Port>, Vec<Address>>;

/// Resolves a service's `targetPort`s against each selected pod (upstream
/// `podToEndpointAddressForService` and `findPort`): pods lacking a named port are left out of
/// that port, pods without an IP altogether. `include_terminating` keeps terminating pods (EndpointSlices report them).
pub fn resolve(svc: &Service, pods: &[&Pod], include_terminating: bool) -> Resolved {
    let spec = svc.spec.clone().unwrap_or_default();
    let publish = spec.publish_not_ready_addresses == Some(true);
    let mut out: Resolved = BTreeMap::new();
    for pod in pods {
        let terminating = pod.metadata.deletion_timestamp.is_some();
        if terminating && !include_terminating {
            continue;
        }
        let Some(ip) = pod.status.as_ref().and_then(|s| s.pod_ip.clone()) else {
            continue;
        };
        if matches!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        ) {
            continue;
        }
        let mut ports: Vec<Port> = Vec::new();
        for sp in spec.ports.iter().flatten() {
            if let Some(p) = find_port(pod, sp) {
                ports.push((
                    sp.name.clone().unwrap_or_default(),
                    p,
                    sp.protocol.clone().unwrap_or_else(|| "TCP".into()),
                    sp.app_protocol.clone(),
                ));
            }
        }
        ports.sort();
        let addr = Address {
            ip,
            pod: pod.name_any(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            ready: (publish || is_pod_ready(pod)) && !terminating,
            serving: publish || is_pod_ready(pod),
            terminating,
            hostname: hostname_for(svc, pod),
        };
        out.entry(ports).or_default().push(addr);
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// Upstream `podutil.FindPort`: an int targetPort as is, a named one from the containers.
fn find_port(pod: &Pod, sp: &k8s_openapi::api::core::v1::ServicePort) -> Option<i32> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    match &sp.target_port {
        None => Some(sp.port),
        Some(IntOrString::Int(i)) => Some(*i),
        Some(IntOrString::String(name)) => {
            let proto = sp.protocol.as_deref().unwrap_or("TCP");
            pod.spec.as_ref()?.containers.iter().find_map(|c| {
                c.ports.iter().flatten().find_map(|p| {
                    (p.name.as_deref() == Some(name.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == proto)
                        .then_some(p.container_port)
                })
            })
        }
    }
}

/// Upstream's rule: a pod's hostname is published when it sets one and its subdomain is the
/// service's name in the same namespace.
fn hostname_for(svc: &Service, pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let hostname = spec.hostname.as_deref().filter(|h| !h.is_empty())?;
    (spec.subdomain.as_deref() == svc.metadata.name.as_deref()
        && pod.metadata.namespace == svc.metadata.namespace)
        .then(|| hostname.to_string())
}

/// Names the pods' namespace in every address's `targetRef`, as upstream does: the API
/// server's service proxy only dials an address whose target pod (in the service's
/// namespace) has that IP.
fn set_target_namespace(subsets: &mut Value, ns: &str) {
    for subset in subsets.as_array_mut().into_iter().flatten() {
        for list in ["addresses", "notReadyAddresses"] {
            for addr in subset[list].as_array_mut().into_iter().flatten() {
                addr["targetRef"]["namespace"] = json!(ns);
            }
        }
    }
}

/// The `subsets` of an Endpoints object for resolved endpoints.
pub fn subsets(resolved: &Resolved) -> Value {
    let addr = |a: &Address| {
        let mut v = json!({"ip": a.ip, "nodeName": a.node, "targetRef": {"kind": "Pod",
            "name": a.pod, "uid": a.uid}});
        if let Some(h) = &a.hostname {
            v["hostname"] = json!(h);
        }
        v
    };
    let subsets: Vec<Value> = resolved
        .iter()
        .filter(|(ports, _)| !ports.is_empty())
        .map(|(ports, addrs)| {
            let ready: Vec<Value> = addrs.iter().filter(|a| a.ready).map(addr).collect();
            let not_ready: Vec<Value> = addrs.iter().filter(|a| !a.ready).map(addr).collect();
            let mut s = json!({"ports": ports.iter().map(|(n, p, proto, app)| {
                let mut v = json!({"port": p, "protocol": proto});
                if !n.is_empty() { v["name"] = json!(n); }
                if let Some(a) = app { v["appProtocol"] = json!(a); }
                v
            }).collect::<Vec<_>>()});
            if !ready.is_empty() {
                s["addresses"] = json!(ready);
            }
            if !not_ready.is_empty() {
                s["notReadyAddresses"] = json!(not_ready);
            }
            s
        })
        .collect();
    json!(subsets)
}

/// Pods of the service's namespace selected by its selector.
pub fn selected<'a>(svc: &Service, pods: &'a [Arc<Pod>]) -> Vec<&'a Pod> {
    let sel = set_selector(svc.spec.as_ref().and_then(|s| s.selector.as_ref()));
    let ns = svc.namespace();
    pods.iter()
        .filter(|p| p.namespace() == ns && sel.matches(p.labels()))
        .map(|p| p.as_ref())
        .collect()
}

/// Whether a service gets controller-managed endpoints (it has a selector).
pub fn has_selector(svc: &Service) -> bool {
    svc.spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .is_some_and(|s| !s.is_empty())
}

/// Shared state of the endpoints controllers: the pod cache.
pub(crate) struct EpCtx {
    pub(crate) ctx: Context,
    pub(crate) pods: Store<Pod>,
}

/// A Controller over Services that is also woken by changes of the pods they select.
pub(crate) fn service_controller(ctx: &Context, token: CancellationToken) -> Controller<Service> {
    let services: Api<Service> = Api::all(ctx.client.clone());
    let controller = Controller::new(services, watcher::Config::default());
    let svc_store = controller.store();
    controller
        .watches_stream(ctx.informers.pods.changes(), move |pod: Pod| {
            let ns = pod.namespace();
            svc_store
                .state()
                .into_iter()
                .filter(|s| s.namespace() == ns && has_selector(s))
                .filter(|s| {
                    set_selector(s.spec.as_ref().and_then(|sp| sp.selector.as_ref()))
                        .matches(pod.labels())
                })
                .map(|s| ObjectRef::from_obj(s.as_ref()))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(async move { token.cancelled().await })
}

/// Runs the Endpoints controller until `token` is cancelled.
pub async fn run(ctx: Context, token: CancellationToken) {
    let pods = ctx.informers.pods.store();
    tokio::spawn(cleanup_on_delete(ctx.clone(), token.clone()));
    ctx.informers.pods.ready().await;
    let state = Arc::new(EpCtx {
        ctx: ctx.clone(),
        pods,
    });
    let stream = service_controller(&ctx, token).run(reconcile, ep_error, state);
    drain("endpoints", stream).await;
}

fn ep_error(svc: Arc<Service>, err: &crate::error::Error, ctx: Arc<EpCtx>) -> Action {
    on_error(svc, err, Arc::new(ctx.ctx.clone()))
}

/// Deletes the Endpoints of deleted Services (they carry no owner reference upstream).
async fn cleanup_on_delete(ctx: Context, token: CancellationToken) {
    let services: Api<Service> = Api::all(ctx.client.clone());
    let stream = watcher(services, watcher::Config::default());
    let mut stream = std::pin::pin!(stream);
    loop {
        let ev = tokio::select! {
            _ = token.cancelled() => return,
            ev = stream.next() => match ev { Some(ev) => ev, None => return },
        };
        if let Ok(watcher::Event::Delete(svc)) = ev {
            if has_selector(&svc) {
                let api: Api<Endpoints> =
                    Api::namespaced(ctx.client.clone(), &svc.namespace().unwrap_or_default());
                let _ =
                    delete_ignore_missing(&api, &svc.name_any(), &DeleteParams::default()).await;
            }
        }
    }
}

async fn reconcile(svc: Arc<Service>, st: Arc<EpCtx>) -> Result<Action> {
    if !has_selector(&svc) || svc.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    let all = st.pods.state();
    let resolved = resolve(&svc, &selected(&svc, &all), false);
    let mut subsets = subsets(&resolved);
    set_target_namespace(&mut subsets, &ns);
    let api: Api<Endpoints> = Api::namespaced(st.ctx.client.clone(), &ns);
    let mut labels = svc.labels().clone();
    if svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None") {
        labels.insert("service.kubernetes.io/headless".into(), String::new());
    }
    let desired = json!({"apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": name, "namespace": ns, "labels": labels}, "subsets": subsets});
    match api.get(&name).await {
        Ok(cur) => {
            let cur_subsets = serde_json::to_value(&cur.subsets).unwrap_or(Value::Null);
            let same_subsets = cur_subsets == desired["subsets"]
                || (cur_subsets.is_null() && desired["subsets"] == json!([]));
            if same_subsets && cur.labels() == &labels {
                return Ok(Action::await_change());
            }
            let mut obj: Endpoints = serde_json::from_value(desired).unwrap_or_default();
            obj.metadata.resource_version = cur.metadata.resource_version.clone();
            obj.metadata.annotations = cur.metadata.annotations.clone();
            api.replace(&name, &crate::util::post_params(), &obj)
                .await?;
        }
        Err(e) if kube_not_found(&e) => {
            let obj: Endpoints = serde_json::from_value(desired).unwrap_or_else(|_| Endpoints {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    ..Default::default()
                },
                subsets: None,
            });
            api.create(&crate::util::post_params(), &obj).await?;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ip: Option<&str>, ready: bool) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "uid": format!("u-{name}")},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": ip,
                "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}}))
        .unwrap()
    }

    fn svc(extra: Value) -> Service {
        let mut s = json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}});
        if let Some(o) = extra.as_object() {
            for (k, v) in o {
                s["spec"][k] = v.clone();
            }
        }
        serde_json::from_value(s).unwrap()
    }

    #[test]
    fn ready_and_not_ready_addresses() {
        let (a, b, c) = (
            pod("a", Some("10.0.0.2"), true),
            pod("b", Some("10.0.0.1"), false),
            pod("c", None, true),
        );
        let r = resolve(&svc(json!({})), &[&a, &b, &c], false);
        let s = subsets(&r);
        assert_eq!(
            s[0]["ports"],
            json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
        );
        assert_eq!(s[0]["addresses"][0]["ip"], "10.0.0.2");
        assert_eq!(s[0]["addresses"][0]["targetRef"]["name"], "a");
        assert_eq!(s[0]["notReadyAddresses"][0]["ip"], "10.0.0.1");
        let published = resolve(
            &svc(json!({"publishNotReadyAddresses": true})),
            &[&a, &b],
            false,
        );
        assert_eq!(
            subsets(&published)[0]["addresses"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn named_ports_must_exist_on_the_pod() {
        let a = pod("a", Some("10.0.0.2"), true);
        let r = resolve(
            &svc(json!({"ports": [{"name": "x", "port": 80, "targetPort": "nope"}]})),
            &[&a],
            false,
        );
        assert_eq!(subsets(&r), json!([]));
        let r = resolve(
            &svc(json!({"ports": [{"port": 80, "targetPort": 9090}]})),
            &[&a],
            false,
        );
        assert_eq!(subsets(&r)[0]["ports"][0]["port"], 9090);
    }
}
