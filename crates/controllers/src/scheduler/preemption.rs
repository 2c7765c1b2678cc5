//! Preemption (upstream's DefaultPreemption PostFilter, without extenders): when a pod fits
//! nowhere, find the node where evicting the fewest and least important lower-priority pods
//! lets it fit — breaking as few PodDisruptionBudgets as possible first — nominate that node in
//! the pod's `status.nominatedNodeName`, mark each victim `DisruptionTarget` and delete it.
//! The pod stays queued and is placed once the victims are gone. As upstream, budgets are a
//! preference, not a guarantee: when every choice breaks one, the least bad one is taken.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;

use super::budgets::Budgets;
use super::nodeinfo::NodeInfo;
use super::predicates::{filter_node, PodFacts};
use super::{FIELD_MANAGER, SCHEDULER_NAME};
use crate::events::Recorder;
use crate::util::{is_deleting, now};

/// Where to make room and whom to evict for it.
#[derive(Debug)]
pub struct Plan {
    /// The nominated node.
    pub node: String,
    /// The pods to evict, most important first.
    pub victims: Vec<Arc<Pod>>,
}

/// A pod's priority (0 when unset), as the queue and preemption both order by it.
pub(super) fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// Upstream `PodEligibleToPreemptOthers`: `preemptionPolicy: Never` never preempts, and a pod
/// already nominated somewhere waits while lower-priority pods there are still terminating.
fn eligible(pod: &Pod, nodes: &[&NodeInfo]) -> bool {
    let spec = pod.spec.as_ref();
    if spec.and_then(|s| s.preemption_policy.as_deref()) == Some("Never") {
        return false;
    }
    let nominated = pod
        .status
        .as_ref()
        .and_then(|s| s.nominated_node_name.as_deref());
    let Some(nominated) = nominated else {
        return true;
    };
    let mine = priority(pod);
    !nodes
        .iter()
        .filter(|n| n.name() == nominated)
        .flat_map(|n| n.pods.values())
        .any(|p| is_deleting(&p.metadata) && priority(p) < mine)
}

/// The pods one node would lose, and how many of them break a budget.
#[derive(Default)]
struct Victims {
    pods: Vec<Arc<Pod>>,
    violations: usize,
}

/// The minimal victims on one node, or None when evicting every lower-priority pod there
/// would still not make the pod fit.
fn victims_on(facts: &PodFacts<'_>, info: &NodeInfo, budgets: &Budgets) -> Option<Victims> {
    let mine = priority(facts.pod);
    let mut trial = info.clone();
    let mut lower: Vec<(String, Arc<Pod>)> = info
        .pods
        .iter()
        .filter(|(_, p)| priority(p) < mine && !is_deleting(&p.metadata))
        .map(|(uid, p)| (uid.clone(), p.clone()))
        .collect();
    if lower.is_empty() {
        return None;
    }
    for (uid, _) in &lower {
        trial.remove_pod(uid);
    }
    filter_node(facts, &trial).ok()?;
    // Reprieve as many as possible, most important first, and pods whose eviction would
    // break a budget before the others (upstream's selectVictimsOnNode).
    lower.sort_by_key(|(_, p)| std::cmp::Reverse(priority(p)));
    let (violating, sparing) = budgets.split(lower);
    let mut victims = Victims::default();
    for (breaks_budget, group) in [(true, violating), (false, sparing)] {
        for (uid, pod) in group {
            trial.add_pod(&uid, pod.clone());
            if filter_node(facts, &trial).is_err() {
                trial.remove_pod(&uid);
                victims.violations += usize::from(breaks_budget);
                victims.pods.push(pod);
            }
        }
    }
    (!victims.pods.is_empty()).then_some(victims)
}

/// Upstream's pickOneNodeForPreemption order: the fewest broken budgets, then the lowest
/// highest-victim priority, then the lowest sum of victim priorities, then the fewest victims.
fn cost(victims: &Victims) -> (usize, i32, i64, usize) {
    let pods = &victims.pods;
    let highest = pods.iter().map(|p| priority(p)).max().unwrap_or(i32::MIN);
    let sum = pods.iter().map(|p| i64::from(priority(p))).sum();
    (victims.violations, highest, sum, pods.len())
}

/// The cheapest preemption that lets `pod` fit, if any, weighing `budgets`.
pub fn plan(pod: &Pod, nodes: &[&NodeInfo], budgets: &Budgets) -> Option<Plan> {
    if !eligible(pod, nodes) {
        return None;
    }
    let facts = PodFacts::new(pod);
    nodes
        .iter()
        .filter_map(|info| victims_on(&facts, info, budgets).map(|v| (info.name().to_owned(), v)))
        .min_by_key(|(_, victims)| cost(victims))
        .map(|(node, victims)| Plan {
            node,
            victims: victims.pods,
        })
}

/// Carries a plan out: nominate the node, then mark and delete each victim.
pub async fn execute(client: &Client, rec: &Recorder, pod: &Pod, plan: &Plan) {
    let ns = pod.namespace().unwrap_or_else(|| "default".into());
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    let nominate = json!({"status": {"nominatedNodeName": plan.node}});
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    if let Err(e) = pods
        .patch_status(&pod.name_any(), &params, &Patch::Merge(&nominate))
        .await
    {
        tracing::warn!(pod = %pod.name_any(), error = %e, "nominating a node failed");
        return;
    }
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    for victim in &plan.victims {
        evict(client, rec, victim, &uid, &plan.node, &params).await;
    }
}

async fn evict(
    client: &Client,
    rec: &Recorder,
    victim: &Pod,
    preemptor: &str,
    node: &str,
    params: &PatchParams,
) {
    let ns = victim.namespace().unwrap_or_else(|| "default".into());
    let name = victim.name_any();
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let condition = json!({"status": {"conditions": [{
        "type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
        "message": format!("{SCHEDULER_NAME}: preempting to accommodate a higher priority pod"),
        "lastTransitionTime": now(),
    }]}});
    // The condition tells the victim's controller (a Job's pod failure policy) why it went.
    let _ = api
        .patch_status(&name, params, &Patch::Strategic(condition))
        .await;
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => {
            let msg = format!("Preempted by pod {preemptor} on node {node}");
            rec.normal(victim, "Preempted", &msg).await;
        }
        Err(e) => tracing::warn!(pod = %name, error = %e, "deleting a preemption victim failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Node;

    fn node(cpu: &str) -> NodeInfo {
        named_node("n1", cpu)
    }

    fn named_node(name: &str, cpu: &str) -> NodeInfo {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": name},
            "status": {"allocatable": {"cpu": cpu, "memory": "1Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}]}}))
        .unwrap();
        NodeInfo::new(Arc::new(node))
    }

    fn pod(name: &str, priority: i32, cpu: &str) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "uid": name},
            "spec": {"priority": priority, "containers": [{"name": "c",
                "resources": {"requests": {"cpu": cpu}}}]}}))
        .unwrap()
    }

    #[test]
    fn evicts_the_fewest_least_important_pods() {
        let mut info = node("3");
        for (name, prio) in [("low", 1), ("mid", 5), ("high", 100)] {
            info.add_pod(name, Arc::new(pod(name, prio, "1")));
        }
        let plan = plan(&pod("new", 10, "1"), &[&info], &Budgets::default()).expect("a plan");
        let names: Vec<String> = plan.victims.iter().map(|p| p.name_any()).collect();
        assert_eq!(plan.node, "n1");
        assert_eq!(names, ["low"]);
        // Two cpus: both lower-priority pods go; the higher-priority one stays.
        let plan = plan_for(&info, pod("big", 10, "2"));
        let mut names: Vec<String> = plan.victims.iter().map(|p| p.name_any()).collect();
        names.sort();
        assert_eq!(names, ["low", "mid"]);
    }

    fn plan_for(info: &NodeInfo, p: Pod) -> Plan {
        plan(&p, &[info], &Budgets::default()).expect("a plan")
    }

    #[test]
    fn no_plan_without_lower_priority_room_or_when_never() {
        let mut info = node("1");
        info.add_pod("high", Arc::new(pod("high", 100, "1")));
        let none = Budgets::default();
        assert!(plan(&pod("new", 10, "1"), &[&info], &none).is_none());
        let mut never = pod("never", 1000, "1");
        never.spec.as_mut().unwrap().preemption_policy = Some("Never".into());
        assert!(plan(&never, &[&info], &none).is_none());
    }

    #[test]
    fn budgets_steer_preemption_to_the_node_that_breaks_none() {
        let labelled = |name: &str, app: &str| {
            let mut p = pod(name, 1, "1");
            p.metadata.namespace = Some("ns".into());
            p.metadata.labels = Some([("app".to_string(), app.to_string())].into());
            Arc::new(p)
        };
        let mut guarded = node("1");
        guarded.add_pod("db", labelled("db", "db"));
        let mut free = named_node("n2", "1");
        free.add_pod("cache", labelled("cache", "cache"));
        let pdb = serde_json::from_value(json!({"metadata": {"name": "db", "namespace": "ns"},
            "spec": {"selector": {"matchLabels": {"app": "db"}}},
            "status": {"disruptionsAllowed": 0}}))
        .unwrap();
        let budgets = Budgets::new(&[pdb]);
        // Without budgets the first node wins the tie; the budget on `db` moves it.
        let p = pod("new", 10, "1");
        let plan = plan(&p, &[&guarded, &free], &budgets).expect("a plan");
        assert_eq!(plan.node, "n2");
        // When breaking the budget is the only way, it is broken.
        let plan = super::plan(&p, &[&guarded], &budgets).expect("a plan");
        assert_eq!(plan.victims[0].name_any(), "db");
    }
}
