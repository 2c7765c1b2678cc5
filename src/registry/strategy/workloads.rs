//! Strategies of the workload kinds: defaults as upstream's `SetDefaults_*`, generation tracking,
//! and status cleared on create.

use serde_json::{json, Value};

use super::core::default_pod_spec;
use super::{get_mut, set_default, Strategy};

/// Which workload kind a [`Workload`] strategy serves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WorkloadKind {
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 ReplicaSet.
    ReplicaSet,
    /// core/v1 ReplicationController.
    ReplicationController,
    /// apps/v1 DaemonSet.
    DaemonSet,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// batch/v1 Job.
    Job,
    /// batch/v1 CronJob.
    CronJob,
}

/// The strategy of a workload kind.
pub struct Workload(pub WorkloadKind);

/// Deployment strategy.
pub static DEPLOYMENT: Workload = Workload(WorkloadKind::Deployment);
/// ReplicaSet strategy.
pub static REPLICASET: Workload = Workload(WorkloadKind::ReplicaSet);
/// ReplicationController strategy.
pub static REPLICATION_CONTROLLER: Workload = Workload(WorkloadKind::ReplicationController);
/// DaemonSet strategy.
pub static DAEMONSET: Workload = Workload(WorkloadKind::DaemonSet);
/// StatefulSet strategy.
pub static STATEFULSET: Workload = Workload(WorkloadKind::StatefulSet);
/// Job strategy.
pub static JOB: Workload = Workload(WorkloadKind::Job);
/// CronJob strategy.
pub static CRONJOB: Workload = Workload(WorkloadKind::CronJob);

fn default_template(spec: &mut Value) {
    if let Some(pod_spec) = get_mut(spec, &["template", "spec"]) {
        default_pod_spec(pod_spec);
    }
}

impl Strategy for Workload {
    fn default(&self, obj: &mut Value) {
        use WorkloadKind::*;
        let Some(spec) = get_mut(obj, &["spec"]) else {
            return;
        };
        match self.0 {
            Deployment => {
                set_default(spec, &["replicas"], json!(1));
                set_default(spec, &["strategy", "type"], json!("RollingUpdate"));
                if spec.pointer("/strategy/type").and_then(Value::as_str) == Some("RollingUpdate") {
                    set_default(
                        spec,
                        &["strategy", "rollingUpdate", "maxUnavailable"],
                        json!("25%"),
                    );
                    set_default(
                        spec,
                        &["strategy", "rollingUpdate", "maxSurge"],
                        json!("25%"),
                    );
                }
                set_default(spec, &["revisionHistoryLimit"], json!(10));
                set_default(spec, &["progressDeadlineSeconds"], json!(600));
                default_template(spec);
            }
            ReplicaSet => {
                set_default(spec, &["replicas"], json!(1));
                default_template(spec);
            }
            ReplicationController => {
                set_default(spec, &["replicas"], json!(1));
                // Upstream: an RC without a selector selects its template's labels.
                if let Some(labels) = spec.pointer("/template/metadata/labels").cloned() {
                    set_default(spec, &["selector"], labels);
                }
                default_template(spec);
            }
            DaemonSet => {
                set_default(spec, &["updateStrategy", "type"], json!("RollingUpdate"));
                if spec.pointer("/updateStrategy/type").and_then(Value::as_str)
                    == Some("RollingUpdate")
                {
                    set_default(
                        spec,
                        &["updateStrategy", "rollingUpdate", "maxUnavailable"],
                        json!(1),
                    );
                    set_default(
                        spec,
                        &["updateStrategy", "rollingUpdate", "maxSurge"],
                        json!(0),
                    );
                }
                set_default(spec, &["revisionHistoryLimit"], json!(10));
                default_template(spec);
            }
            StatefulSet => {
                set_default(spec, &["replicas"], json!(1));
                set_default(spec, &["podManagementPolicy"], json!("OrderedReady"));
                set_default(spec, &["updateStrategy", "type"], json!("RollingUpdate"));
                if spec.pointer("/updateStrategy/type").and_then(Value::as_str)
                    == Some("RollingUpdate")
                {
                    set_default(
                        spec,
                        &["updateStrategy", "rollingUpdate", "partition"],
                        json!(0),
                    );
                }
                set_default(spec, &["revisionHistoryLimit"], json!(10));
                set_default(
                    spec,
                    &["persistentVolumeClaimRetentionPolicy"],
                    json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
                );
                default_template(spec);
            }
            Job => {
                default_job_spec(spec);
            }
            CronJob => {
                set_default(spec, &["concurrencyPolicy"], json!("Allow"));
                set_default(spec, &["suspend"], json!(false));
                set_default(spec, &["successfulJobsHistoryLimit"], json!(3));
                set_default(spec, &["failedJobsHistoryLimit"], json!(1));
                if let Some(job_spec) = get_mut(spec, &["jobTemplate", "spec"]) {
                    default_job_spec(job_spec);
                }
            }
        }
    }

    fn prepare_create(&self, obj: &mut Value) {
        if self.0 == WorkloadKind::Job {
            generate_job_selector(obj);
        }
        if let Some(map) = obj.as_object_mut() {
            let status = match self.0 {
                WorkloadKind::ReplicaSet
                | WorkloadKind::ReplicationController
                | WorkloadKind::StatefulSet => {
                    json!({"replicas": 0})
                }
                WorkloadKind::DaemonSet => json!({
                    "currentNumberScheduled": 0, "numberMisscheduled": 0,
                    "desiredNumberScheduled": 0, "numberReady": 0
                }),
                _ => json!({}),
            };
            map.insert("status".into(), status);
        }
    }

    fn tracks_generation(&self) -> bool {
        true
    }
}

fn default_job_spec(spec: &mut Value) {
    let completions_set = spec.get("completions").is_some_and(|v| !v.is_null());
    let parallelism_set = spec.get("parallelism").is_some_and(|v| !v.is_null());
    if !completions_set && !parallelism_set {
        set_default(spec, &["completions"], json!(1));
    }
    set_default(spec, &["parallelism"], json!(1));
    // Upstream: with backoffLimitPerIndex the global limit defaults to "no limit", and a pod
    // failure policy makes replacements wait for pods to be fully Failed.
    let per_index = spec
        .get("backoffLimitPerIndex")
        .is_some_and(|v| !v.is_null());
    set_default(
        spec,
        &["backoffLimit"],
        json!(if per_index { i32::MAX } else { 6 }),
    );
    set_default(spec, &["completionMode"], json!("NonIndexed"));
    set_default(spec, &["suspend"], json!(false));
    let failure_policy = spec.get("podFailurePolicy").is_some_and(|v| !v.is_null());
    let replacement = if failure_policy {
        "Failed"
    } else {
        "TerminatingOrFailed"
    };
    set_default(spec, &["podReplacementPolicy"], json!(replacement));
    if let Some(pod_spec) = get_mut(spec, &["template", "spec"]) {
        set_default(pod_spec, &["restartPolicy"], json!("Never"));
        default_pod_spec(pod_spec);
    }
}

/// Upstream's Job PrepareForCreate: unless `manualSelector`, the selector is the job's uid and the
/// template carries the matching labels.
fn generate_job_selector(obj: &mut Value) {
    if obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(spec) = get_mut(obj, &["spec"]) else {
        return;
    };
    if let Some(map) = spec.as_object_mut() {
        map.insert(
            "selector".into(),
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
        );
    }
    for (key, value) in [
        ("batch.kubernetes.io/controller-uid", &uid),
        ("batch.kubernetes.io/job-name", &name),
        ("controller-uid", &uid),
        ("job-name", &name),
    ] {
        set_default(spec, &["template", "metadata", "labels", key], json!(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_defaults() {
        let mut d = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x:1"}]}}}});
        DEPLOYMENT.default(&mut d);
        assert_eq!(d.pointer("/spec/replicas"), Some(&json!(1)));
        assert_eq!(
            d.pointer("/spec/strategy/rollingUpdate/maxSurge"),
            Some(&json!("25%"))
        );
        assert_eq!(
            d.pointer("/spec/template/spec/containers/0/imagePullPolicy"),
            Some(&json!("IfNotPresent"))
        );
    }

    #[test]
    fn job_gets_generated_selector() {
        let mut j = json!({"metadata": {"name": "hello", "uid": "u1"}, "spec": {"template": {"spec": {"containers": []}}}});
        JOB.default(&mut j);
        JOB.prepare_create(&mut j);
        assert_eq!(
            j.pointer("/spec/selector/matchLabels/batch.kubernetes.io~1controller-uid"),
            Some(&json!("u1"))
        );
        assert_eq!(
            j.pointer("/spec/template/metadata/labels/job-name"),
            Some(&json!("hello"))
        );
        assert_eq!(j.pointer("/spec/completions"), Some(&json!(1)));
        assert_eq!(
            j.pointer("/spec/template/spec/restartPolicy"),
            Some(&json!("Never"))
        );
    }
}
