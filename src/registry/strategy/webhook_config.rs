//! Validating/MutatingWebhookConfigurations: each webhook's `matchConditions` must be CEL that
//! compiles (upstream `validateMatchConditions`), so a configuration that could never be
//! evaluated is refused when written rather than failing every request it would match.

use ferrokube_apiextensions::expression::Expression;
use ferrokube_apimachinery::validation::FieldError;
use serde_json::Value;

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
