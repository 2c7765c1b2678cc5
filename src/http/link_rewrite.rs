//! Upstream's proxy `Transport` rewriting: a backend answering through `.../proxy/` knows
//! nothing of that prefix, so absolute links in its HTML pages and its redirects' `Location`
//! are prefixed with it (`/rewriteme` → `/api/v1/namespaces/ns/pods/p/proxy/rewriteme`), and
//! links to other hosts or relative ones are left alone. Only start tags carrying URL
//! attributes are re-serialized; every other byte of the page passes through unchanged.

/// Which attributes of which tags hold URLs (upstream's `atomsToAttrs`).
const URL_ATTRIBUTES: &[(&str, &[&str])] = &[
    ("a", &["href"]),
    ("applet", &["codebase"]),
    ("area", &["href"]),
    ("audio", &["src"]),
    ("base", &["href"]),
    ("blockquote", &["cite"]),
    ("body", &["background"]),
    ("button", &["formaction"]),
    ("command", &["icon"]),
    ("del", &["cite"]),
    ("embed", &["src"]),
    ("form", &["action"]),
    ("frame", &["longdesc", "src"]),
    ("head", &["profile"]),
    ("html", &["manifest"]),
    ("iframe", &["longdesc", "src"]),
    ("img", &["longdesc", "src", "usemap"]),
    ("input", &["src", "usemap", "formaction"]),
    ("ins", &["cite"]),
    ("link", &["href"]),
    ("object", &["classid", "codebase", "data", "usemap"]),
    ("q", &["cite"]),
    ("script", &["src"]),
    ("source", &["src"]),
    ("video", &["poster", "src"]),
];

/// Elements whose content is text, not markup: a `<` inside them opens no tag.
const RAW_TEXT: &[&str] = &[
    "script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript",
];

/// How links are rewritten: the proxy prefix, and the hosts counted as "this backend".
pub struct LinkRewriter<'a> {
    /// The request path up to the backend path (`/api/v1/namespaces/ns/pods/p/proxy`).
    pub prefix: &'a str,
    /// The backend's `host:port` (links to it are links to the proxied page's own host).
    pub backend_host: &'a str,
    /// The `Host` the client used to reach us.
    pub request_host: &'a str,
}

/// A URL split as far as rewriting needs.
struct Parts<'u> {
    scheme: &'u str,
    host: Option<&'u str>,
    path: &'u str,
    rest: &'u str,
}

fn split_url(url: &str) -> Parts<'_> {
    let scheme_end = url.find(':').filter(|&i| {
        let s = &url[..i];
        s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    let (scheme, after) = match scheme_end {
        Some(i) => (&url[..i], &url[i + 1..]),
        None => ("", url),
    };
    let (host, after) = match after.strip_prefix("//") {
        Some(h) => {
            let end = h.find(['/', '?', '#']).unwrap_or(h.len());
            (Some(&h[..end]), &h[end..])
        }
        None => (None, after),
    };
    let end = after.find(['?', '#']).unwrap_or(after.len());
    Parts {
        scheme,
        host,
        path: &after[..end],
        rest: &after[end..],
    }
}

impl LinkRewriter<'_> {
    /// Upstream's `rewriteURL`: a same-host absolute path gets the prefix (once).
    pub fn rewrite_url(&self, url: &str) -> String {
        let p = split_url(url);
        let host = p.host.unwrap_or("");
        let different_host =
            !host.is_empty() && host != self.backend_host && host != self.request_host;
        if different_host || !p.path.starts_with('/') {
            return url.to_string();
        }
        // Our own scheme and host are unknown behind the client (upstream's are empty too), so
        // a link naming the backend becomes a path; one naming us keeps its scheme and host.
        let origin = if !host.is_empty() && host == self.request_host {
            format!(
                "{}://{host}",
                if p.scheme.is_empty() {
                    "http"
                } else {
                    p.scheme
                }
            )
        } else {
            String::new()
        };
        if p.path.starts_with(self.prefix) {
            return format!("{origin}{}{}", p.path, p.rest);
        }
        let mut path = clean_path(&format!("{}/{}", self.prefix, p.path));
        if p.path.ends_with('/') && !path.ends_with('/') {
            path.push('/');
        }
        format!("{origin}{path}{}", p.rest)
    }

    /// Upstream's `rewriteHTML`: every URL attribute of the listed tags through
    /// [`Self::rewrite_url`].
    pub fn rewrite_html(&self, html: &str) -> String {
        let mut out = String::with_capacity(html.len() + 256);
        let mut rest = html;
        while let Some(lt) = rest.find('<') {
            out.push_str(&rest[..lt]);
            rest = &rest[lt..];
            if rest.starts_with("<!--") {
                let end = rest.find("-->").map(|i| i + 3).unwrap_or(rest.len());
                out.push_str(&rest[..end]);
                rest = &rest[end..];
                continue;
            }
            let Some(tag) = parse_tag(rest) else {
                out.push('<');
                rest = &rest[1..];
                continue;
            };
            out.push_str(&self.render(&tag, &rest[..tag.len]));
            rest = &rest[tag.len..];
            if RAW_TEXT.contains(&tag.name.as_str()) && !tag.self_closing {
                let end = find_ci(rest, &format!("</{}", tag.name)).unwrap_or(rest.len());
                out.push_str(&rest[..end]);
                rest = &rest[end..];
            }
        }
        out.push_str(rest);
        out
    }

    /// A tag with URL attributes re-serialized as Go's `Token.String`; others as they were.
    fn render(&self, tag: &Tag, raw: &str) -> String {
        let Some((_, attrs)) = URL_ATTRIBUTES.iter().find(|(t, _)| *t == tag.name) else {
            return raw.to_string();
        };
        let mut s = format!("<{}", tag.name);
        for (key, value) in &tag.attrs {
            s.push(' ');
            s.push_str(key);
            let value = match value {
                Some(v) if attrs.contains(&key.as_str()) => self.rewrite_url(v),
                Some(v) => v.clone(),
                None => String::new(),
            };
            s.push_str("=\"");
            s.push_str(&escape(&value));
            s.push('"');
        }
        s.push_str(if tag.self_closing { "/>" } else { ">" });
        s
    }
}

/// One start tag: lower-cased name, attributes (values unescaped), its length in the input.
struct Tag {
    name: String,
    attrs: Vec<(String, Option<String>)>,
    self_closing: bool,
    len: usize,
}

/// Parses a start tag at the start of `s` (which begins with `<`); None for anything else
/// (end tags, doctypes, a lone `<`), which is then copied through.
fn parse_tag(s: &str) -> Option<Tag> {
    let b = s.as_bytes();
    if !b.get(1)?.is_ascii_alphabetic() {
        return None;
    }
    let closes = |i: usize| b[i] == b'/' && b.get(i + 1) == Some(&b'>');
    let mut i = skip(b, 1, |i| {
        !b[i].is_ascii_whitespace() && !matches!(b[i], b'>' | b'/')
    });
    let name = s[1..i].to_ascii_lowercase();
    let mut attrs = Vec::new();
    loop {
        i = skip(b, i, |i| {
            b[i].is_ascii_whitespace() || (b[i] == b'/' && !closes(i))
        });
        let self_closing = match b.get(i)? {
            b'>' => false,
            b'/' => true,
            _ => {
                let start = i;
                i = skip(b, i, |i| {
                    !(b[i].is_ascii_whitespace() || matches!(b[i], b'=' | b'>') || closes(i))
                });
                let key = s[start..i].to_ascii_lowercase();
                i = skip(b, i, |i| b[i].is_ascii_whitespace());
                if b.get(i) != Some(&b'=') {
                    attrs.push((key, None));
                    continue;
                }
                i = skip(b, i + 1, |i| b[i].is_ascii_whitespace());
                let (value, next) = attribute_value(s, i)?;
                i = next;
                attrs.push((key, Some(unescape(value))));
                continue;
            }
        };
        let len = i + if self_closing { 2 } else { 1 };
        return Some(Tag {
            name,
            attrs,
            self_closing,
            len,
        });
    }
}

/// The first index from `i` where `pred` no longer holds (or the end).
fn skip(b: &[u8], mut i: usize, pred: impl Fn(usize) -> bool) -> usize {
    while i < b.len() && pred(i) {
        i += 1;
    }
    i
}

/// A quoted or bare attribute value starting at `i`, and the index after it.
fn attribute_value(s: &str, i: usize) -> Option<(&str, usize)> {
    let b = s.as_bytes();
    match b.get(i)? {
        q @ (b'"' | b'\'') => {
            let end = i + 1 + s[i + 1..].find(*q as char)?;
            Some((&s[i + 1..end], end + 1))
        }
        _ => {
            let end = skip(b, i, |j| !b[j].is_ascii_whitespace() && b[j] != b'>');
            Some((&s[i..end], end))
        }
    }
}

/// Case-insensitive search (for raw-text end tags).
fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    let h = haystack.as_bytes();
    let n = needle.as_bytes();
    (0..h.len().saturating_sub(n.len() - 1)).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// The character references attribute values commonly carry.
fn unescape(v: &str) -> String {
    if !v.contains('&') {
        return v.to_string();
    }
    v.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Go's `html.EscapeString` for attribute values.
fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '\'' => s.push_str("&#39;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&#34;"),
            '\r' => s.push_str("&#13;"),
            c => s.push(c),
        }
    }
    s
}

/// Go's `path.Clean` of a slash path: no empty, `.` or `..` segments (`..` stops at the
/// root), a leading slash kept, no trailing slash.
pub fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if segments.last().is_some_and(|s| *s != "..") {
                    segments.pop();
                } else if !rooted {
                    segments.push("..");
                }
            }
            s => segments.push(s),
        }
    }
    let joined = segments.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewriter() -> LinkRewriter<'static> {
        LinkRewriter {
            prefix: "/api/v1/namespaces/ns/pods/p:1080/proxy",
            backend_host: "172.17.0.5:1080",
            request_host: "127.0.0.1:6443",
        }
    }

    #[test]
    fn absolute_paths_get_the_prefix() {
        let r = rewriter();
        assert_eq!(
            r.rewrite_url("/rewriteme"),
            "/api/v1/namespaces/ns/pods/p:1080/proxy/rewriteme"
        );
        assert_eq!(
            r.rewrite_url("http://172.17.0.5:1080/a/?x=1#f"),
            "/api/v1/namespaces/ns/pods/p:1080/proxy/a/?x=1#f"
        );
        assert_eq!(r.rewrite_url("relative/x"), "relative/x");
        assert_eq!(
            r.rewrite_url("http://example.com/x"),
            "http://example.com/x"
        );
        assert_eq!(r.rewrite_url("mailto:a@b"), "mailto:a@b");
        assert_eq!(
            r.rewrite_url("/api/v1/namespaces/ns/pods/p:1080/proxy/x"),
            "/api/v1/namespaces/ns/pods/p:1080/proxy/x"
        );
    }

    #[test]
    fn html_links_like_upstream() {
        let r = rewriter();
        assert_eq!(
            r.rewrite_html(r#"<a href="/rewriteme">test</a>"#),
            r#"<a href="/api/v1/namespaces/ns/pods/p:1080/proxy/rewriteme">test</a>"#
        );
        let page = "<!DOCTYPE html><HTML><body><!-- <a href='/no'> --><IMG SRC=/i.png alt='x &amp; y' hidden>\
                    <script>if (a<b) { x = '<a href=\"/no\">' }</script><p class=c>t</p></body>";
        assert_eq!(
            r.rewrite_html(page),
            "<!DOCTYPE html><html><body><!-- <a href='/no'> --><img src=\"/api/v1/namespaces/ns/pods/p:1080/proxy/i.png\" alt=\"x &amp; y\" hidden=\"\">\
             <script>if (a<b) { x = '<a href=\"/no\">' }</script><p class=c>t</p></body>"
        );
        assert_eq!(r.rewrite_html("a < b <"), "a < b <");
        assert_eq!(r.rewrite_html("<a href=\"/x"), "<a href=\"/x");
    }

    #[test]
    fn paths_clean_like_go() {
        assert_eq!(clean_path("/a//b/./c/../d/"), "/a/b/d");
        assert_eq!(clean_path("/../x"), "/x");
        assert_eq!(clean_path("/"), "/");
        assert_eq!(clean_path(""), ".");
    }
}
