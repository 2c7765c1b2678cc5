//! Admission webhooks (admissionregistration.k8s.io/v1 Mutating- and
//! ValidatingWebhookConfigurations): for every matching write of any kind, an AdmissionReview
//! v1 is POSTed over HTTPS (verified with the configuration's `caBundle`) to the webhook's URL
//! or Service. Mutating webhooks run first and may return a JSON patch (the object is then
//! validated again); validating ones run after the admission policies and may only refuse. A
//! refusal answers upstream's `admission webhook "x" denied the request: …`; a webhook that
//! cannot be called (down, slow past `timeoutSeconds`, a malformed answer) refuses the write
//! under `failurePolicy: Fail` and is skipped under `Ignore`. A mutating webhook with
//! `reinvocationPolicy: IfNeeded` is called once more when a webhook after it changed the object
//! (upstream's reinvocation, among the webhooks). Responses' `auditAnnotations`, and which
//! mutating webhooks ran and changed the object, go to the request's audit event. Not yet: the `Equivalent` match policy (rules
//! match the exact version written).

mod config;
mod patch;

use std::sync::{Arc, RwLock};

use ferrokube_apiextensions::expression::Outcome;
use ferrokube_store::KeyValue;
use futures::future::BoxFuture;
use serde_json::{json, Value};

use self::config::Webhook;
use super::policy::inputs::Request;
use crate::registry::hooks::{ByOperation, HookContext, OperationAdmission, TxnExtras};
use crate::registry::Registry;
use crate::status::{ApiError, ApiResult};

const GROUP: &str = "admissionregistration.k8s.io";
const PREFIX: &str = "/admissionregistration.k8s.io/";

/// One of the two webhook plugins.
pub struct WebhookAdmission {
    mutating: bool,
    hooks: RwLock<Arc<Vec<Webhook>>>,
}

/// Installs the mutating webhooks on every kind (call before the admission policies).
pub async fn install_mutating(registry: &Registry) -> anyhow::Result<()> {
    install(registry, true).await
}

/// Installs the validating webhooks on every kind (call after the admission policies).
pub async fn install_validating(registry: &Registry) -> anyhow::Result<()> {
    install(registry, false).await
}

async fn install(registry: &Registry, mutating: bool) -> anyhow::Result<()> {
    let plugin = Arc::new(WebhookAdmission {
        mutating,
        hooks: RwLock::default(),
    });
    crate::registry::follow::start(&registry.store, PREFIX, plugin.clone()).await?;
    registry.add_hook_for_every_kind(Arc::new(ByOperation(plugin)));
    Ok(())
}

impl WebhookAdmission {
    /// Webhooks in the order upstream calls them: configurations by name, then as listed.
    fn rebuild_hooks(&self, items: &[KeyValue]) {
        let resource = match self.mutating {
            true => "/mutatingwebhookconfigurations/",
            false => "/validatingwebhookconfigurations/",
        };
        let mut hooks = Vec::new();
        for kv in items.iter().filter(|kv| kv.key.contains(resource)) {
            let Ok(config) = serde_json::from_slice::<Value>(&kv.value) else {
                continue;
            };
            let listed = config["webhooks"].as_array().cloned().unwrap_or_default();
            let name = config["metadata"]["name"].as_str().unwrap_or_default();
            for w in &listed {
                hooks.extend(Webhook::parse(name, hooks.len(), w));
            }
        }
        *self.hooks.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(hooks);
    }

    async fn admit_write(
        &self,
        ctx: &HookContext<'_>,
        operation: &str,
        mut new: Option<&mut Value>,
        old: Option<&Value>,
        txn: &mut TxnExtras,
    ) -> ApiResult<()> {
        let hooks = self.hooks.read().unwrap_or_else(|e| e.into_inner()).clone();
        if hooks.is_empty() || ctx.descriptor.group == GROUP {
            return Ok(());
        }
        let every: Vec<&Webhook> = hooks.iter().collect();
        let first = self
            .pass(ctx, operation, (0, &every), new.as_deref_mut(), old, txn)
            .await?;
        // Reinvocation: IfNeeded webhooks that ran before a later one changed the object.
        let last_change = first.iter().rposition(|call| call.changed);
        let again: Vec<&Webhook> = match last_change {
            Some(last) if self.mutating => first[..last]
                .iter()
                .filter(|call| call.hook.reinvoke)
                .map(|call| call.hook)
                .collect(),
            _ => Vec::new(),
        };
        let second = self
            .pass(ctx, operation, (1, &again), new.as_deref_mut(), old, txn)
            .await?;
        let mutated = first.iter().chain(&second).any(|call| call.changed);
        if let (true, Some(obj), false) = (mutated, new, operation == "CONNECT") {
            admit_mutated(ctx, obj, old, "mutating webhooks")?;
        }
        Ok(())
    }

    /// Calls each matching webhook of `hooks` in order (the `round`th pass, 0 or 1); which
    /// were called and whether each changed the object.
    async fn pass<'h>(
        &self,
        ctx: &HookContext<'_>,
        operation: &str,
        (round, hooks): (usize, &[&'h Webhook]),
        mut new: Option<&mut Value>,
        old: Option<&Value>,
        txn: &mut TxnExtras,
    ) -> ApiResult<Vec<Called<'h>>> {
        let mut called = Vec::new();
        for hook in hooks.iter().copied() {
            let request = Request::gather(ctx, operation, new.as_deref(), old).await?;
            if !request.matches(&hook.matches) || !conditions_hold(hook, &request)? {
                continue;
            }
            if ctx.dry_run && !hook.dry_run_safe {
                return Err(ApiError::bad_request(format!(
                    "admission webhook \"{}\" does not support dry run",
                    hook.name
                )));
            }
            let Some(response) = self.call(ctx, hook, &request).await? else {
                continue;
            };
            for w in response["warnings"].as_array().into_iter().flatten() {
                txn.warn(w.as_str().unwrap_or_default());
            }
            annotate_from_response(hook, &response);
            if response["allowed"] != json!(true) {
                return Err(denied(&hook.name, &response));
            }
            let changed = match (self.mutating, new.as_deref_mut()) {
                (true, Some(obj)) => apply_patch(hook, round, &response, obj)?,
                _ => false,
            };
            if self.mutating {
                annotate_mutation(hook, round, changed);
            }
            called.push(Called { hook, changed });
        }
        Ok(called)
    }

    /// The webhook's `response`, or None when it failed and fails open.
    async fn call(
        &self,
        ctx: &HookContext<'_>,
        hook: &Webhook,
        request: &Request,
    ) -> ApiResult<Option<Value>> {
        let uid = crate::registry::meta::new_uid();
        let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": request.review_request(&uid)});
        let answer = match hook.speaks_v1 {
            true => {
                crate::registry::webhook_client::call(
                    &ctx.registry.store,
                    &hook.client,
                    hook.timeout,
                    &review,
                )
                .await
            }
            false => {
                Err("the webhook accepts no admissionReviewVersions this server sends (v1)".into())
            }
        };
        let response = answer.and_then(|r| match r.get("response") {
            Some(resp) if resp["uid"] == json!(uid) => Ok(resp.clone()),
            Some(_) => Err(format!("expected response.uid=\"{uid}\"")),
            None => Err("the AdmissionReview has no response".into()),
        });
        match response {
            Ok(resp) => Ok(Some(resp)),
            Err(e) if hook.fail_closed => Err(ApiError::internal(format!(
                "failed calling webhook \"{}\": failed to call webhook: {e}",
                hook.name
            ))),
            Err(e) => {
                tracing::warn!(webhook = %hook.name, "failed calling webhook, ignoring: {e}");
                Ok(None)
            }
        }
    }
}

/// Upstream decodes an object an admission plugin mutated (`by`): fields the kind (or the
/// CRD's schema) does not know are dropped, and what was added (an init container, say) gets
/// the kind's defaults before it is validated again.
pub fn admit_mutated(
    ctx: &HookContext<'_>,
    obj: &mut Value,
    old: Option<&Value>,
    by: &str,
) -> ApiResult<()> {
    let (decoded, _dropped) = ctx
        .descriptor
        .canonicalize(obj)
        .map_err(|e| ApiError::internal(format!("decoding the object {by} returned: {e}")))?;
    *obj = decoded;
    ctx.descriptor.strategy.default(obj);
    crate::registry::admit::validate(ctx.descriptor, obj, old)
}

/// One webhook call of a pass.
struct Called<'h> {
    hook: &'h Webhook,
    changed: bool,
}

/// Whether every match condition holds (an erroring one refuses under `Fail`).
fn conditions_hold(hook: &Webhook, request: &Request) -> ApiResult<bool> {
    if hook.match_conditions.is_empty() {
        return Ok(true);
    }
    let inputs = request.bindings(&Value::Null).map_err(ApiError::internal)?;
    for (name, expr) in &hook.match_conditions {
        let outcome = expr
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|e| inputs.eval(e));
        match outcome {
            Ok(Outcome::Bool(true)) => {}
            Ok(Outcome::Bool(false)) => return Ok(false),
            _ if !hook.fail_closed => return Ok(false),
            other => {
                return Err(ApiError::internal(format!(
                    "failed calling webhook \"{}\": matchCondition {name} failed: {other:?}",
                    hook.name
                )))
            }
        }
    }
    Ok(true)
}

/// The response's `auditAnnotations` go to the audit event under `<webhook name>/<key>`, as
/// upstream prefixes them (keys that would not be a qualified name are dropped, as upstream's
/// `AddAnnotation` refuses them).
fn annotate_from_response(hook: &Webhook, response: &Value) {
    let given = response["auditAnnotations"]
        .as_object()
        .into_iter()
        .flatten();
    for (key, value) in given {
        let key = format!("{}/{key}", hook.name);
        if !ferrokube_apimachinery::validation::is_qualified_name(&key).is_empty() {
            tracing::warn!(webhook = %hook.name, "dropped audit annotation {key:?}: not a qualified name");
            continue;
        }
        crate::audit::annotate(key, value.as_str().unwrap_or_default());
    }
}

/// Upstream's record of a mutating webhook call: which webhook, and whether it changed the
/// object, under `mutation.webhook.admission.k8s.io/round_<r>_index_<i>`.
fn annotate_mutation(hook: &Webhook, round: usize, mutated: bool) {
    let key = format!(
        "mutation.webhook.admission.k8s.io/round_{round}_index_{}",
        hook.index
    );
    let value =
        json!({"configuration": hook.configuration, "webhook": hook.name, "mutated": mutated});
    crate::audit::annotate(key, value.to_string());
}

/// Upstream's record of the patch a mutating webhook returned, under
/// `patch.webhook.admission.k8s.io/round_<r>_index_<i>`: only in events at the `Request`
/// level or above, as the patch may hold the object's contents.
fn annotate_patch(hook: &Webhook, round: usize, patch: &json_patch::Patch) {
    let key = format!(
        "patch.webhook.admission.k8s.io/round_{round}_index_{}",
        hook.index
    );
    let value = json!({"configuration": hook.configuration, "webhook": hook.name,
        "patch": patch, "patchType": "JSONPatch"});
    crate::audit::annotate_at(crate::audit::Level::Request, key, value.to_string());
}

/// Upstream's refusal: the webhook's status code (400 when none) and message.
fn denied(name: &str, response: &Value) -> ApiError {
    let status = &response["status"];
    let code = status["code"]
        .as_u64()
        .filter(|c| (400..600).contains(c))
        .unwrap_or(400) as u16;
    let given = |field: &str| status[field].as_str().filter(|s| !s.is_empty());
    // Upstream `ToStatusErr`: the message, else the reason (webhooks such as upstream's e2e
    // one explain themselves only there), else "without explanation".
    let text = match given("message").or(given("reason")) {
        None => format!("admission webhook \"{name}\" denied the request without explanation"),
        Some(why) => format!("admission webhook \"{name}\" denied the request: {why}"),
    };
    let reason = match code {
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        _ => "BadRequest",
    };
    ApiError::new(code, reason, text)
}

/// Applies a mutating webhook's patch; whether it changed anything (a patch restating what the
/// object holds is no change, so it triggers no reinvocation).
fn apply_patch(hook: &Webhook, round: usize, response: &Value, obj: &mut Value) -> ApiResult<bool> {
    let patch = patch::decode_patch(response).map_err(|e| {
        ApiError::internal(format!("failed calling webhook \"{}\": {e}", hook.name))
    })?;
    let Some(patch) = patch.filter(|p| !p.0.is_empty()) else {
        return Ok(false);
    };
    annotate_patch(hook, round, &patch);
    let before = obj.clone();
    json_patch::patch(obj, &patch).map_err(|e| {
        ApiError::internal(format!(
            "failed calling webhook \"{}\": applying its patch: {e}",
            hook.name
        ))
    })?;
    Ok(*obj != before)
}

impl crate::registry::follow::Rebuild for WebhookAdmission {
    fn rebuild(&self, items: &[KeyValue]) {
        self.rebuild_hooks(items);
    }
}

impl OperationAdmission for WebhookAdmission {
    fn admit<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        operation: &'static str,
        new: Option<&'a mut Value>,
        old: Option<&'a Value>,
        txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(self.admit_write(ctx, operation, new, old, txn))
    }
}
