//! `computeReplicasForMetrics`: one proposal per metric from the target's pods and their
//! PodMetrics; the highest wins, and the first failure explains a ScalingActive=False.

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use serde_json::{json, Value};

use super::metrics::resource_samples;
use super::replicas::{resource_replicas, PodInfo, Target};
use crate::quota_usage::{format_milli, milli};
use crate::util::{pod_condition, secs};

/// What the metrics say.
pub struct MetricsOutcome {
    /// The highest proposal and the metric that made it.
    pub proposal: Option<(i32, String)>,
    /// `status.currentMetrics`, one per spec metric (empty entries for failed ones dropped).
    pub statuses: Vec<Value>,
    /// The first failure: condition reason, the error for the condition, the error wrapped
    /// as the sync reports it, and how many metrics failed.
    pub failure: Option<(String, String, String, usize)>,
}

/// The pod facts the calculator needs; requests of `resource` (of `container` only, if set).
pub fn pod_info(pod: &Pod, resource: &str, container: Option<&str>) -> PodInfo {
    let spec = pod.spec.clone().unwrap_or_default();
    let mut request = Ok(0);
    for c in spec
        .containers
        .iter()
        .filter(|c| container.is_none_or(|n| n == c.name))
    {
        let req = c
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get(resource))
            .and_then(|q| milli(&q.0));
        request = match (request, req) {
            (Ok(sum), Some(r)) => Ok(sum + r),
            (Ok(_), None) => Err(c.name.clone()),
            (err, _) => err,
        };
    }
    let status = pod.status.clone().unwrap_or_default();
    PodInfo {
        name: pod.metadata.name.clone().unwrap_or_default(),
        phase: status.phase.clone().unwrap_or_default(),
        deleting: pod.metadata.deletion_timestamp.is_some(),
        ready: pod_condition(pod, "Ready").map(|c| {
            let changed = c.last_transition_time.as_ref().map(secs).unwrap_or(0);
            (c.status == "True", changed)
        }),
        start: status.start_time.as_ref().map(secs),
        request,
    }
}

/// One Resource or ContainerResource metric: its proposal and status, or (reason, error).
async fn resource_metric(
    client: &Client,
    ns: &str,
    selector: &str,
    pods: &[Pod],
    spec: &Value,
    current: i32,
) -> Result<(i32, String, Value), (String, String, String)> {
    let ty = spec["type"].as_str().unwrap_or("");
    let (key, reason, what) = match ty {
        "Resource" => ("resource", "FailedGetResourceMetric", "resource metric"),
        _ => (
            "containerResource",
            "FailedGetContainerResourceMetric",
            "container metric",
        ),
    };
    let src = &spec[key];
    let resource = src["name"].as_str().unwrap_or("");
    let container = src["container"].as_str();
    let target = &src["target"];
    // The condition and event carry the calculator's error; the sync's error wraps it.
    let fail = |e: String| {
        (
            reason.to_string(),
            e,
            format!("failed to get {resource} {what} value"),
        )
    };
    let goal = match (target["averageValue"].as_str(), target["averageUtilization"].as_i64()) {
        (Some(avg), _) => Target::AverageValue(milli(avg).unwrap_or(0)),
        (None, Some(u)) => Target::Utilization(u as i32),
        (None, None) => return Err(fail("invalid resource metric source: neither an average utilization target nor an average value (usage) target was set".into())),
    };
    let samples = resource_samples(client, ns, selector, resource, container)
        .await
        .map_err(|e| fail(format!("failed to get {resource} utilization: unable to get metrics for resource {resource}: {e}")))?;
    let infos: Vec<PodInfo> = pods
        .iter()
        .map(|p| pod_info(p, resource, container))
        .collect();
    let p = resource_replicas(
        current,
        goal,
        resource,
        &infos,
        samples,
        crate::util::now_secs(),
    )
    .map_err(|e| fail(format!("failed to get {resource} utilization: {e}")))?;
    let mut value = json!({"averageValue": format_milli(p.raw)});
    if let Some(u) = p.utilization {
        value["averageUtilization"] = json!(u);
    }
    let name = match goal {
        Target::Utilization(_) => {
            format!("{resource} resource utilization (percentage of request)")
        }
        Target::AverageValue(_) => format!("{resource} resource"),
    };
    let mut status = json!({"type": ty, key: {"name": resource, "current": value}});
    if let Some(c) = container {
        status[key]["container"] = json!(c);
    }
    Ok((p.replicas, name, status))
}

/// Every metric of the spec: the highest proposal, the statuses, the first failure.
pub async fn compute(
    client: &Client,
    ns: &str,
    selector: &str,
    pods: &[Pod],
    metrics: &[Value],
    current: i32,
) -> MetricsOutcome {
    let mut out = MetricsOutcome {
        proposal: None,
        statuses: Vec::new(),
        failure: None,
    };
    let mut failed = 0;
    for spec in metrics {
        let result = match spec["type"].as_str().unwrap_or("") {
            "Resource" | "ContainerResource" => {
                resource_metric(client, ns, selector, pods, spec, current).await
            }
            // Pods/Object/External read custom.metrics.k8s.io / external.metrics.k8s.io,
            // which nothing serves here: report it as upstream does a missing metrics API.
            ty @ ("Pods" | "Object" | "External") => Err((
                format!("FailedGet{ty}Metric"),
                "unable to get metric: the server could not find the requested resource".into(),
                format!("failed to get {} metric value", ty.to_lowercase()),
            )),
            other => Err((
                "InvalidMetricSourceType".into(),
                format!("unknown metric source type \"{other}\""),
                String::new(),
            )),
        };
        match result {
            Ok((replicas, name, status)) => {
                out.statuses.push(status);
                if out.proposal.as_ref().is_none_or(|(r, _)| replicas > *r) {
                    out.proposal = Some((replicas, name));
                }
            }
            Err((reason, err, context)) => {
                failed += 1;
                if out.failure.is_none() {
                    let wrapped = if context.is_empty() {
                        err.clone()
                    } else {
                        format!("{context}: {err}")
                    };
                    out.failure = Some((reason, err, wrapped, 0));
                }
            }
        }
    }
    if let Some(f) = out.failure.as_mut() {
        f.3 = failed;
    }
    out
}
