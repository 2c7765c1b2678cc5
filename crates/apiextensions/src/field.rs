//! Field paths and error constructors shaped like upstream `field.Path` / `field.Error`,
//! including the Go `fmt` renderings (`%v`, `%q`, `%#v`) of JSON values that upstream's
//! `ErrorBody()` prints for a bad value.

use ferrokube_apimachinery::validation::{go_quote, ErrorType, FieldError};
use serde_json::Value;

/// A field path rendered like upstream `field.Path.String()`: `a.b[key][0]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Path(String);

impl Path {
    pub(crate) fn root() -> Path {
        Path(String::new())
    }

    pub(crate) fn new(s: &str) -> Path {
        Path(s.to_owned())
    }

    /// `.Child(name)`: joined with a dot unless at the root.
    pub(crate) fn child(&self, name: &str) -> Path {
        if self.0.is_empty() {
            Path(name.to_owned())
        } else {
            Path(format!("{}.{}", self.0, name))
        }
    }

    /// `.Key(k)`: `[k]`, unquoted as upstream prints it.
    pub(crate) fn key(&self, k: &str) -> Path {
        Path(format!("{}[{}]", self.0, k))
    }

    /// `.Index(i)`: `[i]`.
    pub(crate) fn index(&self, i: usize) -> Path {
        Path(format!("{}[{}]", self.0, i))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// Go `%v` of a float64 (strconv 'g' shortest; exponent form only for tiny or huge values).
pub(crate) fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        // Go prints at least two exponent digits with an explicit sign: 1e+21, 1e-05.
        let s = format!("{f:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mant}e{sign}{digits:0>2}");
    }
    if f.fract() == 0.0 {
        return format!("{f:.0}");
    }
    format!("{f}")
}

/// Go `%v` of a JSON number as upstream holds it (int64 when integral in the JSON text).
pub(crate) fn go_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        go_float(n.as_f64().unwrap_or(0.0))
    }
}

/// Go `%#v` of an unstructured JSON value (maps print with sorted keys, as fmt does).
pub(crate) fn go_sharp(v: &Value) -> String {
    match v {
        Value::Null => "interface {}(nil)".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => go_quote(s),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(go_sharp).collect();
            format!("[]interface {{}}{{{}}}", items.join(", "))
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", go_quote(k), go_sharp(&m[k.as_str()])))
                .collect();
            format!("map[string]interface {{}}{{{}}}", items.join(", "))
        }
    }
}

/// How `ErrorBody()` prints a bad value: strings quoted, numbers/bools bare, null as `"null"`,
/// compound values with `%#v`.
pub(crate) fn render_bad_value(v: &Value) -> String {
    match v {
        Value::Null => go_quote("null"),
        Value::String(s) => go_quote(s),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        other => go_sharp(other),
    }
}

/// A field error with an already rendered value (`None` omits it, as for Required/TooLong).
pub(crate) fn error(
    path: &str,
    reason: ErrorType,
    value: Option<&str>,
    detail: &str,
) -> FieldError {
    FieldError::rendered(path, reason, value, detail)
}

/// `field.Invalid` with a JSON bad value.
pub(crate) fn invalid(path: &Path, value: &Value, detail: &str) -> FieldError {
    error(
        path.as_str(),
        ErrorType::Invalid,
        Some(&render_bad_value(value)),
        detail,
    )
}

/// `field.Invalid` with a string bad value.
pub(crate) fn invalid_str(path: &Path, value: &str, detail: &str) -> FieldError {
    error(
        path.as_str(),
        ErrorType::Invalid,
        Some(&go_quote(value)),
        detail,
    )
}

/// `field.Invalid` with a value printed as given (Go `%#v` of a typed struct, a bool, ...).
pub(crate) fn invalid_raw(path: &Path, rendered: &str, detail: &str) -> FieldError {
    error(path.as_str(), ErrorType::Invalid, Some(rendered), detail)
}

/// `field.TypeInvalid`.
pub(crate) fn type_invalid(path: &Path, value: &Value, detail: &str) -> FieldError {
    error(
        path.as_str(),
        ErrorType::TypeInvalid,
        Some(&render_bad_value(value)),
        detail,
    )
}

pub(crate) fn required(path: &Path, detail: &str) -> FieldError {
    error(path.as_str(), ErrorType::Required, None, detail)
}

pub(crate) fn forbidden(path: &Path, detail: &str) -> FieldError {
    error(path.as_str(), ErrorType::Forbidden, None, detail)
}

pub(crate) fn duplicate(path: &Path, value: &Value) -> FieldError {
    error(
        path.as_str(),
        ErrorType::Duplicate,
        Some(&render_bad_value(value)),
        "",
    )
}

/// `field.NotSupported` with the valid values quoted.
pub(crate) fn not_supported(path: &Path, value: &Value, valid: &[String]) -> FieldError {
    let detail = if valid.is_empty() {
        String::new()
    } else {
        let quoted: Vec<String> = valid.iter().map(|v| go_quote(v)).collect();
        format!("supported values: {}", quoted.join(", "))
    };
    error(
        path.as_str(),
        ErrorType::NotSupported,
        Some(&render_bad_value(value)),
        &detail,
    )
}

/// `field.TooLong` as of Kubernetes 1.32+ (the value is never printed).
pub(crate) fn too_long(path: &Path, max: i64) -> FieldError {
    let detail = if max < 0 {
        "value is too long".to_owned()
    } else {
        format!(
            "may not be more than {max} {}",
            if max == 1 { "byte" } else { "bytes" }
        )
    };
    error(path.as_str(), ErrorType::TooLong, None, &detail)
}

/// `field.TooMany` as of Kubernetes 1.32+.
pub(crate) fn too_many(path: &Path, actual: i64, max: i64) -> FieldError {
    let detail = if max < 0 {
        "has too many items".to_owned()
    } else {
        format!(
            "must have at most {max} {}",
            if max == 1 { "item" } else { "items" }
        )
    };
    let actual = (actual >= 0).then(|| actual.to_string());
    error(
        path.as_str(),
        ErrorType::TooMany,
        actual.as_deref(),
        &detail,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_render_like_field_path() {
        let p = Path::new("spec").child("versions").index(0).child("schema");
        assert_eq!(p.as_str(), "spec.versions[0].schema");
        assert_eq!(Path::root().child("a").key("b").as_str(), "a[b]");
    }

    #[test]
    fn go_renderings() {
        assert_eq!(go_float(3.0), "3");
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(render_bad_value(&json!(null)), "\"null\"");
        assert_eq!(
            go_sharp(&json!({"b": 1, "a": "x"})),
            "map[string]interface {}{\"a\":\"x\", \"b\":1}"
        );
    }

    #[test]
    fn too_long_and_too_many_wording() {
        assert_eq!(
            too_long(&Path::new("spec.name"), 5).to_string(),
            "spec.name: Too long: may not be more than 5 bytes"
        );
        assert_eq!(
            too_many(&Path::new("spec.items"), 4, 3).to_string(),
            "spec.items: Too many: 4: must have at most 3 items"
        );
    }
}
