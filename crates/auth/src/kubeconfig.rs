//! The admin kubeconfig: the same `v1/Config` document `kubectl config view --raw` prints, with
//! every credential embedded as base64 `*-data` so the file is self-contained.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::certs::IssuedCertificate;
use crate::error::PkiError;

/// Cluster, context (and kubeconfig user entry) name used for the admin kubeconfig.
pub const CLUSTER_NAME: &str = "ferrokube";
/// Name of the admin user entry in the kubeconfig.
pub const KUBECONFIG_USER: &str = "admin";

/// A kubeconfig document (`apiVersion: v1`, `kind: Config`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Kubeconfig {
    /// Always `v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Always `Config`.
    pub kind: String,
    /// Named clusters.
    pub clusters: Vec<NamedCluster>,
    /// Named users (credentials).
    pub users: Vec<NamedUser>,
    /// Named contexts (cluster + user pairs).
    pub contexts: Vec<NamedContext>,
    /// The context kubectl uses by default.
    pub current_context: String,
    /// kubectl preferences; kept (empty) because kubectl writes it too.
    #[serde(default)]
    pub preferences: serde_json::Map<String, serde_json::Value>,
}

/// A `clusters[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedCluster {
    /// Entry name.
    pub name: String,
    /// Connection details.
    pub cluster: Cluster,
}

/// How to reach and trust an API server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Cluster {
    /// `https://host:port` of the API server.
    pub server: String,
    /// Base64 of the PEM CA bundle that signs the serving certificate.
    pub certificate_authority_data: String,
}

/// A `users[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedUser {
    /// Entry name.
    pub name: String,
    /// Credentials.
    pub user: UserCredentials,
}

/// Client credentials: a certificate/key pair and/or a bearer token.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct UserCredentials {
    /// Base64 of the PEM client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_data: Option<String>,
    /// Base64 of the PEM client private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_data: Option<String>,
    /// A bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// A `contexts[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedContext {
    /// Entry name.
    pub name: String,
    /// Which cluster and user.
    pub context: Context,
}

/// A cluster/user pairing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    /// Name of a `clusters[]` entry.
    pub cluster: String,
    /// Name of a `users[]` entry.
    pub user: String,
}

impl Kubeconfig {
    /// A single-cluster, single-user kubeconfig whose one context is current.
    pub fn single(server_url: &str, ca_pem: &str, user: UserCredentials) -> Kubeconfig {
        Kubeconfig {
            api_version: "v1".into(),
            kind: "Config".into(),
            clusters: vec![NamedCluster {
                name: CLUSTER_NAME.into(),
                cluster: Cluster {
                    server: server_url.into(),
                    certificate_authority_data: STANDARD.encode(ca_pem),
                },
            }],
            users: vec![NamedUser {
                name: KUBECONFIG_USER.into(),
                user,
            }],
            contexts: vec![NamedContext {
                name: CLUSTER_NAME.into(),
                context: Context {
                    cluster: CLUSTER_NAME.into(),
                    user: KUBECONFIG_USER.into(),
                },
            }],
            current_context: CLUSTER_NAME.into(),
            preferences: serde_json::Map::new(),
        }
    }

    /// Serializes to YAML.
    pub fn to_yaml(&self) -> Result<String, PkiError> {
        Ok(serde_yaml_ng::to_string(self)?)
    }

    /// Parses a kubeconfig from YAML (or JSON, which is YAML).
    pub fn from_yaml(yaml: &str) -> Result<Kubeconfig, PkiError> {
        Ok(serde_yaml_ng::from_str(yaml)?)
    }
}

/// The admin kubeconfig embedding the CA and the admin client certificate.
pub(crate) fn admin_kubeconfig(
    ca_pem: &str,
    admin: &IssuedCertificate,
    server_url: &str,
) -> Kubeconfig {
    Kubeconfig::single(
        server_url,
        ca_pem,
        UserCredentials {
            client_certificate_data: Some(STANDARD.encode(&admin.cert_pem)),
            client_key_data: Some(STANDARD.encode(&admin.key_pem)),
            token: None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_uses_kubeconfig_field_names_and_round_trips() {
        let admin = IssuedCertificate {
            cert_pem: "CERT".into(),
            key_pem: "KEY".into(),
        };
        let cfg = admin_kubeconfig("CA", &admin, "https://127.0.0.1:6443");
        let yaml = cfg.to_yaml().expect("yaml");
        for needle in [
            "apiVersion: v1",
            "kind: Config",
            "current-context: ferrokube",
            "certificate-authority-data: Q0E=",
            "client-certificate-data: Q0VSVA==",
            "client-key-data: S0VZ",
            "server: https://127.0.0.1:6443",
        ] {
            assert!(yaml.contains(needle), "missing {needle:?} in\n{yaml}");
        }
        assert!(!yaml.contains("token"), "no token field expected:\n{yaml}");
        assert_eq!(Kubeconfig::from_yaml(&yaml).expect("parse"), cfg);
    }
}
