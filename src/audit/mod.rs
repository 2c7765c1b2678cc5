//! Audit logging (upstream's `--audit-policy-file` and `--audit-log-*` flags): every request
//! is matched against the policy; at `Metadata` and above, `audit.k8s.io/v1` Events are written
//! as JSON lines, one per stage (`RequestReceived`, `ResponseComplete`, `ResponseStarted` for
//! long-running requests) unless omitted, with the request body at `Request` and the response
//! body at `RequestResponse`. A writer task appends to the log and rotates it by size, so a
//! request never waits for the disk.

pub mod annotations;
pub mod policy;
mod writer;

use std::path::PathBuf;

use serde_json::Value;
use tokio::sync::mpsc;

pub use annotations::{annotate, annotate_at, AnnotationSink};
pub use policy::{Decision, Level, Policy};

/// Where and how big the log may grow.
#[derive(Clone, Debug)]
pub struct LogConfig {
    pub path: PathBuf,
    /// Rotate after this many megabytes (0: never).
    pub max_size_mb: u64,
    /// Keep this many rotated files (0: all).
    pub max_backups: usize,
}

/// The audit backend: the policy and the channel to the writer.
pub struct Auditor {
    pub policy: Policy,
    events: mpsc::UnboundedSender<Value>,
}

impl Auditor {
    /// Loads the policy and starts the writer.
    pub fn start(policy_file: &std::path::Path, log: LogConfig) -> anyhow::Result<Auditor> {
        let policy = Policy::load(policy_file)?;
        if let Some(dir) = log.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let (events, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer::run(log, rx));
        Ok(Auditor { policy, events })
    }

    /// Queues one event for the log.
    pub fn record(&self, event: Value) {
        let _ = self.events.send(event);
    }
}
