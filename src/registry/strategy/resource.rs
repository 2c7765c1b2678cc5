//! resource.k8s.io (dynamic resource allocation): a claim's and a claim template's spec is
//! fixed once created (upstream `ValidateResourceClaimUpdate` / `...TemplateUpdate`); what a
//! claim gets is written to its status by the allocator. Device classes and resource slices
//! are ordinary generational objects.

use ferrokube_apimachinery::validation::{ErrorType, FieldError};
use serde_json::Value;

use super::Strategy;

/// ResourceClaims and ResourceClaimTemplates: generational, spec immutable.
pub struct ImmutableSpecStrategy;
/// The strategy of resource claims and their templates.
pub static IMMUTABLE_SPEC: ImmutableSpecStrategy = ImmutableSpecStrategy;

impl Strategy for ImmutableSpecStrategy {
    fn tracks_generation(&self) -> bool {
        true
    }

    fn validate(&self, new: &Value, old: Option<&Value>) -> Vec<FieldError> {
        match old {
            Some(old) if new.get("spec") != old.get("spec") => vec![FieldError::rendered(
                "spec",
                ErrorType::Invalid,
                None,
                "field is immutable",
            )],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claim_spec_is_immutable_but_labels_change() {
        let old =
            json!({"metadata": {"name": "c"}, "spec": {"devices": {"requests": [{"name": "a"}]}}});
        let mut labelled = old.clone();
        labelled["metadata"]["labels"] = json!({"x": "y"});
        assert!(IMMUTABLE_SPEC.validate(&labelled, Some(&old)).is_empty());
        let mut changed = old.clone();
        changed["spec"]["devices"]["requests"][0]["name"] = json!("b");
        let errs = IMMUTABLE_SPEC.validate(&changed, Some(&old));
        assert_eq!(errs[0].field, "spec");
        assert!(errs[0].message.ends_with("field is immutable"));
        assert!(IMMUTABLE_SPEC.validate(&changed, None).is_empty());
    }
}
