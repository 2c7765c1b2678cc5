//! The built-in local-path provisioner on Docker, driven with kubectl as the issue's user
//! story: a claim without a class gets the default class, waits for its first consumer, is
//! provisioned on the pod's node, keeps its data across pod re-creation, grows, refuses to
//! shrink, and goes with its directory when deleted (Delete reclaim).

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::Api;

use crate::kubelet_common::{cluster, kubectl_fails, kubectl_ok, running, wait_pod};
use crate::support::eventually;

const WAIT: Duration = Duration::from_secs(60);

const CLAIM: &str = "\
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
";

/// Appends a line on every start, so the file's length counts the starts it survived.
const POD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: db
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    imagePullPolicy: Never
    command: [sh, -c, 'echo hi >> /data/x; sleep 3600']
    volumeMounts:
    - {name: d, mountPath: /data}
  volumes:
  - name: d
    persistentVolumeClaim:
      claimName: data
";

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writing manifest");
    path.to_string_lossy().into_owned()
}

fn host_path(pv: &PersistentVolume) -> PathBuf {
    let spec = pv.spec.as_ref().expect("pv spec");
    PathBuf::from(&spec.host_path.as_ref().expect("hostPath volume").path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_path_claims_provision_persist_grow_and_go() {
    let (_serial, _sweep, c, node) = cluster("e2e-storage").await;
    let client = c.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let pvs: Api<PersistentVolume> = Api::all(client.clone());

    let classes = kubectl_ok(&c, &["get", "storageclass"]);
    let line = classes
        .lines()
        .find(|l| l.starts_with("local-path"))
        .unwrap_or_else(|| panic!("no local-path class:\n{classes}"));
    assert!(
        line.contains("(default)") && line.contains("ferrokube.io/local-path"),
        "{line}"
    );
    assert!(
        line.contains("WaitForFirstConsumer") && line.contains("Delete"),
        "{line}"
    );

    let dir = c.data_dir();
    let claim = write(&dir, "claim.yaml", CLAIM);
    let pod = write(&dir, "pod.yaml", POD);
    kubectl_ok(&c, &["apply", "-f", &claim]);
    let pending = pvcs.get("data").await.expect("claim");
    assert_eq!(
        pending.spec.as_ref().unwrap().storage_class_name.as_deref(),
        Some("local-path"),
        "the default class is set at create"
    );
    kubectl_ok(&c, &["apply", "-f", &pod]);
    wait_pod(&pods, "db", "Running", running).await;

    let bound = pvcs.get("data").await.expect("claim");
    assert_eq!(
        bound.status.as_ref().unwrap().phase.as_deref(),
        Some("Bound")
    );
    let volume = bound.spec.as_ref().unwrap().volume_name.clone().unwrap();
    assert_eq!(
        volume,
        format!("pvc-{}", bound.metadata.uid.as_deref().unwrap())
    );
    let pv = pvs.get(&volume).await.expect("provisioned volume");
    let spec = pv.spec.as_ref().unwrap();
    assert_eq!(
        spec.persistent_volume_reclaim_policy.as_deref(),
        Some("Delete")
    );
    assert_eq!(spec.storage_class_name.as_deref(), Some("local-path"));
    let terms = &spec
        .node_affinity
        .as_ref()
        .unwrap()
        .required
        .as_ref()
        .unwrap()
        .node_selector_terms;
    let expr = &terms[0].match_expressions.as_ref().unwrap()[0];
    assert_eq!(
        (expr.key.as_str(), expr.values.as_deref()),
        ("kubernetes.io/hostname", Some(&[node.clone()][..]))
    );
    let events = kubectl_ok(
        &c,
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=data",
        ],
    );
    assert!(
        events.contains("ProvisioningSucceeded")
            && events.contains(&format!("Successfully provisioned volume {volume}")),
        "{events}"
    );
    let path = host_path(&pv);
    assert!(path.starts_with(dir.join("volumes")), "{}", path.display());
    assert_eq!(std::fs::read_to_string(path.join("x")).unwrap(), "hi\n");

    // The data outlives the pod: the same pod again finds its first line.
    kubectl_ok(&c, &["delete", "pod", "db", "--wait=true"]);
    kubectl_ok(&c, &["apply", "-f", &pod]);
    wait_pod(&pods, "db", "Running", running).await;
    let read = eventually(WAIT, || async {
        let out = c.kubectl(&["exec", "db", "--", "cat", "/data/x"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (text == "hi\nhi\n").then_some(text)
    })
    .await;
    assert!(read.is_some(), "data did not survive the pod");

    // Expansion is recorded on the volume and the claim; shrinking is refused.
    let grow = r#"{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}"#;
    kubectl_ok(&c, &["patch", "pvc", "data", "-p", grow]);
    let grown = eventually(WAIT, || async {
        let c = pvcs.get("data").await.ok()?;
        let cap = c.status?.capacity?.get("storage")?.0.clone();
        (cap == "2Gi").then_some(())
    })
    .await;
    assert!(
        grown.is_some(),
        "expansion not recorded in the claim's status"
    );
    let shrink = r#"{"spec":{"resources":{"requests":{"storage":"1Gi"}}}}"#;
    let err = kubectl_fails(&c, &["patch", "pvc", "data", "-p", shrink]);
    assert!(
        err.contains("spec.resources.requests.storage: Forbidden: field can not be less than status.capacity"),
        "{err}"
    );

    // Delete reclaim: the pod goes, then the claim; the volume and its directory follow.
    kubectl_ok(&c, &["delete", "pod", "db", "--wait=true"]);
    kubectl_ok(&c, &["delete", "pvc", "data", "--wait=true"]);
    let gone = eventually(WAIT, || async {
        let pv_gone = matches!(pvs.get_opt(&volume).await, Ok(None));
        (pv_gone && !path.exists()).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "volume {volume} or {} left behind",
        path.display()
    );
}
