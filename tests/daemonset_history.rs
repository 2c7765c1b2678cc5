//! Upstream's "Daemon set should update pod when spec was updated and update strategy is
//! RollingUpdate": the current ControllerRevision must be the one a Go client's `Match` finds
//! (its `data` byte-equal to the Go rendering of the DaemonSet's template), before and after a
//! rolling update, and every live daemon pod carries its hash. kubectl's `rollout undo` runs
//! the same comparison: "skipped rollback" means the bytes matched.

mod controllers_common;
mod support;

use controllers_common::{cluster_with, kubectl_ok, wait_nodes_ready, wait_running, HollowNodes};
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::ResourceExt;

/// The revision with the highest number and the hash label it carries.
async fn newest_revision(client: &kube::Client) -> (i64, String) {
    let revs: Api<ControllerRevision> = Api::namespaced(client.clone(), "default");
    let list = revs
        .list(&ListParams::default().labels("daemonset-name=ds"))
        .await
        .expect("revisions");
    let newest = list
        .items
        .iter()
        .max_by_key(|r| r.revision)
        .expect("a revision");
    let hash = newest.labels()["controller-revision-hash"].clone();
    (newest.revision, hash)
}

fn undo_to(cluster: &support::TestCluster, revision: i64) -> String {
    kubectl_ok(
        cluster,
        &[
            "rollout",
            "undo",
            "ds/ds",
            &format!("--to-revision={revision}"),
        ],
    )
}

fn assert_pods_carry(pods: &[Pod], hash: &str) {
    for p in pods {
        assert_eq!(
            p.labels()
                .get("controller-revision-hash")
                .map(String::as_str),
            Some(hash),
            "pod {}",
            p.name_any()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_revisions_match_the_daemonset_as_go_clients_see_it() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    let _nodes = HollowNodes::start(&cluster, 0, 1);
    wait_nodes_ready(&client, 1).await;
    // The conformance spec's DaemonSet: one container with a port, RollingUpdate.
    let path = cluster.scratch().join("ds.yaml");
    std::fs::write(
        &path,
        r#"apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ds}
spec:
  selector: {matchLabels: {daemonset-name: ds}}
  updateStrategy: {type: RollingUpdate}
  template:
    metadata: {labels: {daemonset-name: ds}}
    spec:
      containers: [{name: app, image: busybox, ports: [{containerPort: 9376}]}]
"#,
    )
    .expect("manifest");
    kubectl_ok(&cluster, &["create", "-f", path.to_str().expect("utf-8")]);
    let pods = wait_running(&client, "default", "daemonset-name=ds", 1).await;
    let (revision, first_hash) = newest_revision(&client).await;
    assert_eq!(revision, 1);
    assert_pods_carry(&pods, &first_hash);
    let out = undo_to(&cluster, 1);
    assert!(
        out.contains("skipped rollback (current template already matches revision 1)"),
        "{out}"
    );

    kubectl_ok(&cluster, &["set", "image", "ds/ds", "app=busybox:v2"]);
    let out = kubectl_ok(&cluster, &["rollout", "status", "ds/ds", "--timeout=90s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let (revision, hash) = newest_revision(&client).await;
    assert_eq!(revision, 2);
    assert_ne!(hash, first_hash);
    let pods = wait_running(&client, "default", "daemonset-name=ds", 1).await;
    assert_pods_carry(&pods, &hash);
    let out = undo_to(&cluster, 2);
    assert!(
        out.contains("skipped rollback (current template already matches revision 2)"),
        "{out}"
    );

    // Undo to revision 1 applies its data as a patch: the first template (and hash) return,
    // renumbered as the newest revision.
    let out = undo_to(&cluster, 1);
    assert!(out.contains("rolled back"), "{out}");
    let out = kubectl_ok(&cluster, &["rollout", "status", "ds/ds", "--timeout=90s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let (revision, hash) = newest_revision(&client).await;
    assert_eq!((revision, hash.as_str()), (3, first_hash.as_str()));
    let out = undo_to(&cluster, 3);
    assert!(out.contains("skipped rollback"), "{out}");
}
