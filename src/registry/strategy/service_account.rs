//! The pod mutation of upstream's ServiceAccount admission plugin: run as `default` unless told
//! otherwise, and (when the token is to be mounted) project an API token, the cluster CA bundle
//! and the namespace into every container at `/var/run/secrets/kubernetes.io/serviceaccount`
//! through a `kube-api-access-<suffix>` volume. The plugin itself, which looks the account up and
//! decides whether to mount, is [`crate::registry::admission::service_account`].

use serde_json::{json, Value};

/// Where the token, `ca.crt` and `namespace` files appear in containers.
pub const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// Name prefix of the projected volume.
const VOLUME_PREFIX: &str = "kube-api-access-";
/// Annotation of mirror (static) pods, which upstream leaves alone.
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Upstream `TokenVolumeSource()`: token (3607 s, the kubelet refreshes it), the root CA
/// ConfigMap every namespace gets, and the namespace through the downward API.
fn token_volume(name: &str) -> Value {
    json!({"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
    ]}})
}

/// Static pods the kubelet mirrors, which upstream's plugin leaves alone.
pub(crate) fn is_mirror_pod(pod: &Value) -> bool {
    pod.pointer(&format!(
        "/metadata/annotations/{}",
        MIRROR_ANNOTATION.replace('/', "~1")
    ))
    .is_some()
}

/// The account a pod runs as: v1's deprecated `serviceAccount` fills in for a missing
/// `serviceAccountName`, and `default` for both.
pub(crate) fn account_name(pod: &Value) -> String {
    ["/spec/serviceAccountName", "/spec/serviceAccount"]
        .into_iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_str))
        .find(|s| !s.is_empty())
        .unwrap_or("default")
        .to_string()
}

/// Applies the plugin's mutation to a pod about to be created; `suffix` names the volume and
/// `automount` says whether the token is projected.
pub(crate) fn admit_pod(pod: &mut Value, suffix: &str, automount: bool) {
    if is_mirror_pod(pod) {
        return;
    }
    let name = account_name(pod);
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    // Both fields are written back, as upstream's conversion does.
    spec.insert("serviceAccountName".into(), json!(name));
    spec.insert("serviceAccount".into(), json!(name));
    if !automount {
        return;
    }
    let existing = spec
        .get("volumes")
        .and_then(Value::as_array)
        .and_then(|vs| {
            vs.iter()
                .filter_map(|v| v.get("name").and_then(Value::as_str))
                .find(|n| n.starts_with(VOLUME_PREFIX))
        })
        .map(str::to_string);
    let volume_name = existing
        .clone()
        .unwrap_or_else(|| format!("{VOLUME_PREFIX}{suffix}"));
    let mount = json!({"name": volume_name, "readOnly": true, "mountPath": TOKEN_MOUNT_PATH});
    let mut needs_volume = false;
    for list in ["initContainers", "containers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers.iter_mut().filter_map(Value::as_object_mut) {
            let mounts = c.entry("volumeMounts").or_insert_with(|| json!([]));
            let Some(mounts) = mounts.as_array_mut() else {
                continue;
            };
            // A container that mounts something at the token path keeps its own mount.
            let taken = mounts
                .iter()
                .any(|m| m.get("mountPath").and_then(Value::as_str) == Some(TOKEN_MOUNT_PATH));
            if !taken {
                mounts.push(mount.clone());
                needs_volume = true;
            }
        }
    }
    if existing.is_none() && needs_volume {
        let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
        if let Some(list) = volumes.as_array_mut() {
            list.push(token_volume(&volume_name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": spec})
    }

    #[test]
    fn defaults_the_account_and_projects_the_token_into_every_container() {
        let mut p = pod(json!({
            "initContainers": [{"name": "init", "image": "busybox"}],
            "containers": [{"name": "a", "image": "busybox"},
                           {"name": "b", "image": "busybox", "volumeMounts": [{"name": "x", "mountPath": "/x"}]}]
        }));
        admit_pod(&mut p, "abcde", true);
        let spec = &p["spec"];
        assert_eq!(spec["serviceAccountName"], "default");
        assert_eq!(spec["serviceAccount"], "default");
        let volumes = spec["volumes"].as_array().expect("volumes");
        assert_eq!(volumes.len(), 1);
        assert_eq!(volumes[0], token_volume("kube-api-access-abcde"));
        for path in ["/initContainers/0", "/containers/0", "/containers/1"] {
            let mounts = spec
                .pointer(&format!("{path}/volumeMounts"))
                .and_then(Value::as_array)
                .expect("mounts");
            assert!(
                mounts.contains(&json!({"name": "kube-api-access-abcde", "readOnly": true,
                "mountPath": TOKEN_MOUNT_PATH})),
                "{path}: {mounts:?}"
            );
        }
        assert_eq!(
            spec["containers"][1]["volumeMounts"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
    }

    #[test]
    fn opt_out_own_mount_existing_volume_and_mirror_pods() {
        let mut off = pod(
            json!({"serviceAccount": "builder", "automountServiceAccountToken": false,
            "containers": [{"name": "a", "image": "busybox"}]}),
        );
        admit_pod(&mut off, "abcde", false);
        assert_eq!(off["spec"]["serviceAccountName"], "builder");
        assert!(off["spec"].get("volumes").is_none());
        assert!(off["spec"]["containers"][0].get("volumeMounts").is_none());

        let own = json!([{"name": "mine", "mountPath": TOKEN_MOUNT_PATH}]);
        let mut p = pod(json!({"serviceAccountName": "x",
            "containers": [{"name": "a", "image": "busybox", "volumeMounts": own.clone()}]}));
        admit_pod(&mut p, "abcde", true);
        assert_eq!(p["spec"]["containers"][0]["volumeMounts"], own);
        assert!(
            p["spec"].get("volumes").is_none(),
            "no container needs the volume"
        );

        let mut again = pod(json!({"volumes": [token_volume("kube-api-access-zzzzz")],
            "containers": [{"name": "a", "image": "busybox"}]}));
        admit_pod(&mut again, "abcde", true);
        assert_eq!(again["spec"]["volumes"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            again["spec"]["containers"][0]["volumeMounts"][0]["name"],
            "kube-api-access-zzzzz"
        );

        let mut mirror = pod(json!({"containers": [{"name": "a", "image": "busybox"}]}));
        mirror["metadata"]["annotations"] = json!({MIRROR_ANNOTATION: "x"});
        admit_pod(&mut mirror, "abcde", true);
        assert!(mirror["spec"].get("serviceAccountName").is_none());
    }
}
