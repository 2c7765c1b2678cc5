//! Downward API values (fieldRef / resourceFieldRef), shared by env vars and downwardAPI volumes.

use k8s_openapi::api::core::v1::{Pod, ResourceFieldSelector};

use crate::error::{KubeletError, Result};
use crate::quantity;

/// The node's allocatable resources, the default for limits a container does not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeResources {
    /// Allocatable CPU in millicores.
    pub cpu_millis: i128,
    /// Allocatable memory in bytes.
    pub memory_bytes: i128,
    /// Allocatable ephemeral storage in bytes.
    pub ephemeral_bytes: i128,
}

fn quote_map(m: Option<&std::collections::BTreeMap<String, String>>) -> String {
    // Upstream formats maps as sorted `key="value"` lines with Go %q quoting.
    m.map(|m| {
        m.iter()
            .map(|(k, v)| format!("{k}={}", serde_json::Value::String(v.clone())))
            .collect::<Vec<_>>()
            .join("\n")
    })
    .unwrap_or_default()
}

fn subscript<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path
        .strip_prefix(prefix)?
        .strip_prefix('[')?
        .strip_suffix(']')?;
    rest.strip_prefix('\'')
        .and_then(|r| r.strip_suffix('\''))
        .or_else(|| rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')))
}

/// Value of a pod `fieldRef` path.
pub fn field_value(pod: &Pod, path: &str) -> Result<String> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    if let Some(key) = subscript(path, "metadata.labels") {
        return Ok(meta
            .labels
            .as_ref()
            .and_then(|l| l.get(key))
            .cloned()
            .unwrap_or_default());
    }
    if let Some(key) = subscript(path, "metadata.annotations") {
        return Ok(meta
            .annotations
            .as_ref()
            .and_then(|l| l.get(key))
            .cloned()
            .unwrap_or_default());
    }
    let joined_ips = |ips: Option<&Vec<k8s_openapi::api::core::v1::PodIP>>| {
        ips.map(|v| v.iter().map(|i| i.ip.clone()).collect::<Vec<_>>().join(","))
            .unwrap_or_default()
    };
    Ok(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => quote_map(meta.labels.as_ref()),
        "metadata.annotations" => quote_map(meta.annotations.as_ref()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.hostIP" => status.and_then(|s| s.host_ip.clone()).unwrap_or_default(),
        "status.hostIPs" => joined_ips(
            status
                .and_then(|s| s.host_ips.as_ref())
                .map(|v| {
                    v.iter()
                        .map(|h| k8s_openapi::api::core::v1::PodIP { ip: h.ip.clone() })
                        .collect::<Vec<_>>()
                })
                .as_ref(),
        ),
        "status.podIP" => status.and_then(|s| s.pod_ip.clone()).unwrap_or_default(),
        "status.podIPs" => joined_ips(status.and_then(|s| s.pod_ips.as_ref())),
        other => {
            return Err(KubeletError::InvalidSpec(format!(
                "unsupported fieldRef path {other:?}"
            )))
        }
    })
}

/// Value of a `resourceFieldRef` for `default_container` unless the selector names another.
pub fn resource_value(
    pod: &Pod,
    default_container: &str,
    sel: &ResourceFieldSelector,
    node: NodeResources,
) -> Result<String> {
    let name = sel
        .container_name
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(default_container);
    let spec = pod
        .spec
        .as_ref()
        .ok_or_else(|| KubeletError::InvalidSpec("pod has no spec".into()))?;
    let container = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
        .ok_or_else(|| {
            KubeletError::InvalidSpec(format!("resourceFieldRef: no container {name:?}"))
        })?;
    let res = container.resources.as_ref();
    let (kind, resource) = sel
        .resource
        .split_once('.')
        .ok_or_else(|| KubeletError::InvalidSpec(format!("bad resource {:?}", sel.resource)))?;
    let map = match kind {
        "limits" => res.and_then(|r| r.limits.as_ref()),
        "requests" => res.and_then(|r| r.requests.as_ref()),
        _ => None,
    };
    let declared = map
        .and_then(|m| m.get(resource))
        .and_then(|q| quantity::parse_nanos(&q.0));
    let nanos = match (declared, kind, resource) {
        (Some(v), _, _) => v,
        // Unset limits default to node allocatable; unset requests fall back to limits then 0.
        (None, "limits", "cpu") => node.cpu_millis * 1_000_000,
        (None, "limits", "memory") => node.memory_bytes * 1_000_000_000,
        (None, "limits", "ephemeral-storage") => node.ephemeral_bytes * 1_000_000_000,
        (None, "requests", r) => res
            .and_then(|r2| r2.limits.as_ref())
            .and_then(|m| m.get(r))
            .and_then(|q| quantity::parse_nanos(&q.0))
            .unwrap_or(0),
        _ => {
            return Err(KubeletError::InvalidSpec(format!(
                "unsupported resource {:?}",
                sel.resource
            )))
        }
    };
    let divisor = sel.divisor.as_ref().map(|d| d.0.as_str()).unwrap_or("1");
    let divisor = if divisor.is_empty() || divisor == "0" {
        "1"
    } else {
        divisor
    };
    let v = quantity::divide_ceil(nanos, divisor)
        .ok_or_else(|| KubeletError::InvalidSpec(format!("bad divisor {divisor:?}")))?;
    // Upstream never reports less than 1 CPU unit for a non-zero request.
    let v = if resource == "cpu" && nanos > 0 {
        v.max(1)
    } else {
        v
    };
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1",
                "labels": {"app": "web", "tier": "a\"b"}, "annotations": {"x": "y"}},
            "spec": {"nodeName": "n1", "serviceAccountName": "sa", "containers": [
                {"name": "c", "resources": {"limits": {"memory": "64Mi"}, "requests": {"cpu": "250m"}}}]},
            "status": {"podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}], "hostIP": "192.168.1.2"}
        }))
        .expect("pod")
    }

    const NODE: NodeResources = NodeResources {
        cpu_millis: 2000,
        memory_bytes: 1 << 30,
        ephemeral_bytes: 0,
    };

    #[test]
    fn field_paths() {
        let p = pod();
        assert_eq!(field_value(&p, "metadata.name").ok().as_deref(), Some("p"));
        assert_eq!(
            field_value(&p, "metadata.labels['app']").ok().as_deref(),
            Some("web")
        );
        assert_eq!(
            field_value(&p, "metadata.annotations['x']").ok().as_deref(),
            Some("y")
        );
        assert_eq!(
            field_value(&p, "metadata.labels").ok().as_deref(),
            Some("app=\"web\"\ntier=\"a\\\"b\"")
        );
        assert_eq!(field_value(&p, "spec.nodeName").ok().as_deref(), Some("n1"));
        assert_eq!(
            field_value(&p, "status.podIPs").ok().as_deref(),
            Some("10.0.0.5")
        );
        assert!(field_value(&p, "spec.bogus").is_err());
    }

    #[test]
    fn resource_fields() {
        let p = pod();
        let sel = |r: &str, d: Option<&str>| ResourceFieldSelector {
            container_name: None,
            divisor: d.map(|d| k8s_openapi::apimachinery::pkg::api::resource::Quantity(d.into())),
            resource: r.into(),
        };
        let v = |r, d| resource_value(&p, "c", &sel(r, d), NODE).ok();
        assert_eq!(v("limits.memory", None).as_deref(), Some("67108864"));
        assert_eq!(v("limits.memory", Some("1Mi")).as_deref(), Some("64"));
        assert_eq!(v("requests.cpu", None).as_deref(), Some("1"));
        assert_eq!(v("requests.cpu", Some("1m")).as_deref(), Some("250"));
        assert_eq!(v("limits.cpu", None).as_deref(), Some("2"));
        assert_eq!(v("requests.memory", None).as_deref(), Some("67108864"));
        assert!(resource_value(&p, "zzz", &sel("limits.cpu", None), NODE).is_err());
    }
}
