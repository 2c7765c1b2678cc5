//! `persistentVolumeClaim` volumes: claim → bound PersistentVolume → host path. Node-local
//! volumes (`hostPath`, `local`) are the kinds a single-machine node can mount.

use std::path::PathBuf;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};

use crate::error::{KubeletError, Result};

/// The host path of `pv` for claim `ns/name`, or upstream's reason why it cannot be mounted.
pub fn claim_host_path(
    ns: &str,
    name: &str,
    claim: Option<&PersistentVolumeClaim>,
    pv: Option<&PersistentVolume>,
) -> Result<PathBuf> {
    let Some(claim) = claim else {
        return Err(KubeletError::InvalidSpec(format!(
            "persistentvolumeclaim {name:?} not found"
        )));
    };
    let volume = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .unwrap_or("");
    let bound = claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
    if volume.is_empty() || !bound {
        return Err(KubeletError::InvalidSpec(format!(
            "error processing PVC {ns}/{name}: PVC is not bound"
        )));
    }
    let Some(spec) = pv.and_then(|v| v.spec.as_ref()) else {
        return Err(KubeletError::InvalidSpec(format!(
            "error processing PVC {ns}/{name}: persistentvolume {volume:?} not found"
        )));
    };
    if let Some(h) = &spec.host_path {
        return Ok(PathBuf::from(&h.path));
    }
    if let Some(l) = &spec.local {
        return Ok(PathBuf::from(&l.path));
    }
    Err(KubeletError::InvalidSpec(format!(
        "persistentvolume {volume:?}: only hostPath and local volumes can be mounted on this node"
    )))
}

/// Looks the claim and its volume up through the API.
pub async fn resolve(client: &kube::Client, ns: &str, name: &str) -> Result<PathBuf> {
    let claims: kube::Api<PersistentVolumeClaim> = kube::Api::namespaced(client.clone(), ns);
    let claim = claims.get_opt(name).await?;
    let volume = claim
        .as_ref()
        .and_then(|c| c.spec.as_ref()?.volume_name.clone())
        .filter(|v| !v.is_empty());
    let pv = match volume {
        Some(v) => {
            let pvs: kube::Api<PersistentVolume> = kube::Api::all(client.clone());
            pvs.get_opt(&v).await?
        }
        None => None,
    };
    claim_host_path(ns, name, claim.as_ref(), pv.as_ref())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn claims_resolve_to_bound_node_local_volumes() {
        let claim = |phase: &str| -> PersistentVolumeClaim {
            serde_json::from_value(json!({"metadata": {"name": "c"},
                "spec": {"volumeName": "pv1"}, "status": {"phase": phase}}))
            .unwrap()
        };
        let local: PersistentVolume = serde_json::from_value(
            json!({"metadata": {"name": "pv1"}, "spec": {"local": {"path": "/srv/v"}}}),
        )
        .unwrap();
        let host: PersistentVolume = serde_json::from_value(
            json!({"metadata": {"name": "pv1"}, "spec": {"hostPath": {"path": "/h"}}}),
        )
        .unwrap();
        let nfs: PersistentVolume = serde_json::from_value(json!({"metadata": {"name": "pv1"},
            "spec": {"nfs": {"server": "s", "path": "/"}}}))
        .unwrap();
        let bound = claim("Bound");
        assert_eq!(
            claim_host_path("d", "c", Some(&bound), Some(&local)).unwrap(),
            PathBuf::from("/srv/v")
        );
        assert_eq!(
            claim_host_path("d", "c", Some(&bound), Some(&host)).unwrap(),
            PathBuf::from("/h")
        );
        assert!(claim_host_path("d", "c", Some(&bound), Some(&nfs)).is_err());
        let pending = claim_host_path("d", "c", Some(&claim("Pending")), Some(&local));
        assert_eq!(
            pending.unwrap_err().to_string(),
            "invalid pod spec: error processing PVC d/c: PVC is not bound"
        );
        assert!(claim_host_path("d", "c", None, None)
            .unwrap_err()
            .to_string()
            .contains("persistentvolumeclaim \"c\" not found"));
    }
}
