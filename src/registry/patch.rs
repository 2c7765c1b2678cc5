//! PATCH: JSON patch, JSON merge patch, strategic merge patch and server-side apply, each a
//! mutation fed to the same guaranteed-update loop as PUT. Also the scale subresource.

use std::sync::OnceLock;

use bytes::Bytes;
use ferrokube_merge::{ApplyError, Manager, MergeKeyTable};
use serde_json::{json, Value};

use super::descriptor::ResourceDescriptor;
use super::rest::{Mutation, Part, WriteOptions, Written};
use super::{meta, Registry};
use crate::status::{ApiError, ApiResult, Cause};

/// A PATCH body by content type.
#[derive(Clone, Debug)]
pub enum PatchBody {
    /// `application/json-patch+json` (RFC 6902).
    Json(Value),
    /// `application/merge-patch+json` (RFC 7386).
    Merge(Value),
    /// `application/strategic-merge-patch+json`.
    Strategic(Value),
    /// `application/apply-patch+yaml` (server-side apply), already parsed; with `force`.
    Apply { config: Value, force: bool },
}

/// The built-in merge-key table (generated from upstream's OpenAPI extensions).
pub fn merge_keys() -> &'static MergeKeyTable {
    static TABLE: OnceLock<MergeKeyTable> = OnceLock::new();
    TABLE.get_or_init(MergeKeyTable::builtin)
}

/// The merge semantics of a kind: a custom resource's come from its CRD schema.
pub fn merge_keys_of(d: &ResourceDescriptor) -> &MergeKeyTable {
    match &d.codec {
        super::descriptor::Codec::Custom(custom) => &custom.merge_table,
        super::descriptor::Codec::Typed(_) => merge_keys(),
    }
}

fn patch_failed(d: &ResourceDescriptor, name: &str, message: String) -> ApiError {
    ApiError::new(422, "Invalid", message)
        .with_details(json!({"name": name, "group": d.group, "kind": d.kind}))
}

/// Applies a patch document to one object.
pub fn apply_patch(
    d: &ResourceDescriptor,
    current: &Value,
    patch: &PatchBody,
    manager: Option<&str>,
    part: Part,
) -> ApiResult<Value> {
    let name = meta::name(current);
    match patch {
        PatchBody::Json(ops) => {
            let ops: json_patch::Patch = serde_json::from_value(ops.clone())
                .map_err(|e| ApiError::bad_request(format!("the JSON patch is not valid: {e}")))?;
            let mut doc = current.clone();
            json_patch::patch(&mut doc, &ops).map_err(|e| {
                patch_failed(
                    d,
                    name,
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?;
            Ok(doc)
        }
        PatchBody::Merge(p) => {
            if !p.is_object() {
                return Err(ApiError::bad_request(
                    "the merge patch must be a JSON object",
                ));
            }
            let mut doc = current.clone();
            json_patch::merge(&mut doc, p);
            Ok(doc)
        }
        PatchBody::Strategic(_) if d.custom().is_some() => Err(strategic_unsupported()),
        PatchBody::Strategic(p) => {
            let root = merge_keys().root_gvk(&d.group, &d.version, &d.kind);
            ferrokube_merge::strategic_merge_patch(current, p, merge_keys(), root)
                .map_err(|e| smp_error(d, name, e))
        }
        PatchBody::Apply { config, force } => {
            let manager = manager.ok_or_else(field_manager_required)?;
            let subresource = subresource_name(part);
            ferrokube_merge::apply(
                Some(current),
                &without_reset_fields(d, config, subresource),
                Manager::of(manager, subresource),
                *force,
                merge_keys_of(d),
                &meta::now_rfc3339(),
            )
            .map_err(|e| apply_error(d, name, e))
        }
    }
}

/// The subresource a write goes through, as managedFields entries name it.
pub fn subresource_name(part: Part) -> &'static str {
    match part {
        Part::Main => "",
        Part::Status => "status",
        Part::Finalize => "finalize",
        Part::Approval => "approval",
        Part::Scale => "scale",
        Part::EphemeralContainers => super::rest::EPHEMERAL_CONTAINERS,
        Part::Resize => super::resize::RESIZE,
    }
}

/// Upstream's "reset fields": what a write through one endpoint may not set is removed from an
/// apply configuration before it is merged, so the applier neither changes nor owns it. The main
/// resource of a kind with a status subresource resets `status`; the status subresource resets
/// everything but `status` and the identifying/label metadata.
fn without_reset_fields(d: &ResourceDescriptor, config: &Value, subresource: &str) -> Value {
    let mut config = config.clone();
    let Some(root) = config.as_object_mut() else {
        return config;
    };
    match subresource {
        "" if d.status_subresource => {
            root.shift_remove("status");
        }
        "status" => {
            root.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status"));
            if let Some(Value::Object(m)) = root.get_mut("metadata") {
                m.retain(|k, _| {
                    matches!(
                        k.as_str(),
                        "name" | "namespace" | "uid" | "resourceVersion" | "labels" | "annotations"
                    )
                });
            }
        }
        _ => {}
    }
    config
}

/// Upstream's `interpretStrategicMergePatchError`: the `mergepatch` sentinel errors for malformed
/// patch documents are 400, lists of lists 422; every other merge failure (a list item without
/// its merge key, an unknown `$patch`, ...) is a plain error the apiserver reports as a 500
/// Status with no reason, which kubectl prints as `Error from server: <message>`.
fn smp_error(d: &ResourceDescriptor, name: &str, e: ferrokube_merge::MergeError) -> ApiError {
    use ferrokube_merge::MergeError as E;
    match e {
        E::NotAnObject(_) | E::BadPrimitiveList | E::BadRetainKeys | E::BadSetElementOrder => {
            ApiError::bad_request(e.to_string())
        }
        E::ListOfLists => patch_failed(d, name, e.to_string()),
        other => ApiError::new(500, "", other.to_string()),
    }
}

/// How admission words unknown fields under `fieldValidation=Strict`.
const STRICT_DECODING: &str = "strict decoding error";

/// Upstream's `strategicPatchObject` reports strict decoding failures of a strategic merge patch
/// as an Invalid `patch` field (422, so `kubectl edit` reopens the file with the error).
fn strict_patch_error(patch: &Value, message: &str) -> ApiError {
    ApiError::invalid(
        "",
        "",
        "",
        vec![Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {:?}: {message}", go_format(patch)),
            field: "patch".into(),
        }],
    )
}

/// A JSON value as Go's `%+v` prints the decoded `map[string]interface{}` upstream echoes.
fn go_format(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_format(&m[k.as_str()])))
                .collect();
            format!("map[{}]", items.join(" "))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_format).collect::<Vec<_>>().join(" ")
        ),
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".into(),
        other => other.to_string(),
    }
}

/// Upstream refuses strategic merge patches on custom resources: they have no patch strategies.
fn strategic_unsupported() -> ApiError {
    ApiError::new(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
    )
}

fn field_manager_required() -> ApiError {
    ApiError::new(422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch")
        .with_details(json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [{"reason": "FieldValueRequired", "message": "Required value: is required for apply patch", "field": "fieldManager"}]}))
}

/// Maps a server-side apply failure to upstream's Status: conflicts are 409 naming managers.
pub fn apply_error(d: &ResourceDescriptor, name: &str, err: ApplyError) -> ApiError {
    match err {
        ApplyError::Conflicts(conflicts) => {
            let causes: Vec<Value> = conflicts
                .iter()
                .map(|c| json!({"reason": "FieldManagerConflict", "message": c.cause_message(), "field": c.path}))
                .collect();
            let lines: Vec<String> = conflicts
                .iter()
                .map(|c| format!("{}: {}", c.cause_message(), c.path))
                .collect();
            let noun = if conflicts.len() == 1 {
                "conflict"
            } else {
                "conflicts"
            };
            ApiError::new(
                409,
                "Conflict",
                format!(
                    "Apply failed with {} {noun}: {}",
                    conflicts.len(),
                    lines.join("\n")
                ),
            )
            .with_details(
                json!({"name": name, "group": d.group, "kind": d.plural, "causes": causes}),
            )
        }
        ApplyError::Invalid(message) => ApiError::invalid(
            &d.group,
            &d.kind,
            name,
            vec![Cause {
                reason: "FieldValueInvalid".into(),
                message,
                field: "".into(),
            }],
        ),
    }
}

impl Registry {
    /// PATCH on an object (or its status). Server-side apply of a missing object creates it.
    pub async fn patch(
        &self,
        d: &ResourceDescriptor,
        ns: Option<&str>,
        name: &str,
        part: Part,
        patch: PatchBody,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        let mut opts = opts.clone();
        opts.apply = matches!(patch, PatchBody::Apply { .. });
        let opts = &opts;
        if let PatchBody::Apply { config, force } = &patch {
            let exists = self.store.get(&d.key(ns, name)).await?.is_some();
            if !exists && part == Part::Main {
                let manager = opts
                    .field_manager
                    .as_deref()
                    .ok_or_else(field_manager_required)?;
                let mut obj = ferrokube_merge::apply(
                    None,
                    config,
                    manager,
                    *force,
                    merge_keys_of(d),
                    &meta::now_rfc3339(),
                )
                .map_err(|e| apply_error(d, name, e))?;
                meta::metadata_mut(&mut obj).insert("name".into(), json!(name));
                return self.create(d, ns, obj, opts).await;
            }
        }
        let strategic = match &patch {
            PatchBody::Strategic(p) => Some(p.clone()),
            _ => None,
        };
        let manager = opts.field_manager.clone();
        let mutate: Mutation = Box::new(move |current: &Value| {
            let patched = apply_patch(d, current, &patch, manager.as_deref(), part)?;
            let rv_after = meta::meta_str(&patched, "resourceVersion");
            let rv_before = meta::meta_str(current, "resourceVersion");
            if rv_after.is_some_and(|rv| !rv.is_empty()) && rv_after != rv_before {
                return Err(ApiError::conflict(
                    &d.group,
                    &d.plural,
                    name,
                    ApiError::MODIFIED,
                ));
            }
            let patched_name = meta::name(&patched);
            if patched_name != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({patched_name}) does not match the name on the URL ({name})"
                )));
            }
            Ok(patched)
        });
        self.guaranteed_update(d, ns, name, part, None, mutate, opts)
            .await
            .map_err(|e| match &strategic {
                Some(p) if e.code == 400 && e.message.starts_with(STRICT_DECODING) => {
                    strict_patch_error(p, &e.message)
                }
                _ => e,
            })
    }

    /// GET on the scale subresource: an autoscaling/v1 Scale built from the object.
    pub async fn get_scale(
        &self,
        d: &ResourceDescriptor,
        ns: Option<&str>,
        name: &str,
    ) -> ApiResult<Value> {
        let kv = self.get(d, ns, name).await?;
        scale_of(d, &super::rest::parse(&kv)?)
    }

    /// PUT or PATCH on the scale subresource: only `spec.replicas` of the parent changes.
    pub async fn write_scale(
        &self,
        d: &ResourceDescriptor,
        ns: Option<&str>,
        name: &str,
        change: ScaleChange,
        opts: &WriteOptions,
    ) -> ApiResult<Value> {
        let spec = d.scale.clone().ok_or_else(ApiError::not_found_path)?;
        let mut opts = opts.clone();
        // Server-side apply of a Scale owns the parent's replica field under the `scale`
        // subresource, conflicting with whoever else owns it (upstream converts the managed
        // fields between Scale and parent the same way).
        let apply = match &change {
            ScaleChange::Patch(PatchBody::Apply { force, .. }) => {
                let manager = opts
                    .field_manager
                    .clone()
                    .ok_or_else(field_manager_required)?;
                opts.apply = true;
                Some((manager, *force))
            }
            _ => None,
        };
        let opts = &opts;
        let mutate: Mutation = Box::new(move |current: &Value| {
            let scale = scale_of(d, current)?;
            let new_scale = match &change {
                ScaleChange::Replace(body) => body.clone(),
                ScaleChange::Patch(p) => apply_scale_patch(&scale, p)?,
            };
            let rv = meta::meta_str(&new_scale, "resourceVersion").unwrap_or("");
            if !rv.is_empty() && Some(rv) != meta::meta_str(current, "resourceVersion") {
                return Err(ApiError::conflict(
                    &d.group,
                    &d.plural,
                    name,
                    ApiError::MODIFIED,
                ));
            }
            let replicas = new_scale
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if replicas < 0 {
                return Err(ApiError::invalid(
                    "autoscaling",
                    "Scale",
                    name,
                    vec![Cause {
                        reason: "FieldValueInvalid".into(),
                        message: format!(
                            "Invalid value: {replicas}: must be greater than or equal to 0"
                        ),
                        field: "spec.replicas".into(),
                    }],
                ));
            }
            if let Some((manager, force)) = &apply {
                let config = replicas_config(d, current, &spec.spec_replicas, replicas);
                return ferrokube_merge::apply(
                    Some(current),
                    &config,
                    Manager::of(manager, "scale"),
                    *force,
                    merge_keys_of(d),
                    &meta::now_rfc3339(),
                )
                .map_err(|e| apply_error(d, name, e));
            }
            let mut new = current.clone();
            // The path may not exist yet (a custom resource without spec.replicas).
            let mut slot = &mut new;
            for segment in spec.spec_replicas.trim_start_matches('/').split('/') {
                slot = &mut slot[segment];
            }
            *slot = json!(replicas);
            Ok(new)
        });
        let written = self
            .guaranteed_update(d, ns, name, Part::Scale, None, mutate, opts)
            .await?;
        let obj: Value = serde_json::from_slice(&written.object)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        scale_of(d, &obj)
    }
}

/// A change to the scale subresource.
#[derive(Clone, Debug)]
pub enum ScaleChange {
    /// PUT with a Scale body.
    Replace(Value),
    /// PATCH with any patch type.
    Patch(PatchBody),
}

/// The parent-kind apply configuration equivalent to a Scale setting `replicas`: identity plus
/// the replica count at the kind's replicas path.
fn replicas_config(d: &ResourceDescriptor, current: &Value, pointer: &str, replicas: i64) -> Value {
    let mut config = json!({
        "apiVersion": d.api_version(),
        "kind": d.kind,
        "metadata": {"name": meta::name(current)},
    });
    if let Some(ns) = meta::meta_str(current, "namespace") {
        config["metadata"]["namespace"] = json!(ns);
    }
    let mut slot = &mut config;
    for segment in pointer.trim_start_matches('/').split('/') {
        slot = &mut slot[segment];
    }
    *slot = json!(replicas);
    config
}

fn apply_scale_patch(scale: &Value, patch: &PatchBody) -> ApiResult<Value> {
    match patch {
        PatchBody::Json(ops) => {
            let ops: json_patch::Patch = serde_json::from_value(ops.clone())
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            let mut doc = scale.clone();
            json_patch::patch(&mut doc, &ops)
                .map_err(|e| ApiError::new(422, "Invalid", e.to_string()))?;
            Ok(doc)
        }
        PatchBody::Merge(p) | PatchBody::Strategic(p) | PatchBody::Apply { config: p, .. } => {
            let mut doc = scale.clone();
            json_patch::merge(&mut doc, p);
            Ok(doc)
        }
    }
}

/// The autoscaling/v1 Scale view of an object with a scale subresource.
pub fn scale_of(d: &ResourceDescriptor, obj: &Value) -> ApiResult<Value> {
    let spec = d.scale.as_ref().ok_or_else(ApiError::not_found_path)?;
    let m = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let selector = spec.selector.as_deref().and_then(|p| obj.pointer(p));
    let selector_string = match selector {
        // Custom resources keep the serialized selector (`labelSelectorPath`).
        Some(Value::String(s)) => s.clone(),
        Some(sel) if sel.get("matchLabels").is_some() || sel.get("matchExpressions").is_some() => {
            ferrokube_apimachinery::labels::format_label_selector(Some(sel))
        }
        Some(Value::Object(map)) => {
            ferrokube_apimachinery::labels::format_labels(Some(&Value::Object(map.clone())))
        }
        _ => String::new(),
    };
    let mut metadata = json!({});
    for field in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = m.get(field) {
            metadata[field] = v.clone();
        }
    }
    Ok(json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": obj.pointer(&spec.spec_replicas).and_then(Value::as_i64).unwrap_or(0)},
        "status": {
            "replicas": obj.pointer(&spec.status_replicas).and_then(Value::as_i64).unwrap_or(0),
            "selector": selector_string,
        }
    }))
}

/// Serializes a Value into response bytes.
pub fn value_bytes(v: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_patch_errors_are_invalid_patch_fields() {
        let patch = json!({"metadata": {"zeta": [1, "a"], "bogus": null}, "b": true});
        assert_eq!(
            go_format(&patch),
            "map[b:true metadata:map[bogus:<nil> zeta:[1 a]]]"
        );
        let err = strict_patch_error(&patch, "strict decoding error: unknown field \"x\"");
        assert_eq!(err.code, 422);
        assert_eq!(err.reason, "Invalid");
        assert!(err
            .message
            .starts_with(" \"\" is invalid: patch: Invalid value: \"map[b:true"));
        assert!(err
            .message
            .ends_with("strict decoding error: unknown field \"x\""));
    }
}
