//! What admission configurations match, validated as upstream's admissionregistration
//! validation does (`validateMatchResources`, `validateRuleWithOperations`, `validateRule`,
//! `validateResources`): the `matchResources` of policy bindings, the `matchConstraints` of
//! policies and the `rules` and selectors of webhooks. A rule that names nothing, mixes `*` with
//! names, or an unknown operation, scope or match policy is refused on write (422) rather
//! than silently matching nothing or everything.

use std::collections::BTreeSet;

use ferrokube_apimachinery::validation::{
    go_quote, is_valid_path_segment_name, validate_label_selector, BadValue, FieldError,
};
use serde_json::Value;

const OPERATIONS: &[&str] = &["*", "CONNECT", "CREATE", "DELETE", "UPDATE"];
const SCOPES: &[&str] = &["*", "Cluster", "Namespaced"];
const MATCH_POLICIES: &[&str] = &["Equivalent", "Exact"];

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().unwrap_or(""))
        .collect()
}

/// Go's `%#v` of a string slice (`[]string{"*", "apps"}`), as upstream prints such values.
fn go_slice(type_name: &str, items: &[&str]) -> BadValue {
    let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    BadValue::Raw(format!("{type_name}{{{}}}", quoted.join(", ")))
}

/// `validateMatchResources` (after defaulting, so the match policy and selectors are set).
pub fn validate_match_resources(mr: &Value, at: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if mr.is_null() {
        return errs;
    }
    match mr["matchPolicy"].as_str() {
        None => errs.push(FieldError::required(&format!("{at}.matchPolicy"), "")),
        Some(p) if !MATCH_POLICIES.contains(&p) => errs.push(FieldError::not_supported(
            &format!("{at}.matchPolicy"),
            p,
            MATCH_POLICIES,
        )),
        Some(_) => {}
    }
    for selector in ["namespaceSelector", "objectSelector"] {
        let path = format!("{at}.{selector}");
        match mr.get(selector).filter(|s| !s.is_null()) {
            None => errs.push(FieldError::required(&path, "")),
            Some(sel) => errs.extend(validate_label_selector(sel, &path)),
        }
    }
    for list in ["resourceRules", "excludeResourceRules"] {
        let rules = mr[list].as_array().into_iter().flatten();
        for (i, rule) in rules.enumerate() {
            errs.extend(validate_named_rule(rule, &format!("{at}.{list}[{i}]")));
        }
    }
    errs
}

/// `validateNamedRuleWithOperations`: resource names are path segments, each once.
fn validate_named_rule(rule: &Value, at: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, name) in strings(&rule["resourceNames"]).into_iter().enumerate() {
        let path = format!("{at}.resourceNames[{i}]");
        for msg in is_valid_path_segment_name(name) {
            errs.push(FieldError::invalid(&path, name, &msg));
        }
        if !seen.insert(name) {
            errs.push(FieldError::duplicate(&path, name));
        }
    }
    errs.extend(validate_rule_with_operations(rule, at));
    errs
}

/// `validateRuleWithOperations`: known operations, `*` alone; then the rule itself.
pub fn validate_rule_with_operations(rule: &Value, at: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let operations = strings(&rule["operations"]);
    if operations.is_empty() {
        errs.push(FieldError::required(&format!("{at}.operations"), ""));
    }
    if operations.len() > 1 && operations.contains(&"*") {
        errs.push(FieldError::invalid(
            &format!("{at}.operations"),
            go_slice("[]admissionregistration.OperationType", &operations),
            "if '*' is present, must not specify other operations",
        ));
    }
    for (i, op) in operations.iter().enumerate() {
        if !OPERATIONS.contains(op) {
            errs.push(FieldError::not_supported(
                &format!("{at}.operations[{i}]"),
                *op,
                OPERATIONS,
            ));
        }
    }
    errs.extend(validate_rule(rule, at));
    errs
}

/// `validateRule`: groups and versions named (`*` alone), resources, a known scope.
fn validate_rule(rule: &Value, at: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (field, what) in [("apiGroups", "API groups"), ("apiVersions", "API versions")] {
        let items = strings(&rule[field]);
        if items.is_empty() {
            errs.push(FieldError::required(&format!("{at}.{field}"), ""));
        }
        if items.len() > 1 && items.contains(&"*") {
            errs.push(FieldError::invalid(
                &format!("{at}.{field}"),
                go_slice("[]string", &items),
                &format!("if '*' is present, must not specify other {what}"),
            ));
        }
        if field == "apiVersions" {
            for (i, _) in items.iter().enumerate().filter(|(_, v)| v.is_empty()) {
                errs.push(FieldError::required(&format!("{at}.apiVersions[{i}]"), ""));
            }
        }
    }
    errs.extend(validate_resources(
        &strings(&rule["resources"]),
        &format!("{at}.resources"),
    ));
    if let Some(scope) = rule["scope"].as_str() {
        if !SCOPES.contains(&scope) {
            errs.push(FieldError::not_supported(
                &format!("{at}.scope"),
                scope,
                SCOPES,
            ));
        }
    }
    errs
}

/// `validateResources`: `resource`, `resource/subresource`, `*`, `*/*`, `x/*`, `*/x`, without
/// a wildcard overlapping what is also named.
fn validate_resources(resources: &[&str], at: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if resources.is_empty() {
        errs.push(FieldError::required(at, ""));
    }
    let mut wildcard_sub_of = BTreeSet::new();
    let mut wildcard_resource_for = BTreeSet::new();
    let (mut double_wildcard, mut single_wildcard, mut plain) = (false, false, false);
    for (i, entry) in resources.iter().enumerate() {
        let path = format!("{at}[{i}]");
        if entry.is_empty() {
            errs.push(FieldError::required(&path, ""));
            continue;
        }
        double_wildcard |= *entry == "*/*";
        single_wildcard |= *entry == "*";
        let Some((resource, sub)) = entry.split_once('/') else {
            plain = *entry != "*";
            continue;
        };
        if wildcard_sub_of.contains(resource) {
            errs.push(FieldError::invalid(
                &path,
                *entry,
                &format!("if '{resource}/*' is present, must not specify {entry}"),
            ));
        }
        if wildcard_resource_for.contains(sub) {
            errs.push(FieldError::invalid(
                &path,
                *entry,
                &format!("if '*/{sub}' is present, must not specify {entry}"),
            ));
        }
        if sub == "*" {
            wildcard_sub_of.insert(resource);
        }
        if resource == "*" {
            wildcard_resource_for.insert(sub);
        }
    }
    if resources.len() > 1 && double_wildcard {
        errs.push(FieldError::invalid(
            at,
            go_slice("[]string", resources),
            "if '*/*' is present, must not specify other resources",
        ));
    }
    if single_wildcard && plain {
        errs.push(FieldError::invalid(
            at,
            go_slice("[]string", resources),
            "if '*' is present, must not specify other resources without subresources",
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(errs: &[FieldError]) -> Vec<String> {
        errs.iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect()
    }

    fn resources(rules: Value) -> Value {
        json!({"matchPolicy": "Equivalent", "namespaceSelector": {}, "objectSelector": {},
            "resourceRules": rules})
    }

    #[test]
    fn good_rules_pass() {
        let mr = resources(json!([{"apiGroups": ["apps"], "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"], "resources": ["deployments", "deployments/scale"],
            "resourceNames": ["web"], "scope": "Namespaced"},
            {"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*/*"]}]));
        assert!(validate_match_resources(&mr, "spec.matchResources").is_empty());
    }

    #[test]
    fn what_upstream_refuses() {
        // As upstream, a bare `*` listed after a named resource goes unremarked: only the last
        // entry decides whether a resource without subresource was named.
        let mr = json!({"matchPolicy": "Sometimes", "objectSelector": {"matchExpressions":
                [{"key": "a", "operator": "In", "values": []}]},
            "resourceRules": [{"apiGroups": ["*", "apps"], "apiVersions": [""],
                "operations": ["*", "PATCH"], "resources": ["*", "pods"],
                "resourceNames": ["a/b", "x", "x"], "scope": "Galaxy"},
                {"apiGroups": [], "apiVersions": ["v1"], "operations": [],
                "resources": ["pods/*", "pods/log", "*/*"]}]});
        let got = messages(&validate_match_resources(&mr, "spec.matchResources"));
        let want = [
            "spec.matchResources.matchPolicy: Unsupported value: \"Sometimes\": supported values: \"Equivalent\", \"Exact\"",
            "spec.matchResources.namespaceSelector: Required value",
            "spec.matchResources.objectSelector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
            "spec.matchResources.resourceRules[0].resourceNames[0]: Invalid value: \"a/b\": may not contain '/'",
            "spec.matchResources.resourceRules[0].resourceNames[2]: Duplicate value: \"x\"",
            "spec.matchResources.resourceRules[0].operations: Invalid value: []admissionregistration.OperationType{\"*\", \"PATCH\"}: if '*' is present, must not specify other operations",
            "spec.matchResources.resourceRules[0].operations[1]: Unsupported value: \"PATCH\": supported values: \"*\", \"CONNECT\", \"CREATE\", \"DELETE\", \"UPDATE\"",
            "spec.matchResources.resourceRules[0].apiGroups: Invalid value: []string{\"*\", \"apps\"}: if '*' is present, must not specify other API groups",
            "spec.matchResources.resourceRules[0].apiVersions[0]: Required value",
            "spec.matchResources.resourceRules[0].resources: Invalid value: []string{\"*\", \"pods\"}: if '*' is present, must not specify other resources without subresources",
            "spec.matchResources.resourceRules[0].scope: Unsupported value: \"Galaxy\": supported values: \"*\", \"Cluster\", \"Namespaced\"",
            "spec.matchResources.resourceRules[1].operations: Required value",
            "spec.matchResources.resourceRules[1].apiGroups: Required value",
            "spec.matchResources.resourceRules[1].resources[1]: Invalid value: \"pods/log\": if 'pods/*' is present, must not specify pods/log",
            "spec.matchResources.resourceRules[1].resources: Invalid value: []string{\"pods/*\", \"pods/log\", \"*/*\"}: if '*/*' is present, must not specify other resources",
        ];
        assert_eq!(got, want);
    }
}
