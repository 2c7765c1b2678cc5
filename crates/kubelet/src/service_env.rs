//! Service environment variables (upstream `pkg/kubelet/envvars`): `<SVC>_SERVICE_HOST`,
//! `<SVC>_SERVICE_PORT[_<NAME>]` and Docker-link style `<SVC>_PORT...` for every Service with a
//! cluster IP in the pod's namespace (when `enableServiceLinks`), plus the `kubernetes` Service of
//! the `default` namespace for every pod.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;

/// Services of the `default` namespace every pod gets variables for (upstream `masterServices`).
const MASTER_SERVICES: &[&str] = &["kubernetes"];

/// Upstream `makeEnvVariableName`: upper case, `-` becomes `_`.
fn env_name(s: &str) -> String {
    s.replace('-', "_").to_uppercase()
}

/// Variables of one service, in upstream's order (empty without a cluster IP or ports).
fn service_vars(svc: &Service) -> Vec<(String, String)> {
    let name = svc.metadata.name.as_deref().unwrap_or("");
    let spec = svc.spec.clone().unwrap_or_default();
    let ip = spec.cluster_ip.clone().unwrap_or_default();
    let ports = spec.ports.unwrap_or_default();
    if ip.is_empty() || ip == "None" || ports.is_empty() {
        return Vec::new();
    }
    let prefix = env_name(name);
    let mut out = vec![
        (format!("{prefix}_SERVICE_HOST"), ip.clone()),
        (format!("{prefix}_SERVICE_PORT"), ports[0].port.to_string()),
    ];
    for p in &ports {
        if let Some(port_name) = p.name.as_deref().filter(|n| !n.is_empty()) {
            out.push((
                format!("{prefix}_SERVICE_PORT_{}", env_name(port_name)),
                p.port.to_string(),
            ));
        }
    }
    // Docker-link compatible variables; IPv6 addresses are bracketed as Go's JoinHostPort does.
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.clone()
    };
    for (i, p) in ports.iter().enumerate() {
        let proto = p.protocol.clone().unwrap_or_else(|| "TCP".into());
        let lower = proto.to_lowercase();
        let url = format!("{lower}://{host}:{}", p.port);
        if i == 0 {
            out.push((format!("{prefix}_PORT"), url.clone()));
        }
        let port_prefix = format!("{prefix}_PORT_{}_{}", p.port, proto.to_uppercase());
        out.push((format!("{port_prefix}_PROTO"), lower));
        out.push((format!("{port_prefix}_PORT"), p.port.to_string()));
        out.push((format!("{port_prefix}_ADDR"), ip.clone()));
        out.push((port_prefix, url));
    }
    out
}

/// The service variables for a pod in `namespace`: `local` are the namespace's Services,
/// `default_ns` those of `default` (only its master services count, and a same-named Service of
/// the pod's own namespace wins over them, as upstream's map assignment order makes it).
pub fn service_env(
    namespace: &str,
    enable_service_links: bool,
    local: &[Service],
    default_ns: &[Service],
) -> Vec<(String, String)> {
    let mut chosen: BTreeMap<String, &Service> = BTreeMap::new();
    for svc in default_ns {
        let name = svc.metadata.name.as_deref().unwrap_or("");
        if MASTER_SERVICES.contains(&name) {
            chosen.insert(name.to_string(), svc);
        }
    }
    if enable_service_links {
        for svc in local {
            let name = svc.metadata.name.as_deref().unwrap_or("");
            let master = namespace == "default" && MASTER_SERVICES.contains(&name);
            if !master {
                chosen.insert(name.to_string(), svc);
            }
        }
    }
    chosen.values().flat_map(|s| service_vars(s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(ns: &str, name: &str, ip: &str, ports: serde_json::Value) -> Service {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns},
            "spec": {"clusterIP": ip, "ports": ports}}))
        .expect("service")
    }

    fn get<'a>(env: &'a [(String, String)], k: &str) -> Option<&'a str> {
        env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    // The cases of upstream's envvars_test.go.
    #[test]
    fn variables_as_upstream_names_them() {
        let local = vec![
            svc(
                "ns",
                "foo-bar",
                "1.2.3.4",
                json!([{"port": 8080, "protocol": "TCP"}]),
            ),
            svc(
                "ns",
                "abc-123",
                "5.6.7.8",
                json!([{"name": "u-d-p", "port": 8081, "protocol": "UDP"},
                       {"name": "t-c-p", "port": 8081, "protocol": "TCP"}]),
            ),
            svc(
                "ns",
                "q-u-u-x",
                "9.8.7.6",
                json!([{"port": 8082, "protocol": "TCP"}, {"name": "8083", "port": 8083, "protocol": "TCP"}]),
            ),
            svc("ns", "svrc-clusterip-none", "None", json!([{"port": 8082}])),
            svc("ns", "svrc-clusterip-empty", "", json!([{"port": 8082}])),
            svc(
                "ns",
                "super-ipv6",
                "2001:DB8::",
                json!([{"name": "u-d-p", "port": 8084, "protocol": "UDP"}]),
            ),
        ];
        let env = service_env("ns", true, &local, &[]);
        let want = [
            ("FOO_BAR_SERVICE_HOST", "1.2.3.4"),
            ("FOO_BAR_SERVICE_PORT", "8080"),
            ("FOO_BAR_PORT", "tcp://1.2.3.4:8080"),
            ("FOO_BAR_PORT_8080_TCP", "tcp://1.2.3.4:8080"),
            ("FOO_BAR_PORT_8080_TCP_PROTO", "tcp"),
            ("FOO_BAR_PORT_8080_TCP_PORT", "8080"),
            ("FOO_BAR_PORT_8080_TCP_ADDR", "1.2.3.4"),
            ("ABC_123_SERVICE_HOST", "5.6.7.8"),
            ("ABC_123_SERVICE_PORT", "8081"),
            ("ABC_123_SERVICE_PORT_U_D_P", "8081"),
            ("ABC_123_SERVICE_PORT_T_C_P", "8081"),
            ("ABC_123_PORT", "udp://5.6.7.8:8081"),
            ("ABC_123_PORT_8081_UDP", "udp://5.6.7.8:8081"),
            ("ABC_123_PORT_8081_UDP_PROTO", "udp"),
            ("ABC_123_PORT_8081_TCP", "tcp://5.6.7.8:8081"),
            ("ABC_123_PORT_8081_TCP_ADDR", "5.6.7.8"),
            ("Q_U_U_X_SERVICE_PORT", "8082"),
            ("Q_U_U_X_SERVICE_PORT_8083", "8083"),
            ("Q_U_U_X_PORT_8083_TCP", "tcp://9.8.7.6:8083"),
            ("SUPER_IPV6_SERVICE_HOST", "2001:DB8::"),
            ("SUPER_IPV6_PORT", "udp://[2001:DB8::]:8084"),
            ("SUPER_IPV6_PORT_8084_UDP_ADDR", "2001:DB8::"),
        ];
        for (k, v) in want {
            assert_eq!(get(&env, k), Some(v), "{k}");
        }
        assert!(env.iter().all(|(k, _)| !k.starts_with("SVRC_")), "{env:?}");
        // 7 per one-port service + named ports: foo-bar 7, abc 2+2+1+4*2, quux 2+1+1+4*2, v6 2+1+1+4.
        assert_eq!(env.len(), 7 + 13 + 12 + 8);
    }

    #[test]
    fn master_services_and_service_links() {
        let k8s = svc(
            "default",
            "kubernetes",
            "10.0.0.1",
            json!([{"name": "https", "port": 443, "protocol": "TCP"}]),
        );
        let other_default = svc("default", "web", "10.0.0.2", json!([{"port": 80}]));
        let local = svc("ns", "db", "10.0.0.3", json!([{"port": 5432}]));
        let defaults = vec![k8s.clone(), other_default.clone()];

        let env = service_env("ns", true, std::slice::from_ref(&local), &defaults);
        assert_eq!(get(&env, "KUBERNETES_SERVICE_HOST"), Some("10.0.0.1"));
        assert_eq!(get(&env, "KUBERNETES_SERVICE_PORT"), Some("443"));
        assert_eq!(get(&env, "KUBERNETES_SERVICE_PORT_HTTPS"), Some("443"));
        assert_eq!(get(&env, "KUBERNETES_PORT"), Some("tcp://10.0.0.1:443"));
        assert_eq!(get(&env, "DB_SERVICE_HOST"), Some("10.0.0.3"));
        assert_eq!(
            get(&env, "WEB_SERVICE_HOST"),
            None,
            "other namespaces stay out"
        );

        // enableServiceLinks: false keeps only the master services.
        let env = service_env("ns", false, &[local], &defaults);
        assert_eq!(get(&env, "KUBERNETES_SERVICE_HOST"), Some("10.0.0.1"));
        assert_eq!(get(&env, "DB_SERVICE_HOST"), None);

        // In `default` itself the namespace's services are the local ones.
        let env = service_env("default", true, &defaults, &defaults);
        assert_eq!(get(&env, "WEB_SERVICE_HOST"), Some("10.0.0.2"));
        assert_eq!(get(&env, "KUBERNETES_SERVICE_HOST"), Some("10.0.0.1"));
        assert!(service_env("ns", true, &[], &[]).is_empty());
    }
}
