//! The API calls the kubelet delegates its decisions to (upstream's webhook token
//! authenticator and webhook authorizer): a TokenReview for a bearer token, a
//! SubjectAccessReview for a permission. Both run under the node agent's own identity, which
//! upstream's node rules allow to create them.

use async_trait::async_trait;
use ferrokube_auth::UserInfo;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

/// Where the kubelet asks who a token is and what someone may do.
#[async_trait]
pub trait Reviewer: Send + Sync {
    /// The user a bearer token authenticates as; `Ok(None)` when it authenticates nobody.
    async fn review_token(&self, token: &str) -> Result<Option<UserInfo>, String>;
    /// Whether `user` may `verb` the `nodes/<subresource>` of `node`.
    async fn review_access(
        &self,
        user: &UserInfo,
        verb: &str,
        subresource: &str,
        node: &str,
    ) -> Result<bool, String>;
}

#[async_trait]
impl Reviewer for kube::Client {
    async fn review_token(&self, token: &str) -> Result<Option<UserInfo>, String> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.to_string(),
                audiences: None,
            },
            ..Default::default()
        };
        let api: Api<TokenReview> = Api::all(self.clone());
        let answer = api
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| format!("TokenReview: {e}"))?;
        let status = answer.status.unwrap_or_default();
        if status.authenticated != Some(true) {
            return Ok(None);
        }
        let user = status.user.unwrap_or_default();
        Ok(Some(UserInfo {
            name: user.username.unwrap_or_default(),
            uid: user.uid.unwrap_or_default(),
            groups: user.groups.unwrap_or_default(),
            extra: user.extra.unwrap_or_default().into_iter().collect(),
        })
        .filter(|u| !u.name.is_empty()))
    }

    async fn review_access(
        &self,
        user: &UserInfo,
        verb: &str,
        subresource: &str,
        node: &str,
    ) -> Result<bool, String> {
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.name.clone()),
                uid: Some(user.uid.clone()).filter(|u| !u.is_empty()),
                groups: Some(user.groups.clone()),
                extra: Some(user.extra.clone().into_iter().collect()),
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.to_string()),
                    group: Some(String::new()),
                    version: Some("v1".into()),
                    resource: Some("nodes".into()),
                    subresource: Some(subresource.to_string()),
                    name: Some(node.to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let api: Api<SubjectAccessReview> = Api::all(self.clone());
        let answer = api
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| format!("SubjectAccessReview: {e}"))?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }
}
