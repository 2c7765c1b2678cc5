//! HorizontalPodAutoscaler end to end: `kubectl autoscale` and `kubectl get hpa`, both served
//! versions (v1 converted from the v2 storage version), upstream's validation messages, and the
//! controller's first moves without metrics (raise to minReplicas, ScalingActive=False with
//! FailedGetResourceMetric, AbleToScale=False with FailedGetScale for a target without scale).
//! Hollow nodes run the pods, so no Docker is needed.

mod controllers_common;
mod support;

use std::process::Command;

use controllers_common::{cluster_with, kubectl_ok, HollowNodes, CONVERGE};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::{v1 as autoscaling_v1, v2 as autoscaling_v2};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use serde_json::{json, Value};
use support::{eventually, TestCluster};

/// The HPA as JSON at autoscaling/v2.
async fn hpa_v2(client: &kube::Client, name: &str) -> Value {
    let api: Api<autoscaling_v2::HorizontalPodAutoscaler> = Api::default_namespaced(client.clone());
    serde_json::to_value(api.get(name).await.expect("get hpa v2")).unwrap()
}

/// Waits for condition `type_` of HPA `name` to have `status` and `reason`; returns it.
async fn wait_condition(
    client: &kube::Client,
    name: &str,
    type_: &str,
    status: &str,
    reason: &str,
) -> Value {
    let found = eventually(CONVERGE, || async move {
        let hpa = hpa_v2(client, name).await;
        hpa["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == type_).cloned())
            .filter(|c| c["status"] == status && c["reason"] == reason)
    })
    .await;
    match found {
        Some(c) => c,
        None => panic!(
            "{name}: no {type_}={status} ({reason}); hpa is {:#}",
            hpa_v2(client, name).await
        ),
    }
}

/// Messages of events with `reason` about `name`.
async fn event_messages(client: &kube::Client, name: &str, reason: &str) -> Vec<String> {
    let api: Api<Event> = Api::default_namespaced(client.clone());
    api.list(&ListParams::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| {
            e.involved_object.name.as_deref() == Some(name) && e.reason.as_deref() == Some(reason)
        })
        .filter_map(|e| e.message)
        .collect()
}

fn python(cluster: &TestCluster, script: &str) -> String {
    let out = Command::new("python3")
        .args(["-c", script])
        .env("KUBECONFIG", cluster.kubeconfig())
        .env("HOME", cluster.scratch())
        .output()
        .expect("python3");
    support::stdout_ok("python kubernetes client", &out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_autoscale_serves_both_versions_and_raises_to_min() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    let _nodes = HollowNodes::start(&cluster, 0, 1);
    kubectl_ok(
        &cluster,
        &[
            "create",
            "deployment",
            "web",
            "--image=busybox",
            "--replicas=1",
        ],
    );
    kubectl_ok(
        &cluster,
        &[
            "autoscale",
            "deployment",
            "web",
            "--min=2",
            "--max=5",
            "--cpu-percent=50",
        ],
    );

    // Both versions read the same object.
    let v1: Api<autoscaling_v1::HorizontalPodAutoscaler> = Api::default_namespaced(client.clone());
    let old = v1.get("web").await.expect("get hpa v1").spec;
    assert_eq!(old.target_cpu_utilization_percentage, Some(50));
    assert_eq!((old.min_replicas, old.max_replicas), (Some(2), 5));
    assert_eq!(old.scale_target_ref.kind, "Deployment");
    let new = hpa_v2(&client, "web").await;
    assert_eq!(
        new["spec"]["metrics"],
        json!([{"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 50}}}])
    );

    // The controller raises the Deployment to minReplicas without any metrics.
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    let raised = eventually(CONVERGE, || {
        let deployments = deployments.clone();
        async move {
            let d = deployments.get("web").await.ok()?;
            (d.spec?.replicas == Some(2)).then_some(())
        }
    })
    .await;
    assert!(
        raised.is_some(),
        "deployment not raised to 2; hpa: {:#}",
        hpa_v2(&client, "web").await
    );
    let rescales = eventually(CONVERGE, || {
        let client = client.clone();
        async move {
            let m = event_messages(&client, "web", "SuccessfulRescale").await;
            (!m.is_empty()).then_some(m)
        }
    })
    .await
    .expect("SuccessfulRescale event");
    assert_eq!(
        rescales[0],
        "New size: 2; reason: Current number of replicas below Spec.MinReplicas"
    );

    // Then it needs CPU metrics it cannot get: ScalingActive=False, not a crash loop.
    let active = wait_condition(
        &client,
        "web",
        "ScalingActive",
        "False",
        "FailedGetResourceMetric",
    )
    .await;
    let message = active["message"].as_str().unwrap_or("");
    assert!(
        message.starts_with("the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: "),
        "{message}"
    );
    wait_condition(&client, "web", "AbleToScale", "True", "SucceededGetScale").await;
    let hpa = hpa_v2(&client, "web").await;
    assert_eq!(
        (
            hpa["status"]["currentReplicas"].as_i64(),
            hpa["status"]["desiredReplicas"].as_i64()
        ),
        (Some(2), Some(2))
    );
    assert!(hpa["status"]["lastScaleTime"].is_string(), "{hpa:#}");

    // v1 carries the conditions in upstream's annotation.
    let v1_obj = v1.get("web").await.unwrap();
    let notes = v1_obj.metadata.annotations.unwrap_or_default();
    let conditions: Value =
        serde_json::from_str(&notes["autoscaling.alpha.kubernetes.io/conditions"]).unwrap();
    assert!(
        conditions
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "ScalingActive"),
        "{conditions}"
    );
    assert_eq!(v1_obj.status.unwrap().current_replicas, 2);

    // kubectl get hpa: upstream's columns and cells.
    let table = kubectl_ok(&cluster, &["get", "hpa"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "REFERENCE",
            "TARGETS",
            "MINPODS",
            "MAXPODS",
            "REPLICAS",
            "AGE"
        ]
    );
    let row = lines.next().unwrap();
    assert!(row.starts_with("web"), "{table}");
    assert!(
        row.contains("Deployment/web") && row.contains("cpu: <unknown>/50%"),
        "{table}"
    );
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cells[cells.len() - 4..cells.len() - 1],
        ["2", "5", "2"],
        "{table}"
    );
    // `hpa` is a short name, and HPAs belong to `all`.
    assert!(
        kubectl_ok(&cluster, &["get", "all"]).contains("horizontalpodautoscaler.autoscaling/web")
    );

    // The official Python client reads both versions.
    let out = python(
        &cluster,
        r#"
from kubernetes import client, config
config.load_kube_config()
v2 = client.AutoscalingV2Api().read_namespaced_horizontal_pod_autoscaler("web", "default")
v1 = client.AutoscalingV1Api().read_namespaced_horizontal_pod_autoscaler("web", "default")
assert v2.spec.metrics[0].resource.target.average_utilization == 50, v2.spec
assert v2.spec.scale_target_ref.name == "web"
assert v1.spec.target_cpu_utilization_percentage == 50, v1.spec
assert [c.type for c in v2.status.conditions if c.status == "False"] == ["ScalingActive"], v2.status
print(v2.status.current_replicas, "ok")
"#,
    );
    assert_eq!(out.trim(), "2 ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_without_scale_say_so_in_able_to_scale() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    kubectl_ok(&cluster, &["create", "configmap", "settings"]);
    let api: Api<autoscaling_v2::HorizontalPodAutoscaler> = Api::default_namespaced(client.clone());
    let hpa = |name: &str, kind: &str, api_version: &str, target: &str| {
        serde_json::from_value::<autoscaling_v2::HorizontalPodAutoscaler>(json!({
            "metadata": {"name": name},
            "spec": {"scaleTargetRef": {"kind": kind, "name": target, "apiVersion": api_version},
                "minReplicas": 1, "maxReplicas": 3}}))
        .unwrap()
    };
    let pp = PostParams::default();
    api.create(&pp, &hpa("no-scale", "ConfigMap", "v1", "settings"))
        .await
        .unwrap();
    api.create(&pp, &hpa("no-kind", "Widget", "example.com/v1", "w"))
        .await
        .unwrap();
    api.create(&pp, &hpa("no-object", "Deployment", "apps/v1", "absent"))
        .await
        .unwrap();

    let prefix = "the HPA controller was unable to get the target's current scale: ";
    let c = wait_condition(&client, "no-kind", "AbleToScale", "False", "FailedGetScale").await;
    assert_eq!(
        c["message"],
        format!("{prefix}no matches for kind \"Widget\" in group \"example.com\"")
    );
    let c = wait_condition(
        &client,
        "no-object",
        "AbleToScale",
        "False",
        "FailedGetScale",
    )
    .await;
    assert_eq!(
        c["message"],
        format!("{prefix}deployments.apps \"absent\" not found")
    );
    let c = wait_condition(
        &client,
        "no-scale",
        "AbleToScale",
        "False",
        "FailedGetScale",
    )
    .await;
    assert!(c["message"].as_str().unwrap().starts_with(prefix), "{c}");
    let warnings = event_messages(&client, "no-kind", "FailedGetScale").await;
    // Syncs a few milliseconds apart may record the warning as separate Events: each says it.
    assert!(!warnings.is_empty(), "no FailedGetScale event");
    assert!(
        warnings
            .iter()
            .all(|w| w == "no matches for kind \"Widget\" in group \"example.com\""),
        "{warnings:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_resource_with_scale_is_raised_to_min() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    let crd = cluster.scratch().join("crd.yaml");
    std::fs::write(
        &crd,
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: workers.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: workers, singular: worker, kind: Worker}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas, labelSelectorPath: .status.selector}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {replicas: {type: integer}}}
          status: {type: object, properties: {replicas: {type: integer}, selector: {type: string}}}
"#,
    )
    .unwrap();
    kubectl_ok(&cluster, &["apply", "-f", crd.to_str().unwrap()]);
    kubectl_ok(
        &cluster,
        &[
            "wait",
            "--for=condition=Established",
            "crd/workers.example.com",
        ],
    );
    let worker = cluster.scratch().join("worker.yaml");
    std::fs::write(
        &worker,
        "apiVersion: example.com/v1\nkind: Worker\nmetadata: {name: w}\nspec: {replicas: 1}\n",
    )
    .unwrap();
    kubectl_ok(&cluster, &["apply", "-f", worker.to_str().unwrap()]);
    let hpa = cluster.scratch().join("hpa.yaml");
    std::fs::write(
        &hpa,
        r#"apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: w}
spec:
  scaleTargetRef: {apiVersion: example.com/v1, kind: Worker, name: w}
  minReplicas: 3
  maxReplicas: 6
"#,
    )
    .unwrap();
    kubectl_ok(&cluster, &["apply", "-f", hpa.to_str().unwrap()]);
    let raised = eventually(CONVERGE, || {
        let cluster = &cluster;
        async move {
            let out = cluster.kubectl(&["get", "worker", "w", "-o", "jsonpath={.spec.replicas}"]);
            (String::from_utf8_lossy(&out.stdout) == "3").then_some(())
        }
    })
    .await;
    assert!(
        raised.is_some(),
        "worker not raised; hpa: {:#}",
        hpa_v2(&client, "w").await
    );
    // The scale has no selector: the controller says so instead of guessing.
    wait_condition(&client, "w", "ScalingActive", "False", "InvalidSelector").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_specs_are_refused_with_upstreams_messages() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    let cases = [
        (
            json!({"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}, "minReplicas": 0, "maxReplicas": 3}),
            "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
        ),
        (
            json!({"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}, "minReplicas": 4, "maxReplicas": 3}),
            "spec.maxReplicas: Invalid value: 3: must be greater than or equal to `minReplicas`",
        ),
        (
            json!({"scaleTargetRef": {"name": "web"}, "maxReplicas": 3}),
            "spec.scaleTargetRef.kind: Required value",
        ),
        (
            json!({"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3, "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization"}}}]}),
            "spec.metrics[0].resource.target.averageUtilization: Required value: must set either a target raw value or a target utilization",
        ),
        (
            json!({"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3, "behavior": {
                "scaleDown": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 1801}]}}}),
            "spec.behavior.scaleDown.policies[0].periodSeconds: Invalid value: 1801: must be less than or equal to 1800",
        ),
    ];
    let api: Api<autoscaling_v2::HorizontalPodAutoscaler> = Api::default_namespaced(client.clone());
    for (spec, message) in cases {
        let hpa =
            serde_json::from_value(json!({"metadata": {"name": "bad"}, "spec": spec})).unwrap();
        let err = api.create(&PostParams::default(), &hpa).await.unwrap_err();
        let kube::Error::Api(status) = err else {
            panic!("{err}")
        };
        assert_eq!(status.code, 422, "{status:?}");
        assert_eq!(
            status.message,
            format!("HorizontalPodAutoscaler.autoscaling \"bad\" is invalid: {message}")
        );
        assert!(
            api.get_opt("bad").await.unwrap().is_none(),
            "nothing is written"
        );
    }
    // v1 is validated as the same object: its bounds give the same message.
    let v1: Api<autoscaling_v1::HorizontalPodAutoscaler> = Api::default_namespaced(client.clone());
    let hpa = serde_json::from_value(json!({"metadata": {"name": "bad"}, "spec": {
        "scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 0, "maxReplicas": 3}}))
    .unwrap();
    let Err(kube::Error::Api(status)) = v1.create(&PostParams::default(), &hpa).await else {
        panic!("v1 accepted minReplicas 0")
    };
    assert_eq!(status.code, 422);
    assert!(
        status
            .message
            .ends_with("spec.minReplicas: Invalid value: 0: must be greater than or equal to 1"),
        "{}",
        status.message
    );
}
