//! Reading resource usage from `metrics.k8s.io/v1beta1` PodMetrics (upstream's
//! `resourceMetricsClient.GetResourceMetric`), the one place the controller asks for metrics.

use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::Client;
use serde_json::Value;

use super::replicas::{Sample, Samples};
use crate::quota_usage::milli;

/// `metrics.k8s.io/v1beta1` PodMetrics (resource `pods`).
fn pod_metrics_resource() -> ApiResource {
    ApiResource {
        group: "metrics.k8s.io".into(),
        version: "v1beta1".into(),
        api_version: "metrics.k8s.io/v1beta1".into(),
        kind: "PodMetrics".into(),
        plural: "pods".into(),
    }
}

/// Usage of `resource` per pod matching `selector` in `ns`, summed over the pod's containers
/// (or only `container`), with upstream's error texts. Pods whose sample lacks the resource
/// are left out (they count as missing).
pub async fn resource_samples(
    client: &Client,
    ns: &str,
    selector: &str,
    resource: &str,
    container: Option<&str>,
) -> Result<Samples, String> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &pod_metrics_resource());
    let list = api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(|e| {
            format!(
                "unable to fetch metrics from resource metrics API: {}",
                describe(&e)
            )
        })?;
    if list.items.is_empty() {
        return Err("no metrics returned from resource metrics API".into());
    }
    let mut samples = Samples::new();
    for item in &list.items {
        let name = item.metadata.name.clone().unwrap_or_default();
        let value = match container {
            Some(c) => Some(container_usage(item, resource, c)?),
            None => pod_usage(item, resource),
        };
        if let Some(value) = value {
            samples.insert(
                name,
                Sample {
                    value,
                    timestamp: timestamp(item),
                    window: window(item),
                },
            );
        }
    }
    Ok(samples)
}

/// The way client-go prints a 404 from an API group that is not served.
fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if s.code == 404 => {
            "the server could not find the requested resource (get pods.metrics.k8s.io)".into()
        }
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

fn containers(item: &DynamicObject) -> &[Value] {
    item.data["containers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// `getPodMetrics`: the containers' sum, None when one container lacks the resource.
fn pod_usage(item: &DynamicObject, resource: &str) -> Option<i64> {
    containers(item)
        .iter()
        .map(|c| c["usage"][resource].as_str().and_then(milli))
        .sum()
}

/// `getContainerMetrics`: the named container's usage.
fn container_usage(item: &DynamicObject, resource: &str, container: &str) -> Result<i64, String> {
    containers(item)
        .iter()
        .find(|c| c["name"] == container)
        .and_then(|c| c["usage"][resource].as_str().and_then(milli))
        .ok_or_else(|| {
            format!(
                "failed to get container metrics: container {container} not present in metrics for pod {}/{}",
                item.metadata.namespace.as_deref().unwrap_or(""),
                item.metadata.name.as_deref().unwrap_or("")
            )
        })
}

fn timestamp(item: &DynamicObject) -> i64 {
    item.data["timestamp"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp())
        .unwrap_or_else(crate::util::now_secs)
}

/// The sample's window (`"30s"`, `"1m0s"`) in seconds.
fn window(item: &DynamicObject) -> i64 {
    let text = item.data["window"].as_str().unwrap_or("");
    let mut total = 0.0;
    let mut number = String::new();
    for ch in text.chars() {
        match ch {
            'h' | 'm' | 's' => {
                let n: f64 = number.parse().unwrap_or(0.0);
                total += n * match ch {
                    'h' => 3600.0,
                    'm' => 60.0,
                    _ => 1.0,
                };
                number.clear();
            }
            c => number.push(c),
        }
    }
    total as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(containers: Value) -> DynamicObject {
        serde_json::from_value(
            json!({"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
            "metadata": {"name": "web-1", "namespace": "default"},
            "timestamp": "2026-01-01T00:00:00Z", "window": "1m30s", "containers": containers}),
        )
        .unwrap()
    }

    #[test]
    fn pod_usage_sums_containers_and_needs_each() {
        let i = item(
            json!([{"name": "a", "usage": {"cpu": "250m", "memory": "10Mi"}},
            {"name": "b", "usage": {"cpu": "1"}}]),
        );
        assert_eq!(pod_usage(&i, "cpu"), Some(1250));
        assert_eq!(pod_usage(&i, "memory"), None);
        assert_eq!(container_usage(&i, "cpu", "b"), Ok(1000));
        assert!(container_usage(&i, "cpu", "c")
            .unwrap_err()
            .contains("container c not present"));
        assert_eq!(window(&i), 90);
    }
}
