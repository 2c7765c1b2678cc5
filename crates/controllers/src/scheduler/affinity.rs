//! Inter-pod (anti-)affinity and topology spread (upstream InterPodAffinity and
//! PodTopologySpread plugins): a pre-filter pass counts matching pods per topology domain
//! once per pod, then the per-node filter and score read those counts.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ferrokube_apimachinery::labels::Selector;
use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm};

use super::nodeinfo::{pod_labels, NodeInfo};
use super::predicates::{node_affinity_matches, Failure};
use crate::util::selector;

/// What the filters see of the cluster besides one node.
pub struct ClusterView<'a> {
    /// Every node.
    pub nodes: &'a [&'a NodeInfo],
    /// Namespace labels, for `namespaceSelector`.
    pub namespaces: &'a HashMap<String, BTreeMap<String, String>>,
    /// Bound pods carrying required anti-affinity, with their node names.
    pub anti_affinity_pods: &'a [(Arc<Pod>, String)],
}

fn ns_of(p: &Pod) -> &str {
    p.metadata.namespace.as_deref().unwrap_or("default")
}

/// Whether `term` (declared by a pod in `owner_ns`) selects `candidate`.
pub fn term_selects(
    term: &PodAffinityTerm,
    owner_ns: &str,
    candidate: &Pod,
    namespaces: &HashMap<String, BTreeMap<String, String>>,
) -> bool {
    let cns = ns_of(candidate);
    let names = term.namespaces.as_deref().unwrap_or(&[]);
    let ns_ok = if names.is_empty() && term.namespace_selector.is_none() {
        cns == owner_ns
    } else {
        names.iter().any(|n| n == cns)
            || term.namespace_selector.as_ref().is_some_and(|s| {
                let sel = selector(Some(s)).unwrap_or_else(|_| Selector::nothing());
                let empty = BTreeMap::new();
                sel.matches(namespaces.get(cns).unwrap_or(&empty))
            })
    };
    if !ns_ok {
        return false;
    }
    match selector(term.label_selector.as_ref()) {
        Ok(sel) => sel.matches(pod_labels(candidate)),
        Err(_) => false,
    }
}

fn required_terms(pod: &Pod, anti: bool) -> Vec<PodAffinityTerm> {
    let a = pod.spec.as_ref().and_then(|s| s.affinity.as_ref());
    let terms = if anti {
        a.and_then(|a| a.pod_anti_affinity.as_ref()).and_then(|x| {
            x.required_during_scheduling_ignored_during_execution
                .clone()
        })
    } else {
        a.and_then(|a| a.pod_affinity.as_ref()).and_then(|x| {
            x.required_during_scheduling_ignored_during_execution
                .clone()
        })
    };
    terms.unwrap_or_default()
}

/// Counts gathered once per scheduling attempt.
#[derive(Debug, Default)]
pub struct AffinityState {
    affinity: Vec<PodAffinityTerm>,
    anti: Vec<PodAffinityTerm>,
    /// Per affinity term: topology value -> matching pods.
    affinity_counts: Vec<HashMap<String, i64>>,
    /// Per anti-affinity term: topology value -> matching pods.
    anti_counts: Vec<HashMap<String, i64>>,
    /// (topologyKey, value) pairs where an existing pod's anti-affinity rejects the pod.
    existing_anti: HashMap<(String, String), i64>,
    any_affinity_match: bool,
    self_matches: bool,
}

/// InterPodAffinity pre-filter.
pub fn affinity_prefilter(pod: &Pod, view: &ClusterView<'_>) -> AffinityState {
    let ns = ns_of(pod);
    let mut st = AffinityState {
        affinity: required_terms(pod, false),
        anti: required_terms(pod, true),
        ..Default::default()
    };
    for (existing, node_name) in view.anti_affinity_pods {
        let Some(node) = view.nodes.iter().find(|n| n.name() == node_name) else {
            continue;
        };
        for t in required_terms(existing, true) {
            if term_selects(&t, ns_of(existing), pod, view.namespaces) {
                if let Some(v) = node.labels().get(&t.topology_key) {
                    *st.existing_anti
                        .entry((t.topology_key.clone(), v.clone()))
                        .or_insert(0) += 1;
                }
            }
        }
    }
    if st.affinity.is_empty() && st.anti.is_empty() {
        return st;
    }
    st.affinity_counts = vec![HashMap::new(); st.affinity.len()];
    st.anti_counts = vec![HashMap::new(); st.anti.len()];
    for info in view.nodes {
        for p in info.pods.values() {
            for (i, t) in st.affinity.iter().enumerate() {
                if term_selects(t, ns, p, view.namespaces) {
                    st.any_affinity_match = true;
                    if let Some(v) = info.labels().get(&t.topology_key) {
                        *st.affinity_counts[i].entry(v.clone()).or_insert(0) += 1;
                    }
                }
            }
            for (i, t) in st.anti.iter().enumerate() {
                if term_selects(t, ns, p, view.namespaces) {
                    if let Some(v) = info.labels().get(&t.topology_key) {
                        *st.anti_counts[i].entry(v.clone()).or_insert(0) += 1;
                    }
                }
            }
        }
    }
    st.self_matches = st
        .affinity
        .iter()
        .all(|t| term_selects(t, ns, pod, view.namespaces));
    st
}

/// InterPodAffinity filter for one node.
pub fn affinity_filter(st: &AffinityState, info: &NodeInfo) -> Result<(), Failure> {
    let labels = info.labels();
    for ((k, v), n) in &st.existing_anti {
        if *n > 0 && labels.get(k) == Some(v) {
            return Err(Failure::resolvable(
                "node(s) didn't satisfy existing pods anti-affinity rules",
            ));
        }
    }
    for (i, t) in st.anti.iter().enumerate() {
        if let Some(v) = labels.get(&t.topology_key) {
            if st.anti_counts[i].get(v).copied().unwrap_or(0) > 0 {
                return Err(Failure::resolvable(
                    "node(s) didn't match pod anti-affinity rules",
                ));
            }
        }
    }
    // The first pod of a group that selects itself may go anywhere with the keys.
    let first_of_group = !st.any_affinity_match && st.self_matches;
    for (i, t) in st.affinity.iter().enumerate() {
        let Some(v) = labels.get(&t.topology_key) else {
            return Err(Failure::unresolvable(
                "node(s) didn't match pod affinity rules",
            ));
        };
        if !first_of_group && st.affinity_counts[i].get(v).copied().unwrap_or(0) == 0 {
            return Err(Failure::unresolvable(
                "node(s) didn't match pod affinity rules",
            ));
        }
    }
    Ok(())
}

/// One hard topology spread constraint with its domain counts.
#[derive(Debug)]
struct SpreadConstraint {
    key: String,
    max_skew: i64,
    min_domains: i64,
    self_match: i64,
    counts: HashMap<String, i64>,
}

/// PodTopologySpread pre-filter state (DoNotSchedule constraints only).
#[derive(Debug, Default)]
pub struct SpreadState {
    constraints: Vec<SpreadConstraint>,
}

/// PodTopologySpread pre-filter: counts matching pods per domain over eligible nodes.
pub fn spread_prefilter(pod: &Pod, view: &ClusterView<'_>) -> SpreadState {
    let tscs = pod
        .spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.clone())
        .unwrap_or_default();
    let ns = ns_of(pod);
    let mut out = SpreadState::default();
    for c in tscs
        .into_iter()
        .filter(|c| c.when_unsatisfiable == "DoNotSchedule")
    {
        let sel = selector(c.label_selector.as_ref()).unwrap_or_else(|_| Selector::nothing());
        let mut counts = HashMap::new();
        for info in view.nodes {
            // nodeAffinityPolicy defaults to Honor: only nodes the pod could land on count.
            if c.node_affinity_policy.as_deref() != Some("Ignore")
                && !node_affinity_matches(pod, &info.node)
            {
                continue;
            }
            let Some(v) = info.labels().get(&c.topology_key) else {
                continue;
            };
            let n = info
                .pods
                .values()
                .filter(|p| ns_of(p) == ns && p.metadata.deletion_timestamp.is_none())
                .filter(|p| sel.matches(pod_labels(p)))
                .count() as i64;
            *counts.entry(v.clone()).or_insert(0) += n;
        }
        out.constraints.push(SpreadConstraint {
            key: c.topology_key.clone(),
            max_skew: i64::from(c.max_skew.max(1)),
            min_domains: i64::from(c.min_domains.unwrap_or(1)),
            self_match: i64::from(sel.matches(pod_labels(pod))),
            counts,
        });
    }
    out
}

/// PodTopologySpread filter for one node.
pub fn spread_filter(st: &SpreadState, info: &NodeInfo) -> Result<(), Failure> {
    for c in &st.constraints {
        let Some(v) = info.labels().get(&c.key) else {
            return Err(Failure::unresolvable(
                "node(s) didn't match pod topology spread constraints (missing required label)",
            ));
        };
        let mut min = c.counts.values().copied().min().unwrap_or(0);
        if (c.counts.len() as i64) < c.min_domains {
            min = 0;
        }
        let here = c.counts.get(v).copied().unwrap_or(0);
        if here + c.self_match - min > c.max_skew {
            return Err(Failure::resolvable(
                "node(s) didn't match pod topology spread constraints",
            ));
        }
    }
    Ok(())
}

/// InterPodAffinity PreScore state: per preferred term its signed weight and the number of
/// matching pods per topology value, counted once over the cluster so scoring a node is a
/// lookup rather than another pass over every node.
#[derive(Debug, Default)]
pub struct PreferredAffinity {
    terms: Vec<(i64, String, HashMap<String, i64>)>,
}

/// InterPodAffinity PreScore: counts the pods each preferred (anti-)affinity term selects,
/// by topology value.
pub fn preferred_affinity_prescore(pod: &Pod, view: &ClusterView<'_>) -> PreferredAffinity {
    let Some(a) = pod.spec.as_ref().and_then(|s| s.affinity.as_ref()) else {
        return PreferredAffinity::default();
    };
    let mut weighted: Vec<(i64, &PodAffinityTerm)> = Vec::new();
    for t in a.pod_affinity.iter().flat_map(|x| {
        x.preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
    }) {
        weighted.push((i64::from(t.weight), &t.pod_affinity_term));
    }
    for t in a.pod_anti_affinity.iter().flat_map(|x| {
        x.preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
    }) {
        weighted.push((-i64::from(t.weight), &t.pod_affinity_term));
    }
    let ns = ns_of(pod);
    let terms = weighted
        .into_iter()
        .map(|(w, t)| {
            let mut counts: HashMap<String, i64> = HashMap::new();
            for other in view.nodes {
                let Some(v) = other.labels().get(&t.topology_key) else {
                    continue;
                };
                let n = other
                    .pods
                    .values()
                    .filter(|p| term_selects(t, ns, p, view.namespaces))
                    .count() as i64;
                if n > 0 {
                    *counts.entry(v.clone()).or_insert(0) += n;
                }
            }
            (w, t.topology_key.clone(), counts)
        })
        .collect();
    PreferredAffinity { terms }
}

impl PreferredAffinity {
    /// Raw score of a node: sum over terms of weight × matching pods in the node's domain
    /// (anti-affinity terms subtract).
    pub fn score(&self, info: &NodeInfo) -> i64 {
        self.terms
            .iter()
            .filter_map(|(w, key, counts)| {
                let v = info.labels().get(key)?;
                Some(w * counts.get(v).copied().unwrap_or(0))
            })
            .sum()
    }
}

/// Preferred (anti-)affinity raw score for one node (PreScore and Score together).
pub fn preferred_affinity_score(pod: &Pod, info: &NodeInfo, view: &ClusterView<'_>) -> i64 {
    preferred_affinity_prescore(pod, view).score(info)
}

#[cfg(test)]
#[path = "affinity_tests.rs"]
mod tests;
