//! Request routing info: what a Kubernetes API path names (like upstream's RequestInfoFactory).

use std::collections::HashMap;

use crate::registry::kinds::{NAMESPACE_SEGMENT, NAMESPACE_SUBRESOURCES};

/// What a resource request addresses.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RequestInfo {
    /// API group ("" for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Namespace from the path, if any.
    pub namespace: Option<String>,
    /// Resource (plural).
    pub resource: String,
    /// Object name, if any.
    pub name: Option<String>,
    /// Subresource (status, scale, log, ...), if any.
    pub subresource: Option<String>,
    /// Legacy `/watch/` path prefix.
    pub legacy_watch: bool,
    /// What follows the subresource (`pods/p/proxy/a/b/` → `/a/b/`), with a leading slash and
    /// the request's trailing slash kept, as upstream's connect handlers take it; None when
    /// nothing follows. Only proxy subresources accept one.
    pub subpath: Option<String>,
}

/// What an `/api...` or `/apis...` path is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiPath {
    /// `/api`
    LegacyRoot,
    /// `/apis`
    GroupsRoot,
    /// `/apis/<group>`
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`
    GroupVersion(String, String),
    /// A resource request.
    Resource(RequestInfo),
    /// Anything else.
    Unknown,
}

/// Parses a request path.
pub fn parse_path(path: &str) -> ApiPath {
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    match parts.as_slice() {
        ["api"] => ApiPath::LegacyRoot,
        ["apis"] => ApiPath::GroupsRoot,
        ["api", version] => ApiPath::GroupVersion(String::new(), version.to_string()),
        ["apis", group] => ApiPath::Group(group.to_string()),
        ["apis", group, version] => ApiPath::GroupVersion(group.to_string(), version.to_string()),
        ["api", version, rest @ ..] => resource_info("", version, rest),
        ["apis", group, version, rest @ ..] => resource_info(group, version, rest),
        _ => ApiPath::Unknown,
    }
    .with_subpath(path)
}

impl ApiPath {
    /// Upstream's connect subpath: the segments after the subresource, joined, with a leading
    /// slash and the original trailing slash (`.../proxy/` → `/`).
    fn with_subpath(mut self, path: &str) -> ApiPath {
        if let ApiPath::Resource(info) = &mut self {
            if let Some(tail) = info.subpath.take() {
                let mut p = if tail.is_empty() {
                    tail
                } else {
                    format!("/{tail}")
                };
                if path.ends_with('/') && !p.ends_with('/') {
                    p.push('/');
                }
                info.subpath = (!p.is_empty()).then_some(p);
            }
        }
        self
    }
}

fn resource_info(group: &str, version: &str, rest: &[&str]) -> ApiPath {
    let mut info = RequestInfo {
        group: group.into(),
        version: version.into(),
        ..Default::default()
    };
    let mut rest = rest;
    if rest.first() == Some(&"watch") {
        info.legacy_watch = true;
        rest = &rest[1..];
    }
    // `namespaces/<ns>/<resource>...` unless the third segment is a namespace subresource.
    if rest.first() == Some(&NAMESPACE_SEGMENT) && rest.len() > 1 {
        let is_namespace_subresource = rest.len() == 3 && NAMESPACE_SUBRESOURCES.contains(&rest[2]);
        if rest.len() > 2 && !is_namespace_subresource {
            info.namespace = Some(rest[1].to_string());
            rest = &rest[2..];
        }
    }
    match rest {
        [resource] => info.resource = resource.to_string(),
        [resource, name] => {
            info.resource = resource.to_string();
            info.name = Some(name.to_string());
        }
        [resource, name, sub, tail @ ..] => {
            info.resource = resource.to_string();
            info.name = Some(name.to_string());
            info.subresource = Some(sub.to_string());
            // Completed with the leading and trailing slashes by `with_subpath`.
            info.subpath = Some(tail.join("/"));
        }
        _ => return ApiPath::Unknown,
    }
    ApiPath::Resource(info)
}

/// The query string as a map (last value wins, percent-decoded).
pub fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    query_pairs(query).into_iter().collect()
}

/// The query string's pairs in order, percent-decoded, repeated keys kept.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Query parameter as a bool ("true"/"1").
pub fn query_bool(q: &HashMap<String, String>, key: &str) -> Option<bool> {
    q.get(key).map(|v| v == "true" || v == "1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> RequestInfo {
        match parse_path(path) {
            ApiPath::Resource(info) => info,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn paths_like_upstream() {
        assert_eq!(parse_path("/api"), ApiPath::LegacyRoot);
        assert_eq!(
            parse_path("/apis/apps/v1"),
            ApiPath::GroupVersion("apps".into(), "v1".into())
        );
        let r = res("/api/v1/namespaces/demo/pods/p/log");
        assert_eq!(
            (
                r.namespace.as_deref(),
                r.resource.as_str(),
                r.name.as_deref(),
                r.subresource.as_deref()
            ),
            (Some("demo"), "pods", Some("p"), Some("log"))
        );
        let r = res("/api/v1/namespaces/demo");
        assert_eq!(
            (r.namespace, r.resource.as_str(), r.name.as_deref()),
            (None, "namespaces", Some("demo"))
        );
        let r = res("/api/v1/namespaces/demo/finalize");
        assert_eq!(
            (
                r.resource.as_str(),
                r.name.as_deref(),
                r.subresource.as_deref()
            ),
            ("namespaces", Some("demo"), Some("finalize"))
        );
        let r = res("/api/v1/namespaces/demo/configmaps");
        assert_eq!(
            (r.namespace.as_deref(), r.resource.as_str(), r.name),
            (Some("demo"), "configmaps", None)
        );
        let r = res("/apis/apps/v1/watch/namespaces/x/deployments");
        assert!(r.legacy_watch);
        assert_eq!(r.resource, "deployments");
        let r = res("/api/v1/pods");
        assert_eq!((r.namespace, r.resource.as_str()), (None, "pods"));
        let r = res("/api/v1/a/b/c/d");
        assert_eq!(r.subpath.as_deref(), Some("/d"));
        assert_eq!(res("/api/v1/namespaces/x/pods/p").subpath, None);
        assert_eq!(res("/api/v1/namespaces/x/pods/p/proxy").subpath, None);
        let r = res("/api/v1/namespaces/x/pods/http:p:80/proxy/");
        assert_eq!(
            (r.name.as_deref(), r.subpath.as_deref()),
            (Some("http:p:80"), Some("/"))
        );
        let r = res("/api/v1/namespaces/x/services/s/proxy/some/path/");
        assert_eq!(r.subpath.as_deref(), Some("/some/path/"));
        assert_eq!(
            res("/api/v1/nodes/n/proxy/logs").subpath.as_deref(),
            Some("/logs")
        );
    }

    #[test]
    fn query_decoding() {
        let q = parse_query(Some("labelSelector=tier%3Dweb&watch=1&fieldSelector=a+b"));
        assert_eq!(q["labelSelector"], "tier=web");
        assert_eq!(query_bool(&q, "watch"), Some(true));
        assert_eq!(q["fieldSelector"], "a b");
    }
}
