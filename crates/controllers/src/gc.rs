//! Garbage collector (upstream `garbagecollector`): keeps a metadata view of every
//! deletable resource, then periodically
//! - deletes dependents whose owners are all gone (verified with a live GET),
//! - drops dangling owner references when some owners remain,
//! - for owners being deleted in the foreground, deletes their dependents and removes the
//!   `foregroundDeletion` finalizer once no blocking dependent remains,
//! - for owners deleted with `orphan`, strips their references from dependents and removes
//!   the `orphan` finalizer.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, PartialObjectMeta, Patch};
use kube::discovery::{verbs, Discovery, Scope};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::error::{kube_not_found, Result};
use crate::leader::sleep_or_cancel;
use crate::Context;

/// Finalizer for foreground cascading deletion.
pub const FOREGROUND: &str = "foregroundDeletion";
/// Finalizer for orphaning deletion.
pub const ORPHAN: &str = "orphan";
const RESYNC: Duration = Duration::from_secs(1);

// Metadata only, as upstream's GC uses metadata informers: the graph needs nothing else,
// and decoding whole pods for every change of every object is most of the GC's cost.
type Meta = PartialObjectMeta<DynamicObject>;

struct Watched {
    ar: ApiResource,
    namespaced: bool,
    store: Store<Meta>,
}

/// One object as the GC sees it.
#[derive(Debug, Clone)]
pub struct Node {
    /// Index into the watched resources.
    pub kind: usize,
    /// Namespace, if namespaced.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// Owner references.
    pub owners: Vec<OwnerReference>,
    /// Whether a deletion timestamp is set.
    pub deleting: bool,
    /// Finalizers.
    pub finalizers: Vec<String>,
}

/// Runs the garbage collector until `token` is cancelled.
pub async fn run(ctx: Context, token: CancellationToken) {
    let watched = loop {
        match discover(&ctx.client, &token).await {
            Ok(w) => break w,
            Err(e) => {
                tracing::debug!(error = %e, "gc discovery failed");
                sleep_or_cancel(Duration::from_secs(2), &token).await;
                if token.is_cancelled() {
                    return;
                }
            }
        }
    };
    while !token.is_cancelled() {
        // A sweep walks every object: skip it while nothing has changed (a failed sweep, or
        // one that acted, is retried on the next round).
        if watched.changed.swap(false, Ordering::AcqRel) {
            match sweep(&ctx.client, &watched.kinds).await {
                Ok(true) => watched.changed.store(true, Ordering::Release),
                Ok(false) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "gc sweep failed");
                    watched.changed.store(true, Ordering::Release);
                }
            }
        }
        sleep_or_cancel(RESYNC, &token).await;
    }
}

/// The watched kinds and a flag raised by any event on any of them.
struct Graph {
    kinds: Vec<Watched>,
    changed: Arc<AtomicBool>,
}

async fn discover(client: &Client, token: &CancellationToken) -> Result<Graph> {
    let discovery = Discovery::new(client.clone()).run().await?;
    let changed = Arc::new(AtomicBool::new(true));
    let mut out = Vec::new();
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            if !caps.supports_operation(verbs::WATCH)
                || !caps.supports_operation(verbs::DELETE)
                || ar.plural == "events"
            {
                continue;
            }
            // `Api<PartialObjectMeta<_>>` lists and watches with `as=PartialObjectMetadata`.
            let api: Api<Meta> = Api::all_with(client.clone(), &ar);
            let writer = reflector::store::Writer::<Meta>::new(ar.clone());
            let store = writer.as_reader();
            let stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .modify(crate::util::trim_managed_fields)
                .reflect(writer);
            let (t, changed) = (token.clone(), changed.clone());
            tokio::spawn(async move {
                let mut stream = std::pin::pin!(stream);
                let mut seen = Fingerprints::default();
                loop {
                    tokio::select! {
                        _ = t.cancelled() => break,
                        ev = stream.next() => match ev {
                            None => break,
                            Some(Ok(ev)) => if seen.relevant(&ev) {
                                changed.store(true, Ordering::Release);
                            },
                            Some(Err(_)) => {}
                        },
                    }
                }
            });
            out.push(Watched {
                namespaced: caps.scope == Scope::Namespaced,
                ar,
                store,
            });
        }
    }
    Ok(Graph {
        kinds: out,
        changed,
    })
}

/// What the GC last saw of each object of one kind: a hash of the fields a sweep decides on
/// (owner references, deletion, finalizers). Most writes (status updates, lease renewals)
/// change none of them and so need no sweep.
#[derive(Default)]
struct Fingerprints(HashMap<String, u64>);

impl Fingerprints {
    /// Records the event; whether it can change what a sweep does.
    fn relevant(&mut self, ev: &watcher::Event<Meta>) -> bool {
        match ev {
            watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
                let uid = o.metadata.uid.clone().unwrap_or_default();
                let print = fingerprint(o);
                self.0.insert(uid, print) != Some(print)
            }
            watcher::Event::Delete(o) => {
                self.0.remove(o.metadata.uid.as_deref().unwrap_or_default());
                true
            }
            watcher::Event::Init => {
                // A relist: forget objects that may have vanished meanwhile.
                self.0.clear();
                false
            }
            watcher::Event::InitDone => true,
        }
    }
}

fn fingerprint(o: &Meta) -> u64 {
    use std::hash::{Hash, Hasher};
    let m = &o.metadata;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    m.deletion_timestamp.is_some().hash(&mut h);
    m.finalizers.hash(&mut h);
    for r in m.owner_references.iter().flatten() {
        (&r.uid, &r.kind, &r.api_version, &r.name).hash(&mut h);
        (r.controller, r.block_owner_deletion).hash(&mut h);
    }
    h.finish()
}

fn api_for(client: &Client, w: &Watched, ns: Option<&str>) -> Api<DynamicObject> {
    match (w.namespaced, ns) {
        (true, Some(ns)) => Api::namespaced_with(client.clone(), ns, &w.ar),
        _ => Api::all_with(client.clone(), &w.ar),
    }
}

/// Builds the uid-indexed graph from the stores.
fn snapshot(watched: &[Watched]) -> HashMap<String, Node> {
    let mut m = HashMap::new();
    for (i, w) in watched.iter().enumerate() {
        for o in w.store.state() {
            let Some(uid) = o.metadata.uid.clone() else {
                continue;
            };
            m.insert(
                uid,
                Node {
                    kind: i,
                    namespace: o.metadata.namespace.clone(),
                    name: o.name_any(),
                    owners: o.metadata.owner_references.clone().unwrap_or_default(),
                    deleting: o.metadata.deletion_timestamp.is_some(),
                    finalizers: o.metadata.finalizers.clone().unwrap_or_default(),
                },
            );
        }
    }
    m
}

/// What to do with a dependent given which of its owners still exist.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Leave it.
    Keep,
    /// Delete it with this propagation policy.
    Delete(&'static str),
    /// Remove these owner uids from its references.
    DropRefs(Vec<String>),
}

/// Decides a dependent's fate (pure; `owners` maps uid -> owner node when it exists), as
/// upstream's attemptToDeleteItem: owners are *solid* (alive, or being orphaned, which strips
/// its own references), *dangling* (gone) or *waiting* (deleting in the foreground).
pub fn judge(dep: &Node, owners: &HashMap<String, Node>) -> Verdict {
    if dep.deleting || dep.owners.is_empty() {
        return Verdict::Keep;
    }
    let mut gone = Vec::new();
    let mut orphaning = Vec::new();
    let mut waiting = Vec::new();
    for r in &dep.owners {
        match owners.get(&r.uid) {
            None => gone.push(r.uid.clone()),
            Some(o) if o.deleting && o.finalizers.iter().any(|f| f == ORPHAN) => {
                orphaning.push(r.uid.clone())
            }
            Some(o) if o.deleting && o.finalizers.iter().any(|f| f == FOREGROUND) => {
                waiting.push(r.uid.clone())
            }
            Some(_) => {}
        }
    }
    let solid = dep.owners.len() - gone.len() - orphaning.len() - waiting.len();
    if solid == 0 && orphaning.is_empty() {
        if !waiting.is_empty() {
            return Verdict::Delete("Foreground");
        }
        return Verdict::Delete("Background");
    }
    // A dependent that keeps a valid owner stays; references to owners waiting for their
    // dependents go too, or those owners would wait for it forever.
    let mut drop = gone;
    drop.extend(orphaning);
    if solid > 0 {
        drop.extend(waiting);
    }
    if drop.is_empty() {
        Verdict::Keep
    } else {
        Verdict::DropRefs(drop)
    }
}

/// Whether one of `uid`'s dependents is itself waiting in the foreground for its own
/// dependents: deleting `uid` in the foreground too could close a circle of owners each
/// waiting for the next (upstream's attemptToDeleteItem cycle check).
fn feeds_a_foreground_deletion(
    uid: &str,
    referenced: &HashMap<String, Vec<(String, bool)>>,
    graph: &HashMap<String, Node>,
) -> bool {
    referenced.get(uid).into_iter().flatten().any(|(dep, _)| {
        graph
            .get(dep)
            .is_some_and(|d| d.deleting && d.finalizers.iter().any(|f| f == FOREGROUND))
    })
}

/// Makes every owner reference of `dep` non-blocking, so its owners' foreground deletions no
/// longer wait for it (upstream's unblockOwnerReferences before a cycle can close).
async fn unblock_owner_references(api: &Api<DynamicObject>, dep: &Node, uid: &str) {
    let refs: Vec<OwnerReference> = dep
        .owners
        .iter()
        .cloned()
        .map(|mut r| {
            if r.block_owner_deletion == Some(true) {
                r.block_owner_deletion = Some(false);
            }
            r
        })
        .collect();
    let patch = json!({"metadata": {"ownerReferences": refs, "uid": uid}});
    if let Err(e) = api
        .patch(
            &dep.name,
            &crate::util::patch_params(),
            &Patch::Merge(patch),
        )
        .await
    {
        tracing::warn!(error = %e, name = %dep.name, "unblocking owner references failed");
    }
}

async fn owner_really_gone(
    client: &Client,
    watched: &[Watched],
    dep: &Node,
    r: &OwnerReference,
) -> bool {
    let (group, version) = match r.api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", r.api_version.as_str()),
    };
    let Some(w) = watched
        .iter()
        .find(|w| w.ar.kind == r.kind && w.ar.group == group && w.ar.version == version)
        .or_else(|| {
            watched
                .iter()
                .find(|w| w.ar.kind == r.kind && w.ar.group == group)
        })
    else {
        // An unknown kind can never be found: upstream treats the owner as absent.
        return true;
    };
    match api_for(client, w, dep.namespace.as_deref())
        .get_opt(&r.name)
        .await
    {
        Ok(None) => true,
        Ok(Some(o)) => o.metadata.uid.as_deref() != Some(r.uid.as_str()),
        Err(e) => kube_not_found(&e),
    }
}

/// One pass over the graph; returns whether it wrote anything (so the next round looks again
/// even if no watch event arrives, e.g. after a write the API refused).
async fn sweep(client: &Client, watched: &[Watched]) -> Result<bool> {
    let mut acted = false;
    let graph = snapshot(watched);
    let mut referenced: HashMap<String, Vec<(String, bool)>> = HashMap::new();
    for (uid, n) in &graph {
        for r in &n.owners {
            referenced
                .entry(r.uid.clone())
                .or_default()
                .push((uid.clone(), r.block_owner_deletion == Some(true)));
        }
    }
    for (uid, dep) in &graph {
        let verdict = judge(dep, &graph);
        let w = &watched[dep.kind];
        let api = api_for(client, w, dep.namespace.as_deref());
        match verdict {
            Verdict::Keep => {}
            Verdict::Delete(policy) => {
                // The store may lag: confirm absent owners with the API first.
                let mut confirmed = true;
                for r in dep.owners.iter().filter(|r| !graph.contains_key(&r.uid)) {
                    if !owner_really_gone(client, watched, dep, r).await {
                        confirmed = false;
                    }
                }
                if confirmed {
                    acted = true;
                    if policy == "Foreground"
                        && feeds_a_foreground_deletion(uid, &referenced, &graph)
                    {
                        unblock_owner_references(&api, dep, uid).await;
                    }
                    let dp = DeleteParams {
                        propagation_policy: Some(if policy == "Foreground" {
                            kube::api::PropagationPolicy::Foreground
                        } else {
                            kube::api::PropagationPolicy::Background
                        }),
                        preconditions: Some(kube::api::Preconditions {
                            uid: Some(uid.clone()),
                            resource_version: None,
                        }),
                        ..Default::default()
                    };
                    match api.delete(&dep.name, &dp).await {
                        Ok(_) => {}
                        Err(e) if kube_not_found(&e) => {}
                        Err(e) => tracing::debug!(error = %e, name = %dep.name, "gc delete failed"),
                    }
                }
            }
            Verdict::DropRefs(uids) => {
                let mut drop: HashSet<String> = HashSet::new();
                for r in dep.owners.iter().filter(|r| uids.contains(&r.uid)) {
                    // Present owners (orphaning, or waiting in the foreground) are dropped as
                    // judged; absent ones only once the API confirms they are gone.
                    let present = graph.contains_key(&r.uid);
                    if present || owner_really_gone(client, watched, dep, r).await {
                        drop.insert(r.uid.clone());
                    }
                }
                if !drop.is_empty() {
                    acted = true;
                    let keep: Vec<&OwnerReference> = dep
                        .owners
                        .iter()
                        .filter(|r| !drop.contains(&r.uid))
                        .collect();
                    let _ = api
                        .patch(
                            &dep.name,
                            &crate::util::patch_params(),
                            &Patch::Merge(
                                json!({"metadata": {"ownerReferences": keep, "uid": uid}}),
                            ),
                        )
                        .await;
                }
            }
        }
    }
    // Owners waiting on their finalizers.
    for (uid, owner) in graph.iter().filter(|(_, n)| n.deleting) {
        let deps = referenced.get(uid).map(Vec::as_slice).unwrap_or(&[]);
        let mut remove = Vec::new();
        if owner.finalizers.iter().any(|f| f == ORPHAN) && deps.is_empty() {
            remove.push(ORPHAN);
        }
        if owner.finalizers.iter().any(|f| f == FOREGROUND) && !deps.iter().any(|(_, block)| *block)
        {
            remove.push(FOREGROUND);
        }
        if remove.is_empty() {
            continue;
        }
        acted = true;
        let left: Vec<&String> = owner
            .finalizers
            .iter()
            .filter(|f| !remove.contains(&f.as_str()))
            .collect();
        let api = api_for(client, &watched[owner.kind], owner.namespace.as_deref());
        let _ = api
            .patch(
                &owner.name,
                &crate::util::patch_params(),
                &Patch::Merge(json!({"metadata": {"finalizers": left, "uid": uid}})),
            )
            .await;
    }
    Ok(acted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, owners: &[&str], deleting: bool, finalizers: &[&str]) -> Node {
        Node {
            kind: 0,
            namespace: Some("default".into()),
            name: name.into(),
            owners: owners
                .iter()
                .map(|u| OwnerReference {
                    uid: (*u).into(),
                    name: (*u).into(),
                    kind: "ReplicaSet".into(),
                    api_version: "apps/v1".into(),
                    block_owner_deletion: Some(true),
                    controller: Some(true),
                })
                .collect(),
            deleting,
            finalizers: finalizers.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn dependents_of_gone_owners_are_deleted() {
        let graph = HashMap::new();
        assert_eq!(
            judge(&node("p", &["rs"], false, &[]), &graph),
            Verdict::Delete("Background")
        );
        assert_eq!(judge(&node("p", &[], false, &[]), &graph), Verdict::Keep);
    }

    #[test]
    fn partial_owner_loss_drops_reference() {
        let graph = HashMap::from([("a".to_owned(), node("a", &[], false, &[]))]);
        assert_eq!(
            judge(&node("p", &["a", "b"], false, &[]), &graph),
            Verdict::DropRefs(vec!["b".into()])
        );
    }

    #[test]
    fn orphan_and_foreground_finalizers() {
        let orphaning = HashMap::from([("rs".to_owned(), node("rs", &[], true, &[ORPHAN]))]);
        assert_eq!(
            judge(&node("p", &["rs"], false, &[]), &orphaning),
            Verdict::DropRefs(vec!["rs".into()])
        );
        let fg = HashMap::from([("rs".to_owned(), node("rs", &[], true, &[FOREGROUND]))]);
        assert_eq!(
            judge(&node("p", &["rs"], false, &[]), &fg),
            Verdict::Delete("Foreground")
        );
        let alive = HashMap::from([("rs".to_owned(), node("rs", &[], false, &[]))]);
        assert_eq!(
            judge(&node("p", &["rs"], false, &[]), &alive),
            Verdict::Keep
        );
    }

    #[test]
    fn a_valid_owner_keeps_the_dependent_and_releases_the_waiting_one() {
        let graph = HashMap::from([
            ("rc1".to_owned(), node("rc1", &[], true, &[FOREGROUND])),
            ("rc2".to_owned(), node("rc2", &[], false, &[])),
        ]);
        assert_eq!(
            judge(&node("p", &["rc1", "rc2"], false, &[]), &graph),
            Verdict::DropRefs(vec!["rc1".into()])
        );
        // Only owners waiting in the foreground (or gone): deleted in the foreground.
        assert_eq!(
            judge(&node("p", &["rc1", "gone"], false, &[]), &graph),
            Verdict::Delete("Foreground")
        );
    }

    #[test]
    fn a_dependent_waiting_in_the_foreground_signals_a_circle() {
        // c1 (deleting in the foreground) is owned by c3; c3 is the dependent being judged.
        let graph = HashMap::from([
            ("c1".to_owned(), node("c1", &["c3"], true, &[FOREGROUND])),
            ("c3".to_owned(), node("c3", &["c2"], false, &[])),
        ]);
        let referenced = HashMap::from([("c3".to_owned(), vec![("c1".to_owned(), true)])]);
        assert!(feeds_a_foreground_deletion("c3", &referenced, &graph));
        let calm = HashMap::from([
            ("c1".to_owned(), node("c1", &["c3"], false, &[])),
            ("c3".to_owned(), node("c3", &["c2"], false, &[])),
        ]);
        assert!(!feeds_a_foreground_deletion("c3", &referenced, &calm));
    }
}
