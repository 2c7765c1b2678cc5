//! Making a Job's pods from its template: the job labels, and for Indexed Jobs the completion
//! index as annotation, label, `JOB_COMPLETION_INDEX` and a per-index hostname, as upstream.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    Container, EnvVar, EnvVarSource, ObjectFieldSelector, Pod, PodTemplateSpec,
};
use kube::ResourceExt;

use super::indexes::{COMPLETION_INDEX, INDEX_FAILURE_COUNT};
use crate::util::{owner_ref, pod_from_template, pod_prefix};

/// The environment variable carrying the completion index.
const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

/// The Job's template with the labels every pod of it carries.
pub fn base_template(job: &Job) -> PodTemplateSpec {
    let name = job.name_any();
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let mut template = job
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
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
    template
}

/// A new pod of the Job; `index` (with its failure count so far) for Indexed Jobs.
pub fn new_pod(job: &Job, base: &PodTemplateSpec, index: Option<(i32, Option<i32>)>) -> Pod {
    let ns = job.namespace().unwrap_or_default();
    let name = job.name_any();
    let Some((index, failures)) = index else {
        return pod_from_template(base, &ns, &pod_prefix(&name), owner_ref(job));
    };
    let mut template = base.clone();
    let meta = template.metadata.get_or_insert_with(Default::default);
    let annotations = meta.annotations.get_or_insert_with(Default::default);
    annotations.insert(COMPLETION_INDEX.into(), index.to_string());
    if let Some(n) = failures {
        annotations.insert(INDEX_FAILURE_COUNT.into(), n.to_string());
    }
    meta.labels
        .get_or_insert_with(Default::default)
        .insert(COMPLETION_INDEX.into(), index.to_string());
    if let Some(spec) = template.spec.as_mut() {
        spec.hostname = Some(format!("{name}-{index}"));
        spec.containers.iter_mut().for_each(add_index_env);
        spec.init_containers
            .iter_mut()
            .flatten()
            .for_each(add_index_env);
    }
    pod_from_template(
        &template,
        &ns,
        &pod_prefix(&format!("{name}-{index}")),
        owner_ref(job),
    )
}

/// Adds `JOB_COMPLETION_INDEX` from the pod's annotation unless the container sets it.
fn add_index_env(container: &mut Container) {
    let env = container.env.get_or_insert_with(Vec::new);
    if env.iter().any(|e| e.name == INDEX_ENV) {
        return;
    }
    env.push(EnvVar {
        name: INDEX_ENV.into(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: Some("v1".into()),
                field_path: format!("metadata.annotations['{COMPLETION_INDEX}']"),
            }),
            ..Default::default()
        }),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn indexed_pods_carry_their_index() {
        let job: Job = serde_json::from_value(json!({
            "metadata": {"name": "work", "namespace": "ns", "uid": "u1"},
            "spec": {"completionMode": "Indexed", "completions": 3, "template": {"spec": {
                "containers": [{"name": "c", "image": "busybox"}]}}}
        }))
        .unwrap();
        let pod = new_pod(&job, &base_template(&job), Some((2, Some(1))));
        let meta = &pod.metadata;
        assert_eq!(meta.generate_name.as_deref(), Some("work-2-"));
        assert_eq!(meta.annotations.as_ref().unwrap()[COMPLETION_INDEX], "2");
        assert_eq!(meta.annotations.as_ref().unwrap()[INDEX_FAILURE_COUNT], "1");
        assert_eq!(meta.labels.as_ref().unwrap()[COMPLETION_INDEX], "2");
        assert_eq!(
            meta.labels.as_ref().unwrap()["batch.kubernetes.io/controller-uid"],
            "u1"
        );
        let spec = pod.spec.unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("work-2"));
        let env = spec.containers[0].env.as_ref().unwrap();
        assert_eq!(env[0].name, INDEX_ENV);
        let plain = new_pod(&job, &base_template(&job), None);
        assert_eq!(plain.metadata.generate_name.as_deref(), Some("work-"));
    }
}
