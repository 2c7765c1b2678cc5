//! The scheduler: watches pods, nodes and namespaces into a [`cache::Cache`], keeps a
//! priority queue of pending `default-scheduler` pods, decides with [`algorithm::schedule`],
//! binds through `pods/binding`, and marks pods it cannot place `PodScheduled=False` with
//! upstream's message and a `FailedScheduling` event. Unschedulable pods are retried when
//! the cluster changes (node or bound-pod events) and at least every 60 s; failed attempts
//! back off from 1 s to 10 s like upstream's queue.

pub mod affinity;
pub mod algorithm;
pub mod budgets;
pub mod cache;
pub mod nodeinfo;
pub mod predicates;
pub mod preemption;
mod queue;
pub mod resources;
pub mod scores;
pub mod volumebinding;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Binding, Namespace, Node, ObjectReference, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::error::{kube_conflict, kube_not_found};
use crate::events::Recorder;
use crate::leader::{ElectionTiming, LeaderElector};
use crate::util::{forward_watch, is_deleting, now, pod_phase, spawn_store};
use queue::Queue;

/// The scheduler name we serve.
pub const SCHEDULER_NAME: &str = "default-scheduler";
/// The field manager of the scheduler's own writes (upstream's component name).
pub const FIELD_MANAGER: &str = "kube-scheduler";
const UNSCHEDULABLE_FLUSH: Duration = Duration::from_secs(60);
/// Bindings in flight at once (upstream binds asynchronously, one goroutine per pod).
const BIND_CONCURRENCY: usize = 64;

/// Runs the scheduler with leader election (`kube-system/ferrokube-scheduler`) until
/// `shutdown` resolves.
pub async fn run_scheduler(
    client: Client,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let token = crate::token_from(shutdown);
    let identity = format!("scheduler-{:016x}", rand::random::<u64>());
    let elector = LeaderElector::new(
        client.clone(),
        "kube-system",
        "ferrokube-scheduler",
        &identity,
        FIELD_MANAGER,
        ElectionTiming::default(),
    );
    elector
        .run(token, move |leading| schedule_loop(client.clone(), leading))
        .await;
    Ok(())
}

/// Whether this scheduler is responsible for a pending pod.
pub fn wants(pod: &Pod) -> bool {
    let spec = pod.spec.as_ref();
    let unbound = spec
        .and_then(|s| s.node_name.as_deref())
        .is_none_or(str::is_empty);
    let ours = spec
        .and_then(|s| s.scheduler_name.as_deref())
        .is_none_or(|n| n.is_empty() || n == SCHEDULER_NAME);
    let phase = pod_phase(pod);
    unbound && ours && !is_deleting(&pod.metadata) && phase != "Succeeded" && phase != "Failed"
}

enum BindOutcome {
    Bound,
    Gone,
    Failed,
}

async fn schedule_loop(client: Client, token: CancellationToken) {
    // Each watch decodes on its own task; this loop only applies events and decides.
    let mut pods = forward_watch(Api::<Pod>::all(client.clone()), token.clone());
    let mut nodes = forward_watch(Api::<Node>::all(client.clone()), token.clone());
    let mut nss = forward_watch(Api::<Namespace>::all(client.clone()), token.clone());
    let vstores = volumebinding::VolumeStores::spawn(&client, &token);
    let pdbs = spawn_store(
        Api::<PodDisruptionBudget>::all(client.clone()),
        watcher::Config::default(),
        None,
        token.clone(),
    );
    let recorder = Recorder::with_manager(client.clone(), SCHEDULER_NAME, None, FIELD_MANAGER);
    let binds = Arc::new(Semaphore::new(BIND_CONCURRENCY));
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, BindOutcome)>();
    let mut cache = cache::Cache::default();
    let mut queue = Queue::default();
    let (mut pods_synced, mut nodes_synced) = (false, false);
    let mut relist_pods: Option<HashSet<String>> = None;
    let mut relist_nodes: Option<HashSet<String>> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut last_flush = Instant::now();
    let mut start = 0usize;
    loop {
        // A decision is only taken when its binding can start at once: waiting for a bind
        // slot inside the loop would stall every watch behind it.
        let ready =
            pods_synced && nodes_synced && queue.has_active() && binds.available_permits() > 0;
        tokio::select! {
            biased;
            _ = token.cancelled() => break,
            Some(ev) = pods.recv() => match ev {
                watcher::Event::Init => relist_pods = Some(HashSet::new()),
                watcher::Event::InitApply(p) | watcher::Event::Apply(p) => {
                    if let Some(seen) = relist_pods.as_mut() {
                        seen.insert(p.metadata.uid.clone().unwrap_or_default());
                    }
                    observe_pod(&mut cache, &mut queue, p);
                }
                watcher::Event::Delete(p) => {
                    let uid = p.metadata.uid.clone().unwrap_or_default();
                    queue.remove(&uid);
                    if cache.pod_node.contains_key(&uid) {
                        cache.remove_pod(&uid);
                        queue.move_all_unschedulable();
                    }
                }
                watcher::Event::InitDone => {
                    if let Some(seen) = relist_pods.take() {
                        let stale: Vec<String> = cache.pod_node.keys().filter(|u| !seen.contains(*u)).cloned().collect();
                        for uid in stale { cache.remove_pod(&uid); }
                        queue.retain(&seen);
                    }
                    pods_synced = true;
                }
            },
            Some(ev) = nodes.recv() => match ev {
                watcher::Event::Init => relist_nodes = Some(HashSet::new()),
                watcher::Event::InitApply(n) | watcher::Event::Apply(n) => {
                    if let Some(seen) = relist_nodes.as_mut() { seen.insert(n.name_any()); }
                    cache.upsert_node(n);
                    queue.move_all_unschedulable();
                }
                watcher::Event::Delete(n) => cache.remove_node(&n.name_any()),
                watcher::Event::InitDone => {
                    if let Some(seen) = relist_nodes.take() {
                        let stale: Vec<String> = cache.node_names().filter(|n| !seen.contains(*n)).map(str::to_owned).collect();
                        for n in stale { cache.remove_node(&n); }
                    }
                    nodes_synced = true;
                }
            },
            Some(ev) = nss.recv() => {
                if let watcher::Event::Apply(n) | watcher::Event::InitApply(n) = ev {
                    cache.namespaces.insert(n.name_any(), n.metadata.labels.clone().unwrap_or_default());
                }
            }
            Some((uid, outcome)) = rx.recv() => match outcome {
                BindOutcome::Bound => queue.remove(&uid),
                BindOutcome::Gone => { queue.remove(&uid); cache.remove_pod(&uid); }
                BindOutcome::Failed => { cache.remove_pod(&uid); queue.requeue(&uid, false); }
            },
            _ = std::future::ready(()), if ready => {
                let Some((uid, pod)) = queue.pop() else { continue };
                let Ok(permit) = binds.clone().try_acquire_owned() else {
                    queue.requeue(&uid, false);
                    continue;
                };
                start = start.wrapping_add(1);
                let nominated = queue.nominated_pods(&uid, preemption::priority(&pod));
                match decide(&cache, &nominated, &pod, start, &vstores) {
                    Ok((node, claims)) => {
                        // Assumed on `node` until the watch brings the bound pod (the cache
                        // keys pods by node itself and never reads their nodeName).
                        cache.add_pod(&uid, &node, pod.clone());
                        let (client, tx, rec) = (client.clone(), tx.clone(), recorder.clone());
                        tokio::spawn(async move {
                            volumebinding::prebind(&client, &claims, &node, FIELD_MANAGER).await;
                            let outcome = bind(&client, &rec, &pod, &node).await;
                            drop(permit);
                            let _ = tx.send((uid, outcome));
                        });
                    }
                    Err(msg) => {
                        queue.requeue(&uid, true);
                        let nodes: Vec<&nodeinfo::NodeInfo> = cache.nodes().iter().collect();
                        let budgets = budgets::Budgets::new(pdbs.state().iter().map(|b| b.as_ref()));
                        let plan = preemption::plan(&pod, &nodes, &budgets);
                        let (client, rec) = (client.clone(), recorder.clone());
                        tokio::spawn(async move {
                            mark_unschedulable(&client, &rec, &pod, &msg).await;
                            if let Some(plan) = plan {
                                preemption::execute(&client, &rec, &pod, &plan).await;
                            }
                            drop(permit);
                        });
                    }
                }
            }
            _ = tick.tick() => {
                if last_flush.elapsed() >= UNSCHEDULABLE_FLUSH {
                    queue.move_all_unschedulable();
                    last_flush = Instant::now();
                }
                queue.tick();
            }
        }
    }
}

/// One scheduling decision for `pod` over the cache as it is now, with the `nominated` pods
/// (node, uid, pod) counted on their nodes: the node and the WaitForFirstConsumer claims to hand
/// to it.
fn decide(
    cache: &cache::Cache,
    nominated: &[(String, String, Arc<Pod>)],
    pod: &Pod,
    start: usize,
    vstores: &volumebinding::VolumeStores,
) -> Result<(String, Vec<(String, String)>), String> {
    let volumes = volumebinding::prefilter(pod, vstores)
        .map_err(|m| volumebinding::prefilter_message(cache.nodes().len(), &m))?;
    let owner_counts =
        crate::util::controller_ref(&pod.metadata).and_then(|o| cache.owner_counts.get(&o.uid));
    let anti: Vec<(Arc<Pod>, String)> = cache.anti_pods.values().cloned().collect();
    let with_nominated = with_nominated_pods(cache.nodes(), nominated);
    let snap = algorithm::Snapshot {
        nodes: cache
            .nodes()
            .iter()
            .map(|n| with_nominated.get(n.name()).unwrap_or(n))
            .collect(),
        namespaces: &cache.namespaces,
        anti_affinity_pods: &anti,
        owner_counts,
        volumes: (!volumes.is_empty()).then_some(&volumes),
    };
    let node = algorithm::schedule(pod, &snap, start)?;
    Ok((node, volumes.delayed_claims()))
}

/// Copies of the nodes that have nominated pods, with those pods added.
fn with_nominated_pods(
    nodes: &[nodeinfo::NodeInfo],
    nominated: &[(String, String, Arc<Pod>)],
) -> HashMap<String, nodeinfo::NodeInfo> {
    let mut copies: HashMap<String, nodeinfo::NodeInfo> = HashMap::new();
    for (node, uid, pod) in nominated {
        let Some(info) = nodes.iter().find(|n| n.name() == node) else {
            continue;
        };
        copies
            .entry(node.clone())
            .or_insert_with(|| info.clone())
            .add_pod(uid, pod.clone());
    }
    copies
}

fn observe_pod(cache: &mut cache::Cache, queue: &mut Queue, pod: Pod) {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    if wants(&pod) {
        queue.upsert(pod);
        return;
    }
    queue.remove(&uid);
    let bound = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    if bound {
        let was_counted = cache.pod_node.contains_key(&uid);
        cache.observe_bound_pod(pod);
        if was_counted && !cache.pod_node.contains_key(&uid) {
            // A pod finished and freed resources.
            queue.move_all_unschedulable();
        }
    } else if cache.pod_node.contains_key(&uid) {
        cache.remove_pod(&uid);
    }
}

async fn bind(client: &Client, rec: &Recorder, pod: &Pod, node: &str) -> BindOutcome {
    let ns = pod.namespace().unwrap_or_else(|| "default".into());
    let name = pod.name_any();
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let binding = Binding {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        },
        target: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(node.to_owned()),
            ..Default::default()
        },
    };
    let res: Result<serde_json::Value, kube::Error> = api
        .create_subresource(
            "binding",
            &name,
            &PostParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            },
            &binding,
        )
        .await;
    match res {
        Ok(_) => {
            // Events go out asynchronously (upstream's broadcaster) so a slow event write
            // never holds a binding slot.
            let (rec, pod, msg) = (
                rec.clone(),
                pod.clone(),
                format!("Successfully assigned {ns}/{name} to {node}"),
            );
            tokio::spawn(async move { rec.normal(&pod, "Scheduled", &msg).await });
            BindOutcome::Bound
        }
        Err(e) if kube_not_found(&e) || kube_conflict(&e) => BindOutcome::Gone,
        Err(e) => {
            tracing::debug!(pod = %name, error = %e, "binding failed");
            BindOutcome::Failed
        }
    }
}

async fn mark_unschedulable(client: &Client, rec: &Recorder, pod: &Pod, msg: &str) {
    let ns = pod.namespace().unwrap_or_else(|| "default".into());
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let already = crate::util::pod_condition(pod, "PodScheduled")
        .is_some_and(|c| c.status == "False" && c.message.as_deref() == Some(msg));
    if !already {
        let cond = json!({
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": msg, "lastProbeTime": null, "lastTransitionTime": now(),
        });
        // Strategic merge on conditions (keyed by type) keeps the kubelet's conditions.
        let patch = json!({"status": {"conditions": [cond]}});
        let _ = api
            .patch_status(
                &pod.name_any(),
                &kube::api::PatchParams {
                    field_manager: Some(FIELD_MANAGER.into()),
                    ..Default::default()
                },
                &kube::api::Patch::Strategic(patch),
            )
            .await;
    }
    rec.warning(pod, "FailedScheduling", msg).await;
}
