//! `kube-system/extension-apiserver-authentication`: what extension API servers read to
//! authenticate requests (upstream's ClusterAuthenticationTrustController publishes it), and
//! the `extension-apiserver-authentication-reader` Role that lets them read it. Client
//! certificates are those of the cluster CA; the request-header (front-proxy) identity is
//! also issued by the cluster CA, under the one name `front-proxy-client` that extension
//! servers accept the `X-Remote-*` headers from. (kubeadm uses a separate front-proxy CA; we
//! keep one CA, which every server of an HA cluster already shares, and rely on the allowed
//! name: only a CSR approver could obtain another certificate with that name.)

use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::json;

use super::transport::FRONT_PROXY_USER;

const NAMESPACE: &str = "kube-system";
/// The ConfigMap's name.
pub const CONFIG_MAP: &str = "extension-apiserver-authentication";
const READER_ROLE: &str = "extension-apiserver-authentication-reader";
const MANAGER: &str = "kube-apiserver";

/// The ConfigMap's data: the CA and upstream's header names (as JSON lists of strings).
pub fn config_map(ca_pem: &str) -> serde_json::Value {
    let list = |items: &[&str]| serde_json::to_string(items).unwrap_or_default();
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": CONFIG_MAP, "namespace": NAMESPACE},
        "data": {
            "client-ca-file": ca_pem,
            "requestheader-client-ca-file": ca_pem,
            "requestheader-allowed-names": list(&[FRONT_PROXY_USER]),
            "requestheader-username-headers": list(&["X-Remote-User"]),
            "requestheader-group-headers": list(&["X-Remote-Group"]),
            "requestheader-extra-headers-prefix": list(&["X-Remote-Extra-"]),
        },
    })
}

/// Upstream's bootstrap Role for reading the ConfigMap (bound by each extension server).
fn reader_role() -> serde_json::Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {
            "name": READER_ROLE, "namespace": NAMESPACE,
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
        },
        "rules": [{
            "apiGroups": [""], "resources": ["configmaps"],
            "resourceNames": [CONFIG_MAP], "verbs": ["get", "list", "watch"],
        }],
    })
}

/// Applies both objects.
pub async fn reconcile(client: &kube::Client, ca_pem: &str) -> anyhow::Result<()> {
    let params = PatchParams::apply(MANAGER).force();
    let maps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(client.clone(), NAMESPACE);
    maps.patch(CONFIG_MAP, &params, &Patch::Apply(config_map(ca_pem)))
        .await?;
    let roles: Api<k8s_openapi::api::rbac::v1::Role> = Api::namespaced(client.clone(), NAMESPACE);
    roles
        .patch(READER_ROLE, &params, &Patch::Apply(reader_role()))
        .await?;
    Ok(())
}

/// Keeps both in place while this server leads the store (a deleted ConfigMap comes back).
pub fn spawn(client: kube::Client, store: ferrokube_store::Store, ca_pem: String) {
    crate::leader_loop::spawn(
        store,
        std::time::Duration::from_secs(30),
        "the extension-apiserver-authentication ConfigMap",
        move || {
            let (client, ca_pem) = (client.clone(), ca_pem.clone());
            async move { reconcile(&client, &ca_pem).await }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_upstreams() {
        let cm = config_map("PEM");
        let data = &cm["data"];
        assert_eq!(
            data["requestheader-allowed-names"],
            "[\"front-proxy-client\"]"
        );
        assert_eq!(
            data["requestheader-extra-headers-prefix"],
            "[\"X-Remote-Extra-\"]"
        );
        assert_eq!(
            data["requestheader-username-headers"],
            "[\"X-Remote-User\"]"
        );
    }
}
