//! The HPA controller scaling from real metrics (Docker): the kubelet's container stats feed
//! metrics.k8s.io, and `kubectl autoscale`d Deployments move on them — a CPU-burning one up to
//! its maximum, an idle one (no scale-down stabilization) down to its minimum — with
//! upstream's SuccessfulRescale events and `currentMetrics` in the HPA's status.

mod kubelet_common;
mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kubelet_common::*;
use serde_json::json;
use support::eventually;

/// Two scrapes (10 s apart) make a rate; the controller syncs every 15 s.
const SCALE_WAIT: Duration = Duration::from_secs(150);

fn deployment(name: &str, replicas: i32, script: &str) -> Deployment {
    serde_json::from_value(json!({"metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"terminationGracePeriodSeconds": 0, "containers": [{"name": "c",
                    "image": "busybox", "imagePullPolicy": "Never",
                    "command": ["sh", "-c", script],
                    "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "200m"}}}]}}}}))
    .expect("deployment")
}

async fn wait_replicas(api: &Api<Deployment>, name: &str, want: i32) {
    let got = eventually(SCALE_WAIT, || async {
        let d = api.get(name).await.ok()?;
        (d.spec?.replicas? == want).then_some(())
    })
    .await;
    let hpa = api.get(name).await.ok().and_then(|d| d.spec?.replicas);
    assert!(
        got.is_some(),
        "{name} never scaled to {want} (spec.replicas {hpa:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hpa_scales_up_and_down_from_metrics() {
    let (_serial, _sweep, c, _node) = cluster("e2e-hpa").await;
    let client = c.client().await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    deployments
        .create(&pp, &deployment("busy", 1, "while :; do :; done"))
        .await
        .expect("busy");
    deployments
        .create(&pp, &deployment("calm", 3, "sleep 3600"))
        .await
        .expect("calm");
    for (name, min, max) in [("busy", "1", "3"), ("calm", "1", "3")] {
        kubectl_ok(
            &c,
            &[
                "autoscale",
                "deployment",
                name,
                &format!("--min={min}"),
                &format!("--max={max}"),
                "--cpu-percent=50",
            ],
        );
    }
    // Scale down without upstream's five-minute stabilization, so the test need not wait it out.
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), "default");
    hpas.patch(
        "calm",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"spec": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}}}}),
        ),
    )
    .await
    .expect("behavior");

    // Busy: ~200% of its request against a 50% target → the maximum.
    wait_replicas(&deployments, "busy", 3).await;
    // Calm: ~0% → the minimum, which needs real figures (without metrics nothing moves).
    wait_replicas(&deployments, "calm", 1).await;

    let busy = hpas.get("busy").await.expect("hpa");
    let status = busy.status.expect("status");
    let current = status.current_metrics.unwrap_or_default();
    let utilization = current
        .first()
        .and_then(|m| m.resource.as_ref())
        .and_then(|r| r.current.average_utilization);
    assert!(utilization.is_some_and(|u| u > 50), "{current:?}");
    let events = kubectl_ok(
        &c,
        &[
            "get",
            "events",
            "--field-selector=reason=SuccessfulRescale",
            "-o",
            "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}",
        ],
    );
    assert!(
        events.lines().any(|l| l.starts_with(
            "New size: 3; reason: cpu resource utilization (percentage of request) above target"
        )),
        "{events}"
    );
    assert!(
        events
            .lines()
            .any(|l| l.starts_with("New size: 1; reason: All metrics below target")),
        "{events}"
    );
}
