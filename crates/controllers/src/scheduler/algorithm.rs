//! One scheduling decision over a cache snapshot: sample feasible nodes, filter, score,
//! pick the best (ties broken at random), or explain with upstream's FitError message.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use rand::Rng;

use super::affinity::{
    affinity_filter, affinity_prefilter, preferred_affinity_prescore, spread_filter,
    spread_prefilter, ClusterView,
};
use super::nodeinfo::NodeInfo;
use super::predicates::{filter_node, Failure, PodFacts};
use super::scores::{
    balanced_allocation, intolerable_prefer_no_schedule, least_allocated, node_affinity_raw,
    normalize, normalize_min_max,
};

/// Upstream `ErrNoNodesAvailable`.
pub const NO_NODES: &str = "no nodes available to schedule pods";

/// Upstream's adaptive `percentageOfNodesToScore`: how many feasible nodes to look for.
pub fn num_feasible_nodes_to_find(all: usize) -> usize {
    const MIN_NODES: usize = 100;
    if all < MIN_NODES {
        return all;
    }
    let pct = (50usize.saturating_sub(all / 125)).max(5);
    (all * pct / 100).max(MIN_NODES)
}

/// Upstream `FitError.Error()` plus the default preemption PostFilter message.
pub fn fit_error_message(num_nodes: usize, failures: &[Failure]) -> String {
    if num_nodes == 0 {
        return NO_NODES.to_owned();
    }
    let mut hist: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut unresolvable, mut resolvable) = (0usize, 0usize);
    for f in failures {
        for r in &f.reasons {
            *hist.entry(r.as_str()).or_insert(0) += 1;
        }
        if f.unresolvable {
            unresolvable += 1;
        } else {
            resolvable += 1;
        }
    }
    let mut reasons: Vec<String> = hist.iter().map(|(k, v)| format!("{v} {k}")).collect();
    reasons.sort();
    let mut msg = format!("0/{num_nodes} nodes are available:");
    if !reasons.is_empty() {
        msg.push_str(&format!(" {}.", reasons.join(", ")));
    }
    let mut post = Vec::new();
    if resolvable > 0 {
        post.push(format!(
            "{resolvable} No preemption victims found for incoming pod"
        ));
    }
    if unresolvable > 0 {
        post.push(format!(
            "{unresolvable} Preemption is not helpful for scheduling"
        ));
    }
    post.sort();
    msg.push_str(&format!(
        " preemption: 0/{num_nodes} nodes are available: {}.",
        post.join(", ")
    ));
    msg
}

/// Inputs to a decision.
pub struct Snapshot<'a> {
    /// Every node in a stable order.
    pub nodes: Vec<&'a NodeInfo>,
    /// Namespace labels.
    pub namespaces: &'a HashMap<String, BTreeMap<String, String>>,
    /// Bound pods with required anti-affinity and their nodes.
    pub anti_affinity_pods: &'a [(Arc<Pod>, String)],
    /// Per node: pods sharing the incoming pod's controller (for default spreading).
    pub owner_counts: Option<&'a HashMap<String, i64>>,
    /// The pod's claims, when it has any (VolumeBinding filter).
    pub volumes: Option<&'a super::volumebinding::VolumeState>,
}

/// Picks a node for `pod`, starting the feasibility scan at `start` (rotated by the caller
/// so sampling is fair). On failure returns the FitError message.
pub fn schedule(pod: &Pod, snap: &Snapshot<'_>, start: usize) -> Result<String, String> {
    let n = snap.nodes.len();
    if n == 0 {
        return Err(NO_NODES.to_owned());
    }
    let view = ClusterView {
        nodes: &snap.nodes,
        namespaces: snap.namespaces,
        anti_affinity_pods: snap.anti_affinity_pods,
    };
    let facts = PodFacts::new(pod);
    let aff = affinity_prefilter(pod, &view);
    let spread = spread_prefilter(pod, &view);
    let want = num_feasible_nodes_to_find(n);
    let mut feasible: Vec<&NodeInfo> = Vec::with_capacity(want);
    let mut failures = Vec::new();
    for i in 0..n {
        let info = snap.nodes[(start + i) % n];
        let r = filter_node(&facts, info)
            .and_then(|_| spread_filter(&spread, info))
            .and_then(|_| affinity_filter(&aff, info))
            .and_then(|_| {
                snap.volumes
                    .map_or(Ok(()), |v| super::volumebinding::filter(v, &info.node))
            });
        match r {
            Ok(()) => {
                feasible.push(info);
                if feasible.len() >= want {
                    break;
                }
            }
            Err(f) => failures.push(f),
        }
    }
    if feasible.is_empty() {
        return Err(fit_error_message(n, &failures));
    }
    if feasible.len() == 1 {
        return Ok(feasible[0].name().to_owned());
    }
    let scores = score(&facts, &feasible, &view, snap.owner_counts);
    let best = scores.iter().copied().max().unwrap_or(0);
    let top: Vec<usize> = (0..feasible.len()).filter(|i| scores[*i] == best).collect();
    let pick = top[rand::rng().random_range(0..top.len())];
    Ok(feasible[pick].name().to_owned())
}

fn score(
    facts: &PodFacts<'_>,
    nodes: &[&NodeInfo],
    view: &ClusterView<'_>,
    owner_counts: Option<&HashMap<String, i64>>,
) -> Vec<i64> {
    let pod = facts.pod;
    let mut node_aff: Vec<i64> = nodes.iter().map(|n| node_affinity_raw(pod, n)).collect();
    normalize(&mut node_aff, false);
    let mut taint: Vec<i64> = nodes
        .iter()
        .map(|n| intolerable_prefer_no_schedule(pod, n))
        .collect();
    normalize(&mut taint, true);
    let preferred = preferred_affinity_prescore(pod, view);
    let mut inter: Vec<i64> = nodes.iter().map(|n| preferred.score(n)).collect();
    normalize_min_max(&mut inter);
    let mut spread: Vec<i64> = nodes
        .iter()
        .map(|n| {
            owner_counts
                .and_then(|c| c.get(n.name()))
                .copied()
                .unwrap_or(0)
        })
        .collect();
    normalize(&mut spread, true);
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            least_allocated(&facts.non_zero_requests, n)
                + balanced_allocation(&facts.non_zero_requests, n)
                + 2 * node_aff[i]
                + 3 * taint[i]
                + 2 * inter[i]
                + 2 * spread[i]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::scheduler::predicates::tests::{node, pod};

    #[test]
    fn message_shape_matches_upstream() {
        let f = Failure::unresolvable("node(s) didn't match Pod's node affinity/selector");
        assert_eq!(
            fit_error_message(3, &[f.clone(), f.clone(), f]),
            "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. \
             preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
        let cpu = Failure::resolvable("Insufficient cpu");
        let taint = Failure::unresolvable("node(s) had untolerated taint {a: b}");
        assert_eq!(
            fit_error_message(2, &[cpu, taint]),
            "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {a: b}. \
             preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, \
             1 Preemption is not helpful for scheduling."
        );
        assert_eq!(fit_error_message(0, &[]), NO_NODES);
    }

    #[test]
    fn sampling_follows_upstream_percentages() {
        assert_eq!(num_feasible_nodes_to_find(50), 50);
        assert_eq!(num_feasible_nodes_to_find(1000), 420);
        assert_eq!(num_feasible_nodes_to_find(5000), 500);
        assert_eq!(num_feasible_nodes_to_find(100_000), 5000);
    }

    #[test]
    fn picks_a_fitting_node_or_explains() {
        let a = NodeInfo::new(Arc::new(node(
            "a",
            json!({"metadata": {"labels": {"disk": "ssd"}}}),
        )));
        let b = NodeInfo::new(Arc::new(node("b", json!({}))));
        let ns = HashMap::new();
        let snap = Snapshot {
            nodes: vec![&a, &b],
            namespaces: &ns,
            anti_affinity_pods: &[],
            owner_counts: None,
            volumes: None,
        };
        let p = pod("p", json!({"spec": {"nodeSelector": {"disk": "ssd"}}}));
        for start in 0..2 {
            assert_eq!(schedule(&p, &snap, start).unwrap(), "a");
        }
        let q = pod("q", json!({"spec": {"nodeSelector": {"disk": "nvme"}}}));
        assert!(schedule(&q, &snap, 0)
            .unwrap_err()
            .starts_with("0/2 nodes are available: 2 node(s) didn't match"));
    }

    #[test]
    fn spreads_a_controllers_pods() {
        let a = NodeInfo::new(Arc::new(node("a", json!({}))));
        let b = NodeInfo::new(Arc::new(node("b", json!({}))));
        let ns = HashMap::new();
        let counts = HashMap::from([("a".to_owned(), 3)]);
        let snap = Snapshot {
            nodes: vec![&a, &b],
            namespaces: &ns,
            anti_affinity_pods: &[],
            owner_counts: Some(&counts),
            volumes: None,
        };
        assert_eq!(schedule(&pod("p", json!({})), &snap, 0).unwrap(), "b");
    }
}
