//! Binding tables: which volume a claim gets.

use serde_json::{json, Value};

use super::*;

fn pv(name: &str, size: &str, extra: Value) -> Arc<PersistentVolume> {
    let mut v = json!({"metadata": {"name": name},
        "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                 "hostPath": {"path": "/tmp/x"}},
        "status": {"phase": "Available"}});
    merge(&mut v, extra);
    Arc::new(serde_json::from_value(v).unwrap())
}

fn pvc(extra: Value) -> PersistentVolumeClaim {
    let mut v = json!({"metadata": {"name": "c", "namespace": "ns", "uid": "u1"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "",
                 "resources": {"requests": {"storage": "1Gi"}}}});
    merge(&mut v, extra);
    serde_json::from_value(v).unwrap()
}

fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

fn pick(claim: &PersistentVolumeClaim, vols: &[Arc<PersistentVolume>]) -> Option<String> {
    find_best_match(claim, vols, None, false).and_then(|v| v.metadata.name.clone())
}

#[test]
fn smallest_volume_that_fits_wins() {
    let vols = [
        pv("big", "10Gi", json!({})),
        pv("small", "500Mi", json!({})),
        pv("fit", "2Gi", json!({})),
        pv("exact", "1Gi", json!({})),
    ];
    assert_eq!(pick(&pvc(json!({})), &vols).as_deref(), Some("exact"));
    let large = pvc(json!({"spec": {"resources": {"requests": {"storage": "3G"}}}}));
    assert_eq!(pick(&large, &vols).as_deref(), Some("big"));
    let huge = pvc(json!({"spec": {"resources": {"requests": {"storage": "1Ti"}}}}));
    assert_eq!(pick(&huge, &vols), None);
}

#[test]
fn access_modes_class_and_phase_must_match() {
    let rwx = pvc(json!({"spec": {"accessModes": ["ReadWriteMany"]}}));
    let vols = [
        pv("rwo", "1Gi", json!({})),
        pv(
            "rwx",
            "5Gi",
            json!({"spec": {"accessModes": ["ReadWriteOnce", "ReadWriteMany"]}}),
        ),
    ];
    assert_eq!(pick(&rwx, &vols).as_deref(), Some("rwx"));
    let fast = pvc(json!({"spec": {"storageClassName": "fast"}}));
    let vols = [
        pv("plain", "1Gi", json!({})),
        pv("fast", "2Gi", json!({"spec": {"storageClassName": "fast"}})),
    ];
    assert_eq!(pick(&fast, &vols).as_deref(), Some("fast"));
    assert_eq!(pick(&pvc(json!({})), &vols).as_deref(), Some("plain"));
    // A class mismatch binds nothing.
    let slow = pvc(json!({"spec": {"storageClassName": "slow"}}));
    assert_eq!(pick(&slow, &vols), None);
    let released = [pv("r", "1Gi", json!({"status": {"phase": "Released"}}))];
    assert_eq!(pick(&pvc(json!({})), &released), None);
}

#[test]
fn selector_filters_volumes() {
    let claim = pvc(json!({"spec": {"selector": {"matchLabels": {"tier": "db"}}}}));
    let vols = [
        pv(
            "other",
            "1Gi",
            json!({"metadata": {"labels": {"tier": "web"}}}),
        ),
        pv("db", "4Gi", json!({"metadata": {"labels": {"tier": "db"}}})),
    ];
    assert_eq!(pick(&claim, &vols).as_deref(), Some("db"));
    let expr = pvc(json!({"spec": {"selector": {"matchExpressions":
        [{"key": "tier", "operator": "NotIn", "values": ["db"]}]}}}));
    assert_eq!(pick(&expr, &vols).as_deref(), Some("other"));
}

#[test]
fn pre_bound_volumes_win_and_others_are_skipped() {
    let mine = pv(
        "mine",
        "5Gi",
        json!({"spec": {"claimRef": {"namespace": "ns", "name": "c"}}, "status": {"phase": "Available"}}),
    );
    let theirs = pv(
        "theirs",
        "1Gi",
        json!({"spec": {"claimRef": {"namespace": "ns", "name": "other"}}}),
    );
    let free = pv("free", "1Gi", json!({}));
    let vols = [free.clone(), theirs.clone(), mine];
    assert_eq!(pick(&pvc(json!({})), &vols).as_deref(), Some("mine"));
    // A claimRef with another uid belongs to an earlier claim of the same name.
    let stale = pv(
        "stale",
        "1Gi",
        json!({"spec": {"claimRef": {"namespace": "ns", "name": "c", "uid": "old"}}}),
    );
    assert_eq!(
        pick(&pvc(json!({})), &[stale, theirs, free]).as_deref(),
        Some("free")
    );
}

#[test]
fn wait_for_first_consumer_binds_only_on_a_chosen_node() {
    let local = pv(
        "local",
        "1Gi",
        json!({"spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions":
            [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]}]}}}}),
    );
    let claim = pvc(json!({}));
    let vols = [local];
    assert!(find_best_match(&claim, &vols, None, true).is_none());
    let node = |name: &str| -> Node {
        serde_json::from_value(json!({"metadata": {"name": name,
            "labels": {"kubernetes.io/hostname": name}}}))
        .unwrap()
    };
    assert!(find_best_match(&claim, &vols, Some(&node("n1")), true).is_some());
    assert!(find_best_match(&claim, &vols, Some(&node("n2")), true).is_none());
}

#[test]
fn requested_volume_mismatches_are_explained() {
    let v = pv("v", "1Gi", json!({"spec": {"storageClassName": "fast"}}));
    assert_eq!(
        volume_mismatch(&v, &pvc(json!({}))).as_deref(),
        Some("storageClassName does not match")
    );
    let big = pvc(json!({"spec": {"storageClassName": "fast",
        "resources": {"requests": {"storage": "2Gi"}}}}));
    assert_eq!(
        volume_mismatch(&v, &big).as_deref(),
        Some("requested PV is too small")
    );
}

#[test]
fn default_class_is_the_newest_annotated() {
    let sc = |name: &str, ts: &str, default: bool| -> Arc<StorageClass> {
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name, "creationTimestamp": ts,
                "annotations": {ANN_DEFAULT_CLASS: default.to_string()}}, "provisioner": "p"}))
            .unwrap(),
        )
    };
    let classes = [
        sc("old", "2024-01-01T00:00:00Z", true),
        sc("new", "2024-02-01T00:00:00Z", true),
        sc("not", "2024-03-01T00:00:00Z", false),
    ];
    assert_eq!(
        default_class(&classes).and_then(|c| c.metadata.name.as_deref()),
        Some("new")
    );
}
