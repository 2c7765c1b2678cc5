use std::sync::Arc;

use k8s_openapi::api::batch::v1::JobSpec;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use super::*;

fn spec(v: Value) -> JobSpec {
    let mut base = json!({"template": {"spec": {"containers": []}}});
    base.as_object_mut()
        .unwrap()
        .extend(v.as_object().unwrap().clone());
    serde_json::from_value(base).unwrap()
}

fn pod(name: &str, phase: &str, index: Option<i32>, exit: i32) -> Arc<Pod> {
    let annotations =
        index.map(|i| json!({"batch.kubernetes.io/job-completion-index": i.to_string()}));
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "annotations": annotations},
            "status": {"phase": phase, "containerStatuses": [{"name": "c", "image": "i", "imageID": "",
                "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": exit}}}]}
        }))
        .unwrap(),
    )
}

#[test]
fn non_indexed_counts_and_creation() {
    let s = spec(json!({"parallelism": 3, "completions": 5, "backoffLimit": 6}));
    let pods = [
        pod("a", "Succeeded", None, 0),
        pod("b", "Running", None, 0),
        pod("c", "Failed", None, 1),
    ];
    let seen = Observed::of(&s, &pods);
    assert_eq!((seen.succeeded, seen.failed, seen.active.len()), (1, 1, 1));
    assert_eq!(seen.pods_to_create(&s), 2);
    assert_eq!(seen.ending(&s, false), None);
    assert_eq!(seen.ending(&s, true).unwrap().reason, "DeadlineExceeded");
    let over = spec(json!({"completions": 5, "backoffLimit": 0}));
    assert_eq!(
        Observed::of(&over, &pods)
            .ending(&over, false)
            .unwrap()
            .reason,
        "BackoffLimitExceeded"
    );
}

#[test]
fn without_completions_one_success_ends_it() {
    let s = spec(json!({"parallelism": 2}));
    let seen = Observed::of(&s, &[pod("a", "Succeeded", None, 0)]);
    assert_eq!(seen.pods_to_create(&s), 0);
    assert_eq!(seen.ending(&s, false).unwrap().reason, "CompletionsReached");
}

#[test]
fn indexed_tracks_indexes_and_duplicates() {
    let s = spec(json!({"completionMode": "Indexed", "completions": 4, "parallelism": 4}));
    let pods = [
        pod("a", "Succeeded", Some(0), 0),
        pod("b", "Succeeded", Some(0), 0),
        pod("c", "Running", Some(1), 0),
        pod("d", "Running", Some(1), 0),
        pod("e", "Running", None, 0),
    ];
    let seen = Observed::of(&s, &pods);
    assert_eq!(seen.succeeded, 1);
    assert_eq!(seen.completed_indexes.as_ref().unwrap().len(), 1);
    assert_eq!(
        seen.extra.len(),
        2,
        "a duplicate of index 1 and a pod without index"
    );
    assert_eq!(seen.running_indexes(4).len(), 1);
    assert_eq!(seen.pods_to_create(&s), 2);
    let all: Vec<_> = (0..4)
        .map(|i| pod(&format!("p{i}"), "Succeeded", Some(i), 0))
        .collect();
    let done = Observed::of(&s, &all);
    assert_eq!(
        indexes::format(done.completed_indexes.as_ref().unwrap()),
        "0-3"
    );
    assert_eq!(done.ending(&s, false).unwrap().reason, "CompletionsReached");
}

#[test]
fn backoff_limit_per_index_and_max_failed_indexes() {
    let s = spec(
        json!({"completionMode": "Indexed", "completions": 3, "parallelism": 3,
        "backoffLimit": 2147483647, "backoffLimitPerIndex": 1}),
    );
    let pods = [
        pod("a", "Failed", Some(1), 1),
        pod("b", "Failed", Some(1), 1),
        pod("c", "Succeeded", Some(0), 0),
        pod("d", "Succeeded", Some(2), 0),
    ];
    let seen = Observed::of(&s, &pods);
    assert_eq!(indexes::format(seen.failed_indexes.as_ref().unwrap()), "1");
    let end = seen.ending(&s, false).unwrap();
    assert_eq!((end.failed, end.reason), (true, "FailedIndexes"));
    let capped = spec(
        json!({"completionMode": "Indexed", "completions": 3, "parallelism": 3,
        "backoffLimit": 2147483647, "backoffLimitPerIndex": 0, "maxFailedIndexes": 0}),
    );
    let end = Observed::of(&capped, &pods[..1])
        .ending(&capped, false)
        .unwrap();
    assert_eq!(end.reason, "MaxFailedIndexesExceeded");
}

#[test]
fn pod_failure_policy_fail_job_and_fail_index() {
    let s = spec(
        json!({"completions": 2, "parallelism": 2, "backoffLimit": 6,
        "podFailurePolicy": {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}]}}),
    );
    let end = Observed::of(&s, &[pod("a", "Failed", None, 42)])
        .ending(&s, false)
        .unwrap();
    assert_eq!(end.reason, "PodFailurePolicy");
    assert!(
        end.message.ends_with("matching FailJob rule at index 0"),
        "{}",
        end.message
    );
    let fi = spec(
        json!({"completionMode": "Indexed", "completions": 2, "parallelism": 2,
        "backoffLimit": 2147483647, "backoffLimitPerIndex": 5,
        "podFailurePolicy": {"rules": [{"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [3]}}]}}),
    );
    let seen = Observed::of(&fi, &[pod("a", "Failed", Some(0), 3)]);
    assert_eq!(indexes::format(seen.failed_indexes.as_ref().unwrap()), "0");
    assert_eq!(seen.pods_to_create(&fi), 1);
}

#[test]
fn success_policy_ends_early() {
    let s = spec(
        json!({"completionMode": "Indexed", "completions": 5, "parallelism": 5,
        "successPolicy": {"rules": [{"succeededIndexes": "0", "succeededCount": 1}]}}),
    );
    let end = Observed::of(&s, &[pod("a", "Succeeded", Some(0), 0)])
        .ending(&s, false)
        .unwrap();
    assert_eq!(
        (end.failed, end.reason, end.message.as_str()),
        (false, "SuccessPolicy", "Matched rules at index 0")
    );
}
