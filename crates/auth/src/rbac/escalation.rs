//! Escalation prevention (upstream `rbac/validation`): a Role, ClusterRole or binding may only
//! grant what its author already holds, unless the author may `escalate` (roles) or `bind`
//! (bindings) — or is in `system:masters`.

use k8s_openapi::api::rbac::v1::PolicyRule;

use super::policy::SYSTEM_MASTERS;
use super::rules::non_resource_url_matches;
use super::{Policy, RequestInfo, RBAC_GROUP};
use crate::UserInfo;

/// What a write of an RBAC object asks to grant.
pub enum Grant<'a> {
    /// A Role (namespace set) or ClusterRole (namespace empty) with these rules.
    Role {
        /// `roles` or `clusterroles`.
        resource: &'a str,
        /// The role's namespace, empty for a ClusterRole.
        namespace: &'a str,
        /// The role's name.
        name: &'a str,
        /// Its rules (for an aggregated ClusterRole: what aggregation would give it).
        rules: &'a [PolicyRule],
    },
    /// A RoleBinding (namespace set) or ClusterRoleBinding referencing a role.
    Binding {
        /// The binding's namespace, empty for a ClusterRoleBinding.
        namespace: &'a str,
        /// `Role` or `ClusterRole`.
        role_kind: &'a str,
        /// The referenced role's name.
        role_name: &'a str,
    },
}

/// Ok when `user` may write the object; otherwise the reason upstream gives, to be answered
/// as a 403 on the object being written.
pub fn check(policy: &Policy, user: &UserInfo, grant: &Grant<'_>) -> Result<(), String> {
    if user.groups.iter().any(|g| g == SYSTEM_MASTERS) {
        return Ok(());
    }
    match grant {
        Grant::Role {
            namespace, rules, ..
        } => {
            if may_escalate(policy, user, grant) {
                return Ok(());
            }
            confirm_no_escalation(policy, user, namespace, rules)
        }
        Grant::Binding {
            namespace,
            role_kind,
            role_name,
        } => {
            let resource = if *role_kind == "Role" {
                "roles"
            } else {
                "clusterroles"
            };
            let bind =
                RequestInfo::resource("bind", RBAC_GROUP, resource, namespace).named(role_name);
            if policy.authorize(user, &bind).is_allowed() {
                return Ok(());
            }
            // A binding to a role that does not exist grants nothing yet; upstream refuses it
            // (the rules cannot be resolved) unless the author may bind.
            let Some(rules) = policy.role_ref_rules(role_kind, role_name, namespace) else {
                let kind = if *role_kind == "Role" {
                    "role"
                } else {
                    "clusterrole"
                };
                return Err(format!("{kind}.{RBAC_GROUP} {role_name:?} not found"));
            };
            confirm_no_escalation(policy, user, namespace, &rules)
        }
    }
}

/// Upstream's `EscalationAllowed || RoleEscalationAuthorized`: `system:masters`, or the
/// `escalate` verb on the role being written. Always false for bindings.
pub fn may_escalate(policy: &Policy, user: &UserInfo, grant: &Grant<'_>) -> bool {
    let Grant::Role {
        resource,
        namespace,
        name,
        ..
    } = grant
    else {
        return false;
    };
    if user.groups.iter().any(|g| g == SYSTEM_MASTERS) {
        return true;
    }
    let escalate = RequestInfo::resource("escalate", RBAC_GROUP, resource, namespace).named(name);
    policy.authorize(user, &escalate).is_allowed()
}

/// Upstream's `ConfirmNoEscalation`: every atomic permission in `requested` must be covered
/// by a rule the user holds in `namespace`.
pub fn confirm_no_escalation(
    policy: &Policy,
    user: &UserInfo,
    namespace: &str,
    requested: &[PolicyRule],
) -> Result<(), String> {
    let owned = policy.rules_for(user, namespace);
    let missing = uncovered(&owned, requested);
    if missing.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = missing.iter().map(compact).collect();
    Err(format!(
        "user {:?} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        user.name,
        go_quoted(&user.groups),
        lines.join("\n")
    ))
}

/// The atomic permissions of `requested` no rule of `owned` covers.
pub fn uncovered(owned: &[PolicyRule], requested: &[PolicyRule]) -> Vec<PolicyRule> {
    requested
        .iter()
        .flat_map(breakdown)
        .filter(|atom| !owned.iter().any(|o| covers(o, atom)))
        .collect()
}

/// One rule per verb × group × resource (× resourceName), or per verb × non-resource URL.
fn breakdown(rule: &PolicyRule) -> Vec<PolicyRule> {
    let mut out = Vec::new();
    let one = |s: &String| Some(vec![s.clone()]);
    for group in rule.api_groups.iter().flatten() {
        for resource in rule.resources.iter().flatten() {
            for verb in &rule.verbs {
                let names = rule.resource_names.as_deref().unwrap_or_default();
                let base = PolicyRule {
                    api_groups: one(group),
                    resources: one(resource),
                    verbs: vec![verb.clone()],
                    ..PolicyRule::default()
                };
                if names.is_empty() {
                    out.push(base);
                } else {
                    out.extend(names.iter().map(|n| PolicyRule {
                        resource_names: one(n),
                        ..base.clone()
                    }));
                }
            }
        }
    }
    for url in rule.non_resource_urls.iter().flatten() {
        for verb in &rule.verbs {
            out.push(PolicyRule {
                non_resource_urls: one(url),
                verbs: vec![verb.clone()],
                ..PolicyRule::default()
            });
        }
    }
    out
}

fn has_all(owner: &Option<Vec<String>>, wanted: &Option<Vec<String>>) -> bool {
    let owner = owner.as_deref().unwrap_or_default();
    owner.iter().any(|o| o == "*")
        || wanted
            .iter()
            .flatten()
            .all(|w| owner.iter().any(|o| o == w))
}

fn resource_covered(owner: &[String], wanted: &str) -> bool {
    owner.iter().any(|o| o == "*" || o == wanted)
        || wanted
            .split_once('/')
            .is_some_and(|(_, sub)| owner.iter().any(|o| *o == format!("*/{sub}")))
}

/// Upstream's `ruleCovers` for one atomic rule.
fn covers(owner: &PolicyRule, atom: &PolicyRule) -> bool {
    let verbs =
        owner.verbs.iter().any(|v| v == "*") || atom.verbs.iter().all(|v| owner.verbs.contains(v));
    let groups = has_all(&owner.api_groups, &atom.api_groups);
    let owner_resources = owner.resources.as_deref().unwrap_or_default();
    let resources = atom
        .resources
        .iter()
        .flatten()
        .all(|r| resource_covered(owner_resources, r));
    let owner_urls = owner.non_resource_urls.as_deref().unwrap_or_default();
    let urls = atom
        .non_resource_urls
        .iter()
        .flatten()
        .all(|u| owner_urls.iter().any(|o| non_resource_url_matches(o, u)));
    let owner_names = owner.resource_names.as_deref().unwrap_or_default();
    let names = match atom.resource_names.as_deref() {
        None | Some([]) => owner_names.is_empty(),
        Some(wanted) => owner_names.is_empty() || wanted.iter().all(|w| owner_names.contains(w)),
    };
    verbs && groups && resources && urls && names
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
fn go_quoted(list: &[String]) -> String {
    let items: Vec<String> = list.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", items.join(" "))
}

/// Upstream's `CompactString` of a rule: `{APIGroups:[""], Resources:["pods"], Verbs:["get"]}`.
pub fn compact(rule: &PolicyRule) -> String {
    let mut parts = Vec::new();
    let mut field = |label: &str, v: &Option<Vec<String>>| {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            parts.push(format!("{label}:{}", go_quoted(v)));
        }
    };
    field("APIGroups", &rule.api_groups);
    field("Resources", &rule.resources);
    field("NonResourceURLs", &rule.non_resource_urls);
    field("ResourceNames", &rule.resource_names);
    field("Verbs", &Some(rule.verbs.clone()));
    format!("{{{}}}", parts.join(", "))
}
