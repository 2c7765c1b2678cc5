//! Upstream's rule and subject matching (`rbac.RuleAllows`, `appliesToUser`).

use k8s_openapi::api::rbac::v1::{PolicyRule, Subject};

use super::RequestInfo;
use crate::service_account::SERVICE_ACCOUNT_USER_PREFIX;
use crate::UserInfo;

const ALL: &str = "*";

fn has(list: &Option<Vec<String>>, value: &str) -> bool {
    list.as_deref()
        .is_some_and(|l| l.iter().any(|v| v == ALL || v == value))
}

fn verb_matches(rule: &PolicyRule, verb: &str) -> bool {
    rule.verbs.iter().any(|v| v == ALL || v == verb)
}

/// `*`, the exact `resource/subresource`, or `*/subresource` for any resource's subresource.
fn resource_matches(rule: &PolicyRule, resource: &str, subresource: &str) -> bool {
    let Some(resources) = rule.resources.as_deref() else {
        return false;
    };
    resources.iter().any(|r| {
        if r == ALL {
            return true;
        }
        if subresource.is_empty() {
            return r == resource;
        }
        match r.split_once('/') {
            Some((res, sub)) => sub == subresource && (res == resource || res == ALL),
            None => false,
        }
    })
}

/// An empty `resourceNames` allows every name; otherwise the request must name one of them
/// (so a list or create, which names nothing, is not allowed by such a rule).
fn resource_name_matches(rule: &PolicyRule, name: &str) -> bool {
    match rule.resource_names.as_deref() {
        None | Some([]) => true,
        Some(names) => !name.is_empty() && names.iter().any(|n| n == name),
    }
}

/// `*`, the exact path, or a prefix ending in `*`.
pub(crate) fn non_resource_url_matches(pattern: &str, path: &str) -> bool {
    pattern == ALL
        || pattern == path
        || pattern
            .strip_suffix('*')
            .is_some_and(|prefix| path.starts_with(prefix))
}

/// Whether `rule` allows the request.
pub fn rule_allows(info: &RequestInfo, rule: &PolicyRule) -> bool {
    if !verb_matches(rule, &info.verb) {
        return false;
    }
    if info.resource_request {
        has(&rule.api_groups, &info.api_group)
            && resource_matches(rule, &info.resource, &info.subresource)
            && resource_name_matches(rule, &info.name)
    } else {
        rule.non_resource_urls
            .as_deref()
            .is_some_and(|urls| urls.iter().any(|u| non_resource_url_matches(u, &info.path)))
    }
}

/// Whether a binding subject is `user`. `namespace` is the binding's namespace: a
/// ServiceAccount subject without one means an account in it.
pub fn subject_applies(subject: &Subject, user: &UserInfo, namespace: &str) -> bool {
    match subject.kind.as_str() {
        "User" => user.name == subject.name,
        "Group" => user.groups.contains(&subject.name),
        "ServiceAccount" => {
            let ns = subject
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(namespace);
            !ns.is_empty()
                && user
                    .name
                    .strip_prefix(SERVICE_ACCOUNT_USER_PREFIX)
                    .and_then(|rest| rest.split_once(':'))
                    .is_some_and(|(n, name)| n == ns && name == subject.name)
        }
        _ => false,
    }
}
