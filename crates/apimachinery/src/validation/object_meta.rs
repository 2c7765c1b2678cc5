//! `ValidateObjectMeta` over JSON, plus name rules and `generateName` handling.

use rand::Rng;
use serde_json::Value;

use super::errors::{go_quote, BadValue, FieldError};
use super::names::{
    is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_qualified_name,
    is_valid_label_value, is_valid_path_segment_name, is_valid_path_segment_prefix,
};

/// Total byte budget for all annotation keys and values of one object.
pub const TOTAL_ANNOTATION_SIZE_LIMIT_BYTES: usize = 256 * 1024;
/// Length of the random suffix appended to `generateName`.
const GENERATED_SUFFIX_LENGTH: usize = 5;
/// `generateName` prefixes are cut so prefix + suffix fits a 63 character label.
const MAX_GENERATED_PREFIX_LENGTH: usize = 63 - GENERATED_SUFFIX_LENGTH;
/// Alphabet of `utilrand.String`: no vowels (no accidental words) and no confusable characters.
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Upstream's `IsValidIP` (strict): an address in its canonical spelling.
fn is_canonical_ip(name: &str) -> Vec<String> {
    let Ok(ip) = name.parse::<std::net::IpAddr>() else {
        return vec!["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".into()];
    };
    if let std::net::IpAddr::V6(v6) = ip {
        if v6.to_ipv4_mapped().is_some() {
            return vec!["must not be an IPv4-mapped IPv6 address".into()];
        }
    }
    let canonical = ip.to_string();
    if canonical != name {
        return vec![format!(
            "must be in canonical form ({})",
            go_quote(&canonical)
        )];
    }
    Vec::new()
}

/// Which format `metadata.name` must follow for a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// `NameIsDNSSubdomain` (most kinds).
    Dns1123Subdomain,
    /// `NameIsDNSLabel` (namespaces).
    Dns1123Label,
    /// `NameIsDNS1035Label` (services).
    Dns1035Label,
    /// `ValidatePathSegmentName` (RBAC kinds and other free-form names).
    PathSegment,
    /// `ValidateIPAddressName` (networking.k8s.io IPAddress: the name is the address, strict
    /// and canonical).
    IpAddress,
}

impl NameRule {
    /// Runs the rule like upstream `ValidateNameFunc(name, prefix)`; `prefix` is true for `generateName`.
    pub fn check(self, name: &str, prefix: bool) -> Vec<String> {
        match self {
            NameRule::Dns1123Subdomain => is_dns1123_subdomain(&mask_prefix(name, prefix)),
            NameRule::Dns1123Label => is_dns1123_label(&mask_prefix(name, prefix)),
            NameRule::Dns1035Label => is_dns1035_label(&mask_prefix(name, prefix)),
            NameRule::PathSegment => {
                if prefix {
                    is_valid_path_segment_prefix(name)
                } else {
                    is_valid_path_segment_name(name)
                }
            }
            NameRule::IpAddress => is_canonical_ip(name),
        }
    }
}

/// Upstream `maskTrailingDash`: a prefix may end in '-', which the format checks would reject.
fn mask_prefix(name: &str, prefix: bool) -> String {
    if prefix && name.len() > 1 && name.ends_with('-') {
        // Upstream drops two bytes and appends 'a'; keep that quirk so messages match.
        let cut = name.len() - 2;
        if name.is_char_boundary(cut) {
            return format!("{}a", &name[..cut]);
        }
    }
    name.to_owned()
}

/// Builds a name from `generateName` as upstream's `SimpleNameGenerator`: prefix (cut to 58
/// bytes) plus 5 random characters from `bcdfghjklmnpqrstvwxz2456789`.
pub fn generate_name(base: &str) -> String {
    generate_name_with(base, &mut rand::rng())
}

/// [`generate_name`] with a caller-supplied random source (deterministic tests).
pub fn generate_name_with<R: Rng + ?Sized>(base: &str, rng: &mut R) -> String {
    let mut cut = base.len().min(MAX_GENERATED_PREFIX_LENGTH);
    while !base.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = String::with_capacity(cut + GENERATED_SUFFIX_LENGTH);
    out.push_str(&base[..cut]);
    for _ in 0..GENERATED_SUFFIX_LENGTH {
        let idx = rng.random_range(0..SUFFIX_ALPHABET.len());
        out.push(char::from(SUFFIX_ALPHABET[idx]));
    }
    out
}

fn str_at<'a>(obj: &'a Value, ptr: &str) -> &'a str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// `ValidateObjectMeta` for a create: name/generateName, namespace presence, generation,
/// labels, annotations (keys and 256 KiB total), finalizers and owner references.
pub fn validate_object_meta(obj: &Value, namespaced: bool, name_rule: NameRule) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let generate_name = str_at(obj, "/metadata/generateName");
    if !generate_name.is_empty() {
        for msg in name_rule.check(generate_name, true) {
            errs.push(FieldError::invalid(
                "metadata.generateName",
                generate_name,
                &msg,
            ));
        }
    }
    let name = str_at(obj, "/metadata/name");
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for msg in name_rule.check(name, false) {
            errs.push(FieldError::invalid("metadata.name", name, &msg));
        }
    }
    let namespace = str_at(obj, "/metadata/namespace");
    if namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required("metadata.namespace", ""));
        } else {
            for msg in is_dns1123_label(namespace) {
                errs.push(FieldError::invalid("metadata.namespace", namespace, &msg));
            }
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(
            "metadata.namespace",
            "not allowed on this type",
        ));
    }
    if let Some(g) = obj.pointer("/metadata/generation").and_then(Value::as_i64) {
        if g < 0 {
            errs.push(FieldError::invalid(
                "metadata.generation",
                g,
                "must be greater than or equal to 0",
            ));
        }
    }
    errs.extend(validate_labels(
        obj.pointer("/metadata/labels"),
        "metadata.labels",
    ));
    errs.extend(validate_annotations(
        obj.pointer("/metadata/annotations"),
        "metadata.annotations",
    ));
    errs.extend(validate_finalizers(obj.pointer("/metadata/finalizers")));
    errs.extend(validate_owner_references(
        obj.pointer("/metadata/ownerReferences"),
    ));
    errs
}

/// `ValidateLabels`: every key a qualified name, every value a valid label value.
pub fn validate_labels(labels: Option<&Value>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(map) = labels.and_then(Value::as_object) else {
        return errs;
    };
    for (k, v) in map {
        for msg in is_qualified_name(k) {
            errs.push(FieldError::invalid(path, k.as_str(), &msg));
        }
        let v = v.as_str().unwrap_or("");
        for msg in is_valid_label_value(v) {
            errs.push(FieldError::invalid(path, v, &msg));
        }
    }
    errs
}

/// `ValidateAnnotations`: keys are qualified names (case-insensitively) and the total size of
/// keys plus values stays within 256 KiB.
pub fn validate_annotations(annotations: Option<&Value>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(map) = annotations.and_then(Value::as_object) else {
        return errs;
    };
    let mut total = 0usize;
    for (k, v) in map {
        for msg in is_qualified_name(&k.to_lowercase()) {
            errs.push(FieldError::invalid(path, k.as_str(), &msg));
        }
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT_BYTES {
        errs.push(FieldError::too_long(
            path,
            TOTAL_ANNOTATION_SIZE_LIMIT_BYTES,
        ));
    }
    errs
}

fn validate_finalizers(finalizers: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(list) = finalizers.and_then(Value::as_array) else {
        return errs;
    };
    let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
    for f in &names {
        for msg in is_qualified_name(f) {
            errs.push(FieldError::invalid("metadata.finalizers", *f, &msg));
        }
    }
    if names.contains(&"orphan") && names.contains(&"foregroundDeletion") {
        errs.push(FieldError::invalid(
            "metadata.finalizers",
            go_string_slice(&names),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

/// Renders a finalizer list like Go's `%#v` of `[]string`.
fn go_string_slice(items: &[&str]) -> BadValue {
    let parts: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    BadValue::Raw(format!("[]string{{{}}}", parts.join(", ")))
}

fn validate_owner_references(refs: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(list) = refs.and_then(Value::as_array) else {
        return errs;
    };
    let mut controllers = 0;
    for r in list {
        let api_version = r.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = r.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = r.get("name").and_then(Value::as_str).unwrap_or("");
        let uid = r.get("uid").and_then(Value::as_str).unwrap_or("");
        let path = "metadata.ownerReferences";
        if api_version.is_empty() {
            errs.push(FieldError::invalid(
                &format!("{path}.apiVersion"),
                api_version,
                "version must not be empty",
            ));
        }
        if kind.is_empty() {
            errs.push(FieldError::invalid(
                &format!("{path}.kind"),
                kind,
                "kind must not be empty",
            ));
        }
        if name.is_empty() {
            errs.push(FieldError::invalid(
                &format!("{path}.name"),
                name,
                "name must not be empty",
            ));
        }
        if uid.is_empty() {
            errs.push(FieldError::invalid(
                &format!("{path}.uid"),
                uid,
                "uid must not be empty",
            ));
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            controllers += 1;
        }
    }
    if controllers > 1 {
        errs.push(FieldError::invalid(
            "metadata.ownerReferences",
            BadValue::Raw(format!("{controllers}")),
            "Only one reference can have Controller set to true",
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn name_or_generate_name_required() {
        let errs = validate_object_meta(
            &json!({"metadata": {"namespace": "default"}}),
            true,
            NameRule::Dns1123Subdomain,
        );
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].to_string(),
            "metadata.name: Required value: name or generateName is required"
        );
    }

    #[test]
    fn bad_name_message_matches_upstream() {
        let errs = validate_object_meta(
            &json!({"metadata": {"name": "Bad_Name", "namespace": "default"}}),
            true,
            NameRule::Dns1123Subdomain,
        );
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "metadata.name");
        assert_eq!(errs[0].reason_str(), "FieldValueInvalid");
        assert!(errs[0].message.starts_with(
            "Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of"
        ));
    }

    #[test]
    fn namespace_rules() {
        let cluster = validate_object_meta(
            &json!({"metadata": {"name": "n", "namespace": "x"}}),
            false,
            NameRule::Dns1123Label,
        );
        assert_eq!(
            cluster[0].to_string(),
            "metadata.namespace: Forbidden: not allowed on this type"
        );
        let missing = validate_object_meta(
            &json!({"metadata": {"name": "n"}}),
            true,
            NameRule::Dns1123Subdomain,
        );
        assert_eq!(missing[0].to_string(), "metadata.namespace: Required value");
    }

    #[test]
    fn generate_name_prefix_with_trailing_dash_is_valid() {
        assert!(validate_object_meta(
            &json!({"metadata": {"generateName": "web-", "name": "web-x7k2p", "namespace": "d"}}),
            true,
            NameRule::Dns1123Subdomain
        )
        .is_empty());
        let errs = validate_object_meta(
            &json!({"metadata": {"generateName": "Web-", "name": "web-x", "namespace": "d"}}),
            true,
            NameRule::Dns1123Subdomain,
        );
        assert_eq!(errs[0].field, "metadata.generateName");
    }

    #[test]
    fn labels_annotations_finalizers() {
        let obj = json!({"metadata": {"name": "a", "labels": {"a_b%": "x", "ok": "-bad"}, "annotations": {"big": "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT_BYTES)}, "finalizers": ["orphan", "foregroundDeletion"]}});
        let errs = validate_object_meta(&obj, false, NameRule::Dns1123Subdomain);
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "metadata.labels",
                "metadata.labels",
                "metadata.annotations",
                "metadata.finalizers"
            ]
        );
        assert_eq!(
            errs[2].message,
            "Too long: may not be more than 262144 bytes"
        );
    }

    #[test]
    fn service_and_path_segment_rules() {
        assert!(!NameRule::Dns1035Label.check("1abc", false).is_empty());
        assert!(NameRule::PathSegment
            .check("system:controller:foo", false)
            .is_empty());
        assert_eq!(
            NameRule::PathSegment.check("..", false),
            vec!["may not be '..'".to_owned()]
        );
    }

    #[test]
    fn generated_names_have_upstream_shape() {
        let n = generate_name("web-");
        assert_eq!(n.len(), 9);
        assert!(n.starts_with("web-"));
        assert!(n[4..].bytes().all(|b| SUFFIX_ALPHABET.contains(&b)));
        let long = generate_name(&"a".repeat(100));
        assert_eq!(long.len(), 63);
    }
}
