//! PodDisruptionBudgets as preemption weighs them (upstream's `filterPodsWithPDBViolation`):
//! walking a node's would-be victims in order, each one takes one from the allowance of every
//! budget that selects it; a victim that takes a budget below zero "violates" it. Preemption
//! tries to spare violating pods first and prefers the node whose plan violates fewest.

use std::collections::BTreeSet;
use std::sync::Arc;

use ferrokube_apimachinery::labels::Selector;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::ResourceExt;

use crate::util::selector;

/// A would-be victim with the caller's key for it.
type Candidate<T> = (T, Arc<Pod>);

/// One budget's selector and the disruptions its status still allows.
struct Budget {
    namespace: String,
    selector: Selector,
    allowed: i32,
    /// Pods whose eviction the API server already counted (`status.disruptedPods`).
    disrupted: BTreeSet<String>,
}

/// The budgets in force when a preemption is planned.
#[derive(Default)]
pub struct Budgets(Vec<Budget>);

impl Budgets {
    /// The budgets of `pdbs`; one with an absent, empty or invalid selector selects nothing,
    /// as upstream's.
    pub fn new<'a>(pdbs: impl IntoIterator<Item = &'a PodDisruptionBudget>) -> Self {
        let budgets = pdbs
            .into_iter()
            .filter_map(|pdb| {
                let selector = selector(pdb.spec.as_ref()?.selector.as_ref()).ok()?;
                if selector.is_empty() {
                    return None;
                }
                let status = pdb.status.as_ref();
                Some(Budget {
                    namespace: pdb.namespace().unwrap_or_default(),
                    selector,
                    allowed: status.and_then(|s| s.disruptions_allowed).unwrap_or(0),
                    disrupted: status
                        .and_then(|s| s.disrupted_pods.as_ref())
                        .map(|d| d.keys().cloned().collect())
                        .unwrap_or_default(),
                })
            })
            .collect();
        Budgets(budgets)
    }

    /// Splits `pods` (kept in order) into those whose eviction would break a budget and those
    /// whose would not, charging each budget as it goes.
    pub fn split<T>(&self, pods: Vec<Candidate<T>>) -> (Vec<Candidate<T>>, Vec<Candidate<T>>) {
        let mut allowed: Vec<i32> = self.0.iter().map(|b| b.allowed).collect();
        let (mut violating, mut sparing) = (Vec::new(), Vec::new());
        for (key, pod) in pods {
            let mut violates = false;
            let labels = pod.labels();
            let ns = pod.namespace().unwrap_or_default();
            for (budget, left) in self.0.iter().zip(allowed.iter_mut()) {
                let counted = budget.disrupted.contains(&pod.name_any());
                if labels.is_empty() || budget.namespace != ns || counted {
                    continue;
                }
                if budget.selector.matches(labels) {
                    *left -= 1;
                    violates |= *left < 0;
                }
            }
            if violates {
                violating.push((key, pod));
            } else {
                sparing.push((key, pod));
            }
        }
        (violating, sparing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, app: &str) -> (String, Arc<Pod>) {
        let pod = serde_json::from_value(json!({"metadata": {"name": name, "namespace": "ns",
            "labels": {"app": app}}}))
        .unwrap();
        (name.to_owned(), Arc::new(pod))
    }

    fn pdb(app: &str, allowed: i32) -> PodDisruptionBudget {
        serde_json::from_value(json!({"metadata": {"name": app, "namespace": "ns"},
            "spec": {"selector": {"matchLabels": {"app": app}}},
            "status": {"disruptionsAllowed": allowed, "currentHealthy": 0, "desiredHealthy": 0,
                "expectedPods": 0}}))
        .unwrap()
    }

    fn names(pods: &[(String, Arc<Pod>)]) -> Vec<&str> {
        pods.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn victims_beyond_the_allowance_violate() {
        let budgets = Budgets::new(&[pdb("web", 1), pdb("db", 0)]);
        let pods = vec![
            pod("web-1", "web"),
            pod("web-2", "web"),
            pod("db-1", "db"),
            pod("x", "x"),
        ];
        let (violating, sparing) = budgets.split(pods);
        assert_eq!(names(&violating), ["web-2", "db-1"]);
        assert_eq!(names(&sparing), ["web-1", "x"]);
    }

    #[test]
    fn an_empty_selector_selects_nothing() {
        let mut open = pdb("web", 0);
        open.spec.as_mut().unwrap().selector = Some(Default::default());
        let (violating, _) = Budgets::new(&[open]).split(vec![pod("web-1", "web")]);
        assert!(violating.is_empty());
    }
}
