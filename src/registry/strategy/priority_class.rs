//! scheduling.k8s.io/v1 PriorityClass (upstream `ValidatePriorityClassUpdate`): a class's value
//! and preemption policy are fixed once it exists, since pods already carry the priority it
//! resolved to.

use ferrokube_apimachinery::validation::FieldError;
use serde_json::Value;

use super::Strategy;

/// The PriorityClass strategy.
pub struct PriorityClassStrategy;
/// The strategy instance.
pub static PRIORITY_CLASS: PriorityClassStrategy = PriorityClassStrategy;

impl Strategy for PriorityClassStrategy {
    fn default(&self, obj: &mut Value) {
        super::set_default(
            obj,
            &["preemptionPolicy"],
            serde_json::json!("PreemptLowerPriority"),
        );
    }

    fn validate(&self, new: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let Some(old) = old else {
            return Vec::new();
        };
        let mut errs = Vec::new();
        if new.get("value") != old.get("value") {
            errs.push(FieldError::forbidden(
                "value",
                "may not be changed in an update.",
            ));
        }
        if new.get("preemptionPolicy") != old.get("preemptionPolicy") {
            let policy = new
                .get("preemptionPolicy")
                .and_then(Value::as_str)
                .unwrap_or("");
            errs.push(FieldError::invalid(
                "preemptionPolicy",
                policy,
                "field is immutable",
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn value_and_preemption_policy_are_fixed() {
        let old = json!({"value": 1000, "preemptionPolicy": "Never"});
        assert!(PRIORITY_CLASS.validate(&old, None).is_empty());
        let relabelled =
            json!({"metadata": {"labels": {"a": "b"}}, "value": 1000, "preemptionPolicy": "Never"});
        assert!(PRIORITY_CLASS.validate(&relabelled, Some(&old)).is_empty());
        let changed = json!({"value": 2000, "preemptionPolicy": "PreemptLowerPriority"});
        let errs = PRIORITY_CLASS.validate(&changed, Some(&old));
        let text: Vec<String> = errs
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        assert_eq!(
            text,
            [
                "value: Forbidden: may not be changed in an update.",
                "preemptionPolicy: Invalid value: \"PreemptLowerPriority\": field is immutable"
            ]
        );
    }
}
