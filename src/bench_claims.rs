//! `ferrokube bench claims`:
//! - PersistentVolumeClaim create → Bound latency (p50/p99) for 100 claims against 100 matching
//!   static volumes of an Immediate class, through the real PV controller, seen by a watch;
//! - a StatefulSet of 10 replicas with a `volumeClaimTemplate` of the default `local-path`
//!   class on the real Docker engine: create → all 10 Ready (each claim provisioned on the node
//!   the scheduler picked, then mounted).
//!
//! Figures are printed, not asserted.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::api::{Api, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::json;

use super::{ms, percentile, ServerProcess};

const CLAIMS: usize = 100;

/// Replicas of the StatefulSet phase.
const REPLICAS: i32 = 10;

/// Runs the claim benchmarks.
pub async fn run() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("ferrokube-bench-claims-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (server, _) = ServerProcess::start(&dir)?;
    let result = measure(&server).await;
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    statefulset().await
}

/// The StatefulSet phase, on a server with its embedded agent.
async fn statefulset() -> anyhow::Result<()> {
    ferrokube_kubelet::import_busybox(&[]).await?;
    let dir = std::env::temp_dir().join(format!("ferrokube-bench-sts-{}", std::process::id()));
    let node = format!("bench-sts-{}", std::process::id());
    let _ = std::fs::remove_dir_all(&dir);
    let (server, _) = ServerProcess::start_with(&dir, &["--node-name", &node])?;
    let result = measure_statefulset(&server, &node).await;
    drop(server);
    super::pods_bench::sweep(&node);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure_statefulset(server: &ServerProcess, node: &str) -> anyhow::Result<()> {
    let client = server.client().await?;
    super::pods_bench::wait_node_ready(&client, node).await?;
    let sets: Api<k8s_openapi::api::apps::v1::StatefulSet> =
        Api::namespaced(client.clone(), "default");
    let set = json!({"metadata": {"name": "db"},
        "spec": {"replicas": REPLICAS, "serviceName": "db", "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "c",
                    "image": "busybox", "command": ["sh", "-c", "echo $HOSTNAME > /data/id; sleep 3600"],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "1Gi"}}}}]}});
    let began = Instant::now();
    sets.create(&PostParams::default(), &serde_json::from_value(set)?)
        .await?;
    loop {
        let ready = sets
            .get("db")
            .await?
            .status
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        if ready == REPLICAS {
            break;
        }
        anyhow::ensure!(
            began.elapsed() < Duration::from_secs(300),
            "only {ready} of {REPLICAS} replicas Ready after 300 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "StatefulSet of {REPLICAS} (Parallel) with local-path claims: create -> all Ready {}",
        ms(began.elapsed())
    );
    Ok(())
}

async fn measure(server: &ServerProcess) -> anyhow::Result<()> {
    let client = server.client().await?;
    let classes: Api<k8s_openapi::api::storage::v1::StorageClass> = Api::all(client.clone());
    classes
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "bench"},
                "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "Immediate"}))?,
        )
        .await?;
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    for i in 0..CLAIMS {
        let pv = json!({"metadata": {"name": format!("bench-pv-{i}")},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                     "storageClassName": "bench", "hostPath": {"path": format!("/tmp/bench-pv-{i}")}}});
        volumes
            .create(&PostParams::default(), &serde_json::from_value(pv)?)
            .await?;
    }
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let mut bound_at: HashMap<String, Instant> = HashMap::new();
    let mut events = watcher::watcher(claims.clone(), Default::default())
        .applied_objects()
        .boxed();
    let mut created_at: HashMap<String, Instant> = HashMap::new();
    let began = Instant::now();
    for i in 0..CLAIMS {
        let name = format!("bench-claim-{i}");
        let pvc = json!({"metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "bench",
                     "resources": {"requests": {"storage": "1Gi"}}}});
        created_at.insert(name, Instant::now());
        claims
            .create(&PostParams::default(), &serde_json::from_value(pvc)?)
            .await?;
    }
    while bound_at.len() < CLAIMS {
        let next = tokio::time::timeout(Duration::from_secs(60), events.try_next()).await;
        let Ok(Ok(Some(claim))) = next else {
            anyhow::bail!("only {} of {CLAIMS} claims bound", bound_at.len());
        };
        let phase = claim.status.as_ref().and_then(|s| s.phase.as_deref());
        if phase == Some("Bound") {
            let name = claim.metadata.name.unwrap_or_default();
            bound_at.entry(name).or_insert_with(Instant::now);
        }
    }
    let total = began.elapsed();
    let mut latencies: Vec<Duration> = bound_at
        .iter()
        .filter_map(|(name, at)| Some(at.duration_since(*created_at.get(name)?)))
        .collect();
    latencies.sort();
    println!("ferrokube bench claims  ({CLAIMS} claims, {CLAIMS} static volumes, Immediate class)");
    println!(
        "create -> Bound: p50 {}, p99 {}; all {CLAIMS} bound {} after the first create",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(total)
    );
    Ok(())
}
