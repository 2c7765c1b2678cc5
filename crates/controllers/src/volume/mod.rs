//! PersistentVolume controller (upstream `pkg/controller/volume/persistentvolume`) with the
//! protection controllers beside it (`pvcprotection`, `pvprotection`).
//!
//! Binding: a claim gets the volume pre-bound to it (`claimRef`) or the one it names
//! (`volumeName`), else the smallest Available volume of its class, access modes and selector
//! that is large enough. WaitForFirstConsumer claims wait until the scheduler writes
//! `volume.kubernetes.io/selected-node`; a claim no volume fits is handed to its class's
//! provisioner (`volume.kubernetes.io/storage-provisioner`, an `ExternalProvisioning` event).
//! Claims without a class get the default class (upstream's retroactive assignment).
//! Phases: claims Pending/Bound/Lost, volumes Available/Bound/Released/Failed. Released
//! volumes are kept (Retain) or left to their provisioner to delete (Delete).
//!
//! Each pass reads the shared informer stores and writes only what differs; binding writes
//! carry the volume's resourceVersion, so a store that lags behind our own writes makes a
//! write conflict instead of binding one volume twice.

mod claims;
pub mod matching;
mod protection;
pub mod retention;
mod volumes;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::runtime::reflector::Store;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::events::Recorder;
use crate::Context;

/// Full re-sync period (upstream's PV controller resyncs every 15 s).
const RESYNC: Duration = Duration::from_secs(15);
/// Changes arriving this close together are handled by one pass.
const COALESCE: Duration = Duration::from_millis(20);
/// The same event about the same object is recorded at most this often (one per resync).
const EVENT_EVERY: Duration = Duration::from_secs(15);

/// Runs the PV, PVC-protection and PV-protection controllers until `token` is cancelled.
pub async fn run(ctx: Context, token: CancellationToken) {
    let inf = ctx.informers.clone();
    let mut claims = inf.claims.subscribe();
    let mut vols = inf.volumes.subscribe();
    let mut classes = inf.classes.subscribe();
    let mut pods = inf.pods.subscribe();
    let synced = async {
        inf.claims.ready().await
            && inf.volumes.ready().await
            && inf.classes.ready().await
            && inf.pods.ready().await
            && inf.nodes.ready().await
    };
    tokio::select! {
        _ = token.cancelled() => return,
        ok = synced => if !ok { return },
    }
    let rec = Recorder::new(ctx.client.clone(), "persistentvolume-controller", None);
    let mut events = Throttle::default();
    loop {
        let pass = Pass::new(&ctx, &rec, &mut events);
        pass.run().await;
        let woke = tokio::select! {
            _ = token.cancelled() => return,
            r = claims.recv() => wake(r),
            r = vols.recv() => wake(r),
            r = classes.recv() => wake(r),
            r = pods.recv() => wake(r.map(|p| uses_claims(&p))),
            _ = tokio::time::sleep(RESYNC) => true,
        };
        if !woke && !token.is_cancelled() {
            continue;
        }
        tokio::time::sleep(COALESCE).await;
        while claims.try_recv().is_ok() {}
        while vols.try_recv().is_ok() {}
        while classes.try_recv().is_ok() {}
        while pods.try_recv().is_ok() {}
    }
}

/// Whether a change should start a pass (lagging counts: something was missed).
fn wake<T>(r: Result<T, RecvError>) -> bool
where
    T: IsWake,
{
    match r {
        Ok(v) => v.is_wake(),
        Err(RecvError::Lagged(_)) => true,
        Err(RecvError::Closed) => false,
    }
}

/// Objects whose change wakes the controller.
trait IsWake {
    fn is_wake(&self) -> bool;
}

impl IsWake for bool {
    fn is_wake(&self) -> bool {
        *self
    }
}

impl<K> IsWake for Arc<K> {
    fn is_wake(&self) -> bool {
        true
    }
}

/// Claims a pod mounts: its `persistentVolumeClaim` volumes and generic ephemeral volumes
/// (claim `<pod>-<volume>`).
pub fn pod_claims(pod: &Pod) -> Vec<String> {
    let name = pod.metadata.name.as_deref().unwrap_or("");
    pod.spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|v| {
            if let Some(c) = &v.persistent_volume_claim {
                Some(c.claim_name.clone())
            } else {
                v.ephemeral.as_ref().map(|_| format!("{name}-{}", v.name))
            }
        })
        .collect()
}

fn uses_claims(pod: &Pod) -> bool {
    !pod_claims(pod).is_empty()
}

/// Remembers when an event was last recorded, so periodic passes do not repeat it.
#[derive(Default)]
struct Throttle {
    last: HashMap<(String, String), Instant>,
}

impl Throttle {
    /// Whether `reason` about object `uid` is due again.
    fn due(&mut self, uid: &str, reason: &str) -> bool {
        let now = Instant::now();
        if self.last.len() > 10_000 {
            self.last
                .retain(|_, t| now.duration_since(*t) < EVENT_EVERY);
        }
        let key = (uid.to_owned(), reason.to_owned());
        match self.last.get(&key) {
            Some(t) if now.duration_since(*t) < EVENT_EVERY => false,
            _ => {
                self.last.insert(key, now);
                true
            }
        }
    }
}

/// One pass over every claim and volume, from the informer stores as they are now.
struct Pass<'a> {
    ctx: &'a Context,
    rec: &'a Recorder,
    events: &'a mut Throttle,
    claims: Vec<Arc<PersistentVolumeClaim>>,
    volumes: Vec<Arc<PersistentVolume>>,
    classes: Vec<Arc<StorageClass>>,
    nodes: Store<Node>,
    /// Volumes bound during this pass (the stores do not show it yet).
    taken: HashSet<String>,
}

impl<'a> Pass<'a> {
    fn new(ctx: &'a Context, rec: &'a Recorder, events: &'a mut Throttle) -> Self {
        let inf = &ctx.informers;
        Pass {
            ctx,
            rec,
            events,
            claims: inf.claims.store().state(),
            volumes: inf.volumes.store().state(),
            classes: inf.classes.store().state(),
            nodes: inf.nodes.store(),
            taken: HashSet::new(),
        }
    }

    async fn run(mut self) {
        let claims = self.claims.clone();
        for c in &claims {
            if let Err(e) = self.sync_claim(c).await {
                tracing::debug!(claim = ?c.metadata.name, error = %e, "claim sync failed");
            }
        }
        let volumes = self.volumes.clone();
        for v in &volumes {
            if let Err(e) = self.sync_volume(v).await {
                tracing::debug!(volume = ?v.metadata.name, error = %e, "volume sync failed");
            }
        }
        let pods = self.ctx.informers.pods.store().state();
        protection::claims(self.ctx, &claims, &pods).await;
        protection::volumes(self.ctx, &volumes).await;
    }

    /// Records an event unless the same one was recorded within the last resync period.
    async fn event<K>(&mut self, obj: &K, warning: bool, reason: &str, msg: &str)
    where
        K: kube::Resource<DynamicType = ()>,
    {
        let uid = obj.meta().uid.clone().unwrap_or_default();
        if !self.events.due(&uid, &format!("{reason}/{msg}")) {
            return;
        }
        if warning {
            self.rec.warning(obj, reason, msg).await;
        } else {
            self.rec.normal(obj, reason, msg).await;
        }
    }
}
