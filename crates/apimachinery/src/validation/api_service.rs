//! kube-aggregator's `ValidateAPIService`: the name is `<version>.<group>`, the group a DNS
//! subdomain (empty only for the core `v1`), the version a DNS-1035 label, priorities in
//! range, and the trust settings consistent: a local APIService (no `service`) has neither
//! `caBundle` nor `insecureSkipTLSVerify`; a remote one names its Service and a valid port and
//! does not ask for both.

use serde_json::Value;

use super::errors::{go_quote, FieldError};
use super::names::{is_dns1035_label, is_dns1123_subdomain, is_valid_port_num};

/// Upstream's checks of an APIService.
pub fn validate_api_service(obj: &Value) -> Vec<FieldError> {
    let text = |ptr: &str| obj.pointer(ptr).and_then(Value::as_str).unwrap_or("");
    let (group, version) = (text("/spec/group"), text("/spec/version"));
    let mut errs = Vec::new();
    let required = format!("{version}.{group}");
    let name = text("/metadata/name");
    if !name.is_empty() && name != required {
        errs.push(FieldError::invalid(
            "metadata.name",
            name,
            &format!(
                "must be `spec.version+\".\"+spec.group`: {}",
                go_quote(&required)
            ),
        ));
    }
    if group.is_empty() && version != "v1" {
        errs.push(FieldError::required(
            "spec.group",
            "only v1 may have an empty group and it better be legacy kube",
        ));
    }
    if !group.is_empty() {
        for msg in is_dns1123_subdomain(group) {
            errs.push(FieldError::invalid("spec.group", group, &msg));
        }
    }
    for msg in is_dns1035_label(version) {
        errs.push(FieldError::invalid("spec.version", version, &msg));
    }
    let int = |ptr: &str| obj.pointer(ptr).and_then(Value::as_i64).unwrap_or(0);
    let group_priority = int("/spec/groupPriorityMinimum");
    if group_priority <= 0 || group_priority > 20000 {
        errs.push(FieldError::invalid(
            "spec.groupPriorityMinimum",
            group_priority,
            "must be positive and less than 20000",
        ));
    }
    let version_priority = int("/spec/versionPriority");
    if version_priority <= 0 || version_priority > 1000 {
        errs.push(FieldError::invalid(
            "spec.versionPriority",
            version_priority,
            "must be positive and less than 1000",
        ));
    }
    errs.extend(validate_trust(obj));
    errs
}

/// The service reference and TLS settings.
fn validate_trust(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ca_len = ca_bundle_len(obj.pointer("/spec/caBundle"));
    let insecure = obj
        .pointer("/spec/insecureSkipTLSVerify")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let Some(service) = obj.pointer("/spec/service").filter(|s| !s.is_null()) else {
        if ca_len != 0 {
            errs.push(FieldError::invalid(
                "spec.caBundle",
                format!("{ca_len} bytes"),
                "local APIServices may not have a caBundle",
            ));
        }
        if insecure {
            errs.push(FieldError::invalid(
                "spec.insecureSkipTLSVerify",
                insecure,
                "local APIServices may not have insecureSkipTLSVerify",
            ));
        }
        return errs;
    };
    let text = |k: &str| service.get(k).and_then(Value::as_str).unwrap_or("");
    if text("namespace").is_empty() {
        errs.push(FieldError::required("spec.service.namespace", ""));
    }
    if text("name").is_empty() {
        errs.push(FieldError::required("spec.service.name", ""));
    }
    // Defaulting fills 443 in before validation; an explicit 0 stays invalid.
    let port = service.get("port").and_then(Value::as_i64).unwrap_or(443);
    let port_errs = is_valid_port_num(port);
    if !port_errs.is_empty() {
        errs.push(FieldError::invalid(
            "spec.service.port",
            port,
            &format!("port is not valid: {}", port_errs.join(", ")),
        ));
    }
    if insecure && ca_len > 0 {
        errs.push(FieldError::invalid(
            "spec.insecureSkipTLSVerify",
            insecure,
            "may not be true if caBundle is present",
        ));
    }
    errs
}

/// The decoded length of the base64 `caBundle` (its encoded length if it is not base64;
/// decoding the body already refused that).
fn ca_bundle_len(value: Option<&Value>) -> usize {
    let Some(b64) = value.and_then(Value::as_str) else {
        return 0;
    };
    let trimmed = b64.trim_end_matches('=');
    trimmed.len() * 3 / 4
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msgs(obj: Value) -> Vec<String> {
        validate_api_service(&obj)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn spec(extra: Value) -> Value {
        let mut spec = json!({"group": "wardle.example.com", "version": "v1alpha1",
                              "groupPriorityMinimum": 1000, "versionPriority": 15});
        for (k, v) in extra.as_object().expect("object") {
            spec[k] = v.clone();
        }
        json!({"metadata": {"name": "v1alpha1.wardle.example.com"}, "spec": spec})
    }

    #[test]
    fn upstream_rules() {
        assert!(msgs(spec(json!({}))).is_empty());
        assert_eq!(
            msgs(spec(
                json!({"groupPriorityMinimum": 0, "versionPriority": 1001})
            )),
            vec![
                "spec.groupPriorityMinimum: Invalid value: 0: must be positive and less than 20000",
                "spec.versionPriority: Invalid value: 1001: must be positive and less than 1000",
            ]
        );
        assert_eq!(
            msgs(spec(json!({"caBundle": "QUJD", "insecureSkipTLSVerify": true}))),
            vec![
                "spec.caBundle: Invalid value: \"3 bytes\": local APIServices may not have a caBundle",
                "spec.insecureSkipTLSVerify: Invalid value: true: local APIServices may not have insecureSkipTLSVerify",
            ]
        );
        assert_eq!(
            msgs(spec(json!({"caBundle": "QUJD", "insecureSkipTLSVerify": true,
                             "service": {"namespace": "", "name": "api", "port": 70000}}))),
            vec![
                "spec.service.namespace: Required value",
                "spec.service.port: Invalid value: 70000: port is not valid: must be between 1 and 65535, inclusive",
                "spec.insecureSkipTLSVerify: Invalid value: true: may not be true if caBundle is present",
            ]
        );
        let mut renamed = spec(json!({}));
        renamed["metadata"]["name"] = json!("v1.other");
        assert_eq!(
            msgs(renamed),
            vec!["metadata.name: Invalid value: \"v1.other\": must be `spec.version+\".\"+spec.group`: \"v1alpha1.wardle.example.com\""]
        );
    }
}
