//! Kubernetes protobuf bodies (`application/vnd.kubernetes.protobuf`) to and from JSON.
//!
//! kubectl 1.32+ sends the bodies of its generator commands (`kubectl create namespace`,
//! `create configmap`, `create deployment`, ...) as protobuf and never falls back to JSON. A body
//! is the 4 magic bytes `k8s\0` followed by a `runtime.Unknown` envelope
//! `{typeMeta{apiVersion = 1, kind = 2} = 1, raw = 2, contentEncoding = 3, contentType = 4}`
//! whose `raw` is the typed message (e.g. `k8s.io.api.core.v1.Namespace`).
//!
//! # API
//! - [`decode`]`(body) -> Result<serde_json::Value, ProtoError>`: a body to the object's
//!   Kubernetes JSON, exactly as the JSON API would carry it (`kind`/`apiVersion` from the
//!   envelope; JSON property names, `Time`/`MicroTime`/`Duration`/`Quantity`/`IntOrString`/
//!   `RawExtension`/`bytes` in their JSON forms; Go `omitempty` applied).
//! - [`encode`]`(&json) -> Result<Vec<u8>, ProtoError>`: the reverse, for responses to clients
//!   whose `Accept` prefers protobuf; covers object, `*List` and meta kinds (Status, options,
//!   discovery).
//! - [`is_known`]`(api_version, kind) -> bool`: whether a kind has a protobuf schema.
//! - [`PROTOBUF_CONTENT_TYPE`]: the media type.
//!
//! # The schema is generated
//! `src/schema_generated.rs` is written by `cargo run -p ferrokube-protobuf --example generate`.
//! It joins two authoritative sources: `k8s-pb` (prost code generated from upstream's
//! `generated.proto`: field numbers, wire types, nested message types, kinds) with `k8s-openapi`
//! (generated from upstream's OpenAPI: exact JSON names and which fields are required), matching
//! fields by their lowercased alphanumeric names. A table walked by one generic decoder was
//! chosen over converting k8s-pb's prost structs: it keeps ~1,250 prost types out of the server
//! binary (k8s-pb is only a dev-dependency: the tests' independent encoder), and the JSON
//! names, which prost loses, have to come from a table anyway.
//!
//! # Zero values
//! Go marshals every non-pointer field, so kubectl's bodies carry `generateName: ""`,
//! `generation: 0` and the like. Upstream decodes those into Go structs whose `omitempty` JSON
//! hides them; this crate does the same: a zero scalar is dropped unless the field is required
//! (no `omitempty`), or is numeric/bool and its documentation gives it a non-zero default or a
//! meaning for zero (the API conventions make such fields pointers, so `replicas: 0` and
//! `ttlSecondsAfterFinished: 0` survive). Go pointer-ness is in neither source, so this is a
//! documented heuristic; pointer fields explicitly set to `""`/`false` without such a doc hint
//! are dropped (kubectl's generators send none). An empty `Time` is Go's zero time: `null`.
//! Go structs embedded with `json:",inline"` (Volume's VolumeSource, Probe's ProbeHandler, ...)
//! are separate proto fields whose keys are merged into the parent object.

mod decode;
mod encode;
mod error;
mod gotime;
mod schema;
#[rustfmt::skip]
#[allow(clippy::all)]
mod schema_generated;
mod wire;

pub use error::ProtoError;

/// The media type of Kubernetes protobuf bodies.
pub const PROTOBUF_CONTENT_TYPE: &str = decode::PROTOBUF_CONTENT_TYPE;

/// Decodes a `k8s\0`-enveloped protobuf body into the object's Kubernetes JSON form
/// (apiVersion/kind filled from the envelope), for every built-in kind.
pub fn decode(body: &[u8]) -> Result<serde_json::Value, ProtoError> {
    decode::decode_body(body, 0)
}

/// Encodes a JSON object (with apiVersion/kind) into the `k8s\0` protobuf envelope.
pub fn encode(obj: &serde_json::Value) -> Result<Vec<u8>, ProtoError> {
    encode::encode_body(obj)
}

/// Whether `apiVersion`/`kind` has a protobuf schema (object, list and meta kinds).
pub fn is_known(api_version: &str, kind: &str) -> bool {
    schema::kind_message(api_version, kind).is_some()
}
