//! The kubelet's events about pods and their containers, read back with stock kubectl and the
//! Python client: a running pod shows Pulled/Created/Started, a crashing one BackOff, a failing
//! liveness probe Unhealthy and Killing, and deleting a pod Killing ("Stopping container").

mod kubelet_common;
mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, DeleteParams, ListParams};
use kubelet_common::*;
use serde_json::json;
use support::{eventually, python_script};

/// How long the events a test waits for may take (a crash-loop back-off starts at 10s).
const EVENT_WAIT: Duration = Duration::from_secs(90);

fn pod(name: &str, command: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut container = json!({"name": "main", "image": "busybox",
        "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", command]});
    if let (Some(c), Some(extra)) = (container.as_object_mut(), extra.as_object()) {
        c.extend(extra.clone());
    }
    json!({"metadata": {"name": name}, "spec": {"terminationGracePeriodSeconds": 1,
        "containers": [container]}})
}

/// Events about `pod` (all of them, the scheduler's too), oldest first.
async fn events_of(events: &Api<Event>, pod: &str) -> Vec<Event> {
    let lp = ListParams::default().fields(&format!("involvedObject.name={pod}"));
    let mut all = events.list(&lp).await.expect("list events").items;
    all.sort_by_key(|e| e.first_timestamp.clone().map(|t| t.0));
    all
}

/// Waits until `pod` has an event with `reason` whose message contains `text`.
async fn wait_event(events: &Api<Event>, pod: &str, reason: &str, text: &str) -> Event {
    let found = eventually(EVENT_WAIT, || async {
        events_of(events, pod).await.into_iter().find(|e| {
            e.reason.as_deref() == Some(reason)
                && e.message.as_deref().is_some_and(|m| m.contains(text))
        })
    })
    .await;
    if let Some(found) = found {
        return found;
    }
    let seen: Vec<_> = events_of(events, pod)
        .await
        .into_iter()
        .map(|e| (e.reason, e.message))
        .collect();
    panic!("no {reason} event containing {text:?} for {pod}; seen {seen:?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_events_with_upstream_reasons() {
    let (_serial, _sweep, c, node) = cluster("e2e-events").await;
    let client = c.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let events: Api<Event> = Api::namespaced(client, "default");
    create(&pods, pod("runs", "sleep 3600", json!({}))).await;
    create(&pods, pod("crash", "exit 1", json!({}))).await;
    let probe = json!({"livenessProbe": {"exec": {"command": ["false"]},
        "periodSeconds": 1, "failureThreshold": 1}});
    create(&pods, pod("sick", "sleep 3600", probe)).await;

    // A pod that runs: the image is there, the container created and started.
    let runs = wait_pod(&pods, "runs", "Running", running).await;
    let started = wait_event(&events, "runs", "Started", "Container started").await;
    assert_eq!(started.type_.as_deref(), Some("Normal"));
    let source = started.source.clone().unwrap_or_default();
    assert_eq!(source.component.as_deref(), Some("kubelet"));
    assert_eq!(source.host.as_deref(), Some(node.as_str()));
    let obj = &started.involved_object;
    assert_eq!(obj.field_path.as_deref(), Some("spec.containers{main}"));
    assert_eq!(obj.uid, runs.metadata.uid);
    let pulled = wait_event(&events, "runs", "Pulled", "already present on machine").await;
    assert_eq!(
        pulled.message.as_deref(),
        Some(
            "Container image \"busybox\" already present on machine and can be accessed by the pod"
        )
    );
    wait_event(&events, "runs", "Created", "Container created").await;
    let reasons: Vec<_> = events_of(&events, "runs")
        .await
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    let at = |r: &str| reasons.iter().position(|x| x == r);
    assert!(
        at("Scheduled") < at("Pulled")
            && at("Pulled") < at("Created")
            && at("Created") < at("Started"),
        "upstream's order: {reasons:?}"
    );

    // kubectl shows them: `describe` lists the kubelet's events, `get events` selects them.
    let described = kubectl_ok(&c, &["describe", "pod", "runs"]);
    for line in ["Started", "Container started", "kubelet"] {
        assert!(described.contains(line), "{line} in describe: {described}");
    }
    let selector = "involvedObject.name=runs,reason=Started";
    let listed = kubectl_ok(
        &c,
        &["get", "events", "--field-selector", selector, "-o", "name"],
    );
    assert_eq!(listed.lines().count(), 1, "{listed}");
    python_script(
        &c,
        "kubelet_events_client.py",
        &["default", "runs", &node, "Pulled", "Created", "Started"],
    );

    // A crash loop: BackOff, with upstream's message and a count that grows.
    let uid = pods
        .get("crash")
        .await
        .expect("crash")
        .metadata
        .uid
        .unwrap_or_default();
    let want = format!("Back-off restarting failed container main in pod crash_default({uid})");
    let backoff = wait_event(&events, "crash", "BackOff", &want).await;
    assert_eq!(backoff.type_.as_deref(), Some("Warning"));

    // A failing liveness probe: Unhealthy, then Killing with the reason.
    let unhealthy = wait_event(&events, "sick", "Unhealthy", "Liveness probe failed: ").await;
    assert_eq!(unhealthy.type_.as_deref(), Some("Warning"));
    wait_event(
        &events,
        "sick",
        "Killing",
        "Container main failed liveness probe, will be restarted",
    )
    .await;

    // Deleting a running pod stops its container with a Killing event.
    pods.delete("runs", &DeleteParams::default())
        .await
        .expect("delete");
    let killing = wait_event(&events, "runs", "Killing", "Stopping container main").await;
    assert_eq!(killing.type_.as_deref(), Some("Normal"));
}
