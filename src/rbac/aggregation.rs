//! Upstream's clusterrole-aggregation controller: a ClusterRole with an `aggregationRule` gets
//! the union of the rules of the ClusterRoles its selectors match, written into its `rules`
//! (so `kubectl get clusterrole admin -o yaml` shows them). The authorizer itself resolves
//! aggregation from its index at once; this keeps the stored objects in step.

use std::sync::Arc;

use serde_json::Value;

use super::Authorizer;
use crate::registry::rest::{Mutation, Part, WriteOptions};
use crate::registry::Registry;

/// Runs forever: after every change to ClusterRoles, rewrites the aggregated ones whose stored
/// rules differ from what aggregation gives them.
pub async fn run(registry: Arc<crate::http::AppState>, authz: Arc<Authorizer>) {
    loop {
        sync(&registry.registry, &authz).await;
        authz.cluster_roles_changed.notified().await;
    }
}

async fn sync(registry: &Registry, authz: &Authorizer) {
    let Some(d) = registry.lookup("rbac.authorization.k8s.io", "v1", "clusterroles") else {
        return;
    };
    let opts = WriteOptions {
        field_manager: Some("clusterrole-aggregation-controller".into()),
        ..WriteOptions::default()
    };
    for (name, rules) in authz.policy().aggregated_roles() {
        let Ok(kv) = registry.get(&d, None, &name).await else {
            continue;
        };
        let Ok(mut stored) = serde_json::from_slice::<Value>(&kv.value) else {
            continue;
        };
        let wanted = serde_json::to_value(&rules).unwrap_or(Value::Null);
        if stored.get("rules").unwrap_or(&Value::Null) == &wanted
            || (rules.is_empty() && stored.get("rules").is_none())
        {
            continue;
        }
        stored["rules"] = wanted;
        let mutate: Mutation<'_> = Box::new(move |_current: &Value| Ok(stored.clone()));
        let written = registry
            .guaranteed_update(
                &d,
                None,
                &name,
                Part::Main,
                Some(kv.mod_revision),
                mutate,
                &opts,
            )
            .await;
        if let Err(e) = written {
            // A concurrent change wakes us again; anything else is worth a log line.
            if e.code != 409 {
                tracing::warn!(clusterrole = %name, error = %e.message, "aggregating ClusterRole rules");
            }
        }
    }
}
