//! `<data-dir>/member.json`: this server's raft node id and the cluster (CA fingerprint) its
//! data belongs to. Written once the server is a member, so a restart keeps its id and a data
//! dir of one cluster is never silently used to join another.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What `member.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberFile {
    /// Raft node id.
    pub node_id: u64,
    /// SHA-256 of the cluster CA certificate.
    pub cluster: String,
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("member.json")
}

impl MemberFile {
    /// Reads the file; None when absent.
    pub fn load(data_dir: &Path) -> anyhow::Result<Option<MemberFile>> {
        match std::fs::read(path(data_dir)) {
            Ok(bytes) => {
                Ok(Some(serde_json::from_slice(&bytes).map_err(|e| {
                    anyhow::anyhow!("{}: {e}", path(data_dir).display())
                })?))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the file atomically (temp file, fsync, rename).
    pub fn save(&self, data_dir: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        let tmp = data_dir.join("member.json.tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(self)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path(data_dir))?;
        Ok(())
    }
}

/// A fresh id for a joining server: random, so no coordination is needed, and small enough
/// to type into `ferrokube members remove`.
pub fn new_node_id() -> u64 {
    use rand::Rng;
    rand::rng().random_range(2..1_000_000)
}
