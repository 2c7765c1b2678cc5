//! Job controller (upstream `job_controller.go`): runs up to `parallelism` pods until
//! `completions` succeed, fails the Job past `backoffLimit` or `activeDeadlineSeconds`,
//! sets the `SuccessCriteriaMet`/`Complete` or `FailureTarget`/`Failed` conditions, and
//! deletes finished Jobs after `ttlSecondsAfterFinished`.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::ResourceExt;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::events::Recorder;
use crate::util::{
    delete_ignore_missing, drain, is_controlled_by, is_pod_active, is_pod_ready, now, now_secs,
    on_error, owner_ref, patch_status, pod_from_template, pod_phase, pod_prefix, secs,
};
use crate::Context;

/// Runs the Job controller until `token` is cancelled.
pub async fn run(ctx: Context, token: CancellationToken) {
    let jobs: Api<Job> = Api::all(ctx.client.clone());
    let pods = ctx.informers.pods.changes();
    let stream = Controller::new(jobs, watcher::Config::default())
        .owns_stream(pods)
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

/// How many new pods to start: fill up to parallelism without exceeding what remains.
pub fn pods_to_create(
    parallelism: i32,
    completions: Option<i32>,
    active: i32,
    succeeded: i32,
) -> i32 {
    let want_active = match completions {
        Some(c) => parallelism.min((c - succeeded).max(0)),
        // Without completions the job is done once any pod succeeded.
        None if succeeded > 0 => 0,
        None => parallelism,
    };
    (want_active - active).max(0)
}

fn condition(ty: &str, reason: &str, message: &str) -> Value {
    json!({"type": ty, "status": "True", "reason": reason, "message": message,
        "lastProbeTime": now(), "lastTransitionTime": now()})
}

async fn reconcile(job: Arc<Job>, ctx: Arc<Context>) -> Result<Action> {
    let ns = job.namespace().unwrap_or_default();
    let name = job.name_any();
    let client = &ctx.client;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    if job.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let spec = job.spec.clone().unwrap_or_default();
    let status = job.status.clone().unwrap_or_default();
    if finished(&job).is_some() {
        if let (Some(ttl), Some(done)) = (
            spec.ttl_seconds_after_finished,
            status.completion_time.as_ref().or(status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.status == "True")
                .and_then(|c| c.last_transition_time.as_ref())),
        ) {
            let left = secs(done) + i64::from(ttl) - now_secs();
            if left <= 0 {
                delete_ignore_missing(&jobs, &name, &DeleteParams::foreground()).await?;
                return Ok(Action::await_change());
            }
            return Ok(Action::requeue(Duration::from_secs(left as u64)));
        }
        return Ok(Action::await_change());
    }
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pods: Vec<Pod> = pods_api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|p| is_controlled_by(&p.metadata, &uid))
        .collect();
    let active: Vec<&Pod> = pods.iter().filter(|p| is_pod_active(p)).collect();
    let succeeded = pods.iter().filter(|p| pod_phase(p) == "Succeeded").count() as i32;
    let failed = pods.iter().filter(|p| pod_phase(p) == "Failed").count() as i32;
    let ready = active.iter().filter(|p| is_pod_ready(p)).count() as i32;
    let start = status.start_time.clone().unwrap_or_else(now);
    let rec = Recorder::new(client.clone(), "job-controller", None);
    let parallelism = spec.parallelism.unwrap_or(1).max(0);
    let completions = spec.completions;
    let backoff_limit = spec.backoff_limit.unwrap_or(6);
    let suspended = spec.suspend == Some(true);

    let mut conds: Vec<Value> = status
        .conditions
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| serde_json::to_value(c).ok())
        .collect();
    let mut completion_time = Value::Null;
    let mut failure: Option<(&str, &str)> = None;
    if failed > backoff_limit {
        failure = Some((
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ));
    } else if let Some(ads) = spec.active_deadline_seconds {
        if secs(&start) + ads <= now_secs() {
            failure = Some((
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            ));
        }
    }
    let complete = match completions {
        Some(c) => succeeded >= c,
        None => succeeded > 0 && active.is_empty(),
    };
    let mut new_active = active.len() as i32;
    if let Some((reason, msg)) = failure {
        for p in &active {
            let _ = pods_api
                .delete(&p.name_any(), &DeleteParams::default())
                .await;
        }
        new_active = 0;
        conds.push(condition("FailureTarget", reason, msg));
        conds.push(condition("Failed", reason, msg));
        rec.warning(job.as_ref(), reason, msg).await;
    } else if complete {
        for p in &active {
            let _ = pods_api
                .delete(&p.name_any(), &DeleteParams::default())
                .await;
        }
        new_active = 0;
        conds.push(condition(
            "SuccessCriteriaMet",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
        ));
        conds.push(condition(
            "Complete",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
        ));
        completion_time = json!(now());
        rec.normal(job.as_ref(), "Completed", "Job completed").await;
    } else if suspended {
        for p in &active {
            let _ = pods_api
                .delete(&p.name_any(), &DeleteParams::default())
                .await;
        }
        new_active = 0;
    } else {
        let n = pods_to_create(parallelism, completions, active.len() as i32, succeeded);
        let mut template = spec.template.clone();
        let labels = template
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(Default::default);
        for (k, v) in [
            ("batch.kubernetes.io/controller-uid", uid.as_str()),
            ("controller-uid", uid.as_str()),
            ("batch.kubernetes.io/job-name", name.as_str()),
            ("job-name", name.as_str()),
        ] {
            labels.entry(k.to_owned()).or_insert_with(|| v.to_owned());
        }
        for _ in 0..n {
            let pod =
                pod_from_template(&template, &ns, &pod_prefix(&name), owner_ref(job.as_ref()));
            match pods_api.create(&crate::util::post_params(), &pod).await {
                Ok(p) => {
                    new_active += 1;
                    rec.normal(
                        job.as_ref(),
                        "SuccessfulCreate",
                        &format!("Created pod: {}", p.name_any()),
                    )
                    .await;
                }
                Err(e) => {
                    rec.warning(
                        job.as_ref(),
                        "FailedCreate",
                        &format!("Error creating: {e}"),
                    )
                    .await;
                    break;
                }
            }
        }
    }
    let st = json!({
        "startTime": if suspended && status.start_time.is_none() { Value::Null } else { json!(start) },
        "active": new_active, "succeeded": succeeded, "failed": failed, "ready": ready,
        "terminating": 0,
        "conditions": if conds.is_empty() { Value::Null } else { Value::Array(conds) },
        "completionTime": completion_time,
        "uncountedTerminatedPods": {},
    });
    match patch_status(&jobs, &name, st).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_respects_parallelism_and_completions() {
        assert_eq!(pods_to_create(1, Some(1), 0, 0), 1);
        assert_eq!(pods_to_create(3, Some(5), 1, 3), 1);
        assert_eq!(pods_to_create(3, Some(5), 0, 5), 0);
        assert_eq!(pods_to_create(2, None, 0, 0), 2);
        assert_eq!(pods_to_create(2, None, 1, 1), 0);
    }

    #[test]
    fn finished_reads_conditions() {
        let job: Job = serde_json::from_value(json!({"metadata": {"name": "j"},
            "status": {"conditions": [{"type": "Complete", "status": "True"}]}}))
        .unwrap();
        assert_eq!(finished(&job), Some("Complete"));
        assert_eq!(finished(&Job::default()), None);
    }
}
