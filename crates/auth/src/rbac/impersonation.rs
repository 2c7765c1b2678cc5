//! Upstream's impersonation filter as pure logic: `Impersonate-User`, `-Group`, `-Uid` and
//! `-Extra-<key>` headers name who the request acts as; each part needs its own `impersonate`
//! permission.

use std::collections::BTreeMap;

use super::{Policy, RequestInfo};
use crate::service_account::SERVICE_ACCOUNT_USER_PREFIX;
use crate::{UserInfo, ALL_AUTHENTICATED, ANONYMOUS_USER};

/// Header naming the user to act as.
pub const USER_HEADER: &str = "impersonate-user";
/// Header (repeatable) naming a group to act as a member of.
pub const GROUP_HEADER: &str = "impersonate-group";
/// Header naming the uid to act with.
pub const UID_HEADER: &str = "impersonate-uid";
/// Prefix of headers carrying `extra` values (the rest of the name is the key).
pub const EXTRA_PREFIX: &str = "impersonate-extra-";

/// Why impersonation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImpersonationError {
    /// Groups, uid or extra without a user (upstream answers 500 with this message).
    Malformed(String),
    /// The requester may not impersonate this: answer with this 403 `Status` body.
    Forbidden(serde_json::Value),
}

/// The user a request acts as: `Ok(None)` when it carries no impersonation headers. `headers`
/// are (lower-case name, value) pairs.
pub fn impersonate(
    policy: &Policy,
    requester: &UserInfo,
    headers: &[(String, String)],
) -> Result<Option<UserInfo>, ImpersonationError> {
    let user = headers
        .iter()
        .find(|(k, _)| k == USER_HEADER)
        .map(|(_, v)| v.clone());
    let groups: Vec<String> = values(headers, |k| k == GROUP_HEADER);
    let uid = headers
        .iter()
        .find(|(k, _)| k == UID_HEADER)
        .map(|(_, v)| v.clone());
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in headers {
        if let Some(key) = k.strip_prefix(EXTRA_PREFIX) {
            extra.entry(unescape(key)).or_default().push(v.clone());
        }
    }
    let Some(name) = user else {
        if groups.is_empty() && uid.is_none() && extra.is_empty() {
            return Ok(None);
        }
        return Err(ImpersonationError::Malformed(
            "requested impersonation of groups, uid or extra without impersonating a user".into(),
        ));
    };
    let mut checks = vec![user_check(&name)];
    checks.extend(
        groups
            .iter()
            .map(|g| RequestInfo::resource("impersonate", "", "groups", "").named(g)),
    );
    if let Some(uid) = &uid {
        checks.push(
            RequestInfo::resource("impersonate", "authentication.k8s.io", "uids", "").named(uid),
        );
    }
    for (key, vals) in &extra {
        for v in vals {
            let mut check =
                RequestInfo::resource("impersonate", "authentication.k8s.io", "userextras", "");
            check.subresource = key.clone();
            checks.push(check.named(v));
        }
    }
    for check in &checks {
        if !policy.authorize(requester, check).is_allowed() {
            return Err(ImpersonationError::Forbidden(super::forbidden_status(
                &requester.name,
                check,
            )));
        }
    }
    let mut groups = groups;
    if groups.is_empty() {
        if let Some(ns) = service_account_namespace(&name) {
            groups = vec![
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{ns}"),
            ];
        }
    }
    if name != ANONYMOUS_USER && !groups.iter().any(|g| g == ALL_AUTHENTICATED) {
        groups.push(ALL_AUTHENTICATED.to_string());
    }
    Ok(Some(UserInfo {
        name,
        uid: uid.unwrap_or_default(),
        groups,
        extra,
    }))
}

fn values(headers: &[(String, String)], pick: impl Fn(&str) -> bool) -> Vec<String> {
    headers
        .iter()
        .filter(|(k, _)| pick(k))
        .map(|(_, v)| v.clone())
        .collect()
}

fn service_account_namespace(user: &str) -> Option<&str> {
    let (ns, name) = user
        .strip_prefix(SERVICE_ACCOUNT_USER_PREFIX)?
        .split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some(ns)
}

/// Impersonating a service account is checked on the account object; anyone else on `users`.
fn user_check(name: &str) -> RequestInfo {
    match service_account_namespace(name) {
        Some(ns) => {
            let sa = &name[SERVICE_ACCOUNT_USER_PREFIX.len() + ns.len() + 1..];
            RequestInfo::resource("impersonate", "", "serviceaccounts", ns).named(sa)
        }
        None => RequestInfo::resource("impersonate", "", "users", "").named(name),
    }
}

/// Extra keys travel percent-encoded in header names (upstream unescapes them).
fn unescape(key: &str) -> String {
    let mut out = Vec::new();
    let bytes = key.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(b) = key
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i].to_ascii_lowercase());
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
