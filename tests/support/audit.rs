//! Servers that keep an audit log (`--audit-policy-file` + `--audit-log-path`), and the
//! `audit.k8s.io/v1` Events read back from it.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;

use super::ClusterOptions;

/// Options for a server auditing by `policy` (YAML), the log's path, and the directory
/// holding both (keep it alive as long as the server).
pub fn options(policy: &str) -> (ClusterOptions, PathBuf, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy_path = dir.path().join("audit-policy.yaml");
    std::fs::write(&policy_path, policy).expect("write audit policy");
    let log = dir.path().join("logs").join("audit.log");
    let options = ClusterOptions::default()
        .arg(&format!("--audit-policy-file={}", policy_path.display()))
        .arg(&format!("--audit-log-path={}", log.display()));
    (options, log, dir)
}

/// Every event in the log so far.
pub fn events(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
