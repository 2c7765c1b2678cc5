//! PodSecurity on namespaces: labels must parse (422 otherwise, unless the same bad labels were
//! already there), and raising the enforce level reports the existing pods it would refuse, as
//! warnings, without refusing the change.

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use super::checks::evaluate;
use super::policy::{Level, LevelVersion, Policy};
use super::{labels_of, MAX_PODS_TO_CHECK};
use crate::registry::hooks::{HookContext, StorageHooks, TxnExtras};
use crate::status::{ApiError, ApiResult};

pub(super) struct NamespaceAdmission {
    pub(super) config: std::sync::Arc<super::config::PodSecurityConfig>,
}

fn invalid_labels(ns: &Value, causes: Vec<crate::status::Cause>) -> ApiError {
    let name = ns
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    ApiError::invalid("", "Namespace", name, causes)
}

impl StorageHooks for NamespaceAdmission {
    fn before_create<'a>(
        &'a self,
        _ctx: &'a HookContext<'_>,
        obj: &'a mut Value,
        _txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            let (_, errs) = Policy::from_labels(&labels_of(obj), self.config.defaults);
            match errs.is_empty() {
                true => Ok(()),
                false => Err(invalid_labels(obj, errs)),
            }
        })
    }

    fn before_update<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        old: &'a Value,
        new: &'a mut Value,
        txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            let defaults = self.config.defaults;
            let (new_policy, new_errs) = Policy::from_labels(&labels_of(new), defaults);
            let (old_policy, old_errs) = Policy::from_labels(&labels_of(old), defaults);
            if !new_errs.is_empty() && new_errs != old_errs {
                return Err(invalid_labels(new, new_errs));
            }
            if !raises_enforcement(old_policy.enforce, new_policy.enforce) {
                return Ok(());
            }
            let name = new
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            if self.config.exemptions.namespaces.contains(name) {
                // Upstream's `exemptNamespaceWarning`: its pods are never checked.
                txn.warn(format!(
                    "namespace {name:?} is exempt from Pod Security, and the policy (enforce={}) will be ignored",
                    new_policy.enforce
                ));
                return Ok(());
            }
            for warning in existing_pod_warnings(ctx, name, new_policy.enforce).await? {
                txn.warn(warning);
            }
            Ok(())
        })
    }
}

/// Whether moving from `old` to `new` may refuse pods that were admitted (upstream's test:
/// changed, not privileged, and not merely a laxer level at the same version).
fn raises_enforcement(old: LevelVersion, new: LevelVersion) -> bool {
    new != old
        && new.level != Level::Privileged
        && !(new.version == old.version && new.level <= old.level)
}

/// One pod name standing for every pod with the same violations, as upstream summarises them.
struct Summary {
    reasons: String,
    first_pod: String,
    count: usize,
}

/// Upstream's `EvaluatePodsInNamespace` warnings for a new enforce level.
async fn existing_pod_warnings(
    ctx: &HookContext<'_>,
    namespace: &str,
    enforce: LevelVersion,
) -> ApiResult<Vec<String>> {
    let pods = list_pods(ctx, namespace).await?;
    let total = pods.len();
    let mut summaries: Vec<Summary> = Vec::new();
    for pod in prioritized(pods).iter().take(MAX_PODS_TO_CHECK) {
        let spec = pod.spec.clone().unwrap_or_default();
        let verdict = evaluate(enforce, &pod.metadata, &spec);
        if verdict.allowed() {
            continue;
        }
        let name = pod.metadata.name.clone().unwrap_or_default();
        let reasons = verdict.reasons();
        match summaries.iter_mut().find(|s| s.reasons == reasons) {
            Some(s) => {
                s.count += 1;
                if name < s.first_pod {
                    s.first_pod = name;
                }
            }
            None => summaries.push(Summary {
                reasons,
                first_pod: name,
                count: 1,
            }),
        }
    }
    let mut warnings = Vec::new();
    if total > MAX_PODS_TO_CHECK {
        warnings.push(format!("new PodSecurity enforce level only checked against the first {MAX_PODS_TO_CHECK} of {total} existing pods"));
    }
    if !summaries.is_empty() {
        warnings.push(format!("existing pods in namespace \"{namespace}\" violate the new PodSecurity enforce level \"{enforce}\""));
    }
    let mut per_pod: Vec<String> = summaries.iter().map(describe).collect();
    per_pod.sort();
    warnings.extend(per_pod);
    Ok(warnings)
}

fn describe(s: &Summary) -> String {
    match s.count {
        1 => format!("{}: {}", s.first_pod, s.reasons),
        2 => format!("{} (and 1 other pod): {}", s.first_pod, s.reasons),
        n => format!("{} (and {} other pods): {}", s.first_pod, n - 1, s.reasons),
    }
}

/// One pod per controller first, then the controllers' other replicas (they would mostly
/// repeat the same warning), as upstream orders them.
fn prioritized(pods: Vec<Pod>) -> Vec<Pod> {
    let mut seen = std::collections::HashSet::new();
    let (mut first, mut repeats) = (Vec::new(), Vec::new());
    for pod in pods {
        let controller = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|r| r.controller == Some(true))
            .map(|r| r.uid.clone());
        match controller {
            Some(uid) if !seen.insert(uid.clone()) => repeats.push(pod),
            _ => first.push(pod),
        }
    }
    first.extend(repeats);
    first
}

async fn list_pods(ctx: &HookContext<'_>, namespace: &str) -> ApiResult<Vec<Pod>> {
    let Some(d) = ctx.registry.lookup_kind("", "Pod") else {
        return Ok(Vec::new());
    };
    let pods = ctx
        .registry
        .store
        .range(ferrokube_store::RangeRequest {
            prefix: d.namespace_prefix(Some(namespace)),
            start: String::new(),
            limit: 0,
            revision: 0,
        })
        .await?;
    let mut typed = Vec::new();
    for kv in pods.items {
        let pod = crate::registry::rest::parse(&kv)?;
        typed.extend(serde_json::from_value::<Pod>(pod).ok());
    }
    Ok(typed)
}
