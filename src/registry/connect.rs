//! The options object of a connect request to a pod's streaming subresources, as upstream's
//! admission sees it (`PodExecOptions`, `PodAttachOptions`, `PodPortForwardOptions` decoded from
//! the query), so webhooks and admission policies can judge `CONNECT`.

use ferrokube_kubelet::server::{query_flag, query_get};
use serde_json::{json, Map, Value};

/// The options of `subresource` from the request's query pairs (repeated keys kept), named by
/// `metadata` for admission's request attributes.
pub fn pod_connect_options(
    subresource: &str,
    ns: &str,
    name: &str,
    query: &[(String, String)],
) -> Value {
    let all = |key: &str| -> Vec<&str> {
        query
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    // Read as the kubelet reads them, so admission judges what will be done.
    let flag = |keys: &[&str]| query_flag(query, keys);
    let mut options = Map::new();
    let kind = match subresource {
        "exec" | "attach" => {
            options.insert("stdin".into(), json!(flag(&["stdin", "input"])));
            options.insert("stdout".into(), json!(flag(&["stdout", "output"])));
            options.insert("stderr".into(), json!(flag(&["stderr", "error"])));
            options.insert("tty".into(), json!(flag(&["tty"])));
            if let Some(container) = query_get(query, "container") {
                options.insert("container".into(), json!(container));
            }
            if subresource == "exec" {
                options.insert("command".into(), json!(all("command")));
                "PodExecOptions"
            } else {
                "PodAttachOptions"
            }
        }
        _ => {
            let ports: Vec<i64> = all("ports")
                .iter()
                .flat_map(|v| v.split(','))
                .filter_map(|p| p.trim().parse().ok())
                .collect();
            options.insert("ports".into(), json!(ports));
            "PodPortForwardOptions"
        }
    };
    options.insert("kind".into(), json!(kind));
    options.insert("apiVersion".into(), json!("v1"));
    options.insert("metadata".into(), json!({"name": name, "namespace": ns}));
    Value::Object(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(raw: &[(&str, &str)]) -> Vec<(String, String)> {
        raw.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_as_upstream_decodes_them() {
        let q = pairs(&[
            ("container", "c1"),
            ("stdin", "true"),
            ("command", "sh"),
            ("command", "-c"),
        ]);
        let exec = pod_connect_options("exec", "ns", "p", &q);
        assert_eq!(exec["kind"], "PodExecOptions");
        assert_eq!(exec["command"], json!(["sh", "-c"]));
        assert_eq!(
            (exec["stdin"].clone(), exec["stdout"].clone()),
            (json!(true), json!(false))
        );
        assert_eq!(exec["metadata"]["name"], "p");
        let attach = pod_connect_options("attach", "ns", "p", &q);
        assert_eq!(attach["kind"], "PodAttachOptions");
        assert!(attach.get("command").is_none());
        let pf = pod_connect_options("portforward", "ns", "p", &pairs(&[("ports", "80,8080")]));
        assert_eq!(pf["ports"], json!([80, 8080]));
    }
}
