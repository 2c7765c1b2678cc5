//! The two writes a pod worker makes to the API, behind a trait so tests can record them.

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Pod, PodStatus};
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};

use crate::error::Result;

/// Pod writes the kubelet performs.
#[async_trait]
pub trait PodApi: Send + Sync {
    /// Write the pod's status through the `status` subresource.
    async fn patch_status(&self, namespace: &str, name: &str, status: &PodStatus) -> Result<()>;
    /// Finish a graceful deletion: delete with grace 0, only if the uid still matches.
    async fn delete_now(&self, namespace: &str, name: &str, uid: &str) -> Result<()>;
}

#[async_trait]
impl PodApi for kube::Client {
    async fn patch_status(&self, namespace: &str, name: &str, status: &PodStatus) -> Result<()> {
        let api: kube::Api<Pod> = kube::Api::namespaced(self.clone(), namespace);
        let body = serde_json::json!({ "status": status });
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&body))
            .await
        {
            Ok(_) => Ok(()),
            // The pod is gone; the watch will tell the worker.
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete_now(&self, namespace: &str, name: &str, uid: &str) -> Result<()> {
        let api: kube::Api<Pod> = kube::Api::namespaced(self.clone(), namespace);
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(uid.to_string()),
                resource_version: None,
            }),
            ..Default::default()
        };
        match api.delete(name, &dp).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
