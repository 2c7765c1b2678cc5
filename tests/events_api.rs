//! events.k8s.io/v1 and core/v1 Events are one resource, as upstream serves them: the Python
//! client's lifecycle across both APIs, and kubectl listing an events.k8s.io event.

mod support;

use support::{stdout_ok, TestCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_api_and_core_events_share_one_resource() {
    let cluster = TestCluster::start().await;
    stdout_ok(
        "create ns",
        &cluster.kubectl(&["create", "namespace", "ev"]),
    );
    support::python_script(&cluster, "events_client.py", &["ev"]);
    // kubectl's core/v1 table shows the event the script recorded through core, and the
    // events.k8s.io/v1 table the same objects.
    let core = stdout_ok(
        "get events",
        &cluster.kubectl(&[
            "get",
            "events",
            "-n",
            "ev",
            "--field-selector=source=kubelet",
        ]),
    );
    assert!(
        core.contains("from core") && core.contains("pod/p"),
        "{core}"
    );
    let grouped = stdout_ok(
        "get events.events.k8s.io",
        &cluster.kubectl(&["get", "events.v1.events.k8s.io", "-n", "ev", "-o", "name"]),
    );
    assert_eq!(
        grouped.trim(),
        "event.events.k8s.io/core-event",
        "{grouped}"
    );
}
