//! Field selectors: the `fieldSelector=` syntax (`a=b`, `a==b`, `a!=b`, comma separated, with
//! `\,` `\=` `\\` escapes) and the per-resource selectable fields of kube-apiserver.

mod attrs;

use std::fmt;

use serde_json::Value;

pub use attrs::*;

/// Errors from parsing or validating a field selector; messages are upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// A term is not `field op value`.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    Syntax {
        /// The whole selector string.
        selector: String,
        /// The term that failed.
        term: String,
    },
    /// A value has an unknown `\x` escape or a trailing backslash.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    InvalidEscape(String),
    /// A value contains an unescaped `,` or `=` (Go prints the rune as its code point).
    #[error("invalid field selector: unescaped character in value: {}", *.0 as u32)]
    UnescapedRune(char),
    /// The resource does not support selecting on this field; the message is the upstream text
    /// (e.g. `field label not supported: spec.foo`), answered as 400 BadRequest.
    #[error("{0}")]
    Unsupported(String),
}

/// Whether a term requires equality or inequality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOp {
    /// `=` or `==`.
    Equals,
    /// `!=`.
    NotEquals,
}

/// One `field op value` term (value already unescaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    /// The field path, e.g. `spec.nodeName`.
    pub field: String,
    /// The comparison.
    pub op: FieldOp,
    /// The unescaped value.
    pub value: String,
}

/// A parsed field selector: an AND of terms; no terms matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    /// Terms sorted as upstream sorts them (by their source text).
    pub requirements: Vec<FieldRequirement>,
}

/// Splits on commas not preceded by an escaping backslash.
fn split_terms(s: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            cur.push(c);
            escaped = true;
        } else if c == ',' {
            terms.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    terms.push(cur);
    terms
}

/// Finds the first operator (`!=`, `==`, `=`, in that preference at each position).
fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, kind) in [
            ("!=", FieldOp::NotEquals),
            ("==", FieldOp::Equals),
            ("=", FieldOp::Equals),
        ] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], kind, value));
            }
        }
    }
    None
}

/// Upstream `fields.UnescapeValue`.
pub fn unescape_value(s: &str) -> Result<String, FieldError> {
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                other => return Err(FieldError::InvalidEscape(format!("\\{other}"))),
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => return Err(FieldError::UnescapedRune(c)),
            other => out.push(other),
        }
    }
    if in_slash {
        return Err(FieldError::InvalidEscape("\\".to_owned()));
    }
    Ok(out)
}

/// Upstream `fields.EscapeValue`.
pub fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl FieldSelector {
    /// Parses the string form like upstream `fields.ParseSelector`.
    pub fn parse(selector: &str) -> Result<Self, FieldError> {
        let mut terms = split_terms(selector);
        terms.sort();
        let mut requirements = Vec::new();
        for term in terms.iter().filter(|t| !t.is_empty()) {
            let (field, op, raw) = split_term(term).ok_or_else(|| FieldError::Syntax {
                selector: selector.to_owned(),
                term: term.clone(),
            })?;
            requirements.push(FieldRequirement {
                field: field.to_owned(),
                op,
                value: unescape_value(raw)?,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// True when the selector has no terms (matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The value an `=`/`==` term demands for `field`, if any (e.g. for `metadata.name` lookups).
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.op == FieldOp::Equals)
            .map(|r| r.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| {
                let op = if r.op == FieldOp::Equals { "=" } else { "!=" };
                format!("{}{op}{}", r.field, escape_value(&r.value))
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Whether `obj` (a kind with the selectable fields `attrs`) satisfies every term; a field
/// the kind does not expose reads as the empty string, as upstream's `fields.Set` lookup does.
pub fn matches(sel: &FieldSelector, attrs: &FieldAttrs, obj: &Value) -> bool {
    sel.requirements.iter().all(|r| {
        let actual = attrs.value(obj, &r.field).unwrap_or_default();
        match r.op {
            FieldOp::Equals => actual == r.value,
            FieldOp::NotEquals => actual != r.value,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_good_and_bad() {
        for good in [
            "", "a=b", "a==b", "a!=b", "a=b,c=d", "a=", "a=b\\,c", "a=b\\=c", "a=b\\\\c", "x.y.z=1",
        ] {
            assert!(FieldSelector::parse(good).is_ok(), "{good}");
        }
        assert_eq!(
            FieldSelector::parse("abc").err().map(|e| e.to_string()),
            Some("invalid selector: 'abc'; can't understand 'abc'".to_owned())
        );
        assert_eq!(
            FieldSelector::parse("a=b=c").err().map(|e| e.to_string()),
            Some("invalid field selector: unescaped character in value: 61".to_owned())
        );
        assert_eq!(
            FieldSelector::parse("a=b\\x").err().map(|e| e.to_string()),
            Some("invalid field selector: invalid escape sequence: \\x".to_owned())
        );
        assert_eq!(
            FieldSelector::parse("a=b\\").err().map(|e| e.to_string()),
            Some("invalid field selector: invalid escape sequence: \\".to_owned())
        );
    }

    #[test]
    fn escapes_round_trip() {
        let s = FieldSelector::parse("b=x\\,y,a!=1\\=2").unwrap_or_default();
        assert_eq!(s.requirements[0].field, "a");
        assert_eq!(s.requirements[0].value, "1=2");
        assert_eq!(s.requirements[1].value, "x,y");
        assert_eq!(s.to_string(), "a!=1\\=2,b=x\\,y");
        assert_eq!(s.requires_exact_match("b"), Some("x,y"));
    }

    #[test]
    fn matching_pods() {
        let pod = json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.1"}]}});
        let m = |s: &str| {
            FieldSelector::parse(s)
                .map(|sel| matches(&sel, &POD, &pod))
                .unwrap_or(false)
        };
        assert!(m("spec.nodeName=n1"));
        assert!(m("spec.nodeName=n1,status.phase!=Pending"));
        assert!(m("metadata.name=p,metadata.namespace=ns"));
        assert!(m("status.podIP=10.0.0.1"));
        assert!(m("spec.hostNetwork=false"));
        assert!(m("spec.host=n1"));
        assert!(!m("spec.nodeName="));
        assert!(!m("status.phase=Pending"));
        assert!(m(""));
    }
}
