//! CronJob controller (upstream `cronjob_controllerv2.go`): creates a Job named
//! `<cronjob>-<scheduled unix minutes>` at each scheduled time (only the most recent missed
//! one, within `startingDeadlineSeconds`), honours `suspend` and `concurrencyPolicy`
//! (Allow / Forbid / Replace), tracks `status.active`, `lastScheduleTime` and
//! `lastSuccessfulTime`, and trims finished Jobs to the history limits. Schedule times are
//! computed in `spec.timeZone` (an IANA zone) or, without it, in UTC.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone};
use chrono_tz::Tz;
use croner::Cron;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::ResourceExt;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::error::{kube_conflict, Result};
use crate::events::Recorder;
use crate::job::finished;
use crate::util::{
    delete_ignore_missing, drain, is_controlled_by, now_secs, on_error, owner_ref, patch_status,
    secs,
};
use crate::Context;

/// Annotation carrying the scheduled time on each Job (upstream's name).
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// Runs the CronJob controller until `token` is cancelled.
pub async fn run(ctx: Context, token: CancellationToken) {
    let cronjobs: Api<CronJob> = Api::all(ctx.client.clone());
    let jobs: Api<Job> = Api::all(ctx.client.clone());
    let stream = Controller::new(cronjobs, watcher::Config::default())
        .owns(jobs, watcher::Config::default())
        .graceful_shutdown_on(async move { token.cancelled().await })
        .run(reconcile, on_error, Arc::new(ctx));
    drain("cronjob", stream).await;
}

/// The Job name for a scheduled time: `<name>-<unix minutes>` (upstream `getJobName`).
pub fn job_name(cronjob: &str, scheduled: i64) -> String {
    format!("{cronjob}-{}", scheduled.div_euclid(60))
}

/// Parses a schedule; `@every`-free standard specs and descriptors as robfig accepts them.
pub fn parse_schedule(spec: &str) -> Option<Cron> {
    let spec = spec
        .strip_prefix("CRON_TZ=")
        .or_else(|| spec.strip_prefix("TZ="))
        .and_then(|s| s.split_once(' ').map(|(_, rest)| rest.trim()))
        .unwrap_or(spec);
    Cron::from_str(spec).ok()
}

/// The zone the schedule is read in: `spec.timeZone`, else a legacy `TZ=`/`CRON_TZ=` prefix
/// of the schedule (objects stored before admission forbade it), else UTC. `Err` names the
/// zone that the tz database does not know (upstream's `UnknownTimeZone` event).
pub fn schedule_zone(time_zone: Option<&str>, schedule: &str) -> Result<Tz, String> {
    let legacy = schedule
        .strip_prefix("CRON_TZ=")
        .or_else(|| schedule.strip_prefix("TZ="))
        .and_then(|s| s.split_once(' ').map(|(zone, _)| zone));
    match time_zone.or(legacy) {
        None => Ok(chrono_tz::UTC),
        Some(zone) => zone.parse().map_err(|_| zone.to_string()),
    }
}

/// The most recent schedule time in `(earliest, now]` and the next one after `now`
/// (upstream `mostRecentScheduleTime` + `nextScheduleTime`), in Unix seconds, with the
/// schedule's fields read as wall-clock time in `zone`.
pub fn schedule_times(
    cron: &Cron,
    zone: Tz,
    earliest: i64,
    now: i64,
) -> (Option<i64>, Option<i64>) {
    let at = |s: i64| zone.timestamp_opt(s, 0).single();
    let next_after = |t: DateTime<Tz>| cron.find_next_occurrence(&t, false).ok();
    let (Some(from), Some(to)) = (at(earliest), at(now)) else {
        return (None, None);
    };
    let next = next_after(to).map(|t| t.timestamp());
    let recent = cron
        .find_previous_occurrence(&to, true)
        .ok()
        .filter(|t| *t > from)
        .map(|t| t.timestamp());
    (recent, next)
}

/// Finished Jobs to delete so at most `limit` of them remain, oldest first.
pub fn over_limit(mut finished: Vec<&Job>, limit: i32) -> Vec<&Job> {
    let keep = usize::try_from(limit.max(0)).unwrap_or(0);
    if finished.len() <= keep {
        return Vec::new();
    }
    finished.sort_by_key(|j| {
        j.status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .or(j.metadata.creation_timestamp.as_ref())
            .map(secs)
            .unwrap_or(0)
    });
    let n = finished.len() - keep;
    finished.into_iter().take(n).collect()
}

fn reference(job: &Job) -> Value {
    json!({"kind": "Job", "apiVersion": "batch/v1", "namespace": job.namespace(),
        "name": job.name_any(), "uid": job.metadata.uid, "resourceVersion": job.metadata.resource_version})
}

async fn reconcile(cj: Arc<CronJob>, ctx: Arc<Context>) -> Result<Action> {
    if cj.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = cj.namespace().unwrap_or_default();
    let name = cj.name_any();
    let uid = cj.metadata.uid.clone().unwrap_or_default();
    let client = &ctx.client;
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), &ns);
    let jobs_api: Api<Job> = Api::namespaced(client.clone(), &ns);
    let rec = Recorder::new(client.clone(), "cronjob-controller", None);
    let spec = cj.spec.clone();
    let status = cj.status.clone().unwrap_or_default();

    let jobs: Vec<Job> = jobs_api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|j| is_controlled_by(&j.metadata, &uid))
        .collect();
    let mut active: Vec<&Job> = Vec::new();
    let mut last_success = status.last_successful_time.as_ref().map(secs);
    let (mut succeeded, mut failed) = (Vec::new(), Vec::new());
    for j in &jobs {
        match finished(j) {
            None if j.metadata.deletion_timestamp.is_none() => active.push(j),
            None => {}
            Some(outcome) => {
                let was_active = status
                    .active
                    .iter()
                    .flatten()
                    .any(|r| r.uid == j.metadata.uid);
                if was_active {
                    rec.normal(
                        cj.as_ref(),
                        "SawCompletedJob",
                        &format!("Saw completed job: {}, condition: {outcome}", j.name_any()),
                    )
                    .await;
                }
                if outcome == "Complete" {
                    succeeded.push(j);
                    let done = j
                        .status
                        .as_ref()
                        .and_then(|s| s.completion_time.as_ref())
                        .map(secs);
                    last_success = last_success.max(done);
                } else {
                    failed.push(j);
                }
            }
        }
    }

    // History limits (upstream defaults: 3 successful, 1 failed).
    let doomed = over_limit(succeeded, spec.successful_jobs_history_limit.unwrap_or(3))
        .into_iter()
        .chain(over_limit(
            failed,
            spec.failed_jobs_history_limit.unwrap_or(1),
        ));
    for j in doomed {
        delete_ignore_missing(&jobs_api, &j.name_any(), &DeleteParams::background()).await?;
        rec.normal(
            cj.as_ref(),
            "SuccessfulDelete",
            &format!("Deleted job {}", j.name_any()),
        )
        .await;
    }

    let zone = match schedule_zone(spec.time_zone.as_deref(), &spec.schedule) {
        Ok(zone) => zone,
        Err(bad) => {
            rec.warning(
                cj.as_ref(),
                "UnknownTimeZone",
                &format!("invalid timeZone: {bad:?}: unknown time zone {bad}"),
            )
            .await;
            return Ok(Action::await_change());
        }
    };
    let Some(cron) = parse_schedule(&spec.schedule) else {
        rec.warning(
            cj.as_ref(),
            "UnparseableSchedule",
            &format!("unparseable schedule: {:?}", spec.schedule),
        )
        .await;
        return Ok(Action::await_change());
    };
    let now = now_secs();
    let earliest = status
        .last_schedule_time
        .as_ref()
        .or(cj.metadata.creation_timestamp.as_ref())
        .map(secs)
        .unwrap_or(now);
    let (recent, next) = schedule_times(&cron, zone, earliest, now);
    let mut last_schedule = status.last_schedule_time.as_ref().map(secs);
    let mut active_refs: Vec<Value> = active.iter().map(|j| reference(j)).collect();

    let too_late = |t: i64| spec.starting_deadline_seconds.is_some_and(|d| t + d < now);
    if let Some(t) = recent.filter(|t| spec.suspend != Some(true) && !too_late(*t)) {
        let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
        let skip = policy == "Forbid" && !active.is_empty();
        if policy == "Replace" {
            for j in &active {
                delete_ignore_missing(&jobs_api, &j.name_any(), &DeleteParams::background())
                    .await?;
                rec.normal(
                    cj.as_ref(),
                    "SuccessfulDelete",
                    &format!("Deleted job {}", j.name_any()),
                )
                .await;
            }
            active_refs.clear();
        }
        if skip {
            rec.normal(
                cj.as_ref(),
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid",
            )
            .await;
        } else {
            let job = job_for(&cj, zone, t);
            match jobs_api.create(&crate::util::post_params(), &job).await {
                Ok(created) => {
                    rec.normal(
                        cj.as_ref(),
                        "SuccessfulCreate",
                        &format!("Created job {}", created.name_any()),
                    )
                    .await;
                    active_refs.push(reference(&created));
                }
                // Already created in an earlier pass whose status write was lost.
                Err(e) if kube_conflict(&e) => {}
                Err(e) => {
                    rec.warning(
                        cj.as_ref(),
                        "FailedCreate",
                        &format!("Error creating job: {e}"),
                    )
                    .await;
                    return Err(e.into());
                }
            }
        }
        last_schedule = Some(t);
    }

    let st = json!({
        "active": if active_refs.is_empty() { Value::Null } else { Value::Array(active_refs) },
        "lastScheduleTime": last_schedule.map(crate::util::time_from_secs),
        "lastSuccessfulTime": last_success.map(crate::util::time_from_secs),
    });
    match patch_status(&cronjobs, &name, st).await {
        Ok(()) => {}
        Err(e) if e.is_not_found() => return Ok(Action::await_change()),
        Err(e) => return Err(e),
    }
    let wait = next.map(|n| (n - now_secs()).max(1)).unwrap_or(60);
    Ok(Action::requeue(Duration::from_secs(
        u64::try_from(wait).unwrap_or(60),
    )))
}

/// The Job for the schedule time `t` (upstream `getJobFromTemplate2`); the scheduled-time
/// annotation is written in the CronJob's zone, as upstream.
fn job_for(cj: &CronJob, zone: Tz, t: i64) -> Job {
    let spec = cj.spec.clone();
    let tpl = spec.job_template;
    let tmeta = tpl.metadata.unwrap_or_default();
    let mut annotations = tmeta.annotations.unwrap_or_default();
    let scheduled = zone
        .timestamp_opt(t, 0)
        .single()
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    annotations.insert(SCHEDULED_TIMESTAMP.into(), scheduled);
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(&cj.name_any(), t)),
            namespace: cj.namespace(),
            labels: tmeta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![owner_ref(cj)]),
            ..Default::default()
        },
        spec: tpl.spec,
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp()
    }

    #[test]
    fn job_names_use_unix_minutes() {
        assert_eq!(
            job_name("tick", at("2024-01-01T00:01:00Z")),
            "tick-28401121"
        );
    }

    #[test]
    fn finds_most_recent_and_next_times() {
        let every_minute = parse_schedule("*/1 * * * *").unwrap();
        let (recent, next) = schedule_times(
            &every_minute,
            chrono_tz::UTC,
            at("2024-01-01T00:00:00Z"),
            at("2024-01-01T00:05:30Z"),
        );
        assert_eq!(recent, Some(at("2024-01-01T00:05:00Z")));
        assert_eq!(next, Some(at("2024-01-01T00:06:00Z")));
        // Nothing new since the last schedule time.
        let (recent, _) = schedule_times(
            &every_minute,
            chrono_tz::UTC,
            at("2024-01-01T00:05:00Z"),
            at("2024-01-01T00:05:30Z"),
        );
        assert_eq!(recent, None);
        let hourly = parse_schedule("@hourly").unwrap();
        let (recent, next) = schedule_times(
            &hourly,
            chrono_tz::UTC,
            at("2024-01-01T00:00:00Z"),
            at("2024-01-01T02:30:00Z"),
        );
        assert_eq!(recent, Some(at("2024-01-01T02:00:00Z")));
        assert_eq!(next, Some(at("2024-01-01T03:00:00Z")));
        assert!(parse_schedule("CRON_TZ=UTC 0 * * * *").is_some());
        assert!(parse_schedule("not a cron").is_none());
    }

    #[test]
    fn schedules_run_in_their_time_zone() {
        let nine = parse_schedule("0 9 * * *").unwrap();
        let tokyo = schedule_zone(Some("Asia/Tokyo"), "0 9 * * *").unwrap();
        let now = at("2024-01-01T12:00:00Z");
        // 09:00 in Tokyo (UTC+9) is 00:00 UTC; in UTC it is 09:00 UTC.
        assert_eq!(
            schedule_times(&nine, tokyo, at("2023-12-31T12:00:00Z"), now),
            (
                Some(at("2024-01-01T00:00:00Z")),
                Some(at("2024-01-02T00:00:00Z"))
            )
        );
        let utc = schedule_zone(None, "0 9 * * *").unwrap();
        assert_eq!(
            schedule_times(&nine, utc, at("2023-12-31T12:00:00Z"), now),
            (
                Some(at("2024-01-01T09:00:00Z")),
                Some(at("2024-01-02T09:00:00Z"))
            )
        );
        // Daylight saving: 09:00 in New York is 14:00 UTC in winter, 13:00 UTC in summer.
        let ny = schedule_zone(Some("America/New_York"), "0 9 * * *").unwrap();
        let (_, next) = schedule_times(&nine, ny, now, now);
        assert_eq!(next, Some(at("2024-01-01T14:00:00Z")));
        let july = at("2024-07-01T12:00:00Z");
        let (_, next) = schedule_times(&nine, ny, july, july);
        assert_eq!(next, Some(at("2024-07-01T13:00:00Z")));
        // A legacy prefix names the zone; an unknown zone is reported.
        assert_eq!(
            schedule_zone(None, "CRON_TZ=Asia/Tokyo 0 9 * * *"),
            Ok(tokyo)
        );
        assert_eq!(
            schedule_zone(Some("Mars/Olympus"), "0 9 * * *"),
            Err("Mars/Olympus".to_string())
        );
    }

    #[test]
    fn history_trims_oldest() {
        let job = |n: &str, start: &str| -> Job {
            serde_json::from_value(json!({"metadata": {"name": n},
                "status": {"startTime": start}}))
            .unwrap()
        };
        let jobs = [
            job("c", "2024-01-01T00:03:00Z"),
            job("a", "2024-01-01T00:01:00Z"),
            job("b", "2024-01-01T00:02:00Z"),
        ];
        let doomed: Vec<String> = over_limit(jobs.iter().collect(), 1)
            .iter()
            .map(|j| j.name_any())
            .collect();
        assert_eq!(doomed, vec!["a", "b"]);
        assert!(over_limit(jobs.iter().collect(), 3).is_empty());
        assert_eq!(over_limit(jobs.iter().collect(), 0).len(), 3);
    }
}
