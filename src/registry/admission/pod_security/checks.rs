//! The Pod Security Standards checks, one function per upstream check ID with upstream's
//! reasons and details, evaluated for a level at a version the way upstream's check registry
//! does: baseline checks then restricted ones, each group in ID order, a restricted check
//! replacing the baseline check it overrides, and each check in the form its version had.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::policy::{Level, LevelVersion};

/// One failed check: upstream's short reason and its detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub reason: String,
    pub detail: String,
}

/// The violations of a pod against a level, in upstream's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub violations: Vec<Violation>,
}

impl Verdict {
    pub fn allowed(&self) -> bool {
        self.violations.is_empty()
    }

    /// `reason (detail), reason (detail)`: what follows `violates PodSecurity "…": `.
    pub fn detail(&self) -> String {
        self.violations
            .iter()
            .map(|v| match v.detail.is_empty() {
                true => v.reason.clone(),
                false => format!("{} ({})", v.reason, v.detail),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The reasons alone (how existing pods are summarised when a namespace is relabelled).
    pub fn reasons(&self) -> String {
        let reasons: Vec<&str> = self.violations.iter().map(|v| v.reason.as_str()).collect();
        reasons.join(", ")
    }
}

type Check = fn(&ObjectMeta, &PodSpec, u32) -> Option<Violation>;

/// Baseline checks in upstream's ID order (`hostProbesAndHostLifecycle` starts at v1.34, after
/// the newest version this server serves).
const BASELINE: &[(&str, Check)] = &[
    ("appArmorProfile", app_armor_profile),
    ("capabilities_baseline", capabilities_baseline),
    ("hostNamespaces", host_namespaces),
    ("hostPathVolumes", host_path_volumes),
    ("hostPorts", host_ports),
    ("privileged", privileged),
    ("procMount", proc_mount),
    ("seLinuxOptions", se_linux_options),
    ("seccompProfile_baseline", seccomp_baseline),
    ("sysctls", sysctls),
    ("windowsHostProcess", windows_host_process),
];

/// Restricted checks in ID order, with the first version each applies from and the baseline
/// check it replaces from then on.
const RESTRICTED: &[(&str, u32, Option<&str>, Check)] = &[
    (
        "allowPrivilegeEscalation",
        8,
        None,
        allow_privilege_escalation,
    ),
    (
        "capabilities_restricted",
        22,
        Some("capabilities_baseline"),
        capabilities_restricted,
    ),
    (
        "restrictedVolumes",
        0,
        Some("hostPathVolumes"),
        restricted_volumes,
    ),
    ("runAsNonRoot", 0, None, run_as_non_root),
    ("runAsUser", 23, None, run_as_user),
    (
        "seccompProfile_restricted",
        19,
        Some("seccompProfile_baseline"),
        seccomp_restricted,
    ),
];

/// Evaluates a pod (its metadata and spec) against `lv`.
pub fn evaluate(lv: LevelVersion, meta: &ObjectMeta, spec: &PodSpec) -> Verdict {
    let minor = lv.version.effective_minor();
    let mut verdict = Verdict::default();
    if lv.level == Level::Privileged {
        return verdict;
    }
    let restricted: Vec<_> = match lv.level {
        Level::Restricted => RESTRICTED.iter().filter(|r| minor >= r.1).collect(),
        _ => Vec::new(),
    };
    let overridden = |id: &str| restricted.iter().any(|r| r.2 == Some(id));
    let baseline = BASELINE.iter().filter(|(id, _)| !overridden(id));
    let checks = baseline.map(|b| b.1).chain(restricted.iter().map(|r| r.3));
    verdict.violations = checks
        .filter_map(|check| check(meta, spec, minor))
        .collect();
    verdict
}

fn violation(reason: impl Into<String>, detail: impl Into<String>) -> Option<Violation> {
    Some(Violation {
        reason: reason.into(),
        detail: detail.into(),
    })
}

/// Every container of the pod: init, regular, then ephemeral (upstream's visit order).
fn containers(spec: &PodSpec) -> Vec<Container> {
    let mut all: Vec<Container> = spec.init_containers.clone().unwrap_or_default();
    all.extend(spec.containers.iter().cloned());
    for e in spec.ephemeral_containers.iter().flatten() {
        all.push(Container {
            name: e.name.clone(),
            security_context: e.security_context.clone(),
            ports: e.ports.clone(),
            ..Container::default()
        });
    }
    all
}

fn pluralize<'a>(singular: &'a str, plural: &'a str, n: usize) -> &'a str {
    if n == 1 {
        singular
    } else {
        plural
    }
}

/// `"a", "b"` as upstream's joinQuote writes a list.
fn join_quote<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let inner: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    format!("\"{}\"", inner.join("\", \""))
}

/// `containers "a", "b"`.
fn named_containers(names: &[String]) -> String {
    format!(
        "{} {}",
        pluralize("container", "containers", names.len()),
        join_quote(names)
    )
}

/// Names of the containers for which `bad` holds.
fn containers_where(spec: &PodSpec, bad: impl Fn(&Container) -> bool) -> Vec<String> {
    containers(spec)
        .iter()
        .filter(|c| bad(c))
        .map(|c| c.name.clone())
        .collect()
}

fn is_windows(spec: &PodSpec) -> bool {
    spec.os.as_ref().is_some_and(|os| os.name == "windows")
}

/// `pod and containers "a"`: who set a forbidden value.
fn setters(pod: bool, containers: &[String]) -> Vec<String> {
    let mut who = Vec::new();
    if pod {
        who.push("pod".to_string());
    }
    if !containers.is_empty() {
        who.push(named_containers(containers));
    }
    who
}

fn app_armor_profile(meta: &ObjectMeta, spec: &PodSpec, _: u32) -> Option<Violation> {
    let allowed = |t: &str| t == "RuntimeDefault" || t == "Localhost";
    let mut values = BTreeSet::new();
    let pod_type = spec
        .security_context
        .as_ref()
        .and_then(|s| s.app_armor_profile.as_ref())
        .map(|p| p.type_.clone());
    let pod_bad = pod_type.as_deref().is_some_and(|t| !allowed(t));
    if pod_bad {
        values.extend(pod_type);
    }
    let mut bad = Vec::new();
    for c in containers(spec) {
        let t = c
            .security_context
            .and_then(|s| s.app_armor_profile)
            .map(|p| p.type_);
        if let Some(t) = t.filter(|t| !allowed(t)) {
            bad.push(c.name);
            values.insert(t);
        }
    }
    let mut who = setters(pod_bad, &bad);
    let mut values: Vec<String> = values.into_iter().collect();
    let mut annotations: Vec<String> = meta
        .annotations
        .iter()
        .flatten()
        .filter(|(k, v)| {
            k.starts_with("container.apparmor.security.beta.kubernetes.io/")
                && !(v.is_empty() || *v == "runtime/default" || v.starts_with("localhost/"))
        })
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    if !annotations.is_empty() {
        annotations.sort();
        who.push(pluralize("annotation", "annotations", annotations.len()).into());
        values.extend(annotations);
    }
    if who.is_empty() {
        return None;
    }
    violation(
        pluralize(
            "forbidden AppArmor profile",
            "forbidden AppArmor profiles",
            values.len(),
        ),
        format!(
            "{} must not set AppArmor profile type to {}",
            who.join(" and "),
            join_quote(&values)
        ),
    )
}

const DEFAULT_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

fn added_capabilities(c: &Container) -> Vec<String> {
    c.security_context
        .as_ref()
        .and_then(|s| s.capabilities.as_ref())
        .and_then(|caps| caps.add.clone())
        .unwrap_or_default()
}

fn capabilities_baseline(_: &ObjectMeta, spec: &PodSpec, _: u32) -> Option<Violation> {
    let mut caps = BTreeSet::new();
    let mut bad = Vec::new();
    for c in containers(spec) {
        let extra: Vec<String> = added_capabilities(&c)
            .into_iter()
            .filter(|cap| !DEFAULT_CAPABILITIES.contains(&cap.as_str()))
            .collect();
        if !extra.is_empty() {
            bad.push(c.name.clone());
            caps.extend(extra);
        }
    }
    if bad.is_empty() {
        return None;
    }
    let caps: Vec<String> = caps.into_iter().collect();
    violation(
        "non-default capabilities",
        format!(
            "{} must not include {} in securityContext.capabilities.add",
            named_containers(&bad),
            join_quote(&caps)
        ),
    )
}

fn host_namespaces(_: &ObjectMeta, spec: &PodSpec, _: u32) -> Option<Violation> {
    let set = [
        (spec.host_network, "hostNetwork=true"),
        (spec.host_pid, "hostPID=true"),
        (spec.host_ipc, "hostIPC=true"),
    ];
    let on: Vec<&str> = set
        .iter()
        .filter(|(v, _)| *v == Some(true))
        .map(|(_, s)| *s)
        .collect();
    if on.is_empty() {
        return None;
    }
    violation("host namespaces", on.join(", "))
}

fn host_path_volumes(_: &ObjectMeta, spec: &PodSpec, _: u32) -> Option<Violation> {
    let names: Vec<String> = spec
        .volumes
        .iter()
        .flatten()
        .filter(|v| v.host_path.is_some())
        .map(|v| v.name.clone())
        .collect();
    if names.is_empty() {
        return None;
    }
    violation(
        "hostPath volumes",
        format!(
            "{} {}",
            pluralize("volume", "volumes", names.len()),
            join_quote(&names)
        ),
    )
}

fn host_ports(_: &ObjectMeta, spec: &PodSpec, _: u32) -> Option<Violation> {
    let mut ports = BTreeSet::new();
    let mut bad = Vec::new();
    for c in containers(spec) {
        let used: Vec<String> = c
            .ports
            .iter()
            .flatten()
            .filter_map(|p| p.host_port.filter(|hp| *hp != 0))
            .map(|hp| hp.to_string())
            .collect();
        if !used.is_empty() {
            bad.push(c.name.clone());
            ports.extend(used);
        }
    }
    if bad.is_empty() {
        return None;
    }
    let ports: Vec<String> = ports.into_iter().collect();
    violation(
        "hostPort",
        format!(
            "{} {} {} {}",
            named_containers(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize("hostPort", "hostPorts", ports.len()),
            ports.join(", ")
        ),
    )
}

fn privileged(_: &ObjectMeta, spec: &PodSpec, _: u32) -> Option<Violation> {
    let bad = containers_where(spec, |c| {
        c.security_context.as_ref().and_then(|s| s.privileged) == Some(true)
    });
    if bad.is_empty() {
        return None;
    }
    violation(
        "privileged",
        format!(
            "{} must not set securityContext.privileged=true",
            named_containers(&bad)
        ),
    )
}

fn proc_mount(_: &ObjectMeta, spec: &PodSpec, _: u32) -> Option<Violation> {
    let mut kinds = BTreeSet::new();
    let mut bad = Vec::new();
    for c in containers(spec) {
        let mount = c.security_context.and_then(|s| s.proc_mount);
        if let Some(m) = mount.filter(|m| m != "Default") {
            bad.push(c.name);
            kinds.insert(m);
        }
    }
    if bad.is_empty() {
        return None;
    }
    let kinds: Vec<String> = kinds.into_iter().collect();
    violation(
        "procMount",
        format!(
            "{} must not set securityContext.procMount to {}",
            named_containers(&bad),
            join_quote(&kinds)
        ),
    )
}

/// What is wrong with one seLinuxOptions (accumulated into the check's detail).
#[derive(Default)]
struct SeLinuxProblems {
    types: BTreeSet<String>,
    user: bool,
    role: bool,
}

impl SeLinuxProblems {
    fn check(&mut self, opts: &k8s_openapi::api::core::v1::SELinuxOptions, minor: u32) -> bool {
        let t = opts.type_.clone().unwrap_or_default();
        let mut allowed = vec!["", "container_t", "container_init_t", "container_kvm_t"];
        if minor >= 31 {
            allowed.push("container_engine_t");
        }
        let mut ok = true;
        if !allowed.contains(&t.as_str()) {
            self.types.insert(t);
            ok = false;
        }
        if opts.user.as_deref().is_some_and(|u| !u.is_empty()) {
            self.user = true;
            ok = false;
        }
        if opts.role.as_deref().is_some_and(|r| !r.is_empty()) {
            self.role = true;
            ok = false;
        }
        ok
    }
}

fn se_linux_options(_: &ObjectMeta, spec: &PodSpec, minor: u32) -> Option<Violation> {
    let mut problems = SeLinuxProblems::default();
    let pod_opts = spec
        .security_context
        .as_ref()
        .and_then(|s| s.se_linux_options.as_ref());
    let pod_bad = pod_opts.is_some_and(|o| !problems.check(o, minor));
    let mut bad = Vec::new();
    for c in containers(spec) {
        if let Some(o) = c
            .security_context
            .as_ref()
            .and_then(|s| s.se_linux_options.as_ref())
        {
            if !problems.check(o, minor) {
                bad.push(c.name.clone());
            }
        }
    }
    let who = setters(pod_bad, &bad);
    if who.is_empty() {
        return None;
    }
    let mut data = Vec::new();
    if !problems.types.is_empty() {
        let types: Vec<String> = problems.types.into_iter().collect();
        data.push(format!(
            "{} {}",
            pluralize("type", "types", types.len()),
            join_quote(&types)
        ));
    }
    if problems.user {
        data.push("user may not be set".into());
    }
    if problems.role {
        data.push("role may not be set".into());
    }
    violation(
        "seLinuxOptions",
        format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            who.join(" and "),
            data.join("; ")
        ),
    )
}

fn valid_seccomp(t: &str) -> bool {
    t == "Localhost" || t == "RuntimeDefault"
}

/// The pod's and containers' explicitly invalid seccomp profile types: (pod set a bad one,
/// containers that did, the bad values, containers that set none).
fn seccomp_setters(spec: &PodSpec) -> (Option<bool>, Vec<String>, Vec<String>, Vec<String>) {
    let pod = spec
        .security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.as_ref())
        .map(|p| p.type_.clone());
    let mut values = BTreeSet::new();
    if let Some(t) = pod.as_ref().filter(|t| !valid_seccomp(t)) {
        values.insert(t.clone());
    }
    let (mut bad, mut unset) = (Vec::new(), Vec::new());
    for c in containers(spec) {
        match c
            .security_context
            .and_then(|s| s.seccomp_profile)
            .map(|p| p.type_)
        {
            Some(t) if !valid_seccomp(&t) => {
                bad.push(c.name);
                values.insert(t);
            }
            Some(_) => {}
            None => unset.push(c.name),
        }
    }
    let pod_state = pod.map(|t| !valid_seccomp(&t));
    (pod_state, bad, values.into_iter().collect(), unset)
}

fn seccomp_baseline(_: &ObjectMeta, spec: &PodSpec, minor: u32) -> Option<Violation> {
    if minor < 19 {
        return None; // before v1.19 only the (removed) seccomp annotations were checked
    }
    let (pod, bad, values, _) = seccomp_setters(spec);
    let who = setters(pod == Some(true), &bad);
    if who.is_empty() {
        return None;
    }
    violation(
        "seccompProfile",
        format!(
            "{} must not set securityContext.seccompProfile.type to {}",
            who.join(" and "),
            join_quote(&values)
        ),
    )
}

fn sysctls(_: &ObjectMeta, spec: &PodSpec, minor: u32) -> Option<Violation> {
    let mut allowed = vec![
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
    ];
    if minor >= 27 {
        allowed.push("net.ipv4.ip_local_reserved_ports");
    }
    if minor >= 29 {
        allowed.extend([
            "net.ipv4.tcp_keepalive_time",
            "net.ipv4.tcp_fin_timeout",
            "net.ipv4.tcp_keepalive_intvl",
            "net.ipv4.tcp_keepalive_probes",
        ]);
    }
    if minor >= 32 {
        allowed.extend(["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"]);
    }
    let forbidden: Vec<String> = spec
        .security_context
        .iter()
        .flat_map(|s| s.sysctls.iter().flatten())
        .filter(|s| !allowed.contains(&s.name.as_str()))
        .map(|s| s.name.clone())
        .collect();
    if forbidden.is_empty() {
        return None;
    }
    violation("forbidden sysctls", forbidden.join(", "))
}

fn windows_host_process(_: &ObjectMeta, spec: &PodSpec, _: u32) -> Option<Violation> {
    let host_process = |o: Option<&k8s_openapi::api::core::v1::WindowsSecurityContextOptions>| {
        o.and_then(|o| o.host_process) == Some(true)
    };
    let bad = containers_where(spec, |c| {
        host_process(
            c.security_context
                .as_ref()
                .and_then(|s| s.windows_options.as_ref()),
        )
    });
    let pod = host_process(
        spec.security_context
            .as_ref()
            .and_then(|s| s.windows_options.as_ref()),
    );
    let who = setters(pod, &bad);
    if who.is_empty() {
        return None;
    }
    violation(
        "hostProcess",
        format!(
            "{} must not set securityContext.windowsOptions.hostProcess=true",
            who.join(" and ")
        ),
    )
}

fn allow_privilege_escalation(_: &ObjectMeta, spec: &PodSpec, minor: u32) -> Option<Violation> {
    if minor >= 25 && is_windows(spec) {
        return None;
    }
    let bad = containers_where(spec, |c| {
        c.security_context
            .as_ref()
            .and_then(|s| s.allow_privilege_escalation)
            != Some(false)
    });
    if bad.is_empty() {
        return None;
    }
    violation(
        "allowPrivilegeEscalation != false",
        format!(
            "{} must set securityContext.allowPrivilegeEscalation=false",
            named_containers(&bad)
        ),
    )
}

fn capabilities_restricted(_: &ObjectMeta, spec: &PodSpec, minor: u32) -> Option<Violation> {
    if minor >= 25 && is_windows(spec) {
        return None;
    }
    let (mut missing_drop, mut adding) = (Vec::new(), Vec::new());
    let mut forbidden = BTreeSet::new();
    for c in containers(spec) {
        let caps = c
            .security_context
            .as_ref()
            .and_then(|s| s.capabilities.as_ref());
        let Some(caps) = caps else {
            missing_drop.push(c.name.clone());
            continue;
        };
        if !caps.drop.iter().flatten().any(|d| d == "ALL") {
            missing_drop.push(c.name.clone());
        }
        let extra: Vec<String> = caps
            .add
            .iter()
            .flatten()
            .filter(|a| *a != "NET_BIND_SERVICE")
            .cloned()
            .collect();
        if !extra.is_empty() {
            adding.push(c.name.clone());
            forbidden.extend(extra);
        }
    }
    let mut details = Vec::new();
    if !missing_drop.is_empty() {
        details.push(format!(
            "{} must set securityContext.capabilities.drop=[\"ALL\"]",
            named_containers(&missing_drop)
        ));
    }
    if !adding.is_empty() {
        let forbidden: Vec<String> = forbidden.into_iter().collect();
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            named_containers(&adding),
            join_quote(&forbidden)
        ));
    }
    if details.is_empty() {
        return None;
    }
    violation("unrestricted capabilities", details.join("; "))
}

fn restricted_volumes(_: &ObjectMeta, spec: &PodSpec, _: u32) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut kinds = BTreeSet::new();
    for v in spec.volumes.iter().flatten() {
        let allowed = v.config_map.is_some()
            || v.csi.is_some()
            || v.downward_api.is_some()
            || v.empty_dir.is_some()
            || v.ephemeral.is_some()
            || v.image.is_some()
            || v.persistent_volume_claim.is_some()
            || v.projected.is_some()
            || v.secret.is_some();
        if !allowed {
            bad.push(v.name.clone());
            kinds.insert(volume_type(v));
        }
    }
    if bad.is_empty() {
        return None;
    }
    let kinds: Vec<&str> = kinds.into_iter().collect();
    violation(
        "restricted volume types",
        format!(
            "{} {} {} {} {}",
            pluralize("volume", "volumes", bad.len()),
            join_quote(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize(
                "restricted volume type",
                "restricted volume types",
                kinds.len()
            ),
            join_quote(&kinds)
        ),
    )
}

/// The name upstream gives a volume source outside the restricted set.
fn volume_type(v: &k8s_openapi::api::core::v1::Volume) -> &'static str {
    let sources: [(bool, &'static str); 21] = [
        (v.host_path.is_some(), "hostPath"),
        (v.gce_persistent_disk.is_some(), "gcePersistentDisk"),
        (v.aws_elastic_block_store.is_some(), "awsElasticBlockStore"),
        (v.git_repo.is_some(), "gitRepo"),
        (v.nfs.is_some(), "nfs"),
        (v.iscsi.is_some(), "iscsi"),
        (v.glusterfs.is_some(), "glusterfs"),
        (v.rbd.is_some(), "rbd"),
        (v.flex_volume.is_some(), "flexVolume"),
        (v.cinder.is_some(), "cinder"),
        (v.cephfs.is_some(), "cephfs"),
        (v.flocker.is_some(), "flocker"),
        (v.fc.is_some(), "fc"),
        (v.azure_file.is_some(), "azureFile"),
        (v.vsphere_volume.is_some(), "vsphereVolume"),
        (v.quobyte.is_some(), "quobyte"),
        (v.azure_disk.is_some(), "azureDisk"),
        (v.photon_persistent_disk.is_some(), "photonPersistentDisk"),
        (v.portworx_volume.is_some(), "portworxVolume"),
        (v.scale_io.is_some(), "scaleIO"),
        (v.storageos.is_some(), "storageos"),
    ];
    sources
        .iter()
        .find(|(set, _)| *set)
        .map(|(_, name)| *name)
        .unwrap_or("unknown")
}

fn run_as_non_root(_: &ObjectMeta, spec: &PodSpec, _: u32) -> Option<Violation> {
    let pod = spec
        .security_context
        .as_ref()
        .and_then(|s| s.run_as_non_root);
    let (mut explicit, mut implicit) = (Vec::new(), Vec::new());
    for c in containers(spec) {
        match c.security_context.as_ref().and_then(|s| s.run_as_non_root) {
            Some(false) => explicit.push(c.name.clone()),
            Some(true) => {}
            None if pod != Some(true) => implicit.push(c.name.clone()),
            None => {}
        }
    }
    let reason = "runAsNonRoot != true";
    let who = setters(pod == Some(false), &explicit);
    if !who.is_empty() {
        let detail = format!(
            "{} must not set securityContext.runAsNonRoot=false",
            who.join(" and ")
        );
        return violation(reason, detail);
    }
    if implicit.is_empty() {
        return None;
    }
    violation(
        reason,
        format!(
            "pod or {} must set securityContext.runAsNonRoot=true",
            named_containers(&implicit)
        ),
    )
}

fn run_as_user(_: &ObjectMeta, spec: &PodSpec, _: u32) -> Option<Violation> {
    let pod = spec.security_context.as_ref().and_then(|s| s.run_as_user) == Some(0);
    let bad = containers_where(spec, |c| {
        c.security_context.as_ref().and_then(|s| s.run_as_user) == Some(0)
    });
    let who = setters(pod, &bad);
    if who.is_empty() {
        return None;
    }
    violation(
        "runAsUser=0",
        format!("{} must not set runAsUser=0", who.join(" and ")),
    )
}

fn seccomp_restricted(_: &ObjectMeta, spec: &PodSpec, minor: u32) -> Option<Violation> {
    if minor >= 25 && is_windows(spec) {
        return None;
    }
    let (pod, bad, values, unset) = seccomp_setters(spec);
    let who = setters(pod == Some(true), &bad);
    if !who.is_empty() {
        return violation(
            "seccompProfile",
            format!(
                "{} must not set securityContext.seccompProfile.type to {}",
                who.join(" and "),
                join_quote(&values)
            ),
        );
    }
    // A valid pod-level profile covers containers that set none.
    if pod == Some(false) || unset.is_empty() {
        return None;
    }
    violation(
        "seccompProfile",
        format!(
            "pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
            named_containers(&unset)
        ),
    )
}
