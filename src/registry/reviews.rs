//! The review kinds (`authorization.k8s.io/v1` access and rules reviews,
//! `authentication.k8s.io/v1` SelfSubjectReview and TokenReview): create-only, never stored,
//! each answering with the object it was given plus a computed `status`, as upstream's
//! create-only REST storages do.

use futures::future::BoxFuture;
use k8s_openapi::api::authentication::v1 as authn;
use k8s_openapi::api::authorization::v1 as authz;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

use ferrokube_auth::rbac::RequestInfo;
use ferrokube_auth::UserInfo;
use k8s_openapi::api::rbac::v1::PolicyRule;

use super::subresource::{Action, ActionOutcome};
use crate::status::{ApiError, ApiResult, Cause};

const AUTHZ_GROUP: &str = "authorization.k8s.io";

fn decode<T: DeserializeOwned>(body: Value) -> ApiResult<T> {
    serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request(format!("decoding the review: {e}")))
}

fn created<T: Serialize>(obj: &T) -> ApiResult<ActionOutcome> {
    let bytes = serde_json::to_vec(obj).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(ActionOutcome::Object(201, bytes.into()))
}

fn invalid(kind: &str, field: &str, message: &str) -> ApiError {
    ApiError::invalid(
        AUTHZ_GROUP,
        kind,
        "",
        vec![Cause {
            reason: "FieldValueInvalid".into(),
            message: message.into(),
            field: field.into(),
        }],
    )
}

fn requester<'a>(a: &Action<'a>) -> ApiResult<&'a UserInfo> {
    a.user
        .ok_or_else(|| ApiError::internal("no user found for the request"))
}

/// The attributes a review asks about (upstream `ResourceAttributesFrom` /
/// `NonResourceAttributesFrom`).
fn attributes(
    kind: &str,
    resource: &Option<authz::ResourceAttributes>,
    non_resource: &Option<authz::NonResourceAttributes>,
) -> ApiResult<RequestInfo> {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    match (resource, non_resource) {
        (Some(r), None) => Ok(RequestInfo {
            resource_request: true,
            verb: s(&r.verb),
            api_group: s(&r.group),
            api_version: s(&r.version),
            resource: s(&r.resource),
            subresource: s(&r.subresource),
            namespace: s(&r.namespace),
            name: s(&r.name),
            path: String::new(),
            field_selector: r
                .field_selector
                .as_ref()
                .and_then(|f| f.raw_selector.clone())
                .unwrap_or_default(),
        }),
        (None, Some(n)) => Ok(RequestInfo::non_resource(&s(&n.verb), &s(&n.path))),
        (Some(_), Some(_)) => Err(invalid(
            kind,
            "spec.nonResourceAttributes",
            "cannot be specified in combination with resourceAttributes",
        )),
        (None, None) => Err(invalid(
            kind,
            "spec.resourceAttributes",
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )),
    }
}

/// Decides for `user` and shapes the answer as `SubjectAccessReviewStatus`.
async fn decide(
    a: &Action<'_>,
    user: &UserInfo,
    info: &RequestInfo,
) -> ApiResult<authz::SubjectAccessReviewStatus> {
    let authorizer = a
        .authorizer
        .ok_or_else(|| ApiError::internal("no authorizer"))?;
    let store = &a.registry.store;
    let (decision, why_not) = authorizer.authorize_explained(store, user, info).await;
    // A refusal carries the Node authorizer's explanation, as upstream's union reports it.
    let reason = match &decision {
        ferrokube_auth::rbac::Decision::Allow(reason) => reason.clone(),
        ferrokube_auth::rbac::Decision::NoOpinion => why_not,
    };
    Ok(authz::SubjectAccessReviewStatus {
        allowed: decision.is_allowed(),
        reason: (!reason.is_empty()).then_some(reason),
        ..Default::default()
    })
}

/// `selfsubjectaccessreviews`: may I?
pub fn self_subject_access_review(a: Action<'_>) -> BoxFuture<'_, ApiResult<ActionOutcome>> {
    Box::pin(async move {
        let mut review: authz::SelfSubjectAccessReview = decode(a.body.clone())?;
        let info = attributes(
            "SelfSubjectAccessReview",
            &review.spec.resource_attributes,
            &review.spec.non_resource_attributes,
        )?;
        let user = requester(&a)?;
        review.status = Some(decide(&a, user, &info).await?);
        created(&review)
    })
}

/// The user a SubjectAccessReview spec names (upstream: at least a user or a group).
fn spec_user(kind: &str, spec: &authz::SubjectAccessReviewSpec) -> ApiResult<UserInfo> {
    let name = spec.user.clone().unwrap_or_default();
    let groups = spec.groups.clone().unwrap_or_default();
    if name.is_empty() && groups.is_empty() {
        return Err(invalid(
            kind,
            "spec.user",
            "at least one of user or group must be specified",
        ));
    }
    Ok(UserInfo {
        name,
        uid: spec.uid.clone().unwrap_or_default(),
        groups,
        extra: spec.extra.clone().unwrap_or_default().into_iter().collect(),
    })
}

/// `subjectaccessreviews`: may this user?
pub fn subject_access_review(a: Action<'_>) -> BoxFuture<'_, ApiResult<ActionOutcome>> {
    Box::pin(async move {
        let mut review: authz::SubjectAccessReview = decode(a.body.clone())?;
        let kind = "SubjectAccessReview";
        let info = attributes(
            kind,
            &review.spec.resource_attributes,
            &review.spec.non_resource_attributes,
        )?;
        let user = spec_user(kind, &review.spec)?;
        review.status = Some(decide(&a, &user, &info).await?);
        created(&review)
    })
}

/// `namespaces/<ns>/localsubjectaccessreviews`: may this user, in this namespace?
pub fn local_subject_access_review(a: Action<'_>) -> BoxFuture<'_, ApiResult<ActionOutcome>> {
    Box::pin(async move {
        let mut review: authz::LocalSubjectAccessReview = decode(a.body.clone())?;
        let kind = "LocalSubjectAccessReview";
        let namespace = a.namespace.unwrap_or_default().to_string();
        match review.metadata.namespace.as_deref() {
            None | Some("") => review.metadata.namespace = Some(namespace.clone()),
            Some(ns) if ns == namespace => {}
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "spec.resourceAttributes.namespace must match namespace: {namespace}"
                )))
            }
        }
        if review.spec.non_resource_attributes.is_some() {
            return Err(invalid(
                kind,
                "spec.nonResourceAttributes",
                "disallowed on this kind of request",
            ));
        }
        let info = attributes(kind, &review.spec.resource_attributes, &None)?;
        if info.namespace != namespace {
            return Err(invalid(
                kind,
                "spec.resourceAttributes.namespace",
                "must match metadata.namespace",
            ));
        }
        let user = spec_user(kind, &review.spec)?;
        review.status = Some(decide(&a, &user, &info).await?);
        created(&review)
    })
}

fn resource_rule(r: &PolicyRule) -> authz::ResourceRule {
    authz::ResourceRule {
        api_groups: r.api_groups.clone(),
        resources: r.resources.clone(),
        resource_names: r.resource_names.clone().filter(|n| !n.is_empty()),
        verbs: r.verbs.clone(),
    }
}

/// `selfsubjectrulesreviews`: what may I do in this namespace (`kubectl auth can-i --list`)?
pub fn self_subject_rules_review(a: Action<'_>) -> BoxFuture<'_, ApiResult<ActionOutcome>> {
    Box::pin(async move {
        let mut review: authz::SelfSubjectRulesReview = decode(a.body.clone())?;
        let namespace = review.spec.namespace.clone().unwrap_or_default();
        if namespace.is_empty() {
            return Err(ApiError::bad_request("no namespace on request"));
        }
        let user = requester(&a)?;
        let authorizer = a
            .authorizer
            .ok_or_else(|| ApiError::internal("no authorizer"))?;
        authorizer
            .catch_up(a.registry.store.current_revision())
            .await;
        let rules = authorizer.policy().effective_rules(user, &namespace);
        review.status = Some(authz::SubjectRulesReviewStatus {
            resource_rules: rules
                .iter()
                .filter(|r| r.resources.as_ref().is_some_and(|v| !v.is_empty()))
                .map(resource_rule)
                .collect(),
            non_resource_rules: rules
                .iter()
                .filter(|r| r.non_resource_urls.as_ref().is_some_and(|v| !v.is_empty()))
                .map(|r| authz::NonResourceRule {
                    non_resource_urls: r.non_resource_urls.clone(),
                    verbs: r.verbs.clone(),
                })
                .collect(),
            incomplete: false,
            evaluation_error: None,
        });
        created(&review)
    })
}

fn user_info(user: &UserInfo) -> authn::UserInfo {
    authn::UserInfo {
        username: Some(user.name.clone()),
        uid: (!user.uid.is_empty()).then(|| user.uid.clone()),
        groups: (!user.groups.is_empty()).then(|| user.groups.clone()),
        extra: (!user.extra.is_empty()).then(|| user.extra.clone().into_iter().collect()),
    }
}

/// `selfsubjectreviews`: who am I (`kubectl auth whoami`)?
pub fn self_subject_review(a: Action<'_>) -> BoxFuture<'_, ApiResult<ActionOutcome>> {
    Box::pin(async move {
        let mut review: authn::SelfSubjectReview = decode(a.body.clone())?;
        let user = requester(&a)?;
        review.status = Some(authn::SelfSubjectReviewStatus {
            user_info: Some(user_info(user)),
        });
        created(&review)
    })
}

/// `tokenreviews`: whom does this token identify (for webhook authenticators and kubelets)?
pub fn token_review(a: Action<'_>) -> BoxFuture<'_, ApiResult<ActionOutcome>> {
    Box::pin(async move {
        let mut review: authn::TokenReview = decode(a.body.clone())?;
        let token = review.spec.token.clone();
        if token.is_empty() {
            return Err(ApiError::bad_request(
                "token is required for TokenReview in authentication",
            ));
        }
        let authenticator = a
            .authenticator
            .ok_or_else(|| ApiError::internal("no authenticator"))?;
        let api_audiences: Vec<String> = a
            .tokens
            .map(|t| t.api_audiences().to_vec())
            .unwrap_or_default();
        // Our tokens are issued for the API audiences; a review asking for others gets no
        // identity (upstream's audience-agnostic authenticators do the same intersection).
        let wanted = review.spec.audiences.clone().unwrap_or_default();
        let audiences: Vec<String> = if wanted.is_empty() {
            api_audiences.clone()
        } else {
            wanted
                .into_iter()
                .filter(|w| api_audiences.contains(w))
                .collect()
        };
        let status = if audiences.is_empty() {
            authn::TokenReviewStatus {
                authenticated: Some(false),
                error: Some("token audiences are not among the API server's".into()),
                ..Default::default()
            }
        } else {
            let header = format!("Bearer {token}");
            let bootstrap =
                super::bootstrap_tokens::authenticate(&a.registry.store, Some(&header)).await;
            let user = match bootstrap {
                Some(user) => Ok(user),
                None => authenticator
                    .authenticate_with(None, Some(&header))
                    .map_err(|e| e.to_string()),
            };
            let user = match user {
                Ok(user) => super::bound_tokens::still_valid(&a.registry.store, &user)
                    .await
                    .map(|()| user),
                Err(e) => Err(e),
            };
            match user {
                Ok(user) => authn::TokenReviewStatus {
                    authenticated: Some(true),
                    user: Some(user_info(&user)),
                    audiences: Some(audiences),
                    error: None,
                },
                Err(e) => authn::TokenReviewStatus {
                    authenticated: Some(false),
                    error: Some(e),
                    ..Default::default()
                },
            }
        };
        review.status = Some(status);
        created(&review)
    })
}
