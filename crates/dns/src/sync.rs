//! Keeping the snapshot current: reflectors of Services and EndpointSlices (the server is a
//! client of the API like every other component), and a rebuild after each burst of changes.

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Resource};
use tokio::sync::{watch, Notify};

use crate::snapshot::Snapshot;

/// How long a rebuild waits after a change for the rest of its burst (a rollout touches many
/// slices at once).
const SETTLE: Duration = Duration::from_millis(20);

/// Publishes a fresh snapshot into `tx` after every change until the process ends. The first
/// one is published once both reflectors have listed everything.
pub async fn keep_current(
    client: kube::Client,
    cluster_domain: String,
    tx: watch::Sender<Option<Arc<Snapshot>>>,
) -> anyhow::Result<()> {
    // Fail early on a bad domain rather than inside the loop.
    Snapshot::empty(&cluster_domain)?;
    let changed = Arc::new(Notify::new());
    let services = reflect::<Service>(client.clone(), changed.clone());
    let slices = reflect::<EndpointSlice>(client, changed.clone());
    services.wait_until_ready().await?;
    slices.wait_until_ready().await?;
    // Serials only grow, across restarts too (seconds since the epoch, then one per rebuild).
    let mut serial = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(1);
    loop {
        let (svcs, eps) = (services.state(), slices.state());
        let snapshot = Snapshot::build(
            &cluster_domain,
            svcs.iter().map(|s| s.as_ref()),
            eps.iter().map(|s| s.as_ref()),
            serial,
        )?;
        if tx.send(Some(Arc::new(snapshot))).is_err() {
            return Ok(());
        }
        changed.notified().await;
        tokio::time::sleep(SETTLE).await;
        serial = serial.wrapping_add(1);
    }
}

/// A reflector of every `K` in the cluster whose events wake `changed`.
fn reflect<K>(client: kube::Client, changed: Arc<Notify>) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
    K: serde::de::DeserializeOwned,
{
    let (reader, writer) = reflector::store::<K>();
    let events = watcher(Api::<K>::all(client), watcher::Config::default()).default_backoff();
    let stream = reflector::reflector(writer, events);
    tokio::spawn(drive(stream, changed));
    reader
}

async fn drive<S, T, E>(stream: S, changed: Arc<Notify>)
where
    S: Stream<Item = Result<T, E>>,
    E: std::fmt::Display,
{
    futures::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(_) => changed.notify_one(),
            Err(e) => tracing::warn!("cluster DNS watch: {e}"),
        }
    }
}
