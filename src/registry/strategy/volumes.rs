//! PersistentVolumes and PersistentVolumeClaims: upstream's `SetDefaults_PersistentVolume` and
//! `SetDefaults_PersistentVolumeClaim`. A new volume or claim reads `Pending` (upstream applies
//! these defaults when decoding, so even a status read right after create shows a phase).

use serde_json::{json, Value};

use super::{set_default, Strategy};

/// The PersistentVolume strategy.
pub struct PersistentVolumeStrategy;
/// The strategy instance.
pub static PERSISTENT_VOLUME: PersistentVolumeStrategy = PersistentVolumeStrategy;

impl Strategy for PersistentVolumeStrategy {
    fn default(&self, obj: &mut Value) {
        set_default(obj, &["status", "phase"], json!("Pending"));
        set_default(
            obj,
            &["spec", "persistentVolumeReclaimPolicy"],
            json!("Retain"),
        );
        set_default(obj, &["spec", "volumeMode"], json!("Filesystem"));
    }
}

/// The PersistentVolumeClaim strategy.
pub struct PersistentVolumeClaimStrategy;
/// The strategy instance.
pub static PERSISTENT_VOLUME_CLAIM: PersistentVolumeClaimStrategy = PersistentVolumeClaimStrategy;

impl Strategy for PersistentVolumeClaimStrategy {
    fn default(&self, obj: &mut Value) {
        set_default(obj, &["status", "phase"], json!("Pending"));
        set_default(obj, &["spec", "volumeMode"], json!("Filesystem"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_volumes_and_claims_are_pending_with_upstream_defaults() {
        let mut pv = json!({"spec": {"capacity": {"storage": "1Gi"}}});
        PERSISTENT_VOLUME.default(&mut pv);
        assert_eq!(pv["status"]["phase"], "Pending");
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(pv["spec"]["volumeMode"], "Filesystem");
        let mut pvc = json!({"spec": {"volumeMode": "Block"}, "status": {"phase": "Bound"}});
        PERSISTENT_VOLUME_CLAIM.default(&mut pvc);
        assert_eq!(pvc["status"]["phase"], "Bound");
        assert_eq!(pvc["spec"]["volumeMode"], "Block");
    }
}
