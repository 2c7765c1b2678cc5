//! Container environment: envFrom, env with valueFrom, and upstream's `$(VAR)` expansion.

use std::collections::BTreeMap;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};

use crate::downward::{self, NodeResources};
use crate::error::{KubeletError, Result};

/// Where ConfigMaps and Secrets come from (the API in production, a map in tests).
#[async_trait]
pub trait ObjectSource: Send + Sync {
    /// ConfigMap data (binaryData decoded lossily), `None` when it does not exist.
    async fn config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>>;
    /// Secret data, `None` when it does not exist.
    async fn secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>>;
    /// The Services of a namespace (for service environment variables); none by default.
    async fn services(&self, _namespace: &str) -> Result<Vec<Service>> {
        Ok(Vec::new())
    }
    /// The host path of the volume bound to claim `name` (see `volumes::claims`); none by
    /// default.
    async fn claim_path(&self, _namespace: &str, name: &str) -> Result<std::path::PathBuf> {
        Err(KubeletError::InvalidSpec(format!(
            "persistentvolumeclaim {name:?} not found"
        )))
    }
}

/// Flatten a ConfigMap's data and binaryData.
pub fn config_map_data(cm: ConfigMap) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = cm
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.into_bytes()))
        .collect();
    for (k, v) in cm.binary_data.unwrap_or_default() {
        out.insert(k, v.0);
    }
    out
}

/// Flatten a Secret's data and stringData.
pub fn secret_data(s: Secret) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = s
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    for (k, v) in s.string_data.unwrap_or_default() {
        out.insert(k, v.into_bytes());
    }
    out
}

#[async_trait]
impl ObjectSource for kube::Client {
    async fn config_map(&self, ns: &str, name: &str) -> Result<Option<BTreeMap<String, Vec<u8>>>> {
        let api: kube::Api<ConfigMap> = kube::Api::namespaced(self.clone(), ns);
        Ok(api.get_opt(name).await?.map(config_map_data))
    }

    async fn secret(&self, ns: &str, name: &str) -> Result<Option<BTreeMap<String, Vec<u8>>>> {
        let api: kube::Api<Secret> = kube::Api::namespaced(self.clone(), ns);
        Ok(api.get_opt(name).await?.map(secret_data))
    }

    async fn services(&self, ns: &str) -> Result<Vec<Service>> {
        let api: kube::Api<Service> = kube::Api::namespaced(self.clone(), ns);
        Ok(api.list(&Default::default()).await?.items)
    }

    async fn claim_path(&self, ns: &str, name: &str) -> Result<std::path::PathBuf> {
        crate::volumes::claims::resolve(self, ns, name).await
    }
}

/// Service variables for `pod` (see [`crate::service_env`]). Upstream's kubelet reads them from
/// an informer cache; we list on container start and, when the API cannot be reached, start the
/// container without them rather than not at all.
async fn pod_service_env(source: &dyn ObjectSource, pod: &Pod) -> Vec<(String, String)> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let links = pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    let fetch = async {
        let local = if links || ns == "default" {
            source.services(ns).await?
        } else {
            Vec::new()
        };
        let defaults = if ns == "default" {
            local.clone()
        } else {
            source.services("default").await?
        };
        Ok::<_, KubeletError>(crate::service_env::service_env(
            ns, links, &local, &defaults,
        ))
    };
    fetch.await.unwrap_or_else(|e| {
        tracing::warn!(pod = ?pod.metadata.name, error = %e, "cannot list services for env vars");
        Vec::new()
    })
}

/// Expand `$(VAR)` references like upstream's `third_party/forked/golang/expansion`:
/// `$$` escapes, unknown or unterminated references are kept verbatim.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let advance = match rest.as_bytes()[0] {
                b'$' => {
                    out.push('$');
                    1
                }
                b'(' => match rest.find(')') {
                    Some(close) => {
                        let name = &rest[1..close];
                        match lookup(name) {
                            Some(v) => out.push_str(&v),
                            None => {
                                out.push_str("$(");
                                out.push_str(name);
                                out.push(')');
                            }
                        }
                        close + 1
                    }
                    None => {
                        out.push_str("$(");
                        1
                    }
                },
                _ => {
                    // Keep `$x` as is; step over one whole (possibly multi-byte) character.
                    let ch = rest.chars().next().map(char::len_utf8).unwrap_or(1);
                    out.push('$');
                    out.push_str(&rest[..ch]);
                    ch
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    if checkpoint < input.len() {
        out.push_str(&input[checkpoint..]);
    }
    out
}

/// Upstream's env var name check for envFrom keys (`IsRelaxedEnvVarName`, the rule since
/// v1.34): any printable ASCII but `=`, so keys such as `1st` or `data$1` reach the container;
/// other keys are dropped.
fn valid_env_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| (' '..='~').contains(&c) && c != '=')
}

#[cfg(test)]
#[test]
fn env_names_are_printable_ascii_without_equals() {
    for ok in ["color", "1st", "data-1", "a.b", "$x#y@z!", "with space"] {
        assert!(valid_env_name(ok), "{ok}");
    }
    for bad in ["", "a=b", "tab\there", "é"] {
        assert!(!valid_env_name(bad), "{bad:?}");
    }
}

fn set(env: &mut Vec<(String, String)>, key: String, value: String) {
    match env.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => env.push((key, value)),
    }
}

/// Build a container's environment in upstream order: envFrom sources, then env entries (each
/// expanded against what is defined so far).
pub async fn container_env(
    source: &dyn ObjectSource,
    pod: &Pod,
    container: &Container,
    node: NodeResources,
) -> Result<Vec<(String, String)>> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let services = pod_service_env(source, pod).await;
    let mut env: Vec<(String, String)> = Vec::new();
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let (data, optional, what) = if let Some(r) = &from.config_map_ref {
            (
                source.config_map(ns, &r.name).await?,
                r.optional.unwrap_or(false),
                format!("configmap {:?}", r.name),
            )
        } else if let Some(r) = &from.secret_ref {
            (
                source.secret(ns, &r.name).await?,
                r.optional.unwrap_or(false),
                format!("secret {:?}", r.name),
            )
        } else {
            continue;
        };
        let Some(data) = data else {
            if optional {
                continue;
            }
            return Err(KubeletError::InvalidSpec(format!("{what} not found")));
        };
        for (k, v) in data {
            let key = format!("{prefix}{k}");
            if valid_env_name(&key) {
                set(&mut env, key, String::from_utf8_lossy(&v).into_owned());
            }
        }
    }
    for var in container.env.iter().flatten() {
        let value = if let Some(from) = &var.value_from {
            if let Some(f) = &from.field_ref {
                Some(downward::field_value(pod, &f.field_path)?)
            } else if let Some(r) = &from.resource_field_ref {
                Some(downward::resource_value(pod, &container.name, r, node)?)
            } else if let Some(k) = &from.config_map_key_ref {
                let optional = k.optional.unwrap_or(false);
                match source.config_map(ns, &k.name).await? {
                    Some(d) => match d.get(&k.key) {
                        Some(v) => Some(String::from_utf8_lossy(v).into_owned()),
                        None if optional => None,
                        None => {
                            return Err(KubeletError::InvalidSpec(format!(
                                "couldn't find key {} in ConfigMap {}/{}",
                                k.key, ns, k.name
                            )))
                        }
                    },
                    None if optional => None,
                    None => {
                        return Err(KubeletError::InvalidSpec(format!(
                            "configmap \"{}\" not found",
                            k.name
                        )))
                    }
                }
            } else if let Some(k) = &from.secret_key_ref {
                let optional = k.optional.unwrap_or(false);
                match source.secret(ns, &k.name).await? {
                    Some(d) => match d.get(&k.key) {
                        Some(v) => Some(String::from_utf8_lossy(v).into_owned()),
                        None if optional => None,
                        None => {
                            return Err(KubeletError::InvalidSpec(format!(
                                "couldn't find key {} in Secret {}/{}",
                                k.key, ns, k.name
                            )))
                        }
                    },
                    None if optional => None,
                    None => {
                        return Err(KubeletError::InvalidSpec(format!(
                            "secret \"{}\" not found",
                            k.name
                        )))
                    }
                }
            } else {
                None
            }
        } else {
            let raw = var.value.clone().unwrap_or_default();
            // Upstream's MappingFuncFor(tmpEnv, serviceEnv): own variables first.
            let snapshot = env.clone();
            Some(expand(&raw, |n| {
                snapshot
                    .iter()
                    .chain(&services)
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.clone())
            }))
        };
        if let Some(v) = value {
            set(&mut env, var.name.clone(), v);
        }
    }
    // Service variables come last and never override the container's own.
    for (k, v) in services {
        if !env.iter().any(|(n, _)| *n == k) {
            env.push((k, v));
        }
    }
    Ok(env)
}

/// Expand `$(VAR)` in command and args against the final environment.
pub fn expand_all(items: &[String], env: &[(String, String)]) -> Vec<String> {
    items
        .iter()
        .map(|s| {
            expand(s, |n| {
                env.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lookup(n: &str) -> Option<String> {
        match n {
            "VAR_A" => Some("A".into()),
            "VAR_B" => Some("B".into()),
            "VAR_EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expansion_table_from_upstream() {
        let cases = [
            ("$(VAR_A)", "A"),
            ("___$(VAR_B)___", "___B___"),
            ("$(VAR_A)-$(VAR_A)", "A-A"),
            ("$(VAR_EMPTY)", ""),
            ("$(UNKNOWN)", "$(UNKNOWN)"),
            ("$$(VAR_A)", "$(VAR_A)"),
            ("$$$(VAR_A)", "$A"),
            ("$$$$(VAR_A)", "$$(VAR_A)"),
            ("$(VAR_A", "$(VAR_A"),
            ("$VAR_A", "$VAR_A"),
            ("$", "$"),
            ("foo$", "foo$"),
            ("$()", "$()"),
            ("f00__(VAR_A)__", "f00__(VAR_A)__"),
            ("$(VAR_A)$(VAR_B)", "AB"),
            ("héllo $(VAR_A) $é", "héllo A $é"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, lookup), want, "input {input:?}");
        }
    }

    struct Objects;

    #[async_trait]
    impl ObjectSource for Objects {
        async fn config_map(
            &self,
            _: &str,
            name: &str,
        ) -> Result<Option<BTreeMap<String, Vec<u8>>>> {
            Ok((name == "cm").then(|| {
                BTreeMap::from([
                    ("color".to_string(), b"blue".to_vec()),
                    ("1bad".to_string(), b"x".to_vec()),
                ])
            }))
        }
        async fn secret(&self, _: &str, name: &str) -> Result<Option<BTreeMap<String, Vec<u8>>>> {
            Ok((name == "s").then(|| BTreeMap::from([("pw".to_string(), b"hunter2".to_vec())])))
        }
        async fn services(&self, ns: &str) -> Result<Vec<Service>> {
            let svc = |name: &str, ip: &str| {
                serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns},
                    "spec": {"clusterIP": ip, "ports": [{"port": 5432, "protocol": "TCP"}]}}))
                .expect("service")
            };
            Ok(match ns {
                "ns" => vec![svc("db", "10.0.0.3")],
                _ => vec![svc("kubernetes", "10.0.0.1")],
            })
        }
    }

    /// A 1-CPU, 1 GiB node.
    fn test_node() -> NodeResources {
        NodeResources {
            cpu_millis: 1000,
            memory_bytes: 1 << 30,
            ephemeral_bytes: 0,
        }
    }

    fn first_container(pod: &Pod) -> Container {
        pod.spec
            .as_ref()
            .map(|s| s.containers[0].clone())
            .expect("container")
    }

    /// The environment of the pod's first container on the test node.
    async fn first_container_env(pod: &Pod) -> Vec<(String, String)> {
        container_env(&Objects, pod, &first_container(pod), test_node())
            .await
            .expect("env")
    }

    #[tokio::test]
    async fn service_variables_expand_and_never_override() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "c", "env": [
                {"name": "DB_URL", "value": "pg://$(DB_SERVICE_HOST):$(DB_SERVICE_PORT)"},
                {"name": "DB_SERVICE_PORT", "value": "mine"}
            ]}]}
        }))
        .expect("pod");
        let env = first_container_env(&pod).await;
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("DB_URL"), Some("pg://10.0.0.3:5432"));
        assert_eq!(get("DB_SERVICE_PORT"), Some("mine"));
        assert_eq!(get("DB_PORT_5432_TCP_ADDR"), Some("10.0.0.3"));
        assert_eq!(get("KUBERNETES_SERVICE_HOST"), Some("10.0.0.1"));
        assert_eq!(
            env.iter().filter(|(n, _)| n == "DB_SERVICE_PORT").count(),
            1
        );
    }

    #[tokio::test]
    async fn builds_env_in_upstream_order() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "c",
                "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"},
                            {"secretRef": {"name": "missing", "optional": true}}],
                "env": [
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}},
                    {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nope", "optional": true}}},
                    {"name": "GREETING", "value": "hi $(POD) in $(CM_color) $(NOPE)"},
                    {"name": "CM_color", "value": "red"}
                ]}]}
        }))
        .expect("pod");
        let env = first_container_env(&pod).await;
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("CM_color"), Some("red"));
        assert_eq!(get("CM_1bad"), Some("x"));
        assert_eq!(get("POD"), Some("p"));
        assert_eq!(get("PW"), Some("hunter2"));
        assert_eq!(get("OPT"), None);
        assert_eq!(get("GREETING"), Some("hi p in blue $(NOPE)"));
        assert_eq!(
            expand_all(&["echo $(PW)".to_string()], &env),
            vec!["echo hunter2".to_string()]
        );

        let mut bad = first_container(&pod);
        bad.env_from = Some(vec![serde_json::from_value(
            json!({"configMapRef": {"name": "gone"}}),
        )
        .expect("ef")]);
        assert!(container_env(&Objects, &pod, &bad, test_node())
            .await
            .is_err());
    }
}
