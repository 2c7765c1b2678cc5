//! The shape of the generated schema table and lookups into it.

use crate::schema_generated::{KINDS, MESSAGES, META_KINDS};

/// Scalar or message type of a field (the map value type for `Card::Map`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    /// `string`: a JSON string.
    Str,
    /// `bytes`: a base64 JSON string.
    Bytes,
    /// `bool`.
    Bool,
    /// `int32` (varint, sign-extended to 64 bits on the wire when negative).
    I32,
    /// `int64`.
    I64,
    /// `double` (fixed64).
    F64,
    /// An embedded message, by index into `MESSAGES`.
    Msg(u16),
}

/// How many values a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Card {
    /// One optional value.
    Single,
    /// A list (JSON array).
    Repeated,
    /// `map<string, ty>` (JSON object), entries are messages {key = 1, value = 2}.
    Map,
    /// A Go struct embedded with `json:",inline"`: its fields sit in the parent's JSON object.
    Inline,
}

/// Go types whose JSON form is hand-written upstream rather than a plain object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Special {
    /// An ordinary message: a JSON object of its fields.
    None,
    /// `metav1.Time`: RFC3339 seconds, `null` when zero.
    Time,
    /// `metav1.MicroTime`: RFC3339 with 6 fractional digits, `null` when zero.
    MicroTime,
    /// `metav1.Duration`: a Go duration string.
    Duration,
    /// `resource.Quantity`: its string.
    Quantity,
    /// `intstr.IntOrString`: a number or a string.
    IntOrString,
    /// Raw JSON bytes embedded as a JSON value (RawExtension, FieldsV1, apiextensions JSON).
    RawJson,
    /// A message wrapping `repeated string items = 1`, shown as a bare array (Verbs, ExtraValue).
    StringList,
    /// `JSONSchemaPropsOrArray`: a schema object or an array of schemas.
    SchemaOrArray,
    /// `JSONSchemaPropsOrBool`: a schema object or a bool.
    SchemaOrBool,
    /// `JSONSchemaPropsOrStringArray`: a schema object or an array of strings.
    SchemaOrStringArray,
}

/// One field of a message.
#[derive(Debug)]
pub(crate) struct Field {
    /// Protobuf field number.
    pub tag: u32,
    /// Kubernetes JSON property name.
    pub json: &'static str,
    /// Value type.
    pub ty: Ty,
    /// Cardinality.
    pub card: Card,
    /// Keep a zero scalar when decoding: the field is required upstream (no `omitempty`) or is a
    /// pointer whose zero differs from its default. Otherwise a zero is Go's "unset".
    pub keep_zero: bool,
}

/// One protobuf message type.
#[derive(Debug)]
pub(crate) struct Message {
    /// Fully qualified proto name, e.g. `k8s.io.api.core.v1.Namespace`.
    pub name: &'static str,
    /// Hand-written JSON form, if any.
    pub special: Special,
    /// Fields sorted by tag.
    pub fields: &'static [Field],
}

/// A top-level kind and the message that carries it.
#[derive(Debug)]
pub(crate) struct KindEntry {
    /// `apiVersion` (`*` for meta kinds that every group version carries).
    pub api_version: &'static str,
    /// `kind`.
    pub kind: &'static str,
    /// Index into `MESSAGES`.
    pub message: u16,
}

impl Message {
    /// Finds a field by its protobuf number.
    pub(crate) fn field_by_tag(&self, tag: u32) -> Option<&'static Field> {
        self.fields
            .binary_search_by_key(&tag, |f| f.tag)
            .ok()
            .map(|i| &self.fields[i])
    }

    /// Finds a field by its JSON name.
    #[cfg(test)]
    pub(crate) fn field_by_json(&self, json: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.json == json)
    }
}

/// The message at `index`; indexes come only from the generated table.
pub(crate) fn message(index: u16) -> &'static Message {
    &MESSAGES[usize::from(index)]
}

/// Kinds that went GA after the k8s-pb release the table is generated from, with the version
/// whose message they kept unchanged on the wire (upstream copies the beta proto to v1, field
/// numbers included): `admissionregistration.k8s.io/v1` MutatingAdmissionPolicy (v1.36).
const PROMOTED: &[(&str, &str, &str)] = &[
    (
        "admissionregistration.k8s.io/v1",
        "MutatingAdmissionPolicy",
        "admissionregistration.k8s.io/v1beta1",
    ),
    (
        "admissionregistration.k8s.io/v1",
        "MutatingAdmissionPolicyList",
        "admissionregistration.k8s.io/v1beta1",
    ),
    (
        "admissionregistration.k8s.io/v1",
        "MutatingAdmissionPolicyBinding",
        "admissionregistration.k8s.io/v1beta1",
    ),
    (
        "admissionregistration.k8s.io/v1",
        "MutatingAdmissionPolicyBindingList",
        "admissionregistration.k8s.io/v1beta1",
    ),
];

fn listed_kind(api_version: &str, kind: &str) -> Option<u16> {
    KINDS
        .binary_search_by(|k| (k.api_version, k.kind).cmp(&(api_version, kind)))
        .ok()
        .map(|i| KINDS[i].message)
}

/// The message index carrying `apiVersion`/`kind`, if protobuf knows that kind.
pub(crate) fn kind_message(api_version: &str, kind: &str) -> Option<u16> {
    listed_kind(api_version, kind)
        .or_else(|| {
            let (_, _, from) = PROMOTED
                .iter()
                .find(|(v, k, _)| *v == api_version && *k == kind)?;
            listed_kind(from, kind)
        })
        .or_else(|| {
            // Status, options and discovery kinds are registered in every group version.
            let group_version_known = api_version == "meta.k8s.io/v1"
                || KINDS.iter().any(|k| k.api_version == api_version);
            META_KINDS
                .iter()
                .find(|k| group_version_known && k.kind == kind)
                .map(|k| k.message)
        })
}

/// The index of a message by its fully qualified proto name.
#[cfg(test)]
pub(crate) fn message_by_name(name: &str) -> Option<u16> {
    MESSAGES
        .iter()
        .position(|m| m.name == name)
        .and_then(|i| u16::try_from(i).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promoted_kinds_use_their_beta_message() {
        let beta = kind_message(
            "admissionregistration.k8s.io/v1beta1",
            "MutatingAdmissionPolicy",
        );
        assert!(beta.is_some());
        assert_eq!(
            kind_message("admissionregistration.k8s.io/v1", "MutatingAdmissionPolicy"),
            beta
        );
        assert!(kind_message("admissionregistration.k8s.io/v1", "NoSuchKind").is_none());
    }

    #[test]
    fn kinds_are_sorted_for_binary_search() {
        assert!(KINDS
            .windows(2)
            .all(|w| (w[0].api_version, w[0].kind) < (w[1].api_version, w[1].kind)));
    }

    #[test]
    fn fields_are_sorted_by_tag() {
        assert!(MESSAGES
            .iter()
            .all(|m| m.fields.windows(2).all(|w| w[0].tag < w[1].tag)));
    }

    #[test]
    fn json_names_come_from_openapi() {
        let ebs = message(
            message_by_name("k8s.io.api.core.v1.AWSElasticBlockStoreVolumeSource").expect("ebs"),
        );
        assert_eq!(ebs.field_by_tag(1).map(|f| f.json), Some("volumeID"));
        let pod_status = message(message_by_name("k8s.io.api.core.v1.PodStatus").expect("status"));
        assert!(pod_status.field_by_json("podIP").is_some());
        let spec = message(message_by_name("k8s.io.api.core.v1.PodSpec").expect("spec"));
        assert!(spec.field_by_json("hostIPC").is_some());
        let props = message(
            message_by_name(
                "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps",
            )
            .expect("props"),
        );
        assert!(props.field_by_json("$ref").is_some());
        assert!(props
            .field_by_json("x-kubernetes-preserve-unknown-fields")
            .is_some());
    }

    #[test]
    fn kind_lookup_covers_objects_lists_and_meta() {
        assert!(kind_message("v1", "Namespace").is_some());
        assert!(kind_message("v1", "PodList").is_some());
        assert!(kind_message("apps/v1", "DeploymentList").is_some());
        assert!(kind_message("autoscaling/v1", "Scale").is_some());
        assert!(kind_message("v1", "Status").is_some());
        assert!(kind_message("meta.k8s.io/v1", "DeleteOptions").is_some());
        assert!(kind_message("v1", "Nonsense").is_none());
        assert!(kind_message("apps/v1", "Namespace").is_none());
        assert!(kind_message("apps/v1", "DeleteOptions").is_some());
        assert!(kind_message("nonsense/v9", "DeleteOptions").is_none());
    }

    #[test]
    fn pointer_defaults_keep_explicit_zero() {
        let job = message(message_by_name("k8s.io.api.batch.v1.JobSpec").expect("job"));
        assert!(job
            .field_by_json("ttlSecondsAfterFinished")
            .is_some_and(|f| f.keep_zero));
        let job_status = message(message_by_name("k8s.io.api.batch.v1.JobStatus").expect("status"));
        assert!(job_status
            .field_by_json("active")
            .is_some_and(|f| !f.keep_zero));
        let spec = message(message_by_name("k8s.io.api.apps.v1.DeploymentSpec").expect("spec"));
        assert!(spec.field_by_json("replicas").is_some_and(|f| f.keep_zero));
        assert!(spec
            .field_by_json("minReadySeconds")
            .is_some_and(|f| !f.keep_zero));
        let meta = message(
            message_by_name("k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta").expect("meta"),
        );
        assert!(meta
            .field_by_json("generateName")
            .is_some_and(|f| !f.keep_zero));
    }
}
