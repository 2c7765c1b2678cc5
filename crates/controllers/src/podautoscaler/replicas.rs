//! The replica calculator (upstream `replica_calculator.go`): from per-pod usage and requests
//! to a replica count, with the 0.1 tolerance, missing-metric and not-ready-pod handling.
//! Pure: the pods and samples come in, the proposal goes out.

use std::collections::{BTreeMap, BTreeSet};

/// Upstream's default `--horizontal-pod-autoscaler-tolerance`.
pub const TOLERANCE: f64 = 0.1;
/// `--horizontal-pod-autoscaler-cpu-initialization-period` (5 min).
pub const CPU_INITIALIZATION_PERIOD: i64 = 300;
/// `--horizontal-pod-autoscaler-initial-readiness-delay` (30 s).
pub const INITIAL_READINESS_DELAY: i64 = 30;

/// What the calculator needs of one pod (times in Unix seconds).
#[derive(Clone, Debug)]
pub struct PodInfo {
    /// Pod name.
    pub name: String,
    /// `status.phase`.
    pub phase: String,
    /// Has a deletion timestamp.
    pub deleting: bool,
    /// The Ready condition: status and last transition time.
    pub ready: Option<(bool, i64)>,
    /// `status.startTime`.
    pub start: Option<i64>,
    /// Summed request of the resource (milli-units) over the containers measured, or the
    /// first container without one.
    pub request: Result<i64, String>,
}

/// One pod's usage sample (milli-units) from the metrics API.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Usage in milli-units (millicores, millibytes).
    pub value: i64,
    /// When it was measured (Unix seconds).
    pub timestamp: i64,
    /// The window it covers, in seconds.
    pub window: i64,
}

/// Usage samples by pod name.
pub type Samples = BTreeMap<String, Sample>;

/// What a calculation proposes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Proposal {
    /// The replica count.
    pub replicas: i32,
    /// Average utilization in percent of requests (utilization targets only).
    pub utilization: Option<i32>,
    /// Average raw usage per pod, milli-units.
    pub raw: i64,
}

/// `Tolerances.isWithin`: a change under 10% is no change.
pub fn within_tolerance(ratio: f64) -> bool {
    (1.0 - ratio).abs() <= TOLERANCE
}

struct Groups {
    ready: usize,
    unready: BTreeSet<String>,
    missing: BTreeSet<String>,
    ignored: BTreeSet<String>,
}

/// `groupPods`: deleted and failed pods are ignored, pending ones unready; for CPU a pod still
/// starting (or never ready) is unready too, since its usage is not representative.
fn group_pods(pods: &[PodInfo], samples: &Samples, cpu: bool, now: i64) -> Groups {
    let mut g = Groups {
        ready: 0,
        unready: BTreeSet::new(),
        missing: BTreeSet::new(),
        ignored: BTreeSet::new(),
    };
    for pod in pods {
        if pod.deleting || pod.phase == "Failed" {
            g.ignored.insert(pod.name.clone());
            continue;
        }
        if pod.phase == "Pending" {
            g.unready.insert(pod.name.clone());
            continue;
        }
        let Some(sample) = samples.get(&pod.name) else {
            g.missing.insert(pod.name.clone());
            continue;
        };
        if cpu {
            let unready = match (pod.ready, pod.start) {
                (Some((ready, changed)), Some(start)) => {
                    if start + CPU_INITIALIZATION_PERIOD > now {
                        !ready || sample.timestamp < changed + sample.window
                    } else {
                        !ready && start + INITIAL_READINESS_DELAY > changed
                    }
                }
                _ => true,
            };
            if unready {
                g.unready.insert(pod.name.clone());
                continue;
            }
        }
        g.ready += 1;
    }
    g
}

/// `GetResourceUtilizationRatio`: (usage/target ratio, utilization %, raw average).
fn utilization_ratio(
    samples: &Samples,
    requests: &BTreeMap<String, i64>,
    target: i32,
) -> Result<(f64, i32, i64), String> {
    let (mut usage, mut requested, mut n) = (0i64, 0i64, 0i64);
    for (pod, s) in samples {
        if let Some(r) = requests.get(pod) {
            usage += s.value;
            requested += r;
            n += 1;
        }
    }
    if requested == 0 {
        return Err("no metrics returned matched known pods".into());
    }
    let utilization = (usage * 100 / requested) as i32;
    Ok((utilization as f64 / target as f64, utilization, usage / n))
}

/// `GetMetricUsageRatio`: (usage/target ratio, average usage).
fn usage_ratio(samples: &Samples, target: i64) -> (f64, i64) {
    let total: i64 = samples.values().map(|s| s.value).sum();
    let avg = total / samples.len().max(1) as i64;
    (avg as f64 / target as f64, avg)
}

/// `calculatePodRequests`: every pod's request, or upstream's error naming the pod.
fn requests(pods: &[PodInfo], resource: &str) -> Result<BTreeMap<String, i64>, String> {
    pods.iter()
        .map(|p| match &p.request {
            Ok(r) => Ok((p.name.clone(), *r)),
            Err(container) => Err(format!(
                "missing request for {resource} in container {container} of Pod {}",
                p.name
            )),
        })
        .collect()
}

/// How a proposal is measured: against a utilization percentage or an average value.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// Percent of the pods' requests (`averageUtilization`).
    Utilization(i32),
    /// Milli-units per pod (`averageValue`).
    AverageValue(i64),
}

/// `GetResourceReplicas` / `GetRawResourceReplicas`: the replica count for a resource metric.
pub fn resource_replicas(
    current: i32,
    target: Target,
    resource: &str,
    pods: &[PodInfo],
    mut samples: Samples,
    now: i64,
) -> Result<Proposal, String> {
    if pods.is_empty() {
        return Err("no pods returned by selector while calculating replica count".into());
    }
    let groups = group_pods(pods, &samples, resource == "cpu", now);
    samples.retain(|p, _| !groups.ignored.contains(p) && !groups.unready.contains(p));
    if samples.is_empty() {
        return Err("did not receive metrics for targeted pods (pods might be unready)".into());
    }
    let reqs = match target {
        Target::Utilization(_) => requests(pods, resource)?,
        Target::AverageValue(_) => BTreeMap::new(),
    };
    let ratio_of = |s: &Samples| -> Result<(f64, Option<i32>, i64), String> {
        match target {
            Target::Utilization(t) => {
                utilization_ratio(s, &reqs, t).map(|(r, u, raw)| (r, Some(u), raw))
            }
            Target::AverageValue(t) => {
                let (r, avg) = usage_ratio(s, t);
                Ok((r, None, avg))
            }
        }
    };
    let (ratio, utilization, raw) = ratio_of(&samples)?;
    let keep = Proposal {
        replicas: current,
        utilization,
        raw,
    };
    let scale_up_with_unready = !groups.unready.is_empty() && ratio > 1.0;
    if !scale_up_with_unready && groups.missing.is_empty() {
        if within_tolerance(ratio) {
            return Ok(keep);
        }
        let replicas = (ratio * groups.ready as f64).ceil() as i32;
        return Ok(Proposal { replicas, ..keep });
    }
    // Missing pods count as at target (scale-down: 100% of request, or the target when
    // higher) or idle (scale-up); unready pods as idle on a scale-up: conservative both ways.
    for pod in &groups.missing {
        let value = if ratio < 1.0 {
            match target {
                Target::Utilization(t) => reqs[pod] * i64::from(t.max(100)) / 100,
                Target::AverageValue(t) => t,
            }
        } else {
            0
        };
        samples.insert(
            pod.clone(),
            Sample {
                value,
                timestamp: now,
                window: 0,
            },
        );
    }
    if scale_up_with_unready {
        for pod in &groups.unready {
            samples.insert(
                pod.clone(),
                Sample {
                    value: 0,
                    timestamp: now,
                    window: 0,
                },
            );
        }
    }
    let (new_ratio, _, _) = ratio_of(&samples)?;
    let flipped = (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0);
    if within_tolerance(new_ratio) || flipped {
        return Ok(keep);
    }
    let replicas = (new_ratio * samples.len() as f64).ceil() as i32;
    if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
        return Ok(keep);
    }
    Ok(Proposal { replicas, ..keep })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 10_000;

    /// A running pod, ready long ago, requesting `request` millicores.
    fn pod(name: &str, request: i64) -> PodInfo {
        PodInfo {
            name: name.into(),
            phase: "Running".into(),
            deleting: false,
            ready: Some((true, NOW - 1000)),
            start: Some(NOW - 1000),
            request: Ok(request),
        }
    }

    fn samples(values: &[(&str, i64)]) -> Samples {
        values
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    Sample {
                        value: *v,
                        timestamp: NOW,
                        window: 60,
                    },
                )
            })
            .collect()
    }

    fn calc(
        current: i32,
        target: Target,
        pods: &[PodInfo],
        s: Samples,
    ) -> Result<Proposal, String> {
        resource_replicas(current, target, "cpu", pods, s, NOW)
    }

    // replica_calculator_test.go TestReplicaCalcScaleUp: 3 pods at 300,500,700 of 1000m, 30%.
    #[test]
    fn scale_up() {
        let pods = [pod("a", 1000), pod("b", 1000), pod("c", 1000)];
        let p = calc(
            3,
            Target::Utilization(30),
            &pods,
            samples(&[("a", 300), ("b", 500), ("c", 700)]),
        )
        .unwrap();
        assert_eq!((p.replicas, p.utilization, p.raw), (5, Some(50), 500));
    }

    // TestReplicaCalcScaleDown: 5 pods at 100,300,500,250,250 of 1000m, 50% -> 3.
    #[test]
    fn scale_down() {
        let pods: Vec<_> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|n| pod(n, 1000))
            .collect();
        let s = samples(&[("a", 100), ("b", 300), ("c", 500), ("d", 250), ("e", 250)]);
        let p = calc(5, Target::Utilization(50), &pods, s).unwrap();
        assert_eq!((p.replicas, p.utilization), (3, Some(28)));
    }

    // TestReplicaCalcTolerance: 1.08 of target stays put.
    #[test]
    fn within_tolerance_keeps_current() {
        let pods = [pod("a", 1000), pod("b", 1000), pod("c", 1000)];
        let s = samples(&[("a", 1010), ("b", 1030), ("c", 1020)]);
        let p = calc(3, Target::Utilization(100), &pods, s).unwrap();
        assert_eq!(p.replicas, 3);
    }

    // TestReplicaCalcScaleUpUnreadyLessScale: an unready pod counts as idle on a scale-up.
    #[test]
    fn unready_pods_count_as_idle_on_scale_up() {
        let mut unready = pod("a", 1000);
        unready.ready = Some((false, NOW - 10));
        unready.start = Some(NOW - 60);
        let pods = [unready, pod("b", 1000), pod("c", 1000)];
        let s = samples(&[("a", 300), ("b", 500), ("c", 700)]);
        let p = calc(3, Target::Utilization(30), &pods, s).unwrap();
        assert_eq!((p.replicas, p.utilization), (4, Some(60)));
    }

    // A pod without a sample counts as using its whole request on a scale-down (1 without).
    #[test]
    fn missing_metrics_dampen_scale_down() {
        let pods: Vec<_> = ["a", "b", "c", "d"].iter().map(|n| pod(n, 1000)).collect();
        let s = samples(&[("a", 100), ("b", 100), ("c", 100)]);
        let p = calc(4, Target::Utilization(50), &pods, s).unwrap();
        assert_eq!((p.replicas, p.utilization), (3, Some(10)));
    }

    // Pending and failed pods are left out, deleted ones too.
    #[test]
    fn pending_and_failed_pods_are_left_out() {
        let mut pending = pod("p", 1000);
        pending.phase = "Pending".into();
        let mut failed = pod("f", 1000);
        failed.phase = "Failed".into();
        let pods = [pod("a", 1000), pending, failed];
        let p = calc(
            3,
            Target::Utilization(50),
            &pods,
            samples(&[("a", 200), ("f", 900)]),
        )
        .unwrap();
        assert_eq!(p.replicas, 1);
    }

    #[test]
    fn average_value_targets_compare_raw_usage() {
        let pods = [pod("a", 0), pod("b", 0)];
        let s = samples(&[("a", 400), ("b", 600)]);
        let p = calc(2, Target::AverageValue(250), &pods, s).unwrap();
        assert_eq!((p.replicas, p.raw, p.utilization), (4, 500, None));
    }

    #[test]
    fn errors_name_upstreams_causes() {
        assert_eq!(
            calc(1, Target::Utilization(50), &[], Samples::new()).unwrap_err(),
            "no pods returned by selector while calculating replica count"
        );
        assert_eq!(
            calc(1, Target::Utilization(50), &[pod("a", 100)], Samples::new()).unwrap_err(),
            "did not receive metrics for targeted pods (pods might be unready)"
        );
        let mut no_request = pod("a", 0);
        no_request.request = Err("app".into());
        assert_eq!(
            calc(
                1,
                Target::Utilization(50),
                &[no_request],
                samples(&[("a", 5)])
            )
            .unwrap_err(),
            "missing request for cpu in container app of Pod a"
        );
    }
}
