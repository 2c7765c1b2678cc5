//! Appends events to the audit log, one JSON object per line, rotating by size: the full file
//! is renamed `<name>-<timestamp><ext>` (upstream's lumberjack naming) and the oldest rotated
//! files beyond `max_backups` are removed.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tokio::sync::mpsc;

use super::LogConfig;

pub async fn run(log: LogConfig, mut rx: mpsc::UnboundedReceiver<Value>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let target = log.clone();
        let written = tokio::task::spawn_blocking(move || append(&target, &batch)).await;
        if let Ok(Err(e)) | Err(e) = written.map_err(std::io::Error::other) {
            tracing::warn!(path = %log.path.display(), "writing the audit log: {e}");
        }
    }
}

fn append(log: &LogConfig, events: &[Value]) -> std::io::Result<()> {
    let mut lines = Vec::new();
    for e in events {
        serde_json::to_writer(&mut lines, e)?;
        lines.push(b'\n');
    }
    let limit = log.max_size_mb * 1024 * 1024;
    let size = std::fs::metadata(&log.path).map(|m| m.len()).unwrap_or(0);
    if limit > 0 && size > 0 && size + lines.len() as u64 > limit {
        rotate(log)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log.path)?;
    file.write_all(&lines)
}

fn rotated_name(path: &Path) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y-%m-%dT%H-%M-%S%.3f");
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("audit");
    let ext = path
        .extension()
        .and_then(|s| s.to_str())
        .map(|e| format!(".{e}"))
        .unwrap_or_default();
    path.with_file_name(format!("{stem}-{stamp}{ext}"))
}

fn rotate(log: &LogConfig) -> std::io::Result<()> {
    std::fs::rename(&log.path, rotated_name(&log.path))?;
    if log.max_backups == 0 {
        return Ok(());
    }
    let dir = log
        .path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let stem = log
        .path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("audit");
    let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p != &log.path)
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{stem}-")))
        })
        .collect();
    backups.sort();
    let excess = backups.len().saturating_sub(log.max_backups);
    for old in &backups[..excess] {
        std::fs::remove_file(old)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_and_keeps_the_newest_backups() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogConfig {
            path: dir.path().join("audit.log"),
            max_size_mb: 1,
            max_backups: 2,
        };
        let big = serde_json::json!({"pad": "x".repeat(400 * 1024)});
        for _ in 0..8 {
            append(&log, std::slice::from_ref(&big)).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(std::fs::metadata(&log.path).unwrap().len() <= 1024 * 1024);
    }
}
