//! storage.k8s.io/v1 VolumeAttributesClass (upstream `ValidateVolumeAttributesClass` and
//! `...Update`): a named set of driver parameters a claim can switch to; the driver and the
//! parameters are fixed once the class exists.

use ferrokube_apimachinery::validation::{is_qualified_name, FieldError};
use serde_json::Value;

use super::Strategy;

/// Upstream's limit on a driver name.
const MAX_DRIVER_NAME: usize = 63;
/// Upstream's limit on the parameters' total size (keys plus values).
const MAX_PARAMETERS_BYTES: usize = 256 * 1024;

/// The VolumeAttributesClass strategy.
pub struct VolumeAttributesClassStrategy;
/// The strategy instance.
pub static VOLUME_ATTRIBUTES_CLASS: VolumeAttributesClassStrategy = VolumeAttributesClassStrategy;

impl Strategy for VolumeAttributesClassStrategy {
    fn validate(&self, new: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let mut errs = validate_driver_name(new);
        errs.extend(validate_parameters(new));
        if let Some(old) = old {
            if new.get("driverName") != old.get("driverName") {
                errs.push(FieldError::forbidden(
                    "driverName",
                    "updates to driverName are forbidden.",
                ));
            }
            if new.get("parameters") != old.get("parameters") {
                errs.push(FieldError::forbidden(
                    "parameters",
                    "updates to parameters are forbidden.",
                ));
            }
        }
        errs
    }
}

/// Upstream's `validateProvisioner`: required, at most 63 characters, a qualified name.
fn validate_driver_name(obj: &Value) -> Vec<FieldError> {
    let driver = obj.get("driverName").and_then(Value::as_str).unwrap_or("");
    if driver.is_empty() {
        return vec![FieldError::required("driverName", "")];
    }
    if driver.len() > MAX_DRIVER_NAME {
        return vec![FieldError::too_long("driverName", MAX_DRIVER_NAME)];
    }
    is_qualified_name(&driver.to_lowercase())
        .into_iter()
        .map(|msg| FieldError::invalid("driverName", driver, &msg))
        .collect()
}

/// Upstream's `validateParameters` with empty parameters not allowed.
fn validate_parameters(obj: &Value) -> Vec<FieldError> {
    let params = obj.get("parameters").and_then(Value::as_object);
    let Some(params) = params.filter(|p| !p.is_empty()) else {
        return vec![FieldError::required(
            "parameters",
            "must contain at least one key/value pair",
        )];
    };
    let size: usize = params
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    if size > MAX_PARAMETERS_BYTES {
        return vec![FieldError::too_long("parameters", MAX_PARAMETERS_BYTES)];
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reasons(errs: &[FieldError]) -> Vec<String> {
        errs.iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect()
    }

    #[test]
    fn driver_and_parameters_are_required_and_fixed() {
        let s = &VOLUME_ATTRIBUTES_CLASS;
        let ok = json!({"driverName": "csi.example.com", "parameters": {"iops": "100"}});
        assert!(s.validate(&ok, None).is_empty());
        let errs = s.validate(&json!({"driverName": "", "parameters": {}}), None);
        assert_eq!(errs.len(), 2, "{:?}", reasons(&errs));
        let bad = s.validate(
            &json!({"driverName": "-bad-", "parameters": {"a": "b"}}),
            None,
        );
        assert_eq!(bad.len(), 1, "{:?}", reasons(&bad));
        let changed = json!({"driverName": "other.example.com", "parameters": {"iops": "200"}});
        let errs = reasons(&s.validate(&changed, Some(&ok)));
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0].contains("updates to driverName are forbidden."),
            "{errs:?}"
        );
        assert!(
            errs[1].contains("updates to parameters are forbidden."),
            "{errs:?}"
        );
        let relabelled = json!({"metadata": {"labels": {"a": "b"}},
            "driverName": "csi.example.com", "parameters": {"iops": "100"}});
        assert!(s.validate(&relabelled, Some(&ok)).is_empty());
    }
}
