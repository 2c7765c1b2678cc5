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
    let warnings = if opts.apply {
        apply_strictness(d, opts, &body, &unknown)?
    } else {
        strict_decoding(opts, &body, &unknown)?
    };
    let mut canonical = canonical;
    if let Some(map) = canonical.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(expected_api_version));
        map.insert("kind".into(), Value::String(d.kind.to_string()));
    }
    Ok((canonical, warnings))
}

/// Upstream's strict decoding errors for the body's repeated keys and the fields the kind does
/// not have, in the order the body has them: one 400 under `Strict`, one warning each under
/// `Warn`, nothing under `Ignore`.
pub fn strict_decoding(
    opts: &WriteOptions,
    body: &Value,
    unknown: &[String],
) -> ApiResult<Vec<String>> {
    let mut problems: Vec<(Vec<usize>, String)> = opts
        .duplicate_fields
        .iter()
        .map(|f| {
            (
                document_position(body, f),
                format!("duplicate field \"{f}\""),
            )
        })
        .chain(
            unknown
                .iter()
                .map(|f| (document_position(body, f), format!("unknown field \"{f}\""))),
        )
        .collect();
    problems.sort_by(|a, b| a.0.cmp(&b.0));
    let problems: Vec<String> = problems.into_iter().map(|(_, p)| p).collect();
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

/// Server-side apply's strictness, as upstream's: a field the schema does not declare fails the
/// apply's typed conversion (500, whatever `fieldValidation` says), then a repeated YAML key is
/// go-yaml's error under `Strict` and a warning under `Warn`.
fn apply_strictness(
    d: &ResourceDescriptor,
    opts: &WriteOptions,
    body: &Value,
    unknown: &[String],
) -> ApiResult<Vec<String>> {
    if !unknown.is_empty() {
        return Err(undeclared_fields(d, body, unknown));
    }
    let Some(duplicates) = &opts.yaml_duplicates else {
        return strict_decoding(opts, body, &[]);
    };
    match opts.field_validation {
        FieldValidation::Strict => Err(ApiError::bad_request(format!(
            "error strict decoding YAML: {duplicates}"
        ))),
        FieldValidation::Warn => Ok(vec![duplicates.replace('\n', " ")]),
        FieldValidation::Ignore => Ok(Vec::new()),
    }
}

/// structured-merge-diff's refusal of fields outside the schema: `.path: field not declared in
/// schema`, list items by their keys, several under `errors:`.
fn undeclared_fields(d: &ResourceDescriptor, body: &Value, unknown: &[String]) -> ApiError {
    let table = super::patch::merge_keys_of(d);
    let root = table.root_gvk(&d.group, &d.version, &d.kind);
    let errors: Vec<String> = unknown
        .iter()
        .map(|path| {
            let typed = ferrokube_merge::typed_path(table, root, body, path);
            format!("{typed}: field not declared in schema")
        })
        .collect();
    let detail = match errors.as_slice() {
        [one] => one.clone(),
        many => format!("errors:\n  {}", many.join("\n  ")),
    };
    let meta = |field: &str| {
        body.pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    ApiError::internal(format!(
        "failed to create typed patch object ({}/{}; {}/{}, Kind={}): {detail}",
        meta("namespace"),
        meta("name"),
        d.group,
        d.version,
        d.kind
    ))
}

/// Where a dotted path (`spec.ports[1].name`) sits in the body, as the positions of its keys and
/// items: sorting by it puts problems in document order. Keys may contain dots (label keys), so
/// the longest key matching the rest of the path wins.
fn document_position(body: &Value, path: &str) -> Vec<usize> {
    let mut position = Vec::new();
    let (mut node, mut rest) = (body, path);
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let (index, tail) = after.split_once(']').unwrap_or((after, ""));
            let i: usize = index.parse().unwrap_or(usize::MAX);
            position.push(i);
            rest = tail.strip_prefix('.').unwrap_or(tail);
            match node.get(i) {
                Some(child) => node = child,
                None => break,
            }
            continue;
        }
        let Some(map) = node.as_object() else { break };
        let found = map
            .keys()
            .enumerate()
            .filter(|(_, k)| {
                rest == k.as_str()
                    || rest
                        .strip_prefix(k.as_str())
                        .is_some_and(|t| t.starts_with('.') || t.starts_with('['))
            })
            .max_by_key(|(_, k)| k.len());
        let Some((i, key)) = found else {
            position.push(usize::MAX);
            break;
        };
        position.push(i);
        let tail = &rest[key.len()..];
        rest = tail.strip_prefix('.').unwrap_or(tail);
        node = &map[key];
    }
    position
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
    validate_with(d, obj, old, Vec::new())
}

/// [`validate`] with errors the caller found beforehand (an update's per-endpoint rules).
pub fn validate_with(
    d: &ResourceDescriptor,
    obj: &Value,
    old: Option<&Value>,
    found: Vec<ferrokube_apimachinery::validation::FieldError>,
) -> ApiResult<()> {
    let mut errors =
        ferrokube_apimachinery::validation::validate_object_meta(obj, d.namespaced, d.name_rule);
    if let Some(validator) = d.validator {
        errors.extend(validator(obj));
    }
    errors.extend(d.schema_errors(obj));
    errors.extend(d.strategy.validate(obj, old));
    errors.extend(found);
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

    #[test]
    fn strict_problems_come_in_document_order() {
        let body = json!({"metadata": {"name": "d", "labels": {"app.kubernetes.io/name": "x"}},
            "spec": {"unknownField": "foo", "replicas": 3, "ports": [{"a": 1}, {"b": 2}]}});
        let opts = WriteOptions {
            field_validation: FieldValidation::Strict,
            duplicate_fields: vec![
                "spec.replicas".into(),
                "metadata.labels.app.kubernetes.io/name".into(),
            ],
            ..Default::default()
        };
        let err = strict_decoding(
            &opts,
            &body,
            &["spec.ports[1].b".into(), "spec.unknownField".into()],
        )
        .expect_err("strict");
        assert_eq!(
            err.message,
            "strict decoding error: duplicate field \"metadata.labels.app.kubernetes.io/name\", \
             unknown field \"spec.unknownField\", duplicate field \"spec.replicas\", \
             unknown field \"spec.ports[1].b\""
        );
    }
}
