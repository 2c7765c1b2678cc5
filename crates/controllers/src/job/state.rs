//! What a Job's pods say (counts, completed and failed indexes, policy matches) and what the
//! Job controller should do about it: the pure half of a sync, tested without a server.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::batch::v1::JobSpec;
use k8s_openapi::api::core::v1::Pod;

use super::indexes;
use super::policy::{self, FailureAction};
use crate::util::{is_pod_active, is_pod_ready, pod_phase};

/// A terminal decision with upstream's condition reason and message.
#[derive(Clone, Debug, PartialEq)]
pub struct Ending {
    /// `Failed` (with FailureTarget) or `Complete` (with SuccessCriteriaMet).
    pub failed: bool,
    /// Condition reason (`BackoffLimitExceeded`, `CompletionsReached`, ...).
    pub reason: &'static str,
    /// Condition message.
    pub message: String,
}

impl Ending {
    fn fail(reason: &'static str, message: impl Into<String>) -> Self {
        Ending {
            failed: true,
            reason,
            message: message.into(),
        }
    }
    fn succeed(reason: &'static str, message: impl Into<String>) -> Self {
        Ending {
            failed: false,
            reason,
            message: message.into(),
        }
    }
}

/// The Job's pods, sorted into what the controller counts.
#[derive(Debug, Default)]
pub struct Observed {
    /// Pods still running or pending.
    pub active: Vec<Arc<Pod>>,
    /// Active pods the controller must remove (duplicates of an index, or without a valid one).
    pub extra: Vec<Arc<Pod>>,
    /// Succeeded pods (NonIndexed) or succeeded indexes (Indexed).
    pub succeeded: i32,
    /// Failed pods counted against limits (those an `Ignore` rule matched are not).
    pub failed: i32,
    /// Active pods that are Ready.
    pub ready: i32,
    /// Indexed only: indexes with a succeeded pod.
    pub completed_indexes: Option<BTreeSet<i32>>,
    /// Indexed with `backoffLimitPerIndex` only: indexes given up on.
    pub failed_indexes: Option<BTreeSet<i32>>,
    /// Indexed only: counted failures per index.
    pub failures_per_index: BTreeMap<i32, i32>,
    /// A `FailJob` rule matched a failed pod: its message.
    pub fail_job: Option<String>,
}

/// Whether the Job runs in Indexed completion mode with a completion count.
pub fn indexed_completions(spec: &JobSpec) -> Option<i32> {
    (spec.completion_mode.as_deref() == Some("Indexed")).then(|| spec.completions.unwrap_or(0))
}

impl Observed {
    /// Sorts the Job's pods.
    pub fn of(spec: &JobSpec, pods: &[Arc<Pod>]) -> Self {
        let mut seen = Observed::default();
        let indexed = indexed_completions(spec);
        let mut succeeded_idx = BTreeSet::new();
        let mut failed_idx = BTreeSet::new();
        let mut running_idx = BTreeSet::new();
        for pod in pods {
            let index = indexed.and_then(|c| indexes::of_pod(pod, c));
            match pod_phase(pod) {
                "Succeeded" => {
                    seen.succeeded += 1;
                    succeeded_idx.extend(index);
                }
                "Failed" => seen.count_failure(spec, pod, index, &mut failed_idx),
                _ if is_pod_active(pod) => {
                    let duplicate = index.is_some_and(|i| !running_idx.insert(i));
                    if indexed.is_some() && (index.is_none() || duplicate) {
                        seen.extra.push(pod.clone());
                    } else {
                        seen.ready += i32::from(is_pod_ready(pod));
                        seen.active.push(pod.clone());
                    }
                }
                _ => {}
            }
        }
        if indexed.is_some() {
            seen.succeeded = succeeded_idx.len() as i32;
            if let Some(limit) = spec.backoff_limit_per_index {
                for (i, n) in &seen.failures_per_index {
                    if *n > limit {
                        failed_idx.insert(*i);
                    }
                }
                failed_idx.retain(|i| !succeeded_idx.contains(i));
                seen.failed_indexes = Some(failed_idx);
            }
            seen.completed_indexes = Some(succeeded_idx);
        }
        seen
    }

    fn count_failure(
        &mut self,
        spec: &JobSpec,
        pod: &Arc<Pod>,
        index: Option<i32>,
        failed_idx: &mut BTreeSet<i32>,
    ) {
        match policy::on_failed_pod(spec.pod_failure_policy.as_ref(), pod) {
            FailureAction::Ignore => return,
            FailureAction::FailJob(message) => {
                self.fail_job.get_or_insert(message);
            }
            FailureAction::FailIndex => failed_idx.extend(index),
            FailureAction::Count => {}
        }
        self.failed += 1;
        if let Some(i) = index {
            *self.failures_per_index.entry(i).or_default() += 1;
        }
    }

    /// Indexes that are finished one way or the other.
    pub fn done_indexes(&self) -> BTreeSet<i32> {
        let mut done = self.completed_indexes.clone().unwrap_or_default();
        done.extend(self.failed_indexes.iter().flatten());
        done
    }

    /// Indexes of the active pods.
    pub fn running_indexes(&self, completions: i32) -> BTreeSet<i32> {
        self.active
            .iter()
            .filter_map(|p| indexes::of_pod(p, completions))
            .collect()
    }

    /// Whether (and how) the Job ends now, in upstream's order of checks.
    pub fn ending(&self, spec: &JobSpec, past_deadline: bool) -> Option<Ending> {
        if let Some(message) = &self.fail_job {
            return Some(Ending::fail("PodFailurePolicy", message.clone()));
        }
        if self.failed > spec.backoff_limit.unwrap_or(6) {
            return Some(Ending::fail(
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ));
        }
        if let (Some(max), Some(failed)) = (spec.max_failed_indexes, &self.failed_indexes) {
            if failed.len() as i32 > max {
                return Some(Ending::fail(
                    "MaxFailedIndexesExceeded",
                    "Job has exceeded the specified maximal number of failed indexes",
                ));
            }
        }
        if past_deadline {
            return Some(Ending::fail(
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            ));
        }
        self.success_or_failed_indexes(spec)
    }

    fn success_or_failed_indexes(&self, spec: &JobSpec) -> Option<Ending> {
        if let (Some(completions), Some(done)) =
            (indexed_completions(spec), &self.completed_indexes)
        {
            if let Some(rule) =
                policy::success_rule_met(spec.success_policy.as_ref(), done, completions)
            {
                return Some(Ending::succeed(
                    "SuccessPolicy",
                    format!("Matched rules at index {rule}"),
                ));
            }
            if self.done_indexes().len() as i32 >= completions && completions > 0 {
                if self.failed_indexes.as_ref().is_some_and(|f| !f.is_empty()) {
                    return Some(Ending::fail("FailedIndexes", "Job has failed indexes"));
                }
                return Some(completions_reached());
            }
            return None;
        }
        let complete = match spec.completions {
            Some(c) => self.succeeded >= c,
            None => self.succeeded > 0 && self.active.is_empty(),
        };
        complete.then(completions_reached)
    }

    /// How many new pods to start: up to parallelism, never past what remains to be done.
    pub fn pods_to_create(&self, spec: &JobSpec) -> i32 {
        let parallelism = spec.parallelism.unwrap_or(1).max(0);
        let active = self.active.len() as i32;
        let want_active = match (indexed_completions(spec), spec.completions) {
            (Some(c), _) => parallelism.min((c - self.done_indexes().len() as i32).max(0)),
            (None, Some(c)) => parallelism.min((c - self.succeeded).max(0)),
            // Without completions the job is done once any pod succeeded.
            (None, None) if self.succeeded > 0 => 0,
            (None, None) => parallelism,
        };
        (want_active - active).max(0)
    }
}

fn completions_reached() -> Ending {
    Ending::succeed(
        "CompletionsReached",
        "Reached expected number of succeeded pods",
    )
}

#[cfg(test)]
mod tests;
