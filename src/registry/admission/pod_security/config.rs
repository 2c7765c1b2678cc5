//! The cluster-wide PodSecurity configuration (upstream's `PodSecurityConfiguration`, given in
//! the `--admission-control-config-file` AdmissionConfiguration): the levels a namespace without
//! labels gets (`defaults`), and requests exempt from the plugin (`exemptions`: usernames,
//! namespaces, runtime class names).

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;

use super::policy::Policy;

/// What the plugin was configured with (privileged everywhere, nothing exempt, by default).
#[derive(Clone, Debug, Default)]
pub struct PodSecurityConfig {
    /// The policy of a namespace without labels; labels override it mode by mode.
    pub defaults: Policy,
    /// Requests the plugin lets through unevaluated.
    pub exemptions: Exemptions,
}

/// Upstream's `PodSecurityExemptions`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Exemptions {
    /// Authenticated usernames whose requests are exempt.
    #[serde(default)]
    pub usernames: BTreeSet<String>,
    /// Namespaces whose pods are exempt.
    #[serde(default)]
    pub namespaces: BTreeSet<String>,
    /// Pods naming one of these RuntimeClasses are exempt.
    #[serde(default)]
    pub runtime_classes: BTreeSet<String>,
}

/// The document as written: `defaults` keys are the label names without their prefix.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    #[serde(default)]
    defaults: BTreeMap<String, String>,
    #[serde(default)]
    exemptions: Exemptions,
}

const API_VERSIONS: &[&str] = &[
    "pod-security.admission.config.k8s.io/v1",
    "pod-security.admission.config.k8s.io/v1beta1",
];
const DEFAULT_KEYS: &[&str] = &[
    "enforce",
    "enforce-version",
    "audit",
    "audit-version",
    "warn",
    "warn-version",
];

impl PodSecurityConfig {
    /// Reads a `PodSecurityConfiguration` object; every problem is one line naming the field.
    pub fn from_value(doc: &Value) -> Result<Self, String> {
        let doc: Document = serde_json::from_value(doc.clone())
            .map_err(|e| format!("PodSecurityConfiguration: {e}"))?;
        if !API_VERSIONS.contains(&doc.api_version.as_str())
            || doc.kind != "PodSecurityConfiguration"
        {
            return Err(format!(
                "expected kind PodSecurityConfiguration of {}, got {} {}",
                API_VERSIONS.join(" or "),
                doc.api_version,
                doc.kind
            ));
        }
        if let Some(key) = doc
            .defaults
            .keys()
            .find(|k| !DEFAULT_KEYS.contains(&k.as_str()))
        {
            return Err(format!(
                "defaults.{key}: unknown key (expected one of {})",
                DEFAULT_KEYS.join(", ")
            ));
        }
        let labels: BTreeMap<String, String> = doc
            .defaults
            .iter()
            .map(|(k, v)| (format!("pod-security.kubernetes.io/{k}"), v.clone()))
            .collect();
        let (defaults, errors) = Policy::from_labels(&labels, Policy::default());
        if let Some(e) = errors.first() {
            let key = e
                .field
                .trim_start_matches("metadata.labels[pod-security.kubernetes.io/");
            return Err(format!(
                "defaults.{}: {}",
                key.trim_end_matches(']'),
                e.message
            ));
        }
        Ok(PodSecurityConfig {
            defaults,
            exemptions: doc.exemptions,
        })
    }
}

impl PodSecurityConfig {
    /// Why a request is exempt (upstream's `exempt` audit annotation: `namespace`, `user` or
    /// `runtimeClass`, checked in that order), or None.
    pub fn exemption(
        &self,
        namespace: &str,
        user: Option<&str>,
        runtime_class: Option<&str>,
    ) -> Option<&'static str> {
        let listed = |set: &BTreeSet<String>, v: Option<&str>| {
            v.is_some_and(|v| !v.is_empty() && set.contains(v))
        };
        if listed(&self.exemptions.namespaces, Some(namespace)) {
            Some("namespace")
        } else if listed(&self.exemptions.usernames, user) {
            Some("user")
        } else if listed(&self.exemptions.runtime_classes, runtime_class) {
            Some("runtimeClass")
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_exemptions_are_read() {
        let config = PodSecurityConfig::from_value(&json!({
            "apiVersion": "pod-security.admission.config.k8s.io/v1",
            "kind": "PodSecurityConfiguration",
            "defaults": {"enforce": "baseline", "enforce-version": "latest", "warn": "restricted"},
            "exemptions": {"usernames": ["jane"], "namespaces": ["trusted"],
                "runtimeClasses": ["sandboxed"]}}))
        .expect("valid");
        assert_eq!(config.defaults.enforce.to_string(), "baseline:latest");
        assert_eq!(config.defaults.warn.to_string(), "restricted:latest");
        assert_eq!(config.defaults.audit.to_string(), "privileged:latest");
        assert!(config.exemptions.namespaces.contains("trusted"));
        assert_eq!(
            config.exemption("trusted", Some("jane"), None),
            Some("namespace")
        );
        assert_eq!(config.exemption("dev", Some("jane"), None), Some("user"));
        assert_eq!(
            config.exemption("dev", None, Some("sandboxed")),
            Some("runtimeClass")
        );
        assert_eq!(config.exemption("dev", Some("joe"), Some("runc")), None);
    }

    #[test]
    fn what_is_refused() {
        let base = |extra: Value| {
            let mut doc = json!({"apiVersion": "pod-security.admission.config.k8s.io/v1",
                "kind": "PodSecurityConfiguration"});
            doc.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            PodSecurityConfig::from_value(&doc).unwrap_err()
        };
        let err = base(json!({"defaults": {"enforce": "strict"}}));
        assert!(
            err.starts_with("defaults.enforce: Invalid value: \"strict\""),
            "{err}"
        );
        let err = base(json!({"defaults": {"enforced": "baseline"}}));
        assert!(err.starts_with("defaults.enforced: unknown key"), "{err}");
        let err = base(json!({"exemptions": {"users": ["x"]}}));
        assert!(err.contains("unknown field `users`"), "{err}");
        let err = base(json!({"kind": "AdmissionConfiguration"}));
        assert!(
            err.starts_with("expected kind PodSecurityConfiguration"),
            "{err}"
        );
    }
}
