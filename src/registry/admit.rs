//! Admission of a request body: kind check, typed decode (shape), unknown-field handling, and
//! validation of names, labels and per-kind required fields.

use serde_json::Value;

use super::descriptor::ResourceDescriptor;
use super::rest::WriteOptions;
use crate::status::{ApiError, ApiResult, Cause};

/// `fieldValidation`: what to do with fields the kind does not have.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them and warn (upstream's default).
    #[default]
    Warn,
    /// Reject the request with 400.
    Strict,
}

impl FieldValidation {
    /// Parses the query parameter (case as upstream: Ignore, Warn, Strict).
    pub fn parse(value: &str) -> ApiResult<Self> {
        match value {
            "Ignore" => Ok(FieldValidation::Ignore),
            "Warn" | "" => Ok(FieldValidation::Warn),
            "Strict" => Ok(FieldValidation::Strict),
            other => Err(ApiError::bad_request(format!(
                "fieldValidation must be one of Ignore, Warn, Strict; got {other:?}"
            ))),
        }
    }
}

/// Checks the body is an object of the descriptor's kind and returns its canonical form (decoded
/// into the typed struct and back, so unknown fields are gone) plus warnings.
pub fn admit_body(
    d: &ResourceDescriptor,
    body: Value,
    opts: &WriteOptions,
) -> ApiResult<(Value, Vec<String>)> {
    if !body.is_object() {
        return Err(ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: the body is not a JSON object",
            d.kind, d.version, d.kind
        )));
    }
    let api_version = body.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = body.get("kind").and_then(Value::as_str).unwrap_or("");
    let expected_api_version = d.api_version();
    if !kind.is_empty() && kind != d.kind {
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{}\" cannot be handled as a {}: the kind in the data ({kind}) does not match the expected kind ({})",
            version_of(api_version),
            d.kind,
            d.kind
        )));
    }
    if !api_version.is_empty() && api_version != expected_api_version {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({expected_api_version})"
        )));
    }
    let (canonical, unknown) = d.canonicalize(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {e}",
            d.kind, d.version, d.kind
        ))
    })?;
    let warnings = strict_decoding(opts, &unknown)?;
    let mut canonical = canonical;
    if let Some(map) = canonical.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(expected_api_version));
        map.insert("kind".into(), Value::String(d.kind.to_string()));
    }
    Ok((canonical, warnings))
}

/// Upstream's strict decoding errors for the body's repeated keys and the fields the kind does
/// not have: one 400 under `Strict`, one warning each under `Warn`, nothing under `Ignore`.
pub fn strict_decoding(opts: &WriteOptions, unknown: &[String]) -> ApiResult<Vec<String>> {
    let problems: Vec<String> = opts
        .duplicate_fields
        .iter()
        .map(|f| format!("duplicate field \"{f}\""))
        .chain(unknown.iter().map(|f| format!("unknown field \"{f}\"")))
        .collect();
    match opts.field_validation {
        _ if problems.is_empty() => Ok(Vec::new()),
        FieldValidation::Strict => Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            problems.join(", ")
        ))),
        FieldValidation::Warn => Ok(problems),
        FieldValidation::Ignore => Ok(Vec::new()),
    }
}

fn version_of(api_version: &str) -> &str {
    api_version.rsplit('/').next().unwrap_or(api_version)
}

/// Collects dotted paths present (non-null) in `original` but absent from `known` (the typed
/// round trip): exactly the fields the kind does not define.
pub(super) fn unknown_fields(original: &Value, known: &Value, path: &str, out: &mut Vec<String>) {
    match (original, known) {
        (Value::Object(orig), Value::Object(kn)) => {
            for (key, value) in orig {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match kn.get(key) {
                    Some(k) => unknown_fields(value, k, &child, out),
                    None if value.is_null() => {}
                    None if is_empty_container(value) => {}
                    None => out.push(child),
                }
            }
        }
        (Value::Array(orig), Value::Array(kn)) => {
            for (i, (o, k)) in orig.iter().zip(kn.iter()).enumerate() {
                unknown_fields(o, k, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Empty objects/arrays that typed structs omit when serializing (e.g. `securityContext: {}` on
/// a field that is an Option of an all-optional struct keeps them, but a `Vec` in a defaulted map
/// may not): not unknown, just not echoed.
fn is_empty_container(value: &Value) -> bool {
    matches!(value, Value::Object(m) if m.is_empty())
        || matches!(value, Value::Array(a) if a.is_empty())
}

/// Validates metadata and per-kind rules; 422 Invalid naming each bad field.
pub fn validate(d: &ResourceDescriptor, obj: &Value, old: Option<&Value>) -> ApiResult<()> {
    let mut errors =
        ferrokube_apimachinery::validation::validate_object_meta(obj, d.namespaced, d.name_rule);
    if let Some(validator) = d.validator {
        errors.extend(validator(obj));
    }
    errors.extend(d.schema_errors(obj));
    errors.extend(d.strategy.validate(obj, old));
    let causes: Vec<Cause> = errors
        .into_iter()
        .map(|e| Cause {
            reason: e.reason.as_str().to_string(),
            message: e.message,
            field: e.field,
        })
        .collect();
    if causes.is_empty() {
        Ok(())
    } else {
        let name = super::meta::name(obj);
        Err(ApiError::invalid(&d.group, &d.kind, name, causes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_found_by_path() {
        let original = json!({"metadata": {"name": "a", "bogus": 1}, "data": {"k": "v"}, "extra": true, "n": null});
        let known = json!({"metadata": {"name": "a"}, "data": {"k": "v"}});
        let mut out = Vec::new();
        unknown_fields(&original, &known, "", &mut out);
        assert_eq!(out, vec!["metadata.bogus".to_string(), "extra".to_string()]);
    }
}
