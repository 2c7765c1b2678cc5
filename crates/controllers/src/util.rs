//! Helpers shared by the controllers: selectors, owner references, pod state, time, names.

pub mod claim;

use std::collections::BTreeMap;
use std::sync::Arc;

use ferrokube_apimachinery::labels::Selector;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, ObjectMeta, OwnerReference, Time,
};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Resource;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::error::{kube_not_found, Result};

/// The field manager of the controller manager's writes: upstream's component name (which
/// upstream derives from its User-Agent; kube-rs sends none, so we name it explicitly).
pub const FIELD_MANAGER: &str = ferrokube_events::CONTROLLER_MANAGER;

/// Create/replace options recording `manager` in managedFields.
pub fn post_params_as(manager: &str) -> PostParams {
    PostParams {
        field_manager: Some(manager.to_owned()),
        ..Default::default()
    }
}

/// Patch options recording `manager` in managedFields.
pub fn patch_params_as(manager: &str) -> PatchParams {
    PatchParams {
        field_manager: Some(manager.to_owned()),
        ..Default::default()
    }
}

/// Create/replace options of a controller-manager write.
pub fn post_params() -> PostParams {
    post_params_as(FIELD_MANAGER)
}

/// Patch options of a controller-manager write.
pub fn patch_params() -> PatchParams {
    patch_params_as(FIELD_MANAGER)
}

/// Converts a typed `LabelSelector` into an apimachinery selector (absent → nothing).
pub fn selector(sel: Option<&LabelSelector>) -> Result<Selector> {
    match sel {
        None => Ok(Selector::nothing()),
        Some(s) => Ok(Selector::from_label_selector(Some(&serde_json::to_value(
            s,
        )?))?),
    }
}

/// Converts a plain `map[string]string` selector (RC, Service); empty or absent matches
/// nothing for controllers, as upstream refuses to manage "all pods".
pub fn set_selector(sel: Option<&BTreeMap<String, String>>) -> Selector {
    match sel {
        Some(m) if !m.is_empty() => {
            let map = m
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            Selector::from_set(&map)
        }
        _ => Selector::nothing(),
    }
}

/// The labels of an object's metadata, empty when unset.
pub fn labels(meta: &ObjectMeta) -> BTreeMap<String, String> {
    meta.labels.clone().unwrap_or_default()
}

/// Whether a selector matches an object's labels.
pub fn matches(sel: &Selector, meta: &ObjectMeta) -> bool {
    match &meta.labels {
        Some(l) => sel.matches(l),
        None => sel.matches(&BTreeMap::<String, String>::new()),
    }
}

/// The owner reference marked `controller: true`, if any.
pub fn controller_ref(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
}

/// A controller owner reference pointing at `owner` (controller and blockOwnerDeletion set).
pub fn owner_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    let meta = owner.meta();
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// True when `meta` is controlled by the object with `uid`.
pub fn is_controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    controller_ref(meta).is_some_and(|r| r.uid == uid)
}

/// The current time as a k8s `Time`.
pub fn now() -> Time {
    Time(Timestamp::now())
}

/// Seconds since the Unix epoch of a `Time`.
pub fn secs(t: &Time) -> i64 {
    t.0.as_second()
}

/// Seconds since the Unix epoch now.
pub fn now_secs() -> i64 {
    Timestamp::now().as_second()
}

/// A `Time` from Unix seconds (falls back to now on an out-of-range value).
pub fn time_from_secs(s: i64) -> Time {
    Time(Timestamp::from_second(s).unwrap_or_else(|_| Timestamp::now()))
}

/// Whether the object is being deleted.
pub fn is_deleting(meta: &ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some()
}

/// Pod phase, `Pending` when unset.
pub fn pod_phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

/// Upstream `IsPodActive`: not terminated and not being deleted.
pub fn is_pod_active(pod: &Pod) -> bool {
    let phase = pod_phase(pod);
    phase != "Succeeded" && phase != "Failed" && !is_deleting(&pod.metadata)
}

/// The status of a pod condition by type.
pub fn pod_condition<'a>(
    pod: &'a Pod,
    ty: &str,
) -> Option<&'a k8s_openapi::api::core::v1::PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == ty)
}

/// Whether the pod's `Ready` condition is `True`.
pub fn is_pod_ready(pod: &Pod) -> bool {
    pod_condition(pod, "Ready").is_some_and(|c| c.status == "True")
}

/// Upstream `IsPodAvailable`: ready for at least `min_ready_seconds` at `now`.
pub fn is_pod_available(pod: &Pod, min_ready_seconds: i32, now: i64) -> bool {
    let Some(c) = pod_condition(pod, "Ready").filter(|c| c.status == "True") else {
        return false;
    };
    if min_ready_seconds <= 0 {
        return true;
    }
    match &c.last_transition_time {
        Some(t) => secs(t) + i64::from(min_ready_seconds) <= now,
        None => false,
    }
}

/// 32-bit FNV-1a, the hash upstream uses for pod-template-hash and controller revisions.
pub fn fnv32a(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in data {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Upstream `rand.SafeEncodeString`: maps digits to a vowel-free alphabet so hashes never
/// spell words.
pub fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

/// Upstream `ComputeHash`: fnv32a over the template (plus collision count), safe-encoded.
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut bytes = serde_json::to_vec(template).unwrap_or_default();
    if let Some(c) = collision_count {
        bytes.extend_from_slice(c.to_string().as_bytes());
    }
    safe_encode(&fnv32a(&bytes).to_string())
}

/// Builds a pod from a template, owned by `owner`, named with `generate_name` prefix.
pub fn pod_from_template(
    template: &PodTemplateSpec,
    namespace: &str,
    generate_name: &str,
    owner: OwnerReference,
) -> Pod {
    let tmeta = template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: tmeta.labels,
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

/// Upstream's generateName prefix for pods of a controller: `<name>-`, trimmed so the
/// generated name stays a valid DNS subdomain.
pub fn pod_prefix(name: &str) -> String {
    let mut p = format!("{name}-");
    if p.len() > 58 {
        p.truncate(57);
        p.push('-');
    }
    p
}

/// Events a forwarded watch may queue before its decoder waits for the consumer.
const FORWARD_BUFFER: usize = 4096;

/// Drops `managedFields` from a watched object, as kube-controller-manager's and
/// kube-scheduler's informers do (their `TrimManagedFields` transform): no controller reads
/// them, and they are the largest part of most objects to keep and to clone.
pub fn trim_managed_fields<K: Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
}

/// Runs a watcher (with the default back-off) on its own task and forwards its events over a
/// bounded channel, so decoding happens off the consumer's task. Errors are retried by the
/// back-off and not forwarded; the channel closes on `shutdown`.
pub fn forward_watch<K>(
    api: Api<K>,
    shutdown: CancellationToken,
) -> tokio::sync::mpsc::Receiver<watcher::Event<K>>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    use futures::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::channel(FORWARD_BUFFER);
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(trim_managed_fields);
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        loop {
            let ev = tokio::select! {
                _ = shutdown.cancelled() => break,
                ev = stream.next() => ev,
            };
            match ev {
                None => break,
                Some(Err(e)) => tracing::debug!(error = %e, "watch error"),
                Some(Ok(ev)) => {
                    if tx.send(ev).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// Spawns a watcher feeding a reflector store; `notify` wakes on every event. The store is
/// returned at once; callers wait with `wait_until_ready` when they need the initial list.
pub fn spawn_store<K>(
    api: Api<K>,
    config: watcher::Config,
    notify: Option<Arc<Notify>>,
    shutdown: CancellationToken,
) -> Store<K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    use futures::StreamExt;
    let (reader, writer) = reflector::store();
    let stream = watcher(api, config)
        .default_backoff()
        .modify(trim_managed_fields)
        .reflect(writer)
        .touched_objects();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                ev = stream.next() => match ev {
                    None => break,
                    Some(Err(e)) => tracing::debug!(error = %e, "watch error"),
                    Some(Ok(_)) => {
                        if let Some(n) = &notify { n.notify_one(); }
                    }
                }
            }
        }
    });
    reader
}

/// Deletes an object, treating 404 as success.
pub async fn delete_ignore_missing<K>(api: &Api<K>, name: &str, dp: &DeleteParams) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, dp).await {
        Ok(_) => Ok(()),
        Err(e) if kube_not_found(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Merge-patches the status subresource with `status`.
pub async fn patch_status<K>(api: &Api<K>, name: &str, status: Value) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    match api
        .patch_status(
            name,
            &patch_params(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if kube_not_found(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Merge-patches an object (not its status).
pub async fn patch_merge<K>(api: &Api<K>, name: &str, patch: Value) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    api.patch(name, &patch_params(), &Patch::Merge(patch))
        .await?;
    Ok(())
}

/// Creates an object with default params.
pub async fn create<K>(api: &Api<K>, obj: &K) -> Result<K>
where
    K: Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    Ok(api.create(&post_params(), obj).await?)
}

/// Requeue delay after a failed reconcile.
pub const ERROR_REQUEUE: std::time::Duration = std::time::Duration::from_secs(5);

/// Standard error policy: log and retry shortly (upstream's rate-limited requeue).
pub fn on_error<K>(
    _obj: Arc<K>,
    err: &crate::error::Error,
    _ctx: Arc<crate::Context>,
) -> kube::runtime::controller::Action {
    tracing::debug!(error = %err, "reconcile failed; requeueing");
    kube::runtime::controller::Action::requeue(ERROR_REQUEUE)
}

/// Drains a controller's result stream until it ends, logging failures.
pub async fn drain<S, T, E>(name: &str, stream: S)
where
    S: futures::Stream<Item = std::result::Result<T, E>>,
    E: std::fmt::Display,
{
    use futures::StreamExt;
    let mut stream = std::pin::pin!(stream);
    while let Some(r) = stream.next().await {
        if let Err(e) = r {
            tracing::trace!(controller = name, error = %e, "reconcile error");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference_vectors() {
        assert_eq!(fnv32a(b""), 0x811c_9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c_292c);
        assert_eq!(fnv32a(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn safe_encode_avoids_vowels() {
        let s = safe_encode("0123456789");
        assert!(s.chars().all(|c| !"aeiou".contains(c)));
        assert_eq!(s.len(), 10);
    }

    #[test]
    fn availability_honours_min_ready_seconds() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "status": {"conditions": [{"type": "Ready", "status": "True",
                "lastTransitionTime": "2024-01-01T00:00:00Z"}]}
        }))
        .unwrap();
        let t0 = 1_704_067_200;
        assert!(is_pod_available(&pod, 0, t0));
        assert!(!is_pod_available(&pod, 10, t0 + 5));
        assert!(is_pod_available(&pod, 10, t0 + 10));
    }

    #[test]
    fn rc_style_selector_empty_matches_nothing() {
        assert!(!set_selector(None).matches(&BTreeMap::<String, String>::new()));
        let mut m = BTreeMap::new();
        m.insert("app".to_owned(), "web".to_owned());
        assert!(set_selector(Some(&m)).matches(&m));
    }

    #[test]
    fn prefix_is_bounded() {
        assert_eq!(pod_prefix("web"), "web-");
        assert!(pod_prefix(&"x".repeat(80)).len() <= 58);
    }
}
