//! The pod's `fsGroup` applied to its volumes, as upstream's `SetVolumeOwnership`: every file
//! and directory is group-owned by the fsGroup and gains group read (and write, unless the
//! volume is read-only) permission, directories also group search and the setgid bit so new
//! files inherit the group. Together with the fsGroup as a supplementary group of the
//! containers, this is what lets a non-root user read a secret written with mode 0440.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::error::Result;

const RW_MASK: u32 = 0o660;
const RO_MASK: u32 = 0o440;
const EXEC_MASK: u32 = 0o110;
const SETGID: u32 = 0o2000;

/// The fsGroup settings of a pod's security context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsGroup {
    /// The group id.
    pub gid: u32,
    /// `fsGroupChangePolicy: OnRootMismatch`: skip the walk when the volume's root already
    /// has the group and permissions (upstream's default, `Always`, walks every time).
    pub on_root_mismatch: bool,
}

impl FsGroup {
    /// The pod's fsGroup, if it has one.
    pub fn of(pod: &k8s_openapi::api::core::v1::Pod) -> Option<FsGroup> {
        let sc = pod.spec.as_ref()?.security_context.as_ref()?;
        Some(FsGroup {
            gid: u32::try_from(sc.fs_group?).ok()?,
            on_root_mismatch: sc.fs_group_change_policy.as_deref() == Some("OnRootMismatch"),
        })
    }
}

/// The mode a file or directory gets under an fsGroup.
fn wanted_mode(mode: u32, is_dir: bool, read_only: bool) -> u32 {
    let mut mask = if read_only { RO_MASK } else { RW_MASK };
    if is_dir {
        mask |= SETGID | EXEC_MASK;
    }
    mode | mask
}

/// Applies `group` to everything under `root` (symlinks are left alone, as upstream does).
pub fn apply(root: &Path, group: FsGroup, read_only: bool) -> Result<()> {
    let meta = std::fs::symlink_metadata(root)?;
    let mode = meta.permissions().mode() & 0o7777;
    if group.on_root_mismatch
        && meta.gid() == group.gid
        && wanted_mode(mode, meta.is_dir(), read_only) == mode
    {
        return Ok(());
    }
    walk(root, group.gid, read_only)
}

fn walk(path: &Path, gid: u32, read_only: bool) -> Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    if meta.gid() != gid {
        std::os::unix::fs::chown(path, None, Some(gid))?;
    }
    let mode = meta.permissions().mode() & 0o7777;
    let wanted = wanted_mode(mode, meta.is_dir(), read_only);
    if wanted != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted))?;
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            walk(&entry?.path(), gid, read_only)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_gain_group_bits_like_upstream() {
        assert_eq!(wanted_mode(0o400, false, true), 0o440);
        assert_eq!(wanted_mode(0o440, false, true), 0o440);
        assert_eq!(wanted_mode(0o644, false, false), 0o664);
        assert_eq!(wanted_mode(0o755, true, true), 0o2755);
        assert_eq!(wanted_mode(0o777, true, false), 0o2777);
    }

    #[test]
    fn files_and_directories_take_the_group() {
        let tmp = tempfile::tempdir().unwrap();
        let sub = tmp.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let file = sub.join("data-1");
        std::fs::write(&file, b"value-1").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o400)).unwrap();
        std::os::unix::fs::symlink("sub/data-1", tmp.path().join("link")).unwrap();
        // A group we can always hand files to: our own primary group.
        let gid = std::fs::metadata(tmp.path()).unwrap().gid();
        let group = FsGroup {
            gid,
            on_root_mismatch: false,
        };
        apply(tmp.path(), group, true).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&file), 0o440);
        assert_eq!(mode(&sub) & 0o2550, 0o2550);
        assert_eq!(std::fs::metadata(&file).unwrap().gid(), gid);
    }
}
