//! Pod sysctls (`spec.securityContext.sysctls`), as upstream's kubelet handles them: a pod asking
//! for a sysctl outside the safe set and the node's `--allowed-unsafe-sysctls` is refused at
//! admission (Failed, reason `SysctlForbidden`);
//! the allowed ones are set in the pod's sandbox, whose network and IPC namespaces every
//! container of the pod joins, so one setting covers them all.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

/// Upstream's reason for a pod refused over its sysctls.
pub const REASON: &str = "SysctlForbidden";

/// Upstream's safe sysctls (`pkg/kubelet/sysctl/safe_sysctls.go`): namespaced, and unable to
/// affect other pods or the node.
const SAFE: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
];

/// `net/ipv4/x` and `net.ipv4.x` name the same sysctl.
fn canonical(name: &str) -> String {
    name.replace('/', ".")
}

/// The pod's sysctls, canonically named.
pub fn of(pod: &Pod) -> BTreeMap<String, String> {
    pod.spec
        .as_ref()
        .and_then(|s| s.security_context.as_ref())
        .and_then(|sc| sc.sysctls.as_ref())
        .map(|list| {
            list.iter()
                .map(|s| (canonical(&s.name), s.value.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Sysctl groups that live in a namespace a pod owns (upstream's `namespacedSysctls`): only
/// these may be allowed as unsafe sysctls, since the others would change the whole node.
const NAMESPACED_PREFIXES: &[&str] = &[
    "kernel.shm",
    "kernel.msg",
    "kernel.sem",
    "fs.mqueue.",
    "net.",
];

/// Checks the node's `--allowed-unsafe-sysctls` as upstream's kubelet does at start-up.
pub fn validate_allowed(patterns: &[String]) -> Result<(), String> {
    for pattern in patterns {
        let name = canonical(pattern);
        let prefix = name.strip_suffix('*').unwrap_or(&name);
        if !NAMESPACED_PREFIXES.iter().any(|p| prefix.starts_with(p)) {
            return Err(format!(
                "the sysctls {pattern:?} are not known to be namespaced"
            ));
        }
    }
    Ok(())
}

/// Whether `name` matches one of the node's unsafe-sysctl patterns (`name` or `prefix*`).
fn matches_unsafe(name: &str, patterns: &[String]) -> bool {
    patterns
        .iter()
        .map(|p| canonical(p))
        .any(|p| match p.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == p,
        })
}

/// Why the kubelet refuses `pod`, in upstream's words, or None when its sysctls are allowed
/// (the safe set plus the node's `allowed_unsafe` patterns).
pub fn forbidden(pod: &Pod, allowed_unsafe: &[String]) -> Option<String> {
    let host_network = pod
        .spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false);
    of(pod).into_keys().find_map(|name| {
        if !SAFE.contains(&name.as_str()) && !matches_unsafe(&name, allowed_unsafe) {
            Some(format!("forbidden sysctl: \"{name}\" not allowlisted"))
        } else if host_network && name.starts_with("net.") {
            Some(format!(
                "forbidden sysctl: \"{name}\" not allowed with host net enabled"
            ))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(sysctls: serde_json::Value, host_network: bool) -> Pod {
        serde_json::from_value(
            json!({"spec": {"containers": [], "hostNetwork": host_network,
            "securityContext": {"sysctls": sysctls}}}),
        )
        .expect("pod")
    }

    #[test]
    fn safe_sysctls_pass_and_others_are_refused_in_upstream_words() {
        let safe = pod(
            json!([{"name": "kernel.shm_rmid_forced", "value": "1"},
            {"name": "net/ipv4/tcp_syncookies", "value": "1"}]),
            false,
        );
        assert_eq!(forbidden(&safe, &[]), None);
        assert_eq!(
            of(&safe).get("net.ipv4.tcp_syncookies").map(String::as_str),
            Some("1")
        );
        let unsafe_one = pod(json!([{"name": "kernel.msgmax", "value": "1"}]), false);
        assert_eq!(
            forbidden(&unsafe_one, &[]).as_deref(),
            Some("forbidden sysctl: \"kernel.msgmax\" not allowlisted")
        );
        assert_eq!(forbidden(&unsafe_one, &["kernel.msg*".to_string()]), None);
        assert_eq!(forbidden(&unsafe_one, &["kernel.msgmax".to_string()]), None);
        assert!(forbidden(&unsafe_one, &["kernel.msgmnb".to_string()]).is_some());
        let host = pod(
            json!([{"name": "net.ipv4.tcp_syncookies", "value": "1"}]),
            true,
        );
        assert!(forbidden(&host, &[]).is_some_and(|m| m.contains("host net")));
        let none: Pod = serde_json::from_value(json!({"spec": {"containers": []}})).expect("pod");
        assert!(forbidden(&none, &[]).is_none() && of(&none).is_empty());
    }

    #[test]
    fn only_namespaced_sysctls_may_be_allowed_as_unsafe() {
        for ok in [
            "kernel.msg*",
            "kernel.shmmax",
            "net.core.somaxconn",
            "net.*",
            "fs.mqueue.*",
        ] {
            assert_eq!(validate_allowed(&[ok.to_string()]), Ok(()), "{ok}");
        }
        for bad in ["kernel.panic", "vm.swappiness", "*", "kernel.*"] {
            assert!(validate_allowed(&[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
