//! The Node authorizer's graph (upstream's `node.Graph` fed by its graph populator): which
//! pods are bound to which node and what each references (secrets, configmaps, claims, its
//! service account), and which volume each claim is bound to. Kept current from the store's
//! watch of pods and claims; a denial first lets the index catch up with the store, as the
//! RBAC index does (a kubelet reads a pod's secret right after the pod was bound to it).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ferrokube_auth::rbac::node::{NodeGraph, Vertex};
use ferrokube_store::{Event, EventKind, RangeRequest, Revision, Store};
use futures::{FutureExt, StreamExt};
use serde_json::Value;
use tokio::sync::{watch, Notify};

/// One prefix covers pods, persistentvolumeclaims (and the few podtemplates/PVs we skip).
const PREFIX: &str = "/core/p";
const PODS: &str = "/core/pods/";
const CLAIMS: &str = "/core/persistentvolumeclaims/";
/// How long a denial waits for the index to catch up with the store.
const CATCH_UP: Duration = Duration::from_millis(500);
/// Pause before re-listing after the watch broke.
const RELIST_DELAY: Duration = Duration::from_millis(200);

type Key = (String, String);

/// What one pod bound to a node references.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PodRefs {
    /// `spec.nodeName`.
    pub node: String,
    /// Secrets (volumes, projected sources, env, envFrom, imagePullSecrets).
    pub secrets: BTreeSet<String>,
    /// ConfigMaps (volumes, projected sources, env, envFrom).
    pub configmaps: BTreeSet<String>,
    /// Claims (persistentVolumeClaim volumes and the claims of ephemeral volumes).
    pub claims: BTreeSet<String>,
    /// The pod's service account.
    pub service_account: String,
}

/// The relationships, indexed by node.
#[derive(Debug, Default)]
pub struct Graph {
    pods: HashMap<Key, PodRefs>,
    by_node: HashMap<String, BTreeSet<Key>>,
    claim_volumes: HashMap<Key, String>,
}

impl Graph {
    fn put_pod(&mut self, key: Key, refs: Option<PodRefs>) {
        self.remove_pod(&key);
        let Some(refs) = refs else { return };
        self.by_node
            .entry(refs.node.clone())
            .or_default()
            .insert(key.clone());
        self.pods.insert(key, refs);
    }

    fn remove_pod(&mut self, key: &Key) {
        let Some(old) = self.pods.remove(key) else {
            return;
        };
        if let Some(set) = self.by_node.get_mut(&old.node) {
            set.remove(key);
            if set.is_empty() {
                self.by_node.remove(&old.node);
            }
        }
    }

    fn put_claim(&mut self, key: Key, volume: Option<String>) {
        match volume {
            Some(v) => self.claim_volumes.insert(key, v),
            None => self.claim_volumes.remove(&key),
        };
    }

    fn pods_on<'a>(&'a self, node: &str) -> impl Iterator<Item = (&'a Key, &'a PodRefs)> + 'a {
        self.by_node
            .get(node)
            .into_iter()
            .flatten()
            .filter_map(|k| self.pods.get_key_value(k))
    }

    fn apply(&mut self, key: &str, value: Option<&[u8]>) {
        if let Some(k) = split(key, PODS) {
            let refs = value.and_then(|v| serde_json::from_slice::<Value>(v).ok());
            self.put_pod(k.clone(), refs.and_then(|pod| pod_refs(&k.1, &pod)));
        } else if let Some(k) = split(key, CLAIMS) {
            let volume = value
                .and_then(|v| serde_json::from_slice::<Value>(v).ok())
                .and_then(|c| c.pointer("/spec/volumeName")?.as_str().map(str::to_string))
                .filter(|v| !v.is_empty());
            self.put_claim(k, volume);
        }
    }
}

impl NodeGraph for Graph {
    fn related(&self, node: &str, kind: Vertex, namespace: &str, name: &str) -> bool {
        let mut pods = self.pods_on(node);
        match kind {
            Vertex::Pod => pods.any(|(k, _)| k.0 == namespace && k.1 == name),
            Vertex::Secret => pods.any(|(k, r)| k.0 == namespace && r.secrets.contains(name)),
            Vertex::ConfigMap => pods.any(|(k, r)| k.0 == namespace && r.configmaps.contains(name)),
            Vertex::PersistentVolumeClaim => {
                pods.any(|(k, r)| k.0 == namespace && r.claims.contains(name))
            }
            Vertex::ServiceAccount => {
                pods.any(|(k, r)| k.0 == namespace && r.service_account == name)
            }
            Vertex::PersistentVolume => pods.any(|(k, r)| {
                r.claims.iter().any(|c| {
                    self.claim_volumes
                        .get(&(k.0.clone(), c.clone()))
                        .is_some_and(|v| v == name)
                })
            }),
            Vertex::VolumeAttachment => false,
        }
    }
}

/// `<prefix><ns>/<name>` → (ns, name).
fn split(key: &str, prefix: &str) -> Option<Key> {
    let (ns, name) = key.strip_prefix(prefix)?.split_once('/')?;
    Some((ns.to_string(), name.to_string()))
}

/// The references of a pod bound to a node; None for a pod not (yet) bound.
pub fn pod_refs(pod_name: &str, pod: &Value) -> Option<PodRefs> {
    let spec = pod.get("spec")?;
    let node = spec.get("nodeName")?.as_str().filter(|n| !n.is_empty())?;
    let mut refs = PodRefs {
        node: node.to_string(),
        service_account: ["serviceAccountName", "serviceAccount"]
            .iter()
            .find_map(|f| spec.get(*f)?.as_str().filter(|s| !s.is_empty()))
            .unwrap_or("default")
            .to_string(),
        ..PodRefs::default()
    };
    let text = |v: &Value, path: &str| v.pointer(path)?.as_str().map(str::to_string);
    for s in spec
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        refs.secrets.extend(text(s, "/name"));
    }
    for vol in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        refs.secrets.extend(text(vol, "/secret/secretName"));
        refs.configmaps.extend(text(vol, "/configMap/name"));
        refs.claims
            .extend(text(vol, "/persistentVolumeClaim/claimName"));
        if vol.get("ephemeral").is_some() {
            // Upstream's ephemeral claim name: <pod>-<volume>.
            if let Some(v) = text(vol, "/name") {
                refs.claims.insert(format!("{pod_name}-{v}"));
            }
        }
        let sources = vol.pointer("/projected/sources").and_then(Value::as_array);
        for src in sources.into_iter().flatten() {
            refs.secrets.extend(text(src, "/secret/name"));
            refs.configmaps.extend(text(src, "/configMap/name"));
        }
        // Secrets named by volume plugins (CSI and the in-tree ones that take a secretRef).
        for path in ["/csi/nodePublishSecretRef/name", "/azureFile/secretName"] {
            refs.secrets.extend(text(vol, path));
        }
        for plugin in [
            "cephfs",
            "cinder",
            "flexVolume",
            "iscsi",
            "rbd",
            "scaleIO",
            "storageos",
        ] {
            refs.secrets
                .extend(text(vol, &format!("/{plugin}/secretRef/name")));
        }
    }
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for env in c.get("env").and_then(Value::as_array).into_iter().flatten() {
                refs.secrets
                    .extend(text(env, "/valueFrom/secretKeyRef/name"));
                refs.configmaps
                    .extend(text(env, "/valueFrom/configMapKeyRef/name"));
            }
            for from in c
                .get("envFrom")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                refs.secrets.extend(text(from, "/secretRef/name"));
                refs.configmaps.extend(text(from, "/configMapRef/name"));
            }
        }
    }
    Some(refs)
}

/// The graph behind the authorizer, current with the store.
pub struct NodeGraphIndex {
    graph: RwLock<Graph>,
    synced: watch::Sender<Revision>,
    poke: Notify,
}

impl NodeGraphIndex {
    /// Loads pods and claims and follows the store in the background.
    pub async fn start(store: Store) -> anyhow::Result<Arc<NodeGraphIndex>> {
        let (graph, revision) = load(&store).await?;
        let (synced, _) = watch::channel(revision);
        let index = Arc::new(NodeGraphIndex {
            graph: RwLock::new(graph),
            synced,
            poke: Notify::new(),
        });
        tokio::spawn(run(index.clone(), store, revision));
        Ok(index)
    }

    /// An empty graph that never changes (fixed-policy authorizers of tests and benchmarks).
    pub fn empty() -> Arc<NodeGraphIndex> {
        let (synced, _) = watch::channel(Revision::MAX);
        Arc::new(NodeGraphIndex {
            graph: RwLock::new(Graph::default()),
            synced,
            poke: Notify::new(),
        })
    }

    /// Runs `f` over the current graph.
    pub fn with<T>(&self, f: impl FnOnce(&Graph) -> T) -> T {
        f(&self.graph.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Waits (bounded) until the graph reflects `target`; true when it waited and got there.
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
}

async fn load(store: &Store) -> anyhow::Result<(Graph, Revision)> {
    let page = store
        .range(RangeRequest {
            prefix: PREFIX.into(),
            start: String::new(),
            limit: 0,
            revision: 0,
        })
        .await?;
    let mut graph = Graph::default();
    for kv in &page.items {
        graph.apply(&kv.key, Some(&kv.value[..]));
    }
    Ok((graph, page.revision))
}

fn apply_event(graph: &mut Graph, event: &Event) {
    let value = (event.kind != EventKind::Deleted).then_some(&event.value[..]);
    graph.apply(&event.key, value);
}

/// Applies watch events in batches; re-lists whenever the watch breaks.
async fn run(index: Arc<NodeGraphIndex>, store: Store, mut from: Revision) {
    loop {
        let mut events = match store.watch(PREFIX, from) {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "node graph watch failed; re-listing");
                tokio::time::sleep(RELIST_DELAY).await;
                match load(&store).await {
                    Ok((graph, revision)) => {
                        *index.graph.write().unwrap_or_else(|e| e.into_inner()) = graph;
                        from = revision;
                        index.synced.send_modify(|r| *r = (*r).max(revision));
                    }
                    Err(e) => tracing::warn!(error = %e, "re-listing pods and claims"),
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
                _ = index.poke.notified() => None,
            };
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
                let mut graph = index.graph.write().unwrap_or_else(|e| e.into_inner());
                for event in &batch {
                    from = from.max(event.revision);
                    apply_event(&mut graph, event);
                }
            }
            if broken {
                break;
            }
            index.synced.send_modify(|r| *r = (*r).max(reached));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(node: &str) -> Value {
        json!({
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {
                "nodeName": node,
                "serviceAccountName": "runner",
                "imagePullSecrets": [{"name": "pull"}],
                "volumes": [
                    {"name": "a", "secret": {"secretName": "vol-secret"}},
                    {"name": "b", "configMap": {"name": "vol-cm"}},
                    {"name": "c", "persistentVolumeClaim": {"claimName": "data"}},
                    {"name": "d", "projected": {"sources": [
                        {"secret": {"name": "proj-secret"}}, {"configMap": {"name": "kube-root-ca.crt"}}
                    ]}},
                    {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {}}}
                ],
                "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "init-env"}}]}],
                "containers": [{"name": "c", "env": [
                    {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "env-cm", "key": "k"}}}
                ]}]
            }
        })
    }

    #[test]
    fn a_pod_references_what_it_mounts_and_reads() {
        let refs = pod_refs("web", &pod("n1")).unwrap();
        assert_eq!(refs.node, "n1");
        assert_eq!(refs.service_account, "runner");
        let set = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(
            refs.secrets,
            set(&["init-env", "proj-secret", "pull", "vol-secret"])
        );
        assert_eq!(
            refs.configmaps,
            set(&["env-cm", "kube-root-ca.crt", "vol-cm"])
        );
        assert_eq!(refs.claims, set(&["data", "web-scratch"]));
        assert!(pod_refs("web", &json!({"spec": {"containers": []}})).is_none());
    }

    #[test]
    fn the_graph_follows_binding_moves_and_deletes() {
        let mut g = Graph::default();
        let bytes = |v: &Value| serde_json::to_vec(v).unwrap();
        g.apply("/core/pods/ns/web", Some(&bytes(&pod("n1"))));
        g.apply(
            "/core/persistentvolumeclaims/ns/data",
            Some(&bytes(&json!({"spec": {"volumeName": "pv-1"}}))),
        );
        assert!(g.related("n1", Vertex::Secret, "ns", "vol-secret"));
        assert!(!g.related("n1", Vertex::Secret, "other", "vol-secret"));
        assert!(!g.related("n2", Vertex::Secret, "ns", "vol-secret"));
        assert!(g.related("n1", Vertex::PersistentVolume, "", "pv-1"));
        assert!(g.related("n1", Vertex::ServiceAccount, "ns", "runner"));
        assert!(g.related("n1", Vertex::Pod, "ns", "web"));
        g.apply("/core/pods/ns/web", Some(&bytes(&pod("n2"))));
        assert!(!g.related("n1", Vertex::Pod, "ns", "web"));
        assert!(g.related("n2", Vertex::ConfigMap, "ns", "env-cm"));
        g.apply("/core/pods/ns/web", None);
        assert!(!g.related("n2", Vertex::ConfigMap, "ns", "env-cm"));
        assert!(g.by_node.is_empty());
    }
}
