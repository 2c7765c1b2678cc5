//! The generic REST operations: get, create, update (incl. status/scale/finalize), patch, delete.
//! One implementation for every kind; what differs per kind comes from the descriptor.

use bytes::Bytes;
use ferrokube_store::{Compare, KeyValue, Op, Txn, TxnOutcome};
use serde_json::{json, Value};

use super::admit::{admit_body, validate, validate_with, FieldValidation};
use super::convert;
use super::descriptor::ResourceDescriptor;
use super::hooks::{too_many_retries, HookWrite, TxnExtras, MAX_HOOK_RETRIES};
use super::meta;
use super::Registry;
use crate::status::{ApiError, ApiResult};

/// Which part of an object a write addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The object itself (status changes are ignored when the kind has a status subresource).
    Main,
    /// `/status`: only status changes are kept.
    Status,
    /// `/finalize` (namespaces): only `spec.finalizers` changes are kept.
    Finalize,
    /// `/approval` (CertificateSigningRequests): only `status.conditions` changes are kept.
    Approval,
    /// `/scale`: the parent's replica count (written like the main resource; recorded in
    /// managedFields under the `scale` subresource).
    Scale,
    /// `/ephemeralcontainers` (pods): only `spec.ephemeralContainers` changes are kept; the
    /// main resource never changes them.
    EphemeralContainers,
    /// `/resize` (pods): only containers' `resources` and `resizePolicy` changes are kept.
    Resize,
}

/// Options every write carries.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: run everything, store nothing.
    pub dry_run: bool,
    /// `fieldValidation`.
    pub field_validation: FieldValidation,
    /// `fieldManager`.
    pub field_manager: Option<String>,
    /// The request's `User-Agent`: the manager of non-apply writes without `fieldManager`.
    pub user_agent: Option<String>,
    /// Set by server-side apply, which computes `managedFields` itself (no `Update` entry).
    pub apply: bool,
    /// Keys the request body repeats (`fieldValidation` reports them like unknown fields).
    pub duplicate_fields: Vec<String>,
    /// For an apply body repeating a key: go-yaml's error about the first repeat (with its line),
    /// what upstream's apply reports instead of the per-field messages.
    pub yaml_duplicates: Option<String>,
    /// Who asked for the write (after impersonation); None for the server's own writes.
    pub user: Option<std::sync::Arc<ferrokube_auth::UserInfo>>,
}

impl WriteOptions {
    /// The manager an `Update` entry is recorded for: `fieldManager`, else the User-Agent up to
    /// its first `/`, printable characters only, at most 128 bytes (upstream's
    /// `managerOrUserAgent`).
    pub fn update_manager(&self) -> String {
        if let Some(m) = &self.field_manager {
            return m.clone();
        }
        let agent = self.user_agent.as_deref().unwrap_or("");
        let prefix = agent.split('/').next().unwrap_or("");
        let mut out = String::new();
        for c in prefix.chars().filter(|c| !c.is_control()) {
            if out.len() + c.len_utf8() > MAX_FIELD_MANAGER_LEN {
                break;
            }
            out.push(c);
        }
        out
    }
}

/// Upstream's `FieldManagerMaxLength`.
const MAX_FIELD_MANAGER_LEN: usize = 128;

/// The result of a write.
#[derive(Clone, Debug)]
pub struct Written {
    /// The object as stored (or as it would be, for a dry run).
    pub object: Bytes,
    /// Warnings for the `Warning` header.
    pub warnings: Vec<String>,
    /// The write created the object (also an apply or PUT of a missing one): 201, not 200.
    pub created: bool,
}

/// `DeleteOptions` as far as the registry needs them.
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    /// `gracePeriodSeconds`.
    pub grace_period_seconds: Option<i64>,
    /// `propagationPolicy`: Orphan, Background or Foreground.
    pub propagation_policy: Option<String>,
    /// `preconditions.uid`.
    pub precondition_uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub precondition_rv: Option<String>,
    /// `dryRun=All`.
    pub dry_run: bool,
}

/// What a delete did.
#[derive(Clone, Debug)]
pub enum Deleted {
    /// The object is gone; the value is its last state.
    Gone(Bytes),
    /// Deletion has begun (finalizers or a grace period): the object as updated.
    Pending(Bytes),
}

/// Parses stored bytes; stored values are always valid JSON objects.
pub fn parse(kv: &KeyValue) -> ApiResult<Value> {
    serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::internal(format!("stored object is not JSON: {e}")))
}

/// Whether a stored namespace has a deletionTimestamp. Every create checks its namespace, so
/// this reads just that field instead of building the whole object.
fn namespace_terminating(stored: &[u8]) -> ApiResult<bool> {
    #[derive(serde::Deserialize)]
    struct Meta {
        #[serde(rename = "deletionTimestamp")]
        deletion_timestamp: Option<serde::de::IgnoredAny>,
    }
    #[derive(serde::Deserialize)]
    struct Namespace {
        metadata: Option<Meta>,
    }
    let ns: Namespace = serde_json::from_slice(stored)
        .map_err(|e| ApiError::internal(format!("stored namespace is not JSON: {e}")))?;
    Ok(ns.metadata.is_some_and(|m| m.deletion_timestamp.is_some()))
}

fn to_bytes(value: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

/// Mutation applied to the current object inside an optimistic-concurrency retry loop.
pub type Mutation<'a> = Box<dyn Fn(&Value) -> ApiResult<Value> + Send + Sync + 'a>;

impl Registry {
    /// Reads one object.
    pub async fn get(
        &self,
        d: &ResourceDescriptor,
        ns: Option<&str>,
        name: &str,
    ) -> ApiResult<KeyValue> {
        let mut kv = self
            .store
            .get(&d.key(ns, name))
            .await?
            .ok_or_else(|| ApiError::not_found(&d.group, &d.plural, name))?;
        kv.value = convert::served(&self.store, d, kv.value).await?;
        Ok(kv)
    }

    /// Reads one object of a built-in kind as JSON, `None` when it (or the kind) does not
    /// exist: what admission plugins use to look up the objects a write refers to.
    pub async fn get_value(
        &self,
        group: &str,
        kind: &str,
        ns: Option<&str>,
        name: &str,
    ) -> ApiResult<Option<Value>> {
        let Some(d) = self.lookup_kind(group, kind) else {
            return Ok(None);
        };
        match self.get(&d, ns, name).await {
            Ok(kv) => Ok(Some(parse(&kv)?)),
            Err(e) if e.code == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Checks that a namespace exists and accepts new objects.
    pub async fn check_namespace(&self, ns: &str) -> ApiResult<()> {
        let key = format!("/core/namespaces/_/{ns}");
        let Some(kv) = self.store.get(&key).await? else {
            return Err(ApiError::not_found("", "namespaces", ns));
        };
        if namespace_terminating(&kv.value)? {
            return Err(ApiError::forbidden(format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ))
            .with_details(json!({"name": ns, "kind": "namespaces", "causes": [{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]})));
        }
        Ok(())
    }

    /// Creates an object from a request body.
    pub async fn create(
        &self,
        d: &ResourceDescriptor,
        ns: Option<&str>,
        body: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        if d.custom().is_some_and(|c| c.terminating) {
            // Upstream's crdHandler: a terminating CRD serves its objects but takes no new ones.
            return Err(ApiError::method_not_allowed(format!(
                "create is not supported on resources of kind {:?}",
                d.qualified()
            )));
        }
        let (mut obj, warnings) = admit_body(d, body, opts).map_err(|e| decode_error(d, e))?;
        meta::drop_null_metadata(&mut obj);
        let namespace = self.resolve_namespace(d, ns, &obj)?;
        {
            let m = meta::metadata_mut(&mut obj);
            match &namespace {
                Some(ns) => {
                    m.insert("namespace".into(), json!(ns));
                }
                None => {
                    m.remove("namespace");
                }
            }
            let name = m
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let generate = m
                .get("generateName")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if name.is_empty() && !generate.is_empty() {
                m.insert(
                    "name".into(),
                    json!(format!("{generate}{}", meta::random_suffix())),
                );
            }
            m.insert("uid".into(), json!(meta::new_uid()));
            m.insert("creationTimestamp".into(), json!(meta::now_rfc3339()));
            for field in [
                "resourceVersion",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "selfLink",
            ] {
                m.remove(field);
            }
            if d.strategy.tracks_generation() {
                m.insert("generation".into(), json!(1));
            } else {
                m.remove("generation");
            }
        }
        d.strategy.default(&mut obj);
        d.strategy.prepare_create(&mut obj);
        if !opts.apply {
            record_update(d, None, &mut obj, &opts.update_manager(), "");
        }
        validate(d, &obj, None)?;
        if let Some(ns) = &namespace {
            self.check_namespace(ns).await?;
        }
        let name = meta::name(&obj).to_string();
        let key = d.key(namespace.as_deref(), &name);
        let prepared = obj;
        let mut turns = Vec::new();
        for _ in 0..MAX_HOOK_RETRIES {
            let mut obj = prepared.clone();
            let extras = self
                .run_hooks(
                    d,
                    opts.dry_run,
                    opts.user.as_deref(),
                    "",
                    HookWrite::Create(&mut obj),
                )
                .await?;
            let warnings = [warnings.clone(), extras.warnings.clone()].concat();
            if opts.dry_run {
                return Ok(Written {
                    object: to_bytes(&obj),
                    warnings,
                    created: true,
                });
            }
            if turns.is_empty() && !extras.serialize.is_empty() {
                turns = self.key_turns.take(&extras.serialize).await;
            }
            let main = Op::Put {
                key: key.clone(),
                value: convert::storage(&self.store, d, &obj).await?,
            };
            let txn = with_extras((key.clone(), Compare::Absent), main, &extras);
            match self.store.txn(txn).await? {
                TxnOutcome::Applied { values, .. } => {
                    return Ok(Written {
                        object: convert::served(&self.store, d, stored_value(values)?).await?,
                        warnings,
                        created: true,
                    })
                }
                TxnOutcome::Failed {
                    failed_compare: 0, ..
                } => return Err(ApiError::already_exists(&d.group, &d.plural, &name)),
                TxnOutcome::Failed { failed_compare, .. } => {
                    extras.retry_or_fail(failed_compare)?;
                    super::hooks::contention_pause().await;
                }
            }
        }
        Err(too_many_retries(d, &name))
    }

    /// The namespace an object goes into: the URL's, which the body may repeat but not contradict.
    fn resolve_namespace(
        &self,
        d: &ResourceDescriptor,
        ns: Option<&str>,
        obj: &Value,
    ) -> ApiResult<Option<String>> {
        if !d.namespaced {
            return Ok(None);
        }
        let url_ns = ns.ok_or_else(|| {
            ApiError::bad_request("a namespace is required for a namespaced resource")
        })?;
        match meta::meta_str(obj, "namespace") {
            Some(body_ns) if !body_ns.is_empty() && body_ns != url_ns => Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            )),
            _ => Ok(Some(url_ns.to_string())),
        }
    }

    /// Replaces an object (PUT), or the part of it `part` addresses.
    pub async fn update(
        &self,
        d: &ResourceDescriptor,
        ns: Option<&str>,
        name: &str,
        part: Part,
        body: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        let (mut body, warnings) = admit_body(d, body, opts).map_err(|e| decode_error(d, e))?;
        meta::drop_null_metadata(&mut body);
        let body_name = meta::name(&body);
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        self.resolve_namespace(d, ns, &body)?;
        let precondition = meta::parse_rv(meta::meta_str(&body, "resourceVersion"))
            .map_err(ApiError::bad_request)?;
        let mutate: Mutation = Box::new(move |_current: &Value| Ok(body.clone()));
        let mut written = self
            .guaranteed_update(d, ns, name, part, precondition, mutate, opts)
            .await?;
        written.warnings.extend(warnings);
        Ok(written)
    }

    /// The optimistic-concurrency loop every update and patch goes through: read, mutate, prepare,
    /// write if unchanged since the read; retry on a lost race unless the client named a version.
    #[allow(clippy::too_many_arguments)]
    pub async fn guaranteed_update(
        &self,
        d: &ResourceDescriptor,
        ns: Option<&str>,
        name: &str,
        part: Part,
        precondition: Option<u64>,
        mutate: Mutation<'_>,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        let key = d.key(ns, name);
        for _ in 0..MAX_HOOK_RETRIES {
            let current_kv = self.get(d, ns, name).await?;
            if precondition.is_some_and(|rv| rv != current_kv.mod_revision) {
                return Err(ApiError::conflict(
                    &d.group,
                    &d.plural,
                    name,
                    ApiError::MODIFIED,
                ));
            }
            let current = parse(&current_kv)?;
            let proposed = mutate(&current)?;
            let (proposed, warnings) = admit_body(d, proposed, opts)?;
            let mut new = self.prepare_update(d, proposed, &current, part)?;
            if !opts.apply {
                record_update(
                    d,
                    Some(&current),
                    &mut new,
                    &opts.update_manager(),
                    super::patch::subresource_name(part),
                );
            }
            let unchanged = same_but_rv(&new, &current);
            if unchanged {
                return Ok(Written {
                    object: current_kv.value,
                    warnings,
                    created: false,
                });
            }
            let finished = new.pointer("/metadata/deletionTimestamp").is_some()
                && !meta::has_finalizers(&new)
                && !d.strategy.blocks_deletion(&new);
            let write = if finished {
                HookWrite::Delete(&new)
            } else {
                HookWrite::Update(&current, &mut new)
            };
            let extras = self
                .run_hooks(
                    d,
                    opts.dry_run,
                    opts.user.as_deref(),
                    super::patch::subresource_name(part),
                    write,
                )
                .await?;
            let warnings = [warnings, extras.warnings.clone()].concat();
            if opts.dry_run {
                return Ok(Written {
                    object: to_bytes(&new),
                    warnings,
                    created: false,
                });
            }
            let op = if finished {
                Op::Delete { key: key.clone() }
            } else {
                Op::Put {
                    key: key.clone(),
                    value: convert::storage(&self.store, d, &new).await?,
                }
            };
            let main = (key.clone(), Compare::ModRevision(current_kv.mod_revision));
            match self.store.txn(with_extras(main, op, &extras)).await? {
                TxnOutcome::Applied { values, .. } => {
                    return Ok(Written {
                        object: convert::served(&self.store, d, stored_value(values)?).await?,
                        warnings,
                        created: false,
                    })
                }
                TxnOutcome::Failed {
                    failed_compare: 0,
                    current: None,
                } => return Err(ApiError::not_found(&d.group, &d.plural, name)),
                TxnOutcome::Failed {
                    failed_compare: 0, ..
                } if precondition.is_some() => {
                    return Err(ApiError::conflict(
                        &d.group,
                        &d.plural,
                        name,
                        ApiError::MODIFIED,
                    ))
                }
                TxnOutcome::Failed {
                    failed_compare: 0, ..
                } => continue,
                TxnOutcome::Failed { failed_compare, .. } => {
                    extras.retry_or_fail(failed_compare)?;
                    super::hooks::contention_pause().await;
                }
            }
        }
        Err(too_many_retries(d, name))
    }

    /// Merges a proposed object with the stored one per `part`, keeps server-owned metadata,
    /// defaults, bumps generation, and validates.
    fn prepare_update(
        &self,
        d: &ResourceDescriptor,
        proposed: Value,
        current: &Value,
        part: Part,
    ) -> ApiResult<Value> {
        let mut new = match part {
            Part::Main | Part::Scale => {
                let mut new = proposed;
                if d.status_subresource {
                    copy_field(&mut new, current, "status");
                }
                if d.subresource(EPHEMERAL_CONTAINERS).is_some() {
                    copy_spec_field(&mut new, current, "ephemeralContainers");
                }
                new
            }
            Part::EphemeralContainers => {
                let mut new = current.clone();
                copy_spec_field(&mut new, &proposed, "ephemeralContainers");
                if let Some(fields) = proposed.pointer("/metadata/managedFields") {
                    meta::metadata_mut(&mut new).insert("managedFields".into(), fields.clone());
                }
                new
            }
            Part::Resize => {
                let mut new = super::resize::prepare(current, &proposed);
                if let Some(fields) = proposed.pointer("/metadata/managedFields") {
                    meta::metadata_mut(&mut new).insert("managedFields".into(), fields.clone());
                }
                new
            }
            Part::Status => {
                let mut new = current.clone();
                copy_field(&mut new, &proposed, "status");
                copy_labels_and_annotations(&mut new, &proposed);
                // Server-side apply through /status computed the new managedFields.
                if let Some(fields) = proposed.pointer("/metadata/managedFields") {
                    meta::metadata_mut(&mut new).insert("managedFields".into(), fields.clone());
                }
                new
            }
            Part::Approval => {
                let mut new = current.clone();
                copy_labels_and_annotations(&mut new, &proposed);
                let conditions = proposed.pointer("/status/conditions").cloned();
                let status = new
                    .as_object_mut()
                    .map(|o| o.entry("status").or_insert(json!({})));
                if let (Some(Value::Object(status)), Some(c)) = (status, conditions) {
                    status.insert("conditions".into(), c);
                }
                new
            }
            Part::Finalize => {
                let mut new = current.clone();
                let finalizers = proposed
                    .pointer("/spec/finalizers")
                    .cloned()
                    .unwrap_or_else(|| json!([]));
                if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.insert("finalizers".into(), finalizers);
                }
                new
            }
        };
        meta::drop_null_metadata(&mut new);
        meta::keep_server_owned(&mut new, current);
        if let Some(ns) = meta::meta_str(current, "namespace").map(str::to_string) {
            meta::metadata_mut(&mut new).insert("namespace".into(), json!(ns));
        }
        meta::metadata_mut(&mut new).remove("resourceVersion");
        d.strategy.default(&mut new);
        if d.strategy.tracks_generation()
            && matches!(
                part,
                Part::Main | Part::Scale | Part::Resize | Part::EphemeralContainers
            )
            && d.strategy.generation_changed(&new, current)
        {
            let generation = current
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            meta::metadata_mut(&mut new).insert("generation".into(), json!(generation + 1));
        }
        // Once deletion has begun, finalizers may only be removed, never added.
        if current.pointer("/metadata/deletionTimestamp").is_some() {
            let old: Vec<&Value> = current
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            let added = new
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|list| list.iter().any(|f| !old.contains(&f)));
            if added {
                return Err(ApiError::invalid(&d.group, &d.kind, meta::name(current), vec![crate::status::Cause {
                    reason: "FieldValueForbidden".into(),
                    message: "Forbidden: no new finalizers can be added if the object is being deleted".into(),
                    field: "metadata.finalizers".into(),
                }]));
            }
        }
        let endpoint_errors =
            d.strategy
                .validate_update(&new, current, super::patch::subresource_name(part));
        validate_with(d, &new, Some(current), endpoint_errors)?;
        if let Some(rv) = current.pointer("/metadata/resourceVersion").cloned() {
            meta::metadata_mut(&mut new).insert("resourceVersion".into(), rv);
        }
        Ok(new)
    }

    /// Deletes an object, gracefully or through finalizers when those apply.
    pub async fn delete(
        &self,
        d: &ResourceDescriptor,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<Deleted> {
        self.delete_with(d, ns, name, opts, &TxnExtras::default())
            .await
    }

    /// [`Registry::delete`] with `pre` committed in the same transaction (eviction charges a
    /// disruption budget this way).
    pub(crate) async fn delete_with(
        &self,
        d: &ResourceDescriptor,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
        pre: &TxnExtras,
    ) -> ApiResult<Deleted> {
        let key = d.key(ns, name);
        for _ in 0..MAX_HOOK_RETRIES {
            let kv = self.get(d, ns, name).await?;
            let mut obj = parse(&kv)?;
            let current = obj.clone();
            if let Some(uid) = &opts.precondition_uid {
                let actual = meta::meta_str(&obj, "uid").unwrap_or("");
                if uid != actual {
                    return Err(ApiError::conflict(&d.group, &d.plural, name, &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                    )));
                }
            }
            if let Some(rv) = &opts.precondition_rv {
                let actual = kv.mod_revision.to_string();
                if rv != &actual {
                    return Err(ApiError::conflict(&d.group, &d.plural, name, &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"
                    )));
                }
            }
            let already_deleting = obj.pointer("/metadata/deletionTimestamp").is_some();
            let mut finalizers_added = false;
            if !already_deleting {
                let policy = match opts.propagation_policy.as_deref() {
                    Some("Orphan") => Some("orphan"),
                    Some("Foreground") => Some("foregroundDeletion"),
                    _ => None,
                };
                for f in policy.into_iter().chain(d.strategy.delete_finalizer()) {
                    let list = meta::metadata_mut(&mut obj)
                        .entry("finalizers")
                        .or_insert_with(|| json!([]));
                    if let Some(arr) = list.as_array_mut() {
                        if !arr.iter().any(|x| x == f) {
                            arr.push(json!(f));
                            finalizers_added = true;
                        }
                    }
                }
            }
            let grace = d
                .strategy
                .graceful_delete_seconds(&obj, opts.grace_period_seconds);
            let blocked = meta::has_finalizers(&obj) || d.strategy.blocks_deletion(&obj);
            if already_deleting && !finalizers_added {
                // Deletion already under way: a shorter grace period may still shorten it.
                if blocked || grace.is_some() {
                    return Ok(Deleted::Pending(kv.value));
                }
            }
            let op = if blocked || grace.is_some() {
                let m = meta::metadata_mut(&mut obj);
                if !already_deleting {
                    let seconds = grace.unwrap_or(0);
                    m.insert("deletionTimestamp".into(), json!(meta::rfc3339_in(seconds)));
                    m.insert("deletionGracePeriodSeconds".into(), json!(seconds));
                    // Deletion changes what the object's controllers must do, so upstream
                    // counts it as a new generation (where generations are tracked).
                    if let Some(generation) = m.get("generation").and_then(Value::as_i64) {
                        if generation > 0 {
                            m.insert("generation".into(), json!(generation + 1));
                        }
                    }
                }
                m.remove("resourceVersion");
                d.strategy.on_delete(&mut obj);
                // The value is encoded below, once the hooks have run.
                Op::Put {
                    key: key.clone(),
                    value: Vec::new(),
                }
            } else {
                Op::Delete { key: key.clone() }
            };
            let pending = matches!(op, Op::Put { .. });
            let write = if pending {
                HookWrite::Update(&current, &mut obj)
            } else {
                HookWrite::Delete(&current)
            };
            let mut extras = pre.clone();
            extras.append(self.run_hooks(d, opts.dry_run, None, "", write).await?);
            if opts.dry_run {
                return Ok(if pending {
                    Deleted::Pending(to_bytes(&obj))
                } else {
                    Deleted::Gone(kv.value)
                });
            }
            let op = match op {
                // A hook may have changed the object whose deletion begins.
                Op::Put { key, .. } => Op::Put {
                    key,
                    value: convert::storage(&self.store, d, &obj).await?,
                },
                delete => delete,
            };
            let main = (key.clone(), Compare::ModRevision(kv.mod_revision));
            match self.store.txn(with_extras(main, op, &extras)).await? {
                TxnOutcome::Applied { values, .. } => {
                    let value = convert::served(&self.store, d, stored_value(values)?).await?;
                    return Ok(if pending {
                        Deleted::Pending(value)
                    } else {
                        Deleted::Gone(value)
                    });
                }
                TxnOutcome::Failed {
                    failed_compare: 0,
                    current: None,
                } => return Err(ApiError::not_found(&d.group, &d.plural, name)),
                TxnOutcome::Failed {
                    failed_compare: 0, ..
                } => continue,
                TxnOutcome::Failed { failed_compare, .. } => {
                    extras.retry_or_fail(failed_compare)?;
                    super::hooks::contention_pause().await;
                }
            }
        }
        Err(too_many_retries(d, name))
    }
}

/// The transaction of one write: the object's own compare and op first (so its stored value
/// is the first of the outcome's values), then what the kind's hooks added.
pub(crate) fn with_extras(main: (String, Compare), op: Op, extras: &TxnExtras) -> Txn {
    let mut compares = vec![main];
    compares.extend(
        extras
            .compares
            .iter()
            .map(|(k, c, _)| (k.clone(), c.clone())),
    );
    let mut ops = vec![op];
    ops.extend(extras.ops.iter().cloned());
    Txn { compares, ops }
}

fn stored_value(values: Vec<Option<KeyValue>>) -> ApiResult<Bytes> {
    values
        .into_iter()
        .next()
        .flatten()
        .map(|kv| kv.value)
        .ok_or_else(|| ApiError::internal("the store applied a write but returned no value"))
}

/// The pods subresource that alone writes `spec.ephemeralContainers`.
pub const EPHEMERAL_CONTAINERS: &str = "ephemeralcontainers";

/// [`copy_field`] under `spec` (nothing when `to` has no spec object).
fn copy_spec_field(to: &mut Value, from: &Value, field: &str) {
    let empty = Value::Null;
    let from_spec = from.get("spec").unwrap_or(&empty);
    if let Some(spec) = to.get_mut("spec").filter(|s| s.is_object()) {
        copy_field(spec, from_spec, field);
    }
}

/// Upstream's status strategies reset the spec, not the metadata: a write through `/status` (or
/// a CSR's `/approval`) may change labels and annotations too.
fn copy_labels_and_annotations(to: &mut Value, from: &Value) {
    let Some(from) = from.get("metadata") else {
        return;
    };
    let to = meta::metadata_mut(to);
    for field in ["labels", "annotations"] {
        match from.get(field) {
            Some(v) => {
                to.insert(field.to_string(), v.clone());
            }
            None => {
                to.remove(field);
            }
        }
    }
}

fn copy_field(to: &mut Value, from: &Value, field: &str) {
    if let Some(map) = to.as_object_mut() {
        match from.get(field) {
            Some(v) => {
                map.insert(field.to_string(), v.clone());
            }
            None => {
                map.remove(field);
            }
        }
    }
}

/// Upstream's `transformDecodeError` for create and update bodies: a strict decoding failure is
/// reported as the kind that could not be handled (patches report it their own way).
fn decode_error(d: &ResourceDescriptor, e: ApiError) -> ApiError {
    if e.code == 400 && e.message.starts_with("strict decoding error") {
        ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {}",
            d.kind, d.version, d.kind, e.message
        ))
    } else {
        e
    }
}

/// Records an `Update` managedFields entry for `manager` writing through `subresource`.
fn record_update(
    d: &ResourceDescriptor,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: &str,
) {
    ferrokube_merge::record_update(
        old,
        new,
        ferrokube_merge::Manager::of(manager, subresource),
        "Update",
        super::patch::merge_keys_of(d),
        &meta::now_rfc3339(),
    );
}

/// Whether two objects are equal apart from `metadata.resourceVersion` (a no-op write).
fn same_but_rv(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    equal_except(a, b, "metadata")
        && match (a.get("metadata"), b.get("metadata")) {
            (Some(Value::Object(x)), Some(Value::Object(y))) => {
                equal_except(x, y, "resourceVersion")
            }
            (x, y) => x == y,
        }
}

/// Whether two maps hold the same entries apart from `skip` (without copying either).
fn equal_except(
    a: &serde_json::Map<String, Value>,
    b: &serde_json::Map<String, Value>,
    skip: &str,
) -> bool {
    let len = |m: &serde_json::Map<String, Value>| m.len() - usize::from(m.contains_key(skip));
    len(a) == len(b) && a.iter().all(|(k, v)| k == skip || b.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_terminating_reads_only_the_deletion_timestamp() {
        let live =
            br#"{"metadata":{"name":"a","labels":{"x":"y"}},"spec":{"finalizers":["kubernetes"]}}"#;
        let going = br#"{"metadata":{"name":"a","deletionTimestamp":"2026-01-01T00:00:00Z"}}"#;
        assert!(!namespace_terminating(live).unwrap());
        assert!(namespace_terminating(going).unwrap());
        assert!(namespace_terminating(b"nope").is_err());
    }

    #[test]
    fn no_op_writes_ignore_only_the_resource_version() {
        let a = json!({"kind": "Pod", "metadata": {"name": "p", "resourceVersion": "3"}, "spec": {"x": 1}});
        let b = json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": 1}});
        assert!(same_but_rv(&a, &b) && same_but_rv(&b, &a));
        let c = json!({"kind": "Pod", "metadata": {"name": "p", "resourceVersion": "3"}, "spec": {"x": 2}});
        assert!(!same_but_rv(&a, &c));
        let d = json!({"kind": "Pod", "metadata": {"name": "q", "resourceVersion": "3"}, "spec": {"x": 1}});
        assert!(!same_but_rv(&a, &d));
        let e = json!({"kind": "Pod", "metadata": {"name": "p", "uid": "u"}, "spec": {"x": 1}});
        assert!(!same_but_rv(&a, &e), "an added metadata field is a change");
        let f = json!({"kind": "Pod", "spec": {"x": 1}, "status": {}});
        assert!(!same_but_rv(&b, &f));
    }
}
