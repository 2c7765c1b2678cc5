//! Local APIServices: one `apiregistration.k8s.io/v1` APIService per group-version this
//! server serves, as upstream's autoregister and crdregistration controllers keep them — named
//! `<version>.<group>`, labelled `kube-aggregator.kubernetes.io/automanaged` (`onstart` for
//! built-in groups, `true` for custom resources' groups, which go when their last served
//! version does), with upstream's priorities, and `Available` because a local group is served
//! by this server itself. Discovery clients and `kubectl get apiservices` see what a real
//! control plane shows.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::Api;
use serde_json::{json, Value};

use crate::registry::descriptor::Codec;
use crate::registry::Registry;

/// How often the set is reconciled (upstream's controllers react to CRD events; a short poll
/// keeps this one small).
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(3);

const MANAGED_LABEL: &str = "kube-aggregator.kubernetes.io/automanaged";
const MANAGER: &str = "kube-apiserver";
/// Custom resources' groups rank below every built-in group (upstream crdregistration).
const CUSTOM_PRIORITY: (i32, i32) = (1000, 100);

/// Upstream's `(groupPriorityMinimum, versionPriority)` for the built-in group-versions we
/// serve (kube-apiserver's apiVersionPriorities); metrics.k8s.io, an aggregated group in a
/// real cluster, has the metrics-server chart's 100/100.
fn builtin_priority(group: &str, version: &str) -> (i32, i32) {
    match (group, version) {
        ("", "v1") => (18000, 1),
        ("apps", "v1") => (17800, 15),
        ("events.k8s.io", "v1") => (17750, 15),
        ("authentication.k8s.io", "v1") => (17700, 15),
        ("authorization.k8s.io", "v1") => (17600, 15),
        ("autoscaling", "v1") => (17500, 15),
        ("autoscaling", "v2") => (17500, 30),
        ("batch", "v1") => (17400, 15),
        ("certificates.k8s.io", "v1") => (17300, 15),
        ("networking.k8s.io", "v1") => (17200, 15),
        ("policy", "v1") => (17100, 15),
        ("rbac.authorization.k8s.io", "v1") => (17000, 15),
        ("storage.k8s.io", "v1") => (16800, 15),
        ("apiextensions.k8s.io", "v1") => (16700, 15),
        ("admissionregistration.k8s.io", "v1") => (16700, 15),
        ("scheduling.k8s.io", "v1") => (16600, 15),
        ("coordination.k8s.io", "v1") => (16500, 15),
        ("node.k8s.io", "v1") => (16300, 15),
        ("discovery.k8s.io", "v1") => (16200, 15),
        ("resource.k8s.io", "v1") => (16200, 21),
        ("flowcontrol.apiserver.k8s.io", "v1") => (16100, 21),
        _ => (100, 100),
    }
}

/// One served group-version and whether a CRD serves it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Served {
    pub group: String,
    pub version: String,
    pub custom: bool,
}

/// The group-versions the registry serves now.
pub fn served(reg: &Registry) -> BTreeSet<Served> {
    reg.kinds()
        .iter()
        .map(|k| Served {
            group: k.group.clone(),
            version: k.version.clone(),
            custom: matches!(k.codec, Codec::Custom(_)),
        })
        .collect()
}

/// `<version>.<group>` (the core group's is `v1.`).
pub fn name(group: &str, version: &str) -> String {
    format!("{version}.{group}")
}

/// The APIService as this server wants it (spec and labels; status is written apart).
pub fn desired(gv: &Served) -> Value {
    let (group_priority, version_priority) = if gv.custom {
        CUSTOM_PRIORITY
    } else {
        builtin_priority(&gv.group, &gv.version)
    };
    json!({
        "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
        "metadata": {
            "name": name(&gv.group, &gv.version),
            "labels": {MANAGED_LABEL: if gv.custom { "true" } else { "onstart" }},
        },
        "spec": {
            "group": gv.group, "version": gv.version,
            "groupPriorityMinimum": group_priority, "versionPriority": version_priority,
        },
    })
}

/// The status of a local APIService (upstream's local availability controller).
pub fn available_status() -> Value {
    crate::leader_loop::Condition {
        type_: "Available",
        status: "True",
        reason: "Local",
        message: "Local APIServices are always available",
        since: &crate::registry::meta::now_rfc3339(),
    }
    .apply_body("apiregistration.k8s.io/v1", "APIService")
}

/// Whether a stored APIService is local and already marked available.
fn is_available(svc: &APIService) -> bool {
    svc.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "Available" && c.status == "True")
        })
}

/// Brings the stored APIServices in line with what is served, once.
pub async fn reconcile(client: &kube::Client, reg: &Registry) -> anyhow::Result<()> {
    let api: Api<APIService> = Api::all(client.clone());
    let existing = api.list(&ListParams::default()).await?.items;
    let wanted = served(reg);
    let params = PatchParams::apply(MANAGER).force();
    for gv in &wanted {
        let name = name(&gv.group, &gv.version);
        let stored = existing
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(name.as_str()));
        // Built-in ones are applied once (`onstart`); a user may then edit them.
        if stored.is_none() || gv.custom {
            api.patch(&name, &params, &Patch::Apply(desired(gv)))
                .await?;
        }
        let local = stored.is_none_or(|s| s.spec.as_ref().is_none_or(|s| s.service.is_none()));
        if local && !stored.is_some_and(is_available) {
            api.patch_status(&name, &params, &Patch::Apply(available_status()))
                .await?;
        }
    }
    for svc in &existing {
        let labels = svc.metadata.labels.as_ref();
        let managed = labels
            .and_then(|l| l.get(MANAGED_LABEL))
            .map(String::as_str);
        let Some(name) = svc.metadata.name.as_deref() else {
            continue;
        };
        let still_served = wanted
            .iter()
            .any(|gv| self::name(&gv.group, &gv.version) == name);
        if managed == Some("true") && !still_served {
            api.delete(name, &DeleteParams::default()).await?;
        }
    }
    Ok(())
}

/// Reconciles now and every [`RECONCILE_INTERVAL`] while this server leads the store.
pub fn spawn(client: kube::Client, state: std::sync::Arc<crate::http::AppState>) {
    let store = state.registry.store.clone();
    crate::leader_loop::spawn(
        store,
        RECONCILE_INTERVAL,
        "the local APIServices",
        move || {
            let (client, state) = (client.clone(), state.clone());
            async move { reconcile(&client, &state.registry).await }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_priorities_follow_upstream() {
        let core = Served {
            group: String::new(),
            version: "v1".into(),
            custom: false,
        };
        let svc = desired(&core);
        assert_eq!(svc["metadata"]["name"], "v1.");
        assert_eq!(svc["spec"]["groupPriorityMinimum"], 18000);
        assert_eq!(svc["metadata"]["labels"][MANAGED_LABEL], "onstart");
        let crd = Served {
            group: "example.com".into(),
            version: "v1alpha1".into(),
            custom: true,
        };
        let svc = desired(&crd);
        assert_eq!(svc["metadata"]["name"], "v1alpha1.example.com");
        assert_eq!(svc["spec"]["groupPriorityMinimum"], 1000);
        assert_eq!(svc["spec"]["versionPriority"], 100);
        assert_eq!(svc["metadata"]["labels"][MANAGED_LABEL], "true");
    }
}
