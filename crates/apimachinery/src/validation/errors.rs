//! Field-level validation errors shaped like upstream `field.Error`.

use std::fmt;

/// Machine-readable cause of a field error; `as_str` is the `reason` of a Status cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// `FieldValueNotFound`.
    NotFound,
    /// `FieldValueRequired`.
    Required,
    /// `FieldValueDuplicate`.
    Duplicate,
    /// `FieldValueInvalid`.
    Invalid,
    /// `FieldValueNotSupported`.
    NotSupported,
    /// `FieldValueForbidden`.
    Forbidden,
    /// `FieldValueTooLong`.
    TooLong,
    /// `FieldValueTooMany`.
    TooMany,
    /// `InternalError`.
    Internal,
    /// `FieldValueTypeInvalid` (a value not matching its schema type; labelled like Invalid).
    TypeInvalid,
}

impl ErrorType {
    /// The Status cause `reason` string (e.g. `FieldValueInvalid`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::NotFound => "FieldValueNotFound",
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::Internal => "InternalError",
            ErrorType::TypeInvalid => "FieldValueTypeInvalid",
        }
    }

    /// The human label upstream prints before the value (e.g. `Invalid value`).
    pub fn label(self) -> &'static str {
        match self {
            ErrorType::NotFound => "Not found",
            ErrorType::Required => "Required value",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::Invalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::Internal => "Internal error",
            ErrorType::TypeInvalid => "Invalid value",
        }
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected value, rendered the way Go's `fmt` renders it in `field.Error`.
#[derive(Debug, Clone, PartialEq)]
pub enum BadValue {
    /// A string, printed quoted (`%q`).
    Str(String),
    /// An integer, printed bare.
    Int(i64),
    /// A boolean, printed bare.
    Bool(bool),
    /// Already formatted text (e.g. a Go `%#v` map rendering), printed as is.
    Raw(String),
}

impl From<&str> for BadValue {
    fn from(s: &str) -> Self {
        BadValue::Str(s.to_owned())
    }
}
impl From<String> for BadValue {
    fn from(s: String) -> Self {
        BadValue::Str(s)
    }
}
impl From<i64> for BadValue {
    fn from(v: i64) -> Self {
        BadValue::Int(v)
    }
}
impl From<bool> for BadValue {
    fn from(v: bool) -> Self {
        BadValue::Bool(v)
    }
}

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadValue::Str(s) => f.write_str(&go_quote(s)),
            BadValue::Int(v) => write!(f, "{v}"),
            BadValue::Bool(v) => write!(f, "{v}"),
            BadValue::Raw(s) => f.write_str(s),
        }
    }
}

/// One validation failure: `field` is the JSON path, `reason` the cause type and `message`
/// the upstream `ErrorBody()` (e.g. `Invalid value: "Bad_Name": a lowercase RFC 1123 ...`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// Path of the offending field, e.g. `metadata.name` or `spec.containers[0].image`.
    pub field: String,
    /// The cause type (`FieldValueInvalid`, `FieldValueRequired`, ...).
    pub reason: ErrorType,
    /// Message without the field name, exactly as upstream's `ErrorBody()`.
    pub message: String,
}

impl FieldError {
    fn with_value(field: &str, reason: ErrorType, value: Option<BadValue>, detail: &str) -> Self {
        Self::rendered(
            field,
            reason,
            value.map(|v| v.to_string()).as_deref(),
            detail,
        )
    }

    /// An error whose bad value is already rendered as upstream prints it (`None` omits it, as
    /// for Required/TooLong): `<label>[: <value>][: <detail>]`.
    pub fn rendered(field: &str, reason: ErrorType, value: Option<&str>, detail: &str) -> Self {
        let mut message = match value {
            Some(v) => format!("{}: {}", reason.label(), v),
            None => reason.label().to_owned(),
        };
        if !detail.is_empty() {
            message.push_str(": ");
            message.push_str(detail);
        }
        FieldError {
            field: field.to_owned(),
            reason,
            message,
        }
    }

    /// `field.Invalid`: a malformed value.
    pub fn invalid(field: &str, value: impl Into<BadValue>, detail: &str) -> Self {
        Self::with_value(field, ErrorType::Invalid, Some(value.into()), detail)
    }

    /// `field.Required`: a missing value.
    pub fn required(field: &str, detail: &str) -> Self {
        Self::with_value(field, ErrorType::Required, None, detail)
    }

    /// `field.Forbidden`: a value not allowed here.
    pub fn forbidden(field: &str, detail: &str) -> Self {
        Self::with_value(field, ErrorType::Forbidden, None, detail)
    }

    /// `field.Duplicate`: a value that must be unique.
    pub fn duplicate(field: &str, value: impl Into<BadValue>) -> Self {
        Self::with_value(field, ErrorType::Duplicate, Some(value.into()), "")
    }

    /// `field.NotSupported`: a value outside an enumeration.
    pub fn not_supported(field: &str, value: impl Into<BadValue>, valid: &[&str]) -> Self {
        let detail = if valid.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = valid.iter().map(|v| go_quote(v)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::with_value(field, ErrorType::NotSupported, Some(value.into()), &detail)
    }

    /// `field.TooLong`: a value over a byte limit (the value itself is not printed).
    pub fn too_long(field: &str, max_bytes: usize) -> Self {
        Self::with_value(
            field,
            ErrorType::TooLong,
            None,
            &format!("may not be more than {max_bytes} bytes"),
        )
    }

    /// The Status cause `reason` string.
    pub fn reason_str(&self) -> &'static str {
        self.reason.as_str()
    }
}

/// Renders a list of errors like Go's `utilerrors.Aggregate`: one error bare, several as `[a, b]`.
pub fn aggregate_message(errors: &[FieldError]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for e in errors {
        let s = e.to_string();
        if !seen.contains(&s) {
            seen.push(s);
        }
    }
    if seen.len() == 1 {
        seen.remove(0)
    } else {
        format!("[{}]", seen.join(", "))
    }
}

/// Quotes a string the way Go's `strconv.Quote` (`%q`) does for the characters we meet.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Renders a string map like Go's `%#v` of `map[string]string` (keys sorted).
pub fn go_map_literal(map: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let parts: Vec<String> = keys
        .iter()
        .map(|k| {
            let v = map.get(*k).and_then(|v| v.as_str()).unwrap_or("");
            format!("{}:{}", go_quote(k), go_quote(v))
        })
        .collect();
    format!("map[string]string{{{}}}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_message_shape() {
        let e = FieldError::invalid("metadata.name", "Bad_Name", "must be lowercase");
        assert_eq!(e.reason_str(), "FieldValueInvalid");
        assert_eq!(e.message, "Invalid value: \"Bad_Name\": must be lowercase");
        assert_eq!(
            e.to_string(),
            "metadata.name: Invalid value: \"Bad_Name\": must be lowercase"
        );
    }

    #[test]
    fn required_and_forbidden_omit_value() {
        assert_eq!(
            FieldError::required("metadata.namespace", "").to_string(),
            "metadata.namespace: Required value"
        );
        assert_eq!(
            FieldError::forbidden("metadata.namespace", "not allowed on this type").message,
            "Forbidden: not allowed on this type"
        );
        assert_eq!(
            FieldError::too_long("metadata.annotations", 262144).message,
            "Too long: may not be more than 262144 bytes"
        );
    }

    #[test]
    fn not_supported_lists_quoted_values() {
        let e = FieldError::not_supported("spec.type", "Foo", &["ClusterIP", "NodePort"]);
        assert_eq!(
            e.message,
            "Unsupported value: \"Foo\": supported values: \"ClusterIP\", \"NodePort\""
        );
        assert_eq!(
            FieldError::invalid("spec.replicas", -1i64, "must be greater than or equal to 0")
                .message,
            "Invalid value: -1: must be greater than or equal to 0"
        );
    }

    #[test]
    fn aggregate_and_quote() {
        let a = FieldError::required("a", "");
        let b = FieldError::required("b", "");
        assert_eq!(
            aggregate_message(std::slice::from_ref(&a)),
            "a: Required value"
        );
        assert_eq!(
            aggregate_message(&[a.clone(), b, a]),
            "[a: Required value, b: Required value]"
        );
        assert_eq!(go_quote("a\"b\\\n"), "\"a\\\"b\\\\\\n\"");
    }
}
