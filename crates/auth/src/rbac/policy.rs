//! A snapshot of the cluster's RBAC objects and the decisions made over it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::api::rbac::v1::{RoleRef, Subject};

use super::{rule_allows, selector_matches, subject_applies, RequestInfo};
use crate::UserInfo;

/// Upstream's privileged group: always allowed, whatever the RBAC objects say.
pub const SYSTEM_MASTERS: &str = "system:masters";

/// What an authorizer says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed, and why (upstream's reason string).
    Allow(String),
    /// Not allowed by anything this authorizer knows.
    NoOpinion,
}

impl Decision {
    /// Whether the request may proceed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }
}

/// One binding, reduced to what decisions need.
#[derive(Debug, Clone)]
struct Binding {
    name: String,
    subjects: Vec<Subject>,
    role_ref: RoleRef,
}

/// The RBAC objects of a cluster, indexed for decisions. ClusterRoles with an
/// `aggregationRule` carry the union of the rules of the ClusterRoles they select.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    cluster_roles: BTreeMap<String, ClusterRole>,
    effective: HashMap<String, Arc<Vec<PolicyRule>>>,
    roles: HashMap<(String, String), Arc<Vec<PolicyRule>>>,
    cluster_role_bindings: BTreeMap<String, Binding>,
    role_bindings: HashMap<String, NamespaceBindings>,
}

/// One namespace's RoleBindings, also indexed by subject so a decision looks only at the
/// bindings that can apply to the user (upstream scans them all; with thousands of bindings in
/// a namespace that scan dominated the cost of a request).
#[derive(Debug, Clone, Default)]
struct NamespaceBindings {
    by_name: BTreeMap<String, Binding>,
    by_subject: HashMap<String, BTreeSet<String>>,
}

/// The index key of a binding subject; ServiceAccount subjects without a namespace mean the
/// binding's. Unknown kinds apply to nobody and are not indexed.
fn subject_key(subject: &Subject, namespace: &str) -> Option<String> {
    match subject.kind.as_str() {
        "User" | "Group" => Some(format!("{}\0{}", subject.kind, subject.name)),
        "ServiceAccount" => {
            let ns = subject
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(namespace);
            Some(format!("ServiceAccount\0{ns}\0{}", subject.name))
        }
        _ => None,
    }
}

/// The index keys a user's bindings would have.
fn user_keys(user: &UserInfo) -> Vec<String> {
    let mut keys = vec![format!("User\0{}", user.name)];
    keys.extend(user.groups.iter().map(|g| format!("Group\0{g}")));
    if let Some((ns, name)) = user
        .name
        .strip_prefix(crate::service_account::SERVICE_ACCOUNT_USER_PREFIX)
        .and_then(|rest| rest.split_once(':'))
    {
        keys.push(format!("ServiceAccount\0{ns}\0{name}"));
    }
    keys
}

impl NamespaceBindings {
    fn insert(&mut self, namespace: &str, binding: Binding) {
        let name = binding.name.clone();
        self.remove(namespace, &name);
        for key in binding
            .subjects
            .iter()
            .filter_map(|s| subject_key(s, namespace))
        {
            self.by_subject
                .entry(key)
                .or_default()
                .insert(binding.name.clone());
        }
        self.by_name.insert(binding.name.clone(), binding);
    }

    fn remove(&mut self, namespace: &str, name: &str) {
        let Some(old) = self.by_name.remove(name) else {
            return;
        };
        for key in old
            .subjects
            .iter()
            .filter_map(|s| subject_key(s, namespace))
        {
            if let Some(names) = self.by_subject.get_mut(&key) {
                names.remove(name);
                if names.is_empty() {
                    self.by_subject.remove(&key);
                }
            }
        }
    }

    /// The bindings naming one of the user's identities, in name order.
    fn candidates(&self, user: &UserInfo) -> impl Iterator<Item = &Binding> {
        let names: BTreeSet<&String> = user_keys(user)
            .iter()
            .filter_map(|k| self.by_subject.get(k))
            .flatten()
            .collect();
        names.into_iter().filter_map(|n| self.by_name.get(n))
    }
}

fn name_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

impl Policy {
    /// An empty policy (allows nothing but `system:masters`).
    pub fn new() -> Policy {
        Policy::default()
    }

    /// Adds or replaces a ClusterRole.
    pub fn put_cluster_role(&mut self, role: ClusterRole) {
        self.cluster_roles.insert(name_of(&role.metadata), role);
        self.recompute_aggregation();
    }

    /// Adds or replaces many ClusterRoles, resolving aggregation once.
    pub fn put_cluster_roles(&mut self, roles: impl IntoIterator<Item = ClusterRole>) {
        for role in roles {
            self.cluster_roles.insert(name_of(&role.metadata), role);
        }
        self.recompute_aggregation();
    }

    /// Removes a ClusterRole.
    pub fn remove_cluster_role(&mut self, name: &str) {
        self.cluster_roles.remove(name);
        self.recompute_aggregation();
    }

    /// Adds or replaces a Role.
    pub fn put_role(&mut self, role: Role) {
        let key = (
            role.metadata.namespace.clone().unwrap_or_default(),
            name_of(&role.metadata),
        );
        self.roles
            .insert(key, Arc::new(role.rules.unwrap_or_default()));
    }

    /// Removes a Role.
    pub fn remove_role(&mut self, namespace: &str, name: &str) {
        self.roles
            .remove(&(namespace.to_string(), name.to_string()));
    }

    /// Adds or replaces a ClusterRoleBinding.
    pub fn put_cluster_role_binding(&mut self, b: ClusterRoleBinding) {
        let name = name_of(&b.metadata);
        let binding = Binding {
            name: name.clone(),
            subjects: b.subjects.unwrap_or_default(),
            role_ref: b.role_ref,
        };
        self.cluster_role_bindings.insert(name, binding);
    }

    /// Removes a ClusterRoleBinding.
    pub fn remove_cluster_role_binding(&mut self, name: &str) {
        self.cluster_role_bindings.remove(name);
    }

    /// Adds or replaces a RoleBinding.
    pub fn put_role_binding(&mut self, b: RoleBinding) {
        let ns = b.metadata.namespace.clone().unwrap_or_default();
        let binding = Binding {
            name: name_of(&b.metadata),
            subjects: b.subjects.unwrap_or_default(),
            role_ref: b.role_ref,
        };
        self.role_bindings
            .entry(ns.clone())
            .or_default()
            .insert(&ns, binding);
    }

    /// Removes a RoleBinding.
    pub fn remove_role_binding(&mut self, namespace: &str, name: &str) {
        if let Some(in_ns) = self.role_bindings.get_mut(namespace) {
            in_ns.remove(namespace, name);
            if in_ns.by_name.is_empty() {
                self.role_bindings.remove(namespace);
            }
        }
    }

    /// `system:masters` is always allowed (upstream's privileged-groups authorizer), then RBAC.
    /// The Node authorizer ([`super::node`]) needs the server's graph and runs before this in
    /// the server's authorizer.
    pub fn authorize(&self, user: &UserInfo, info: &RequestInfo) -> Decision {
        if user.groups.iter().any(|g| g == SYSTEM_MASTERS) {
            return Decision::Allow(String::new());
        }
        self.rbac_authorize(user, info)
    }

    /// RBAC alone: allowed when a rule of a role bound to the user allows the request.
    pub fn rbac_authorize(&self, user: &UserInfo, info: &RequestInfo) -> Decision {
        for b in self.cluster_role_bindings.values() {
            let Some(subject) = b.subjects.iter().find(|s| subject_applies(s, user, "")) else {
                continue;
            };
            if let Some(rules) = self.bound_rules(&b.role_ref, "") {
                if rules.iter().any(|r| rule_allows(info, r)) {
                    return Decision::Allow(reason("ClusterRoleBinding", b, "", subject));
                }
            }
        }
        if info.namespace.is_empty() {
            return Decision::NoOpinion;
        }
        let Some(in_ns) = self.role_bindings.get(&info.namespace) else {
            return Decision::NoOpinion;
        };
        for b in in_ns.candidates(user) {
            let Some(subject) = b
                .subjects
                .iter()
                .find(|s| subject_applies(s, user, &info.namespace))
            else {
                continue;
            };
            if let Some(rules) = self.bound_rules(&b.role_ref, &info.namespace) {
                if rules.iter().any(|r| rule_allows(info, r)) {
                    let why = reason("RoleBinding", b, &info.namespace, subject);
                    return Decision::Allow(why);
                }
            }
        }
        Decision::NoOpinion
    }

    /// Every rule granted to `user` in `namespace` (cluster-wide grants included; `""`
    /// gives only those), as upstream's `RulesFor`.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> Vec<PolicyRule> {
        let mut out = Vec::new();
        for b in self.cluster_role_bindings.values() {
            if b.subjects.iter().any(|s| subject_applies(s, user, "")) {
                out.extend(
                    self.bound_rules(&b.role_ref, "")
                        .into_iter()
                        .flat_map(|r| r.iter().cloned()),
                );
            }
        }
        if let Some(in_ns) = self.role_bindings.get(namespace) {
            for b in in_ns.candidates(user) {
                if b.subjects
                    .iter()
                    .any(|s| subject_applies(s, user, namespace))
                {
                    let rules = self.bound_rules(&b.role_ref, namespace);
                    out.extend(rules.into_iter().flat_map(|r| r.iter().cloned()));
                }
            }
        }
        out
    }

    /// Every rule the whole authorizer chain grants `user` in `namespace`, as upstream's
    /// SelfSubjectRulesReview gathers them: everything for `system:masters`, the node rules
    /// for nodes, then RBAC's.
    pub fn effective_rules(&self, user: &UserInfo, namespace: &str) -> Vec<PolicyRule> {
        let mut out = Vec::new();
        if user.groups.iter().any(|g| g == SYSTEM_MASTERS) {
            out.push(PolicyRule {
                api_groups: Some(vec!["*".into()]),
                resources: Some(vec!["*".into()]),
                verbs: vec!["*".into()],
                ..PolicyRule::default()
            });
            out.push(PolicyRule {
                non_resource_urls: Some(vec!["*".into()]),
                verbs: vec!["*".into()],
                ..PolicyRule::default()
            });
        }
        if user
            .groups
            .iter()
            .any(|g| g == super::bootstrap::NODES_GROUP)
        {
            out.extend(NODE_RULES.iter().cloned());
        }
        out.extend(self.rules_for(user, namespace));
        out
    }

    /// The rules a role reference grants (`namespace` is the binding's, for Roles), None
    /// when the role does not exist.
    pub fn role_ref_rules(
        &self,
        kind: &str,
        name: &str,
        namespace: &str,
    ) -> Option<Vec<PolicyRule>> {
        let role_ref = RoleRef {
            api_group: Some(super::RBAC_GROUP.into()),
            kind: kind.into(),
            name: name.into(),
        };
        self.bound_rules(&role_ref, namespace).map(|r| r.to_vec())
    }

    fn bound_rules(&self, role_ref: &RoleRef, namespace: &str) -> Option<&Arc<Vec<PolicyRule>>> {
        match role_ref.kind.as_str() {
            "ClusterRole" => self.effective.get(&role_ref.name),
            "Role" if !namespace.is_empty() => self
                .roles
                .get(&(namespace.to_string(), role_ref.name.clone())),
            _ => None,
        }
    }

    /// The ClusterRoles with an `aggregationRule` and the rules aggregation gives them, for
    /// the controller that writes them back into the objects.
    pub fn aggregated_roles(&self) -> Vec<(String, Vec<PolicyRule>)> {
        self.cluster_roles
            .iter()
            .filter(|(_, r)| r.aggregation_rule.is_some())
            .map(|(name, _)| {
                let rules = self
                    .effective
                    .get(name)
                    .map(|r| r.to_vec())
                    .unwrap_or_default();
                (name.clone(), rules)
            })
            .collect()
    }

    fn recompute_aggregation(&mut self) {
        let mut effective = HashMap::with_capacity(self.cluster_roles.len());
        for name in self.cluster_roles.keys() {
            let rules = self.aggregate(name, &mut BTreeSet::new());
            effective.insert(name.clone(), Arc::new(rules));
        }
        self.effective = effective;
    }

    /// A ClusterRole's rules: its own, or for an aggregated role the union (in name order,
    /// without duplicates) of the rules of every ClusterRole its selectors match, itself
    /// excluded, as upstream's clusterrole-aggregation controller computes them.
    fn aggregate(&self, name: &str, visiting: &mut BTreeSet<String>) -> Vec<PolicyRule> {
        let Some(role) = self.cluster_roles.get(name) else {
            return Vec::new();
        };
        let Some(aggregation) = &role.aggregation_rule else {
            return role.rules.clone().unwrap_or_default();
        };
        if !visiting.insert(name.to_string()) {
            return role.rules.clone().unwrap_or_default();
        }
        let selectors = aggregation
            .cluster_role_selectors
            .as_deref()
            .unwrap_or_default();
        let mut rules: Vec<PolicyRule> = Vec::new();
        for (other, candidate) in &self.cluster_roles {
            if other == name {
                continue;
            }
            let labels = candidate.metadata.labels.clone().unwrap_or_default();
            if selectors.iter().any(|s| selector_matches(s, &labels)) {
                for rule in self.aggregate(other, visiting) {
                    if !rules.contains(&rule) {
                        rules.push(rule);
                    }
                }
            }
        }
        visiting.remove(name);
        rules
    }
}

/// Upstream's `authorizingVisitor` reason over its binding describers:
/// `RBAC: allowed by RoleBinding "name/namespace" of ClusterRole "edit" to ServiceAccount
/// "name/namespace"` (upstream puts the name first in both).
fn reason(kind: &str, b: &Binding, namespace: &str, subject: &Subject) -> String {
    let binding = if namespace.is_empty() {
        format!("{kind} {:?}", b.name)
    } else {
        format!("{kind} \"{}/{}\"", b.name, namespace)
    };
    let who = if subject.kind == "ServiceAccount" {
        let ns = subject
            .namespace
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(namespace);
        format!("{} \"{}/{}\"", subject.kind, subject.name, ns)
    } else {
        format!("{} {:?}", subject.kind, subject.name)
    };
    format!(
        "RBAC: allowed by {binding} of {} {:?} to {who}",
        b.role_ref.kind, b.role_ref.name
    )
}

static NODE_RULES: std::sync::LazyLock<Vec<PolicyRule>> =
    std::sync::LazyLock::new(super::bootstrap::node_rules);
