//! Events on claims, as upstream's external provisioners record them (`kubectl describe pvc`
//! shows why a claim is still Pending).

use k8s_openapi::api::core::v1::{Event, PersistentVolumeClaim};
use kube::api::{Api, PostParams};
use kube::ResourceExt;
use serde_json::json;

/// Records an event about `claim` (best effort: an event that cannot be written is logged).
pub async fn record(
    client: &kube::Client,
    node: &str,
    claim: &PersistentVolumeClaim,
    warning: bool,
    reason: &str,
    message: &str,
) {
    let ns = claim.namespace().unwrap_or_default();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let component = format!("{}_{node}", super::PROVISIONER);
    let body = json!({
        "metadata": {"namespace": ns, "name": format!("{}.{:x}", claim.name_any(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default())},
        "involvedObject": {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
            "namespace": ns, "name": claim.name_any(), "uid": claim.metadata.uid,
            "resourceVersion": claim.resource_version()},
        "type": if warning { "Warning" } else { "Normal" },
        "reason": reason, "message": message, "count": 1,
        "firstTimestamp": now, "lastTimestamp": now,
        "source": {"component": component, "host": node},
        "reportingComponent": component, "reportingInstance": node,
    });
    let api: Api<Event> = Api::namespaced(client.clone(), &ns);
    let result = match serde_json::from_value::<Event>(body) {
        Ok(ev) => api.create(&PostParams::default(), &ev).await.map(|_| ()),
        Err(e) => Err(kube::Error::SerdeError(e)),
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, reason, "cannot record event");
    }
}
