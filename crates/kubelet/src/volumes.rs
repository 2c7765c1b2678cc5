//! Pod volumes materialised under the agent's data dir and bind-mounted into containers.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{
    Container, DownwardAPIVolumeFile, KeyToPath, Pod, Volume, VolumeProjection,
};

use crate::downward::{self, NodeResources};
use crate::env::ObjectSource;
use crate::error::{KubeletError, Result};
use crate::runtime::BindMount;

/// Mode upstream gives projected files when `defaultMode` is unset (0644).
const DEFAULT_MODE: i32 = 0o644;

/// Where a pod's volume lives on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostVolume {
    /// Host path bound into containers.
    pub path: PathBuf,
    /// Kubelet-managed content (configMap, secret, ...) is always mounted read-only.
    pub read_only: bool,
}

/// Creates tokens for projected serviceAccountToken sources.
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync {
    /// A bound token for `service_account` in `namespace`, or `None` when not available.
    async fn token(
        &self,
        namespace: &str,
        service_account: &str,
        audience: Option<&str>,
        expiration_seconds: i64,
        pod: &Pod,
    ) -> Result<Option<String>>;
}

/// Everything volume materialisation needs from the outside world.
pub struct VolumeContext<'a> {
    /// ConfigMaps and Secrets.
    pub objects: &'a dyn ObjectSource,
    /// Service-account tokens.
    pub tokens: &'a dyn TokenSource,
    /// Node allocatable, for resourceFieldRef items.
    pub node: NodeResources,
    /// Root for memory-backed emptyDirs (`/dev/shm/ferrokube` normally).
    pub memory_root: PathBuf,
}

/// Reject absolute paths and `..` in user-supplied relative paths (items, subPath).
pub fn safe_relative(p: &str) -> Result<PathBuf> {
    let path = Path::new(p);
    if p.is_empty()
        || path.is_absolute()
        || path
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(KubeletError::InvalidSpec(format!(
            "invalid relative path {p:?}"
        )));
    }
    Ok(path.to_path_buf())
}

type Files = BTreeMap<PathBuf, (Vec<u8>, i32)>;

fn add_items(
    files: &mut Files,
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<KeyToPath>>,
    mode: i32,
    what: &str,
    optional: bool,
) -> Result<()> {
    match items {
        None => {
            for (k, v) in data {
                files.insert(safe_relative(k)?, (v.clone(), mode));
            }
        }
        Some(items) => {
            for item in items {
                match data.get(&item.key) {
                    Some(v) => {
                        files.insert(
                            safe_relative(&item.path)?,
                            (v.clone(), item.mode.unwrap_or(mode)),
                        );
                    }
                    None if optional => {}
                    None => {
                        return Err(KubeletError::InvalidSpec(format!(
                            "{what}: key {:?} not found",
                            item.key
                        )))
                    }
                }
            }
        }
    }
    Ok(())
}

fn add_downward(
    files: &mut Files,
    pod: &Pod,
    items: &[DownwardAPIVolumeFile],
    mode: i32,
    node: NodeResources,
) -> Result<()> {
    for item in items {
        let value = if let Some(f) = &item.field_ref {
            downward::field_value(pod, &f.field_path)?
        } else if let Some(r) = &item.resource_field_ref {
            let default = r.container_name.clone().unwrap_or_default();
            downward::resource_value(pod, &default, r, node)?
        } else {
            continue;
        };
        files.insert(
            safe_relative(&item.path)?,
            (value.into_bytes(), item.mode.unwrap_or(mode)),
        );
    }
    Ok(())
}

async fn projected_files(
    ctx: &VolumeContext<'_>,
    pod: &Pod,
    sources: &[VolumeProjection],
    mode: i32,
) -> Result<Files> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut files = Files::new();
    for s in sources {
        if let Some(cm) = &s.config_map {
            let optional = cm.optional.unwrap_or(false);
            match ctx.objects.config_map(ns, &cm.name).await? {
                Some(d) => add_items(&mut files, &d, cm.items.as_ref(), mode, &cm.name, optional)?,
                None if optional => {}
                None => {
                    return Err(KubeletError::InvalidSpec(format!(
                        "configmap {:?} not found",
                        cm.name
                    )))
                }
            }
        }
        if let Some(sec) = &s.secret {
            let optional = sec.optional.unwrap_or(false);
            match ctx.objects.secret(ns, &sec.name).await? {
                Some(d) => add_items(
                    &mut files,
                    &d,
                    sec.items.as_ref(),
                    mode,
                    &sec.name,
                    optional,
                )?,
                None if optional => {}
                None => {
                    return Err(KubeletError::InvalidSpec(format!(
                        "secret {:?} not found",
                        sec.name
                    )))
                }
            }
        }
        if let Some(d) = &s.downward_api {
            add_downward(
                &mut files,
                pod,
                d.items.as_deref().unwrap_or_default(),
                mode,
                ctx.node,
            )?;
        }
        if let Some(t) = &s.service_account_token {
            let sa = pod
                .spec
                .as_ref()
                .and_then(|s| s.service_account_name.clone())
                .unwrap_or_else(|| "default".into());
            let exp = t.expiration_seconds.unwrap_or(3607);
            if let Some(token) = ctx
                .tokens
                .token(ns, &sa, t.audience.as_deref(), exp, pod)
                .await?
            {
                files.insert(safe_relative(&t.path)?, (token.into_bytes(), mode));
            }
        }
    }
    Ok(files)
}

/// Write `files` under `dir` atomically per file and drop files that are no longer wanted.
fn sync_files(dir: &Path, files: &Files) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    for (rel, (data, mode)) in files {
        let target = dir.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if std::fs::read(&target).ok().as_deref() == Some(data.as_slice()) {
            continue;
        }
        let tmp = target.with_extension("ferrokube-tmp");
        std::fs::write(&tmp, data)?;
        std::fs::set_permissions(
            &tmp,
            std::fs::Permissions::from_mode((*mode as u32) & 0o7777),
        )?;
        std::fs::rename(&tmp, &target)?;
    }
    remove_unwanted(dir, dir, files)
}

fn remove_unwanted(root: &Path, dir: &Path, files: &Files) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        if entry.file_type()?.is_dir() {
            remove_unwanted(root, &path, files)?;
            if std::fs::read_dir(&path)?.next().is_none() {
                std::fs::remove_dir(&path)?;
            }
        } else if !files.contains_key(&rel) {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn host_path_volume(path: &str, kind: &str) -> Result<PathBuf> {
    let p = PathBuf::from(path);
    let bad = |what: &str| {
        KubeletError::InvalidSpec(format!("hostPath type check failed: {path} is not {what}"))
    };
    match kind {
        "DirectoryOrCreate" => {
            std::fs::create_dir_all(&p)?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
        }
        "FileOrCreate" => {
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            if !p.exists() {
                std::fs::File::create(&p)?;
            }
        }
        "Directory" if !p.is_dir() => return Err(bad("a directory")),
        "File" if !p.is_file() => return Err(bad("a file")),
        "Socket" | "CharDevice" | "BlockDevice" if !p.exists() => return Err(bad(kind)),
        _ => {}
    }
    Ok(p)
}

/// Create or refresh every volume of `pod` under `pod_dir/volumes`.
pub async fn prepare_volumes(
    ctx: &VolumeContext<'_>,
    pod: &Pod,
    pod_dir: &Path,
) -> Result<BTreeMap<String, HostVolume>> {
    let uid = pod.metadata.uid.as_deref().unwrap_or("nouid");
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let fs_group = ownership::FsGroup::of(pod);
    let mut out = BTreeMap::new();
    let volumes: &[Volume] = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_deref())
        .unwrap_or_default();
    for v in volumes {
        let dir = pod_dir.join("volumes").join(&v.name);
        let (path, read_only) = if let Some(e) = &v.empty_dir {
            let dir = if e.medium.as_deref() == Some("Memory") {
                ctx.memory_root.join(uid).join(&v.name)
            } else {
                dir
            };
            if !dir.exists() {
                std::fs::create_dir_all(&dir)?;
                // emptyDir is world-writable like upstream so non-root containers can use it.
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
            }
            (dir, false)
        } else if let Some(h) = &v.host_path {
            (
                host_path_volume(&h.path, h.type_.as_deref().unwrap_or(""))?,
                false,
            )
        } else if let Some(cm) = &v.config_map {
            let mode = cm.default_mode.unwrap_or(DEFAULT_MODE);
            let optional = cm.optional.unwrap_or(false);
            let mut files = Files::new();
            match ctx.objects.config_map(ns, &cm.name).await? {
                Some(d) => add_items(&mut files, &d, cm.items.as_ref(), mode, &cm.name, optional)?,
                None if optional => {}
                None => {
                    return Err(KubeletError::InvalidSpec(format!(
                        "configmap {:?} not found",
                        cm.name
                    )))
                }
            }
            sync_files(&dir, &files)?;
            (dir, true)
        } else if let Some(sec) = &v.secret {
            let name = sec.secret_name.clone().unwrap_or_default();
            let mode = sec.default_mode.unwrap_or(DEFAULT_MODE);
            let optional = sec.optional.unwrap_or(false);
            let mut files = Files::new();
            match ctx.objects.secret(ns, &name).await? {
                Some(d) => add_items(&mut files, &d, sec.items.as_ref(), mode, &name, optional)?,
                None if optional => {}
                None => {
                    return Err(KubeletError::InvalidSpec(format!(
                        "secret {name:?} not found"
                    )))
                }
            }
            sync_files(&dir, &files)?;
            (dir, true)
        } else if let Some(d) = &v.downward_api {
            let mut files = Files::new();
            let mode = d.default_mode.unwrap_or(DEFAULT_MODE);
            add_downward(
                &mut files,
                pod,
                d.items.as_deref().unwrap_or_default(),
                mode,
                ctx.node,
            )?;
            sync_files(&dir, &files)?;
            (dir, true)
        } else if let Some(c) = &v.persistent_volume_claim {
            // An unbound claim keeps the pod waiting (ContainerCreating), as upstream's
            // volume manager does, with its FailedMount wording.
            let path = ctx
                .objects
                .claim_path(ns, &c.claim_name)
                .await
                .map_err(|e| {
                    let e = e.to_string();
                    let e = e.strip_prefix("invalid pod spec: ").unwrap_or(&e);
                    KubeletError::InvalidSpec(format!(
                        "Unable to attach or mount volumes: unmounted volumes=[{0}], unattached \
                     volumes=[{0}]: {e}",
                        v.name
                    ))
                })?;
            (path, c.read_only.unwrap_or(false))
        } else if let Some(p) = &v.projected {
            let mode = p.default_mode.unwrap_or(DEFAULT_MODE);
            let files =
                projected_files(ctx, pod, p.sources.as_deref().unwrap_or_default(), mode).await?;
            sync_files(&dir, &files)?;
            (dir, true)
        } else {
            return Err(KubeletError::InvalidSpec(format!(
                "volume {:?}: unsupported volume type",
                v.name
            )));
        };
        if let Some(group) = fs_group.filter(|_| takes_fs_group(v)) {
            ownership::apply(&path, group, read_only)?;
        }
        out.insert(v.name.clone(), HostVolume { path, read_only });
    }
    Ok(out)
}

/// Volumes whose content the kubelet owns, which upstream hands to the pod's fsGroup
/// (hostPath and claims keep the ownership they have on the host).
fn takes_fs_group(v: &Volume) -> bool {
    v.empty_dir.is_some()
        || v.config_map.is_some()
        || v.secret.is_some()
        || v.downward_api.is_some()
        || v.projected.is_some()
}

/// Bind mounts for one container's volumeMounts (subPath and subPathExpr resolved).
pub fn container_mounts(
    container: &Container,
    volumes: &BTreeMap<String, HostVolume>,
    env: &[(String, String)],
) -> Result<Vec<BindMount>> {
    let mut out = Vec::new();
    for m in container.volume_mounts.iter().flatten() {
        let vol = volumes.get(&m.name).ok_or_else(|| {
            KubeletError::InvalidSpec(format!("volumeMount {:?}: no such volume", m.name))
        })?;
        let sub = match (&m.sub_path, &m.sub_path_expr) {
            (Some(s), _) if !s.is_empty() => Some(s.clone()),
            (_, Some(e)) if !e.is_empty() => {
                Some(crate::env::expand_all(std::slice::from_ref(e), env).concat())
            }
            _ => None,
        };
        let host = match sub {
            Some(s) => {
                let p = vol.path.join(safe_relative(&s)?);
                if !p.exists() {
                    std::fs::create_dir_all(&p)?;
                }
                p
            }
            None => vol.path.clone(),
        };
        out.push(BindMount {
            host_path: host.to_string_lossy().into_owned(),
            container_path: m.mount_path.clone(),
            read_only: m.read_only.unwrap_or(false) || vol.read_only,
        });
    }
    Ok(out)
}

/// Remove everything a pod left on the host.
pub fn cleanup_pod_dirs(pod_dir: &Path, memory_root: &Path, uid: &str) {
    for dir in [pod_dir.to_path_buf(), memory_root.join(uid)] {
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot remove pod dir");
            }
        }
    }
}

pub mod claims;
pub mod ownership;

#[cfg(test)]
mod tests;
