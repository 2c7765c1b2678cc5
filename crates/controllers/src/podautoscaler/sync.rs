//! `reconcileAutoscaler`: one sync of one HPA, from the target's scale to the rescale and the
//! status write, with upstream's condition reasons, messages and events.

use ferrokube_apimachinery::labels::Selector;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::ResourceExt;
use serde_json::{json, Value};

use super::behavior::{limit_without_behavior, Decision, Rules, DOWNSCALE_STABILIZATION};
use super::compute::compute;
use super::scale::ScaleTarget;
use super::status::{comparable, set_condition, ABLE_TO_SCALE, SCALING_ACTIVE, SCALING_LIMITED};
use super::Autoscaler;
use crate::error::{Error, Result};
use crate::util::{matches, now_secs, patch_status};

/// The status being built during one sync.
struct Sync<'a> {
    state: &'a Autoscaler,
    hpa: &'a HorizontalPodAutoscaler,
    old: Value,
    conditions: Vec<Value>,
    now: String,
}

impl Sync<'_> {
    fn condition(&mut self, type_: &str, status: bool, reason: &str, message: &str) {
        set_condition(
            &mut self.conditions,
            type_,
            status,
            reason,
            message,
            &self.now,
        );
    }

    async fn warn(&self, reason: &str, message: &str) {
        self.state.recorder.warning(self.hpa, reason, message).await;
    }

    /// Writes the status unless only transition times would change.
    async fn write(
        &self,
        current: i32,
        desired: i32,
        metrics: Vec<Value>,
        rescaled: bool,
    ) -> Result<()> {
        let last_scale = if rescaled {
            json!(self.now)
        } else {
            self.old["lastScaleTime"].clone()
        };
        let status = json!({
            "observedGeneration": self.hpa.metadata.generation,
            "currentReplicas": current,
            "desiredReplicas": desired,
            "lastScaleTime": last_scale,
            "currentMetrics": if metrics.is_empty() { Value::Null } else { Value::Array(metrics) },
            "conditions": self.conditions,
        });
        let strip = |v: &Value| {
            let mut v = comparable(v);
            if let Some(m) = v.as_object_mut() {
                m.retain(|_, x| !x.is_null());
            }
            v
        };
        if strip(&status) == strip(&self.old) {
            return Ok(());
        }
        let api: Api<HorizontalPodAutoscaler> = Api::namespaced(
            self.state.ctx.client.clone(),
            &self.hpa.namespace().unwrap_or_default(),
        );
        patch_status(&api, &self.hpa.name_any(), status).await
    }
}

/// The pods of `ns` the target's selector picks, from the shared informer.
fn target_pods(state: &Autoscaler, ns: &str, selector: &Selector) -> Vec<Pod> {
    state
        .ctx
        .informers
        .pods
        .store()
        .state()
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(ns) && matches(selector, &p.metadata))
        .map(|p| (**p).clone())
        .collect()
}

/// One sync of `hpa` (`key` is namespace/name).
pub async fn reconcile_autoscaler(
    state: &Autoscaler,
    hpa: &HorizontalPodAutoscaler,
    key: &str,
) -> Result<()> {
    let obj = serde_json::to_value(hpa)?;
    let ns = hpa.namespace().unwrap_or_default();
    let spec = &obj["spec"];
    let old = obj.get("status").cloned().unwrap_or_else(|| json!({}));
    let mut sync = Sync {
        state,
        hpa,
        conditions: old["conditions"].as_array().cloned().unwrap_or_default(),
        old,
        now: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let target_ref = &spec["scaleTargetRef"];
    let reference = format!(
        "{}/{}",
        target_ref["kind"].as_str().unwrap_or(""),
        target_ref["name"].as_str().unwrap_or("")
    );
    let got = match ScaleTarget::resolve(&state.ctx.client, &ns, target_ref).await {
        Ok(t) => t.get().await.map(|s| (t, s)),
        Err(e) => Err(e),
    };
    let (target, scale) = match got {
        Ok(found) => found,
        Err(e) => {
            sync.warn("FailedGetScale", &e).await;
            let msg =
                format!("the HPA controller was unable to get the target's current scale: {e}");
            sync.condition(ABLE_TO_SCALE, false, "FailedGetScale", &msg);
            let current = sync.old["currentReplicas"].as_i64().unwrap_or(0) as i32;
            let desired = sync.old["desiredReplicas"].as_i64().unwrap_or(0) as i32;
            sync.write(current, desired, Vec::new(), false).await?;
            return Err(Error::Invalid(format!(
                "failed to query scale subresource for {reference}: {e}"
            )));
        }
    };
    sync.condition(
        ABLE_TO_SCALE,
        true,
        "SucceededGetScale",
        "the HPA controller was able to get the target's current scale",
    );
    let current = scale.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    let now = now_secs();
    state.with_history(key, |h| h.record_initial(current, now));
    let min = spec["minReplicas"].as_i64().unwrap_or(1) as i32;
    let max = spec["maxReplicas"].as_i64().unwrap_or(0) as i32;
    let mut statuses = Vec::new();
    let (desired, reason) = if current == 0 && min != 0 {
        sync.condition(
            SCALING_ACTIVE,
            false,
            "ScalingDisabled",
            "scaling is disabled since the replica count of the target is zero",
        );
        (current, String::new())
    } else if current > max {
        (
            max,
            "Current number of replicas above Spec.MaxReplicas".to_string(),
        )
    } else if current < min {
        (
            min,
            "Current number of replicas below Spec.MinReplicas".to_string(),
        )
    } else {
        let selector = scale
            .status
            .as_ref()
            .and_then(|s| s.selector.clone())
            .unwrap_or_default();
        let parsed = match selector.as_str() {
            "" => Err((
                "selector is required".to_string(),
                "the HPA target's scale is missing a selector".to_string(),
            )),
            s => Selector::parse(s).map_err(|e| {
                let msg = format!(
                    "couldn't convert selector into a corresponding internal selector object: {e}"
                );
                (msg.clone(), msg)
            }),
        };
        let selector_parsed = match parsed {
            Ok(s) => s,
            Err((event, message)) => {
                let reason = if selector.is_empty() {
                    "SelectorRequired"
                } else {
                    "InvalidSelector"
                };
                sync.warn(reason, &event).await;
                sync.condition(SCALING_ACTIVE, false, "InvalidSelector", &message);
                sync.write(current, current, Vec::new(), false).await?;
                return Err(Error::Invalid(event));
            }
        };
        let pods = target_pods(state, &ns, &selector_parsed);
        let metrics = spec["metrics"].as_array().cloned().unwrap_or_default();
        let outcome = compute(&state.ctx.client, &ns, &selector, &pods, &metrics, current).await;
        statuses = outcome.statuses;
        let proposal = outcome.proposal.clone();
        if let Some((reason, err, wrapped, failed)) = &outcome.failure {
            sync.warn(reason, err).await;
            let first = format!(
                "invalid metrics ({failed} invalid out of {}), first error is: {wrapped}",
                metrics.len()
            );
            if *failed >= metrics.len() || proposal.as_ref().is_some_and(|(r, _)| *r < current) {
                let msg = format!("the HPA was unable to compute the replica count: {err}");
                sync.condition(SCALING_ACTIVE, false, reason, &msg);
                sync.write(
                    current,
                    sync.old["desiredReplicas"]
                        .as_i64()
                        .unwrap_or(current.into()) as i32,
                    statuses,
                    false,
                )
                .await?;
                sync.warn("FailedComputeMetricsReplicas", &first).await;
                return Err(Error::Invalid(format!("failed to compute desired number of replicas based on listed metrics for {reference}: {first}")));
            }
        }
        let (proposed, metric) = proposal.unwrap_or((0, String::new()));
        sync.condition(
            SCALING_ACTIVE,
            true,
            "ValidMetricFound",
            &format!("the HPA was able to successfully calculate a replica count from {metric}"),
        );
        let reason = if proposed > current {
            format!("{metric} above target")
        } else {
            "All metrics below target".to_string()
        };
        (
            normalize(&mut sync, key, &obj, current, proposed, min, max),
            reason,
        )
    };
    let rescale = desired != current && !(current == 0 && min != 0);
    if !rescale {
        return sync.write(current, current, statuses, false).await;
    }
    if let Err(e) = target.set(desired).await {
        sync.warn(
            "FailedRescale",
            &format!("New size: {desired}; reason: {reason}; error: {e}"),
        )
        .await;
        sync.condition(
            ABLE_TO_SCALE,
            false,
            "FailedUpdateScale",
            &format!("the HPA controller was unable to update the target scale: {e}"),
        );
        sync.write(current, current, statuses, false).await?;
        return Err(Error::Invalid(format!(
            "failed to rescale {reference}: {e}"
        )));
    }
    sync.condition(
        ABLE_TO_SCALE,
        true,
        "SucceededRescale",
        &format!("the HPA controller was able to update the target scale to {desired}"),
    );
    state
        .recorder
        .normal(
            hpa,
            "SuccessfulRescale",
            &format!("New size: {desired}; reason: {reason}"),
        )
        .await;
    if let Some((up, down)) = rules(&obj) {
        state.with_history(key, |h| h.record_scale(&up, &down, current, desired, now));
    }
    sync.write(current, desired, statuses, true).await
}

/// The behavior's rules, the scale-down window defaulting to the controller's 5 minutes.
fn rules(obj: &Value) -> Option<(Rules, Rules)> {
    let b = obj.pointer("/spec/behavior").filter(|b| b.is_object())?;
    Some((
        Rules::from_json(&b["scaleUp"], 0),
        Rules::from_json(&b["scaleDown"], DOWNSCALE_STABILIZATION),
    ))
}

/// `normalizeDesiredReplicas[WithBehaviors]`: stabilization, then min/max and rate limits,
/// recorded in AbleToScale and ScalingLimited.
fn normalize(
    sync: &mut Sync<'_>,
    key: &str,
    obj: &Value,
    current: i32,
    proposed: i32,
    min: i32,
    max: i32,
) -> i32 {
    let now = now_secs();
    let (stable, limited): (Decision, Decision) = match rules(obj) {
        None => sync.state.with_history(key, |h| {
            let stable = h.stabilize(proposed, now);
            (
                stable,
                limit_without_behavior(current, stable.replicas, min, max),
            )
        }),
        Some((up, down)) => sync.state.with_history(key, |h| {
            let stable = h.stabilize_with(current, proposed, &up, &down, now);
            (
                stable,
                h.limit_with(current, stable.replicas, min, max, &up, &down, now),
            )
        }),
    };
    sync.condition(ABLE_TO_SCALE, true, stable.reason, stable.message);
    let is_limited = limited.replicas != stable.replicas;
    sync.condition(SCALING_LIMITED, is_limited, limited.reason, limited.message);
    limited.replicas
}

impl Autoscaler {
    /// Runs `f` on the history of HPA `key`.
    fn with_history<T>(&self, key: &str, f: impl FnOnce(&mut super::behavior::History) -> T) -> T {
        let mut all = self.history.lock().unwrap_or_else(|e| e.into_inner());
        f(all.entry(key.to_string()).or_default())
    }
}
