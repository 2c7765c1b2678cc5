//! Score plugins (upstream NodeResourcesFit/LeastAllocated, BalancedAllocation,
//! NodeAffinity, TaintToleration, default spreading) and score normalisation.

use k8s_openapi::api::core::v1::Pod;

use super::nodeinfo::NodeInfo;
use super::predicates::{term_matches, tolerates};
use super::resources::Resources;

/// Highest score a plugin gives a node.
pub const MAX_SCORE: i64 = 100;

/// LeastAllocated: free fraction of cpu and memory after placing a pod requesting `req`
/// (its non-zero requests), 0..100.
pub fn least_allocated(req: &Resources, info: &NodeInfo) -> i64 {
    let alloc = &info.allocatable;
    let used = &info.non_zero_requested;
    let part = |cap: i64, want: i64| -> i64 {
        if cap <= 0 || want > cap {
            0
        } else {
            (cap - want) * MAX_SCORE / cap
        }
    };
    let cpu = part(alloc.milli_cpu, used.milli_cpu + req.milli_cpu);
    let mem = part(alloc.memory, used.memory + req.memory);
    (cpu + mem) / 2
}

/// BalancedAllocation: 100 × (1 − std-dev of the cpu and memory utilisation fractions) after
/// placing a pod requesting `req` (its non-zero requests).
pub fn balanced_allocation(req: &Resources, info: &NodeInfo) -> i64 {
    let alloc = &info.allocatable;
    let used = &info.non_zero_requested;
    let frac = |cap: i64, want: i64| -> f64 {
        if cap <= 0 {
            1.0
        } else {
            (want as f64 / cap as f64).min(1.0)
        }
    };
    let c = frac(alloc.milli_cpu, used.milli_cpu + req.milli_cpu);
    let m = frac(alloc.memory, used.memory + req.memory);
    // For two values the standard deviation is half their distance.
    let std = (c - m).abs() / 2.0;
    ((1.0 - std) * MAX_SCORE as f64) as i64
}

/// NodeAffinity raw score: sum of weights of matching preferred terms.
pub fn node_affinity_raw(pod: &Pod, info: &NodeInfo) -> i64 {
    pod.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .map(|terms| {
            terms
                .iter()
                .filter(|t| term_matches(&t.preference, &info.node))
                .map(|t| i64::from(t.weight))
                .sum()
        })
        .unwrap_or(0)
}

/// TaintToleration raw score: count of PreferNoSchedule taints the pod does not tolerate
/// (lower is better; normalised in reverse).
pub fn intolerable_prefer_no_schedule(pod: &Pod, info: &NodeInfo) -> i64 {
    let tols = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[]);
    info.taints
        .iter()
        .filter(|t| t.effect == "PreferNoSchedule")
        .filter(|t| !tols.iter().any(|tol| tolerates(tol, t)))
        .count() as i64
}

/// Upstream `DefaultNormalizeScore`: scale to 0..100 by the maximum, optionally reversed.
pub fn normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max <= 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        let v = MAX_SCORE * (*s).max(0) / max;
        *s = if reverse { MAX_SCORE - v } else { v };
    }
}

/// Min-max normalisation for scores that can be negative (inter-pod affinity).
pub fn normalize_min_max(scores: &mut [i64]) {
    let max = scores.iter().copied().max().unwrap_or(0);
    let min = scores.iter().copied().min().unwrap_or(0);
    let span = max - min;
    for s in scores.iter_mut() {
        *s = if span == 0 {
            0
        } else {
            MAX_SCORE * (*s - min) / span
        };
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::scheduler::predicates::tests::{node, pod};
    use crate::scheduler::resources::pod_requests;

    fn cpu_pod(name: &str, cpu: &str) -> Pod {
        pod(
            name,
            json!({"spec": {"containers": [{"name": "c", "image": "x",
            "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}]}}),
        )
    }

    #[test]
    fn least_allocated_prefers_emptier_node() {
        let empty = NodeInfo::new(Arc::new(node("a", json!({}))));
        let mut busy = NodeInfo::new(Arc::new(node("b", json!({}))));
        busy.add_pod("x", Arc::new(cpu_pod("x", "3")));
        let p = pod_requests(&cpu_pod("p", "500m"), true);
        assert!(least_allocated(&p, &empty) > least_allocated(&p, &busy));
    }

    #[test]
    fn balanced_prefers_even_use() {
        let n = NodeInfo::new(Arc::new(node("a", json!({}))));
        let even = pod(
            "e",
            json!({"spec": {"containers": [{"name": "c", "image": "x",
            "resources": {"requests": {"cpu": "2", "memory": "8Gi"}}}]}}),
        );
        let skewed = pod(
            "s",
            json!({"spec": {"containers": [{"name": "c", "image": "x",
            "resources": {"requests": {"cpu": "4", "memory": "1Mi"}}}]}}),
        );
        assert_eq!(balanced_allocation(&pod_requests(&even, true), &n), 100);
        assert!(balanced_allocation(&pod_requests(&skewed, true), &n) < 60);
    }

    #[test]
    fn preferred_node_affinity_sums_weights() {
        let n = NodeInfo::new(Arc::new(node(
            "a",
            json!({"metadata": {"labels": {"disk": "ssd"}}}),
        )));
        let p = pod(
            "p",
            json!({"spec": {"affinity": {"nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 5, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}},
                {"weight": 7, "preference": {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}}]}}}}),
        );
        assert_eq!(node_affinity_raw(&p, &n), 5);
    }

    #[test]
    fn prefer_no_schedule_counts() {
        let n = NodeInfo::new(Arc::new(node(
            "a",
            json!({"spec": {"taints": [
            {"key": "a", "effect": "PreferNoSchedule"}, {"key": "b", "effect": "PreferNoSchedule"}]}}),
        )));
        assert_eq!(intolerable_prefer_no_schedule(&pod("p", json!({})), &n), 2);
        let tol = pod(
            "p",
            json!({"spec": {"tolerations": [{"key": "a", "operator": "Exists"}]}}),
        );
        assert_eq!(intolerable_prefer_no_schedule(&tol, &n), 1);
    }

    #[test]
    fn normalisation() {
        let mut s = vec![0, 5, 10];
        normalize(&mut s, false);
        assert_eq!(s, vec![0, 50, 100]);
        let mut r = vec![0, 5, 10];
        normalize(&mut r, true);
        assert_eq!(r, vec![100, 50, 0]);
        let mut z = vec![0, 0];
        normalize(&mut z, true);
        assert_eq!(z, vec![100, 100]);
        let mut m = vec![-10, 0, 10];
        normalize_min_max(&mut m);
        assert_eq!(m, vec![0, 50, 100]);
    }
}
