//! Scheduler predicates (nodeSelector, taints, resources) each with a pod that must and one that
//! must not fit, node loss (NotReady, eviction after tolerationSeconds, replacement elsewhere),
//! and leader election handing over between two controller managers.

mod controllers_common;
mod support;

use std::time::Duration;

use controllers_common::{
    cluster_with, events_for, kubectl_ok, live_pods, node_ready, wait_bound, wait_nodes_ready,
    wait_running, HollowNodes, CONVERGE,
};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use kube::ResourceExt;
use serde_json::{json, Value};
use support::eventually;

fn pod(name: &str, spec_extra: Value) -> Pod {
    let mut spec =
        json!({"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "1d"]}]});
    if let (Some(s), Some(extra)) = (spec.as_object_mut(), spec_extra.as_object()) {
        for (k, v) in extra {
            s.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name}, "spec": spec}))
    .expect("pod")
}

/// The field managers recorded on an object.
fn managers_of(p: &Pod) -> Vec<String> {
    p.metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect()
}

/// Waits for PodScheduled=False and returns its message.
async fn unschedulable_message(api: &Api<Pod>, name: &str) -> String {
    let msg = eventually(CONVERGE, || async {
        let p = api.get(name).await.ok()?;
        let c = p
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled")?;
        (c.status == "False" && c.reason.as_deref() == Some("Unschedulable")).then_some(c.message?)
    })
    .await;
    msg.unwrap_or_else(|| panic!("{name} never got PodScheduled=False"))
}

/// `pods/binding` as upstream's BindingREST: nodeName and PodScheduled=True in ONE write (one
/// watch event), and a second binding is a Conflict on `pods/binding`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_is_one_write_and_conflicts_once_bound() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    // Another scheduler's pod: ours leaves it alone, so only the binding below writes it.
    let created = api
        .create(
            &PostParams::default(),
            &pod("manual", json!({"schedulerName": "manual-scheduler"})),
        )
        .await
        .expect("create pod");
    let rv = created.resource_version().expect("rv");
    let wp = WatchParams::default().fields("metadata.name=manual");
    let mut watch = api.watch(&wp, &rv).await.expect("watch").boxed();
    let binding = json!({"apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": "manual", "uid": created.uid()},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "node-a"}});
    let _: Value = api
        .create_subresource("binding", "manual", &PostParams::default(), &binding)
        .await
        .expect("bind");
    let bound = api.get("manual").await.expect("get");
    assert_eq!(
        bound.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some("node-a")
    );
    let scheduled = bound
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "PodScheduled")
        .expect("PodScheduled condition");
    assert_eq!(scheduled.status, "True");
    let mut modified = 0;
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(2), watch.next()).await {
        if let Ok(WatchEvent::Modified(_)) = ev {
            modified += 1;
        }
    }
    assert_eq!(modified, 1, "a binding is one write");
    let err = api
        .create_subresource::<_, Value>("binding", "manual", &PostParams::default(), &binding)
        .await
        .expect_err("second binding");
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert_eq!(
                s.message,
                "Operation cannot be fulfilled on pods/binding \"manual\": \
                 pod manual is already assigned to node \"node-a\""
            );
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_predicates_fit_and_misfit() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    let _nodes = HollowNodes::start(&cluster, 0, 3);
    wait_nodes_ready(&client, 3).await;
    kubectl_ok(&cluster, &["label", "node", "hollow-1", "disk=ssd"]);
    kubectl_ok(
        &cluster,
        &["taint", "node", "hollow-2", "dedicated=infra:NoSchedule"],
    );
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    let pods = [
        pod("sel-fit", json!({"nodeSelector": {"disk": "ssd"}})),
        pod("sel-misfit", json!({"nodeSelector": {"disk": "nvme"}})),
        pod(
            "taint-fit",
            json!({"nodeSelector": {"kubernetes.io/hostname": "hollow-2"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}]}),
        ),
        pod(
            "taint-misfit",
            json!({"nodeSelector": {"kubernetes.io/hostname": "hollow-2"}}),
        ),
        pod(
            "cpu-fit",
            json!({"containers": [{"name": "c", "image": "busybox",
            "resources": {"requests": {"cpu": "3", "memory": "1Gi"}}}]}),
        ),
        pod(
            "cpu-misfit",
            json!({"containers": [{"name": "c", "image": "busybox",
            "resources": {"requests": {"cpu": "5"}}}]}),
        ),
    ];
    for p in &pods {
        api.create(&pp, p).await.expect("create pod");
    }
    assert_eq!(wait_bound(&client, "default", "sel-fit").await, "hollow-1");
    assert_eq!(
        wait_bound(&client, "default", "taint-fit").await,
        "hollow-2"
    );
    let cpu_node = wait_bound(&client, "default", "cpu-fit").await;
    assert_ne!(cpu_node, "hollow-2", "cpu-fit does not tolerate the taint");

    let msg = unschedulable_message(&api, "sel-misfit").await;
    assert_eq!(
        msg,
        "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: infra}, \
         2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are \
         available: 3 Preemption is not helpful for scheduling."
    );
    let msg = unschedulable_message(&api, "taint-misfit").await;
    assert_eq!(
        msg,
        "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: infra}, \
         2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are \
         available: 3 Preemption is not helpful for scheduling."
    );
    let msg = unschedulable_message(&api, "cpu-misfit").await;
    assert!(
        msg.starts_with("0/3 nodes are available: ") && msg.contains("2 Insufficient cpu"),
        "{msg}"
    );
    // The scheduler's status write is recorded under upstream's component name.
    let managers = managers_of(&api.get("cpu-misfit").await.expect("get"));
    assert!(
        managers.iter().any(|m| m == "kube-scheduler"),
        "{managers:?}"
    );
    let events = events_for(&client, "default", "cpu-misfit").await;
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("FailedScheduling")
                && e.type_.as_deref() == Some("Warning")
                && e.message.as_deref() == Some(msg.as_str())),
        "no FailedScheduling event: {events:?}"
    );
    let events = events_for(&client, "default", "sel-fit").await;
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("Scheduled")
                && e.message.as_deref()
                    == Some("Successfully assigned default/sel-fit to hollow-1")),
        "no Scheduled event: {events:?}"
    );

    // The cluster changes: labelling a node lets the pending pod in (retried on node update).
    kubectl_ok(&cluster, &["label", "node", "hollow-0", "disk=nvme"]);
    assert_eq!(
        wait_bound(&client, "default", "sel-misfit").await,
        "hollow-0"
    );
}

/// A cluster with one hollow node and the priority classes `low` (1) and `high` (1000).
async fn one_node_with_priorities() -> (support::TestCluster, kube::Client, HollowNodes) {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    let nodes = HollowNodes::start(&cluster, 0, 1);
    wait_nodes_ready(&client, 1).await;
    kubectl_ok(&cluster, &["create", "priorityclass", "low", "--value=1"]);
    kubectl_ok(
        &cluster,
        &["create", "priorityclass", "high", "--value=1000"],
    );
    (cluster, client, nodes)
}

/// Preemption, as upstream's "SchedulerPreemption validates basic preemption works": a
/// higher-priority pod that fits nowhere evicts the lower-priority pod holding the room (marked
/// `DisruptionTarget`, a `Preempted` event) and is bound in its place; a pod of equal priority
/// preempts nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn higher_priority_pods_preempt_lower_ones() {
    let (_cluster, client, _nodes) = one_node_with_priorities().await;
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    let wants_cpu = |name: &str, class: &str| {
        pod(
            name,
            json!({"priorityClassName": class, "containers": [{"name": "c", "image": "busybox",
                "resources": {"requests": {"cpu": "3"}}}]}),
        )
    };
    api.create(&pp, &wants_cpu("victim", "low"))
        .await
        .expect("victim");
    let node = wait_bound(&client, "default", "victim").await;
    // Same priority: no preemption, the pod waits.
    api.create(&pp, &wants_cpu("peer", "low"))
        .await
        .expect("peer");
    let msg = unschedulable_message(&api, "peer").await;
    assert!(msg.contains("Insufficient cpu"), "{msg}");
    api.delete("peer", &Default::default())
        .await
        .expect("delete peer");

    api.create(&pp, &wants_cpu("preemptor", "high"))
        .await
        .expect("preemptor");
    assert_eq!(wait_bound(&client, "default", "preemptor").await, node);
    let gone = eventually(CONVERGE, || async {
        api.get_opt("victim")
            .await
            .ok()
            .and_then(|p| p.is_none().then_some(()))
    })
    .await;
    assert!(gone.is_some(), "the victim was not removed");
    let events = events_for(&client, "default", "victim").await;
    let preempted = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("Preempted"))
        .unwrap_or_else(|| panic!("no Preempted event: {events:?}"));
    let expected = format!("on node {node}");
    assert!(
        preempted
            .message
            .as_deref()
            .is_some_and(|m| m.ends_with(&expected)),
        "{preempted:?}"
    );
}

/// The room a preemption makes is kept for the preemptor (upstream's nominated pods, as in
/// "SchedulerPreemption ... runs ReplicaSets to verify preemption running path"): the
/// ReplicaSet of the evicted low-priority pod recreates it at once, and the new pod must not
/// take the room back while the preemptor waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preempted_replica_does_not_take_back_the_room() {
    let (cluster, client, _nodes) = one_node_with_priorities().await;
    let manifest = cluster.scratch().join("rs.json");
    let container =
        json!({"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "3"}}});
    std::fs::write(
        &manifest,
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "low"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "low"}},
                "template": {"metadata": {"labels": {"app": "low"}},
                    "spec": {"priorityClassName": "low", "containers": [container.clone()]}}}})
        .to_string(),
    )
    .unwrap();
    kubectl_ok(&cluster, &["apply", "-f", manifest.to_str().unwrap()]);
    wait_running(&client, "default", "app=low", 1).await;
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let preemptor = pod(
        "preemptor",
        json!({"priorityClassName": "high", "containers": [container]}),
    );
    api.create(&PostParams::default(), &preemptor)
        .await
        .expect("preemptor");
    wait_bound(&client, "default", "preemptor").await;
    // The replacement exists and stays pending: the node has no room for both.
    let replacement = eventually(CONVERGE, || async {
        let pods = live_pods(&client, "default", "app=low").await;
        (pods.len() == 1).then(|| pods[0].clone())
    })
    .await
    .expect("the ReplicaSet's replacement pod");
    let bound = replacement.spec.as_ref().and_then(|s| s.node_name.clone());
    assert_eq!(bound, None, "the replacement took the preemptor's room");
    let nominated = api.get("preemptor").await.expect("preemptor");
    assert!(nominated.spec.and_then(|s| s.node_name).is_some());
}

/// Preemption weighs PodDisruptionBudgets as upstream's does: of two nodes where evicting one
/// lower-priority pod makes room, the one whose victim no budget protects is chosen, even
/// though the protected victim there is the less important one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preemption_spares_pods_a_budget_protects() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    let _nodes = HollowNodes::start(&cluster, 0, 2);
    wait_nodes_ready(&client, 2).await;
    for (class, value) in [("low", "1"), ("mid", "5"), ("high", "1000")] {
        let value = format!("--value={value}");
        kubectl_ok(&cluster, &["create", "priorityclass", class, &value]);
    }
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    let wants_cpu = |name: &str, app: &str, class: &str, node: Option<&str>| {
        let mut p = pod(
            name,
            json!({"priorityClassName": class, "nodeName": node,
                "containers": [{"name": "c", "image": "busybox",
                    "resources": {"requests": {"cpu": "3"}}}]}),
        );
        p.metadata.labels = Some([("app".to_string(), app.to_string())].into());
        p
    };
    // Without the budget, `db` (the least important pod) would be the victim.
    for (name, class, node) in [("db", "low", "hollow-0"), ("cache", "mid", "hollow-1")] {
        api.create(&pp, &wants_cpu(name, name, class, Some(node)))
            .await
            .expect("victim candidate");
    }
    wait_running(&client, "default", "app=db", 1).await;
    wait_running(&client, "default", "app=cache", 1).await;
    kubectl_ok(
        &cluster,
        &[
            "create",
            "pdb",
            "db",
            "--selector=app=db",
            "--min-available=1",
        ],
    );
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    let guarded = eventually(CONVERGE, || async {
        let s = pdbs.get("db").await.ok()?.status?;
        (s.current_healthy == Some(1) && s.disruptions_allowed == Some(0)).then_some(())
    })
    .await;
    assert!(guarded.is_some(), "the budget never counted db as healthy");

    api.create(&pp, &wants_cpu("preemptor", "web", "high", None))
        .await
        .expect("preemptor");
    assert_eq!(
        wait_bound(&client, "default", "preemptor").await,
        "hollow-1"
    );
    let events = events_for(&client, "default", "cache").await;
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("Preempted")),
        "cache was not preempted: {events:?}"
    );
    let db = api.get("db").await.expect("db survives");
    assert!(
        db.metadata.deletion_timestamp.is_none(),
        "db is being deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_loss_evicts_and_replaces_pods() {
    let cluster = cluster_with(&["--node-monitor-grace-period=12s"]).await;
    let client = cluster.client().await;
    let _stable = HollowNodes::start(&cluster, 0, 2);
    let mut doomed = HollowNodes::start(&cluster, 2, 1);
    wait_nodes_ready(&client, 3).await;
    let manifest = cluster.scratch().join("tolerant.yaml");
    std::fs::write(
        &manifest,
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: tolerant}
spec:
  replicas: 6
  selector: {matchLabels: {app: tolerant}}
  template:
    metadata: {labels: {app: tolerant}}
    spec:
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      containers: [{name: c, image: busybox, command: [sleep, 1d]}]
"#,
    )
    .expect("manifest");
    kubectl_ok(&cluster, &["apply", "-f", manifest.to_str().expect("utf8")]);
    let pods = wait_running(&client, "default", "app=tolerant", 6).await;
    let on_doomed: Vec<String> = pods
        .iter()
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some("hollow-2"))
        .map(|p| p.name_any())
        .collect();
    assert!(!on_doomed.is_empty(), "spreading put nothing on hollow-2");

    doomed.kill();
    let nodes: Api<Node> = Api::all(client.clone());
    let lost = eventually(Duration::from_secs(60), || async {
        let n = nodes.get("hollow-2").await.ok()?;
        let tainted = n
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_ref())
            .is_some_and(|t| {
                t.iter()
                    .any(|t| t.key == "node.kubernetes.io/unreachable" && t.effect == "NoExecute")
            });
        (node_ready(&n) == "Unknown" && tainted).then_some(())
    })
    .await;
    assert!(lost.is_some(), "hollow-2 never went NotReady/unreachable");
    let out = kubectl_ok(&cluster, &["get", "node", "hollow-2"]);
    assert!(out.contains("NotReady"), "{out}");

    let replaced = eventually(CONVERGE, || async {
        let pods = live_pods(&client, "default", "app=tolerant").await;
        let fine = pods.len() == 6
            && pods.iter().all(|p| {
                let node = p.spec.as_ref().and_then(|s| s.node_name.as_deref());
                matches!(node, Some("hollow-0" | "hollow-1"))
                    && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
            });
        fine.then_some(())
    })
    .await;
    assert!(
        replaced.is_some(),
        "pods of hollow-2 were not evicted and replaced"
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // As upstream, an evicted pod on an unreachable node stays Terminating (nobody confirms
    // the kill) or is gone; either way it has been deleted.
    for name in on_doomed {
        let p = pods.get_opt(&name).await.expect("get");
        assert!(
            p.is_none_or(|p| p.metadata.deletion_timestamp.is_some()),
            "{name} not evicted"
        );
    }
}

async fn lease_holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get("ferrokube-controller-manager")
        .await
        .ok()?
        .spec?
        .holder_identity
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_election_hands_over() {
    let cluster = cluster_with(&["--no-controllers"]).await;
    let client = cluster.client().await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let start = |identity: &str| {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let cfg = ferrokube_controllers::ControllerConfig {
            identity: identity.into(),
            ..Default::default()
        };
        let handle = tokio::spawn(ferrokube_controllers::run_controller_manager(
            client.clone(),
            cfg,
            async move {
                let _ = rx.await;
            },
        ));
        (tx, handle)
    };
    let (stop_a, a) = start("manager-a");
    let leader = eventually(CONVERGE, || lease_holder(&leases)).await;
    assert_eq!(leader.as_deref(), Some("manager-a"));
    let (stop_b, b) = start("manager-b");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        lease_holder(&leases).await.as_deref(),
        Some("manager-a"),
        "b stole the lease"
    );

    // Only the leader acts: a's controllers create the default ServiceAccount.
    kubectl_ok(&cluster, &["create", "namespace", "first"]);
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "first");
    let sa = eventually(CONVERGE, || async {
        sas.get_opt("default").await.ok().flatten()
    })
    .await;
    assert!(
        sa.is_some(),
        "leader a did not run the service-account controller"
    );

    let _ = stop_a.send(());
    a.await.expect("join a").expect("manager a");
    let leader = eventually(CONVERGE, || async {
        lease_holder(&leases).await.filter(|h| h == "manager-b")
    })
    .await;
    assert_eq!(leader.as_deref(), Some("manager-b"), "b never took over");
    kubectl_ok(&cluster, &["create", "namespace", "second"]);
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "second");
    let sa = eventually(CONVERGE, || async {
        sas.get_opt("default").await.ok().flatten()
    })
    .await;
    assert!(sa.is_some(), "new leader b does not run the controllers");
    let transitions = leases
        .get("ferrokube-controller-manager")
        .await
        .ok()
        .and_then(|l| l.spec?.lease_transitions);
    assert!(transitions.unwrap_or(0) >= 1, "leaseTransitions not bumped");
    let _ = stop_b.send(());
    b.await.expect("join b").expect("manager b");
}
