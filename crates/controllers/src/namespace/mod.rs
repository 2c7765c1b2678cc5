//! Namespace controller: for a Terminating namespace, deletes its pods and then every other
//! namespaced resource the discovery lists ([`content`]), reports progress in upstream's
//! status conditions ([`conditions`]), then PUTs `finalize` with the `kubernetes` finalizer
//! removed (upstream `namespaced_resources_deleter.go`).

use std::sync::Arc;
use std::time::Duration;

mod conditions;
mod content;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::ResourceExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::error::{kube_not_found, Result};
use crate::util::{drain, on_error, patch_status};
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
    let pass = content::delete_all(&ctx, &name).await;
    report(&ctx, &ns, &pass).await;
    if !pass.is_done() {
        if !pass.delete_errors.is_empty() || pass.discovery_error.is_some() {
            tracing::warn!(namespace = %name, ?pass, "namespace content not deleted yet");
        }
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    finalize(&ctx, &ns).await?;
    delete_namespace(&ctx, &name).await?;
    Ok(Action::await_change())
}

/// Writes the deletion conditions when they changed.
async fn report(ctx: &Context, ns: &Namespace, pass: &conditions::Pass) {
    let old = ns
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let Some(conditions) = conditions::updated(&old, pass) else {
        return;
    };
    let nsapi: Api<Namespace> = Api::all(ctx.client.clone());
    let status = json!({"phase": "Terminating", "conditions": conditions});
    if let Err(e) = patch_status(&nsapi, &ns.name_any(), status).await {
        tracing::warn!(namespace = %ns.name_any(), error = %e, "could not update namespace conditions");
    }
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
