//! OpenAPI v2 and v3 documents for ferrokube's served kinds, generated from k8s-openapi's
//! schemars schemas and served the way kube-apiserver (kube-openapi) serves them.
//!
//! kubectl depends on these: `create`/`replace`/`apply -f` look up whether each kind's PATCH
//! operation declares `fieldValidation` (v3, falling back to v2 protobuf) and `explain` renders
//! the v3 schemas.
//!
//! - [`ApiKind`] describes one served kind; [`ApiKind::of`] builds it from a k8s-openapi type.
//! - [`generate`] turns a table of kinds into [`Documents`]: a swagger 2.0 document and one v3
//!   document per group-version (`api/v1`, `apis/apps/v1`, ...), each with upstream definition
//!   names (`io.k8s.api.core.v1.Pod`), `x-kubernetes-group-version-kind` on kinds and operations,
//!   `x-kubernetes-action`, and every verb's real query parameters. Output is key-sorted, so it is
//!   byte-stable and can be committed.
//! - [`Documents::write_to`] / [`Documents::load_from`] keep them as `swagger.json` and
//!   `v3/<gv>_openapi.json`; [`Documents::from_json`] builds them from bytes.
//! - [`router`] serves `GET /openapi/v2` (JSON or gnostic protobuf), `/openapi/v3` (the root
//!   with `?hash=` URLs) and `/openapi/v3/{gv}` (ETag, immutable caching when the hash matches,
//!   301 on a stale hash, 404 on an unknown group-version, 406 on an unservable Accept).

#![deny(missing_docs)]

mod documents;
mod error;
mod gzip;
mod kind;
mod params;
mod paths;
mod router;
mod schema;
mod v2proto;

pub use documents::{generate, Document, Documents};
pub use error::OpenApiError;
pub use kind::{
    group_version_path, list_schema_of, ApiKind, SchemaFn, Subresource, SubresourceShape,
};
pub use router::{router, V2_PROTOBUF, V2_PROTOBUF_ALT};
pub use schema::new_generator;
pub use v2proto::encode_v2;

#[cfg(test)]
mod tests;
