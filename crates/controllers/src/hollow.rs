//! Hollow nodes: fake `hollow-<i>` nodes for tests and benchmarks (like KWOK). Each is
//! registered Ready with 4 CPU / 16Gi / 110 pods, renews its `kube-node-lease` Lease, marks
//! pods bound to it Running and Ready with a pod IP (Succeeded when every container only runs
//! `true`/`echo`), confirms pod deletions, and is removed on exit.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Container, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::error::{kube_conflict, kube_not_found, Result};
use crate::util::now;

/// Field manager of a hollow node's writes: it plays the kubelet.
const FIELD_MANAGER: &str = "kubelet";

/// Lease renewal interval (upstream kubelet: 10 s).
pub const LEASE_RENEW: Duration = Duration::from_secs(10);
/// Lease duration (upstream kubelet: 40 s).
pub const LEASE_DURATION_SECONDS: i32 = 40;

/// Name of hollow node `i`.
pub fn node_name(i: usize) -> String {
    format!("hollow-{i}")
}

/// The Node object for hollow node `i`.
pub fn node_object(i: usize) -> Node {
    let name = node_name(i);
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": "amd64", "type": "hollow"}},
        "spec": {"podCIDR": pod_cidr(i), "podCIDRs": [pod_cidr(i)]},
        "status": node_status(i),
    }))
    .unwrap_or_default()
}

fn pod_cidr(i: usize) -> String {
    format!("10.{}.{}.0/24", 64 + (i / 256) % 128, i % 256)
}

fn node_status(i: usize) -> Value {
    let t = now();
    let cond = |ty: &str, st: &str, reason: &str, msg: &str| {
        json!({"type": ty, "status": st,
        "reason": reason, "message": msg, "lastHeartbeatTime": t, "lastTransitionTime": t})
    };
    let res = json!({"cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"});
    json!({
        "capacity": res, "allocatable": res,
        "conditions": [
            cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [{"type": "InternalIP", "address": format!("10.250.{}.{}", i / 250, i % 250 + 1)},
                      {"type": "Hostname", "address": node_name(i)}],
        "nodeInfo": {"kubeletVersion": "v1.33.0", "kubeProxyVersion": "v1.33.0",
            "containerRuntimeVersion": "hollow://1.0", "operatingSystem": "linux",
            "architecture": "amd64", "osImage": "ferrokube hollow node", "kernelVersion": "0.0.0",
            "machineID": "", "systemUUID": "", "bootID": ""},
        "phase": "Running",
    })
}

/// The exit code of a container whose command ends at once: 0 for `true`/`echo`, 1 for
/// `false`, N for `exit N` (so tests can drive Job failure handling); None for anything else,
/// which "runs" until deleted.
pub fn scripted_exit(c: &Container) -> Option<i32> {
    let mut words: Vec<String> = c.command.clone().unwrap_or_default();
    words.extend(c.args.clone().unwrap_or_default());
    let base = words.first()?.rsplit('/').next().unwrap_or("").to_string();
    let script = match base.as_str() {
        "sh" | "bash" if words.get(1).map(String::as_str) == Some("-c") => {
            words.get(2)?.trim().to_string()
        }
        _ => words.join(" "),
    };
    let first = script.split_whitespace().next().unwrap_or("");
    match first.rsplit('/').next().unwrap_or(first) {
        "true" | "echo" => Some(0),
        "false" => Some(1),
        "exit" => script.split_whitespace().nth(1).unwrap_or("0").parse().ok(),
        _ => None,
    }
}

/// Whether a container only runs `true` or `echo` (so its pod completes at once).
pub fn trivially_completes(c: &Container) -> bool {
    scripted_exit(c) == Some(0)
}

/// The status a hollow node reports for `pod`.
pub fn pod_status(pod: &Pod, host_ip: &str, pod_ip: &str) -> Value {
    let t = now();
    let containers = pod
        .spec
        .as_ref()
        .map(|s| s.containers.clone())
        .unwrap_or_default();
    let exits: Vec<Option<i32>> = containers.iter().map(scripted_exit).collect();
    let never_restarts =
        pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()) == Some("Never");
    let succeeded = !exits.is_empty() && exits.iter().all(|e| *e == Some(0));
    let failed =
        never_restarts && !exits.is_empty() && exits.iter().all(Option::is_some) && !succeeded;
    let done = succeeded || failed;
    let statuses: Vec<Value> = containers
        .iter()
        .zip(&exits)
        .map(|(c, exit)| {
            let state = if done {
                let code = exit.unwrap_or(0);
                let reason = if code == 0 { "Completed" } else { "Error" };
                json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": t, "finishedAt": t}})
            } else {
                json!({"running": {"startedAt": t}})
            };
            json!({"name": c.name, "image": c.image.clone().unwrap_or_default(),
                "imageID": format!("hollow://{}", c.image.clone().unwrap_or_default()),
                "containerID": format!("hollow://{}-{}", pod.metadata.uid.clone().unwrap_or_default(), c.name),
                "ready": !done, "started": !done, "restartCount": 0, "state": state})
        })
        .collect();
    let ready = if done { "False" } else { "True" };
    let reason = if done {
        json!("PodCompleted")
    } else {
        Value::Null
    };
    let cond = |ty: &str, st: &str| {
        json!({"type": ty, "status": st, "lastProbeTime": null,
        "lastTransitionTime": t, "reason": if st == "True" { Value::Null } else { reason.clone() }})
    };
    json!({
        "phase": if failed { "Failed" } else if done { "Succeeded" } else { "Running" },
        "conditions": [cond("PodReadyToStartContainers", "True"), cond("Initialized", "True"),
            cond("Ready", ready), cond("ContainersReady", ready), cond("PodScheduled", "True")],
        "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
        "startTime": t, "qosClass": "BestEffort",
        "containerStatuses": statuses,
    })
}

/// Runs `count` hollow nodes until `shutdown` resolves, then deletes them.
pub async fn run_hollow_nodes(
    client: Client,
    count: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_hollow_node_range(client, 0..count, shutdown).await
}

/// Runs hollow nodes `hollow-<i>` for every `i` in `range` until `shutdown` resolves, then
/// deletes them. Disjoint ranges let several processes share one cluster, so a test can kill
/// one of them to make just its nodes stop heartbeating.
pub async fn run_hollow_node_range(
    client: Client,
    range: std::ops::Range<usize>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let token = crate::token_from(shutdown);
    let nodes: Api<Node> = Api::all(client.clone());
    let mut index: HashMap<String, usize> = HashMap::new();
    for i in range.clone() {
        register(&nodes, i).await?;
        index.insert(node_name(i), i);
    }
    let index = Arc::new(index);
    let leases = tokio::spawn(heartbeat(client.clone(), range.clone(), token.clone()));
    let pods = tokio::spawn(run_pods(client.clone(), index.clone(), token.clone()));
    token.cancelled().await;
    let _ = leases.await;
    let _ = pods.await;
    let lease_api: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    // Deregister many nodes at a time: thousands of sequential deletes outlast a benchmark.
    futures::stream::iter(range)
        .for_each_concurrent(32, |i| {
            let (nodes, lease_api) = (&nodes, &lease_api);
            async move {
                let name = node_name(i);
                let _ = nodes.delete(&name, &DeleteParams::default()).await;
                let _ = lease_api.delete(&name, &DeleteParams::default()).await;
            }
        })
        .await;
    Ok(())
}

async fn register(nodes: &Api<Node>, i: usize) -> Result<()> {
    let node = node_object(i);
    match nodes
        .create(&crate::util::post_params_as(FIELD_MANAGER), &node)
        .await
    {
        Ok(_) => {}
        Err(e) if kube_conflict(&e) => {}
        Err(e) => return Err(e.into()),
    }
    // Status is a subresource: set it explicitly in case create dropped it.
    nodes
        .patch_status(
            &node_name(i),
            &crate::util::patch_params_as(FIELD_MANAGER),
            &Patch::Merge(json!({"status": node_status(i)})),
        )
        .await?;
    Ok(())
}

async fn heartbeat(
    client: Client,
    range: std::ops::Range<usize>,
    token: tokio_util::sync::CancellationToken,
) {
    let api: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let nodes: Api<Node> = Api::all(client);
    let mut uids: BTreeMap<usize, String> = BTreeMap::new();
    loop {
        for i in range.clone() {
            let name = node_name(i);
            if let std::collections::btree_map::Entry::Vacant(e) = uids.entry(i) {
                if let Ok(n) = nodes.get(&name).await {
                    e.insert(n.metadata.uid.unwrap_or_default());
                }
            }
            let spec = LeaseSpec {
                holder_identity: Some(name.clone()),
                lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
                renew_time: Some(MicroTime(Timestamp::now())),
                ..Default::default()
            };
            let patch = json!({"spec": {"holderIdentity": spec.holder_identity,
                "leaseDurationSeconds": spec.lease_duration_seconds, "renewTime": spec.renew_time}});
            match api
                .patch(
                    &name,
                    &crate::util::patch_params_as(FIELD_MANAGER),
                    &Patch::Merge(patch),
                )
                .await
            {
                Ok(_) => {}
                Err(e) if kube_not_found(&e) => {
                    let lease = Lease {
                        metadata: ObjectMeta {
                            name: Some(name.clone()),
                            namespace: Some("kube-node-lease".into()),
                            owner_references: uids.get(&i).map(|uid| {
                                vec![OwnerReference {
                                    api_version: "v1".into(),
                                    kind: "Node".into(),
                                    name: name.clone(),
                                    uid: uid.clone(),
                                    ..Default::default()
                                }]
                            }),
                            ..Default::default()
                        },
                        spec: Some(spec),
                    };
                    let _ = api
                        .create(&crate::util::post_params_as(FIELD_MANAGER), &lease)
                        .await;
                }
                Err(e) => tracing::debug!(node = %name, error = %e, "lease renew failed"),
            }
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(LEASE_RENEW) => {}
        }
    }
}

async fn run_pods(
    client: Client,
    index: Arc<HashMap<String, usize>>,
    token: tokio_util::sync::CancellationToken,
) {
    let api: Api<Pod> = Api::all(client.clone());
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .applied_objects();
    let mut stream = std::pin::pin!(stream);
    let counters: Arc<Mutex<HashMap<usize, u32>>> = Arc::default();
    let sem = Arc::new(tokio::sync::Semaphore::new(32));
    loop {
        let pod = tokio::select! {
            _ = token.cancelled() => return,
            ev = stream.next() => match ev {
                None => return,
                Some(Err(_)) => continue,
                Some(Ok(p)) => p,
            },
        };
        let Some(i) = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_ref())
            .and_then(|n| index.get(n))
            .copied()
        else {
            continue;
        };
        let phase = crate::util::pod_phase(&pod).to_owned();
        let deleting = pod.metadata.deletion_timestamp.is_some();
        let started = pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.as_ref())
            .is_some();
        if !deleting && (started || phase != "Pending") {
            continue;
        }
        let (client, counters, permit) = (
            client.clone(),
            counters.clone(),
            sem.clone().acquire_owned().await,
        );
        tokio::spawn(async move {
            let ns = pod.namespace().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(client, &ns);
            if deleting {
                // Confirm termination as a kubelet does once containers are gone.
                let _ = api
                    .delete(&pod.name_any(), &DeleteParams::default().grace_period(0))
                    .await;
            } else {
                let n = {
                    let mut c = counters.lock().await;
                    let e = c.entry(i).or_insert(0);
                    *e += 1;
                    *e
                };
                let host = format!("10.250.{}.{}", i / 250, i % 250 + 1);
                let ip = format!("10.{}.{}.{}", 64 + (i / 256) % 128, i % 256, (n % 253) + 1);
                let status = pod_status(&pod, &host, &ip);
                let _ = api
                    .patch_status(
                        &pod.name_any(),
                        &crate::util::patch_params_as(FIELD_MANAGER),
                        &Patch::Merge(json!({"status": status})),
                    )
                    .await;
            }
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(cmd: Value) -> Container {
        serde_json::from_value(json!({"name": "c", "command": cmd})).unwrap()
    }

    #[test]
    fn detects_trivial_commands() {
        assert!(trivially_completes(&container(json!(["echo", "hi"]))));
        assert!(trivially_completes(&container(json!(["/bin/true"]))));
        assert!(trivially_completes(&container(json!([
            "sh", "-c", "echo hi"
        ]))));
        assert!(!trivially_completes(&container(json!(["httpd", "-f"]))));
        assert!(!trivially_completes(&container(json!(null))));
        assert_eq!(
            scripted_exit(&container(json!(["sh", "-c", "exit 42"]))),
            Some(42)
        );
        assert_eq!(scripted_exit(&container(json!(["false"]))), Some(1));
        assert_eq!(scripted_exit(&container(json!(["sleep", "10"]))), None);
    }

    #[test]
    fn node_object_is_ready_with_capacity() {
        let n = node_object(3);
        assert_eq!(n.metadata.name.as_deref(), Some("hollow-3"));
        let st = n.status.unwrap();
        assert_eq!(st.allocatable.unwrap()["pods"].0, "110");
        assert!(st
            .conditions
            .unwrap()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True"));
    }

    #[test]
    fn completed_pod_reports_succeeded() {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "command": ["echo", "hi"]}]}}))
        .unwrap();
        assert_eq!(
            pod_status(&pod, "1.1.1.1", "10.0.0.1")["phase"],
            "Succeeded"
        );
        let srv: Pod = serde_json::from_value(json!({"metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "command": ["httpd"]}]}}))
        .unwrap();
        assert_eq!(pod_status(&srv, "1.1.1.1", "10.0.0.1")["phase"], "Running");
    }
}
