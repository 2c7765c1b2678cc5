//! Storage hooks: per-kind work done inside the store transaction of each write, like
//! upstream's `BeginCreate`/`BeginUpdate`/`AfterDelete` decorators of a kind's storage (the
//! Service ClusterIP and NodePort allocators, later admission or quota).
//!
//! A hook runs after the object was defaulted, prepared and validated, just before the write is
//! committed. It may
//! - **mutate the object** about to be written (fill `spec.clusterIP`), and
//! - **add compares and ops to the same transaction** ([`TxnExtras`]): for example put
//!   `/networking.k8s.io/ipaddresses/_/10.96.0.10` guarded by [`Compare::Absent`], and delete it
//!   again when the Service is deleted. The object's own write and the extras commit atomically
//!   at one revision, or not at all.
//!
//! When an extra compare does not hold, the write is not committed and the compare's
//! [`OnFail`] decides: [`OnFail::Retry`] re-reads the object and runs the whole write (hooks
//! included) again, so an allocator that lost a race picks another value;
//! [`OnFail::Fail`] answers the client with the given error (upstream-shaped 422 Invalid or
//! 409 Conflict, built with [`crate::status::ApiError`]'s constructors). A hook may also return
//! an error itself, for example after reading the store and seeing the requested IP is taken.
//!
//! Hooks run on dry-run writes too (so a dry run reports what would be allocated and refuses
//! what would be refused); nothing they add is committed then. They must have no effects
//! outside the transaction.
//!
//! Install a hook on a kind at server start with [`crate::registry::Registry::add_hook`]
//! (`registry.add_hook("", "Service", Arc::new(ClusterIpAllocator::new(...)))`); hooks of one kind
//! run in the order they were added.
//!
//! ```ignore
//! struct ClusterIps { cidr: Ipv4Net }
//! impl StorageHooks for ClusterIps {
//!     fn before_create<'a>(&'a self, ctx: &'a HookContext<'_>, obj: &'a mut Value,
//!                          txn: &'a mut TxnExtras) -> BoxFuture<'a, ApiResult<()>> {
//!         Box::pin(async move {
//!             let ip = self.pick_free(ctx.registry).await?;       // reads the store
//!             obj["spec"]["clusterIP"] = json!(ip);
//!             let key = format!("/networking.k8s.io/ipaddresses/_/{ip}");
//!             txn.require(&key, Compare::Absent, OnFail::Retry);
//!             txn.put(&key, &ip_address_object(&ip, obj));
//!             Ok(())
//!         })
//!     }
//!     fn before_delete<'a>(&'a self, _ctx: &'a HookContext<'_>, obj: &'a Value,
//!                          txn: &'a mut TxnExtras) -> BoxFuture<'a, ApiResult<()>> {
//!         Box::pin(async move {
//!             if let Some(ip) = obj.pointer("/spec/clusterIP").and_then(Value::as_str) {
//!                 txn.delete(&format!("/networking.k8s.io/ipaddresses/_/{ip}"));
//!             }
//!             Ok(())
//!         })
//!     }
//! }
//! ```

use ferrokube_store::{Compare, Op};
use futures::future::BoxFuture;
use serde_json::Value;

use super::{Registry, ResourceDescriptor};
use crate::status::{ApiError, ApiResult};

/// What a write's hooks see besides the object.
pub struct HookContext<'a> {
    /// The registry: read the store (`registry.store`) or other kinds through it.
    pub registry: &'a Registry,
    /// The kind being written.
    pub descriptor: &'a ResourceDescriptor,
    /// `dryRun=All`: the transaction will not be committed.
    pub dry_run: bool,
    /// Who asked for the write; None for the server's own writes.
    pub user: Option<&'a ferrokube_auth::UserInfo>,
    /// The subresource written (`status`, `scale`, `binding`...), empty for the object itself.
    pub subresource: &'static str,
}

/// What to do when an extra compare does not hold.
#[derive(Clone, Debug)]
pub enum OnFail {
    /// Run the whole write again from a fresh read (hooks included): someone else changed the
    /// key in between (an allocator lost a race for a value).
    Retry,
    /// Answer the client with this error (nothing is written).
    Fail(ApiError),
}

/// Compares and ops hooks add to a write's transaction (the object's own compare and write
/// come first; these follow in the order added), and the warnings they have for the client
/// (admission's `Warning` headers, e.g. Pod Security's `would violate …`).
#[derive(Clone, Debug, Default)]
pub struct TxnExtras {
    pub(crate) compares: Vec<(String, Compare, OnFail)>,
    pub(crate) ops: Vec<Op>,
    pub(crate) warnings: Vec<String>,
    /// Keys whose writers take turns (see [`TxnExtras::serialize_on`]).
    pub(crate) serialize: Vec<String>,
}

impl TxnExtras {
    /// Requires `compare` to hold on `key` for the write to commit.
    pub fn require(&mut self, key: &str, compare: Compare, on_fail: OnFail) {
        self.compares.push((key.to_string(), compare, on_fail));
    }

    /// Writes `value` (a JSON object) at `key` with the object.
    pub fn put(&mut self, key: &str, value: &Value) {
        self.ops.push(Op::Put {
            key: key.to_string(),
            value: serde_json::to_vec(value).unwrap_or_default(),
        });
    }

    /// Writes already-encoded `value` at `key` with the object.
    pub fn put_bytes(&mut self, key: &str, value: Vec<u8>) {
        self.ops.push(Op::Put {
            key: key.to_string(),
            value,
        });
    }

    /// Deletes `key` with the object (a missing key is not an error).
    pub fn delete(&mut self, key: &str) {
        self.ops.push(Op::Delete {
            key: key.to_string(),
        });
    }

    /// Makes writes that charge `key` take turns in this server: a key every write of a
    /// namespace compares (a quota) would otherwise make N concurrent writers need about N
    /// attempts each. The write's commit (and, after losing a race, its re-run) happens while
    /// holding the key's turn, as upstream's quota evaluator serialises per namespace.
    pub fn serialize_on(&mut self, key: &str) {
        self.serialize.push(key.to_string());
    }

    /// Adds a warning for the client (sent whether or not the write is a dry run).
    pub fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }

    /// Adds another set of compares and ops after these (their failure indexes shift along).
    pub fn append(&mut self, other: TxnExtras) {
        self.compares.extend(other.compares);
        self.ops.extend(other.ops);
        self.warnings.extend(other.warnings);
        self.serialize.extend(other.serialize);
    }

    /// Whether the hooks added nothing.
    pub fn is_empty(&self) -> bool {
        self.compares.is_empty() && self.ops.is_empty()
    }

    /// After extra compare number `index` failed: Ok when the write should be retried from a
    /// fresh read, else the error to answer with.
    pub(crate) fn retry_or_fail(&self, index: usize) -> ApiResult<()> {
        match self.on_fail(index) {
            OnFail::Retry => Ok(()),
            OnFail::Fail(err) => Err(err),
        }
    }

    /// What to do when compare number `index` of the whole transaction failed (the object's own
    /// compare is number 0, so `index` ≥ 1 names an extra one).
    pub(crate) fn on_fail(&self, index: usize) -> OnFail {
        self.compares
            .get(index.wrapping_sub(1))
            .map(|(_, _, on_fail)| on_fail.clone())
            .unwrap_or(OnFail::Retry)
    }
}

/// Per-kind hooks into the write path's store transaction (see the module docs). Every method
/// has a no-op default; implement the ones a kind needs.
pub trait StorageHooks: Send + Sync {
    /// Before a new object is stored: mutate it, add to the transaction, or refuse.
    fn before_create<'a>(
        &'a self,
        _ctx: &'a HookContext<'_>,
        _obj: &'a mut Value,
        _txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Before an existing object is replaced by `new` (updates, patches, status and scale
    /// writes, deletion starting under finalizers or a grace period, binding).
    fn before_update<'a>(
        &'a self,
        _ctx: &'a HookContext<'_>,
        _old: &'a Value,
        _new: &'a mut Value,
        _txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Before an object is removed from storage for good (not when its deletion merely begins:
    /// that is an update setting `deletionTimestamp`).
    fn before_delete<'a>(
        &'a self,
        _ctx: &'a HookContext<'_>,
        _obj: &'a Value,
        _txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Before a stream to a connect subresource (`pods/exec`, `attach`, `portforward`) opens:
    /// `options` is what the client asked for (`PodExecOptions`...; its `metadata` names the
    /// object). Nothing is written, so the transaction is never committed.
    fn before_connect<'a>(
        &'a self,
        _ctx: &'a HookContext<'_>,
        _options: &'a mut Value,
        _txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// Admission that sees every write as upstream's admission attributes describe it: an
/// operation (`CREATE`, `UPDATE`, `DELETE`) with the new object (mutable, for mutating
/// admission) and the old one (webhooks, admission policies). [`ByOperation`] runs it as hooks.
pub trait OperationAdmission: Send + Sync {
    fn admit<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        operation: &'static str,
        new: Option<&'a mut Value>,
        old: Option<&'a Value>,
        txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>>;
}

/// An [`OperationAdmission`] installed as storage hooks.
pub struct ByOperation<T>(pub std::sync::Arc<T>);

impl<T: OperationAdmission> StorageHooks for ByOperation<T> {
    fn before_create<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        obj: &'a mut Value,
        txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        self.0.admit(ctx, "CREATE", Some(obj), None, txn)
    }

    fn before_update<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        old: &'a Value,
        new: &'a mut Value,
        txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        self.0.admit(ctx, "UPDATE", Some(new), Some(old), txn)
    }

    fn before_delete<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        obj: &'a Value,
        txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        self.0.admit(ctx, "DELETE", None, Some(obj), txn)
    }

    fn before_connect<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        options: &'a mut Value,
        txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        self.0.admit(ctx, "CONNECT", Some(options), None, txn)
    }
}

/// Which write the hooks run for.
pub(crate) enum HookWrite<'a> {
    Create(&'a mut Value),
    Update(&'a Value, &'a mut Value),
    Delete(&'a Value),
}

/// How many times a write whose extra compares keep failing with [`OnFail::Retry`] is retried
/// before the client gets a conflict.
pub(crate) const MAX_HOOK_RETRIES: usize = 64;

/// A short random pause before retrying a write that lost a race on a hook's key, so
/// retries do not collide in lockstep.
pub(crate) async fn contention_pause() {
    use rand::Rng;
    let micros = rand::rng().random_range(0..1000);
    tokio::time::sleep(std::time::Duration::from_micros(micros)).await;
}

/// Per-key turns for [`TxnExtras::serialize_on`].
#[derive(Default)]
pub(crate) struct KeyTurns(
    std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
);

impl KeyTurns {
    /// Waits for the turn of every key (in key order, so two writers never deadlock).
    pub(crate) async fn take(&self, keys: &[String]) -> Vec<tokio::sync::OwnedMutexGuard<()>> {
        let mut keys = keys.to_vec();
        keys.sort();
        keys.dedup();
        let locks: Vec<_> = {
            let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
            map.retain(|_, l| std::sync::Arc::strong_count(l) > 1);
            keys.iter()
                .map(|k| map.entry(k.clone()).or_default().clone())
                .collect()
        };
        let mut guards = Vec::with_capacity(locks.len());
        for lock in locks {
            guards.push(lock.lock_owned().await);
        }
        guards
    }
}

impl Registry {
    /// The kind's own hooks, then those installed on every kind.
    fn hooks_of(&self, d: &ResourceDescriptor) -> Vec<std::sync::Arc<dyn StorageHooks>> {
        let mut hooks = d.hooks();
        hooks.extend(self.hooks_for_every_kind());
        hooks
    }

    /// Runs the kind's hooks for one write and returns what they add to its transaction.
    pub(crate) async fn run_hooks(
        &self,
        d: &ResourceDescriptor,
        dry_run: bool,
        user: Option<&ferrokube_auth::UserInfo>,
        subresource: &'static str,
        write: HookWrite<'_>,
    ) -> ApiResult<TxnExtras> {
        let mut extras = TxnExtras::default();
        let hooks = self.hooks_of(d);
        if hooks.is_empty() {
            return Ok(extras);
        }
        let ctx = HookContext {
            registry: self,
            descriptor: d,
            dry_run,
            user,
            subresource,
        };
        match write {
            HookWrite::Create(obj) => {
                for h in &hooks {
                    h.before_create(&ctx, obj, &mut extras).await?;
                }
            }
            HookWrite::Update(old, new) => {
                for h in &hooks {
                    h.before_update(&ctx, old, new, &mut extras).await?;
                }
            }
            HookWrite::Delete(obj) => {
                for h in &hooks {
                    h.before_delete(&ctx, obj, &mut extras).await?;
                }
            }
        }
        Ok(extras)
    }
}

impl Registry {
    /// Admission of a connect request (upstream's `CONNECT` operation) to `subresource` of an
    /// object of `d`: the kind's hooks see the connect options and may refuse.
    pub async fn admit_connect(
        &self,
        d: &ResourceDescriptor,
        user: Option<&ferrokube_auth::UserInfo>,
        subresource: &'static str,
        options: &mut Value,
    ) -> ApiResult<()> {
        let hooks = self.hooks_of(d);
        let ctx = HookContext {
            registry: self,
            descriptor: d,
            dry_run: false,
            user,
            subresource,
        };
        let mut unused = TxnExtras::default();
        for h in &hooks {
            h.before_connect(&ctx, options, &mut unused).await?;
        }
        Ok(())
    }
}

/// The conflict a write answers when hook compares kept failing.
pub(crate) fn too_many_retries(d: &ResourceDescriptor, name: &str) -> ApiError {
    ApiError::conflict(
        &d.group,
        &d.plural,
        name,
        "the write's storage preconditions kept changing; please retry",
    )
}
