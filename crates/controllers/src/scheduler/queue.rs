//! The scheduling queue (upstream's activeQ / backoffQ / unschedulable pods): pending pods
//! ordered by priority then arrival, with per-pod back-off after failed attempts and a
//! parking area for pods no node fits until the cluster changes.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;

const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

#[derive(Debug, PartialEq, Eq)]
enum State {
    Active,
    Backoff(Instant),
    Unschedulable,
    InFlight,
}

struct Entry {
    pod: Arc<Pod>,
    attempts: u32,
    state: State,
    key: (Reverse<i32>, u64),
    fingerprint: u64,
}

fn fingerprint(pod: &Pod) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(&pod.spec)
        .unwrap_or_default()
        .hash(&mut h);
    pod.metadata.labels.hash(&mut h);
    h.finish()
}

fn backoff(attempts: u32) -> Duration {
    let d = INITIAL_BACKOFF.saturating_mul(1u32 << attempts.min(5).saturating_sub(1));
    d.min(MAX_BACKOFF)
}

/// The pending-pod queue.
#[derive(Default)]
pub(super) struct Queue {
    entries: HashMap<String, Entry>,
    active: BTreeSet<((Reverse<i32>, u64), String)>,
    seq: u64,
    /// Pending pods holding a `status.nominatedNodeName` (they preempted room there), by uid.
    nominated: HashMap<String, String>,
}

fn nominated_node(pod: &Pod) -> Option<&str> {
    pod.status
        .as_ref()
        .and_then(|s| s.nominated_node_name.as_deref())
        .filter(|n| !n.is_empty())
}

impl Queue {
    /// Whether a pod is ready to be tried now.
    pub(super) fn has_active(&self) -> bool {
        !self.active.is_empty()
    }

    /// Forgets pods a relist did not return.
    pub(super) fn retain(&mut self, seen: &std::collections::HashSet<String>) {
        let gone: Vec<String> = self
            .entries
            .keys()
            .filter(|u| !seen.contains(*u))
            .cloned()
            .collect();
        for uid in gone {
            self.remove(&uid);
        }
    }

    /// Pending pods nominated to a node, other than `except`, with priority at least `min`:
    /// upstream's `addNominatedPods` counts them on their node when placing a pod of lower or
    /// equal priority, so the room a preemption made is not taken by someone else.
    pub(super) fn nominated_pods(&self, except: &str, min: i32) -> Vec<(String, String, Arc<Pod>)> {
        self.nominated
            .iter()
            .filter(|(uid, _)| uid.as_str() != except)
            .filter_map(|(uid, node)| {
                let e = self.entries.get(uid)?;
                (super::preemption::priority(&e.pod) >= min)
                    .then(|| (node.clone(), uid.clone(), e.pod.clone()))
            })
            .collect()
    }

    pub(super) fn upsert(&mut self, pod: Pod) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        match nominated_node(&pod) {
            Some(node) => self.nominated.insert(uid.clone(), node.to_owned()),
            None => self.nominated.remove(&uid),
        };
        let fp = fingerprint(&pod);
        match self.entries.get_mut(&uid) {
            Some(e) => {
                let changed = e.fingerprint != fp;
                e.pod = Arc::new(pod);
                e.fingerprint = fp;
                if changed && e.state == State::Unschedulable {
                    e.state = State::Active;
                    self.active.insert((e.key, uid));
                }
            }
            None => {
                self.seq += 1;
                let prio = super::preemption::priority(&pod);
                let key = (Reverse(prio), self.seq);
                self.active.insert((key, uid.clone()));
                self.entries.insert(
                    uid,
                    Entry {
                        pod: Arc::new(pod),
                        attempts: 0,
                        state: State::Active,
                        key,
                        fingerprint: fp,
                    },
                );
            }
        }
    }

    pub(super) fn remove(&mut self, uid: &str) {
        self.nominated.remove(uid);
        if let Some(e) = self.entries.remove(uid) {
            self.active.remove(&(e.key, uid.to_owned()));
        }
    }

    pub(super) fn pop(&mut self) -> Option<(String, Arc<Pod>)> {
        let (key, uid) = self.active.pop_first()?;
        let e = self.entries.get_mut(&uid)?;
        debug_assert_eq!(e.key, key);
        e.state = State::InFlight;
        e.attempts += 1;
        Some((uid, e.pod.clone()))
    }

    pub(super) fn requeue(&mut self, uid: &str, unschedulable: bool) {
        if let Some(e) = self.entries.get_mut(uid) {
            e.state = if unschedulable {
                State::Unschedulable
            } else {
                State::Backoff(Instant::now() + backoff(e.attempts))
            };
        }
    }

    /// Moves unschedulable pods to backoff/active (cluster changed).
    pub(super) fn move_all_unschedulable(&mut self) {
        for e in self.entries.values_mut() {
            if e.state == State::Unschedulable {
                e.state = State::Backoff(Instant::now() + backoff(e.attempts));
            }
        }
    }

    /// Activates pods whose backoff expired.
    pub(super) fn tick(&mut self) {
        let now = Instant::now();
        for (uid, e) in self.entries.iter_mut() {
            if matches!(e.state, State::Backoff(t) if t <= now) {
                e.state = State::Active;
                self.active.insert((e.key, uid.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(uid: &str, prio: i32) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": uid, "uid": uid},
            "spec": {"priority": prio, "containers": []}}))
        .expect("pod")
    }

    #[test]
    fn pops_by_priority_then_arrival_and_parks_unschedulable() {
        let mut q = Queue::default();
        q.upsert(pod("a", 0));
        q.upsert(pod("b", 10));
        q.upsert(pod("c", 0));
        let order: Vec<String> = std::iter::from_fn(|| q.pop().map(|(u, _)| u)).collect();
        assert_eq!(order, ["b", "a", "c"]);
        assert!(!q.has_active());
        q.requeue("a", true);
        q.tick();
        assert!(
            !q.has_active(),
            "unschedulable pods wait for a cluster change"
        );
        // An update that changes the pod makes it worth another try at once.
        let mut changed = pod("a", 0);
        changed.metadata.labels = Some([("x".to_owned(), "y".to_owned())].into());
        q.upsert(changed);
        assert_eq!(q.pop().map(|(u, _)| u).as_deref(), Some("a"));
        q.retain(&["c".to_owned()].into());
        assert!(q.entries.keys().eq(["c"].iter()));
    }
}
