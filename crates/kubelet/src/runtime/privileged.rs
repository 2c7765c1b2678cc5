//! How a `privileged: true` container is asked of the engine. Docker grants a privileged
//! container every capability the kernel knows, and runc fails ("unable to apply caps: operation
//! not permitted") where the engine's own bounding set lacks one — a Docker engine inside a
//! restricted container, like these machines' (no `CAP_SYS_RESOURCE`). There the kubelet asks
//! for what privileged means, minus what cannot be had: every capability the host holds, and no
//! seccomp, AppArmor or masked `/proc` paths.

use std::collections::BTreeSet;
use std::sync::OnceLock;

/// What the engine is told for one container: its `Privileged` flag, `CapAdd` and extra
/// `SecurityOpt` entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrivilegeSettings {
    /// Docker's privileged flag.
    pub privileged: bool,
    /// Capabilities added to the default set.
    pub cap_add: Vec<String>,
    /// Capabilities dropped from the default set.
    pub cap_drop: Vec<String>,
    /// Security options beyond `no-new-privileges`.
    pub security_opt: Vec<String>,
    /// Leave `/proc` and `/sys` paths unmasked and writable (the engine API's empty
    /// `MaskedPaths`/`ReadonlyPaths`; the CLI's `systempaths=unconfined`).
    pub unmask_system_paths: bool,
}

/// The highest capability number every engine accepts in `CapAdd` (`CAP_AUDIT_READ`): older
/// engines (API 1.41) refuse the newer `CAP_PERFMON`, `CAP_BPF` and `CAP_CHECKPOINT_RESTORE`.
const NEWEST_ENGINE_KNOWN: u8 = 37;

/// The capabilities this host's bounding set holds, when it lacks some the kernel knows (None:
/// it holds them all, or they cannot be read, so the engine's own privileged mode is used).
fn partial_capabilities() -> Option<&'static BTreeSet<String>> {
    static HELD: OnceLock<Option<BTreeSet<String>>> = OnceLock::new();
    HELD.get_or_init(|| {
        let known = caps::runtime::procfs_all_supported(None).ok()?;
        let held = caps::read(None, caps::CapSet::Bounding).ok()?;
        if known.is_subset(&held) {
            return None;
        }
        let missing: Vec<String> = known.difference(&held).map(|c| c.to_string()).collect();
        tracing::info!(
            ?missing,
            "this host lacks capabilities: privileged containers get every one it holds instead"
        );
        Some(
            held.iter()
                .filter(|c| c.index() <= NEWEST_ENGINE_KNOWN)
                .map(|c| c.to_string())
                .collect(),
        )
    })
    .as_ref()
}

/// The engine settings for a container that is (or is not) privileged on this host and asks
/// for `add`/`drop` capabilities (which, as upstream, a privileged container does not need:
/// it has them all).
pub fn settings(privileged: bool, add: &[String], drop: &[String]) -> PrivilegeSettings {
    settings_with(privileged, add, drop, partial_capabilities())
}

/// [`settings`] for a host holding `held` capabilities (None: all of them).
pub fn settings_with(
    privileged: bool,
    add: &[String],
    drop: &[String],
    held: Option<&BTreeSet<String>>,
) -> PrivilegeSettings {
    match (privileged, held) {
        (false, _) => PrivilegeSettings {
            cap_add: add.to_vec(),
            cap_drop: drop.to_vec(),
            ..Default::default()
        },
        (true, None) => PrivilegeSettings {
            privileged: true,
            ..Default::default()
        },
        (true, Some(held)) => PrivilegeSettings {
            privileged: false,
            cap_add: held.iter().cloned().collect(),
            cap_drop: Vec::new(),
            security_opt: vec!["seccomp=unconfined".into(), "apparmor=unconfined".into()],
            unmask_system_paths: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_missing_capabilities_grants_the_ones_it_holds() {
        let held: BTreeSet<String> = ["CAP_CHOWN", "CAP_SYS_ADMIN"].map(String::from).into();
        let s = settings_with(true, &[], &["CAP_CHOWN".into()], Some(&held));
        assert!(!s.privileged);
        assert_eq!(s.cap_add, vec!["CAP_CHOWN", "CAP_SYS_ADMIN"]);
        assert!(s.security_opt.contains(&"seccomp=unconfined".to_string()));
        assert!(s.unmask_system_paths);
        assert!(s.cap_drop.is_empty(), "privileged keeps every capability");
        assert_eq!(
            settings_with(true, &[], &[], None),
            PrivilegeSettings {
                privileged: true,
                ..Default::default()
            }
        );
        assert_eq!(
            settings_with(false, &[], &[], Some(&held)),
            PrivilegeSettings::default()
        );
        let unprivileged = settings_with(false, &["CAP_NET_ADMIN".into()], &["ALL".into()], None);
        assert_eq!(unprivileged.cap_add, vec!["CAP_NET_ADMIN"]);
        assert_eq!(unprivileged.cap_drop, vec!["ALL"]);
    }
}
