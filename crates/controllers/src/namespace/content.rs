//! Deleting a Terminating namespace's content (upstream `namespaced_resources_deleter.go`
//! with OrderedNamespaceDeletion): pods go first, and nothing else is touched while any pod
//! remains, so a pod never loses the Secrets, ConfigMaps or claims it still runs with; then
//! every other namespaced resource, through the preferred version of each group.

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams};
use kube::discovery::{verbs, ApiCapabilities, Discovery, Scope};
use kube::ResourceExt;

use super::conditions::Pass;
use crate::error::kube_not_found;
use crate::Context;

/// One pass over the namespace's content: deletes what is there and reports what is left.
pub async fn delete_all(ctx: &Context, ns: &str) -> Pass {
    let mut pass = Pass::default();
    let discovery = match Discovery::new(ctx.client.clone()).run().await {
        Ok(d) => d,
        Err(e) => {
            pass.discovery_error = Some(e.to_string());
            return pass;
        }
    };
    let mut resources: Vec<(ApiResource, ApiCapabilities)> = discovery
        .groups()
        // Only the preferred version of each group: other versions are the same objects.
        .flat_map(|group| group.recommended_resources())
        .filter(|(_, caps)| {
            caps.scope == Scope::Namespaced
                && caps.supports_operation(verbs::LIST)
                && caps.supports_operation(verbs::DELETE)
        })
        .collect();
    let is_pods = |ar: &ApiResource| ar.group.is_empty() && ar.plural == "pods";
    if let Some(i) = resources.iter().position(|(ar, _)| is_pods(ar)) {
        let (pods, caps) = resources.remove(i);
        delete_resource(ctx, ns, &pods, &caps, &mut pass).await;
        if pass.remaining.values().any(|n| *n > 0) {
            return pass;
        }
    }
    for (ar, caps) in &resources {
        delete_resource(ctx, ns, ar, caps, &mut pass).await;
    }
    pass
}

/// Deletes every object of one resource in `ns` and records what remains (and the
/// finalizers holding it) or the error.
async fn delete_resource(
    ctx: &Context,
    ns: &str,
    ar: &ApiResource,
    caps: &ApiCapabilities,
    pass: &mut Pass,
) {
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, ar);
    let resource = format!("{}.{}", ar.plural, ar.group);
    if let Err(e) = delete_objects(&api, caps).await {
        pass.delete_errors.push(format!("{resource}: {e}"));
        return;
    }
    let left = match api.list(&ListParams::default()).await {
        Ok(l) => l.items,
        Err(e) if kube_not_found(&e) => return,
        Err(e) => {
            pass.delete_errors.push(format!("{resource}: {e}"));
            return;
        }
    };
    if left.is_empty() {
        return;
    }
    pass.remaining.insert(resource, left.len());
    for obj in &left {
        for finalizer in obj.finalizers() {
            *pass.finalizers.entry(finalizer.clone()).or_default() += 1;
        }
    }
}

/// One delete-collection when the resource has it, else a delete per object.
async fn delete_objects(api: &Api<DynamicObject>, caps: &ApiCapabilities) -> kube::Result<()> {
    let list = match api.list(&ListParams::default()).await {
        Ok(l) => l,
        Err(e) if kube_not_found(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    // Objects already being deleted need nothing more from us (their finalizers decide).
    if list
        .items
        .iter()
        .all(|o| o.metadata.deletion_timestamp.is_some())
    {
        return Ok(());
    }
    let dp = DeleteParams::background();
    if caps.supports_operation(verbs::DELETE_COLLECTION)
        && api
            .delete_collection(&dp, &ListParams::default())
            .await
            .is_ok()
    {
        return Ok(());
    }
    for item in list
        .items
        .iter()
        .filter(|o| o.metadata.deletion_timestamp.is_none())
    {
        match api.delete(&item.name_any(), &dp).await {
            Ok(_) => {}
            Err(e) if kube_not_found(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
