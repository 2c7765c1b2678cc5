//! The target's `scale` subresource, found through discovery for any kind that serves one
//! (Deployments, StatefulSets, custom resources with `subresources.scale`), as upstream's
//! controller does through its REST mapper and scale client.

use k8s_openapi::api::autoscaling::v1::Scale;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::Client;
use serde_json::{json, Value};

/// A resolved scale target.
pub struct ScaleTarget {
    api: Api<DynamicObject>,
    name: String,
}

/// The text client-go gives an API error (its Status message).
fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

impl ScaleTarget {
    /// Resolves `scaleTargetRef` in `ns`: an error is upstream's "no matches for kind" text.
    pub async fn resolve(client: &Client, ns: &str, target: &Value) -> Result<Self, String> {
        let kind = target["kind"].as_str().unwrap_or("");
        let api_version = target["apiVersion"].as_str().unwrap_or("");
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let no_match = || format!("no matches for kind \"{kind}\" in group \"{group}\"");
        if version.is_empty() {
            return Err(no_match());
        }
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, _) = kube::discovery::pinned_kind(client, &gvk)
            .await
            .map_err(|_| no_match())?;
        Ok(ScaleTarget {
            api: Api::namespaced_with(client.clone(), ns, &resource),
            name: target["name"].as_str().unwrap_or("").to_string(),
        })
    }

    /// The current Scale (404 when the kind has no scale subresource or the object is gone).
    pub async fn get(&self) -> Result<Scale, String> {
        self.api
            .get_scale(&self.name)
            .await
            .map_err(|e| api_message(&e))
    }

    /// Sets `spec.replicas`.
    pub async fn set(&self, replicas: i32) -> Result<(), String> {
        let patch = json!({"spec": {"replicas": replicas}});
        self.api
            .patch_scale(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(|_| ())
            .map_err(|e| api_message(&e))
    }
}
