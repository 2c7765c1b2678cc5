//! CustomResourceDefinitions in the API server: upstream runs the apiextensions controllers
//! (naming, establishing, finalizer) inside kube-apiserver, so here they are one in-process
//! loop over the store's CRD keys. It accepts names, sets the NamesAccepted/Established
//! conditions, installs and replaces the serving descriptors, and on deletion removes every
//! custom object before letting the CRD go.

pub mod conversion;
pub mod descriptors;
pub mod names;
pub mod openapi;
pub mod openapi_v2;
pub mod table;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ferrokube_store::{EventKind, RangeRequest, Revision};
use futures::StreamExt;
use serde_json::{json, Value};

use crate::http::AppState;
use crate::registry::rest::{DeleteOptions, Deleted, Mutation, Part, WriteOptions};
use crate::registry::strategy::crd::{condition_true, set_condition, CLEANUP_FINALIZER};
use crate::registry::{Registry, ResourceDescriptor};
use crate::status::{ApiError, ApiResult};

/// Store key prefix of every CRD.
const CRD_PREFIX: &str = "/apiextensions.k8s.io/customresourcedefinitions/";
/// The manager the controllers' status writes are recorded under.
const MANAGER: &str = "ferrokube-apiextensions-controller";
/// How soon a CRD whose cleanup is still waiting (custom objects with finalizers) is retried.
const RETRY: Duration = Duration::from_millis(500);

/// What a reconcile asks of the loop.
enum Next {
    Done,
    Retry,
}

/// Installs every stored CRD and reconciles it, then keeps doing so on every CRD change in the
/// background. Returns once the CRDs present at start are served (a restarted server must
/// serve them before its first request).
pub async fn start(app: Arc<AppState>) -> anyhow::Result<()> {
    let reg = &app.registry;
    let page = reg
        .store
        .range(RangeRequest {
            prefix: CRD_PREFIX.into(),
            start: String::new(),
            limit: 0,
            revision: 0,
        })
        .await?;
    let mut pending = BTreeSet::new();
    for kv in &page.items {
        if let Ok(crd) = serde_json::from_slice::<Value>(&kv.value) {
            let name = name_of(&crd);
            descriptors::install(reg, &crd, is_terminating(&crd));
            pending.insert(name);
        }
    }
    let from = page.revision;
    let mut retry = BTreeSet::new();
    for name in std::mem::take(&mut pending) {
        if let Ok(Next::Retry) | Err(_) = reconcile(reg, &name).await {
            retry.insert(name);
        }
    }
    tokio::spawn(run(app, from, retry));
    Ok(())
}

async fn run(app: Arc<AppState>, mut from: Revision, mut retry: BTreeSet<String>) {
    let reg = &app.registry;
    loop {
        let mut events = match reg.store.watch(CRD_PREFIX, from) {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "CRD watch failed; relisting");
                tokio::time::sleep(RETRY).await;
                from = reg.store.current_revision();
                continue;
            }
        };
        loop {
            let mut pending = BTreeSet::new();
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(event)) => {
                        from = from.max(event.revision);
                        let crd: Value = serde_json::from_slice(&event.value).unwrap_or(Value::Null);
                        let name = name_of(&crd);
                        if event.kind == EventKind::Deleted {
                            reg.remove_custom(&name);
                            // Names this CRD held are free: its group's other CRDs may take them.
                            pending.extend(same_group(reg, &crd).await);
                        } else {
                            pending.insert(name);
                        }
                    }
                    _ => break,
                },
                _ = tokio::time::sleep(RETRY), if !retry.is_empty() => {
                    pending.append(&mut retry);
                }
            }
            let generation = reg.generation();
            for name in pending {
                match reconcile(reg, &name).await {
                    Ok(Next::Done) => {}
                    Ok(Next::Retry) => {
                        retry.insert(name);
                    }
                    Err(e) => {
                        tracing::warn!(crd = %name, error = %e.message, "reconciling CRD");
                        retry.insert(name);
                    }
                }
            }
            if reg.generation() != generation {
                // Build the OpenAPI documents now rather than on the next request for them.
                let app = app.clone();
                tokio::spawn(async move {
                    if let Err(e) = crate::openapi::router(&app.registry, &app.aggregator).await {
                        tracing::warn!(error = %e, "rebuilding OpenAPI documents");
                    }
                });
            }
        }
    }
}

fn name_of(crd: &Value) -> String {
    crd.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn is_terminating(crd: &Value) -> bool {
    crd.pointer("/metadata/deletionTimestamp").is_some()
}

fn crd_descriptor(reg: &Registry) -> ApiResult<Arc<ResourceDescriptor>> {
    reg.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        .ok_or_else(|| ApiError::internal("CustomResourceDefinitions are not served"))
}

async fn all_crds(reg: &Registry) -> ApiResult<Vec<Value>> {
    let page = reg
        .store
        .range(RangeRequest {
            prefix: CRD_PREFIX.into(),
            start: String::new(),
            limit: 0,
            revision: 0,
        })
        .await?;
    Ok(page
        .items
        .iter()
        .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
        .collect())
}

async fn same_group(reg: &Registry, crd: &Value) -> Vec<String> {
    let group = crd.pointer("/spec/group");
    all_crds(reg)
        .await
        .unwrap_or_default()
        .iter()
        .filter(|c| c.pointer("/spec/group") == group)
        .map(name_of)
        .collect()
}

/// Brings one CRD's status and serving descriptors in line with its spec.
async fn reconcile(reg: &Registry, name: &str) -> ApiResult<Next> {
    let d = crd_descriptor(reg)?;
    let crd = match reg.get(&d, None, name).await {
        Ok(kv) => crate::registry::rest::parse(&kv)?,
        Err(e) if e.code == 404 => {
            reg.remove_custom(name);
            return Ok(Next::Done);
        }
        Err(e) => return Err(e),
    };
    if is_terminating(&crd) {
        return finalize(reg, &d, &crd).await;
    }
    let group = crd.pointer("/spec/group").cloned().unwrap_or(Value::Null);
    let mut used = names::UsedNames::default();
    for other in all_crds(reg).await? {
        if other.pointer("/spec/group") == Some(&group) && name_of(&other) != name {
            used.add(
                other
                    .pointer("/status/acceptedNames")
                    .unwrap_or(&Value::Null),
            );
        }
    }
    for builtin in reg.builtin_kinds() {
        if Some(builtin.group.as_str()) == group.as_str() {
            used.add(&json!({
                "plural": builtin.plural, "singular": builtin.singular,
                "shortNames": builtin.short_names, "kind": builtin.kind, "listKind": builtin.list_kind,
            }));
        }
    }
    let requested = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let accepted = crd
        .pointer("/status/acceptedNames")
        .cloned()
        .unwrap_or(json!({}));
    let (names, naming) = names::accept(&requested, &accepted, &used);
    let mut desired = crd.clone();
    desired["status"]["acceptedNames"] = names;
    set_condition(&mut desired, "NamesAccepted", naming.0, naming.1, &naming.2);
    let was_established = condition_true(&crd, "Established");
    // Serve first, then say so: a client that waits for Established may use the resource at once.
    if naming.0 == "True" || was_established {
        descriptors::install(reg, &desired, false);
        set_condition(
            &mut desired,
            "Established",
            "True",
            "InitialNamesAccepted",
            "the initial names have been accepted",
        );
    } else {
        set_condition(
            &mut desired,
            "Established",
            "False",
            "NotAccepted",
            "not all names are accepted",
        );
    }
    if desired.get("status") != crd.get("status") {
        let status = desired["status"].clone();
        write_status(reg, &d, name, status).await?;
    }
    Ok(Next::Done)
}

async fn write_status(
    reg: &Registry,
    d: &ResourceDescriptor,
    name: &str,
    status: Value,
) -> ApiResult<()> {
    let mutate: Mutation = Box::new(move |current: &Value| {
        let mut new = current.clone();
        new["status"] = status.clone();
        Ok(new)
    });
    match reg
        .guaranteed_update(d, None, name, Part::Status, None, mutate, &writer())
        .await
    {
        // Deleted meanwhile: the next event says so.
        Err(e) if e.code == 404 => Ok(()),
        other => other.map(|_| ()),
    }
}

fn writer() -> WriteOptions {
    WriteOptions {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    }
}

/// Upstream's finalizer controller: Terminating, delete every custom object, then drop the
/// cleanup finalizer so the CRD itself goes.
async fn finalize(reg: &Registry, d: &ResourceDescriptor, crd: &Value) -> ApiResult<Next> {
    let name = name_of(crd);
    let ours = crd
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|x| x == CLEANUP_FINALIZER));
    // Still served (for list and delete) but refusing creates.
    descriptors::install(reg, crd, true);
    let storage = descriptors::descriptors(crd, true).into_iter().next();
    if !ours {
        return Ok(Next::Done);
    }
    let mut status = crd.clone();
    set_condition(
        &mut status,
        "Terminating",
        "True",
        "InstanceDeletionInProgress",
        "CustomResource deletion is in progress",
    );
    if status.get("status") != crd.get("status") {
        write_status(reg, d, &name, status["status"].clone()).await?;
    }
    if let Some(cr) = &storage {
        if !delete_instances(reg, cr).await? {
            return Ok(Next::Retry);
        }
    }
    let mutate: Mutation = Box::new(|current: &Value| {
        let mut new = current.clone();
        set_condition(
            &mut new,
            "Terminating",
            "False",
            "InstanceDeletionCompleted",
            "removed all instances",
        );
        Ok(new)
    });
    match reg
        .guaranteed_update(d, None, &name, Part::Status, None, mutate, &writer())
        .await
    {
        Ok(_) => {}
        Err(e) if e.code == 404 => {}
        Err(e) => return Err(e),
    }
    remove_finalizer(reg, d, &name).await?;
    reg.remove_custom(&name);
    Ok(Next::Done)
}

async fn remove_finalizer(reg: &Registry, d: &ResourceDescriptor, name: &str) -> ApiResult<()> {
    let mutate: Mutation = Box::new(|current: &Value| {
        let mut new = current.clone();
        if let Some(list) = new
            .pointer_mut("/metadata/finalizers")
            .and_then(Value::as_array_mut)
        {
            list.retain(|f| f != CLEANUP_FINALIZER);
        }
        Ok(new)
    });
    match reg
        .guaranteed_update(d, None, name, Part::Main, None, mutate, &writer())
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes every object of the custom resource; true when none is left.
async fn delete_instances(reg: &Registry, d: &ResourceDescriptor) -> ApiResult<bool> {
    let page = reg
        .store
        .range(RangeRequest {
            prefix: d.key_prefix(),
            start: String::new(),
            limit: 0,
            revision: 0,
        })
        .await?;
    let mut left = 0;
    for kv in &page.items {
        let obj: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
        let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
        let obj_name = crate::registry::meta::name(&obj);
        match reg.delete(d, ns, obj_name, &DeleteOptions::default()).await {
            Ok(Deleted::Gone(_)) => {}
            Ok(Deleted::Pending(_)) => left += 1,
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(left == 0)
}
