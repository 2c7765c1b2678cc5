//! Turning a pod's container spec into an engine [`ContainerConfig`].

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::naming::{container_labels, container_name, Owner, PodRef, Role, SANDBOX_CONTAINER};
use crate::runtime::{BindMount, ContainerConfig, NetworkMode, PublishedPort};

/// Command run by the pause container: sleep forever and exit promptly on SIGTERM.
pub const PAUSE_COMMAND: &str = "trap 'exit 0' TERM INT; sleep 2147483647 & wait";

/// Config of the pod's pause (sandbox) container.
pub fn sandbox_config(
    owner: Owner<'_>,
    pod: &Pod,
    pod_ref: &PodRef,
    image: &str,
    attempt: u32,
) -> ContainerConfig {
    let spec = pod.spec.clone().unwrap_or_default();
    let host_network = spec.host_network.unwrap_or(false);
    let hostname = spec
        .hostname
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| pod_ref.name.chars().take(63).collect());
    ContainerConfig {
        name: container_name(SANDBOX_CONTAINER, pod_ref, attempt),
        image: image.to_string(),
        entrypoint: vec!["/bin/sh".into(), "-c".into()],
        args: vec![PAUSE_COMMAND.into()],
        labels: container_labels(owner, pod_ref, SANDBOX_CONTAINER, Role::Sandbox, attempt),
        network: Some(if host_network {
            NetworkMode::Host
        } else {
            NetworkMode::Bridge
        }),
        hostname: (!host_network).then_some(hostname),
        sysctls: super::sysctls::of(pod),
        // On the host's network a container port is already the node's.
        published_ports: if host_network {
            Vec::new()
        } else {
            published_ports(pod)
        },
        ..Default::default()
    }
}

/// The `hostPort`s of a pod's containers (`hostIP` empty: every node address).
pub fn published_ports(pod: &Pod) -> Vec<PublishedPort> {
    let containers = pod.spec.iter().flat_map(|s| s.containers.iter());
    containers
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let host_port = u16::try_from(p.host_port?).ok().filter(|p| *p > 0)?;
            Some(PublishedPort {
                protocol: p.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase(),
                host_ip: p
                    .host_ip
                    .clone()
                    .filter(|ip| !ip.is_empty())
                    .unwrap_or_else(|| "0.0.0.0".into()),
                host_port,
                container_port: u16::try_from(p.container_port).ok()?,
            })
        })
        .collect()
}

fn user_of(pod: &Pod, c: &Container) -> Option<String> {
    let psc = pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.clone())
        .unwrap_or_default();
    let csc = c.security_context.clone().unwrap_or_default();
    let uid = csc.run_as_user.or(psc.run_as_user)?;
    Some(match csc.run_as_group.or(psc.run_as_group) {
        Some(gid) => format!("{uid}:{gid}"),
        None => uid.to_string(),
    })
}

/// Groups every container of the pod runs with besides its primary one: upstream's CRI
/// `SupplementalGroups` are the pod's `fsGroup` (so volumes group-owned by it are usable by a
/// non-root user) followed by `supplementalGroups`.
fn supplemental_groups(pod: &Pod) -> Vec<i64> {
    let psc = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let mut groups: Vec<i64> = psc.and_then(|sc| sc.fs_group).into_iter().collect();
    for g in psc
        .and_then(|sc| sc.supplemental_groups.as_deref())
        .unwrap_or_default()
    {
        if !groups.contains(g) {
            groups.push(*g);
        }
    }
    groups
}

/// Inputs of an app or init container's config that the worker resolved beforehand.
pub struct Resolved {
    /// Final environment.
    pub env: Vec<(String, String)>,
    /// Bind mounts for its volumeMounts.
    pub mounts: Vec<BindMount>,
    /// Id of the pod's pause container whose namespaces it joins.
    pub sandbox_id: String,
    /// Id of the container whose PID namespace it joins (ephemeral containers' target).
    pub pid_of: Option<String>,
}

/// Config of an app or init container.
pub fn container_config(
    owner: Owner<'_>,
    pod: &Pod,
    pod_ref: &PodRef,
    c: &Container,
    role: Role,
    attempt: u32,
    resolved: Resolved,
) -> ContainerConfig {
    // The same engine settings an in-place resize applies (one mapping of requests/limits).
    let resources = match &c.resources {
        Some(r) => super::resize::engine_update(r),
        None => super::resize::engine_update(&Default::default()),
    };
    let sc = c.security_context.clone().unwrap_or_default();
    let env = resolved.env;
    ContainerConfig {
        name: container_name(&c.name, pod_ref, attempt),
        image: c.image.clone().unwrap_or_default(),
        entrypoint: crate::env::expand_all(c.command.as_deref().unwrap_or_default(), &env),
        args: crate::env::expand_all(c.args.as_deref().unwrap_or_default(), &env),
        working_dir: c.working_dir.clone().filter(|w| !w.is_empty()),
        labels: container_labels(owner, pod_ref, &c.name, role, attempt),
        mounts: resolved.mounts,
        network: Some(NetworkMode::Container(resolved.sandbox_id)),
        pid_of: resolved.pid_of,
        hostname: None,
        memory_limit: resources.memory_limit,
        nano_cpus: resources.nano_cpus,
        cpu_shares: resources.cpu_shares,
        user: user_of(pod, c),
        supplemental_groups: supplemental_groups(pod),
        privileged: sc.privileged.unwrap_or(false),
        cap_add: capability_names(sc.capabilities.as_ref().and_then(|c| c.add.as_ref())),
        cap_drop: capability_names(sc.capabilities.as_ref().and_then(|c| c.drop.as_ref())),
        // Upstream `AddNoNewPrivileges`: only an explicit `allowPrivilegeEscalation: false`.
        no_new_privileges: sc.allow_privilege_escalation == Some(false),
        read_only_rootfs: sc.read_only_root_filesystem.unwrap_or(false),
        tty: c.tty.unwrap_or(false),
        stdin: c.stdin.unwrap_or(false),
        stdin_once: c.stdin_once.unwrap_or(false),
        // Set once, in the sandbox whose namespaces this container joins.
        sysctls: BTreeMap::new(),
        // Published once, on the sandbox that owns the network namespace.
        published_ports: Vec::new(),
        env,
    }
}

/// Capability names as the engine takes them: Kubernetes writes `NET_ADMIN`, Docker
/// `CAP_NET_ADMIN` (it accepts both; `ALL` stays as it is).
fn capability_names(names: Option<&Vec<String>>) -> Vec<String> {
    names
        .into_iter()
        .flatten()
        .map(|n| match n.to_ascii_uppercase() {
            all if all == "ALL" => all,
            prefixed if prefixed.starts_with("CAP_") => prefixed,
            bare => format!("CAP_{bare}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OWNER: Owner<'static> = Owner {
        cluster: "c1",
        node: "n1",
    };

    #[test]
    fn resources_and_security_map_to_engine_settings() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
            "spec": {"securityContext": {"runAsUser": 1000, "fsGroup": 2000,
                    "supplementalGroups": [4000, 2000]}, "containers": [{
                "name": "c", "image": "busybox", "command": ["sh", "-c"], "args": ["echo $(MSG)"],
                "workingDir": "/tmp", "tty": true, "stdin": true,
                "securityContext": {"runAsGroup": 3000, "readOnlyRootFilesystem": true,
                    "capabilities": {"add": ["NET_ADMIN", "CAP_SYS_TIME"], "drop": ["all"]}},
                "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "250m"}}
            }]}
        }))
        .expect("pod");
        let pr = PodRef {
            namespace: "ns".into(),
            name: "p".into(),
            uid: "u".into(),
        };
        let c = pod
            .spec
            .as_ref()
            .map(|s| s.containers[0].clone())
            .expect("c");
        let resolved = Resolved {
            env: vec![("MSG".into(), "hi".into())],
            mounts: vec![],
            sandbox_id: "sb".into(),
            pid_of: None,
        };
        let cfg = container_config(OWNER, &pod, &pr, &c, Role::App, 3, resolved);
        assert_eq!(cfg.name, "k8s_c_p_ns_u_3");
        assert_eq!(cfg.args, vec!["echo hi".to_string()]);
        assert_eq!(cfg.memory_limit, Some(64 << 20));
        assert_eq!(cfg.nano_cpus, Some(500_000_000));
        assert_eq!(cfg.cpu_shares, Some(256));
        assert_eq!(cfg.user.as_deref(), Some("1000:3000"));
        assert_eq!(cfg.supplemental_groups, vec![2000, 4000]);
        assert!(cfg.read_only_rootfs && cfg.tty && cfg.stdin);
        assert_eq!(cfg.cap_add, vec!["CAP_NET_ADMIN", "CAP_SYS_TIME"]);
        assert_eq!(cfg.cap_drop, vec!["ALL"]);
        assert_eq!(cfg.network, Some(NetworkMode::Container("sb".into())));

        let sb = sandbox_config(OWNER, &pod, &pr, "busybox:latest", 0);
        assert_eq!(sb.name, "k8s_POD_p_ns_u_0");
        assert_eq!(sb.hostname.as_deref(), Some("p"));
        assert_eq!(sb.network, Some(NetworkMode::Bridge));
    }

    #[test]
    fn host_ports_are_published_on_the_sandbox_unless_on_the_host_network() {
        let pod = |host_network: bool| -> Pod {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
                "spec": {"hostNetwork": host_network, "containers": [
                    {"name": "a", "image": "busybox", "ports": [
                        {"containerPort": 8080, "hostPort": 54323, "hostIP": "127.0.0.1"},
                        {"containerPort": 8081},
                        {"containerPort": 53, "hostPort": 5353, "protocol": "UDP"}]}]}
            }))
            .expect("pod")
        };
        let pr = PodRef {
            namespace: "ns".into(),
            name: "p".into(),
            uid: "u".into(),
        };
        let sb = sandbox_config(OWNER, &pod(false), &pr, "busybox:latest", 0);
        let published: Vec<(String, String, u16, u16)> = sb
            .published_ports
            .iter()
            .map(|p| {
                (
                    p.protocol.clone(),
                    p.host_ip.clone(),
                    p.host_port,
                    p.container_port,
                )
            })
            .collect();
        assert_eq!(
            published,
            vec![
                ("tcp".into(), "127.0.0.1".into(), 54323, 8080),
                ("udp".into(), "0.0.0.0".into(), 5353, 53),
            ]
        );
        let on_host = sandbox_config(OWNER, &pod(true), &pr, "busybox:latest", 0);
        assert!(on_host.published_ports.is_empty());
    }
}
