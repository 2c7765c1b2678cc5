//! The built-in local-path provisioner (as rancher's local-path-provisioner, which k3s and
//! kind ship), run by each node agent because the agent owns that node's filesystem.
//!
//! A claim of a class whose provisioner is [`PROVISIONER`] is handed to it by the PV
//! controller (`volume.kubernetes.io/storage-provisioner`) once the scheduler chose a node
//! (`volume.kubernetes.io/selected-node`, WaitForFirstConsumer). The agent of that node
//! creates `<volume-dir>/<pv>_<namespace>_<claim>` and a `hostPath` PV pre-bound to the claim
//! with node affinity to itself; the PV controller then binds the two. When such a volume is
//! Released and its reclaim policy is Delete, the agent removes the directory and then the
//! PV. A claim grown beyond its volume (the class allows expansion; admission checked that)
//! is recorded on the PV's capacity, which the PV controller copies to the claim's status.

mod paths;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ferrokube_events::Recorder;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::ResourceExt;
use serde_json::{json, Value};
use tokio::sync::Notify;

pub use paths::volume_path;

/// The provisioner name of the built-in class. `ferrokube.io/local-path` rather than
/// rancher's `rancher.io/local-path`: the semantics are ours (no ConfigMap, no helper pods),
/// and a cluster may still run rancher's provisioner beside it under its own name.
pub const PROVISIONER: &str = "ferrokube.io/local-path";
const ANN_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
const ANN_STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
const ANN_PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
const ANN_BETA_CLASS: &str = "volume.beta.kubernetes.io/storage-class";
const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
/// Periodic pass, for whatever a watch event did not trigger (a failed removal, say).
const RESYNC: Duration = Duration::from_secs(15);
/// Changes this close together are handled by one pass.
const COALESCE: Duration = Duration::from_millis(50);

/// One node's provisioner.
pub struct LocalPath {
    client: kube::Client,
    node: String,
    root: PathBuf,
}

impl LocalPath {
    /// The provisioner of `node`, keeping volumes under `root` (the agent's `--volume-dir`).
    pub fn new(client: kube::Client, node: &str, root: PathBuf) -> Self {
        LocalPath {
            client,
            node: node.to_owned(),
            root,
        }
    }

    /// Watches claims and volumes and acts on them until dropped.
    pub async fn run(self) {
        let wake = Arc::new(Notify::new());
        let (claims, claims_w) = reflector::store::<PersistentVolumeClaim>();
        let (volumes, volumes_w) = reflector::store::<PersistentVolume>();
        let watch_claims = watch(Api::all(self.client.clone()), claims_w, wake.clone());
        let watch_volumes = watch(Api::all(self.client.clone()), volumes_w, wake.clone());
        // Events on claims, as upstream's external provisioners record them (`kubectl
        // describe pvc` shows why a claim is still Pending).
        let component = format!("{PROVISIONER}_{}", self.node);
        let host = Some(self.node.clone());
        let events = Recorder::with_manager(self.client.clone(), &component, host, "kubelet");
        let passes = async {
            let _ = tokio::join!(claims.wait_until_ready(), volumes.wait_until_ready());
            loop {
                self.pass(&claims.state(), &volumes.state(), &events).await;
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(RESYNC) => {}
                }
                tokio::time::sleep(COALESCE).await;
            }
        };
        tokio::select! {
            _ = watch_claims => {}
            _ = watch_volumes => {}
            _ = passes => {}
        }
    }

    async fn pass(
        &self,
        claims: &[Arc<PersistentVolumeClaim>],
        volumes: &[Arc<PersistentVolume>],
        events: &Recorder,
    ) {
        for c in claims.iter().filter(|c| self.wants(c, volumes)) {
            let (type_, reason, msg) = match self.provision(c).await {
                Ok(Some(pv)) => (
                    "Normal",
                    "ProvisioningSucceeded",
                    format!("Successfully provisioned volume {pv}"),
                ),
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(claim = %c.name_any(), error = %e, "cannot provision volume");
                    let msg = format!(
                        "failed to provision volume with StorageClass {:?}: {e}",
                        claim_class(c)
                    );
                    ("Warning", "ProvisioningFailed", msg)
                }
            };
            events
                .record(&Recorder::reference(c.as_ref()), type_, reason, &msg)
                .await;
        }
        for v in volumes.iter().filter(|v| self.owns(v)) {
            if let Err(e) = self.sync_volume(v, claims).await {
                tracing::warn!(volume = %v.name_any(), error = %e, "local-path volume sync failed");
            }
        }
    }

    /// An unbound claim handed to this provisioner on this node, with no volume yet.
    fn wants(&self, c: &PersistentVolumeClaim, volumes: &[Arc<PersistentVolume>]) -> bool {
        let unbound = c
            .spec
            .as_ref()
            .and_then(|s| s.volume_name.as_deref())
            .is_none_or(str::is_empty);
        let pv = pv_name(c);
        unbound
            && c.metadata.deletion_timestamp.is_none()
            && annotation(c, ANN_SELECTED_NODE) == Some(self.node.as_str())
            && annotation(c, ANN_STORAGE_PROVISIONER) == Some(PROVISIONER)
            && !volumes
                .iter()
                .any(|v| v.metadata.name.as_deref() == Some(&pv))
    }

    /// A volume this node's provisioner created.
    fn owns(&self, v: &PersistentVolume) -> bool {
        v.annotations().get(ANN_PROVISIONED_BY).map(String::as_str) == Some(PROVISIONER)
            && volume_node(v) == Some(self.node.as_str())
    }

    /// Creates the claim's directory and volume; the volume's name when this pass created it.
    async fn provision(&self, c: &PersistentVolumeClaim) -> anyhow::Result<Option<String>> {
        let class_name = claim_class(c);
        let classes: Api<StorageClass> = Api::all(self.client.clone());
        let Some(class) = classes.get_opt(&class_name).await? else {
            anyhow::bail!("storageclass.storage.k8s.io {class_name:?} not found");
        };
        let (ns, name) = (c.namespace().unwrap_or_default(), c.name_any());
        let pv = pv_name(c);
        let path = volume_path(&self.root, &pv, &ns, &name);
        paths::create(&self.root, &path)?;
        let body = volume_object(c, &class, &self.node, &path);
        let api: Api<PersistentVolume> = Api::all(self.client.clone());
        match api
            .create(&PostParams::default(), &serde_json::from_value(body)?)
            .await
        {
            Ok(_) => {
                tracing::info!(claim = %format!("{ns}/{name}"), volume = %pv, path = %path.display(), "provisioned volume");
                Ok(Some(pv))
            }
            // Created by an earlier pass the store had not shown yet.
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Delete reclaim of a Released volume; expansion of a bound one.
    async fn sync_volume(
        &self,
        v: &PersistentVolume,
        claims: &[Arc<PersistentVolumeClaim>],
    ) -> anyhow::Result<()> {
        let spec = v.spec.clone().unwrap_or_default();
        let phase = v.status.as_ref().and_then(|s| s.phase.as_deref());
        let api: Api<PersistentVolume> = Api::all(self.client.clone());
        if phase == Some("Released")
            && spec.persistent_volume_reclaim_policy.as_deref() == Some("Delete")
        {
            if v.metadata.deletion_timestamp.is_none() {
                if let Some(h) = &spec.host_path {
                    paths::remove(&self.root, std::path::Path::new(&h.path))?;
                }
                api.delete(&v.name_any(), &DeleteParams::default()).await?;
                tracing::info!(volume = %v.name_any(), "deleted released volume");
            }
            return Ok(());
        }
        let Some(r) = spec.claim_ref.as_ref().filter(|_| phase == Some("Bound")) else {
            return Ok(());
        };
        let claim = claims
            .iter()
            .find(|c| c.metadata.uid.is_some() && c.metadata.uid == r.uid);
        let wanted = claim.and_then(|c| requested(c));
        let have = spec.capacity.as_ref().and_then(|c| c.get("storage"));
        if let (Some(w), Some(h)) = (wanted, have) {
            if bytes(&w) > bytes(&h.0) {
                let patch = json!({"spec": {"capacity": {"storage": w}}});
                api.patch(&v.name_any(), &PatchParams::default(), &Patch::Merge(patch))
                    .await?;
            }
        }
        Ok(())
    }
}

/// Runs a reflector, waking the passes on every change.
async fn watch<K>(api: Api<K>, writer: reflector::store::Writer<K>, wake: Arc<Notify>)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .for_each(|_| {
            wake.notify_one();
            futures::future::ready(())
        })
        .await;
}

/// Upstream's provisioned volume name: `pvc-<claim uid>`.
fn pv_name(c: &PersistentVolumeClaim) -> String {
    format!("pvc-{}", c.metadata.uid.as_deref().unwrap_or_default())
}

fn annotation<'a>(c: &'a PersistentVolumeClaim, key: &str) -> Option<&'a str> {
    c.metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

fn claim_class(c: &PersistentVolumeClaim) -> String {
    annotation(c, ANN_BETA_CLASS)
        .map(str::to_owned)
        .or_else(|| c.spec.as_ref()?.storage_class_name.clone())
        .unwrap_or_default()
}

fn requested(c: &PersistentVolumeClaim) -> Option<String> {
    let requests = c.spec.as_ref()?.resources.as_ref()?.requests.as_ref()?;
    requests.get("storage").map(|q| q.0.clone())
}

fn bytes(q: &str) -> i128 {
    crate::quantity::parse_units_ceil(q).unwrap_or(0)
}

/// The node a volume's required node affinity names by host name.
pub fn volume_node(v: &PersistentVolume) -> Option<&str> {
    let terms = &v
        .spec
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required
        .as_ref()?
        .node_selector_terms;
    terms
        .iter()
        .flat_map(|t| t.match_expressions.iter().flatten())
        .find(|e| e.key == HOSTNAME_LABEL && e.operator == "In")
        .and_then(|e| e.values.as_ref()?.first())
        .map(String::as_str)
}

/// The PV for claim `c` on `node` at `path`: the claim's size and modes, the class's reclaim
/// policy and mount options, pre-bound to the claim.
fn volume_object(
    c: &PersistentVolumeClaim,
    class: &StorageClass,
    node: &str,
    path: &std::path::Path,
) -> Value {
    let spec = c.spec.clone().unwrap_or_default();
    json!({
        "metadata": {"name": pv_name(c), "annotations": {ANN_PROVISIONED_BY: PROVISIONER}},
        "spec": {
            "capacity": {"storage": requested(c).unwrap_or_else(|| "0".into())},
            "accessModes": spec.access_modes.unwrap_or_default(),
            "volumeMode": spec.volume_mode.unwrap_or_else(|| "Filesystem".into()),
            "persistentVolumeReclaimPolicy": class.reclaim_policy.clone().unwrap_or_else(|| "Delete".into()),
            "storageClassName": class.metadata.name,
            "mountOptions": class.mount_options,
            "hostPath": {"path": path.to_string_lossy(), "type": "DirectoryOrCreate"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": HOSTNAME_LABEL, "operator": "In", "values": [node]}]}]}},
            "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
                "namespace": c.namespace(), "name": c.name_any(),
                "uid": c.metadata.uid, "resourceVersion": c.resource_version()},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provisioned_volume_is_pre_bound_with_node_affinity() {
        let c: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {"name": "data", "namespace": "default", "uid": "u1"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local-path",
                "resources": {"requests": {"storage": "1Gi"}}}}))
        .unwrap();
        let class: StorageClass = serde_json::from_value(json!({
            "metadata": {"name": "local-path"}, "provisioner": PROVISIONER,
            "reclaimPolicy": "Retain"}))
        .unwrap();
        let path = volume_path(std::path::Path::new("/v"), "pvc-u1", "default", "data");
        let pv: PersistentVolume =
            serde_json::from_value(volume_object(&c, &class, "n1", &path)).unwrap();
        assert_eq!(pv.metadata.name.as_deref(), Some("pvc-u1"));
        assert_eq!(volume_node(&pv), Some("n1"));
        let spec = pv.spec.unwrap();
        assert_eq!(spec.host_path.unwrap().path, "/v/pvc-u1_default_data");
        assert_eq!(
            spec.persistent_volume_reclaim_policy.as_deref(),
            Some("Retain")
        );
        assert_eq!(spec.capacity.unwrap()["storage"].0, "1Gi");
        assert_eq!(spec.claim_ref.unwrap().uid.as_deref(), Some("u1"));
    }
}
