//! Errors of decoding and encoding.

/// Why a protobuf body could not be turned into JSON, or JSON into protobuf.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtoError {
    /// The body does not start with the `k8s\0` magic.
    #[error("missing the k8s protobuf envelope magic")]
    MissingMagic,
    /// The bytes end inside a value.
    #[error("truncated protobuf data")]
    Truncated,
    /// A varint longer than 10 bytes.
    #[error("malformed varint")]
    BadVarint,
    /// A wire type that protobuf does not define (or groups, which Kubernetes never uses).
    #[error("unsupported wire type {0}")]
    BadWireType(u64),
    /// A field arrived with a wire type that does not match its schema.
    #[error("field {field} of {message} has wire type {got}")]
    WireTypeMismatch {
        /// Proto message name.
        message: &'static str,
        /// Field number.
        field: u32,
        /// Wire type seen.
        got: u8,
    },
    /// A string field holds invalid UTF-8.
    #[error("invalid UTF-8 in a string field")]
    InvalidUtf8,
    /// Embedded JSON (RawExtension, FieldsV1, JSON) is not valid JSON.
    #[error("invalid embedded JSON: {0}")]
    InvalidEmbeddedJson(String),
    /// A timestamp outside the representable range.
    #[error("invalid timestamp")]
    InvalidTime,
    /// The envelope names a kind this crate has no schema for.
    #[error("unknown kind {kind} in {api_version}")]
    UnknownKind {
        /// apiVersion from the envelope or object.
        api_version: String,
        /// kind from the envelope or object.
        kind: String,
    },
    /// The envelope's contentEncoding or contentType is not one this crate reads.
    #[error("unsupported envelope content {0}")]
    UnsupportedContent(String),
    /// Messages nested deeper than the decoder allows.
    #[error("message nesting too deep")]
    TooDeep,
    /// A JSON value does not fit the field's type when encoding.
    #[error("{path}: {reason}")]
    InvalidJson {
        /// JSON path of the offending value.
        path: String,
        /// What was expected.
        reason: String,
    },
}
