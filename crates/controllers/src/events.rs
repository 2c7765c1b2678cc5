//! A core/v1 event recorder shaped like client-go's legacy broadcaster: the first
//! occurrence creates an Event, repeats of the same (object, type, reason, message) bump
//! `count` and `lastTimestamp`, so `kubectl describe` shows "x3 over 2m" like upstream.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::Mutex;

use crate::util::now;

/// (involved uid, type, reason, message): what makes two events the same.
type EventKey = (String, String, String, String);

/// Records events for one reporting component (e.g. `deployment-controller`).
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    component: String,
    host: Option<String>,
    seen: Arc<Mutex<HashMap<EventKey, (String, i32)>>>,
}

impl Recorder {
    /// A recorder reporting as `component` (and optionally a node `host`).
    pub fn new(client: Client, component: &str, host: Option<String>) -> Self {
        Self {
            client,
            component: component.to_owned(),
            host,
            seen: Arc::default(),
        }
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

    /// Records an event about `obj`; failures are logged, never returned, as upstream does.
    pub async fn record(&self, obj: &ObjectReference, type_: &str, reason: &str, msg: &str) {
        // Cluster-scoped objects' events live in `default`, as in upstream.
        let ns = obj
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        let key = (
            obj.uid.clone().unwrap_or_default(),
            type_.to_owned(),
            reason.to_owned(),
            msg.to_owned(),
        );
        let t = now();
        let existing = self.seen.lock().await.get(&key).cloned();
        if let Some((name, count)) = existing {
            let patch = json!({"count": count + 1, "lastTimestamp": t});
            if api
                .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await
                .is_ok()
            {
                self.seen.lock().await.insert(key, (name, count + 1));
                return;
            }
        }
        let base = obj.name.clone().unwrap_or_else(|| self.component.clone());
        let name = format!("{base}.{:x}", Timestamp::now().as_nanosecond());
        let ev = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns),
                ..Default::default()
            },
            involved_object: obj.clone(),
            reason: Some(reason.to_owned()),
            message: Some(msg.to_owned()),
            type_: Some(type_.to_owned()),
            count: Some(1),
            first_timestamp: Some(t.clone()),
            last_timestamp: Some(t.clone()),
            event_time: None::<MicroTime>,
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: self.host.clone(),
            }),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.host.clone().unwrap_or_else(|| self.component.clone())),
            ..Default::default()
        };
        match api.create(&PostParams::default(), &ev).await {
            Ok(_) => {
                let mut seen = self.seen.lock().await;
                // Bound the cache: upstream's LRU holds 4096 entries.
                if seen.len() > 4096 {
                    seen.clear();
                }
                seen.insert(key, (name, 1));
            }
            Err(e) => tracing::debug!(error = %e, reason, "event not recorded"),
        }
    }
}
