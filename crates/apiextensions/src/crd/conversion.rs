//! `spec.conversion` checks (upstream `validateCustomResourceConversion` and the webhook
//! client-config helpers). Paths use the internal field names upstream reports
//! (`spec.conversion.webhookClientConfig`, `spec.conversion.conversionReviewVersions`).

use ferrokube_apimachinery::validation::{
    go_quote, is_dns1035_label, is_dns1123_label, FieldError,
};
use serde_json::Value;

use crate::field::{self, Path};

const ACCEPTED_REVIEW_VERSIONS: [&str; 2] = ["v1", "v1beta1"];

pub(crate) fn validate(
    conversion: &Value,
    preserve_unknown: bool,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    if !conversion.is_object() {
        return;
    }
    let strategy = conversion
        .get("strategy")
        .and_then(Value::as_str)
        .unwrap_or("");
    if strategy != "None" && preserve_unknown {
        errs.push(field::invalid_str(
            &path.child("strategy"),
            strategy,
            "must be None if spec.preserveUnknownFields is true",
        ));
    }
    match strategy {
        "" => errs.push(field::required(&path.child("strategy"), "")),
        "None" | "Webhook" => {}
        other => errs.push(field::not_supported(
            &path.child("strategy"),
            &Value::String(other.into()),
            &["None".into(), "Webhook".into()],
        )),
    }
    let webhook = conversion.get("webhook");
    let client_config = webhook
        .and_then(|w| w.get("clientConfig"))
        .filter(|c| !c.is_null());
    let review_versions: Vec<String> = webhook
        .and_then(|w| w.get("conversionReviewVersions"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let cc_path = path.child("webhookClientConfig");
    if strategy == "Webhook" {
        match client_config {
            None => errs.push(field::required(
                &cc_path,
                "required when strategy is set to Webhook",
            )),
            Some(cc) => client_config_rules(cc, &cc_path, errs),
        }
        review_version_rules(
            &review_versions,
            &path.child("conversionReviewVersions"),
            errs,
        );
    } else {
        let msg = "should not be set when strategy is not set to Webhook";
        if client_config.is_some() {
            errs.push(field::forbidden(&cc_path, msg));
        }
        if !review_versions.is_empty() {
            errs.push(field::forbidden(
                &path.child("conversionReviewVersions"),
                msg,
            ));
        }
    }
}

fn client_config_rules(cc: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    let url = cc.get("url").and_then(Value::as_str);
    let service = cc.get("service").filter(|s| s.is_object());
    match (url, service) {
        (Some(u), None) => url_rules(u, &path.child("url"), errs),
        (None, Some(s)) => service_rules(s, &path.child("service"), errs),
        _ => errs.push(field::required(
            path,
            "exactly one of url or service is required",
        )),
    }
}

/// `webhook.ValidateWebhookURL(..., forceHttps=true)`.
fn url_rules(url: &str, path: &Path, errs: &mut Vec<FieldError>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        errs.push(field::invalid_str(path, url, "host must be specified"));
        return;
    };
    if scheme != "https" {
        errs.push(field::invalid_str(
            path,
            url,
            "'https' is the only allowed URL scheme",
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        errs.push(field::invalid_str(path, url, "host must be specified"));
    }
    if authority.contains('@') {
        errs.push(field::invalid_str(
            path,
            url,
            "user information is not permitted in the URL",
        ));
    }
    if rest.contains('#') {
        errs.push(field::invalid_str(
            path,
            url,
            "fragments are not permitted in the URL",
        ));
    }
    if rest.contains('?') {
        errs.push(field::invalid_str(
            path,
            url,
            "query parameters are not permitted in the URL",
        ));
    }
}

fn service_rules(svc: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    let name = svc.get("name").and_then(Value::as_str).unwrap_or("");
    let namespace = svc.get("namespace").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() {
        errs.push(field::required(
            &path.child("name"),
            "service name is required",
        ));
    }
    if namespace.is_empty() {
        errs.push(field::required(
            &path.child("namespace"),
            "service namespace is required",
        ));
    } else {
        for msg in is_dns1123_label(namespace) {
            errs.push(field::invalid_str(
                &path.child("namespace"),
                namespace,
                &msg,
            ));
        }
    }
    if let Some(port) = svc.get("port").and_then(Value::as_i64) {
        if !(1..=65535).contains(&port) {
            errs.push(field::invalid(
                &path.child("port"),
                &Value::from(port),
                "port is not valid: must be between 1 and 65535, inclusive",
            ));
        }
    }
    if let Some(p) = svc.get("path").and_then(Value::as_str) {
        if !p.starts_with('/') {
            errs.push(field::invalid_str(
                &path.child("path"),
                p,
                "must start with a '/'",
            ));
        }
    }
}

fn review_version_rules(versions: &[String], path: &Path, errs: &mut Vec<FieldError>) {
    if versions.is_empty() {
        errs.push(field::required(path, ""));
        return;
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut accepted = false;
    for (i, v) in versions.iter().enumerate() {
        if seen.contains(&v.as_str()) {
            errs.push(field::invalid_str(&path.index(i), v, "duplicate version"));
            continue;
        }
        seen.push(v);
        for msg in is_dns1035_label(v) {
            errs.push(field::invalid_str(&path.index(i), v, &msg));
        }
        accepted |= ACCEPTED_REVIEW_VERSIONS.contains(&v.as_str());
    }
    if !accepted {
        let quoted: Vec<String> = versions.iter().map(|v| go_quote(v)).collect();
        errs.push(field::invalid_raw(
            path,
            &format!("[]string{{{}}}", quoted.join(", ")),
            &format!(
                "must include at least one of {}",
                ACCEPTED_REVIEW_VERSIONS.join(", ")
            ),
        ));
    }
}
