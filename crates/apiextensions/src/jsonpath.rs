//! The subset of kubectl/client-go JSONPath that additionalPrinterColumns use: dotted fields,
//! `['quoted']` keys, indexes (negative too), slices, `*`, `..` recursive descent and
//! `[?(@.a.b == "x")]` filters. Like upstream's table convertor, a cell is the first result.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Wildcard,
    Recursive,
    Index(i64),
    Slice(Option<i64>, Option<i64>),
    Filter(Filter),
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    path: Vec<Step>,
    op: Option<(String, Value)>,
}

/// Parses a column path (`.spec.replicas`, optionally wrapped in `{}`); `None` if malformed.
fn parse(path: &str) -> Option<Vec<Step>> {
    let p = path.trim();
    let p = p
        .strip_prefix('{')
        .and_then(|q| q.strip_suffix('}'))
        .unwrap_or(p);
    let p = p.strip_prefix('$').unwrap_or(p);
    let mut parser = Parser {
        s: p.as_bytes(),
        i: 0,
    };
    let steps = parser.steps(false)?;
    (parser.i == parser.s.len()).then_some(steps)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Steps until the end (or, inside a filter, until an operator or `)`).
    fn steps(&mut self, in_filter: bool) -> Option<Vec<Step>> {
        let mut steps = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                b'.' => {
                    self.i += 1;
                    if self.peek() == Some(b'.') {
                        self.i += 1;
                        steps.push(Step::Recursive);
                    }
                    if self.peek() == Some(b'*') {
                        self.i += 1;
                        steps.push(Step::Wildcard);
                    } else if self.peek() == Some(b'[') {
                        continue;
                    } else {
                        let name = self.ident();
                        if !name.is_empty() {
                            steps.push(Step::Field(name));
                        }
                    }
                }
                b'[' => {
                    self.i += 1;
                    steps.push(self.bracket()?);
                }
                _ if in_filter => break,
                _ => return None,
            }
        }
        Some(steps)
    }

    /// A field name: up to the next unescaped `.`/`[` (or filter operator/space/paren).
    fn ident(&mut self) -> String {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            match c {
                b'\\' if self.s.get(self.i + 1).is_some() => {
                    out.push(self.s[self.i + 1] as char);
                    self.i += 2;
                }
                b'.' | b'[' | b' ' | b')' | b'=' | b'!' | b'<' | b'>' => break,
                _ => {
                    // keep multi-byte UTF-8 intact
                    let start = self.i;
                    self.i += 1;
                    while self.peek().is_some_and(|b| (b & 0xC0) == 0x80) {
                        self.i += 1;
                    }
                    out.push_str(std::str::from_utf8(&self.s[start..self.i]).unwrap_or(""));
                }
            }
        }
        out
    }

    fn quoted(&mut self) -> Option<String> {
        let q = self.peek()?;
        self.i += 1;
        let start = self.i;
        while self.peek()? != q {
            self.i += 1;
        }
        let s = std::str::from_utf8(&self.s[start..self.i]).ok()?.to_owned();
        self.i += 1;
        Some(s)
    }

    fn skip_ws(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }

    fn int(&mut self) -> Option<i64> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()?
            .parse()
            .ok()
    }

    /// After `[`: a quoted key, `*`, an index/slice or a filter; consumes the `]`.
    fn bracket(&mut self) -> Option<Step> {
        self.skip_ws();
        let step = match self.peek()? {
            b'\'' | b'"' => Step::Field(self.quoted()?),
            b'*' => {
                self.i += 1;
                Step::Wildcard
            }
            b'?' => {
                self.i += 1;
                if self.peek()? != b'(' {
                    return None;
                }
                self.i += 1;
                self.skip_ws();
                if self.peek()? != b'@' {
                    return None;
                }
                self.i += 1;
                let path = self.steps(true)?;
                self.skip_ws();
                let op = if self.peek()? == b')' {
                    None
                } else {
                    let start = self.i;
                    while matches!(self.peek()?, b'=' | b'!' | b'<' | b'>') {
                        self.i += 1;
                    }
                    let op = std::str::from_utf8(&self.s[start..self.i]).ok()?.to_owned();
                    self.skip_ws();
                    let value = match self.peek()? {
                        b'\'' | b'"' => Value::String(self.quoted()?),
                        _ => {
                            let start = self.i;
                            while self.peek().is_some_and(|c| c != b')' && c != b' ') {
                                self.i += 1;
                            }
                            let lit = std::str::from_utf8(&self.s[start..self.i]).ok()?;
                            serde_json::from_str(lit).ok()?
                        }
                    };
                    Some((op, value))
                };
                self.skip_ws();
                if self.peek()? != b')' {
                    return None;
                }
                self.i += 1;
                Step::Filter(Filter { path, op })
            }
            _ => {
                let start = if self.peek()? == b':' {
                    None
                } else {
                    Some(self.int()?)
                };
                if self.peek()? == b':' {
                    self.i += 1;
                    let end = if self.peek()? == b']' {
                        None
                    } else {
                        Some(self.int()?)
                    };
                    Step::Slice(start, end)
                } else {
                    Step::Index(start?)
                }
            }
        };
        self.skip_ws();
        if self.peek()? != b']' {
            return None;
        }
        self.i += 1;
        Some(step)
    }
}

fn resolve_index(i: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let i = if i < 0 { len + i } else { i };
    (0..len).contains(&i).then_some(i as usize)
}

fn descendants<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(v);
    match v {
        Value::Object(m) => m.values().for_each(|c| descendants(c, out)),
        Value::Array(a) => a.iter().for_each(|c| descendants(c, out)),
        _ => {}
    }
}

fn compare(a: &Value, op: &str, b: &Value) -> bool {
    let ord = match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64().partial_cmp(&y.as_f64()),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    };
    match op {
        "==" => ord.map_or(a == b, |o| o.is_eq()),
        "!=" => ord.map_or(a != b, |o| o.is_ne()),
        "<" => ord.is_some_and(|o| o.is_lt()),
        ">" => ord.is_some_and(|o| o.is_gt()),
        "<=" => ord.is_some_and(|o| o.is_le()),
        ">=" => ord.is_some_and(|o| o.is_ge()),
        _ => false,
    }
}

fn eval<'a>(steps: &[Step], roots: Vec<&'a Value>) -> Vec<&'a Value> {
    let mut cur = roots;
    for step in steps {
        let mut next = Vec::new();
        for v in cur {
            match step {
                Step::Field(name) => {
                    if let Some(c) = v.get(name.as_str()) {
                        next.push(c);
                    }
                }
                Step::Wildcard => match v {
                    Value::Object(m) => next.extend(m.values()),
                    Value::Array(a) => next.extend(a.iter()),
                    _ => {}
                },
                Step::Recursive => descendants(v, &mut next),
                Step::Index(i) => {
                    if let Value::Array(a) = v {
                        if let Some(j) = resolve_index(*i, a.len()) {
                            next.push(&a[j]);
                        }
                    }
                }
                Step::Slice(start, end) => {
                    if let Value::Array(a) = v {
                        let len = a.len() as i64;
                        let norm = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
                        let s = norm(start.unwrap_or(0));
                        let e = norm(end.unwrap_or(len));
                        if s < e {
                            next.extend(a[s as usize..e as usize].iter());
                        }
                    }
                }
                Step::Filter(f) => {
                    let candidates: Vec<&Value> = match v {
                        Value::Array(a) => a.iter().collect(),
                        other => vec![other],
                    };
                    for c in candidates {
                        let found = eval(&f.path, vec![c]);
                        let keep = match &f.op {
                            None => !found.is_empty(),
                            Some((op, lit)) => found.iter().any(|x| compare(x, op, lit)),
                        };
                        if keep {
                            next.push(c);
                        }
                    }
                }
            }
        }
        cur = next;
    }
    cur
}

/// Whether a column path parses.
pub(crate) fn is_valid(path: &str) -> bool {
    parse(path).is_some()
}

/// The first value `path` selects in `obj`, Null when nothing (or the path is malformed).
pub(crate) fn first_value(path: &str, obj: &Value) -> Value {
    let Some(steps) = parse(path) else {
        return Value::Null;
    };
    eval(&steps, vec![obj])
        .first()
        .map(|v| (*v).clone())
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj() -> Value {
        json!({
            "metadata": {"name": "w", "labels": {"foo": "bar", "app.kubernetes.io/name": "x"}},
            "spec": {"replicas": 3, "items": [{"name": "a"}, {"name": "b"}], "list": [{"name": "p"}, {"name": "q"}]},
            "status": {"conditions": [
                {"type": "Progressing", "status": "False"},
                {"type": "Ready", "status": "True"}
            ]}
        })
    }

    #[test]
    fn column_paths() {
        let o = obj();
        let cases = [
            (".spec.replicas", json!(3)),
            (".metadata.labels.foo", json!("bar")),
            (".spec.items[0].name", json!("a")),
            (".spec.items[-1].name", json!("b")),
            (".spec.list[*].name", json!("p")),
            (
                ".status.conditions[?(@.type==\"Ready\")].status",
                json!("True"),
            ),
            (
                ".status.conditions[?(@.type == 'Progressing')].status",
                json!("False"),
            ),
            (".metadata.labels['app.kubernetes.io/name']", json!("x")),
            (".metadata.labels.app\\.kubernetes\\.io/name", json!("x")),
            ("{.metadata.name}", json!("w")),
            ("..name", json!("w")),
            (".spec.missing", Value::Null),
            (".spec.items[5].name", Value::Null),
            (".spec.items[1:].name", json!("b")),
        ];
        for (p, want) in cases {
            assert_eq!(first_value(p, &o), want, "{p}");
        }
        assert!(!is_valid(".spec[?(@.x=="));
        assert_eq!(first_value(".spec[", &o), Value::Null);
    }
}
