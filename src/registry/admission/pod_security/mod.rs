//! PodSecurity admission (upstream's `PodSecurity` plugin, the Pod Security Standards): each
//! namespace's `pod-security.kubernetes.io/{enforce,audit,warn}[-version]` labels choose a
//! level (privileged, baseline, restricted) at a version.
//!
//! - **Pods** breaking the enforce level are refused with upstream's 403
//!   (`pods "x" is forbidden: violates PodSecurity "restricted:latest": …`); those breaking the
//!   warn level get a `Warning` header (`would violate PodSecurity …`). Updates are checked only
//!   when they change an image or add an ephemeral container, as upstream.
//! - **Workloads** (Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs,
//!   ReplicationControllers, PodTemplates) are never refused: their pod template gets the warn
//!   level's warning, so `kubectl apply` shows it before any pod fails.
//! - **Namespaces** with invalid labels are refused (422); raising the enforce level answers
//!   with warnings naming the existing pods that would now be refused.
//! - **Audit**: each pod's request carries `pod-security.kubernetes.io/enforce-policy` in its
//!   audit event, and pods or templates breaking the audit level
//!   `pod-security.kubernetes.io/audit-violations`, as upstream.
//! - **Configuration** ([`config`]): namespaces without labels get the configured defaults;
//!   exempt namespaces, users and runtime classes are not evaluated (`exempt` annotation).

pub mod checks;
pub mod config;
pub mod policy;

#[cfg(test)]
mod checks_tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use self::checks::evaluate;
use self::config::PodSecurityConfig;
use self::policy::{Level, LevelVersion, Policy};
use crate::registry::hooks::{HookContext, StorageHooks, TxnExtras};
use crate::registry::ResourceDescriptor;
use crate::status::{ApiError, ApiResult};

/// The kinds whose pod template is checked (warn only), with where the template sits.
const WORKLOADS: &[(&str, &str, &str)] = &[
    ("apps", "Deployment", "/spec/template"),
    ("apps", "ReplicaSet", "/spec/template"),
    ("apps", "StatefulSet", "/spec/template"),
    ("apps", "DaemonSet", "/spec/template"),
    ("batch", "Job", "/spec/template"),
    ("batch", "CronJob", "/spec/jobTemplate/spec/template"),
    ("", "ReplicationController", "/spec/template"),
    ("", "PodTemplate", "/template"),
];

/// How many existing pods a namespace relabel checks at most (upstream's default).
const MAX_PODS_TO_CHECK: usize = 3000;

/// Installs the plugin on pods, the workload kinds and namespaces.
pub fn install(builtins: &[Arc<ResourceDescriptor>], config: Arc<PodSecurityConfig>) {
    for d in builtins {
        if d.group.is_empty() && d.kind == "Pod" {
            d.add_hook(Arc::new(PodAdmission {
                config: config.clone(),
            }));
        } else if d.group.is_empty() && d.kind == "Namespace" {
            d.add_hook(Arc::new(NamespaceAdmission {
                config: config.clone(),
            }));
        } else if let Some((_, _, path)) = WORKLOADS
            .iter()
            .find(|(g, k, _)| *g == d.group && *k == d.kind)
        {
            d.add_hook(Arc::new(WorkloadAdmission {
                template: path,
                config: config.clone(),
            }));
        }
    }
}

/// Whether the plugin lets this request through unevaluated (then says why in the audit
/// event, as upstream's `exempt` annotation).
fn exempt(
    config: &PodSecurityConfig,
    ctx: &HookContext<'_>,
    namespace: &str,
    spec: Option<&Value>,
) -> bool {
    let user = ctx.user.map(|u| u.name.as_str());
    let runtime_class = spec
        .and_then(|s| s.get("runtimeClassName"))
        .and_then(Value::as_str);
    match config.exemption(namespace, user, runtime_class) {
        Some(why) => {
            annotate_audit("exempt", why.to_string());
            true
        }
        None => false,
    }
}

/// A pod's metadata and spec as the checks read them; None when they do not decode (the
/// kind's own validation has the last word on such objects).
fn typed_pod(meta: Option<&Value>, spec: Option<&Value>) -> Option<(ObjectMeta, PodSpec)> {
    let meta = serde_json::from_value(meta.cloned().unwrap_or_default()).unwrap_or_default();
    let spec = serde_json::from_value(spec?.clone()).ok()?;
    Some((meta, spec))
}

/// The namespace's policy over the configured defaults (the defaults alone when the namespace
/// cannot be read). Labels that do not parse leave their mode at the default and are named in
/// the `error` audit annotation.
async fn namespace_policy(ctx: &HookContext<'_>, ns: &str, defaults: Policy) -> ApiResult<Policy> {
    let Some(namespace) = ctx.registry.get_value("", "Namespace", None, ns).await? else {
        return Ok(defaults);
    };
    let (policy, errors) = Policy::from_labels(&labels_of(&namespace), defaults);
    if !errors.is_empty() {
        let errors: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        // Go's aggregate error: one error as it is, several in brackets.
        let errors = match errors.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        annotate_audit("error", format!("Failed to parse policy: {errors}"));
    }
    Ok(policy)
}

/// Upstream's audit annotations of this plugin, `pod-security.kubernetes.io/<key>`: the
/// enforced policy of each pod admitted or refused, and what the audit level would refuse.
fn annotate_audit(key: &str, value: String) {
    crate::audit::annotate(format!("pod-security.kubernetes.io/{key}"), value);
}

/// The audit mode: a pod(-like) object breaking the audit level is named in the request's
/// audit event (`audit-violations`), never refused or warned about.
fn audit_violation(policy: &Policy, meta: &ObjectMeta, spec: &PodSpec) {
    if policy.audit.level == Level::Privileged {
        return;
    }
    let verdict = evaluate(policy.audit, meta, spec);
    if !verdict.allowed() {
        let detail = verdict.detail();
        annotate_audit(
            "audit-violations",
            format!("would violate PodSecurity \"{}\": {detail}", policy.audit),
        );
    }
}

fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default()
}

fn warn_violation(policy: &Policy, meta: &ObjectMeta, spec: &PodSpec, txn: &mut TxnExtras) {
    let verdict = evaluate(policy.warn, meta, spec);
    if !verdict.allowed() {
        txn.warn(format!(
            "would violate PodSecurity \"{}\": {}",
            policy.warn,
            verdict.detail()
        ));
    }
}

/// The hook on pods: enforce, audit, then warn.
struct PodAdmission {
    config: Arc<PodSecurityConfig>,
}

impl PodAdmission {
    async fn admit(
        &self,
        ctx: &HookContext<'_>,
        pod: &Value,
        txn: &mut TxnExtras,
    ) -> ApiResult<()> {
        let Some(ns) = pod.pointer("/metadata/namespace").and_then(Value::as_str) else {
            return Ok(());
        };
        if exempt(&self.config, ctx, ns, pod.get("spec")) {
            return Ok(());
        }
        let policy = namespace_policy(ctx, ns, self.config.defaults).await?;
        if policy.fully_privileged() {
            annotate_audit("enforce-policy", LevelVersion::PRIVILEGED.to_string());
            return Ok(());
        }
        annotate_audit("enforce-policy", policy.enforce.to_string());
        let Some((meta, spec)) = typed_pod(pod.get("metadata"), pod.get("spec")) else {
            return Ok(());
        };
        let enforced = evaluate(policy.enforce, &meta, &spec);
        audit_violation(&policy, &meta, &spec);
        if !enforced.allowed() {
            let why = format!(
                "violates PodSecurity \"{}\": {}",
                policy.enforce,
                enforced.detail()
            );
            return Err(ApiError::admission_forbidden("", "pods", pod, &why));
        }
        warn_violation(&policy, &meta, &spec, txn);
        Ok(())
    }
}

/// Upstream's `isSignificantPodUpdate`: a changed image or an added ephemeral container.
fn significant_pod_update(old: &Value, new: &Value) -> bool {
    let images = |pod: &Value, list: &str| -> Vec<Value> {
        pod.pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .map(|cs| cs.iter().map(|c| c["image"].clone()).collect())
            .unwrap_or_default()
    };
    let named = |pod: &Value| -> BTreeMap<String, Value> {
        let list = pod
            .pointer("/spec/ephemeralContainers")
            .and_then(Value::as_array);
        list.into_iter()
            .flatten()
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or("").to_string(),
                    c["image"].clone(),
                )
            })
            .collect()
    };
    let (old_eph, new_eph) = (named(old), named(new));
    images(old, "containers") != images(new, "containers")
        || images(old, "initContainers") != images(new, "initContainers")
        || new_eph
            .iter()
            .any(|(name, image)| old_eph.get(name) != Some(image))
}

impl StorageHooks for PodAdmission {
    fn before_create<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        obj: &'a mut Value,
        txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(self.admit(ctx, obj, txn))
    }

    fn before_update<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        old: &'a Value,
        new: &'a mut Value,
        txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            if !significant_pod_update(old, new) {
                return Ok(());
            }
            self.admit(ctx, new, txn).await
        })
    }
}

/// The hook on workload kinds: their pod template against the warn level.
struct WorkloadAdmission {
    template: &'static str,
    config: Arc<PodSecurityConfig>,
}

impl WorkloadAdmission {
    async fn admit(
        &self,
        ctx: &HookContext<'_>,
        obj: &Value,
        txn: &mut TxnExtras,
    ) -> ApiResult<()> {
        let (Some(ns), Some(template)) = (
            obj.pointer("/metadata/namespace").and_then(Value::as_str),
            obj.pointer(self.template),
        ) else {
            return Ok(());
        };
        if exempt(&self.config, ctx, ns, template.get("spec")) {
            return Ok(());
        }
        let policy = namespace_policy(ctx, ns, self.config.defaults).await?;
        if policy.warn.level == Level::Privileged && policy.audit.level == Level::Privileged {
            return Ok(());
        }
        if let Some((meta, spec)) = typed_pod(template.get("metadata"), template.get("spec")) {
            audit_violation(&policy, &meta, &spec);
            if policy.warn.level != Level::Privileged {
                warn_violation(&policy, &meta, &spec, txn);
            }
        }
        Ok(())
    }
}

impl StorageHooks for WorkloadAdmission {
    fn before_create<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        obj: &'a mut Value,
        txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(self.admit(ctx, obj, txn))
    }

    fn before_update<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        old: &'a Value,
        new: &'a mut Value,
        txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            // Status and scale writes leave the template alone: nothing new to warn about
            // (upstream skips subresources).
            if old.pointer(self.template) == new.pointer(self.template) {
                return Ok(());
            }
            self.admit(ctx, new, txn).await
        })
    }
}

mod namespaces;
use namespaces::NamespaceAdmission;
