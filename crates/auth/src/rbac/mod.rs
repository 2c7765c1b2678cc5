//! Role-based access control the way kube-apiserver's RBAC authorizer decides: pure logic over
//! a snapshot of Roles, ClusterRoles and their bindings, no I/O.
//!
//! - [`RequestInfo::from_request`] turns a method, path and query into upstream's request
//!   attributes (verb, API group, resource, subresource, namespace, name, or a non-resource path).
//! - [`Policy`] holds the RBAC objects (kept current by the server's cache) and answers
//!   [`Policy::authorize`], [`Policy::rules_for`] (SelfSubjectRulesReview) and resolves
//!   ClusterRole aggregation.
//! - [`escalation`] refuses Roles and bindings that grant more than their author holds.
//! - [`impersonation`] turns `Impersonate-*` headers into the acted-as user and its checks.
//! - [`node`] is upstream's Node authorizer over a graph of what each node's pods reference.
//! - [`bootstrap`] is upstream's default policy as data.
//! - [`forbidden_status`] is the 403 body with upstream's wording.

pub mod bootstrap;
pub mod escalation;
pub mod impersonation;
pub mod node;
mod policy;
mod request;
mod rules;
pub mod selector;

pub use policy::{Decision, Policy};
pub use request::RequestInfo;
pub use rules::{rule_allows, subject_applies};
pub use selector::selector_matches;

/// Annotation by which a bootstrap object asks to be kept up to date at start
/// (`"false"` keeps the user's edits).
pub const AUTOUPDATE_ANNOTATION: &str = "rbac.authorization.kubernetes.io/autoupdate";
/// The API group of the RBAC kinds.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Upstream's `forbiddenMessage`: who cannot do what, where.
pub fn forbidden_message(user: &str, info: &RequestInfo) -> String {
    if !info.resource_request {
        return format!("User {user:?} cannot {} path {:?}", info.verb, info.path);
    }
    let mut resource = info.resource.clone();
    if !info.subresource.is_empty() {
        resource = format!("{resource}/{}", info.subresource);
    }
    if info.namespace.is_empty() {
        format!(
            "User {user:?} cannot {} resource {resource:?} in API group {:?} at the cluster scope",
            info.verb, info.api_group
        )
    } else {
        format!(
            "User {user:?} cannot {} resource {resource:?} in API group {:?} in the namespace {:?}",
            info.verb, info.api_group, info.namespace
        )
    }
}

/// The 403 `Status` kube-apiserver answers a denied request with (`apierrors.NewForbidden`
/// over the request's group/resource and name).
pub fn forbidden_status(user: &str, info: &RequestInfo) -> serde_json::Value {
    forbidden_status_because(user, info, "")
}

/// [`forbidden_status`] with the authorizers' reason appended (`...: <reason>`), as
/// kube-apiserver words a refusal the Node authorizer explained.
pub fn forbidden_status_because(user: &str, info: &RequestInfo, why: &str) -> serde_json::Value {
    let mut reason = forbidden_message(user, info);
    if !why.is_empty() {
        reason = format!("{reason}: {why}");
    }
    forbidden_status_with(&info.api_group, &info.resource, &info.name, &reason)
}

/// `apierrors.NewForbidden(group/resource, name, reason)` as a `Status` body.
pub fn forbidden_status_with(
    group: &str,
    resource: &str,
    name: &str,
    reason: &str,
) -> serde_json::Value {
    let qualified = if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    };
    let message = if qualified.is_empty() {
        format!("forbidden: {reason}")
    } else if name.is_empty() {
        format!("{qualified} is forbidden: {reason}")
    } else {
        format!("{qualified} {name:?} is forbidden: {reason}")
    };
    let mut details = serde_json::Map::new();
    if !name.is_empty() {
        details.insert("name".into(), name.into());
    }
    if !group.is_empty() {
        details.insert("group".into(), group.into());
    }
    if !resource.is_empty() {
        details.insert("kind".into(), resource.into());
    }
    serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "Forbidden",
        "details": details,
        "code": 403
    })
}

#[cfg(test)]
mod tests;
