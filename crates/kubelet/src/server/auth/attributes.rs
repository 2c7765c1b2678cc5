//! Which permission a request to the kubelet needs, as upstream's
//! `nodeAuthorizerAttributesGetter` decides it (with the fine-grained kubelet authorization
//! that is on by default since 1.33): verb from the HTTP method, resource `nodes`, name the
//! node, and a subresource by path. The fine-grained subresources (`pods`, `healthz`,
//! `configz`, `statusz`) are tried first and `proxy` still grants them.
//!
//! Upstream maps a WebSocket `GET /exec/...` (and `/attach`, `/portforward`) to `get`, not
//! `create`: `get` on `nodes/proxy` is documented upstream as enough to run commands; a change
//! forcing `create` there (kubernetes#136550) was not merged. We do the same.

/// The permission checks of one request: the request passes when any of them is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestAttributes {
    /// `get`, `create`, `update`, `patch`, `delete` (empty for other methods, as upstream).
    pub verb: String,
    /// The subresources of `nodes` to try, in order.
    pub subresources: Vec<&'static str>,
    /// The node's name.
    pub node: String,
}

/// Upstream's HTTP method to API verb mapping.
pub fn verb_of(method: &str) -> &'static str {
    match method {
        "POST" => "create",
        "GET" => "get",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "",
    }
}

/// Whether `path` is `prefix` or below it.
fn is_subpath(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The subresources a path needs (first allowed wins).
pub fn subresources_of(path: &str) -> Vec<&'static str> {
    let mut subs = Vec::new();
    let fine_grained = [
        ("/pods", "pods"),
        ("/healthz", "healthz"),
        ("/configz", "configz"),
        ("/statusz", "statusz"),
        ("/runningpods", "pods"),
    ];
    if let Some((_, sub)) = fine_grained.iter().find(|(p, _)| is_subpath(path, p)) {
        subs.push(*sub);
    }
    let coarse = [
        ("/stats", "stats"),
        ("/metrics", "metrics"),
        ("/logs", "log"),
        ("/checkpoint", "checkpoint"),
    ];
    match coarse.iter().find(|(p, _)| is_subpath(path, p)) {
        Some((_, sub)) => subs.push(*sub),
        None => subs.push("proxy"),
    }
    subs
}

/// The attributes of a request to `node`'s kubelet.
pub fn of_request(method: &str, path: &str, node: &str) -> RequestAttributes {
    RequestAttributes {
        verb: verb_of(method).to_string(),
        subresources: subresources_of(path),
        node: node.to_string(),
    }
}

/// Upstream's 403 body: `Forbidden (user=U, verb=V, resource=nodes, subresource(s)=[a b])`.
pub fn forbidden_message(user: &str, attrs: &RequestAttributes) -> String {
    format!(
        "Forbidden (user={user}, verb={}, resource=nodes, subresource(s)=[{}])",
        attrs.verb,
        attrs.subresources.join(" ")
    )
}

/// Upstream's 500 body when the authorizer could not decide.
pub fn authorization_error_message(user: &str, attrs: &RequestAttributes, sub: &str) -> String {
    format!(
        "Authorization error (user={user}, verb={}, resource=nodes, subresource={sub})",
        attrs.verb
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_paths_need_proxy_with_the_method_verb() {
        let exec = of_request("GET", "/exec/default/web/web", "n1");
        assert_eq!(exec.verb, "get");
        assert_eq!(exec.subresources, vec!["proxy"]);
        assert_eq!(exec.node, "n1");
        assert_eq!(
            of_request("POST", "/portforward/default/web", "n1").verb,
            "create"
        );
        assert_eq!(
            subresources_of("/containerLogs/default/web/web"),
            vec!["proxy"]
        );
        assert_eq!(subresources_of("/attach/ns/p/c"), vec!["proxy"]);
        assert_eq!(verb_of("OPTIONS"), "");
    }

    #[test]
    fn subdivided_paths_get_their_own_subresource() {
        assert_eq!(subresources_of("/logs/syslog"), vec!["log"]);
        assert_eq!(subresources_of("/logs"), vec!["log"]);
        assert_eq!(subresources_of("/stats/summary"), vec!["stats"]);
        assert_eq!(subresources_of("/metrics/cadvisor"), vec!["metrics"]);
        assert_eq!(subresources_of("/checkpoint/a/b/c"), vec!["checkpoint"]);
        assert_eq!(subresources_of("/healthz"), vec!["healthz", "proxy"]);
        assert_eq!(subresources_of("/pods"), vec!["pods", "proxy"]);
        assert_eq!(subresources_of("/runningpods/"), vec!["pods", "proxy"]);
        // A prefix that is not a path segment is not a subpath.
        assert_eq!(subresources_of("/logsx"), vec!["proxy"]);
        assert_eq!(subresources_of("/podsy"), vec!["proxy"]);
    }

    #[test]
    fn messages_match_upstream() {
        let attrs = of_request("GET", "/pods", "n1");
        assert_eq!(
            forbidden_message("system:anonymous", &attrs),
            "Forbidden (user=system:anonymous, verb=get, resource=nodes, subresource(s)=[pods proxy])"
        );
    }
}
