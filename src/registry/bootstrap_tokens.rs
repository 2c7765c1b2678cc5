//! Bootstrap tokens against the store: a bearer token of the `<id>.<secret>` shape is checked
//! against the `kube-system/bootstrap-token-<id>` Secret, read from this node's applied state
//! like upstream's informer-backed Secret lister (no raft round trip per request). The server
//! also keeps a Secret for its own join token, so `--token $(cat join-token)` joins.

use ferrokube_auth::bootstrap_token::{self, BOOTSTRAP_TOKEN_NAMESPACE};
use ferrokube_auth::{bearer_token, UserInfo, ALL_AUTHENTICATED};
use ferrokube_store::Store;
use serde_json::Value;

use super::rest::{Part, WriteOptions};
use super::Registry;

/// The user a bootstrap token in `authorization_header` authenticates as; None when the header
/// carries no bootstrap-shaped token or its Secret refuses it (other authenticators, such as
/// `tokens.csv`, may still know the token; if none does the request is a 401).
pub async fn authenticate(store: &Store, authorization_header: Option<&str>) -> Option<UserInfo> {
    let token = authorization_header.and_then(bearer_token)?;
    let (id, secret_part) = bootstrap_token::split_token(token)?;
    let key = format!(
        "/core/secrets/{BOOTSTRAP_TOKEN_NAMESPACE}/{}",
        bootstrap_token::secret_name(id)
    );
    let kv = store.get_at(&key, store.current_revision()).await.ok()??;
    let secret: Value = serde_json::from_slice(&kv.value).ok()?;
    match bootstrap_token::authenticate(id, secret_part, &secret, chrono::Utc::now()) {
        Ok(mut user) => {
            user.groups.push(ALL_AUTHENTICATED.to_string());
            Some(user)
        }
        Err(why) => {
            tracing::debug!(token_id = id, %why, "refusing a bootstrap token");
            None
        }
    }
}

/// Creates (or brings back to the token on disk) the Secret of the server's join token.
pub async fn ensure_join_token_secret(registry: &Registry, token: &str) -> anyhow::Result<()> {
    let Some(body) = bootstrap_token::join_token_secret(token) else {
        anyhow::bail!("the join token does not have the bootstrap token shape");
    };
    let d = registry
        .lookup("", "v1", "secrets")
        .ok_or_else(|| anyhow::anyhow!("secrets are always served"))?;
    let ns = Some(BOOTSTRAP_TOKEN_NAMESPACE);
    let opts = WriteOptions::default();
    match registry.create(&d, ns, body.clone(), &opts).await {
        Ok(_) => return Ok(()),
        Err(e) if e.code != 409 => anyhow::bail!("creating the join token's Secret: {e}"),
        Err(_) => {}
    }
    let name = body["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let current = registry.get_value("", "Secret", ns, &name).await?;
    if current.as_ref().is_some_and(|c| c["data"] == body["data"]) {
        return Ok(());
    }
    let data = body["data"].clone();
    let mutate: super::rest::Mutation = Box::new(move |current: &Value| {
        let mut next = current.clone();
        next["data"] = data.clone();
        Ok(next)
    });
    registry
        .guaranteed_update(&d, ns, &name, Part::Main, None, mutate, &opts)
        .await
        .map_err(|e| anyhow::anyhow!("updating the join token's Secret: {e}"))?;
    Ok(())
}
