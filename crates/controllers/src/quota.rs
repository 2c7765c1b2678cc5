//! Resource quota controller (upstream `pkg/controller/resourcequota`): keeps every
//! ResourceQuota's `status.hard` equal to `spec.hard` and recomputes `status.used` from the
//! objects that exist, which releases what deleted or finished objects were charged. Admission
//! charges creates atomically in the API server; this controller writes its recount with the
//! quota's resourceVersion as a precondition, so a charge made meanwhile is never overwritten
//! (the next pass recounts).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ResourceQuota;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch};
use kube::core::GroupVersionKind;
use kube::{Client, ResourceExt};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::quota_scopes::quota_selects;
use crate::quota_usage::{format_milli, object_usage, Usage};
use crate::util::patch_params;
use crate::Context;

/// Longest wait between passes.
pub const RESYNC: Duration = Duration::from_secs(3);

/// Runs the quota controller until `token` is cancelled.
pub async fn run(ctx: Context, token: CancellationToken) {
    let mut changes = ctx.informers.pods.subscribe();
    while !token.is_cancelled() {
        if let Err(e) = pass(&ctx.client).await {
            tracing::warn!(error = %e, "quota pass failed");
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = changes.recv() => tokio::time::sleep(Duration::from_millis(200)).await,
            _ = tokio::time::sleep(RESYNC) => {}
        }
        changes = changes.resubscribe();
    }
}

async fn pass(client: &Client) -> Result<()> {
    let quotas: Api<ResourceQuota> = Api::all(client.clone());
    for q in quotas.list(&ListParams::default()).await?.items {
        if let Err(e) = sync(client, &q).await {
            // A conflict is a charge or write in between: the next pass recounts.
            if !e.is_conflict() {
                tracing::warn!(quota = %q.name_any(), error = %e, "quota sync failed");
            }
        }
    }
    Ok(())
}

async fn sync(client: &Client, q: &ResourceQuota) -> Result<()> {
    let ns = q.namespace().unwrap_or_default();
    let hard = serde_json::to_value(q.spec.as_ref().and_then(|s| s.hard.clone()))?;
    let limited: Vec<String> = hard
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let mut used = Usage::new();
    let quota = serde_json::to_value(q)?;
    for (group, plural) in resources_to_count(&limited) {
        for obj in list(client, &ns, &group, &plural).await? {
            if !quota_selects(&quota, &group, &plural, &obj) {
                continue;
            }
            for (r, v) in object_usage(&group, &plural, &obj) {
                *used.entry(r).or_insert(0) += v;
            }
        }
    }
    let used: BTreeMap<String, Value> = limited
        .iter()
        .map(|r| (r.clone(), json!(format_milli(*used.get(r).unwrap_or(&0)))))
        .collect();
    let status = json!({"hard": hard, "used": used});
    if serde_json::to_value(&q.status)? == status {
        return Ok(());
    }
    let api: Api<ResourceQuota> = Api::namespaced(client.clone(), &ns);
    let patch = json!({"metadata": {"resourceVersion": q.resource_version()}, "status": status});
    api.patch_status(&q.name_any(), &patch_params(), &Patch::Merge(patch))
        .await?;
    Ok(())
}

/// The `(group, plural)` kinds whose objects the limited resources count.
fn resources_to_count(limited: &[String]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut add = |g: &str, p: &str| {
        let k = (g.to_string(), p.to_string());
        if !out.contains(&k) {
            out.push(k);
        }
    };
    for r in limited {
        if let Some(rest) = r.strip_prefix("count/") {
            match rest.split_once('.') {
                Some((p, g)) => add(g, p),
                None => add("", rest),
            }
        } else if r.starts_with("requests.storage") {
            add("", "persistentvolumeclaims");
        } else if r.starts_with("services.") {
            add("", "services");
        } else if r.starts_with("requests.")
            || r.starts_with("limits.")
            || ["cpu", "memory", "ephemeral-storage"].contains(&r.as_str())
        {
            add("", "pods");
        } else if !r.contains('/') && !r.contains('.') {
            add("", r);
        }
    }
    out
}

/// Every object of `group`/`plural` in `ns`, as JSON (a kind the server does not serve
/// counts nothing).
async fn list(client: &Client, ns: &str, group: &str, plural: &str) -> Result<Vec<Value>> {
    let version = if group.is_empty() {
        "v1".to_string()
    } else {
        match kube::discovery::group(client, group).await {
            Ok(g) => g.preferred_version_or_latest().to_string(),
            Err(_) => return Ok(vec![]),
        }
    };
    let gvk = GroupVersionKind::gvk(group, &version, "");
    let ar = ApiResource::from_gvk_with_plural(&gvk, plural);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    match api.list(&ListParams::default()).await {
        Ok(l) => Ok(l
            .items
            .iter()
            .filter_map(|o| serde_json::to_value(o).ok())
            .collect()),
        Err(e) if crate::error::kube_not_found(&e) => Ok(vec![]),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limited_resources_name_the_kinds_to_count() {
        let limited: Vec<String> = [
            "pods",
            "requests.cpu",
            "count/deployments.apps",
            "count/secrets",
            "requests.storage",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            resources_to_count(&limited),
            [
                ("", "pods"),
                ("apps", "deployments"),
                ("", "secrets"),
                ("", "persistentvolumeclaims")
            ]
            .map(|(g, p)| (g.to_string(), p.to_string()))
        );
    }
}
