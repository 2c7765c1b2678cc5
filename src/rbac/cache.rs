//! The authorizer's view of the RBAC objects: one [`Policy`] snapshot behind an `Arc`, replaced
//! after each batch of RBAC events from the store's watch (upstream's informer-fed rule
//! resolver). A request reads the snapshot without locking the store.
//!
//! A write acknowledged to a client has already been broadcast to our watch, but the task that
//! applies it may not have run yet. So a denial, before it is final, asks the task to catch up
//! to the store's revision at that moment and decides again: a client that creates a
//! RoleBinding and uses it in its next request is never refused by a stale snapshot. Allowed
//! requests never wait.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use ferrokube_auth::rbac::{node, Decision, Policy, RequestInfo};
use ferrokube_auth::UserInfo;
use ferrokube_store::{Event, EventKind, RangeRequest, Revision, Store};
use futures::{FutureExt, StreamExt};
use tokio::sync::{watch, Notify};

/// Store key prefix of the four RBAC kinds.
const PREFIX: &str = "/rbac.authorization.k8s.io/";
/// How long a denial waits for the index to catch up with the store.
const CATCH_UP: Duration = Duration::from_millis(500);
/// Pause before re-listing after the watch broke.
const RELIST_DELAY: Duration = Duration::from_millis(200);

/// The RBAC authorizer over an index kept current from the store.
pub struct Authorizer {
    policy: RwLock<Arc<Policy>>,
    /// The store revision the index is known to reflect.
    synced: watch::Sender<Revision>,
    /// Asks the index task to drain its queue and report how far it got.
    poke: Notify,
    /// Wakes the aggregation writer after ClusterRoles changed.
    pub(crate) cluster_roles_changed: Notify,
    /// What each node's pods reference, for the Node authorizer.
    nodes: Arc<super::node_graph::NodeGraphIndex>,
}

impl Authorizer {
    /// Loads every RBAC object and keeps the index current in the background.
    pub async fn start(store: Store) -> anyhow::Result<Arc<Authorizer>> {
        let (policy, revision) = load(&store).await?;
        let (synced, _) = watch::channel(revision);
        let authz = Arc::new(Authorizer {
            policy: RwLock::new(Arc::new(policy)),
            synced,
            poke: Notify::new(),
            cluster_roles_changed: Notify::new(),
            nodes: super::node_graph::NodeGraphIndex::start(store.clone()).await?,
        });
        tokio::spawn(run(authz.clone(), store, revision));
        Ok(authz)
    }

    /// An authorizer over a fixed policy (tests, benchmarks).
    pub fn fixed(policy: Policy) -> Arc<Authorizer> {
        let (synced, _) = watch::channel(Revision::MAX);
        Arc::new(Authorizer {
            policy: RwLock::new(Arc::new(policy)),
            synced,
            poke: Notify::new(),
            cluster_roles_changed: Notify::new(),
            nodes: super::node_graph::NodeGraphIndex::empty(),
        })
    }

    /// The current snapshot.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Decides a request; a denial is final only once the index reflects every write the store
    /// had applied when the request was decided (see the module comment).
    pub async fn authorize(&self, store: &Store, user: &UserInfo, info: &RequestInfo) -> Decision {
        self.authorize_explained(store, user, info).await.0
    }

    /// [`Authorizer::authorize`] with the reason of a refusal (the Node authorizer's), which
    /// upstream appends to the 403 message.
    pub async fn authorize_explained(
        &self,
        store: &Store,
        user: &UserInfo,
        info: &RequestInfo,
    ) -> (Decision, String) {
        let decided = self.decide(user, info);
        if decided.0.is_allowed() {
            return decided;
        }
        let target = store.current_revision();
        let mut waited = self.catch_up(target).await;
        if node::node_identity(user).is_some() {
            waited |= self.nodes.catch_up(target).await;
        }
        if waited {
            return self.decide(user, info);
        }
        decided
    }

    /// kube-apiserver's chain: `system:masters`, the Node authorizer, RBAC.
    fn decide(&self, user: &UserInfo, info: &RequestInfo) -> (Decision, String) {
        let policy = self.policy();
        let mut reason = String::new();
        if let Some(name) = node::node_identity(user) {
            let (decision, why) = self.nodes.with(|g| node::authorize(name, info, g));
            if decision.is_allowed() {
                return (decision, why);
            }
            reason = why;
        }
        (policy.authorize(user, info), reason)
    }

    /// Waits (bounded) until the index reflects `target`; true when it had to wait and got
    /// there, so a decision is worth making again.
    pub async fn catch_up(&self, target: Revision) -> bool {
        let mut rx = self.synced.subscribe();
        if *rx.borrow() >= target {
            return false;
        }
        self.poke.notify_one();
        tokio::time::timeout(CATCH_UP, rx.wait_for(|r| *r >= target))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    fn publish(&self, policy: Policy) {
        *self.policy.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(policy);
    }
}

/// Reads every RBAC object into a fresh policy; returns it with the revision it reflects.
async fn load(store: &Store) -> anyhow::Result<(Policy, Revision)> {
    let page = store
        .range(RangeRequest {
            prefix: PREFIX.into(),
            start: String::new(),
            limit: 0,
            revision: 0,
        })
        .await?;
    let mut policy = Policy::new();
    let mut roles = Vec::new();
    for kv in &page.items {
        match resource_of(&kv.key) {
            // ClusterRoles last and at once: aggregation is recomputed per put.
            Some("clusterroles") => roles.extend(serde_json::from_slice(&kv.value).ok()),
            _ => apply_put(&mut policy, &kv.key, &kv.value),
        }
    }
    policy.put_cluster_roles(roles);
    Ok((policy, page.revision))
}

/// `/rbac.authorization.k8s.io/<resource>/<ns or _>/<name>` → (resource, namespace, name).
fn parse_key(key: &str) -> Option<(&str, &str, &str)> {
    let mut parts = key.strip_prefix(PREFIX)?.splitn(3, '/');
    let resource = parts.next()?;
    let ns = parts.next()?;
    let name = parts.next()?;
    Some((resource, if ns == "_" { "" } else { ns }, name))
}

fn resource_of(key: &str) -> Option<&str> {
    parse_key(key).map(|(r, _, _)| r)
}

fn apply_put(policy: &mut Policy, key: &str, value: &[u8]) {
    let put = match resource_of(key) {
        Some("roles") => serde_json::from_slice(value).map(|r| policy.put_role(r)),
        Some("rolebindings") => serde_json::from_slice(value).map(|b| policy.put_role_binding(b)),
        Some("clusterroles") => serde_json::from_slice(value).map(|r| policy.put_cluster_role(r)),
        Some("clusterrolebindings") => {
            serde_json::from_slice(value).map(|b| policy.put_cluster_role_binding(b))
        }
        _ => Ok(()),
    };
    if let Err(e) = put {
        tracing::warn!(%key, error = %e, "ignoring an RBAC object the authorizer cannot read");
    }
}

fn apply_event(policy: &mut Policy, event: &Event) {
    if event.kind != EventKind::Deleted {
        apply_put(policy, &event.key, &event.value);
        return;
    }
    match parse_key(&event.key) {
        Some(("roles", ns, name)) => policy.remove_role(ns, name),
        Some(("rolebindings", ns, name)) => policy.remove_role_binding(ns, name),
        Some(("clusterroles", _, name)) => policy.remove_cluster_role(name),
        Some(("clusterrolebindings", _, name)) => policy.remove_cluster_role_binding(name),
        _ => {}
    }
}

/// Applies watch events in batches; re-lists whenever the watch breaks (too slow, compacted).
async fn run(authz: Arc<Authorizer>, store: Store, mut from: Revision) {
    loop {
        let mut events = match store.watch(PREFIX, from) {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "RBAC watch failed; re-listing");
                tokio::time::sleep(RELIST_DELAY).await;
                match load(&store).await {
                    Ok((policy, revision)) => {
                        authz.publish(policy);
                        authz.cluster_roles_changed.notify_one();
                        from = revision;
                        authz.synced.send_modify(|r| *r = (*r).max(revision));
                    }
                    Err(e) => tracing::warn!(error = %e, "re-listing RBAC objects"),
                }
                continue;
            }
        };
        loop {
            let first = tokio::select! {
                event = events.next() => match event {
                    Some(Ok(event)) => Some(event),
                    _ => break,
                },
                _ = authz.poke.notified() => None,
            };
            // Everything broadcast up to this revision is queued: drain it, then report it.
            let reached = store.current_revision();
            let mut batch: Vec<Arc<Event>> = first.into_iter().collect();
            let mut broken = false;
            while let Some(next) = events.next().now_or_never() {
                match next {
                    Some(Ok(event)) => batch.push(event),
                    _ => {
                        broken = true;
                        break;
                    }
                }
            }
            if !batch.is_empty() {
                let mut policy = (*authz.policy()).clone();
                let mut roles_changed = false;
                for event in &batch {
                    from = from.max(event.revision);
                    roles_changed |= resource_of(&event.key) == Some("clusterroles");
                    apply_event(&mut policy, event);
                }
                authz.publish(policy);
                if roles_changed {
                    authz.cluster_roles_changed.notify_one();
                }
            }
            if broken {
                break;
            }
            authz.synced.send_modify(|r| *r = (*r).max(reached));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn event(kind: EventKind, key: &str, value: serde_json::Value) -> Event {
        Event {
            kind,
            key: key.into(),
            revision: 1,
            value: Bytes::from(serde_json::to_vec(&value).unwrap()),
            prev: None,
        }
    }

    #[test]
    fn keys_name_resource_namespace_and_name() {
        assert_eq!(
            parse_key("/rbac.authorization.k8s.io/rolebindings/dev/ci"),
            Some(("rolebindings", "dev", "ci"))
        );
        assert_eq!(
            parse_key("/rbac.authorization.k8s.io/clusterroles/_/system:node"),
            Some(("clusterroles", "", "system:node"))
        );
        assert_eq!(parse_key("/core/pods/dev/p"), None);
    }

    #[test]
    fn events_put_and_remove_bindings() {
        let mut policy = Policy::new();
        policy.put_cluster_roles(ferrokube_auth::rbac::bootstrap::cluster_roles());
        let user = UserInfo {
            name: "jane".into(),
            groups: vec!["system:authenticated".into()],
            ..UserInfo::default()
        };
        let info = RequestInfo::from_request("GET", "/api/v1/namespaces/dev/pods", None);
        let key = "/rbac.authorization.k8s.io/rolebindings/dev/jane";
        let binding = serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "jane", "namespace": "dev"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "jane"}],
        });
        apply_event(&mut policy, &event(EventKind::Added, key, binding.clone()));
        assert!(policy.authorize(&user, &info).is_allowed());
        apply_event(&mut policy, &event(EventKind::Deleted, key, binding));
        assert!(!policy.authorize(&user, &info).is_allowed());
    }
}
