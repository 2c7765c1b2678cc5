//! `spec.securityContext.sysctls` of a pod (upstream `validateSysctls` and `ValidateHostSysctl`).

use serde_json::Value;

use super::FieldError;

/// Upstream's `SysctlMaxLength`.
const SYSCTL_MAX_LENGTH: usize = 253;
/// Upstream's `sysctlContainSlashRegexp` as its messages print it.
const SYSCTL_NAME_REGEX: &str =
    r"^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$";

/// Sysctl names well-formed and unique; namespaced ones refused in the host's namespaces.
pub fn validate_sysctls(
    security_context: Option<&Value>,
    spec: &Value,
    path: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(list) = security_context
        .and_then(|sc| sc.get("sysctls"))
        .and_then(Value::as_array)
    else {
        return errs;
    };
    let mut seen: Vec<&str> = Vec::new();
    for (i, sysctl) in list.iter().enumerate() {
        let field = format!("{path}.securityContext.sysctls[{i}].name");
        let name = sysctl.get("name").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() {
            errs.push(FieldError::required(&field, ""));
        } else if !is_valid_sysctl_name(name) {
            let detail = format!(
                "must have at most {SYSCTL_MAX_LENGTH} characters and match regex {SYSCTL_NAME_REGEX}"
            );
            errs.push(FieldError::invalid(&field, name, &detail));
        } else if seen.contains(&name) {
            errs.push(FieldError::duplicate(&field, name));
        }
        if let Some(detail) = host_namespace_conflict(name, spec) {
            errs.push(FieldError::invalid(&field, name, detail));
        }
        seen.push(name);
    }
    errs
}

/// Upstream `IsValidSysctlName`: dot- or slash-separated segments of `[a-z0-9]([-_a-z0-9]*[a-z0-9])?`.
fn is_valid_sysctl_name(name: &str) -> bool {
    if name.len() > SYSCTL_MAX_LENGTH {
        return false;
    }
    name.split(['.', '/']).all(|segment| {
        let bytes = segment.as_bytes();
        let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let inner = |b: &u8| edge(b) || *b == b'-' || *b == b'_';
        !bytes.is_empty()
            && edge(&bytes[0])
            && edge(&bytes[bytes.len() - 1])
            && bytes.iter().all(inner)
    })
}

/// Upstream `ValidateHostSysctl`: a sysctl of the network or IPC namespace cannot be set in a
/// pod that shares the host's.
fn host_namespace_conflict(name: &str, spec: &Value) -> Option<&'static str> {
    let host = |field: &str| spec.get(field).and_then(Value::as_bool) == Some(true);
    let name = name.replace('/', ".");
    if host("hostNetwork") && name.starts_with("net.") {
        return Some("may not be specified when 'hostNetwork' is true");
    }
    let ipc = [
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
    ];
    if host("hostIPC") && (ipc.contains(&name.as_str()) || name.starts_with("fs.mqueue.")) {
        return Some("may not be specified when 'hostIPC' is true");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn upstreams_conformance_case() {
        let spec = json!({"securityContext": {"sysctls": [
            {"name": "foo-", "value": "bar"},
            {"name": "kernel.shmmax", "value": "100000000"},
            {"name": "safe-and-unsafe", "value": "100000000"},
            {"name": "bar..", "value": "42"}]}});
        let errs = validate_sysctls(spec.get("securityContext"), &spec, "spec");
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(text[0].starts_with("spec.securityContext.sysctls[0].name: Invalid value: \"foo-\": must have at most 253 characters"));
        assert!(text[1].contains("Invalid value: \"bar..\""));
    }

    #[test]
    fn names_duplicates_and_host_namespaces() {
        assert!(is_valid_sysctl_name("net.ipv4.ip_local_port_range"));
        assert!(is_valid_sysctl_name("net/ipv4/conf/eth0.100/forwarding"));
        assert!(!is_valid_sysctl_name("Net.x"));
        let spec = json!({"hostNetwork": true, "securityContext": {"sysctls": [
            {"name": "net.core.somaxconn"}, {"name": "net.core.somaxconn"}, {"name": ""}]}});
        let errs = validate_sysctls(spec.get("securityContext"), &spec, "spec");
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert!(
            text[0].contains("may not be specified when 'hostNetwork' is true"),
            "{text:?}"
        );
        assert!(text.iter().any(|t| t.contains("Duplicate value")));
        assert!(text.iter().any(|t| t.ends_with("name: Required value")));
    }
}
