//! Service-account controller: a `default` ServiceAccount in every active namespace,
//! recreated when deleted (upstream `serviceaccounts_controller.go`).

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::ResourceExt;
use tokio_util::sync::CancellationToken;

use crate::error::{kube_conflict, Result};
use crate::util::{drain, on_error};
use crate::Context;

/// Name of the ServiceAccount every namespace gets.
pub const DEFAULT_SA: &str = "default";

/// Runs the service-account controller until `token` is cancelled.
pub async fn run(ctx: Context, token: CancellationToken) {
    let ns: Api<Namespace> = Api::all(ctx.client.clone());
    let sas: Api<ServiceAccount> = Api::all(ctx.client.clone());
    let stream = Controller::new(ns, watcher::Config::default())
        .watches(
            sas,
            watcher::Config::default().fields("metadata.name=default"),
            |sa: ServiceAccount| sa.namespace().map(|n| ObjectRef::new(&n)),
        )
        .graceful_shutdown_on(async move { token.cancelled().await })
        .run(reconcile, on_error, Arc::new(ctx));
    drain("serviceaccount", stream).await;
}

/// Whether a namespace should get objects created in it (exists and is not terminating).
pub fn is_active(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_none()
        && ns.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Terminating")
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action> {
    if !is_active(&ns) {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();
    let api: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), &name);
    if api.get_opt(DEFAULT_SA).await?.is_some() {
        return Ok(Action::await_change());
    }
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(DEFAULT_SA.into()),
            namespace: Some(name),
            ..Default::default()
        },
        ..Default::default()
    };
    match api.create(&crate::util::post_params(), &sa).await {
        Ok(_) => Ok(Action::await_change()),
        Err(e) if kube_conflict(&e) => Ok(Action::await_change()),
        Err(e) => Err(e.into()),
    }
}
