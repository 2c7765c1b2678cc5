//! Small file helpers: atomic writes with explicit Unix permissions, optional reads.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::PkiError;

/// Permission bits for private keys and secrets.
pub(crate) const SECRET_MODE: u32 = 0o600;
/// Permission bits for certificates and other public material.
pub(crate) const PUBLIC_MODE: u32 = 0o644;

/// Creates `dir` (and parents) and restricts it to its owner, since it holds private keys.
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<(), PkiError> {
    fs::create_dir_all(dir).map_err(|e| PkiError::io(dir, e))?;
    set_mode(dir, 0o700)
}

/// Writes `contents` to `path` via a temp file + rename so a crash never leaves a torn key or
/// certificate behind, with `mode` applied before any byte is written.
pub(crate) fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp"));
    // Remove a leftover temp file from a crashed run: it may carry laxer permissions.
    let _ = fs::remove_file(&tmp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let mut file = options.open(&tmp).map_err(|e| PkiError::io(&tmp, e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| PkiError::io(&tmp, e))?;
    drop(file);
    // The umask may have narrowed or the file may pre-exist; pin the mode explicitly.
    set_mode(&tmp, mode)?;
    fs::rename(&tmp, path).map_err(|e| PkiError::io(path, e))
}

/// Reads a UTF-8 file, returning `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, PkiError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(PkiError::io(path, e)),
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), PkiError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| PkiError::io(path, e))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<(), PkiError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_sets_mode_and_replaces() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key.pem");
        write_atomic(&path, b"one", SECRET_MODE).expect("write");
        write_atomic(&path, b"two", SECRET_MODE).expect("overwrite");
        assert_eq!(read_optional(&path).expect("read").as_deref(), Some("two"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, SECRET_MODE);
        }
        assert_eq!(
            read_optional(&dir.path().join("missing")).expect("read"),
            None
        );
    }
}
