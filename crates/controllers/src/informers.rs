//! Shared informers (upstream's `SharedInformerFactory`): one watch per kind for the whole
//! controller manager, feeding a reflector store every controller reads and a broadcast of
//! changed objects that triggers their reconciles. Without it every controller that looks at
//! pods opened its own watches and decoded every pod change again (twice for most).

use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

/// Changes a subscriber may fall behind by before it is resynced from the store.
const CHANGES_BUFFER: usize = 16_384;

/// One shared watch of a kind.
pub struct Informer<K: Resource<DynamicType = ()> + 'static> {
    store: Store<K>,
    changes: broadcast::Sender<Arc<K>>,
    /// Raised once the initial list is in the store. (kube's `Store::wait_until_ready`
    /// wakes only the last of several concurrent waiters, so shared stores signal here.)
    synced: watch::Receiver<bool>,
}

impl<K> Informer<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync,
{
    /// Starts watching every object of the kind until `token` is cancelled.
    pub fn spawn(api: Api<K>, token: CancellationToken) -> Self {
        let (store, writer) = reflector::store();
        let (changes, _) = broadcast::channel(CHANGES_BUFFER);
        let (synced_tx, synced) = watch::channel(false);
        let tx = changes.clone();
        let stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .modify(crate::util::trim_managed_fields)
            .reflect(writer);
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            loop {
                let ev = tokio::select! {
                    _ = token.cancelled() => break,
                    ev = stream.next() => ev,
                };
                let obj = match ev {
                    None => break,
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "shared watch error");
                        continue;
                    }
                    Some(Ok(watcher::Event::InitDone)) => {
                        synced_tx.send_replace(true);
                        continue;
                    }
                    Some(Ok(watcher::Event::Init)) => continue,
                    Some(Ok(
                        watcher::Event::Apply(o)
                        | watcher::Event::InitApply(o)
                        | watcher::Event::Delete(o),
                    )) => o,
                };
                // No subscriber yet is fine: they start from the store.
                let _ = tx.send(Arc::new(obj));
            }
        });
        Informer {
            store,
            changes,
            synced,
        }
    }

    /// The shared store (wait with [`Informer::ready`] for the initial list).
    pub fn store(&self) -> Store<K> {
        self.store.clone()
    }

    /// The raw change feed (shared objects, never cloned) for loops that only need a wake-up.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<K>> {
        self.changes.subscribe()
    }

    /// Every object changed (or deleted) from now on, for `Controller::watches_stream` and
    /// `owns_stream`. A subscriber that falls behind gets every stored object instead of the
    /// changes it missed, so no reconcile is lost.
    pub fn changes(&self) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static {
        let rx = self.changes.subscribe();
        let store = self.store.clone();
        futures::stream::unfold((rx, store), |(mut rx, store)| async move {
            let batch: Vec<_> = match rx.recv().await {
                Ok(obj) => vec![Ok((*obj).clone())],
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "shared watch subscriber lagged, resyncing");
                    store.state().iter().map(|o| Ok((**o).clone())).collect()
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((futures::stream::iter(batch), (rx, store)))
        })
        .flatten()
    }
}

/// The informers the controller manager shares, constructed in one place.
pub struct Informers {
    /// Every pod.
    pub pods: Informer<Pod>,
    /// Every node.
    pub nodes: Informer<Node>,
    /// Every PersistentVolumeClaim.
    pub claims: Informer<PersistentVolumeClaim>,
    /// Every PersistentVolume.
    pub volumes: Informer<PersistentVolume>,
    /// Every StorageClass.
    pub classes: Informer<StorageClass>,
}

impl Informers {
    /// Starts the shared watches.
    pub fn spawn(client: &Client, token: &CancellationToken) -> Self {
        Informers {
            pods: Informer::spawn(Api::all(client.clone()), token.clone()),
            nodes: Informer::spawn(Api::all(client.clone()), token.clone()),
            claims: Informer::spawn(Api::all(client.clone()), token.clone()),
            volumes: Informer::spawn(Api::all(client.clone()), token.clone()),
            classes: Informer::spawn(Api::all(client.clone()), token.clone()),
        }
    }
}

impl<K: Resource<DynamicType = ()> + 'static> Informer<K> {
    /// Waits for the initial list (false if the watch ended first). Any number of tasks may
    /// wait at once.
    pub async fn ready(&self) -> bool {
        self.synced.clone().wait_for(|s| *s).await.is_ok()
    }
}
