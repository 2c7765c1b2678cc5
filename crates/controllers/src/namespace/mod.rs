//! Namespace controller: for a Terminating namespace, deletes every namespaced resource the
//! discovery lists, reports progress in status conditions, then PUTs `finalize` with the
//! `kubernetes` finalizer removed (upstream `namespaced_resources_deleter.go`).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, NamespaceCondition};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use kube::discovery::{verbs, Discovery, Scope};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::ResourceExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::error::{kube_not_found, Result};
use crate::util::{drain, now, on_error, patch_status};
use crate::Context;

/// The finalizer the namespace controller owns in `spec.finalizers`.
pub const FINALIZER: &str = "kubernetes";

/// Runs the namespace controller until `token` is cancelled.
pub async fn run(ctx: Context, token: CancellationToken) {
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    let stream = Controller::new(api, watcher::Config::default())
        .graceful_shutdown_on(async move { token.cancelled().await })
        .run(reconcile, on_error, Arc::new(ctx));
    drain("namespace", stream).await;
}

fn has_finalizer(ns: &Namespace) -> bool {
    ns.spec
        .as_ref()
        .and_then(|s| s.finalizers.as_ref())
        .is_some_and(|f| f.iter().any(|x| x == FINALIZER))
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action> {
    if ns.metadata.deletion_timestamp.is_none() {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();
    if !has_finalizer(&ns) {
        // Already finalized: make sure the final delete went through.
        delete_namespace(&ctx, &name).await?;
        return Ok(Action::await_change());
    }
    let remaining = delete_content(&ctx, &name).await?;
    if remaining > 0 {
        let cond = NamespaceCondition {
            type_: "NamespaceContentRemaining".into(),
            status: "True".into(),
            reason: Some("SomeResourcesRemain".into()),
            message: Some(format!("Some resources are remaining: {remaining} objects")),
            last_transition_time: Some(now()),
        };
        let nsapi: Api<Namespace> = Api::all(ctx.client.clone());
        let _ = patch_status(
            &nsapi,
            &name,
            json!({"phase": "Terminating", "conditions": [cond]}),
        )
        .await;
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    finalize(&ctx, &ns).await?;
    delete_namespace(&ctx, &name).await?;
    Ok(Action::await_change())
}

/// Deletes all namespaced content; returns how many objects still exist afterwards.
async fn delete_content(ctx: &Context, ns: &str) -> Result<usize> {
    let discovery = Discovery::new(ctx.client.clone()).run().await?;
    let mut remaining = 0;
    for group in discovery.groups() {
        // Only the preferred version of each group: other versions are the same objects.
        for (ar, caps) in group.recommended_resources() {
            if caps.scope != Scope::Namespaced
                || !caps.supports_operation(verbs::LIST)
                || !caps.supports_operation(verbs::DELETE)
            {
                continue;
            }
            let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &ar);
            let list = match api.list(&ListParams::default()).await {
                Ok(l) => l,
                Err(e) if kube_not_found(&e) => continue,
                Err(e) => return Err(e.into()),
            };
            if list.items.is_empty() {
                continue;
            }
            let dp = DeleteParams::background();
            let bulk = caps.supports_operation(verbs::DELETE_COLLECTION)
                && api
                    .delete_collection(&dp, &ListParams::default())
                    .await
                    .is_ok();
            if !bulk {
                for item in &list.items {
                    match api.delete(&item.name_any(), &dp).await {
                        Ok(_) => {}
                        Err(e) if kube_not_found(&e) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            let left = api.list(&ListParams::default()).await?;
            remaining += left.items.len();
        }
    }
    Ok(remaining)
}

async fn finalize(ctx: &Context, ns: &Namespace) -> Result<()> {
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    let mut updated = ns.clone();
    if let Some(spec) = updated.spec.as_mut() {
        if let Some(f) = spec.finalizers.as_mut() {
            f.retain(|x| x != FINALIZER);
        }
    }
    match api
        .replace_subresource(
            "finalize",
            &ns.name_any(),
            &crate::util::post_params(),
            &updated,
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if kube_not_found(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn delete_namespace(ctx: &Context, name: &str) -> Result<()> {
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if kube_not_found(&e) => Ok(()),
        // A namespace still Terminating answers 409 to a second delete on some servers.
        Err(e) if crate::error::kube_conflict(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
