//! Bad workload input is refused at admission with 422 and upstream's field messages, and
//! nothing is stored: invalid selectors, template labels outside the selector, negative
//! replica counts, unparsable cron schedules, unknown time zones, a DaemonSet surge with
//! unavailability.

mod support;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use kube::api::{Api, PostParams};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use support::TestCluster;

fn workload(
    kind: &str,
    name: &str,
    selector: Value,
    template_labels: Value,
    replicas: i64,
) -> Value {
    json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name},
        "spec": {"replicas": replicas, "serviceName": name, "selector": selector,
            "template": {"metadata": {"labels": template_labels},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
}

/// Creates `obj`, expects 422 Invalid with `message`, and checks nothing was stored.
async fn refused<K>(client: &kube::Client, obj: Value, message: &str)
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), "default");
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let typed: K = serde_json::from_value(obj).expect("typed object");
    match api.create(&PostParams::default(), &typed).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 422, "{s:?}");
            assert_eq!(s.reason, "Invalid", "{s:?}");
            assert!(
                s.message.contains(message),
                "{:?} lacks {message:?}",
                s.message
            );
        }
        other => panic!("{name}: expected 422, got {other:?}"),
    }
    assert!(
        api.get_opt(&name).await.expect("get").is_none(),
        "{name} was stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_workloads_are_refused_and_not_stored() {
    let cluster = TestCluster::start().await;
    let client = cluster.client().await;
    let app = json!({"app": "a"});

    refused::<Deployment>(
        &client,
        workload("Deployment", "bad-selector",
            json!({"matchExpressions": [{"key": "app", "operator": "Bogus", "values": ["a"]}]}), app.clone(), 1),
        "spec.selector.matchExpressions[0].operator: Invalid value: \"Bogus\": not a valid selector operator",
    )
    .await;
    refused::<Deployment>(
        &client,
        workload("Deployment", "mismatch", json!({"matchLabels": {"app": "a"}}), json!({"app": "b"}), 1),
        "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"b\"}: `selector` does not match template `labels`",
    )
    .await;
    refused::<Deployment>(
        &client,
        workload(
            "Deployment",
            "negative",
            json!({"matchLabels": app.clone()}),
            app.clone(),
            -1,
        ),
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
    )
    .await;
    refused::<ReplicaSet>(
        &client,
        workload(
            "ReplicaSet",
            "negative-rs",
            json!({"matchLabels": app.clone()}),
            app.clone(),
            -3,
        ),
        "spec.replicas: Invalid value: -3: must be greater than or equal to 0",
    )
    .await;
    refused::<StatefulSet>(
        &client,
        workload(
            "StatefulSet",
            "mismatch-sts",
            json!({"matchLabels": {"app": "a"}}),
            json!({"app": "z"}),
            1,
        ),
        "`selector` does not match template `labels`",
    )
    .await;
    refused::<CronJob>(
        &client,
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick"},
            "spec": {"schedule": "every minute", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}}}),
        "spec.schedule: Invalid value: \"every minute\": expected exactly 5 fields, found 2: [every minute]",
    )
    .await;
    let cron_job = |schedule: &str, zone: Option<&str>| {
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick"},
            "spec": {"schedule": schedule, "timeZone": zone, "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}}})
    };
    refused::<CronJob>(
        &client,
        cron_job("0 9 * * *", Some("Mars/Olympus")),
        "spec.timeZone: Invalid value: \"Mars/Olympus\": unknown time zone Mars/Olympus",
    )
    .await;
    refused::<CronJob>(
        &client,
        cron_job("CRON_TZ=Asia/Tokyo 0 9 * * *", None),
        "spec.schedule: Invalid value: \"CRON_TZ=Asia/Tokyo 0 9 * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
    )
    .await;
    refused::<DaemonSet>(
        &client,
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "surge"},
            "spec": {"selector": {"matchLabels": {"app": "s"}},
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
                "template": {"metadata": {"labels": {"app": "s"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}),
        "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:0, IntVal:1, StrVal:\"\"}: may not be set when maxUnavailable is non-zero",
    )
    .await;

    // kubectl's generator path reports the same refusal.
    let out = cluster.kubectl(&[
        "create",
        "cronjob",
        "tick",
        "--image=busybox",
        "--schedule=61 * * * *",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("end of range (61) above maximum (59): 61"),
        "{stderr}"
    );
}
