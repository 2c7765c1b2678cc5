//! CRD conversion webhooks (`spec.conversion.strategy: Webhook`): objects are stored at the
//! storage version, and every read in another version, and every write from another version,
//! sends them through one ConversionReview to the CRD's webhook, as upstream's
//! `webhookConverter` does. What the webhook answers is checked the way upstream checks it
//! (uid, count, apiVersion and kind, metadata other than labels and annotations kept).
//!
//! As upstream's CRD handler does (its request scope's hub version is the request's own
//! version), a write is defaulted, admitted and validated in the version it was sent in, and
//! converted to the storage version only when it is encoded for the store (see
//! `registry::convert::storage`); the answer is the stored object converted back.

mod review;

use std::sync::Arc;
use std::time::Duration;

use ferrokube_store::Store;
use k8s_openapi::api::admissionregistration::v1::WebhookClientConfig;
use serde_json::Value;

/// How long one conversion call may take (upstream's webhook client default).
const TIMEOUT: Duration = Duration::from_secs(30);

/// A CRD's conversion webhook: where it listens and which ConversionReview version it speaks.
#[derive(Debug)]
pub struct ConversionWebhook {
    /// `spec.conversion.webhook.clientConfig` (the same shape as admission webhooks').
    client: WebhookClientConfig,
    /// The first of `conversionReviewVersions` we speak.
    review_version: &'static str,
}

impl ConversionWebhook {
    /// The webhook of `crd`, when its conversion strategy is Webhook and its configuration
    /// decodes (CRD validation refuses the rest).
    pub fn of_crd(crd: &Value) -> Option<Arc<ConversionWebhook>> {
        let conversion = crd.pointer("/spec/conversion")?;
        if conversion.get("strategy").and_then(Value::as_str) != Some("Webhook") {
            return None;
        }
        let webhook = conversion.get("webhook")?;
        let client = serde_json::from_value(webhook.get("clientConfig")?.clone()).ok()?;
        let listed: Vec<String> = webhook
            .get("conversionReviewVersions")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_else(|| vec!["v1".into()]);
        Some(Arc::new(ConversionWebhook {
            client,
            review_version: review::pick_version(&listed)?,
        }))
    }

    /// `objects` (none already at `desired`, `group/version`) converted by the webhook, in
    /// order, or upstream's error text.
    pub async fn convert(
        &self,
        store: &Store,
        objects: Vec<Value>,
        desired: &str,
    ) -> Result<Vec<Value>, String> {
        if objects.is_empty() {
            return Ok(objects);
        }
        let gvk = format!(
            "{}, Kind={}",
            objects[0]["apiVersion"].as_str().unwrap_or(""),
            objects[0]["kind"].as_str().unwrap_or("")
        );
        let uid = uuid::Uuid::new_v4().to_string();
        let request = review::request(self.review_version, &uid, desired, &objects);
        let failed = |e: String| format!("conversion webhook for {gvk} failed: {e}");
        let answer = crate::registry::webhook_client::call(store, &self.client, TIMEOUT, &request)
            .await
            .map_err(failed)?;
        let converted =
            review::converted_objects(self.review_version, &uid, answer).map_err(failed)?;
        if converted.len() != objects.len() {
            return Err(format!(
                "conversion for {gvk} returned {} objects, expected {}",
                converted.len(),
                objects.len()
            ));
        }
        objects
            .iter()
            .zip(converted)
            .enumerate()
            .map(|(i, (original, converted))| checked(&gvk, i + 1, desired, original, converted))
            .collect()
    }
}

/// One converted object checked against its original and given its metadata back; `index`
/// counts from 1 as upstream's messages do.
fn checked(
    gvk: &str,
    index: usize,
    desired: &str,
    original: &Value,
    mut converted: Value,
) -> Result<Value, String> {
    let invalid = |why: String| {
        format!("conversion for {gvk} returned invalid converted object at index {index}: {why}")
    };
    let got = converted["apiVersion"].as_str().unwrap_or("");
    if got != desired {
        return Err(invalid(format!(
            "invalid groupVersion (expected {desired}, received {got})"
        )));
    }
    let (want, got) = (
        original["kind"].as_str().unwrap_or(""),
        converted["kind"].as_str().unwrap_or(""),
    );
    if want != got {
        return Err(invalid(format!(
            "invalid kind (expected {want}, received {got})"
        )));
    }
    review::validate_converted(original, &converted).map_err(invalid)?;
    review::restore_meta(original, &mut converted).map_err(|e| {
        format!("conversion for {gvk} returned invalid metadata in object at index {index}: {e}")
    })?;
    Ok(converted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(version: &str, kind: &str) -> Value {
        json!({"apiVersion": format!("g/{version}"), "kind": kind,
               "metadata": {"name": "a", "uid": "u", "resourceVersion": "3"}})
    }

    #[test]
    fn converted_objects_are_checked_in_upstreams_words() {
        let gvk = "g/v1, Kind=W";
        let original = obj("v1", "W");
        let mut answer = obj("v2", "W");
        answer["metadata"]["resourceVersion"] = json!("9");
        let kept = checked(gvk, 1, "g/v2", &original, answer).unwrap();
        assert_eq!(kept["metadata"]["resourceVersion"], "3");
        assert_eq!(
            checked(gvk, 1, "g/v2", &original, obj("v3", "W")).unwrap_err(),
            "conversion for g/v1, Kind=W returned invalid converted object at index 1: invalid groupVersion (expected g/v2, received g/v3)"
        );
        assert_eq!(
            checked(gvk, 2, "g/v2", &original, obj("v2", "X")).unwrap_err(),
            "conversion for g/v1, Kind=W returned invalid converted object at index 2: invalid kind (expected W, received X)"
        );
    }

    #[test]
    fn only_a_webhook_strategy_makes_a_webhook() {
        let crd = |conversion: Value| json!({"spec": {"conversion": conversion}});
        assert!(ConversionWebhook::of_crd(&crd(json!({"strategy": "None"}))).is_none());
        let hook = ConversionWebhook::of_crd(&crd(json!({"strategy": "Webhook", "webhook": {
            "clientConfig": {"url": "https://h/convert"},
            "conversionReviewVersions": ["v1beta1", "v1"]}})))
        .expect("a webhook");
        assert_eq!(hook.review_version, "v1beta1");
        assert_eq!(hook.client.url.as_deref(), Some("https://h/convert"));
    }
}
