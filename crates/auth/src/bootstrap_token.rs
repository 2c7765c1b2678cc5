//! Bootstrap tokens as upstream's `bootstrap` token authenticator reads them: a token
//! `<id>.<secret>` is valid while the `kube-system` Secret `bootstrap-token-<id>` of type
//! `bootstrap.kubernetes.io/token` holds the same id and secret, is not expired and enables
//! `usage-bootstrap-authentication`. It authenticates as `system:bootstrap:<id>` in
//! `system:bootstrappers` plus the Secret's `auth-extra-groups`.
//!
//! This module is pure: the server reads the Secret and hands it here.

use base64::Engine;
use serde_json::{json, Value};

use crate::authn::UserInfo;

/// Namespace the bootstrap-token Secrets live in.
pub const BOOTSTRAP_TOKEN_NAMESPACE: &str = "kube-system";
/// Prefix of a bootstrap-token Secret's name (`bootstrap-token-<id>`).
pub const BOOTSTRAP_TOKEN_SECRET_PREFIX: &str = "bootstrap-token-";
/// The Secret type of bootstrap tokens.
pub const BOOTSTRAP_TOKEN_SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
/// Prefix of the user a bootstrap token authenticates as (`system:bootstrap:<id>`).
pub const BOOTSTRAP_USER_PREFIX: &str = "system:bootstrap:";
/// The group every bootstrap token's user is in.
pub const BOOTSTRAPPERS_GROUP: &str = "system:bootstrappers";

/// `(id, secret)` of a token of upstream's `[a-z0-9]{6}.[a-z0-9]{16}` shape; None otherwise
/// (then the token is not a bootstrap token and other authenticators may know it).
pub fn split_token(token: &str) -> Option<(&str, &str)> {
    let valid = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    token
        .split_once('.')
        .filter(|(id, secret)| valid(id, 6) && valid(secret, 16))
}

/// The name of the Secret holding token `id`.
pub fn secret_name(id: &str) -> String {
    format!("{BOOTSTRAP_TOKEN_SECRET_PREFIX}{id}")
}

/// One `data` entry of a Secret, base64-decoded (what the API stores); None when absent.
fn data_field(secret: &Value, key: &str) -> Option<String> {
    let encoded = secret.get("data")?.get(key)?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// Upstream's check of an extra group: `system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]`.
fn valid_extra_group(group: &str) -> bool {
    let Some(rest) = group.strip_prefix("system:bootstrappers:") else {
        return false;
    };
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !rest.is_empty()
        && rest.len() <= 256
        && rest.bytes().all(|b| allowed(b) || b == b':' || b == b'-')
        && rest.bytes().last().is_some_and(allowed)
}

/// Decides token `id.secret` against the Secret `bootstrap-token-<id>` at time `now`: the
/// user, or why not (upstream logs the reason and answers a plain 401).
pub fn authenticate(
    id: &str,
    token_secret: &str,
    secret: &Value,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<UserInfo, String> {
    if secret.pointer("/metadata/deletionTimestamp").is_some() {
        return Err(format!("secret {} is being deleted", secret_name(id)));
    }
    if secret.get("type").and_then(Value::as_str) != Some(BOOTSTRAP_TOKEN_SECRET_TYPE) {
        return Err(format!("secret {} has the wrong type", secret_name(id)));
    }
    let stored = data_field(secret, "token-secret").unwrap_or_default();
    if !constant_time_eq(stored.as_bytes(), token_secret.as_bytes()) {
        return Err("token secret does not match".into());
    }
    if data_field(secret, "token-id").as_deref() != Some(id) {
        return Err("token id does not match".into());
    }
    if let Some(expiration) = data_field(secret, "expiration") {
        // Upstream treats an unparseable expiration as expired.
        let expired = chrono::DateTime::parse_from_rfc3339(&expiration)
            .map(|t| t <= now)
            .unwrap_or(true);
        if expired {
            return Err(format!("token {id} has expired"));
        }
    }
    if data_field(secret, "usage-bootstrap-authentication").as_deref() != Some("true") {
        return Err(format!("token {id} is not usable for authentication"));
    }
    let mut groups = vec![BOOTSTRAPPERS_GROUP.to_string()];
    if let Some(extra) = data_field(secret, "auth-extra-groups") {
        for group in extra.split(',').map(str::trim).filter(|g| !g.is_empty()) {
            if !valid_extra_group(group) {
                return Err(format!("invalid extra group {group:?}"));
            }
            if !groups.iter().any(|g| g == group) {
                groups.push(group.to_string());
            }
        }
    }
    Ok(UserInfo {
        name: format!("{BOOTSTRAP_USER_PREFIX}{id}"),
        groups,
        ..UserInfo::default()
    })
}

/// The Secret that makes `token` (the server's join token) a bootstrap token: no expiry,
/// usable for authentication and signing, like the token `kubeadm init` creates.
pub fn join_token_secret(token: &str) -> Option<Value> {
    let (id, secret) = split_token(token)?;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    Some(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret_name(id), "namespace": BOOTSTRAP_TOKEN_NAMESPACE},
        "type": BOOTSTRAP_TOKEN_SECRET_TYPE,
        "data": {
            "description": b64("The join token of this ferrokube server (<data-dir>/pki/join-token)."),
            "token-id": b64(id),
            "token-secret": b64(secret),
            "usage-bootstrap-authentication": b64("true"),
            "usage-bootstrap-signing": b64("true"),
        },
    }))
}

/// Compares secrets without an early exit so timing does not reveal a matching prefix.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(fields: &[(&str, &str)]) -> Value {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let data: serde_json::Map<String, Value> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(b64(v))))
            .collect();
        json!({"type": BOOTSTRAP_TOKEN_SECRET_TYPE, "metadata": {"name": "bootstrap-token-abcdef"}, "data": data})
    }

    fn good() -> Vec<(&'static str, &'static str)> {
        vec![
            ("token-id", "abcdef"),
            ("token-secret", "0123456789abcdef"),
            ("usage-bootstrap-authentication", "true"),
        ]
    }

    fn now() -> chrono::DateTime<chrono::Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn token_shape() {
        assert_eq!(
            split_token("abcdef.0123456789abcdef"),
            Some(("abcdef", "0123456789abcdef"))
        );
        for bad in [
            "abcdef.0123456789abcde",
            "ABCDEF.0123456789abcdef",
            "abcdef0123456789abcdef",
            "abc.def",
        ] {
            assert_eq!(split_token(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_valid_secret_authenticates_with_extra_groups() {
        let mut fields = good();
        fields.push((
            "auth-extra-groups",
            "system:bootstrappers:worker,system:bootstrappers:ab-c",
        ));
        fields.push(("expiration", "2026-01-02T00:00:00Z"));
        let user = authenticate("abcdef", "0123456789abcdef", &secret(&fields), now()).unwrap();
        assert_eq!(user.name, "system:bootstrap:abcdef");
        assert_eq!(
            user.groups,
            [
                "system:bootstrappers",
                "system:bootstrappers:worker",
                "system:bootstrappers:ab-c"
            ]
        );
    }

    #[test]
    fn refusals() {
        let check = |fields: Vec<(&str, &str)>, secret_part: &str| {
            authenticate("abcdef", secret_part, &secret(&fields), now())
        };
        assert!(check(good(), "0123456789abcdee").is_err(), "wrong secret");
        let mut expired = good();
        expired.push(("expiration", "2025-12-31T23:59:59Z"));
        assert!(check(expired, "0123456789abcdef")
            .unwrap_err()
            .contains("expired"));
        let mut garbage = good();
        garbage.push(("expiration", "tomorrow"));
        assert!(check(garbage, "0123456789abcdef").is_err());
        let usage_off = vec![
            ("token-id", "abcdef"),
            ("token-secret", "0123456789abcdef"),
            ("usage-bootstrap-authentication", "false"),
        ];
        assert!(check(usage_off, "0123456789abcdef").is_err());
        let mut other_id = good();
        other_id[0] = ("token-id", "zzzzzz");
        assert!(check(other_id, "0123456789abcdef").is_err());
        let mut bad_group = good();
        bad_group.push(("auth-extra-groups", "system:masters"));
        assert!(check(bad_group, "0123456789abcdef").is_err());
        let mut wrong_type = secret(&good());
        wrong_type["type"] = "Opaque".into();
        assert!(authenticate("abcdef", "0123456789abcdef", &wrong_type, now()).is_err());
        let mut deleting = secret(&good());
        deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z".into();
        assert!(authenticate("abcdef", "0123456789abcdef", &deleting, now()).is_err());
    }

    #[test]
    fn the_join_token_secret_authenticates_its_token() {
        let s = join_token_secret("abcdef.0123456789abcdef").unwrap();
        assert_eq!(s["metadata"]["name"], "bootstrap-token-abcdef");
        let user = authenticate("abcdef", "0123456789abcdef", &s, now()).unwrap();
        assert_eq!(user.groups, ["system:bootstrappers"]);
        assert!(join_token_secret("not-a-token").is_none());
    }
}
