//! Which FlowSchema a request matches (upstream's `matchesFlowSchema`): the lowest
//! `matchingPrecedence` whose rules match, ties broken by name; a rule matches when one of its
//! subjects names the user and one of its resource or non-resource rules covers the request.

use ferrokube_auth::rbac::RequestInfo;
use ferrokube_auth::UserInfo;
use k8s_openapi::api::flowcontrol::v1::{
    FlowSchema, NonResourcePolicyRule, PolicyRulesWithSubjects, ResourcePolicyRule, Subject,
};

const ANY: &str = "*";
const SA_PREFIX: &str = "system:serviceaccount:";

/// The schemas in matching order.
pub fn ordered(mut schemas: Vec<FlowSchema>) -> Vec<FlowSchema> {
    schemas.sort_by(|a, b| {
        let precedence = |f: &FlowSchema| f.spec.as_ref().and_then(|s| s.matching_precedence);
        (precedence(a).unwrap_or(1000), &a.metadata.name)
            .cmp(&(precedence(b).unwrap_or(1000), &b.metadata.name))
    });
    schemas
}

/// The first of `ordered` schemas the request matches.
pub fn classify<'a>(
    ordered: &'a [FlowSchema],
    user: &UserInfo,
    req: &RequestInfo,
) -> Option<&'a FlowSchema> {
    ordered.iter().find(|fs| {
        fs.spec
            .as_ref()
            .and_then(|s| s.rules.as_ref())
            .is_some_and(|rules| rules.iter().any(|r| rule_matches(r, user, req)))
    })
}

fn rule_matches(rule: &PolicyRulesWithSubjects, user: &UserInfo, req: &RequestInfo) -> bool {
    if !rule.subjects.iter().any(|s| subject_matches(s, user)) {
        return false;
    }
    if req.resource_request {
        rule.resource_rules
            .iter()
            .flatten()
            .any(|r| resource_rule_matches(r, req))
    } else {
        rule.non_resource_rules
            .iter()
            .flatten()
            .any(|r| non_resource_rule_matches(r, req))
    }
}

fn subject_matches(subject: &Subject, user: &UserInfo) -> bool {
    match subject.kind.as_str() {
        "User" => subject
            .user
            .as_ref()
            .is_some_and(|u| u.name == ANY || u.name == user.name),
        "Group" => subject
            .group
            .as_ref()
            .is_some_and(|g| g.name == ANY || user.groups.contains(&g.name)),
        "ServiceAccount" => {
            let Some(sa) = &subject.service_account else {
                return false;
            };
            let Some((ns, name)) = user
                .name
                .strip_prefix(SA_PREFIX)
                .and_then(|rest| rest.split_once(':'))
            else {
                return false;
            };
            (sa.namespace == ANY || sa.namespace == ns) && (sa.name == ANY || sa.name == name)
        }
        _ => false,
    }
}

fn contains_or_any(list: &[String], value: &str) -> bool {
    list.iter().any(|v| v == ANY || v == value)
}

fn resource_rule_matches(rule: &ResourcePolicyRule, req: &RequestInfo) -> bool {
    let resource = match req.subresource.as_str() {
        "" => req.resource.clone(),
        sub => format!("{}/{sub}", req.resource),
    };
    let scope_ok = if req.namespace.is_empty() {
        rule.cluster_scope == Some(true)
    } else {
        contains_or_any(
            rule.namespaces.as_deref().unwrap_or_default(),
            &req.namespace,
        )
    };
    scope_ok
        && contains_or_any(&rule.verbs, &req.verb)
        && contains_or_any(&rule.api_groups, &req.api_group)
        && contains_or_any(&rule.resources, &resource)
}

fn non_resource_rule_matches(rule: &NonResourcePolicyRule, req: &RequestInfo) -> bool {
    contains_or_any(&rule.verbs, &req.verb)
        && rule.non_resource_urls.iter().any(|pattern| {
            pattern == ANY
                || pattern == &req.path
                || pattern
                    .strip_suffix('*')
                    .is_some_and(|prefix| req.path.starts_with(prefix))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bootstrap() -> Vec<FlowSchema> {
        let all = super::super::bootstrap::flow_schemas();
        ordered(
            all.into_iter()
                .map(|v| serde_json::from_value(v).unwrap())
                .collect(),
        )
    }

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        let mut groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        groups.push("system:authenticated".into());
        UserInfo {
            name: name.into(),
            groups,
            ..UserInfo::default()
        }
    }

    fn schema_of(user: &UserInfo, req: &RequestInfo) -> String {
        let schemas = bootstrap();
        classify(&schemas, user, req)
            .and_then(|f| f.metadata.name.clone())
            .unwrap_or_default()
    }

    #[test]
    fn bootstrap_schemas_classify_as_upstream() {
        let pods = RequestInfo::resource("list", "", "pods", "dev");
        let lease =
            RequestInfo::resource("update", "coordination.k8s.io", "leases", "kube-node-lease");
        let node_status = RequestInfo::resource("patch", "", "nodes/status", "");
        let probe = RequestInfo::non_resource("get", "/readyz");
        let admin = user("admin", &["system:masters"]);
        let node = user("system:node:a", &["system:nodes"]);
        let jane = user("jane", &[]);
        let sa = user("system:serviceaccount:dev:ci", &["system:serviceaccounts"]);
        let kube_system_sa = user(
            "system:serviceaccount:kube-system:x",
            &["system:serviceaccounts"],
        );
        assert_eq!(schema_of(&admin, &pods), "exempt");
        assert_eq!(schema_of(&jane, &probe), "probes");
        assert_eq!(schema_of(&node, &lease), "system-node-high");
        assert_eq!(schema_of(&node, &node_status), "system-node-high");
        assert_eq!(schema_of(&node, &pods), "system-nodes");
        assert_eq!(
            schema_of(&user("system:kube-scheduler", &[]), &lease),
            "system-leader-election"
        );
        assert_eq!(
            schema_of(&user("system:kube-scheduler", &[]), &pods),
            "kube-scheduler"
        );
        assert_eq!(
            schema_of(&kube_system_sa, &lease),
            "workload-leader-election"
        );
        assert_eq!(
            schema_of(&kube_system_sa, &pods),
            "kube-system-service-accounts"
        );
        assert_eq!(schema_of(&sa, &pods), "service-accounts");
        assert_eq!(schema_of(&jane, &pods), "global-default");
        assert_eq!(
            schema_of(&jane, &RequestInfo::non_resource("get", "/metrics")),
            "global-default"
        );
    }

    #[test]
    fn url_prefixes_and_ties_by_name() {
        let rule = NonResourcePolicyRule {
            verbs: vec!["get".into()],
            non_resource_urls: vec!["/apis/*".into()],
        };
        assert!(non_resource_rule_matches(
            &rule,
            &RequestInfo::non_resource("get", "/apis/apps")
        ));
        assert!(!non_resource_rule_matches(
            &rule,
            &RequestInfo::non_resource("get", "/api")
        ));
        let names: Vec<String> = bootstrap()
            .iter()
            .filter_map(|f| f.metadata.name.clone())
            .filter(|n| n.starts_with("kube-"))
            .collect();
        assert_eq!(
            names,
            [
                "kube-controller-manager",
                "kube-scheduler",
                "kube-system-service-accounts"
            ]
        );
    }
}
