//! Persistent storage. Through kube-rs against a server without an agent: the PV controller's
//! static binding (smallest fit, class, pre-binding), its events and phases, Retain after the
//! claim goes, the protection finalizers, the scheduler's VolumeBinding messages, and the
//! claim admission rules (default class, immutable spec, shrinking, expansion). On Docker with
//! kubectl: the built-in local-path provisioner end to end.

mod kubelet_common;
mod storage_docker;
mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::ResourceExt;
use serde_json::{json, Value};
use support::{eventually, TestCluster};

const WAIT: Duration = Duration::from_secs(60);

async fn create<K>(api: &Api<K>, v: Value) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(v).expect("object");
    api.create(&PostParams::default(), &obj)
        .await
        .expect("create")
}

fn pv(name: &str, size: &str, extra: Value) -> Value {
    let mut v = json!({"metadata": {"name": name}, "spec": {"capacity": {"storage": size},
        "accessModes": ["ReadWriteOnce"], "hostPath": {"path": format!("/tmp/{name}")}}});
    if let (Value::Object(spec), Value::Object(more)) = (&mut v["spec"], extra) {
        spec.extend(more);
    }
    v
}

fn pvc(name: &str, size: &str, extra: Value) -> Value {
    let mut v = json!({"metadata": {"name": name}, "spec": {"accessModes": ["ReadWriteOnce"],
        "storageClassName": "", "resources": {"requests": {"storage": size}}}});
    if let (Value::Object(spec), Value::Object(more)) = (&mut v["spec"], extra) {
        spec.extend(more);
    }
    v
}

fn claim_phase(c: &PersistentVolumeClaim) -> String {
    c.status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default()
}

fn volume_phase(v: &PersistentVolume) -> String {
    v.status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default()
}

async fn wait_claim(
    api: &Api<PersistentVolumeClaim>,
    name: &str,
    phase: &str,
) -> PersistentVolumeClaim {
    eventually(WAIT, || async {
        api.get_opt(name)
            .await
            .ok()
            .flatten()
            .filter(|c| claim_phase(c) == phase)
    })
    .await
    .unwrap_or_else(|| panic!("claim {name} never {phase}"))
}

async fn wait_volume(api: &Api<PersistentVolume>, name: &str, phase: &str) -> PersistentVolume {
    eventually(WAIT, || async {
        api.get_opt(name)
            .await
            .ok()
            .flatten()
            .filter(|v| volume_phase(v) == phase)
    })
    .await
    .unwrap_or_else(|| panic!("volume {name} never {phase}"))
}

async fn wait_event(c: &kube::Client, reason: &str, message: &str) {
    let events: Api<Event> = Api::namespaced(c.clone(), "default");
    let found = eventually(WAIT, || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some(reason) && e.message.as_deref() == Some(message))
    })
    .await;
    assert!(found.is_some(), "no {reason} event {message:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_binding_phases_events_and_retain() {
    let cluster = TestCluster::start().await;
    let c = cluster.client().await;
    let pvs: Api<PersistentVolume> = Api::all(c.clone());
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(c.clone(), "default");
    create(&pvs, pv("big", "10Gi", json!({}))).await;
    create(&pvs, pv("small", "1Gi", json!({}))).await;
    create(&pvs, pv("fast", "1Gi", json!({"storageClassName": "fast"}))).await;
    create(
        &pvs,
        pv(
            "reserved",
            "1Gi",
            json!({"claimRef": {"namespace": "default", "name": "wants-reserved"}}),
        ),
    )
    .await;
    // The controller picks among the volumes it has seen: let it see all of them first.
    for name in ["big", "small", "fast", "reserved"] {
        wait_volume(&pvs, name, "Available").await;
    }

    create(&pvcs, pvc("data", "500Mi", json!({}))).await;
    let data = wait_claim(&pvcs, "data", "Bound").await;
    // The smallest volume that fits and has the claim's (empty) class.
    assert_eq!(
        data.spec.as_ref().unwrap().volume_name.as_deref(),
        Some("small")
    );
    let ann = data.annotations();
    assert_eq!(
        ann.get("pv.kubernetes.io/bind-completed")
            .map(String::as_str),
        Some("yes")
    );
    assert_eq!(
        ann.get("pv.kubernetes.io/bound-by-controller")
            .map(String::as_str),
        Some("yes")
    );
    assert_eq!(
        data.status.as_ref().unwrap().capacity.as_ref().unwrap()["storage"].0,
        "1Gi"
    );
    assert!(data
        .finalizers()
        .iter()
        .any(|f| f == "kubernetes.io/pvc-protection"));
    let small = wait_volume(&pvs, "small", "Bound").await;
    let r = small.spec.as_ref().unwrap().claim_ref.clone().unwrap();
    assert_eq!(
        (r.name.as_deref(), r.uid.as_deref()),
        (Some("data"), data.metadata.uid.as_deref())
    );
    assert!(small
        .finalizers()
        .iter()
        .any(|f| f == "kubernetes.io/pv-protection"));

    // Pre-bound volume goes to its claim even though "big" would also fit.
    create(&pvcs, pvc("wants-reserved", "1Gi", json!({}))).await;
    let w = wait_claim(&pvcs, "wants-reserved", "Bound").await;
    assert_eq!(
        w.spec.as_ref().unwrap().volume_name.as_deref(),
        Some("reserved")
    );

    // Class selects; nothing matching → Pending with upstream's event.
    create(
        &pvcs,
        pvc("quick", "1Gi", json!({"storageClassName": "fast"})),
    )
    .await;
    let q = wait_claim(&pvcs, "quick", "Bound").await;
    assert_eq!(
        q.spec.as_ref().unwrap().volume_name.as_deref(),
        Some("fast")
    );
    create(&pvcs, pvc("huge", "1Ti", json!({}))).await;
    wait_event(
        &c,
        "FailedBinding",
        "no persistent volumes available for this claim and no storage class is set",
    )
    .await;
    assert_eq!(claim_phase(&pvcs.get("huge").await.unwrap()), "Pending");

    // The claim goes: the volume (Retain by default) is Released and kept.
    pvcs.delete("data", &DeleteParams::default()).await.unwrap();
    let released = wait_volume(&pvs, "small", "Released").await;
    assert!(released.spec.as_ref().unwrap().claim_ref.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_in_use_waits_and_scheduler_explains_missing_claims() {
    let cluster = TestCluster::start().await;
    let c = cluster.client().await;
    let pvs: Api<PersistentVolume> = Api::all(c.clone());
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(c.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    create(&pvs, pv("vol", "1Gi", json!({}))).await;
    create(&pvcs, pvc("held", "1Gi", json!({}))).await;
    wait_claim(&pvcs, "held", "Bound").await;
    let user = json!({"metadata": {"name": "user"}, "spec": {"nodeName": "nowhere",
        "containers": [{"name": "c", "image": "busybox"}],
        "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "held"}}]}});
    create(&pods, user).await;
    eventually(WAIT, || async {
        let c = pvcs.get("held").await.ok()?;
        c.finalizers()
            .iter()
            .any(|f| f == "kubernetes.io/pvc-protection")
            .then_some(())
    })
    .await
    .expect("pvc-protection finalizer");
    pvcs.delete("held", &DeleteParams::default()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held = pvcs.get("held").await.expect("claim kept while in use");
    assert!(held.metadata.deletion_timestamp.is_some());
    pods.delete("user", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    let gone = eventually(WAIT, || async {
        matches!(pvcs.get_opt("held").await, Ok(None)).then_some(())
    })
    .await;
    assert!(gone.is_some(), "claim not removed once its pod was gone");
    wait_volume(&pvs, "vol", "Released").await;

    // A pod whose claim does not exist stays Pending with upstream's reason.
    let orphan = json!({"metadata": {"name": "orphan"}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}],
        "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "nope"}}]}});
    create(&pods, orphan).await;
    let msg = eventually(WAIT, || async {
        let p = pods.get("orphan").await.ok()?;
        let cond = p
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled")?;
        cond.message
    })
    .await
    .expect("PodScheduled=False");
    assert!(
        msg.contains("persistentvolumeclaim \"nope\" not found"),
        "{msg}"
    );
}

/// Upstream's status code and message of a refused write.
fn refusal(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.message),
        other => panic!("not an API error: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_admission_defaults_the_class_and_guards_updates() {
    let cluster = TestCluster::start().await;
    let c = cluster.client().await;
    let pvs: Api<PersistentVolume> = Api::all(c.clone());
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(c.clone(), "default");
    let classes: Api<StorageClass> = Api::all(c.clone());
    let builtin = classes.get("local-path").await.expect("built-in class");
    assert_eq!(builtin.provisioner, "ferrokube.io/local-path");
    assert_eq!(
        builtin.volume_binding_mode.as_deref(),
        Some("WaitForFirstConsumer")
    );
    assert_eq!(
        builtin.annotations()["storageclass.kubernetes.io/is-default-class"],
        "true"
    );

    // No class → the default; an explicit "" stays classless.
    let mut plain = pvc("plain", "1Gi", json!({}));
    plain["spec"]
        .as_object_mut()
        .unwrap()
        .remove("storageClassName");
    let plain: PersistentVolumeClaim = create(&pvcs, plain).await;
    assert_eq!(
        plain.spec.unwrap().storage_class_name.as_deref(),
        Some("local-path")
    );

    // A static volume of a class without expansion.
    let fixed =
        json!({"metadata": {"name": "fixed"}, "provisioner": "kubernetes.io/no-provisioner"});
    create(&classes, fixed).await;
    create(
        &pvs,
        pv("rigid", "1Gi", json!({"storageClassName": "fixed"})),
    )
    .await;
    create(
        &pvcs,
        pvc("stiff", "1Gi", json!({"storageClassName": "fixed"})),
    )
    .await;
    wait_claim(&pvcs, "stiff", "Bound").await;

    let pp = kube::api::PatchParams::default();
    let size = |s: &str| json!({"spec": {"resources": {"requests": {"storage": s}}}});
    let err = pvcs
        .patch("stiff", &pp, &kube::api::Patch::Merge(size("2Gi")))
        .await
        .unwrap_err();
    assert_eq!(
        refusal(err),
        (
            403,
            "persistentvolumeclaims \"stiff\" is forbidden: only dynamically provisioned pvc can \
             be resized and the storageclass that provisions the pvc must support resize"
                .to_owned()
        )
    );
    let err = pvcs
        .patch("stiff", &pp, &kube::api::Patch::Merge(size("500Mi")))
        .await
        .unwrap_err();
    assert_eq!(
        refusal(err),
        (
            422,
            "PersistentVolumeClaim \"stiff\" is invalid: spec.resources.requests.storage: \
             Forbidden: field can not be less than status.capacity"
                .to_owned()
        )
    );
    let modes = json!({"spec": {"accessModes": ["ReadWriteMany"]}});
    let (code, msg) = refusal(
        pvcs.patch("stiff", &pp, &kube::api::Patch::Merge(modes))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422);
    assert!(
        msg.contains("spec: Forbidden: spec is immutable after creation except resources.requests"),
        "{msg}"
    );
    // Nothing was written.
    let stiff = pvcs.get("stiff").await.unwrap();
    let spec = stiff.spec.unwrap();
    assert_eq!(spec.access_modes.unwrap(), vec!["ReadWriteOnce".to_owned()]);
    assert_eq!(
        spec.resources.unwrap().requests.unwrap()["storage"].0,
        "1Gi"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statefulset_claims_follow_the_retention_policy() {
    use k8s_openapi::api::apps::v1::StatefulSet;
    let cluster = TestCluster::start().await;
    let c = cluster.client().await;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(c.clone(), "default");
    let sets: Api<StatefulSet> = Api::namespaced(c.clone(), "default");
    let set = json!({"metadata": {"name": "web"}, "spec": {"replicas": 2,
        "podManagementPolicy": "Parallel", "serviceName": "web",
        "selector": {"matchLabels": {"app": "web"}},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Delete"},
        "template": {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}});
    create(&sets, set).await;
    let owners = |name: &'static str| {
        let pvcs = pvcs.clone();
        async move {
            let claim = pvcs.get_opt(name).await.ok()??;
            Some(
                claim
                    .owner_references()
                    .iter()
                    .map(|r| format!("{}/{}", r.kind, r.name))
                    .collect::<Vec<_>>(),
            )
        }
    };
    for name in ["data-web-0", "data-web-1"] {
        let owned = eventually(WAIT, || async {
            owners(name)
                .await
                .filter(|o| o == &["StatefulSet/web".to_owned()])
        })
        .await;
        assert!(owned.is_some(), "{name} not owned by the set");
    }

    // Scaled down: the condemned pod's claim goes with it; the other stays.
    let scale = json!({"spec": {"replicas": 1}});
    sets.patch(
        "web",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(scale),
    )
    .await
    .unwrap();
    let gone = eventually(WAIT, || async {
        matches!(pvcs.get_opt("data-web-1").await, Ok(None)).then_some(())
    })
    .await;
    assert!(gone.is_some(), "claim of the scaled-down pod kept");
    assert!(pvcs.get_opt("data-web-0").await.unwrap().is_some());

    // The set goes: so do its claims.
    sets.delete("web", &DeleteParams::default()).await.unwrap();
    let gone = eventually(WAIT, || async {
        matches!(pvcs.get_opt("data-web-0").await, Ok(None)).then_some(())
    })
    .await;
    assert!(gone.is_some(), "claim kept after its set was deleted");
}
