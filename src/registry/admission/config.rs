//! `--admission-control-config-file`: upstream's AdmissionConfiguration
//! (`apiserver.config.k8s.io/v1`), a list of plugins each with its configuration inline
//! (`configuration`) or in a file of its own (`path`, relative to this file). PodSecurity's is
//! read (cluster-wide default levels and exemptions); configuration for a plugin that takes
//! none here is refused rather than silently ignored.

use std::path::Path;

use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::Value;

use super::pod_security::config::PodSecurityConfig;

/// The admission plugins' configuration.
#[derive(Clone, Debug, Default)]
pub struct AdmissionConfig {
    /// PodSecurity's defaults and exemptions.
    pub pod_security: PodSecurityConfig,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    api_version: String,
    kind: String,
    #[serde(default)]
    plugins: Vec<PluginEntry>,
}

#[derive(Deserialize)]
struct PluginEntry {
    name: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    configuration: Option<Value>,
}

const API_VERSIONS: &[&str] = &[
    "apiserver.config.k8s.io/v1",
    "apiserver.config.k8s.io/v1alpha1",
    "apiserver.k8s.io/v1alpha1",
];

impl AdmissionConfig {
    /// Reads an AdmissionConfiguration file (YAML or JSON).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let what = || format!("admission configuration {}", path.display());
        let text = std::fs::read_to_string(path).with_context(what)?;
        let doc: Document = serde_yaml_ng::from_str(&text).with_context(what)?;
        if !API_VERSIONS.contains(&doc.api_version.as_str()) || doc.kind != "AdmissionConfiguration"
        {
            bail!(
                "{}: expected kind AdmissionConfiguration of {}, got {} {}",
                what(),
                API_VERSIONS.join(" or "),
                doc.api_version,
                doc.kind
            );
        }
        let mut config = AdmissionConfig::default();
        for plugin in doc.plugins {
            let body = plugin_configuration(path, &plugin).with_context(what)?;
            match plugin.name.as_str() {
                "PodSecurity" => {
                    config.pod_security = PodSecurityConfig::from_value(&body)
                        .map_err(|e| anyhow::anyhow!("{}: plugin PodSecurity: {e}", what()))?;
                }
                other => bail!("{}: plugin {other:?} takes no configuration here", what()),
            }
        }
        Ok(config)
    }
}

/// A plugin's configuration object, inline or from its own file.
fn plugin_configuration(config_file: &Path, plugin: &PluginEntry) -> anyhow::Result<Value> {
    match (&plugin.configuration, &plugin.path) {
        (Some(inline), None) => Ok(inline.clone()),
        (None, Some(file)) => {
            let file = config_file.parent().unwrap_or(Path::new(".")).join(file);
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("plugin {}: {}", plugin.name, file.display()))?;
            serde_yaml_ng::from_str(&text)
                .with_context(|| format!("plugin {}: {}", plugin.name, file.display()))
        }
        (Some(_), Some(_)) => bail!("plugin {}: both path and configuration", plugin.name),
        (None, None) => bail!("plugin {}: neither path nor configuration", plugin.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_file_configurations() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("admission.yaml");
        std::fs::write(
            &main,
            "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n\
             - name: PodSecurity\n  path: pss.yaml\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("pss.yaml"),
            "apiVersion: pod-security.admission.config.k8s.io/v1\n\
             kind: PodSecurityConfiguration\ndefaults: {enforce: restricted}\n",
        )
        .unwrap();
        let config = AdmissionConfig::load(&main).unwrap();
        assert_eq!(
            config.pod_security.defaults.enforce.to_string(),
            "restricted:latest"
        );

        std::fs::write(
            &main,
            "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n\
             - name: EventRateLimit\n  configuration: {}\n",
        )
        .unwrap();
        let err = format!("{:#}", AdmissionConfig::load(&main).unwrap_err());
        assert!(
            err.contains("plugin \"EventRateLimit\" takes no configuration"),
            "{err}"
        );
    }
}
