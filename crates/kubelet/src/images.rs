//! Building the local `busybox` image offline from Debian's `busybox-static`.

use std::io::Write;

use bytes::Bytes;
use futures::StreamExt;

use crate::error::{KubeletError, Result};
use crate::runtime::DockerRuntime;

/// Where Debian's `busybox-static` installs the binary.
pub const BUSYBOX_PATH: &str = "/bin/busybox";

/// Build an uncompressed rootfs tarball: `/bin/busybox`, one symlink per applet, and the
/// directories programs expect (`/tmp`, `/etc`, `/proc`, ...).
pub fn busybox_rootfs(busybox: &[u8], applets: &[String]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for dir in [
        "bin", "dev", "etc", "proc", "sys", "tmp", "root", "var", "home", "usr",
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(if dir == "tmp" { 0o1777 } else { 0o755 });
        h.set_size(0);
        builder.append_data(&mut h, format!("{dir}/"), std::io::empty())?;
    }
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(busybox.len() as u64);
    builder.append_data(&mut h, "bin/busybox", busybox)?;
    // Minimal account files so `id`, `whoami` and `ls -l` work.
    for (path, body) in [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
        ),
        ("etc/group", "root:x:0:\nnobody:x:65534:\n"),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(body.len() as u64);
        builder.append_data(&mut h, path, body.as_bytes())?;
    }
    for applet in applets {
        let name = applet.rsplit('/').next().unwrap_or(applet);
        if name.is_empty() || name == "busybox" {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        builder.append_link(&mut h, format!("bin/{name}"), "busybox")?;
    }
    let mut out = builder.into_inner()?;
    out.flush()?;
    Ok(out)
}

/// Ask a busybox binary for its applet list.
async fn applets(busybox: &str) -> Result<Vec<String>> {
    let out = tokio::process::Command::new(busybox)
        .arg("--list")
        .output()
        .await?;
    if !out.status.success() {
        return Err(KubeletError::Runtime(format!(
            "{busybox} --list failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

/// `docker import` a busybox rootfs as `busybox:latest` plus every extra tag in `tags`
/// (`name` or `name:tag`), with `PATH=/bin` so commands resolve.
pub async fn import_busybox_with(runtime: &DockerRuntime, tags: &[String]) -> Result<()> {
    let bin = tokio::fs::read(BUSYBOX_PATH).await.map_err(|e| {
        KubeletError::Runtime(format!(
            "cannot read {BUSYBOX_PATH} ({e}); install Debian's busybox-static"
        ))
    })?;
    let list = applets(BUSYBOX_PATH).await?;
    let tarball = busybox_rootfs(&bin, &list)?;
    let mut all = vec!["busybox:latest".to_string()];
    all.extend(tags.iter().cloned());
    docker_import(runtime, tarball, &all, vec!["ENV PATH=/bin".to_string()]).await
}

/// `docker import` a rootfs tarball as every tag in `tags` (the first is the import's, the
/// rest are added), with Dockerfile-style `changes` (`ENV ...`, `ENTRYPOINT [...]`). Images
/// the tags pointed at before are removed when nothing uses them any more, so re-imports do
/// not pile up dangling images.
pub async fn docker_import(
    runtime: &DockerRuntime,
    tarball: Vec<u8>,
    tags: &[String],
    changes: Vec<String>,
) -> Result<()> {
    let mut all: Vec<String> = tags.iter().filter(|t| !t.is_empty()).cloned().collect();
    all.dedup();
    let Some(first) = all.first().cloned() else {
        return Err(KubeletError::Runtime("docker import needs a tag".into()));
    };
    let docker = runtime.client();
    let mut previous = Vec::new();
    for tag in &all {
        if let Ok(i) = docker.inspect_image(tag).await {
            previous.extend(i.id);
        }
    }
    let (repo, version) = split_tag(&first);
    let opts = bollard::query_parameters::CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(version)
        .changes(changes)
        .build();
    let body = bollard::body_full(Bytes::from(tarball));
    let mut stream = docker.create_image(Some(opts), Some(body), None);
    while let Some(item) = stream.next().await {
        item?;
    }
    for tag in &all[1..] {
        let (repo, version) = split_tag(tag);
        let opts = bollard::query_parameters::TagImageOptionsBuilder::default()
            .repo(repo)
            .tag(version)
            .build();
        docker.tag_image(&first, Some(opts)).await?;
    }
    let current = docker.inspect_image(&first).await?.id;
    for old in previous {
        if Some(&old) == current.as_ref() {
            continue;
        }
        // Still used by a container (or another tag): leave it, that is not an error.
        let _ = docker
            .remove_image(
                &old,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await;
    }
    Ok(())
}

/// Split `repo[:tag]` into (repo, tag), defaulting the tag to `latest`; a `:` inside a registry
/// host (`host:5000/x`) is not a tag separator.
pub fn split_tag(reference: &str) -> (&str, &str) {
    match reference.rfind(':') {
        Some(i) if !reference[i + 1..].contains('/') => (&reference[..i], &reference[i + 1..]),
        _ => (reference, "latest"),
    }
}

/// The paths a tarball holds, in order (for tests of the rootfs builders).
#[cfg(test)]
pub(crate) fn tar_entry_names(tarball: &[u8]) -> Vec<String> {
    tar::Archive::new(tarball)
        .entries()
        .expect("entries")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.path().ok().map(|p| p.to_string_lossy().into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_like_docker() {
        assert_eq!(split_tag("busybox"), ("busybox", "latest"));
        assert_eq!(split_tag("busybox:1.36"), ("busybox", "1.36"));
        assert_eq!(split_tag("reg:5000/bb"), ("reg:5000/bb", "latest"));
        assert_eq!(split_tag("reg:5000/bb:v1"), ("reg:5000/bb", "v1"));
    }

    #[test]
    fn rootfs_has_links_but_not_busybox_itself() {
        let list = vec![
            "sh".to_string(),
            "busybox".to_string(),
            "/usr/bin/wget".to_string(),
        ];
        let tarball = busybox_rootfs(b"\x7fELF", &list).expect("tar");
        let names = crate::images::tar_entry_names(&tarball);
        assert!(names.contains(&"bin/sh".to_string()));
        assert!(names.contains(&"bin/wget".to_string()));
        assert_eq!(names.iter().filter(|n| *n == "bin/busybox").count(), 1);
        assert!(names.contains(&"tmp/".to_string()));
    }
}
