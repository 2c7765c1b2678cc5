//! In-place pod resize on the node (upstream's `handlePodResourcesResize` and
//! `doPodResizeAction`): when a running container's spec resources differ from what was applied
//! to it, the worker applies them through the engine's container update — or restarts the
//! container when its `resizePolicy` says `RestartContainer` for a changed resource — and reports
//! what is applied in `status.containerStatuses[].resources`/`allocatedResources`, with the
//! `PodResizePending` (Infeasible) and `PodResizeInProgress` (Error) conditions while a resize
//! cannot be completed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{
    Container, ContainerStatus, PodCondition, PodStatus, ResourceRequirements,
};

use super::PodWorker;
use crate::downward::NodeResources;
use crate::naming::{attempt_of, Role};
use crate::quantity;
use crate::runtime::{ContainerInfo, ContainerState, ResourceUpdate};
use crate::status::instances;

/// Condition while a resize waits for the node (reason `Infeasible` or `Deferred`).
pub const POD_RESIZE_PENDING: &str = "PodResizePending";
/// Condition while an accepted resize is not yet actuated (reason `Error` on failure).
pub const POD_RESIZE_IN_PROGRESS: &str = "PodResizeInProgress";

/// What the worker remembers about resizes.
#[derive(Debug, Default)]
pub struct ResizeState {
    /// Resources applied to each engine container, by engine id.
    applied: BTreeMap<String, ResourceRequirements>,
    /// The resize condition to report (type, reason, message), if any.
    condition: Option<(&'static str, &'static str, String)>,
}

/// A container's spec resources as the kubelet applies them (claims are not resized).
pub fn wanted(c: &Container) -> ResourceRequirements {
    let r = c.resources.clone().unwrap_or_default();
    ResourceRequirements {
        limits: r.limits.filter(|m| !m.is_empty()),
        requests: r.requests.filter(|m| !m.is_empty()),
        claims: None,
    }
}

fn quantity_of(r: &ResourceRequirements, list: &str, name: &str) -> Option<String> {
    let map = if list == "limits" {
        r.limits.as_ref()
    } else {
        r.requests.as_ref()
    };
    map.and_then(|m| m.get(name)).map(|q| q.0.clone())
}

/// The CPU limit of `millis` millicores as the engine takes it (billionths of a CPU), None for
/// no limit. As upstream's `MilliCPUToQuota`, at least the kernel's smallest CFS quota (1 ms per
/// 100 ms period, 10 millicores): the kernel refuses a smaller `cpu.cfs_quota_us`.
pub(crate) fn nano_cpus_of_limit(millis: i128) -> Option<i64> {
    const MIN_MILLIS: i128 = 10;
    (millis > 0)
        .then(|| millis.max(MIN_MILLIS))
        .and_then(|m| i64::try_from(m.checked_mul(1_000_000)?).ok())
}

/// Upstream's `MilliCPUToShares` of the cpu request (the limit when only that is set): 1024 per
/// CPU, between 2 and 262144 — and 2 for a container without either, which the engine would
/// otherwise give its default 1024 (upstream's e2e reads `cpu.shares` to check).
pub(crate) fn cpu_shares(request_millis: Option<i128>, limit_millis: Option<i128>) -> i64 {
    const MIN_SHARES: i128 = 2;
    const MAX_SHARES: i128 = 262_144;
    let millis = request_millis.or(limit_millis).unwrap_or(0);
    (millis * 1024 / 1000).clamp(MIN_SHARES, MAX_SHARES) as i64
}

/// The engine settings of `r` (upstream's cgroup values: quota from the cpu limit, shares from
/// the cpu request).
pub fn engine_update(r: &ResourceRequirements) -> ResourceUpdate {
    let millis =
        |list, name| quantity_of(r, list, name).and_then(|q| quantity::parse_millis_ceil(&q));
    ResourceUpdate {
        memory_limit: quantity_of(r, "limits", "memory")
            .and_then(|q| quantity::parse_units_ceil(&q))
            .and_then(|v| i64::try_from(v).ok())
            .filter(|v| *v > 0),
        nano_cpus: millis("limits", "cpu").and_then(nano_cpus_of_limit),
        cpu_shares: Some(cpu_shares(
            millis("requests", "cpu"),
            millis("limits", "cpu"),
        )),
    }
}

/// Resources (`cpu`, `memory`) whose requests or limits differ between `a` and `b`.
fn changed(a: &ResourceRequirements, b: &ResourceRequirements) -> Vec<&'static str> {
    ["cpu", "memory"]
        .into_iter()
        .filter(|name| {
            ["requests", "limits"]
                .iter()
                .any(|list| quantity_of(a, list, name) != quantity_of(b, list, name))
        })
        .collect()
}

/// Whether the container's `resizePolicy` restarts it for any of `resources`.
fn needs_restart(c: &Container, resources: &[&str]) -> bool {
    c.resize_policy.iter().flatten().any(|p| {
        p.restart_policy == "RestartContainer" && resources.contains(&p.resource_name.as_str())
    })
}

/// Upstream's infeasibility check: the pod's requests beyond the node's allocatable.
pub fn infeasible(containers: &[&Container], node: &NodeResources) -> Option<String> {
    let total = |name: &str, millis: bool| -> i128 {
        containers
            .iter()
            .filter_map(|c| quantity_of(&wanted(c), "requests", name))
            .filter_map(|q| {
                if millis {
                    quantity::parse_millis_ceil(&q)
                } else {
                    quantity::parse_units_ceil(&q)
                }
            })
            .sum()
    };
    let (cpu, memory) = (total("cpu", true), total("memory", false));
    let detail = if memory > node.memory_bytes {
        format!(
            "memory, requested: {memory}, capacity: {}",
            node.memory_bytes
        )
    } else if cpu > node.cpu_millis {
        format!("cpu, requested: {cpu}, capacity: {}", node.cpu_millis)
    } else {
        return None;
    };
    Some(format!("Node didn't have enough capacity: {detail}"))
}

fn record_path(pod_dir: &Path, id: &str) -> PathBuf {
    pod_dir.join("resources").join(format!("{id}.json"))
}

impl PodWorker {
    /// What was applied to engine container `id` of `c`: remembered, else checkpointed in the
    /// pod directory (an agent restart), else what the spec says now (it was created from it).
    fn applied(&mut self, id: &str, c: &Container) -> ResourceRequirements {
        if let Some(r) = self.resize.applied.get(id) {
            return r.clone();
        }
        let saved = std::fs::read(record_path(&self.pod_dir(), id))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let r = saved.unwrap_or_else(|| wanted(c));
        self.remember(id, &r);
        r
    }

    fn remember(&mut self, id: &str, r: &ResourceRequirements) {
        let path = record_path(&self.pod_dir(), id);
        let written = path
            .parent()
            .map(std::fs::create_dir_all)
            .transpose()
            .and_then(|_| std::fs::write(&path, serde_json::to_vec(r).unwrap_or_default()));
        if let Err(e) = written {
            tracing::debug!(error = %e, "cannot checkpoint applied resources");
        }
        self.resize.applied.insert(id.to_string(), r.clone());
    }

    /// Running regular and sidecar containers with their role and engine container.
    fn resizable<'a>(&self, all: &'a [ContainerInfo]) -> Vec<(Container, Role, &'a ContainerInfo)> {
        let spec = self.pod.spec.clone().unwrap_or_default();
        let sidecars = spec
            .init_containers
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.restart_policy.as_deref() == Some("Always"))
            .map(|c| (c, Role::Init));
        let apps = spec.containers.into_iter().map(|c| (c, Role::App));
        sidecars
            .chain(apps)
            .filter_map(|(c, role)| {
                let latest = instances(all, &c.name).first().copied()?;
                (latest.state == ContainerState::Running).then_some((c, role, latest))
            })
            .collect()
    }

    /// Apply spec resources that differ from what running containers have.
    pub(super) async fn actuate_resizes(&mut self, all: &[ContainerInfo], sandbox: &ContainerInfo) {
        let running = self.resizable(all);
        let mut pending = Vec::new();
        for (c, role, info) in running {
            let applied = self.applied(&info.id, &c);
            let desired = wanted(&c);
            let diff = changed(&applied, &desired);
            if !diff.is_empty() {
                pending.push((c, role, info.clone(), desired, diff));
            }
        }
        if pending.is_empty() {
            self.resize.condition = None;
            return;
        }
        let spec = self.pod.spec.clone().unwrap_or_default();
        let everyone: Vec<&Container> = spec
            .init_containers
            .iter()
            .flatten()
            .filter(|c| c.restart_policy.as_deref() == Some("Always"))
            .chain(&spec.containers)
            .collect();
        if let Some(msg) = infeasible(&everyone, &self.deps.node.resources) {
            self.resize.condition = Some((POD_RESIZE_PENDING, "Infeasible", msg));
            return;
        }
        self.resize.condition = None;
        for (c, role, info, desired, diff) in pending {
            self.busy = true;
            if needs_restart(&c, &diff) {
                tracing::info!(container = %c.name, "resize needs a restart");
                let why = format!("Container {} resize requires restart", c.name);
                self.stop_one(&c, &info, self.container_grace(), Some(why))
                    .await;
                self.start(&c, role, attempt_of(&info.labels) + 1, sandbox)
                    .await;
                continue;
            }
            let update = engine_update(&desired);
            if let Some(msg) = self.below_usage(&c.name, &info.id, &update).await {
                self.resize.condition = Some((POD_RESIZE_IN_PROGRESS, "Error", msg));
                continue;
            }
            match self.deps.runtime.update_resources(&info.id, &update).await {
                Ok(()) => self.remember(&info.id, &desired),
                Err(e) => {
                    let msg = format!("failed to resize container {:?}: {e}", c.name);
                    self.resize.condition = Some((POD_RESIZE_IN_PROGRESS, "Error", msg));
                }
            }
        }
    }

    /// Upstream's best-effort guard on a memory limit decrease (v1.34+): a new limit below
    /// what the container uses now is not applied (it would be OOM-killed); the resize stays in
    /// progress with an Error until usage falls.
    async fn below_usage(&self, name: &str, id: &str, update: &ResourceUpdate) -> Option<String> {
        let limit = u64::try_from(update.memory_limit?).ok()?;
        let usage = self
            .deps
            .runtime
            .stats(id)
            .await
            .ok()?
            .memory_working_set_bytes;
        (usage > limit).then(|| {
            format!(
                "attempting to set container {name:?} memory limit ({limit}) below current usage ({usage})"
            )
        })
    }

    /// Adds what is applied and allocated to each container status, the resize condition
    /// and the observed generation to a computed status.
    pub(super) fn report_resources(&self, status: &mut PodStatus, all: &[ContainerInfo]) {
        let spec = self.pod.spec.clone().unwrap_or_default();
        let specs: Vec<&Container> = spec
            .init_containers
            .iter()
            .flatten()
            .chain(&spec.containers)
            .collect();
        let fill = |s: &mut ContainerStatus| {
            let Some(c) = specs.iter().find(|c| c.name == s.name) else {
                return;
            };
            let current = instances(all, &c.name).first().copied();
            let r = current
                .and_then(|i| self.resize.applied.get(&i.id).cloned())
                .unwrap_or_else(|| wanted(c));
            s.allocated_resources = r.requests.clone();
            s.resources = Some(r);
        };
        status
            .container_statuses
            .iter_mut()
            .flatten()
            .for_each(fill);
        status
            .init_container_statuses
            .iter_mut()
            .flatten()
            .for_each(fill);
        let old = self.pod.status.as_ref().and_then(|s| s.conditions.clone());
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        conditions.retain(|c| c.type_ != POD_RESIZE_PENDING && c.type_ != POD_RESIZE_IN_PROGRESS);
        if let Some((kind, reason, message)) = &self.resize.condition {
            let since = old
                .iter()
                .flatten()
                .find(|c| c.type_ == *kind && c.reason.as_deref() == Some(reason))
                .and_then(|c| c.last_transition_time.clone())
                .unwrap_or_else(|| crate::status::to_time(chrono::Utc::now()));
            conditions.push(PodCondition {
                type_: kind.to_string(),
                status: "True".into(),
                reason: Some(reason.to_string()),
                message: Some(message.clone()),
                last_transition_time: Some(since.clone()),
                last_probe_time: Some(since),
                observed_generation: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ContainerResizePolicy;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn quantity(n: &str) -> Quantity {
        Quantity(n.to_string())
    }

    fn container(cpu: &str, memory: &str) -> Container {
        let list: BTreeMap<String, Quantity> = [
            ("cpu".to_string(), quantity(cpu)),
            ("memory".to_string(), quantity(memory)),
        ]
        .into();
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements {
                limits: Some(list.clone()),
                requests: Some(list),
                claims: None,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn engine_settings_follow_upstream_cgroup_values() {
        let u = engine_update(&wanted(&container("500m", "64Mi")));
        assert_eq!(u.nano_cpus, Some(500_000_000));
        assert_eq!(
            nano_cpus_of_limit(1),
            Some(10_000_000),
            "the kernel's smallest quota"
        );
        assert_eq!(nano_cpus_of_limit(0), None);
        assert_eq!(u.cpu_shares, Some(512));
        assert_eq!(u.memory_limit, Some(64 << 20));
        // No cpu request or limit: upstream's minimum shares, not the engine's default 1024.
        assert_eq!(
            engine_update(&wanted(&Container::default())),
            ResourceUpdate {
                cpu_shares: Some(2),
                ..Default::default()
            }
        );
        assert_eq!(cpu_shares(Some(100_000_000), None), 262_144);
        assert_eq!(cpu_shares(None, Some(250)), 256);
        assert_eq!(cpu_shares(Some(1), Some(250)), 2);
    }

    #[test]
    fn restarts_only_for_a_changed_resource_with_restart_policy() {
        let mut c = container("500m", "64Mi");
        c.resize_policy = Some(vec![ContainerResizePolicy {
            resource_name: "memory".into(),
            restart_policy: "RestartContainer".into(),
        }]);
        let cpu_only = changed(&wanted(&c), &wanted(&container("1", "64Mi")));
        assert_eq!(cpu_only, ["cpu"]);
        assert!(!needs_restart(&c, &cpu_only));
        let memory = changed(&wanted(&c), &wanted(&container("500m", "128Mi")));
        assert!(needs_restart(&c, &memory));
    }

    #[test]
    fn infeasible_beyond_allocatable() {
        let node = NodeResources {
            cpu_millis: 2000,
            memory_bytes: 1 << 30,
            ephemeral_bytes: 0,
        };
        assert_eq!(infeasible(&[&container("1", "64Mi")], &node), None);
        assert_eq!(
            infeasible(&[&container("3", "64Mi")], &node).as_deref(),
            Some("Node didn't have enough capacity: cpu, requested: 3000, capacity: 2000")
        );
    }
}
