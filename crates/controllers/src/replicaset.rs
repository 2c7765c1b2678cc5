//! ReplicaSet and ReplicationController controllers (upstream `replica_set.go`, which serves
//! both): adopt matching orphans and release non-matching pods, create or delete pods to
//! reach `spec.replicas` in slow-start batches, guard against duplicate work with
//! expectations, and publish status counts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrokube_apimachinery::labels::Selector;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec, ReplicationController};
use kube::api::{Api, DeleteParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::error::{kube_not_found, Result};
use crate::events::Recorder;
use crate::util::{
    drain, is_controlled_by, is_deleting, is_pod_active, is_pod_available, is_pod_ready, now_secs,
    owner_ref, patch_status, pod_from_template, pod_phase, pod_prefix, secs, selector,
    set_selector,
};
use crate::Context;

/// Most pods created or deleted in one sync (upstream `burstReplicas`).
pub const BURST_REPLICAS: usize = 500;
const EXPECTATION_TTL: Duration = Duration::from_secs(300);

/// What the replica logic needs from a ReplicaSet or ReplicationController.
pub trait ReplicaOwner:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Serialize
    + Debug
    + Send
    + Sync
    + 'static
{
    /// Desired replicas (default 1).
    fn replicas(&self) -> i32;
    /// The pod selector.
    fn pod_selector(&self) -> Result<Selector>;
    /// The pod template.
    fn template(&self) -> Option<&PodTemplateSpec>;
    /// `minReadySeconds`.
    fn min_ready_seconds(&self) -> i32;
    /// Component name for events.
    fn component() -> &'static str;
}

impl ReplicaOwner for ReplicaSet {
    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }
    fn pod_selector(&self) -> Result<Selector> {
        selector(self.spec.as_ref().map(|s| &s.selector))
    }
    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref()?.template.as_ref()
    }
    fn min_ready_seconds(&self) -> i32 {
        self.spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
    }
    fn component() -> &'static str {
        "replicaset-controller"
    }
}

impl ReplicaOwner for ReplicationController {
    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }
    fn pod_selector(&self) -> Result<Selector> {
        let spec = self.spec.as_ref();
        // An RC without selector selects its template's labels (upstream defaulting).
        let sel = spec.and_then(|s| s.selector.as_ref()).or_else(|| {
            spec.and_then(|s| s.template.as_ref())
                .and_then(|t| t.metadata.as_ref())
                .and_then(|m| m.labels.as_ref())
        });
        Ok(set_selector(sel))
    }
    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref()?.template.as_ref()
    }
    fn min_ready_seconds(&self) -> i32 {
        self.spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
    }
    fn component() -> &'static str {
        "replication-controller"
    }
}

/// Names awaited to appear, names awaited to go, and when we last added to them.
type Pending = (HashSet<String>, HashSet<String>, Instant);

/// Pod names we created or deleted and have not yet seen in the pod store.
#[derive(Default)]
pub struct Expectations {
    inner: Mutex<HashMap<String, Pending>>,
}

impl Expectations {
    /// Records pods created/deleted for `key`.
    pub fn expect(&self, key: &str, adds: Vec<String>, dels: Vec<String>) {
        if let Ok(mut m) = self.inner.lock() {
            let e = m
                .entry(key.to_owned())
                .or_insert_with(|| (HashSet::new(), HashSet::new(), Instant::now()));
            e.0.extend(adds);
            e.1.extend(dels);
            e.2 = Instant::now();
        }
    }

    /// Whether everything expected for `key` has been observed (or expired).
    pub fn satisfied(&self, key: &str, pods: &Store<Pod>, ns: &str) -> bool {
        let Ok(mut m) = self.inner.lock() else {
            return true;
        };
        let Some(e) = m.get_mut(key) else {
            return true;
        };
        e.0.retain(|n| pods.get(&ObjectRef::new(n).within(ns)).is_none());
        e.1.retain(|n| {
            pods.get(&ObjectRef::new(n).within(ns))
                .is_some_and(|p| !is_deleting(&p.metadata))
        });
        let done = (e.0.is_empty() && e.1.is_empty()) || e.2.elapsed() > EXPECTATION_TTL;
        if done {
            m.remove(key);
        }
        done
    }
}

/// Controller state shared by reconciles.
pub struct ReplicaCtx {
    ctx: Context,
    pods: Store<Pod>,
    expectations: Expectations,
    recorder: Recorder,
}

/// Runs the ReplicaSet controller.
pub async fn run_replicasets(ctx: Context, token: CancellationToken) {
    run_kind::<ReplicaSet>(ctx, token).await
}

/// Runs the ReplicationController controller.
pub async fn run_replication_controllers(ctx: Context, token: CancellationToken) {
    run_kind::<ReplicationController>(ctx, token).await
}

async fn run_kind<K: ReplicaOwner>(ctx: Context, token: CancellationToken) {
    let owners: Api<K> = Api::all(ctx.client.clone());
    // The shared pod informer feeds the store used for claiming and triggers reconciles.
    let pods = ctx.informers.pods.store();
    let pod_changes = ctx.informers.pods.changes();
    let ctrl = Controller::new(owners, watcher::Config::default());
    let owner_store = ctrl.store();
    let rctx = Arc::new(ReplicaCtx {
        recorder: Recorder::new(ctx.client.clone(), K::component(), None),
        ctx,
        pods,
        expectations: Expectations::default(),
    });
    let stream = ctrl
        .watches_stream(pod_changes, move |pod: Pod| {
            crate::util::claim::owners_to_wake(&owner_store, &pod, |o: &K| o.pod_selector().ok())
        })
        .graceful_shutdown_on(async move { token.cancelled().await })
        .run(reconcile::<K>, error_policy::<K>, rctx);
    drain(K::component(), stream).await;
}

fn error_policy<K>(_: Arc<K>, e: &crate::Error, _: Arc<ReplicaCtx>) -> Action {
    tracing::debug!(error = %e, "replica sync failed");
    Action::requeue(crate::util::ERROR_REQUEUE)
}

/// Rank for deletion: lower sorts first and is deleted first (upstream `ActivePods` order).
pub fn deletion_rank(p: &Pod) -> (u8, u8, u8, i64, i64, i64) {
    let assigned = p
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    let phase = match pod_phase(p) {
        "Pending" => 0,
        "Unknown" => 1,
        _ => 2,
    };
    let ready = is_pod_ready(p);
    let ready_since = crate::util::pod_condition(p, "Ready")
        .and_then(|c| c.last_transition_time.as_ref())
        .map(secs)
        .unwrap_or(0);
    let restarts: i64 = p
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|cs| cs.iter().map(|c| i64::from(c.restart_count)).sum())
        .unwrap_or(0);
    let created = p
        .metadata
        .creation_timestamp
        .as_ref()
        .map(secs)
        .unwrap_or(0);
    (
        u8::from(assigned),
        phase,
        u8::from(ready),
        // Ready for less time is deleted first: negate the timestamp so later sorts first.
        -ready_since,
        -restarts,
        -created,
    )
}

/// Slow-start batch sizes for creating `n` pods (1, 2, 4, ... like upstream).
pub fn slow_start_batches(n: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let (mut left, mut size) = (n, 1usize);
    while left > 0 {
        let b = size.min(left);
        out.push(b);
        left -= b;
        size *= 2;
    }
    out
}

async fn reconcile<K: ReplicaOwner>(owner: Arc<K>, rctx: Arc<ReplicaCtx>) -> Result<Action> {
    let ns = owner.namespace().unwrap_or_default();
    let name = owner.name_any();
    let key = format!("{ns}/{name}");
    let client = &rctx.ctx.client;
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let sel = owner.pod_selector()?;
    let satisfied = rctx.expectations.satisfied(&key, &rctx.pods, &ns);

    // Claim: adopt matching orphans, release owned pods that stopped matching.
    let in_namespace = rctx
        .pods
        .state()
        .into_iter()
        .filter(|p| p.namespace().as_deref() == Some(ns.as_str()));
    let owned =
        crate::util::claim::claim_pods(owner.as_ref(), &sel, in_namespace, &pod_api).await?;
    let active: Vec<Arc<Pod>> = owned.iter().filter(|p| is_pod_active(p)).cloned().collect();
    let want = owner.replicas().max(0) as usize;
    let mut failure: Option<String> = None;
    if satisfied && !is_deleting(owner.meta()) {
        if active.len() < want {
            let n = (want - active.len()).min(BURST_REPLICAS);
            if let Err(msg) = create_pods(&*owner, &rctx, &pod_api, &key, n).await {
                failure = Some(msg);
            }
        } else if active.len() > want {
            let n = (active.len() - want).min(BURST_REPLICAS);
            let mut victims = active.clone();
            victims.sort_by_key(|p| deletion_rank(p));
            let victims: Vec<Arc<Pod>> = victims.into_iter().take(n).collect();
            let names: Vec<String> = victims.iter().map(|p| p.name_any()).collect();
            rctx.expectations.expect(&key, vec![], names);
            for p in victims {
                match pod_api
                    .delete(&p.name_any(), &DeleteParams::default())
                    .await
                {
                    Ok(_) => {
                        rctx.recorder
                            .normal(
                                &*owner,
                                "SuccessfulDelete",
                                &format!("Deleted pod: {}", p.name_any()),
                            )
                            .await
                    }
                    Err(e) if kube_not_found(&e) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    // Status.
    let now = now_secs();
    let min_ready = owner.min_ready_seconds();
    let template_labels: BTreeMap<String, String> = owner
        .template()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let fully = active
        .iter()
        .filter(|p| {
            let l = p.metadata.labels.clone().unwrap_or_default();
            template_labels.iter().all(|(k, v)| l.get(k) == Some(v))
        })
        .count();
    let ready = active.iter().filter(|p| is_pod_ready(p)).count();
    let available = active
        .iter()
        .filter(|p| is_pod_available(p, min_ready, now))
        .count();
    let conditions = match &failure {
        Some(msg) => json!([{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
            "message": msg, "lastTransitionTime": crate::util::now()}]),
        None => json!(null),
    };
    let status = json!({
        "replicas": active.len(),
        "fullyLabeledReplicas": fully,
        "readyReplicas": ready,
        "availableReplicas": available,
        "observedGeneration": owner.meta().generation,
        "conditions": conditions,
    });
    let owner_api: Api<K> = Api::namespaced(client.clone(), &ns);
    patch_status(&owner_api, &name, status).await?;
    if failure.is_some() {
        return Ok(Action::requeue(crate::util::ERROR_REQUEUE));
    }
    // Re-check availability once minReadySeconds passes for ready-but-not-available pods.
    if min_ready > 0 && available < ready {
        return Ok(Action::requeue(Duration::from_secs(min_ready as u64)));
    }
    Ok(Action::requeue(Duration::from_secs(300)))
}

async fn create_pods<K: ReplicaOwner>(
    owner: &K,
    rctx: &ReplicaCtx,
    api: &Api<Pod>,
    key: &str,
    n: usize,
) -> std::result::Result<(), String> {
    let Some(template) = owner.template() else {
        return Err("spec.template is missing".into());
    };
    let ns = owner.namespace().unwrap_or_default();
    let prefix = pod_prefix(&owner.name_any());
    for batch in slow_start_batches(n) {
        let futs = (0..batch).map(|_| {
            let pod = pod_from_template(template, &ns, &prefix, owner_ref(owner));
            async move { api.create(&crate::util::post_params(), &pod).await }
        });
        let results = futures::future::join_all(futs).await;
        let mut created = Vec::new();
        let mut err = None;
        for r in results {
            match r {
                Ok(p) => created.push(p.name_any()),
                Err(e) => err = Some(e.to_string()),
            }
        }
        rctx.expectations.expect(key, created.clone(), vec![]);
        for name in created {
            rctx.recorder
                .normal(owner, "SuccessfulCreate", &format!("Created pod: {name}"))
                .await;
        }
        if let Some(e) = err {
            rctx.recorder
                .warning(owner, "FailedCreate", &format!("Error creating: {e}"))
                .await;
            return Err(e);
        }
    }
    Ok(())
}

/// Whether `pod` is controlled by `uid` (used by the Deployment controller too).
pub fn owned_by(pod: &Pod, uid: &str) -> bool {
    is_controlled_by(&pod.metadata, uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_doubles() {
        assert_eq!(slow_start_batches(0), Vec::<usize>::new());
        assert_eq!(slow_start_batches(1), vec![1]);
        assert_eq!(slow_start_batches(10), vec![1, 2, 4, 3]);
    }

    #[test]
    fn deletion_prefers_unassigned_then_not_ready() {
        let mk = |v: serde_json::Value| -> Pod { serde_json::from_value(v).unwrap() };
        let unassigned = mk(json!({"metadata": {"name": "u"}}));
        let pending =
            mk(json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n", "containers": []}}));
        let ready = mk(
            json!({"metadata": {"name": "r"}, "spec": {"nodeName": "n", "containers": []},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}),
        );
        let running = mk(
            json!({"metadata": {"name": "x"}, "spec": {"nodeName": "n", "containers": []},
            "status": {"phase": "Running"}}),
        );
        let mut v = [
            ready.clone(),
            running.clone(),
            pending.clone(),
            unassigned.clone(),
        ];
        v.sort_by_key(deletion_rank);
        let names: Vec<_> = v.iter().map(|p| p.metadata.name.clone().unwrap()).collect();
        assert_eq!(names, vec!["u", "p", "x", "r"]);
    }

    #[test]
    fn rc_selector_defaults_to_template_labels() {
        let rc: ReplicationController = serde_json::from_value(json!({
            "metadata": {"name": "rc"},
            "spec": {"template": {"metadata": {"labels": {"app": "a"}}}}
        }))
        .unwrap();
        let sel = rc.pod_selector().unwrap();
        let l = BTreeMap::from([("app".to_owned(), "a".to_owned())]);
        assert!(sel.matches(&l));
    }
}
