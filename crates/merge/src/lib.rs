//! Strategic merge patch and server-side apply for Kubernetes objects, over `serde_json::Value`.
//!
//! * [`MergeKeyTable`] — list/map semantics of every field of every built-in kind (patch
//!   strategy, patch merge key, list type, list-map keys, atomic maps/structs). The data in
//!   `src/schema_data.rs` is generated from upstream OpenAPI definitions; regenerate with
//!   ```text
//!   pip download kubernetes-validate==1.37.0 --no-deps -d /tmp/kv && cd /tmp/kv && unzip -q *.whl
//!   cargo run -p ferrokube-merge --example gen_merge_keys -- \
//!     /tmp/kv/kubernetes_validate/kubernetes-json-schema/v1.33.0-local/_definitions.json \
//!     > crates/merge/src/schema_data.rs
//!   ```
//!   (an upstream `api/openapi-spec/swagger.json` works as input too).
//! * [`strategic_merge_patch`] — `application/strategic-merge-patch+json`, including the
//!   `$patch`, `$retainKeys`, `$deleteFromPrimitiveList/` and `$setElementOrder/` directives
//!   kubectl sends. Unknown kinds (`Ty::Scalar` root) behave like JSON merge patch.
//! * [`apply`] — server-side apply with managed fields, conflicts ([`ApplyError::Conflicts`])
//!   and `force`; [`record_update`] — managed-fields bookkeeping for create/update/patch.
//! * [`FieldSet`], [`PathElement`] — the `FieldsV1` encoding.
//!
//! ```
//! use ferrokube_merge::{strategic_merge_patch, MergeKeyTable};
//! use serde_json::json;
//! let table = MergeKeyTable::builtin();
//! let live = json!({"spec": {"containers": [{"name": "a", "image": "a:1"}]}});
//! let patch = json!({"spec": {"containers": [{"name": "a", "image": "a:2"}]}});
//! let out = strategic_merge_patch(&live, &patch, &table, table.root("v1", "Pod")).unwrap();
//! assert_eq!(out["spec"]["containers"][0]["image"], "a:2");
//! ```

#![warn(missing_docs)]

mod apply;
mod custom;
mod error;
mod fieldpath;
mod schema;
#[rustfmt::skip]
mod schema_data;
mod smp;
mod typed;
mod typed_path;

pub use apply::{apply, managed_fields, record_update, ManagedFieldsEntry, Manager};
pub use error::{ApplyError, Conflict, MergeError};
pub use fieldpath::{path_string, FieldSet, PathElement};
pub use schema::{
    split_api_version, FieldDef, FieldInfo, KindDef, ListDef, ListKind, MapDef, MergeKeyTable,
    PatchStrategy, StructDef, Ty,
};
pub use smp::strategic_merge_patch;
pub use typed_path::typed_path;
