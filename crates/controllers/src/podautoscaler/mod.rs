//! HorizontalPodAutoscaler controller (upstream `pkg/controller/podautoscaler`): every 15 s
//! each HPA reads its target's `scale` subresource (any kind that has one), the pods its
//! selector picks (shared informer) and their PodMetrics, proposes a replica count per
//! metric ([`replicas`]), stabilizes and rate-limits it ([`behavior`]), rescales the target
//! and writes status, conditions and events as upstream does.

pub mod behavior;
mod compute;
pub mod metrics;
pub mod replicas;
mod scale;
pub mod status;
mod sync;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::ResourceExt;
use tokio_util::sync::CancellationToken;

use crate::events::Recorder;
use crate::util::drain;
use crate::Context;

/// Upstream's `--horizontal-pod-autoscaler-sync-period`.
pub const RESYNC: Duration = Duration::from_secs(15);

/// The controller's state: its context, event recorder and each HPA's scaling history.
pub struct Autoscaler {
    ctx: Context,
    recorder: Recorder,
    history: Mutex<HashMap<String, behavior::History>>,
}

/// Runs the HPA controller until `token` is cancelled.
pub async fn run(ctx: Context, token: CancellationToken) {
    if !ctx.informers.pods.ready().await {
        return;
    }
    let api: Api<HorizontalPodAutoscaler> = Api::all(ctx.client.clone());
    let state = Arc::new(Autoscaler {
        recorder: Recorder::new(ctx.client.clone(), "horizontal-pod-autoscaler", None),
        ctx,
        history: Mutex::new(HashMap::new()),
    });
    let stream = Controller::new(api, watcher::Config::default())
        .graceful_shutdown_on(async move { token.cancelled().await })
        .run(reconcile, on_error, state);
    drain("horizontalpodautoscaler", stream).await;
}

async fn reconcile(
    hpa: Arc<HorizontalPodAutoscaler>,
    state: Arc<Autoscaler>,
) -> crate::Result<Action> {
    let key = format!("{}/{}", hpa.namespace().unwrap_or_default(), hpa.name_any());
    if hpa.metadata.deletion_timestamp.is_some() {
        state
            .history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        return Ok(Action::await_change());
    }
    sync::reconcile_autoscaler(&state, &hpa, &key).await?;
    Ok(Action::requeue(RESYNC))
}

/// A failed sync is logged where operators look (upstream logs it too) and retried on the
/// next resync.
fn on_error(hpa: Arc<HorizontalPodAutoscaler>, err: &crate::Error, _: Arc<Autoscaler>) -> Action {
    tracing::warn!(hpa = %hpa.name_any(), namespace = ?hpa.namespace(), error = %err, "failed to reconcile HorizontalPodAutoscaler");
    Action::requeue(RESYNC)
}
