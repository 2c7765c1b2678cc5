//! Validating/MutatingWebhookConfigurations: each webhook's `matchConditions` must be CEL that
//! compiles (upstream `validateMatchConditions`), so a configuration that could never be
//! evaluated is refused when written rather than failing every request it would match; its
//! rules, selectors and match policy are validated as upstream's.

use ferrokube_apiextensions::expression::Expression;
use ferrokube_apimachinery::validation::{validate_label_selector, FieldError};
use serde_json::Value;

use super::match_resources::validate_rule_with_operations;
use super::Strategy;

/// The strategy of both webhook configuration kinds.
pub struct WebhookConfigurationStrategy;
/// The shared instance.
pub static WEBHOOK_CONFIGURATION: WebhookConfigurationStrategy = WebhookConfigurationStrategy;

impl Strategy for WebhookConfigurationStrategy {
    fn tracks_generation(&self) -> bool {
        true
    }

    fn validate(&self, new: &Value, _old: Option<&Value>) -> Vec<FieldError> {
        let webhooks = new.get("webhooks").and_then(Value::as_array);
        let mut errs = Vec::new();
        for (i, hook) in webhooks.into_iter().flatten().enumerate() {
            errs.extend(validate_matching(hook, &format!("webhooks[{i}]")));
            let conditions = hook.get("matchConditions").and_then(Value::as_array);
            for (j, cond) in conditions.into_iter().flatten().enumerate() {
                let at = format!("webhooks[{i}].matchConditions[{j}].expression");
                let expr = cond.get("expression").and_then(Value::as_str).unwrap_or("");
                if expr.trim().is_empty() {
                    errs.push(FieldError::required(&at, ""));
                } else if let Err(e) = Expression::compile(expr) {
                    errs.push(FieldError::invalid(
                        &at,
                        expr,
                        &format!("compilation failed: {e}"),
                    ));
                }
            }
        }
        errs
    }
}

/// A webhook's `rules` (upstream `validateRuleWithOperations`), its selectors and match
/// policy.
fn validate_matching(hook: &Value, at: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let rules = hook.get("rules").and_then(Value::as_array);
    for (j, rule) in rules.into_iter().flatten().enumerate() {
        errs.extend(validate_rule_with_operations(
            rule,
            &format!("{at}.rules[{j}]"),
        ));
    }
    for selector in ["namespaceSelector", "objectSelector"] {
        if let Some(sel) = hook.get(selector).filter(|s| !s.is_null()) {
            errs.extend(validate_label_selector(sel, &format!("{at}.{selector}")));
        }
    }
    if let Some(policy) = hook.get("matchPolicy").and_then(Value::as_str) {
        if !["Equivalent", "Exact"].contains(&policy) {
            errs.push(FieldError::not_supported(
                &format!("{at}.matchPolicy"),
                policy,
                &["Equivalent", "Exact"],
            ));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn match_conditions_must_compile() {
        let config = |expr: &str| {
            json!({"webhooks": [{"name": "w.example.com",
                "matchConditions": [{"name": "c", "expression": expr}]}]})
        };
        let good = config("object.metadata.name != 'skip-me'");
        assert!(WEBHOOK_CONFIGURATION.validate(&good, None).is_empty());
        let errs = WEBHOOK_CONFIGURATION.validate(&config("... [] bad expression"), None);
        assert_eq!(errs[0].field, "webhooks[0].matchConditions[0].expression");
        assert!(
            errs[0].message.contains("compilation failed"),
            "{}",
            errs[0].message
        );
    }
}
