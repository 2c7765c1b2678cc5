//! Directories of provisioned volumes: named after the claim, always directly inside the
//! volume dir, and removed only when they still are (no `..`, no symlink leading out).

use std::io;
use std::path::{Component, Path, PathBuf};

/// The directory of the volume `pv` for claim `ns/name`, as local-path-provisioner names it
/// (`<pv>_<namespace>_<claim>`), directly under `root`.
pub fn volume_path(root: &Path, pv: &str, ns: &str, name: &str) -> PathBuf {
    root.join(format!("{pv}_{ns}_{name}"))
}

/// Creates a volume directory; world-writable as upstream's helper makes it, so containers
/// running as any user can write their data.
pub fn create(root: &Path, path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(root)?;
    check_inside(root, path)?;
    match std::fs::create_dir(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    check_inside(root, path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777))
}

/// Removes a volume directory and its contents; a path that is not a real directory
/// directly inside `root` is refused (a PV edited to point elsewhere must not wipe it).
pub fn remove(root: &Path, path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
        Ok(m) if !m.is_dir() => return Err(refused(path, "is not a directory")),
        Ok(_) => {}
    }
    check_inside(root, path)?;
    std::fs::remove_dir_all(path)
}

/// `path` must be a plain child of `root`, also once symlinks in `root` are resolved.
fn check_inside(root: &Path, path: &Path) -> io::Result<()> {
    let plain = path.parent() == Some(root)
        && path.file_name().is_some_and(|n| {
            Path::new(n)
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
        });
    if !plain {
        return Err(refused(path, "is not directly inside the volume dir"));
    }
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if m.file_type().is_symlink() {
            return Err(refused(path, "is a symbolic link"));
        }
        let real = std::fs::canonicalize(path)?;
        if real.parent() != Some(std::fs::canonicalize(root)?.as_path()) {
            return Err(refused(path, "resolves outside the volume dir"));
        }
    }
    Ok(())
}

fn refused(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("refusing volume path {}: it {why}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_dirs_stay_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("volumes");
        let p = volume_path(&root, "pvc-1", "default", "data");
        create(&root, &p).unwrap();
        std::fs::write(p.join("x"), "hi").unwrap();
        remove(&root, &p).unwrap();
        assert!(!p.exists());
        // Escapes are refused, and nothing outside is touched.
        let outside = tmp.path().join("precious");
        std::fs::create_dir(&outside).unwrap();
        assert!(remove(&root, &root.join("..").join("precious")).is_err());
        assert!(remove(&root, &outside).is_err());
        let link = root.join("pvc-2_default_l");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        assert!(remove(&root, &link).is_err());
        assert!(create(&root, &link).is_err());
        assert!(outside.exists());
        // Already gone is fine.
        remove(&root, &root.join("pvc-3_default_gone")).unwrap();
    }
}
