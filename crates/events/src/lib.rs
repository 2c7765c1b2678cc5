//! A core/v1 event recorder shaped like client-go's legacy broadcaster: the first
//! occurrence creates an Event, repeats of the same (object, type, reason, message) bump
//! `count` and `lastTimestamp`, so `kubectl describe` shows "x3 over 2m" like upstream.
//!
//! Recording never waits for the API: events go into a bounded queue (upstream's broadcaster
//! holds 1000 and drops when full) that a sink task drains with a few writes in flight, so a
//! burst of events (one `Scheduled` per pod) never slows the work it describes.
//!
//! Repeats beyond upstream's spam budget per object are dropped ([`spam`]).
//!
//! Shared by the controllers (re-exported as `ferrokube_controllers::events`) and the kubelet.

mod spam;

use std::collections::HashMap;
use std::time::Instant;

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::mpsc;

/// Field manager of the controller-manager's writes (upstream's binary name).
pub const CONTROLLER_MANAGER: &str = "kube-controller-manager";

/// (involved uid, type, reason, message): what makes two events the same.
type EventKey = (String, String, String, String);

/// Events queued before new ones are dropped (upstream `maxQueuedEvents`).
const QUEUE: usize = 1000;
/// Event writes in flight per recorder.
const IN_FLIGHT: usize = 4;
/// Distinct events remembered for aggregation (upstream's LRU holds 4096).
const SEEN: usize = 4096;

/// One event to record.
struct Pending {
    obj: ObjectReference,
    type_: String,
    reason: String,
    msg: String,
}

/// Records events for one reporting component (e.g. `deployment-controller`).
#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::Sender<Pending>,
}

impl Recorder {
    /// A controller-manager recorder reporting as `component` (and optionally a node `host`);
    /// its sink task ends once every clone is dropped and the queue is written out.
    pub fn new(client: Client, component: &str, host: Option<String>) -> Self {
        Self::with_manager(client, component, host, CONTROLLER_MANAGER)
    }

    /// A recorder whose writes carry field manager `manager` (e.g. `kube-scheduler`).
    pub fn with_manager(
        client: Client,
        component: &str,
        host: Option<String>,
        manager: &str,
    ) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        let sink = Sink {
            client,
            component: component.to_owned(),
            host,
            manager: manager.to_owned(),
            seen: HashMap::new(),
            spam: spam::SpamFilter::default(),
        };
        tokio::spawn(sink.run(rx));
        Self { queue }
    }

    /// Object reference of a typed resource, for `involvedObject`.
    pub fn reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
        ObjectReference {
            api_version: Some(K::api_version(&()).into_owned()),
            kind: Some(K::kind(&()).into_owned()),
            name: Some(obj.name_any()),
            namespace: obj.namespace(),
            uid: obj.meta().uid.clone(),
            resource_version: obj.meta().resource_version.clone(),
            field_path: None,
        }
    }

    /// Records a `Normal` event.
    pub async fn normal<K: Resource<DynamicType = ()>>(&self, obj: &K, reason: &str, msg: &str) {
        self.record(&Self::reference(obj), "Normal", reason, msg)
            .await;
    }

    /// Records a `Warning` event.
    pub async fn warning<K: Resource<DynamicType = ()>>(&self, obj: &K, reason: &str, msg: &str) {
        self.record(&Self::reference(obj), "Warning", reason, msg)
            .await;
    }

    /// Queues an event about `obj`; a full queue drops it and failures are logged, never
    /// returned, as upstream does.
    pub async fn record(&self, obj: &ObjectReference, type_: &str, reason: &str, msg: &str) {
        self.post(obj, type_, reason, msg);
    }

    /// [`Recorder::record`] for callers outside async code (probe loops, trait objects).
    pub fn post(&self, obj: &ObjectReference, type_: &str, reason: &str, msg: &str) {
        let item = Pending {
            obj: obj.clone(),
            type_: type_.to_owned(),
            reason: reason.to_owned(),
            msg: msg.to_owned(),
        };
        if self.queue.try_send(item).is_err() {
            tracing::debug!(reason, "event queue full, event dropped");
        }
    }
}

/// How one queued event is written.
enum Write {
    /// A new Event object with this name.
    Create(String),
    /// A repeat: bump the existing Event's count.
    Bump(String, i32),
}

/// Drains a recorder's queue: aggregation is decided in queue order, writes overlap.
struct Sink {
    client: Client,
    component: String,
    host: Option<String>,
    manager: String,
    seen: HashMap<EventKey, (String, i32)>,
    spam: spam::SpamFilter,
}

impl Sink {
    async fn run(mut self, mut rx: mpsc::Receiver<Pending>) {
        let mut writes = FuturesUnordered::new();
        loop {
            tokio::select! {
                item = rx.recv(), if writes.len() < IN_FLIGHT => {
                    let Some(item) = item else { break };
                    let object = item.obj.uid.clone().or_else(|| item.obj.name.clone()).unwrap_or_default();
                    if !self.spam.allow(&object, Instant::now()) {
                        tracing::debug!(reason = %item.reason, %object, "event dropped by the spam filter");
                        continue;
                    }
                    let key = (
                        item.obj.uid.clone().unwrap_or_default(),
                        item.type_.clone(),
                        item.reason.clone(),
                        item.msg.clone(),
                    );
                    let plan = self.plan(&key, &item);
                    writes.push(write(self.client.clone(), self.manager.clone(), self.event(&item), plan, key));
                }
                Some((key, outcome)) = writes.next(), if !writes.is_empty() => self.settle(key, outcome),
            }
        }
        while let Some((key, outcome)) = writes.next().await {
            self.settle(key, outcome);
        }
    }

    /// Decides create vs. bump and remembers the outcome optimistically, so a repeat queued
    /// right behind still aggregates.
    fn plan(&mut self, key: &EventKey, item: &Pending) -> Write {
        if let Some((name, count)) = self.seen.get_mut(key) {
            *count += 1;
            return Write::Bump(name.clone(), *count);
        }
        let base = item
            .obj
            .name
            .clone()
            .unwrap_or_else(|| self.component.clone());
        let name = format!("{base}.{:x}", Timestamp::now().as_nanosecond());
        if self.seen.len() >= SEEN {
            self.seen.clear();
        }
        self.seen.insert(key.clone(), (name.clone(), 1));
        Write::Create(name)
    }

    /// Records where a write ended up: the event's name, or forgets it when nothing was stored.
    fn settle(&mut self, key: EventKey, outcome: Option<(String, i32)>) {
        match outcome {
            Some(v) => {
                self.seen.insert(key, v);
            }
            None => {
                self.seen.remove(&key);
            }
        }
    }

    /// The Event to create for `item` (its name is set by the write).
    fn event(&self, item: &Pending) -> Event {
        let t = Time(Timestamp::now());
        Event {
            metadata: ObjectMeta {
                namespace: Some(event_namespace(&item.obj)),
                ..Default::default()
            },
            involved_object: item.obj.clone(),
            reason: Some(item.reason.clone()),
            message: Some(item.msg.clone()),
            type_: Some(item.type_.clone()),
            count: Some(1),
            first_timestamp: Some(t.clone()),
            last_timestamp: Some(t),
            event_time: None::<MicroTime>,
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: self.host.clone(),
            }),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.host.clone().unwrap_or_else(|| self.component.clone())),
            ..Default::default()
        }
    }
}

/// Cluster-scoped objects' events live in `default`, as in upstream.
fn event_namespace(obj: &ObjectReference) -> String {
    obj.namespace
        .clone()
        .unwrap_or_else(|| "default".to_owned())
}

/// Performs one planned write; returns the key and the stored (name, count), if any.
async fn write(
    client: Client,
    manager: String,
    mut ev: Event,
    plan: Write,
    key: EventKey,
) -> (EventKey, Option<(String, i32)>) {
    let api: Api<Event> = Api::namespaced(client, &event_namespace(&ev.involved_object));
    if let Write::Bump(name, count) = &plan {
        let patch = json!({"count": count, "lastTimestamp": ev.last_timestamp});
        let params = PatchParams {
            field_manager: Some(manager.clone()),
            ..Default::default()
        };
        if api.patch(name, &params, &Patch::Merge(patch)).await.is_ok() {
            return (key, Some((name.clone(), *count)));
        }
    }
    // A first occurrence, or a repeat whose Event is gone: create a fresh one.
    let name = match plan {
        Write::Create(name) => name,
        Write::Bump(..) => {
            let base = ev.involved_object.name.clone().unwrap_or_default();
            format!("{base}.{:x}", Timestamp::now().as_nanosecond())
        }
    };
    ev.metadata.name = Some(name.clone());
    let params = PostParams {
        field_manager: Some(manager),
        ..Default::default()
    };
    match api.create(&params, &ev).await {
        Ok(_) => (key, Some((name, 1))),
        Err(e) => {
            tracing::debug!(error = %e, reason = ?ev.reason, "event not recorded");
            (key, None)
        }
    }
}
