//! DaemonSet, StatefulSet, CronJob and Endpoints/EndpointSlice controllers end to end with
//! hollow nodes, driven through kubectl and kube-rs as a user would.

mod controllers_common;
mod support;

use std::time::Duration;

use controllers_common::{
    cluster_with, kubectl_ok, live_pods, wait_nodes_ready, wait_running, HollowNodes, CONVERGE,
};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Endpoints, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};
use kube::ResourceExt;
use support::eventually;

fn write(cluster: &support::TestCluster, name: &str, yaml: &str) -> String {
    let path = cluster.scratch().join(name);
    std::fs::write(&path, yaml).expect("manifest");
    path.to_string_lossy().into_owned()
}

fn node_of(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default()
}

fn image_of(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_runs_one_pod_per_eligible_node_and_rolls() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    let _nodes = HollowNodes::start(&cluster, 0, 3);
    wait_nodes_ready(&client, 3).await;
    kubectl_ok(
        &cluster,
        &["taint", "node", "hollow-2", "dedicated=infra:NoSchedule"],
    );
    let file = write(
        &cluster,
        "ds.yaml",
        r#"apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: busybox, command: [sleep, 1d]}]}
"#,
    );
    kubectl_ok(&cluster, &["apply", "-f", &file]);
    let out = kubectl_ok(
        &cluster,
        &["rollout", "status", "ds/agent", "--timeout=90s"],
    );
    assert!(out.contains("successfully rolled out"), "{out}");
    let pods = wait_running(&client, "default", "app=agent", 2).await;
    let mut nodes: Vec<String> = pods.iter().map(node_of).collect();
    nodes.sort();
    assert_eq!(
        nodes,
        ["hollow-0", "hollow-1"],
        "the tainted node must not get a daemon"
    );

    // A new node gets its daemon.
    let _more = HollowNodes::start(&cluster, 3, 1);
    let pods = wait_running(&client, "default", "app=agent", 3).await;
    assert!(pods.iter().any(|p| node_of(p) == "hollow-3"));

    kubectl_ok(&cluster, &["set", "image", "ds/agent", "agent=busybox:v2"]);
    let out = kubectl_ok(
        &cluster,
        &["rollout", "status", "ds/agent", "--timeout=90s"],
    );
    assert!(out.contains("successfully rolled out"), "{out}");
    let pods = wait_running(&client, "default", "app=agent", 3).await;
    assert!(
        pods.iter().all(|p| image_of(p) == "busybox:v2"),
        "{:?}",
        pods.iter().map(image_of).collect::<Vec<_>>()
    );
    let revs: Api<ControllerRevision> = Api::namespaced(client.clone(), "default");
    let revs = revs
        .list(&ListParams::default().labels("app=agent"))
        .await
        .expect("revisions");
    assert_eq!(revs.items.len(), 2, "one ControllerRevision per template");
    let history = kubectl_ok(&cluster, &["rollout", "history", "ds/agent"]);
    assert!(
        history.contains("\n1 ") && history.contains("\n2 "),
        "{history}"
    );

    // With maxSurge the new daemon starts beside the old one, which goes only once its
    // replacement is Ready: watched event by event, three Ready daemons stay up throughout
    // and at most one extra pod exists.
    kubectl_ok(
        &cluster,
        &[
            "patch",
            "ds/agent",
            "--type=merge",
            "-p",
            r#"{"spec":{"updateStrategy":{"rollingUpdate":{"maxSurge":1,"maxUnavailable":0}}}}"#,
        ],
    );
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut events = Box::pin(kube::runtime::watcher(
        pods_api,
        kube::runtime::watcher::Config::default().labels("app=agent"),
    ));
    let mut seen: std::collections::BTreeMap<String, Pod> = Default::default();
    while let Some(ev) = events.next().await {
        match ev.expect("watch") {
            kube::runtime::watcher::Event::InitApply(p) => {
                seen.insert(p.name_any(), p);
            }
            kube::runtime::watcher::Event::InitDone => break,
            _ => {}
        }
    }
    kubectl_ok(&cluster, &["set", "image", "ds/agent", "agent=busybox:v3"]);
    let (mut min_ready, mut max_live) = (usize::MAX, 0);
    let done = tokio::time::Instant::now() + CONVERGE;
    loop {
        let live: Vec<&Pod> = seen
            .values()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        let ready = live.iter().filter(|p| pod_ready(p)).count();
        min_ready = min_ready.min(ready);
        max_live = max_live.max(live.len());
        let rolled = live.len() == 3
            && live
                .iter()
                .all(|p| image_of(p) == "busybox:v3" && pod_ready(p));
        if rolled {
            break;
        }
        let ev = tokio::time::timeout_at(done, events.next())
            .await
            .expect("surge rollout finishes")
            .expect("watch open")
            .expect("watch");
        match ev {
            kube::runtime::watcher::Event::Apply(p)
            | kube::runtime::watcher::Event::InitApply(p) => {
                seen.insert(p.name_any(), p);
            }
            kube::runtime::watcher::Event::Delete(p) => {
                seen.remove(&p.name_any());
            }
            _ => {}
        }
    }
    assert_eq!(
        min_ready, 3,
        "a Ready daemon was removed before its replacement"
    );
    assert_eq!(max_live, 4, "exactly one surge pod at a time");
    let out = kubectl_ok(
        &cluster,
        &["rollout", "status", "ds/agent", "--timeout=90s"],
    );
    assert!(out.contains("successfully rolled out"), "{out}");
}

fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statefulset_ordered_stable_names_and_rolling_update() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    let _nodes = HollowNodes::start(&cluster, 0, 2);
    wait_nodes_ready(&client, 2).await;
    let file = write(
        &cluster,
        "sts.yaml",
        r#"apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: busybox, command: [sleep, 1d]}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: par}
spec:
  serviceName: par
  replicas: 3
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: par}}
  template:
    metadata: {labels: {app: par}}
    spec: {containers: [{name: par, image: busybox, command: [sleep, 1d]}]}
"#,
    );
    kubectl_ok(&cluster, &["apply", "-f", &file]);
    let out = kubectl_ok(&cluster, &["rollout", "status", "sts/db", "--timeout=90s"]);
    assert!(
        out.contains("roll out complete") || out.contains("partitioned roll out complete"),
        "{out}"
    );
    let pods = wait_running(&client, "default", "app=db", 3).await;
    let mut names: Vec<String> = pods.iter().map(|p| p.name_any()).collect();
    names.sort();
    assert_eq!(names, ["db-0", "db-1", "db-2"]);
    // OrderedReady: each pod was created only after the previous one was Ready.
    let ready_at = |p: &Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| {
                c.iter()
                    .find(|c| c.type_ == "Ready")
                    .and_then(|c| c.last_transition_time.clone())
            })
    };
    let by_name = |n: &str| pods.iter().find(|p| p.name_any() == n).expect("pod");
    for (prev, next) in [("db-0", "db-1"), ("db-1", "db-2")] {
        let (ready, created) = (ready_at(by_name(prev)), by_name(next).creation_timestamp());
        assert!(ready.is_some() && created.is_some());
        assert!(ready <= created, "{next} created before {prev} was Ready");
    }
    let db0 = by_name("db-0");
    assert_eq!(
        db0.spec.as_ref().and_then(|s| s.hostname.as_deref()),
        Some("db-0")
    );
    assert_eq!(
        db0.spec.as_ref().and_then(|s| s.subdomain.as_deref()),
        Some("db")
    );
    wait_running(&client, "default", "app=par", 3).await;

    kubectl_ok(&cluster, &["set", "image", "sts/db", "db=busybox:v2"]);
    let out = kubectl_ok(&cluster, &["rollout", "status", "sts/db", "--timeout=90s"]);
    // With the defaulted `rollingUpdate.partition: 0` kubectl reports a partitioned roll out,
    // exactly as against upstream.
    assert!(
        out.contains("partitioned roll out complete: 3 new pods have been updated"),
        "{out}"
    );
    let pods = wait_running(&client, "default", "app=db", 3).await;
    assert!(pods.iter().all(|p| image_of(p) == "busybox:v2"));
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let st = sets.get("db").await.expect("sts").status.expect("status");
    assert_eq!(st.current_revision, st.update_revision);
    assert_eq!(st.updated_replicas, Some(3));
    // Pods name their revision as upstream's StatefulSet controller labels them: by the
    // ControllerRevision's name (upstream's rolling-update conformance specs compare the two).
    for p in &pods {
        assert_eq!(
            p.labels().get("controller-revision-hash"),
            st.current_revision.as_ref(),
            "{}",
            p.name_any()
        );
    }

    let revs: Api<ControllerRevision> = Api::namespaced(client.clone(), "default");
    let revs = revs
        .list(&ListParams::default().labels("app=db"))
        .await
        .expect("revisions");
    assert_eq!(revs.items.len(), 2, "one ControllerRevision per template");
    assert!(revs
        .items
        .iter()
        .any(
            |r| Some(r.metadata.name.clone().unwrap_or_default()) == st.update_revision
                && r.revision == 2
        ));

    // A canary (upstream's "canary updates and phased rolling updates"): with partition 2
    // only db-2 moves to the new template, and a deleted pod below the partition comes back
    // at the current revision.
    kubectl_ok(
        &cluster,
        &[
            "patch",
            "sts/db",
            "-p",
            r#"{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}}}"#,
        ],
    );
    kubectl_ok(&cluster, &["set", "image", "sts/db", "db=busybox:v3"]);
    let images = |pods: &[Pod]| {
        let mut v: Vec<(String, String)> = pods
            .iter()
            .map(|p| (p.name_any(), image_of(p).to_string()))
            .collect();
        v.sort();
        v
    };
    let canary = eventually(CONVERGE, || async {
        let pods = live_pods(&client, "default", "app=db").await;
        let want = [
            ("db-0", "busybox:v2"),
            ("db-1", "busybox:v2"),
            ("db-2", "busybox:v3"),
        ];
        let got = images(&pods);
        (got.len() == 3
            && got
                .iter()
                .zip(want)
                .all(|((n, i), (wn, wi))| n == wn && i == wi)
            && pods.iter().all(pod_ready))
        .then_some(())
    })
    .await;
    assert!(
        canary.is_some(),
        "canary: {:?}",
        images(&live_pods(&client, "default", "app=db").await)
    );
    let pods = live_pods(&client, "default", "app=db").await;
    let old_uid = pods
        .iter()
        .find(|p| p.name_any() == "db-0")
        .and_then(|p| p.uid());
    kubectl_ok(&cluster, &["delete", "pod", "db-0", "--wait=false"]);
    let restored = eventually(CONVERGE, || async {
        let pods = live_pods(&client, "default", "app=db").await;
        let db0 = pods
            .iter()
            .find(|p| p.name_any() == "db-0" && p.uid() != old_uid && pod_ready(p))?;
        Some(image_of(db0).to_string())
    })
    .await;
    assert_eq!(
        restored.as_deref(),
        Some("busybox:v2"),
        "db-0 came back at the update revision"
    );

    kubectl_ok(&cluster, &["scale", "sts/db", "--replicas=1"]);
    let pods = wait_running(&client, "default", "app=db", 1).await;
    assert_eq!(
        pods[0].name_any(),
        "db-0",
        "scale-down removes the highest ordinals"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cronjob_creates_jobs_on_schedule() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    let _nodes = HollowNodes::start(&cluster, 0, 1);
    wait_nodes_ready(&client, 1).await;
    kubectl_ok(
        &cluster,
        &[
            "create",
            "cronjob",
            "tick",
            "--image=busybox",
            "--schedule=*/1 * * * *",
            "--",
            "echo",
            "hi",
        ],
    );
    // The same schedule read in a zone half an hour off UTC's minute grid still fires each
    // minute; its Jobs carry the scheduled time in that zone, as upstream writes it.
    let zoned = write(
        &cluster,
        "zoned.yaml",
        r#"apiVersion: batch/v1
kind: CronJob
metadata: {name: zoned}
spec:
  schedule: "*/1 * * * *"
  timeZone: Asia/Kolkata
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: c, image: busybox, command: [echo, hi]}]
"#,
    );
    kubectl_ok(&cluster, &["apply", "-f", &zoned]);
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    // The first run is at the next minute boundary.
    let completed = |prefix: &'static str| {
        let jobs = jobs.clone();
        async move {
            eventually(Duration::from_secs(100), || async {
                let list = jobs.list(&ListParams::default()).await.ok()?;
                list.items
                    .into_iter()
                    .find(|j| j.name_any().starts_with(prefix) && finished(j) == Some("Complete"))
            })
            .await
        }
    };
    let job = completed("tick-")
        .await
        .expect("no completed Job from the CronJob within 100 s");
    let name = job.name_any();
    let minutes: i64 = name
        .strip_prefix("tick-")
        .and_then(|m| m.parse().ok())
        .expect("tick-<minutes>");
    let scheduled = job
        .annotations()
        .get("batch.kubernetes.io/cronjob-scheduled-timestamp")
        .cloned()
        .expect("scheduled-timestamp annotation");
    let parsed: k8s_openapi::jiff::Timestamp = scheduled.parse().expect("RFC 3339");
    assert_eq!(parsed.as_second(), minutes * 60);
    assert_eq!(job.owner_references()[0].kind, "CronJob");
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), "default");
    let st = eventually(CONVERGE, || async {
        let st = cronjobs.get("tick").await.ok()?.status?;
        st.last_successful_time.is_some().then_some(st)
    })
    .await
    .expect("lastSuccessfulTime never set");
    assert!(st.last_schedule_time.is_some());
    let out = kubectl_ok(&cluster, &["get", "cronjob", "tick"]);
    assert!(out.contains("*/1 * * * *"), "{out}");

    let job = completed("zoned-")
        .await
        .expect("no completed Job from the zoned CronJob");
    let scheduled = &job.annotations()["batch.kubernetes.io/cronjob-scheduled-timestamp"];
    assert!(scheduled.ends_with(":00+05:30"), "{scheduled}");
    let out = kubectl_ok(&cluster, &["get", "cronjob", "zoned"]);
    assert!(out.contains("Asia/Kolkata"), "{out}");
}

fn finished(j: &Job) -> Option<&'static str> {
    let c = j.status.as_ref()?.conditions.as_ref()?;
    c.iter()
        .any(|c| c.type_ == "Complete" && c.status == "True")
        .then_some("Complete")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_and_slices_follow_ready_pods() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    let _nodes = HollowNodes::start(&cluster, 0, 2);
    wait_nodes_ready(&client, 2).await;
    kubectl_ok(
        &cluster,
        &[
            "create",
            "deployment",
            "web",
            "--image=busybox",
            "--replicas=2",
            "--port=8080",
        ],
    );
    kubectl_ok(
        &cluster,
        &[
            "expose",
            "deployment",
            "web",
            "--port=80",
            "--target-port=8080",
        ],
    );
    wait_running(&client, "default", "app=web", 2).await;

    let eps: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    let count = |want: usize| {
        let (eps, slices, client) = (eps.clone(), slices.clone(), client.clone());
        async move {
            eventually(CONVERGE, || async {
                let ep = eps.get_opt("web").await.ok()??;
                let subsets = ep.subsets.unwrap_or_default();
                let ready: usize = subsets
                    .iter()
                    .map(|s| s.addresses.as_ref().map_or(0, Vec::len))
                    .sum();
                let port_ok = subsets
                    .iter()
                    .all(|s| s.ports.iter().flatten().all(|p| p.port == 8080));
                let sl = slices
                    .list(&ListParams::default().labels("kubernetes.io/service-name=web"))
                    .await
                    .ok()?;
                let slice_ready: usize = sl
                    .items
                    .iter()
                    .flat_map(|s| s.endpoints.iter().flatten())
                    .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
                    .count();
                let pods = live_pods(&client, "default", "app=web").await;
                let ips_match = subsets
                    .iter()
                    .flat_map(|s| s.addresses.iter().flatten())
                    .all(|a| {
                        pods.iter().any(|p| {
                            p.status.as_ref().and_then(|s| s.pod_ip.as_deref())
                                == Some(a.ip.as_str())
                        })
                    });
                (ready == want && slice_ready == want && port_ok && ips_match).then_some(())
            })
            .await
        }
    };
    assert!(
        count(2).await.is_some(),
        "Endpoints/EndpointSlice never listed the 2 pods"
    );
    let out = kubectl_ok(&cluster, &["get", "endpoints", "web"]);
    assert!(out.contains(":8080"), "{out}");

    kubectl_ok(&cluster, &["scale", "deploy/web", "--replicas=3"]);
    assert!(
        count(3).await.is_some(),
        "scale-up not reflected in endpoints"
    );
    kubectl_ok(&cluster, &["scale", "deploy/web", "--replicas=1"]);
    assert!(
        count(1).await.is_some(),
        "scale-down not reflected in endpoints"
    );
    // Deleted slices are put back (upstream's "recreating EndpointSlices after they've been
    // deleted" conformance step).
    kubectl_ok(
        &cluster,
        &[
            "delete",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=web",
        ],
    );
    assert!(
        count(1).await.is_some(),
        "deleted EndpointSlices were not recreated"
    );

    kubectl_ok(&cluster, &["delete", "service", "web"]);
    let gone = eventually(CONVERGE, || async {
        let ep = eps.get_opt("web").await.ok()?;
        let sl = slices
            .list(&ListParams::default().labels("kubernetes.io/service-name=web"))
            .await
            .ok()?;
        (ep.is_none() && sl.items.is_empty()).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "Endpoints/EndpointSlices outlived their Service"
    );
}
