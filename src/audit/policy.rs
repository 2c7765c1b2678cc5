//! The audit policy file (`audit.k8s.io/v1` Policy, upstream's `--audit-policy-file`): the first
//! rule that matches a request decides its level and omitted stages; no match means `None`.

use ferrokube_auth::rbac::RequestInfo;
use ferrokube_auth::UserInfo;
use serde::Deserialize;

/// How much of a request is recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum Level {
    None,
    Metadata,
    Request,
    RequestResponse,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "None",
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupResources {
    #[serde(default)]
    group: String,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    resource_names: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    level: Level,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    user_groups: Vec<String>,
    #[serde(default)]
    verbs: Vec<String>,
    #[serde(default)]
    resources: Vec<GroupResources>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default, rename = "nonResourceURLs")]
    non_resource_urls: Vec<String>,
    omit_stages: Option<Vec<String>>,
}

/// A parsed policy.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    #[serde(default)]
    rules: Vec<Rule>,
    #[serde(default)]
    omit_stages: Vec<String>,
}

/// What to record of one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub level: Level,
    pub omit_stages: Vec<String>,
}

impl Policy {
    /// Reads a policy file (YAML or JSON).
    pub fn load(path: &std::path::Path) -> anyhow::Result<Policy> {
        let text = std::fs::read_to_string(path)?;
        let policy: Policy = serde_yaml_ng::from_str(&text)
            .map_err(|e| anyhow::anyhow!("audit policy {}: {e}", path.display()))?;
        Ok(policy)
    }

    pub fn decide(&self, user: &UserInfo, req: &RequestInfo) -> Decision {
        let rule = self.rules.iter().find(|r| r.matches(user, req));
        let level = rule.map(|r| r.level).unwrap_or(Level::None);
        let mut omit = self.omit_stages.clone();
        omit.extend(rule.and_then(|r| r.omit_stages.clone()).unwrap_or_default());
        Decision {
            level,
            omit_stages: omit,
        }
    }
}

impl Rule {
    fn matches(&self, user: &UserInfo, req: &RequestInfo) -> bool {
        let listed = |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == v);
        let user_ok = listed(&self.users, &user.name);
        let group_ok =
            self.user_groups.is_empty() || self.user_groups.iter().any(|g| user.groups.contains(g));
        if !(user_ok && group_ok && listed(&self.verbs, &req.verb)) {
            return false;
        }
        if !req.resource_request {
            // Resource-only rules do not match paths, as upstream.
            let patterns = &self.non_resource_urls;
            if !self.resources.is_empty() || !self.namespaces.is_empty() {
                return false;
            }
            return patterns.is_empty()
                || patterns.iter().any(|p| match p.strip_suffix('*') {
                    Some(prefix) => req.path.starts_with(prefix),
                    None => *p == req.path,
                });
        }
        if !self.non_resource_urls.is_empty() || !listed(&self.namespaces, &req.namespace) {
            return false;
        }
        self.resources.is_empty() || self.resources.iter().any(|g| g.matches(req))
    }
}

impl GroupResources {
    fn matches(&self, req: &RequestInfo) -> bool {
        if self.group != req.api_group {
            return false;
        }
        let full = match req.subresource.as_str() {
            "" => req.resource.clone(),
            sub => format!("{}/{sub}", req.resource),
        };
        let resource_ok = self.resources.is_empty()
            || self.resources.iter().any(|r| {
                r == &full
                    || r == "*"
                    || r == &format!("{}/*", req.resource)
                    || (r == &format!("*/{}", req.subresource) && !req.subresource.is_empty())
            });
        let name_ok =
            self.resource_names.is_empty() || self.resource_names.iter().any(|n| n == &req.name);
        resource_ok && name_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  users: ["system:kube-proxy"]
- level: RequestResponse
  resources: [{group: "", resources: ["secrets"]}]
- level: Request
  verbs: ["create", "update", "patch"]
  resources: [{group: "apps", resources: ["deployments", "deployments/scale"]}]
  namespaces: ["prod"]
- level: None
  nonResourceURLs: ["/healthz*", "/version"]
- level: Metadata
  omitStages: ["ResponseStarted"]
"#;

    fn user(name: &str) -> UserInfo {
        UserInfo {
            name: name.into(),
            groups: vec!["system:authenticated".into()],
            ..UserInfo::default()
        }
    }

    #[test]
    fn first_matching_rule_wins() {
        let p: Policy = serde_yaml_ng::from_str(POLICY).unwrap();
        let jane = user("jane");
        let level = |u: &UserInfo, r: RequestInfo| p.decide(u, &r).level;
        assert_eq!(
            level(&jane, RequestInfo::resource("get", "", "secrets", "x")),
            Level::RequestResponse
        );
        assert_eq!(
            level(
                &user("system:kube-proxy"),
                RequestInfo::resource("get", "", "secrets", "x")
            ),
            Level::None
        );
        assert_eq!(
            level(
                &jane,
                RequestInfo::resource("create", "apps", "deployments", "prod")
            ),
            Level::Request
        );
        assert_eq!(
            level(
                &jane,
                RequestInfo::resource("update", "apps", "deployments/scale", "prod")
            ),
            Level::Request
        );
        assert_eq!(
            level(
                &jane,
                RequestInfo::resource("create", "apps", "deployments", "dev")
            ),
            Level::Metadata
        );
        assert_eq!(
            level(&jane, RequestInfo::non_resource("get", "/healthz/etcd")),
            Level::None
        );
        let d = p.decide(&jane, &RequestInfo::non_resource("get", "/metrics"));
        assert_eq!(d.level, Level::Metadata);
        assert_eq!(d.omit_stages, ["RequestReceived", "ResponseStarted"]);
    }
}
