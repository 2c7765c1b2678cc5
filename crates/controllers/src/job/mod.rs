//! Job controller (upstream `job_controller.go`): runs up to `parallelism` pods until
//! `completions` succeed, fails the Job past `backoffLimit` or `activeDeadlineSeconds`,
//! sets the `SuccessCriteriaMet`/`Complete` or `FailureTarget`/`Failed` conditions, and
//! deletes finished Jobs after `ttlSecondsAfterFinished`. Indexed Jobs give each pod a
//! completion index and track `completedIndexes`; `backoffLimitPerIndex`/`maxFailedIndexes`,
//! `podFailurePolicy` and `successPolicy` end a Job as upstream's do. Pods follow the Job's
//! selector: matching orphans are adopted, owned pods that stop matching are released.

mod indexes;
mod pods;
mod policy;
mod state;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::ResourceExt;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::events::Recorder;
use crate::util::{delete_ignore_missing, drain, now, now_secs, on_error, patch_status, secs};
use crate::Context;
use state::{indexed_completions, Ending, Observed};

/// Runs the Job controller until `token` is cancelled.
pub async fn run(ctx: Context, token: CancellationToken) {
    let jobs: Api<Job> = Api::all(ctx.client.clone());
    let pods = ctx.informers.pods.changes();
    let controller = Controller::new(jobs, watcher::Config::default());
    let job_store = controller.store();
    let stream = controller
        .watches_stream(pods, move |pod: Pod| {
            crate::util::claim::owners_to_wake(&job_store, &pod, |job: &Job| {
                crate::util::selector(job.spec.as_ref()?.selector.as_ref()).ok()
            })
        })
        .graceful_shutdown_on(async move { token.cancelled().await })
        .run(reconcile, on_error, Arc::new(ctx));
    drain("job", stream).await;
}

/// Whether the Job has a `Complete` or `Failed` condition set to True.
pub fn finished(job: &Job) -> Option<&'static str> {
    let conds = job.status.as_ref()?.conditions.as_ref()?;
    for c in conds {
        if c.status == "True" && c.type_ == "Complete" {
            return Some("Complete");
        }
        if c.status == "True" && c.type_ == "Failed" {
            return Some("Failed");
        }
    }
    None
}

fn condition(ty: &str, reason: &str, message: &str) -> Value {
    json!({"type": ty, "status": "True", "reason": reason, "message": message,
        "lastProbeTime": now(), "lastTransitionTime": now()})
}

async fn reconcile(job: Arc<Job>, ctx: Arc<Context>) -> Result<Action> {
    if job.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    if finished(&job).is_some() {
        return expire_finished(&job, &ctx).await;
    }
    let ns = job.namespace().unwrap_or_default();
    let spec = job.spec.clone().unwrap_or_default();
    let status = job.status.clone().unwrap_or_default();
    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let rec = Recorder::new(ctx.client.clone(), "job-controller", None);
    let pods = claimed_pods(&job, &pods_api).await?;
    let seen = Observed::of(&spec, &pods);
    let start = status.start_time.clone().unwrap_or_else(now);
    let past_deadline = spec
        .active_deadline_seconds
        .is_some_and(|ads| secs(&start) + ads <= now_secs());
    delete_pods(&pods_api, &seen.extra).await;

    let suspended = spec.suspend == Some(true);
    let mut conds: Vec<Value> = status
        .conditions
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| serde_json::to_value(c).ok())
        .collect();
    let mut completion_time = Value::Null;
    let mut active = seen.active.len() as i32;
    if let Some(end) = seen.ending(&spec, past_deadline) {
        delete_pods(&pods_api, &seen.active).await;
        active = 0;
        if !end.failed {
            completion_time = json!(now());
        }
        record_ending(&job, &end, &rec, &mut conds).await;
    } else if suspended {
        delete_pods(&pods_api, &seen.active).await;
        active = 0;
    } else {
        active += create_pods(&job, &spec, &seen, &pods_api, &rec).await;
    }
    let st = json!({
        "startTime": if suspended && status.start_time.is_none() { Value::Null } else { json!(start) },
        "active": active, "succeeded": seen.succeeded, "failed": seen.failed, "ready": seen.ready,
        "terminating": 0,
        "conditions": if conds.is_empty() { Value::Null } else { Value::Array(conds) },
        "completionTime": completion_time,
        "completedIndexes": seen.completed_indexes.as_ref().map(indexes::format),
        "failedIndexes": seen.failed_indexes.as_ref().map(indexes::format),
        "uncountedTerminatedPods": {},
    });
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    match patch_status(&jobs, &job.name_any(), st).await {
        Ok(()) => {}
        Err(e) if e.is_not_found() => return Ok(Action::await_change()),
        Err(e) => return Err(e),
    }
    if let Some(ads) = spec.active_deadline_seconds {
        let left = (secs(&start) + ads - now_secs()).max(1);
        return Ok(Action::requeue(Duration::from_secs(left as u64)));
    }
    Ok(Action::await_change())
}

/// Deletes a finished Job once `ttlSecondsAfterFinished` has passed.
async fn expire_finished(job: &Job, ctx: &Context) -> Result<Action> {
    let spec = job.spec.clone().unwrap_or_default();
    let status = job.status.clone().unwrap_or_default();
    let done = status.completion_time.as_ref().or(status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref()));
    let (Some(ttl), Some(done)) = (spec.ttl_seconds_after_finished, done) else {
        return Ok(Action::await_change());
    };
    let left = secs(done) + i64::from(ttl) - now_secs();
    if left > 0 {
        return Ok(Action::requeue(Duration::from_secs(left as u64)));
    }
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &job.namespace().unwrap_or_default());
    delete_ignore_missing(&jobs, &job.name_any(), &DeleteParams::foreground()).await?;
    Ok(Action::await_change())
}

/// The pods of the Job's namespace it owns after adopting and releasing by its selector.
async fn claimed_pods(job: &Job, pods_api: &Api<Pod>) -> Result<Vec<Arc<Pod>>> {
    let selector = crate::util::selector(job.spec.as_ref().and_then(|s| s.selector.as_ref()))?;
    let listed = pods_api.list(&ListParams::default()).await?.items;
    crate::util::claim::claim_pods(job, &selector, listed.into_iter().map(Arc::new), pods_api).await
}

/// Deletes pods, ignoring those already gone.
async fn delete_pods(pods_api: &Api<Pod>, pods: &[Arc<Pod>]) {
    for p in pods {
        let _ = pods_api
            .delete(&p.name_any(), &DeleteParams::default())
            .await;
    }
}

/// Adds the terminal conditions (FailureTarget + Failed, or SuccessCriteriaMet + Complete)
/// and the matching event.
async fn record_ending(job: &Job, end: &Ending, rec: &Recorder, conds: &mut Vec<Value>) {
    if end.failed {
        conds.push(condition("FailureTarget", end.reason, &end.message));
        conds.push(condition("Failed", end.reason, &end.message));
        rec.warning(job, end.reason, &end.message).await;
    } else {
        conds.push(condition("SuccessCriteriaMet", end.reason, &end.message));
        conds.push(condition("Complete", end.reason, &end.message));
        rec.normal(job, "Completed", "Job completed").await;
    }
}

/// Starts the pods the Job is missing (the lowest open indexes first when Indexed); returns
/// how many were created. The first failure stops the burst, as upstream's slow start does.
async fn create_pods(
    job: &Job,
    spec: &JobSpec,
    seen: &Observed,
    pods_api: &Api<Pod>,
    rec: &Recorder,
) -> i32 {
    let n = seen.pods_to_create(spec).max(0) as usize;
    let plan: Vec<Option<(i32, Option<i32>)>> = match indexed_completions(spec) {
        Some(c) => indexes::to_start(c, &seen.done_indexes(), &seen.running_indexes(c), n)
            .into_iter()
            .map(|i| {
                let failures = spec
                    .backoff_limit_per_index
                    .map(|_| seen.failures_per_index.get(&i).copied().unwrap_or(0));
                Some((i, failures))
            })
            .collect(),
        None => vec![None; n],
    };
    let base = pods::base_template(job);
    let mut created = 0;
    for index in plan {
        let pod = pods::new_pod(job, &base, index);
        match pods_api.create(&crate::util::post_params(), &pod).await {
            Ok(p) => {
                created += 1;
                let msg = format!("Created pod: {}", p.name_any());
                rec.normal(job, "SuccessfulCreate", &msg).await;
            }
            Err(e) => {
                rec.warning(job, "FailedCreate", &format!("Error creating: {e}"))
                    .await;
                break;
            }
        }
    }
    created
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_reads_conditions() {
        let job: Job = serde_json::from_value(json!({"metadata": {"name": "j"},
            "status": {"conditions": [{"type": "Complete", "status": "True"}]}}))
        .unwrap();
        assert_eq!(finished(&job), Some("Complete"));
        assert_eq!(finished(&Job::default()), None);
    }
}
