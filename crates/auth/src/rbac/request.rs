//! Upstream's `RequestInfoFactory`: what a request does in authorization terms, from its method,
//! path and query alone.

/// The attributes RBAC decides on (upstream `authorizer.Attributes` without the user).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// Whether this addresses an API resource (`/api/...`, `/apis/...`) rather than a path.
    pub resource_request: bool,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`,
    /// `proxy`, or for non-resource requests the lower-cased HTTP method.
    pub verb: String,
    /// API group (`""` for the core group).
    pub api_group: String,
    /// API version.
    pub api_version: String,
    /// Plural resource name.
    pub resource: String,
    /// Subresource (`log`, `status`...), empty when none.
    pub subresource: String,
    /// Namespace, empty for cluster-scoped requests.
    pub namespace: String,
    /// Object name, empty for collections.
    pub name: String,
    /// The URL path.
    pub path: String,
    /// The raw `fieldSelector` of a list or watch (the Node authorizer scopes kubelets' pod
    /// lists by it), empty otherwise.
    pub field_selector: String,
}

/// Subresources of a namespace that stay on the namespace itself
/// (`/api/v1/namespaces/x/status`).
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

impl RequestInfo {
    /// A resource request with the given attributes (reviews and tests).
    pub fn resource(verb: &str, group: &str, resource: &str, namespace: &str) -> RequestInfo {
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        RequestInfo {
            resource_request: true,
            verb: verb.into(),
            api_group: group.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            namespace: namespace.into(),
            ..RequestInfo::default()
        }
    }

    /// A non-resource request.
    pub fn non_resource(verb: &str, path: &str) -> RequestInfo {
        RequestInfo {
            verb: verb.into(),
            path: path.into(),
            ..RequestInfo::default()
        }
    }

    /// The same request naming one object.
    pub fn named(mut self, name: &str) -> RequestInfo {
        self.name = name.into();
        self
    }

    /// Parses a request as kube-apiserver does. `query` is the raw query string.
    pub fn from_request(method: &str, path: &str, query: Option<&str>) -> RequestInfo {
        let non_resource = RequestInfo::non_resource(&method.to_ascii_lowercase(), path);
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        if parts.len() < 3 {
            return non_resource;
        }
        let mut info = RequestInfo {
            resource_request: true,
            path: path.into(),
            ..RequestInfo::default()
        };
        let mut rest: &[&str] = match parts[0] {
            "api" => &parts[1..],
            "apis" if parts.len() >= 4 => {
                info.api_group = parts[1].into();
                &parts[2..]
            }
            _ => return non_resource,
        };
        info.api_version = rest[0].into();
        rest = &rest[1..];
        if matches!(rest[0], "proxy" | "watch") {
            if rest.len() < 2 {
                return non_resource;
            }
            info.verb = rest[0].into();
            rest = &rest[1..];
        } else {
            info.verb = match method {
                "POST" => "create",
                "GET" | "HEAD" => "get",
                "PUT" => "update",
                "PATCH" => "patch",
                "DELETE" => "delete",
                _ => "",
            }
            .into();
        }
        if rest[0] == "namespaces" && rest.len() > 1 {
            info.namespace = rest[1].into();
            if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
                rest = &rest[2..];
            }
        }
        info.resource = rest[0].into();
        if rest.len() >= 2 {
            info.name = rest[1].into();
        }
        if rest.len() >= 3 && info.verb != "proxy" {
            info.subresource = rest[2].into();
        }
        if info.name.is_empty() && info.verb == "get" {
            let params = query_params(query.unwrap_or(""));
            let watch = params
                .iter()
                .any(|(k, v)| k == "watch" && (v == "true" || v == "1"));
            info.verb = if watch { "watch" } else { "list" }.into();
            if let Some((_, selector)) = params.iter().find(|(k, _)| k == "fieldSelector") {
                info.field_selector = selector.clone();
                if let Some(name) = exact_name(selector) {
                    info.name = name;
                }
            }
        }
        if info.name.is_empty() && info.verb == "delete" {
            info.verb = "deletecollection".into();
        }
        info
    }
}

/// `metadata.name=x` (or `==`) as the whole field selector names one object.
fn exact_name(selector: &str) -> Option<String> {
    if selector.contains(',') {
        return None;
    }
    let (field, value) = selector
        .split_once("==")
        .or_else(|| selector.split_once('='))?;
    let valid = !value.is_empty() && value != "." && value != ".." && !value.contains(['/', '%']);
    (field.trim() == "metadata.name" && valid).then(|| value.to_string())
}

fn query_params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
