//! Whether a policy's `matchConstraints` (and a binding's `matchResources`) cover a request
//! (upstream's `matching.Matcher`): the resource rules by group, version, resource (with
//! `*`, `*/*`, `pods/*`, `*/status` forms), operation and scope, minus the exclude rules, and the
//! namespace and object label selectors.

use std::collections::BTreeMap;

use ferrokube_auth::rbac::selector::selector_matches;
use k8s_openapi::api::admissionregistration::v1::{MatchResources, NamedRuleWithOperations};

/// What is being admitted, as the rules see it.
pub struct Attributes<'a> {
    pub group: &'a str,
    pub version: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    pub operation: &'a str,
    pub name: &'a str,
    pub namespaced: bool,
    /// The labels of the request's namespace (of the object itself for a Namespace); None for
    /// other cluster-scoped objects, which namespace selectors do not restrict.
    pub namespace_labels: Option<&'a BTreeMap<String, String>>,
    /// Labels of the new and old object (either matching an object selector suffices).
    pub object_labels: [Option<&'a BTreeMap<String, String>>; 2],
}

fn listed(list: Option<&Vec<String>>, value: &str) -> bool {
    list.is_some_and(|l| l.iter().any(|v| v == "*" || v == value))
}

/// `resources` entries: `pods`, `pods/status`, `*`, `*/*`, `pods/*`, `*/status`.
fn resource_listed(list: Option<&Vec<String>>, resource: &str, sub: &str) -> bool {
    list.is_some_and(|l| {
        l.iter().any(|entry| {
            let (r, s) = entry.split_once('/').unwrap_or((entry, ""));
            let resource_ok = r == "*" || r == resource;
            let sub_ok = match (s, entry.contains('/')) {
                (_, false) => sub.is_empty(),
                ("*", true) => true,
                (s, true) => s == sub,
            };
            resource_ok && sub_ok
        })
    })
}

fn rule_matches(rule: &NamedRuleWithOperations, a: &Attributes) -> bool {
    let scope_ok = match rule.scope.as_deref().unwrap_or("*") {
        "Cluster" => !a.namespaced,
        "Namespaced" => a.namespaced,
        _ => true,
    };
    let names_ok = rule
        .resource_names
        .as_ref()
        .is_none_or(|names| names.is_empty() || names.iter().any(|n| n == a.name));
    scope_ok
        && names_ok
        && listed(rule.operations.as_ref(), a.operation)
        && listed(rule.api_groups.as_ref(), a.group)
        && listed(rule.api_versions.as_ref(), a.version)
        && resource_listed(rule.resources.as_ref(), a.resource, a.subresource)
}

/// Whether `m` covers the request.
pub fn matches(m: &MatchResources, a: &Attributes) -> bool {
    let rules = m.resource_rules.iter().flatten();
    if !rules.clone().any(|r| rule_matches(r, a)) {
        return false;
    }
    if m.exclude_resource_rules
        .iter()
        .flatten()
        .any(|r| rule_matches(r, a))
    {
        return false;
    }
    let namespace_ok = match (&m.namespace_selector, a.namespace_labels) {
        (Some(sel), Some(labels)) => selector_matches(sel, labels),
        _ => true,
    };
    let object_ok = match &m.object_selector {
        None => true,
        Some(sel) => a
            .object_labels
            .iter()
            .flatten()
            .any(|labels| selector_matches(sel, labels)),
    };
    namespace_ok && object_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(v: serde_json::Value) -> MatchResources {
        serde_json::from_value(v).unwrap()
    }

    fn deploy<'a>(op: &'a str, sub: &'a str, ns: &'a BTreeMap<String, String>) -> Attributes<'a> {
        Attributes {
            group: "apps",
            version: "v1",
            resource: "deployments",
            subresource: sub,
            operation: op,
            name: "web",
            namespaced: true,
            namespace_labels: Some(ns),
            object_labels: [None, None],
        }
    }

    #[test]
    fn rules_selectors_and_excludes() {
        let test_ns: BTreeMap<String, String> = [("environment".into(), "test".into())].into();
        let prod_ns = BTreeMap::new();
        let rules = m(
            json!({"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"], "resources": ["deployments"]}],
            "namespaceSelector": {"matchLabels": {"environment": "test"}}}),
        );
        assert!(matches(&rules, &deploy("CREATE", "", &test_ns)));
        assert!(!matches(&rules, &deploy("DELETE", "", &test_ns)));
        assert!(!matches(&rules, &deploy("UPDATE", "status", &test_ns)));
        assert!(!matches(&rules, &deploy("CREATE", "", &prod_ns)));
        let all = m(
            json!({"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"],
            "operations": ["*"], "resources": ["*/*"]}],
            "excludeResourceRules": [{"apiGroups": ["apps"], "apiVersions": ["*"],
            "operations": ["*"], "resources": ["deployments/status"]}]}),
        );
        assert!(matches(&all, &deploy("UPDATE", "scale", &prod_ns)));
        assert!(!matches(&all, &deploy("UPDATE", "status", &prod_ns)));
    }
}
