//! ControllerRevision history shared by the DaemonSet and StatefulSet controllers (upstream
//! `pkg/controller/history`): each distinct pod template is stored once as a
//! `ControllerRevision` named `<owner>-<hash>` with a monotonically increasing `revision`;
//! returning to an old template re-uses (and re-numbers) its revision, as `rollout undo` expects.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch};
use kube::ResourceExt;
use serde_json::{json, Value};

use crate::error::{kube_conflict, Result};
use crate::util::{delete_ignore_missing, fnv32a, is_controlled_by, safe_encode};

/// Label on pods and revisions naming the revision (upstream `controller-revision-hash`).
pub const REVISION_HASH: &str = "controller-revision-hash";

mod go_json;

/// Upstream's revision `data` for a template: a strategic-merge patch replacing it, rendered
/// as Go renders it (see [`go_json`]) so clients' `Match` finds the current revision.
pub fn revision_data(template: &PodTemplateSpec) -> Value {
    let t = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    data_for(t)
}

/// [`revision_data`] for a template's JSON.
fn data_for(template: Value) -> Value {
    let mut t = go_json::go_template(template);
    if let Some(o) = t.as_object_mut() {
        // "$" sorts before every letter: Go writes it first.
        let mut with_patch = serde_json::Map::new();
        with_patch.insert("$patch".into(), json!("replace"));
        with_patch.append(o);
        t = Value::Object(with_patch);
    }
    json!({"spec": {"template": t}})
}

/// Whether a stored revision records the same template as `data`, whatever rendering an
/// older version of ours gave it (so an upgrade does not roll every DaemonSet's pods).
fn same_template(stored: &Value, data: &Value) -> bool {
    let Some(template) = stored.pointer("/spec/template") else {
        return false;
    };
    let mut template = template.clone();
    if let Some(o) = template.as_object_mut() {
        o.remove("$patch");
    }
    // Through the typed struct first, as the template itself went.
    let typed = serde_json::from_value::<PodTemplateSpec>(template)
        .ok()
        .and_then(|t| serde_json::to_value(t).ok());
    typed.map(data_for).as_ref() == Some(data)
}

/// `HashControllerRevision`: fnv32a over the data (plus collision count), safe-encoded.
pub fn revision_hash(data: &Value, collision_count: Option<i32>) -> String {
    let mut bytes = serde_json::to_vec(data).unwrap_or_default();
    if let Some(c) = collision_count {
        bytes.extend_from_slice(c.to_string().as_bytes());
    }
    safe_encode(&fnv32a(&bytes).to_string())
}

/// The pod template a ControllerRevision recorded (its `data` from [`revision_data`]), if it
/// still exists.
pub async fn revision_template(
    api: &Api<ControllerRevision>,
    name: &str,
) -> Result<Option<PodTemplateSpec>> {
    let Some(rev) = api.get_opt(name).await? else {
        return Ok(None);
    };
    let mut template = rev
        .data
        .and_then(|d| d.0.pointer("/spec/template").cloned())
        .unwrap_or(Value::Null);
    if let Some(o) = template.as_object_mut() {
        o.remove("$patch");
    }
    Ok(serde_json::from_value(template).ok())
}

/// The revision number of a ControllerRevision.
fn number(r: &ControllerRevision) -> i64 {
    r.revision
}

/// The current revision of an owner after syncing its history: `(name, hash, revision)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    /// ControllerRevision name.
    pub name: String,
    /// The hash pods carry in `controller-revision-hash`.
    pub hash: String,
    /// The revision number.
    pub revision: i64,
}

/// [`sync`] for a workload (DaemonSet, StatefulSet) whose pods carry the revision-hash label:
/// the revisions in use are those its live pods name, and the template's labels go on the
/// revision; `limit` is `revisionHistoryLimit` (upstream default 10).
pub async fn sync_for_pods(
    api: &Api<ControllerRevision>,
    owner: OwnerReference,
    template: &PodTemplateSpec,
    limit: Option<i32>,
    pods: &[Pod],
) -> Result<Current> {
    let in_use: Vec<String> = pods
        .iter()
        .filter_map(|p| p.labels().get(REVISION_HASH).cloned())
        .collect();
    let labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    sync(api, owner, template, labels, limit.unwrap_or(10), &in_use).await
}

/// Ensures a ControllerRevision exists for `template` under `owner`, newest-numbered, and
/// trims unused revisions beyond `limit`. `selector_labels` are copied onto the revision
/// (upstream copies the template labels so `kubectl rollout history` can list them).
pub async fn sync(
    api: &Api<ControllerRevision>,
    owner: OwnerReference,
    template: &PodTemplateSpec,
    selector_labels: BTreeMap<String, String>,
    limit: i32,
    in_use: &[String],
) -> Result<Current> {
    let revisions: Vec<ControllerRevision> = api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|r| is_controlled_by(&r.metadata, &owner.uid))
        .collect();
    let data = revision_data(template);
    let max = revisions.iter().map(number).max().unwrap_or(0);
    let same = revisions
        .iter()
        .filter(|r| r.data.as_ref().is_some_and(|d| same_template(&d.0, &data)))
        .max_by_key(|r| number(r));
    let current = match same {
        Some(r) if number(r) == max => r.clone(),
        Some(r) => {
            // Rolling back to an old template makes that revision the newest again.
            api.patch(
                &r.name_any(),
                &crate::util::patch_params(),
                &Patch::Merge(json!({"revision": max + 1})),
            )
            .await?
        }
        None => {
            let mut collision = None;
            loop {
                let hash = revision_hash(&data, collision);
                let mut labels = selector_labels.clone();
                labels.insert(REVISION_HASH.into(), hash.clone());
                let rev = ControllerRevision {
                    metadata: ObjectMeta {
                        name: Some(format!("{}-{hash}", owner.name)),
                        labels: Some(labels),
                        owner_references: Some(vec![owner.clone()]),
                        ..Default::default()
                    },
                    data: Some(RawExtension(data.clone())),
                    revision: max + 1,
                };
                match api.create(&crate::util::post_params(), &rev).await {
                    Ok(r) => break r,
                    // A same-named revision with other data: hash again with a collision count.
                    Err(e) if kube_conflict(&e) && collision.unwrap_or(0) < 16 => {
                        collision = Some(collision.unwrap_or(0) + 1);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    };
    let hash = current
        .labels()
        .get(REVISION_HASH)
        .cloned()
        .unwrap_or_else(|| revision_hash(&data, None));
    let cur = Current {
        name: current.name_any(),
        hash,
        revision: number(&current),
    };
    let mut old: Vec<&ControllerRevision> = revisions
        .iter()
        .filter(|r| r.name_any() != cur.name)
        .filter(|r| {
            // Pods name their revision by hash (DaemonSets) or by name (StatefulSets).
            let h = r.labels().get(REVISION_HASH).cloned().unwrap_or_default();
            !in_use.contains(&h) && !in_use.contains(&r.name_any())
        })
        .collect();
    old.sort_by_key(|r| number(r));
    let keep = usize::try_from(limit.max(0)).unwrap_or(0);
    if old.len() > keep {
        for r in &old[..old.len() - keep] {
            delete_ignore_missing(api, &r.name_any(), &DeleteParams::default()).await?;
        }
    }
    Ok(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_replaces_the_template() {
        let t: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": {"labels": {"app": "a"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}))
        .unwrap();
        let d = revision_data(&t);
        assert_eq!(d["spec"]["template"]["$patch"], "replace");
        assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "i");
        let text = serde_json::to_string(&d).unwrap();
        assert!(
            text.starts_with(r#"{"spec":{"template":{"$patch":"replace","metadata":{"#),
            "{text}"
        );
    }

    #[test]
    fn older_renderings_of_a_template_still_match() {
        let t: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": {"labels": {"app": "a"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}))
        .unwrap();
        let old = json!({"spec": {"template": {"metadata": {"labels": {"app": "a"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}, "$patch": "replace"}}});
        assert!(same_template(&old, &revision_data(&t)));
        let other = json!({"spec": {"template": {"metadata": {"labels": {"app": "a"}},
            "spec": {"containers": [{"name": "c", "image": "j"}]}, "$patch": "replace"}}});
        assert!(!same_template(&other, &revision_data(&t)));
    }

    #[test]
    fn hash_changes_with_template_and_collisions() {
        let a = json!({"spec": {"template": {"x": 1}}});
        let b = json!({"spec": {"template": {"x": 2}}});
        assert_ne!(revision_hash(&a, None), revision_hash(&b, None));
        assert_ne!(revision_hash(&a, None), revision_hash(&a, Some(1)));
        assert_eq!(revision_hash(&a, None), revision_hash(&a, None));
    }
}
