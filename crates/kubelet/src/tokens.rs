//! Service-account tokens for projected volumes, requested through `serviceaccounts/<name>/token`
//! and cached like upstream's kubelet token manager: a token is reused until 80% of its
//! lifetime (or 24 h) has passed, so the 60 s volume refresh does not mint a token each time
//! and pods always see a fresh one well before it expires.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};

use crate::error::Result;
use crate::volumes::TokenSource;

/// Upstream `maxTTL`: refresh tokens older than a day whatever their expiry.
const MAX_TTL: Duration = Duration::hours(24);

/// A token and what it was requested with.
#[derive(Debug, Clone)]
struct Cached {
    token: String,
    expiration_seconds: i64,
    expires: DateTime<Utc>,
}

/// Upstream `requiresRefresh`: issued at `expires - expirationSeconds`; refresh when older than
/// `MAX_TTL` or within the last 20% of the lifetime.
fn needs_refresh(c: &Cached, now: DateTime<Utc>) -> bool {
    let issued = c.expires - Duration::seconds(c.expiration_seconds);
    now >= issued + MAX_TTL || now >= c.expires - Duration::seconds(c.expiration_seconds / 5)
}

/// Cache key: upstream keys by service account, namespace, audiences, lifetime and bound pod.
type Key = (String, String, Option<String>, i64, String);

/// [`TokenSource`] over the API with upstream's refresh policy.
pub struct TokenCache {
    client: kube::Client,
    cache: Mutex<HashMap<Key, Cached>>,
}

impl TokenCache {
    /// A cache in front of `client`'s TokenRequests.
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Cached>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn request(
        &self,
        namespace: &str,
        service_account: &str,
        audience: Option<&str>,
        expiration_seconds: i64,
        pod: &Pod,
    ) -> Result<Option<Cached>> {
        let api: kube::Api<ServiceAccount> = kube::Api::namespaced(self.client.clone(), namespace);
        let req = TokenRequest {
            spec: Some(TokenRequestSpec {
                audiences: audience.map(|a| vec![a.to_string()]),
                expiration_seconds: Some(expiration_seconds),
                bound_object_ref: Some(BoundObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Pod".into()),
                    name: pod.metadata.name.clone(),
                    uid: pod.metadata.uid.clone(),
                }),
            }),
            ..Default::default()
        };
        match api
            .create_subresource::<TokenRequest, TokenRequest>(
                "token",
                service_account,
                &Default::default(),
                &req,
            )
            .await
        {
            Ok(t) => Ok(t.status.and_then(|s| {
                Some(Cached {
                    token: s.token?,
                    expiration_seconds: t
                        .spec
                        .and_then(|spec| spec.expiration_seconds)
                        .unwrap_or(expiration_seconds),
                    expires: DateTime::from_timestamp(s.expiration_timestamp?.0.as_second(), 0)
                        .unwrap_or(DateTime::UNIX_EPOCH),
                })
            })),
            // No such account (or no token endpoint): the projection is simply skipped.
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 405 => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[async_trait::async_trait]
impl TokenSource for TokenCache {
    async fn token(
        &self,
        namespace: &str,
        service_account: &str,
        audience: Option<&str>,
        expiration_seconds: i64,
        pod: &Pod,
    ) -> Result<Option<String>> {
        let key: Key = (
            namespace.to_string(),
            service_account.to_string(),
            audience.map(str::to_string),
            expiration_seconds,
            pod.metadata.uid.clone().unwrap_or_default(),
        );
        let now = Utc::now();
        if let Some(c) = self.lock().get(&key).filter(|c| !needs_refresh(c, now)) {
            return Ok(Some(c.token.clone()));
        }
        let fetched = match self
            .request(
                namespace,
                service_account,
                audience,
                expiration_seconds,
                pod,
            )
            .await
        {
            Ok(f) => f,
            // The API is unreachable: keep serving a token that has not expired yet.
            Err(e) => match self.lock().get(&key).filter(|c| c.expires > now) {
                Some(c) => return Ok(Some(c.token.clone())),
                None => return Err(e),
            },
        };
        let mut cache = self.lock();
        // Expired entries belong to pods that are gone or to tokens replaced long ago.
        cache.retain(|_, c| c.expires > now);
        match fetched {
            Some(c) => {
                let token = c.token.clone();
                cache.insert(key, c);
                Ok(Some(token))
            }
            None => {
                cache.remove(&key);
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_at_80_percent_of_the_lifetime_or_after_a_day() {
        let issued = Utc::now();
        let token = |secs: i64| Cached {
            token: "t".into(),
            expiration_seconds: secs,
            expires: issued + Duration::seconds(secs),
        };
        let hour = token(3600);
        assert!(!needs_refresh(&hour, issued));
        assert!(!needs_refresh(&hour, issued + Duration::seconds(2879)));
        assert!(needs_refresh(&hour, issued + Duration::seconds(2880)));
        assert!(needs_refresh(&hour, issued + Duration::seconds(4000)));
        let week = token(7 * 24 * 3600);
        assert!(!needs_refresh(&week, issued + Duration::hours(23)));
        assert!(needs_refresh(&week, issued + Duration::hours(24)));
    }
}
