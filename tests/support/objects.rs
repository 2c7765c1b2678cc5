//! Object builders and small assertions shared by the kube-rs tests.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use kube::{Client, ResourceExt};

/// How long a test waits for something the server should do promptly.
pub const WAIT: Duration = Duration::from_secs(20);

/// Creates a namespace.
pub async fn namespace(client: &Client, name: &str) {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
}

/// The label every configmap of these tests carries, so lists and watches see only them and not
/// what system controllers may add (such as `kube-root-ca.crt` in every namespace).
pub const OURS: &str = "e2e";

/// A configmap carrying [`OURS`] plus the given labels and data.
pub fn configmap(name: &str, labels: &[(&str, &str)], data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                labels
                    .iter()
                    .chain([&(OURS, "true")])
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..Default::default()
    }
}

/// The object's resourceVersion as a number.
pub fn rv_of<K: kube::Resource>(obj: &K) -> u64 {
    obj.meta()
        .resource_version
        .as_deref()
        .and_then(|rv| rv.parse().ok())
        .expect("numeric resourceVersion")
}

/// The Status of an API error, or a panic if the call did not fail that way.
pub fn api_error(result: Result<impl std::fmt::Debug, kube::Error>) -> Box<kube::core::Status> {
    match result {
        Err(kube::Error::Api(status)) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// name → (resourceVersion, data) of what the server lists now.
pub async fn snapshot(
    api: &Api<ConfigMap>,
) -> BTreeMap<String, (String, Option<BTreeMap<String, String>>)> {
    api.list(&ListParams::default().labels(OURS))
        .await
        .expect("list")
        .items
        .into_iter()
        .map(|cm| {
            (
                cm.name_any(),
                (cm.resource_version().unwrap_or_default(), cm.data),
            )
        })
        .collect()
}
