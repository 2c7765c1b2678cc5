use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::scheduler::predicates::tests::{node, pod};

fn zone_node(name: &str, zone: &str) -> NodeInfo {
    NodeInfo::new(Arc::new(node(
        name,
        json!({"metadata": {"labels": {"kubernetes.io/hostname": name, "zone": zone}}}),
    )))
}

fn labelled(name: &str, app: &str) -> Pod {
    pod(name, json!({"metadata": {"labels": {"app": app}}}))
}

fn check(
    p: &Pod,
    nodes: &[&NodeInfo],
    target: &NodeInfo,
    anti: &[(Arc<Pod>, String)],
) -> Result<(), Failure> {
    let ns = HashMap::<String, BTreeMap<String, String>>::new();
    let view = ClusterView {
        nodes,
        namespaces: &ns,
        anti_affinity_pods: anti,
    };
    affinity_filter(&affinity_prefilter(p, &view), target)?;
    spread_filter(&spread_prefilter(p, &view), target)
}

#[test]
fn required_affinity_needs_a_matching_pod_in_domain() {
    let mut a = zone_node("a", "z1");
    let b = zone_node("b", "z2");
    a.add_pod("db", Arc::new(labelled("db", "db")));
    let p = pod(
        "web",
        json!({"spec": {"affinity": {"podAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone"}]}}}}),
    );
    let nodes = [&a, &b];
    assert!(check(&p, &nodes, &a, &[]).is_ok());
    assert_eq!(
        check(&p, &nodes, &b, &[]).unwrap_err().reasons,
        vec!["node(s) didn't match pod affinity rules"]
    );
}

#[test]
fn first_pod_of_self_selecting_group_may_land() {
    let a = zone_node("a", "z1");
    let p = pod(
        "w",
        json!({"metadata": {"labels": {"app": "w"}}, "spec": {"affinity": {"podAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "w"}}, "topologyKey": "zone"}]}}}}),
    );
    assert!(check(&p, &[&a], &a, &[]).is_ok());
}

#[test]
fn anti_affinity_rejects_domain_with_match() {
    let mut a = zone_node("a", "z1");
    let b = zone_node("b", "z1");
    let c = zone_node("c", "z2");
    a.add_pod("w1", Arc::new(labelled("w1", "web")));
    let p = pod(
        "w2",
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"affinity": {"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "zone"}]}}}}),
    );
    let nodes = [&a, &b, &c];
    assert_eq!(
        check(&p, &nodes, &b, &[]).unwrap_err().reasons,
        vec!["node(s) didn't match pod anti-affinity rules"]
    );
    assert!(check(&p, &nodes, &c, &[]).is_ok());
}

#[test]
fn existing_pods_anti_affinity_is_symmetric() {
    let a = zone_node("a", "z1");
    let b = zone_node("b", "z2");
    let guard = Arc::new(pod(
        "g",
        json!({"spec": {"affinity": {"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "noisy"}}, "topologyKey": "kubernetes.io/hostname"}]}}}}),
    ));
    let anti = vec![(guard, "a".to_owned())];
    let p = labelled("n", "noisy");
    let nodes = [&a, &b];
    assert_eq!(
        check(&p, &nodes, &a, &anti).unwrap_err().reasons,
        vec!["node(s) didn't satisfy existing pods anti-affinity rules"]
    );
    assert!(check(&p, &nodes, &b, &anti).is_ok());
    assert!(check(&labelled("q", "quiet"), &nodes, &a, &anti).is_ok());
}

#[test]
fn topology_spread_limits_skew() {
    let mut a = zone_node("a", "z1");
    let b = zone_node("b", "z2");
    a.add_pod("w1", Arc::new(labelled("w1", "web")));
    let p = pod(
        "w2",
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
         "labelSelector": {"matchLabels": {"app": "web"}}}]}}),
    );
    let nodes = [&a, &b];
    assert_eq!(
        check(&p, &nodes, &a, &[]).unwrap_err().reasons,
        vec!["node(s) didn't match pod topology spread constraints"]
    );
    assert!(check(&p, &nodes, &b, &[]).is_ok());
    let unlabeled = NodeInfo::new(Arc::new(node("u", json!({}))));
    assert!(check(&p, &nodes, &unlabeled, &[]).unwrap_err().unresolvable);
}

#[test]
fn preferred_affinity_scores_matching_domain() {
    let mut a = zone_node("a", "z1");
    let b = zone_node("b", "z2");
    a.add_pod("db", Arc::new(labelled("db", "db")));
    let p = pod(
        "w",
        json!({"spec": {"affinity": {"podAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 10, "podAffinityTerm":
            {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone"}}]}}}}),
    );
    let ns = HashMap::new();
    let nodes = [&a, &b];
    let view = ClusterView {
        nodes: &nodes,
        namespaces: &ns,
        anti_affinity_pods: &[],
    };
    assert_eq!(preferred_affinity_score(&p, &a, &view), 10);
    assert_eq!(preferred_affinity_score(&p, &b, &view), 0);
}
