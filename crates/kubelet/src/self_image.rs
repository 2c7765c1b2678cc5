//! `ferrokube images build`: an image of the ferrokube binary itself, made without a registry
//! or a base image — the binary at `/ferrokube`, the shared libraries it loads (as `ldd` lists
//! them, the dynamic loader included) at the paths the loader looks for them, and the few
//! `/etc` files glibc and the server read — `docker import`ed with `/ferrokube` as entrypoint.

use std::path::{Path, PathBuf};

use crate::error::{KubeletError, Result};
use crate::images::docker_import;
use crate::runtime::DockerRuntime;

/// The binary's path inside the image (and the image's entrypoint).
pub const ENTRYPOINT: &str = "/ferrokube";

/// Small `/etc` files: accounts for `id`-style lookups, and name resolution that consults
/// `/etc/hosts` (written by the kubelet) before DNS.
const ETC_FILES: &[(&str, &str)] = &[
    (
        "etc/passwd",
        "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n",
    ),
    ("etc/group", "root:x:0:\nnobody:x:65534:\n"),
    (
        "etc/nsswitch.conf",
        "hosts: files dns\npasswd: files\ngroup: files\n",
    ),
];

/// The shared objects `ldd` reports for `binary`: every `=> /path` and the loader's bare
/// `/path` line; the kernel's vDSO has no file and is skipped.
pub fn parse_ldd(output: &str) -> Vec<PathBuf> {
    let mut libs = Vec::new();
    for line in output.lines() {
        let line = line.trim();
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/')),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            if !libs.iter().any(|l: &PathBuf| l == Path::new(p)) {
                libs.push(PathBuf::from(p));
            }
        }
    }
    libs
}

/// Asks `ldd` which shared objects `binary` needs. A static binary needs none.
async fn needed_libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let out = tokio::process::Command::new("ldd")
        .arg(binary)
        .output()
        .await
        .map_err(|e| KubeletError::Runtime(format!("running ldd (from libc-bin): {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() && !text.contains("not a dynamic executable") {
        return Err(KubeletError::Runtime(format!(
            "ldd {} failed: {}",
            binary.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    if let Some(missing) = text.lines().find(|l| l.contains("not found")) {
        return Err(KubeletError::Runtime(format!(
            "{} needs a library this host lacks: {}",
            binary.display(),
            missing.trim()
        )));
    }
    Ok(parse_ldd(&text))
}

fn append_dir(builder: &mut tar::Builder<Vec<u8>>, dir: &str, mode: u32) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(mode);
    h.set_size(0);
    builder.append_data(&mut h, format!("{dir}/"), std::io::empty())?;
    Ok(())
}

fn append_file(
    builder: &mut tar::Builder<Vec<u8>>,
    path: &str,
    mode: u32,
    body: &[u8],
) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_mode(mode);
    h.set_size(body.len() as u64);
    builder.append_data(&mut h, path.trim_start_matches('/'), body)?;
    Ok(())
}

/// The image's rootfs tarball: `binary` at `/ferrokube`, each library (its contents, symlinks
/// followed) at the path the loader asks for, the parent directories, `/etc` files and an
/// empty `/tmp`.
pub fn self_rootfs(binary: &[u8], libraries: &[(PathBuf, Vec<u8>)]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut dirs: Vec<String> = ["etc", "tmp", "proc", "sys", "dev", "var", "root"]
        .map(String::from)
        .to_vec();
    for (path, _) in libraries {
        let mut parent = path.parent();
        let mut chain = Vec::new();
        while let Some(p) = parent.filter(|p| *p != Path::new("/")) {
            chain.push(p.to_string_lossy().trim_start_matches('/').to_string());
            parent = p.parent();
        }
        for d in chain.into_iter().rev() {
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    for dir in &dirs {
        append_dir(&mut builder, dir, if dir == "tmp" { 0o1777 } else { 0o755 })?;
    }
    for (path, body) in ETC_FILES {
        append_file(&mut builder, path, 0o644, body.as_bytes())?;
    }
    for (path, body) in libraries {
        append_file(&mut builder, &path.to_string_lossy(), 0o755, body)?;
    }
    append_file(&mut builder, ENTRYPOINT, 0o755, binary)?;
    Ok(builder.into_inner()?)
}

/// Builds the image from `binary` and tags it with every entry of `tags`.
pub async fn build_self_image(
    runtime: &DockerRuntime,
    binary: &Path,
    tags: &[String],
) -> Result<()> {
    let bin = tokio::fs::read(binary)
        .await
        .map_err(|e| KubeletError::Runtime(format!("reading {}: {e}", binary.display())))?;
    let mut libraries = Vec::new();
    for lib in needed_libraries(binary).await? {
        let body = tokio::fs::read(&lib)
            .await
            .map_err(|e| KubeletError::Runtime(format!("reading {}: {e}", lib.display())))?;
        libraries.push((lib, body));
    }
    // The loader finds libraries in its built-in directories; name the ones ldd found so an
    // image built on a distribution with other defaults still starts.
    let mut lib_dirs: Vec<String> = Vec::new();
    for (lib, _) in &libraries {
        if let Some(d) = lib.parent().map(|d| d.to_string_lossy().into_owned()) {
            if !lib_dirs.contains(&d) {
                lib_dirs.push(d);
            }
        }
    }
    let tarball = self_rootfs(&bin, &libraries)?;
    drop(bin);
    let mut changes = vec![format!("ENTRYPOINT [\"{ENTRYPOINT}\"]")];
    if !lib_dirs.is_empty() {
        changes.push(format!("ENV LD_LIBRARY_PATH={}", lib_dirs.join(":")));
    }
    docker_import(runtime, tarball, tags, changes).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const LDD: &str = "\tlinux-vdso.so.1 (0x00007ffd1b9f6000)
\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f0e6c4f0000)
\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f0e6c411000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0e6c230000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f0e6d8a5000)
";

    #[test]
    fn ldd_output_names_libraries_and_the_loader_but_not_the_vdso() {
        let libs = parse_ldd(LDD);
        assert_eq!(
            libs,
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libm.so.6"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
        assert!(parse_ldd("\tnot a dynamic executable\n").is_empty());
    }

    #[test]
    fn rootfs_holds_the_binary_libraries_and_their_directories() {
        let libs = vec![(PathBuf::from("/lib64/ld-linux-x86-64.so.2"), b"ld".to_vec())];
        let tarball = self_rootfs(b"\x7fELF", &libs).expect("tar");
        let names = crate::images::tar_entry_names(&tarball);
        for want in [
            "ferrokube",
            "lib64/",
            "lib64/ld-linux-x86-64.so.2",
            "etc/nsswitch.conf",
            "tmp/",
        ] {
            assert!(names.contains(&want.to_string()), "{want} in {names:?}");
        }
    }
}
