//! Jobs beyond the simple case, end to end with hollow nodes (whose containers "exit" as their
//! command says: `echo` succeeds, `exit N` fails with N, anything else keeps running): Indexed
//! completion, backoffLimitPerIndex, podFailurePolicy, successPolicy, and adoption/release of
//! pods by the Job's selector.

mod controllers_common;
mod support;

use controllers_common::{cluster_with, kubectl_ok, wait_nodes_ready, HollowNodes, CONVERGE};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use serde_json::json;
use support::{eventually, TestCluster};

fn job(name: &str, spec: serde_json::Value, command: &[&str]) -> Job {
    let mut spec = spec;
    spec["template"] = json!({"spec": {"restartPolicy": "Never",
        "containers": [{"name": "main", "image": "busybox", "command": command}]}});
    serde_json::from_value(json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name}, "spec": spec}))
    .unwrap()
}

/// Waits for the Job's terminal condition and returns (type, reason).
async fn wait_finished(jobs: &Api<Job>, name: &str) -> (String, String) {
    eventually(CONVERGE, || async {
        let j = jobs.get(name).await.ok()?;
        let conds = j.status?.conditions?;
        conds
            .iter()
            .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
            .map(|c| (c.type_.clone(), c.reason.clone().unwrap_or_default()))
    })
    .await
    .unwrap_or_else(|| panic!("job {name} never finished"))
}

async fn started(nodes: usize) -> (TestCluster, HollowNodes, kube::Client) {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    let hollow = HollowNodes::start(&cluster, 0, nodes);
    wait_nodes_ready(&client, nodes).await;
    (cluster, hollow, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexed_job_completes_every_index_with_hostnames() {
    let (cluster, _nodes, client) = started(2).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let spec = json!({"completionMode": "Indexed", "completions": 4, "parallelism": 2});
    jobs.create(&PostParams::default(), &job("idx", spec, &["echo", "done"]))
        .await
        .unwrap();
    assert_eq!(
        wait_finished(&jobs, "idx").await,
        ("Complete".into(), "CompletionsReached".into())
    );
    let out = kubectl_ok(
        &cluster,
        &[
            "get",
            "job",
            "idx",
            "-o",
            "jsonpath={.status.completedIndexes} {.status.succeeded}",
        ],
    );
    assert_eq!(out, "0-3 4");

    let pods: Api<Pod> = Api::namespaced(client, "default");
    let listed = pods
        .list(&ListParams::default().labels("batch.kubernetes.io/job-name=idx"))
        .await
        .unwrap();
    let mut seen: Vec<String> = Vec::new();
    for p in &listed.items {
        let index = p.annotations()["batch.kubernetes.io/job-completion-index"].clone();
        assert_eq!(
            p.labels()["batch.kubernetes.io/job-completion-index"],
            index
        );
        let spec = p.spec.as_ref().unwrap();
        assert_eq!(
            spec.hostname.as_deref(),
            Some(format!("idx-{index}").as_str())
        );
        assert!(
            p.name_any().starts_with(&format!("idx-{index}-")),
            "{}",
            p.name_any()
        );
        let env = spec.containers[0].env.as_ref().unwrap();
        assert!(env.iter().any(|e| e.name == "JOB_COMPLETION_INDEX"));
        seen.push(index);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["0", "1", "2", "3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_policies_end_jobs_with_upstream_reasons() {
    let (cluster, _nodes, client) = started(2).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();

    // Every index fails twice (backoffLimitPerIndex 1): all indexes failed, FailedIndexes.
    let per_index = json!({"completionMode": "Indexed", "completions": 3, "parallelism": 3,
        "backoffLimitPerIndex": 1});
    jobs.create(&pp, &job("per-index", per_index, &["sh", "-c", "exit 1"]))
        .await
        .unwrap();
    assert_eq!(
        wait_finished(&jobs, "per-index").await,
        ("Failed".into(), "FailedIndexes".into())
    );
    let j = jobs.get("per-index").await.unwrap();
    let st = j.status.unwrap();
    assert_eq!(st.failed_indexes.as_deref(), Some("0-2"));
    assert_eq!(st.failed, Some(6));
    assert_eq!(
        j.spec.unwrap().backoff_limit,
        Some(i32::MAX),
        "defaulted as upstream"
    );

    // A FailJob rule on exit code 42 fails the Job at the first such pod.
    let fail_job = json!({"completions": 3, "parallelism": 1, "backoffLimit": 6,
        "podFailurePolicy": {"rules": [{"action": "FailJob",
            "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}}]}});
    jobs.create(&pp, &job("fail-job", fail_job, &["sh", "-c", "exit 42"]))
        .await
        .unwrap();
    assert_eq!(
        wait_finished(&jobs, "fail-job").await,
        ("Failed".into(), "PodFailurePolicy".into())
    );
    let out = kubectl_ok(
        &cluster,
        &[
            "get",
            "job",
            "fail-job",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Failed\")].message}",
        ],
    );
    assert!(
        out.starts_with("Container main for pod default/fail-job-"),
        "{out}"
    );
    assert!(
        out.ends_with("failed with exit code 42 matching FailJob rule at index 0"),
        "{out}"
    );

    // A successPolicy ends an Indexed Job as soon as its rule is met.
    let success = json!({"completionMode": "Indexed", "completions": 3, "parallelism": 3,
        "successPolicy": {"rules": [{"succeededIndexes": "0", "succeededCount": 1}]}});
    jobs.create(&pp, &job("early", success, &["echo", "ok"]))
        .await
        .unwrap();
    assert_eq!(
        wait_finished(&jobs, "early").await,
        ("Complete".into(), "SuccessPolicy".into())
    );
    let out = kubectl_ok(
        &cluster,
        &[
            "get",
            "job",
            "early",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"SuccessCriteriaMet\")].message}",
        ],
    );
    assert_eq!(out, "Matched rules at index 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_adopts_orphans_and_releases_pods_that_stop_matching() {
    let (_cluster, _nodes, client) = started(2).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let spec = json!({"parallelism": 2, "completions": 4});
    let created = jobs
        .create(
            &PostParams::default(),
            &job("keeper", spec, &["sleep", "3600"]),
        )
        .await
        .unwrap();
    let uid = created.uid().unwrap();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let selector = "batch.kubernetes.io/job-name=keeper";
    let first = eventually(CONVERGE, || async {
        let items = pods
            .list(&ListParams::default().labels(selector))
            .await
            .ok()?
            .items;
        (items.len() == 2).then(|| items[0].name_any())
    })
    .await
    .expect("two running pods");

    let controller_uid = |p: &Pod| {
        p.owner_references()
            .iter()
            .find(|r| r.controller == Some(true))
            .map(|r| r.uid.clone())
    };
    let orphan = json!({"metadata": {"ownerReferences": null}});
    pods.patch(&first, &PatchParams::default(), &Patch::Merge(&orphan))
        .await
        .unwrap();
    let readopted = eventually(CONVERGE, || async {
        let p = pods.get(&first).await.ok()?;
        (controller_uid(&p).as_deref() == Some(uid.as_str())).then_some(())
    })
    .await;
    assert!(readopted.is_some(), "the job re-adopts its orphaned pod");

    let unlabel = json!({"metadata": {"labels": null}});
    pods.patch(&first, &PatchParams::default(), &Patch::Merge(&unlabel))
        .await
        .unwrap();
    let released = eventually(CONVERGE, || async {
        let p = pods.get(&first).await.ok()?;
        controller_uid(&p).is_none().then_some(())
    })
    .await;
    assert!(
        released.is_some(),
        "the job releases a pod that no longer matches"
    );
}
