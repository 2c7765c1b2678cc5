//! One webhook of a Validating/MutatingWebhookConfiguration, as admission uses it: what it
//! matches (its rules and selectors, as a `MatchResources` for the policies' matcher), how to
//! reach it, and what a failure means.

use ferrokube_apiextensions::expression::Expression;
use k8s_openapi::api::admissionregistration::v1::{
    MatchCondition, MatchResources, WebhookClientConfig,
};
use serde::Deserialize;
use serde_json::{json, Value};

pub struct Webhook {
    pub name: String,
    /// The configuration it is listed in.
    pub configuration: String,
    /// Its place among all webhooks of its type, in calling order (audit annotations say it).
    pub index: usize,
    pub client: WebhookClientConfig,
    pub matches: MatchResources,
    pub match_conditions: Vec<(String, Result<Expression, String>)>,
    pub fail_closed: bool,
    pub timeout: std::time::Duration,
    /// `None`/`NoneOnDryRun`: may be called for dry-run requests.
    pub dry_run_safe: bool,
    /// Whether `v1` is among its `admissionReviewVersions`.
    pub speaks_v1: bool,
    /// `reinvocationPolicy: IfNeeded` (mutating webhooks): called again once when a later
    /// webhook changed the object after it ran.
    pub reinvoke: bool,
}

/// The fields validating and mutating webhooks share, as they are written.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Written {
    name: String,
    client_config: WebhookClientConfig,
    #[serde(default)]
    rules: Value,
    #[serde(default)]
    namespace_selector: Value,
    #[serde(default)]
    object_selector: Value,
    #[serde(default)]
    match_conditions: Vec<MatchCondition>,
    failure_policy: Option<String>,
    timeout_seconds: Option<i32>,
    #[serde(default)]
    side_effects: String,
    #[serde(default)]
    admission_review_versions: Vec<String>,
    reinvocation_policy: Option<String>,
}

impl Webhook {
    /// One entry of `configuration`'s `webhooks` (either kind), the `index`th webhook of its
    /// type; None when it does not decode.
    pub fn parse(configuration: &str, index: usize, webhook: &Value) -> Option<Webhook> {
        let w: Written = serde_json::from_value(webhook.clone()).ok()?;
        let matches = serde_json::from_value(json!({
            "resourceRules": w.rules,
            "namespaceSelector": w.namespace_selector,
            "objectSelector": w.object_selector,
        }))
        .unwrap_or_default();
        let timeout = w.timeout_seconds.unwrap_or(10).clamp(1, 30) as u64;
        Some(Webhook {
            name: w.name,
            configuration: configuration.to_owned(),
            index,
            client: w.client_config,
            matches,
            match_conditions: w
                .match_conditions
                .into_iter()
                .map(|c| (c.name, Expression::compile(&c.expression)))
                .collect(),
            fail_closed: w.failure_policy.as_deref() != Some("Ignore"),
            timeout: std::time::Duration::from_secs(timeout),
            dry_run_safe: matches!(w.side_effects.as_str(), "None" | "NoneOnDryRun"),
            speaks_v1: w.admission_review_versions.iter().any(|v| v == "v1"),
            reinvoke: w.reinvocation_policy.as_deref() == Some("IfNeeded"),
        })
    }
}
