//! Workload controllers end to end with hollow nodes: Deployment rollouts (surge limits observed
//! through a watch, history and undo), ReplicaSet self-healing, Jobs, garbage collection with
//! every propagation policy, and namespace deletion.

mod controllers_common;
mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use controllers_common::{
    cluster_with, kubectl_ok, live_pods, wait_nodes_ready, wait_running, HollowNodes, CONVERGE,
};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::watcher;
use kube::ResourceExt;
use support::eventually;

fn image_of(d: &Deployment) -> String {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_rollout_scale_undo_and_self_healing() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    let _nodes = HollowNodes::start(&cluster, 0, 3);
    wait_nodes_ready(&client, 3).await;

    kubectl_ok(
        &cluster,
        &[
            "create",
            "deployment",
            "web",
            "--image=busybox",
            "--replicas=3",
            "--",
            "httpd",
            "-f",
        ],
    );
    let out = kubectl_ok(
        &cluster,
        &["rollout", "status", "deploy/web", "--timeout=90s"],
    );
    assert!(out.contains("successfully rolled out"), "{out}");
    wait_running(&client, "default", "app=web", 3).await;

    kubectl_ok(&cluster, &["scale", "deploy/web", "--replicas=5"]);
    wait_running(&client, "default", "app=web", 5).await;

    // Watch every pod of the deployment during the image change: at no point may more than
    // replicas + maxSurge (5 + ceil(25% of 5) = 7) live pods exist.
    let live: Arc<Mutex<HashSet<String>>> = Arc::default();
    let peak = Arc::new(AtomicUsize::new(0));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let watch = {
        let (live, peak) = (live.clone(), peak.clone());
        let stream = watcher(pods.clone(), watcher::Config::default().labels("app=web"));
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(ev) = stream.next().await {
                let Ok(ev) = ev else { continue };
                let mut set = live.lock().expect("lock");
                match ev {
                    watcher::Event::Apply(p) | watcher::Event::InitApply(p) => {
                        if p.metadata.deletion_timestamp.is_none() {
                            set.insert(p.name_any());
                        } else {
                            set.remove(&p.name_any());
                        }
                    }
                    watcher::Event::Delete(p) => {
                        set.remove(&p.name_any());
                    }
                    watcher::Event::Init | watcher::Event::InitDone => {}
                }
                peak.fetch_max(set.len(), Ordering::SeqCst);
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    kubectl_ok(
        &cluster,
        &["set", "image", "deploy/web", "busybox=busybox:v2"],
    );
    let out = kubectl_ok(
        &cluster,
        &["rollout", "status", "deploy/web", "--timeout=90s"],
    );
    assert!(out.contains("successfully rolled out"), "{out}");
    let running = wait_running(&client, "default", "app=web", 5).await;
    assert!(running.iter().all(|p| p
        .spec
        .as_ref()
        .is_some_and(|s| s.containers[0].image.as_deref() == Some("busybox:v2"))));
    watch.abort();
    let max = peak.load(Ordering::SeqCst);
    assert!(
        (5..=7).contains(&max),
        "peak live pods {max} exceeds replicas + maxSurge"
    );

    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let owned = rss
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("rs")
        .items;
    assert_eq!(owned.len(), 2);
    // Controller writes are recorded under upstream's component name.
    for rs in &owned {
        let managers: Vec<_> = rs
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .filter_map(|m| m.manager.as_deref())
            .collect();
        assert!(
            managers.contains(&"kube-controller-manager"),
            "{managers:?}"
        );
    }
    let history = kubectl_ok(&cluster, &["rollout", "history", "deploy/web"]);
    assert!(
        history.contains("\n1 ") && history.contains("\n2 "),
        "{history}"
    );

    kubectl_ok(&cluster, &["rollout", "undo", "deploy/web"]);
    kubectl_ok(
        &cluster,
        &["rollout", "status", "deploy/web", "--timeout=90s"],
    );
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d = deps.get("web").await.expect("get deploy");
    assert_eq!(image_of(&d), "busybox");
    assert_eq!(
        d.annotations()
            .get("deployment.kubernetes.io/revision")
            .map(String::as_str),
        Some("3")
    );
    let running = wait_running(&client, "default", "app=web", 5).await;
    assert!(running.iter().all(|p| p
        .spec
        .as_ref()
        .is_some_and(|s| s.containers[0].image.as_deref() == Some("busybox"))));

    // `rollout restart` stamps the template and rolls a new ReplicaSet.
    kubectl_ok(&cluster, &["rollout", "restart", "deploy/web"]);
    kubectl_ok(
        &cluster,
        &["rollout", "status", "deploy/web", "--timeout=90s"],
    );
    let d = deps.get("web").await.expect("get deploy");
    let restarted = d
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .is_some_and(|a| a.contains_key("kubectl.kubernetes.io/restartedAt"));
    assert!(restarted, "restartedAt annotation missing");
    assert_eq!(
        rss.list(&ListParams::default().labels("app=web"))
            .await
            .expect("rs")
            .items
            .len(),
        3
    );
    let running = wait_running(&client, "default", "app=web", 5).await;

    // Self-healing: a deleted pod is replaced by a new one.
    let victim = running[0].name_any();
    kubectl_ok(&cluster, &["delete", "pod", &victim, "--wait=false"]);
    let healed = eventually(CONVERGE, || async {
        let pods = live_pods(&client, "default", "app=web").await;
        (pods.len() == 5 && pods.iter().all(|p| p.name_any() != victim)).then_some(())
    })
    .await;
    assert!(healed.is_some(), "no replacement for {victim}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_runs_to_completion() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    let _nodes = HollowNodes::start(&cluster, 0, 2);
    wait_nodes_ready(&client, 2).await;
    kubectl_ok(
        &cluster,
        &[
            "create",
            "job",
            "hello",
            "--image=busybox",
            "--",
            "echo",
            "hi",
        ],
    );
    let out = kubectl_ok(
        &cluster,
        &[
            "wait",
            "--for=condition=complete",
            "job/hello",
            "--timeout=90s",
        ],
    );
    assert!(out.contains("job.batch/hello condition met"), "{out}");
    let status = kubectl_ok(
        &cluster,
        &["get", "job", "hello", "-o", "jsonpath={.status.succeeded}"],
    );
    assert_eq!(status, "1");
}

async fn wait_gone<K>(api: &Api<K>, selector: &str) -> bool
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    eventually(CONVERGE, || async {
        let l = api
            .list(&ListParams::default().labels(selector))
            .await
            .ok()?;
        l.items.is_empty().then_some(())
    })
    .await
    .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_collection_background_orphan_foreground() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    let _nodes = HollowNodes::start(&cluster, 0, 2);
    wait_nodes_ready(&client, 2).await;
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for name in ["bg", "orphan", "fg"] {
        kubectl_ok(
            &cluster,
            &[
                "create",
                "deployment",
                name,
                "--image=busybox",
                "--replicas=2",
            ],
        );
    }
    for name in ["bg", "orphan", "fg"] {
        wait_running(&client, "default", &format!("app={name}"), 2).await;
    }

    kubectl_ok(&cluster, &["delete", "deploy", "bg"]);
    assert!(
        wait_gone(&rss, "app=bg").await,
        "background: ReplicaSet left behind"
    );
    assert!(
        wait_gone(&pods, "app=bg").await,
        "background: pods left behind"
    );

    kubectl_ok(
        &cluster,
        &["delete", "deploy", "orphan", "--cascade=orphan"],
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let left = rss
        .list(&ListParams::default().labels("app=orphan"))
        .await
        .expect("list");
    assert_eq!(left.items.len(), 1, "orphan: the ReplicaSet must stay");
    assert!(
        left.items[0].owner_references().is_empty(),
        "orphan: ownerReference not removed"
    );
    assert_eq!(live_pods(&client, "default", "app=orphan").await.len(), 2);

    let out = kubectl_ok(
        &cluster,
        &[
            "delete",
            "deploy",
            "fg",
            "--cascade=foreground",
            "--timeout=90s",
        ],
    );
    assert!(out.contains("deleted"), "{out}");
    assert!(
        wait_gone(&rss, "app=fg").await,
        "foreground: ReplicaSet left behind"
    );
    assert!(
        wait_gone(&pods, "app=fg").await,
        "foreground: pods left behind"
    );
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    assert!(deps.get_opt("fg").await.expect("get").is_none());
}

/// Upstream's "Deployment should support proportional scaling": a rollout stalled part way
/// (old 8, new 5 for 10 replicas with surge 3) resized to 30 spreads the 20 extra replicas in
/// proportion: old 20, new 13.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_resized_mid_rollout_scales_proportionally() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    let _nodes = HollowNodes::start(&cluster, 0, 2);
    wait_nodes_ready(&client, 2).await;
    let deploy: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "prop"},
        "spec": {"replicas": 10, "selector": {"matchLabels": {"app": "prop"}},
            "strategy": {"type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}},
            "template": {"metadata": {"labels": {"app": "prop"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}))
    .unwrap();
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deploys
        .create(&PostParams::default(), &deploy)
        .await
        .expect("create");
    wait_running(&client, "default", "app=prop", 10).await;
    // The new pods never count as available for 300 s, so the rollout stalls.
    kubectl_ok(
        &cluster,
        &[
            "patch",
            "deploy",
            "prop",
            "-p",
            r#"{"spec":{"minReadySeconds":300,"template":{"spec":{"containers":[{"name":"c","image":"busybox:v2"}]}}}}"#,
        ],
    );
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let sizes = || async {
        let mut v: Vec<(String, i32)> = rss
            .list(&ListParams::default().labels("app=prop"))
            .await
            .ok()?
            .items
            .iter()
            .map(|r| {
                let image = r
                    .spec
                    .as_ref()?
                    .template
                    .as_ref()?
                    .spec
                    .as_ref()?
                    .containers[0]
                    .image
                    .clone()?;
                Some((image, r.spec.as_ref()?.replicas?))
            })
            .collect::<Option<_>>()?;
        v.sort();
        Some(v)
    };
    let want = |old: i32, new: i32| {
        vec![
            ("busybox".to_string(), old),
            ("busybox:v2".to_string(), new),
        ]
    };
    let stalled = eventually(CONVERGE, || async {
        sizes().await.filter(|v| *v == want(8, 5))
    })
    .await;
    assert!(
        stalled.is_some(),
        "rollout did not stall at 8/5: {:?}",
        sizes().await
    );
    kubectl_ok(&cluster, &["scale", "deploy", "prop", "--replicas=30"]);
    let spread = eventually(CONVERGE, || async {
        sizes().await.filter(|v| *v == want(20, 13))
    })
    .await;
    assert!(spread.is_some(), "not proportional: {:?}", sizes().await);
}

/// Upstream's "Garbage collector should not be blocked by dependency circle": three objects
/// each owning the next with `blockOwnerDeletion`; deleting one in the foreground removes all
/// three instead of leaving each waiting for the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreground_deletion_is_not_blocked_by_a_dependency_circle() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut uids = Vec::new();
    for name in ["c1", "c2", "c3"] {
        let cm: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"circle": "yes"}}}))
        .unwrap();
        let made = cms
            .create(&PostParams::default(), &cm)
            .await
            .expect("create");
        uids.push(made.uid().expect("uid"));
    }
    // c1 is owned by c3, c2 by c1, c3 by c2.
    for (dep, owner) in [(0, 2), (1, 0), (2, 1)] {
        let patch = serde_json::json!({"metadata": {"ownerReferences": [{
            "apiVersion": "v1", "kind": "ConfigMap", "name": format!("c{}", owner + 1),
            "uid": uids[owner], "controller": true, "blockOwnerDeletion": true}]}});
        cms.patch(
            &format!("c{}", dep + 1),
            &Default::default(),
            &kube::api::Patch::Strategic(&patch),
        )
        .await
        .expect("owner reference");
    }
    kubectl_ok(
        &cluster,
        &[
            "delete",
            "configmap",
            "c1",
            "--cascade=foreground",
            "--wait=false",
        ],
    );
    assert!(
        wait_gone(&cms, "circle=yes").await,
        "the circle was left behind: {:?}",
        cms.list(&ListParams::default().labels("circle=yes"))
            .await
            .map(|l| l.items.iter().map(|c| c.name_any()).collect::<Vec<_>>())
    );
}

/// Upstream's "Garbage collector should not delete dependents that have both valid owner and
/// owner that's waiting for dependents to be deleted": an owner deleted in the foreground goes
/// once its sole dependents are gone; dependents that also have a valid owner stay, with only
/// that owner's reference left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreground_deletion_leaves_dependents_with_another_valid_owner() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let create = |name: &str, owners: serde_json::Value| {
        let cm: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"gc": "two-owners"},
                "ownerReferences": owners}}))
        .unwrap();
        let cms = cms.clone();
        async move {
            cms.create(&PostParams::default(), &cm)
                .await
                .expect("create")
        }
    };
    let owner_ref = |cm: &ConfigMap, block: bool| {
        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "name": cm.name_any(),
            "uid": cm.uid().unwrap(), "blockOwnerDeletion": block})
    };
    let doomed = create("to-be-deleted", serde_json::json!([])).await;
    let stay = create("to-stay", serde_json::json!([])).await;
    for i in 0..4 {
        let mut owners = vec![owner_ref(&doomed, true)];
        if i % 2 == 0 {
            owners.push(owner_ref(&stay, false));
        }
        create(&format!("dep-{i}"), serde_json::json!(owners)).await;
    }
    let dp = kube::api::DeleteParams::foreground();
    cms.delete("to-be-deleted", &dp).await.expect("delete");
    let gone = eventually(CONVERGE, || async {
        cms.get_opt("to-be-deleted")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    let names = |l: &kube::api::ObjectList<ConfigMap>| -> Vec<String> {
        l.items.iter().map(|c| c.name_any()).collect()
    };
    let left = cms
        .list(&ListParams::default().labels("gc=two-owners"))
        .await
        .expect("list");
    assert!(
        gone.is_some(),
        "the owner was never deleted: {:?}",
        names(&left)
    );
    assert_eq!(names(&left), ["dep-0", "dep-2", "to-stay"]);
    for cm in left
        .items
        .iter()
        .filter(|c| c.name_any().starts_with("dep-"))
    {
        assert!(cm.metadata.deletion_timestamp.is_none(), "{cm:?}");
        let owners: Vec<String> = cm
            .owner_references()
            .iter()
            .map(|r| r.name.clone())
            .collect();
        assert_eq!(owners, ["to-stay"], "{}", cm.name_any());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_deletion_removes_contents() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    let _nodes = HollowNodes::start(&cluster, 0, 2);
    wait_nodes_ready(&client, 2).await;
    kubectl_ok(&cluster, &["create", "namespace", "demo"]);
    kubectl_ok(
        &cluster,
        &[
            "-n",
            "demo",
            "create",
            "deployment",
            "web",
            "--image=busybox",
            "--replicas=2",
        ],
    );
    kubectl_ok(
        &cluster,
        &[
            "-n",
            "demo",
            "create",
            "configmap",
            "cfg",
            "--from-literal=a=b",
        ],
    );
    wait_running(&client, "demo", "app=web", 2).await;

    let out = kubectl_ok(&cluster, &["delete", "ns", "demo", "--timeout=90s"]);
    assert!(out.contains("namespace \"demo\" deleted"), "{out}");
    let nss: Api<Namespace> = Api::all(client.clone());
    assert!(nss.get_opt("demo").await.expect("get ns").is_none());
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "demo");
    assert!(cms
        .list(&ListParams::default())
        .await
        .map(|l| l.items.is_empty())
        .unwrap_or(true));
    assert!(live_pods(&client, "demo", "app=web").await.is_empty());
    // The namespace can be created again from scratch.
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(serde_json::json!({"metadata": {"name": "demo"}})).expect("ns"),
    )
    .await
    .expect("recreate demo");
}
