//! Pod status as upstream's kubelet reports it, computed from what the runtime shows.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{
    Container, ContainerState as K8sState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::naming::{attempt_of, LABEL_CONTAINER_NAME, LABEL_ROLE, SANDBOX_CONTAINER};
use crate::probes::ProbeVerdicts;
use crate::runtime::{ContainerInfo, ContainerState};

/// A reason the worker holds a container in `waiting` (back-off, image, config errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// Upstream reason (`CrashLoopBackOff`, `ErrImageNeverPull`, ...).
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}

/// Everything status computation looks at.
pub struct StatusInput<'a> {
    /// The pod as last seen from the API.
    pub pod: &'a Pod,
    /// Every engine container of the pod (any attempt, any state).
    pub containers: &'a [ContainerInfo],
    /// Waiting reasons decided by the worker, by container name.
    pub waiting: &'a BTreeMap<String, Waiting>,
    /// Probe verdicts by (container id, spec).
    pub probes: &'a dyn Fn(&str, &Container) -> ProbeVerdicts,
    /// The node's IP.
    pub host_ip: &'a str,
    /// Current time.
    pub now: DateTime<Utc>,
    /// Termination messages of exited containers, by container id.
    pub messages: &'a BTreeMap<String, String>,
}

/// Engine containers for one pod-level container name, newest attempt first.
pub fn instances<'a>(all: &'a [ContainerInfo], name: &str) -> Vec<&'a ContainerInfo> {
    let mut v: Vec<&ContainerInfo> = all
        .iter()
        .filter(|c| c.labels.get(LABEL_CONTAINER_NAME).map(String::as_str) == Some(name))
        .collect();
    v.sort_by_key(|c| std::cmp::Reverse(attempt_of(&c.labels)));
    v
}

/// The pod's sandbox (pause) containers, newest first.
pub fn sandboxes(all: &[ContainerInfo]) -> Vec<&ContainerInfo> {
    let mut v: Vec<&ContainerInfo> = all
        .iter()
        .filter(|c| {
            c.labels.get(LABEL_ROLE).map(String::as_str) == Some("sandbox")
                || c.labels.get(LABEL_CONTAINER_NAME).map(String::as_str) == Some(SANDBOX_CONTAINER)
        })
        .collect();
    v.sort_by_key(|c| std::cmp::Reverse(attempt_of(&c.labels)));
    v
}

/// Convert a chrono time into the API's `Time`.
pub fn to_time(t: DateTime<Utc>) -> Time {
    let ts = k8s_openapi::jiff::Timestamp::new(t.timestamp(), t.timestamp_subsec_nanos() as i32)
        .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
    Time(ts)
}

fn time(t: Option<DateTime<Utc>>) -> Option<Time> {
    t.map(to_time)
}

/// `terminated` state of an exited engine container with upstream's reasons.
pub fn terminated_state(c: &ContainerInfo, message: Option<&String>) -> ContainerStateTerminated {
    let code = c.exit_code.unwrap_or(0);
    let (reason, code, message) = if c.oom_killed {
        ("OOMKilled", code, None)
    } else if !c.error.is_empty() {
        // The runtime could not start the process (e.g. missing executable).
        ("StartError", 128, Some(c.error.clone()))
    } else if code == 0 {
        ("Completed", 0, message.cloned())
    } else {
        ("Error", code, message.cloned())
    };
    ContainerStateTerminated {
        exit_code: i32::try_from(code).unwrap_or(i32::MAX),
        reason: Some(reason.to_string()),
        message,
        started_at: time(c.started_at),
        finished_at: time(c.finished_at),
        container_id: Some(format!("docker://{}", c.id)),
        signal: None,
    }
}

fn container_status(
    input: &StatusInput<'_>,
    spec: &Container,
    pending_init: bool,
) -> ContainerStatus {
    let all = instances(input.containers, &spec.name);
    let latest = all.first().copied();
    let previous = all.get(1).copied();
    let waiting = input.waiting.get(&spec.name);
    let mut status = ContainerStatus {
        name: spec.name.clone(),
        image: spec.image.clone().unwrap_or_default(),
        image_id: String::new(),
        restart_count: latest.map(|c| attempt_of(&c.labels) as i32).unwrap_or(0),
        ready: false,
        started: Some(false),
        ..Default::default()
    };
    let waiting_state = |reason: &str, message: Option<String>| K8sState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_string()),
            message,
        }),
        ..Default::default()
    };
    let terminated = |c: &ContainerInfo| K8sState {
        terminated: Some(terminated_state(c, input.messages.get(&c.id))),
        ..Default::default()
    };
    match latest {
        None => {
            let (reason, message) = match waiting {
                Some(w) => (
                    w.reason.as_str(),
                    Some(w.message.clone()).filter(|m| !m.is_empty()),
                ),
                None if pending_init => ("PodInitializing", None),
                None => ("ContainerCreating", None),
            };
            status.state = Some(waiting_state(reason, message));
        }
        Some(c) => {
            status.image_id = c.image_id.clone();
            status.container_id = Some(format!("docker://{}", c.id));
            match c.state {
                ContainerState::Running => {
                    let v = (input.probes)(&c.id, spec);
                    status.state = Some(K8sState {
                        running: Some(ContainerStateRunning {
                            started_at: time(c.started_at),
                        }),
                        ..Default::default()
                    });
                    status.started = Some(v.started);
                    status.ready = v.started && v.ready;
                    status.last_state = previous.map(terminated);
                }
                ContainerState::Exited => match waiting {
                    // Restart pending (back-off): waiting now, the exit in lastState.
                    Some(w) => {
                        status.state = Some(waiting_state(
                            &w.reason,
                            Some(w.message.clone()).filter(|m| !m.is_empty()),
                        ));
                        status.last_state = Some(terminated(c));
                    }
                    None => {
                        status.state = Some(terminated(c));
                        status.last_state = previous.map(terminated);
                    }
                },
                ContainerState::Created | ContainerState::Unknown => {
                    status.state = Some(waiting_state("ContainerCreating", None));
                    status.last_state = previous.map(terminated);
                }
            }
        }
    }
    status.last_state.get_or_insert_with(K8sState::default);
    status
}

fn is_terminated_ok(s: &ContainerStatus) -> bool {
    s.state
        .as_ref()
        .and_then(|st| st.terminated.as_ref())
        .is_some_and(|t| t.exit_code == 0)
}

fn restartable(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// Upstream's `getPhase`.
pub fn phase(pod: &Pod, init: &[ContainerStatus], app: &[ContainerStatus]) -> String {
    let spec = pod.spec.clone().unwrap_or_default();
    let policy = spec.restart_policy.as_deref().unwrap_or("Always");
    let (mut pending_init, mut failed_init) = (0, 0);
    for c in spec.init_containers.iter().flatten() {
        let Some(s) = init.iter().find(|s| s.name == c.name) else {
            pending_init += 1;
            continue;
        };
        let st = s.state.clone().unwrap_or_default();
        if restartable(c) {
            // Sidecars count as initialised once started.
            if !(st.running.is_some() && s.started == Some(true)) {
                pending_init += 1;
            }
            continue;
        }
        if st.running.is_some() {
            pending_init += 1;
        } else if let Some(t) = st.terminated {
            if t.exit_code != 0 {
                failed_init += 1;
            }
        } else if st.waiting.is_some() {
            match s.last_state.as_ref().and_then(|l| l.terminated.as_ref()) {
                Some(t) if t.exit_code != 0 => failed_init += 1,
                Some(_) => {}
                None => pending_init += 1,
            }
        } else {
            pending_init += 1;
        }
    }
    let (mut unknown, mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0, 0);
    for c in &spec.containers {
        let Some(s) = app.iter().find(|s| s.name == c.name) else {
            unknown += 1;
            continue;
        };
        let st = s.state.clone().unwrap_or_default();
        if st.running.is_some() {
            running += 1;
        } else if let Some(t) = st.terminated {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if st.waiting.is_some() {
            if s.last_state
                .as_ref()
                .and_then(|l| l.terminated.as_ref())
                .is_some()
            {
                stopped += 1;
            } else {
                waiting += 1;
            }
        } else {
            unknown += 1;
        }
    }
    if failed_init > 0 && policy == "Never" {
        return "Failed".into();
    }
    if pending_init > 0 || waiting > 0 {
        return "Pending".into();
    }
    if running > 0 && unknown == 0 {
        return "Running".into();
    }
    if running == 0 && stopped > 0 && unknown == 0 {
        if policy == "Always" {
            return "Running".into();
        }
        if stopped == succeeded {
            return "Succeeded".into();
        }
        if policy == "Never" {
            return "Failed".into();
        }
        return "Running".into();
    }
    "Pending".into()
}

fn condition(
    old: &[PodCondition],
    type_: &str,
    ok: bool,
    reason: Option<&str>,
    message: Option<String>,
    now: DateTime<Utc>,
) -> PodCondition {
    let status = if ok { "True" } else { "False" };
    // Keep the transition time unless the status really flipped.
    let since = old
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| to_time(now));
    PodCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: if ok { None } else { reason.map(str::to_string) },
        message: if ok { None } else { message },
        last_transition_time: Some(since),
        last_probe_time: None,
        observed_generation: None,
    }
}

/// Compute the full status to write through `pods/status`.
pub fn compute_status(input: &StatusInput<'_>) -> PodStatus {
    let pod = input.pod;
    let spec = pod.spec.clone().unwrap_or_default();
    let old = pod.status.clone().unwrap_or_default();
    let old_conditions = old.conditions.clone().unwrap_or_default();
    let init_specs = spec.init_containers.clone().unwrap_or_default();

    // Upstream: in a pod with init containers, a container that has not been created yet waits
    // as "PodInitializing" (init and app containers alike), not "ContainerCreating".
    let has_init = !init_specs.is_empty();
    let init_statuses: Vec<ContainerStatus> = init_specs
        .iter()
        .map(|c| {
            let mut s = container_status(input, c, has_init);
            // A regular init container that completed successfully counts as ready.
            if !restartable(c) && is_terminated_ok(&s) {
                s.ready = true;
            }
            s
        })
        .collect();
    let init_done = init_specs.iter().zip(&init_statuses).all(|(c, s)| {
        if restartable(c) {
            s.started == Some(true)
        } else {
            is_terminated_ok(s)
        }
    });
    let mut app_statuses: Vec<ContainerStatus> = spec
        .containers
        .iter()
        .map(|c| container_status(input, c, has_init && !init_done))
        .collect();
    app_statuses.sort_by(|a, b| a.name.cmp(&b.name));
    // Ephemeral containers count for nothing of the pod's phase or readiness.
    let ephemeral_statuses: Vec<ContainerStatus> = crate::ephemeral::containers(&spec)
        .iter()
        .map(|c| ContainerStatus {
            ready: false,
            ..container_status(input, c, false)
        })
        .collect();

    let mut phase = phase(pod, &init_statuses, &app_statuses);
    // Terminal phases are final, as upstream guarantees.
    if matches!(old.phase.as_deref(), Some("Succeeded") | Some("Failed")) {
        phase = old.phase.clone().unwrap_or(phase);
    }

    let sandbox = sandboxes(input.containers).first().copied();
    let sandbox_ready = sandbox.is_some_and(|s| s.state == ContainerState::Running);
    // Host-network pods use the node's address, as upstream reports.
    let pod_ip = if spec.host_network.unwrap_or(false) {
        Some(input.host_ip.to_string())
    } else {
        sandbox
            .and_then(|s| s.ip.clone())
            .or_else(|| old.pod_ip.clone())
    }
    .filter(|ip| !ip.is_empty());

    let unready: Vec<String> = spec
        .containers
        .iter()
        .filter(|c| !app_statuses.iter().any(|s| s.name == c.name && s.ready))
        .map(|c| c.name.clone())
        .collect();
    let incomplete: Vec<String> = init_specs
        .iter()
        .zip(&init_statuses)
        .filter(|(c, s)| {
            if restartable(c) {
                s.started != Some(true)
            } else {
                !is_terminated_ok(s)
            }
        })
        .map(|(c, _)| c.name.clone())
        .collect();
    let completed = phase == "Succeeded";
    let now = input.now;
    let (ready_reason, ready_msg) = if completed {
        ("PodCompleted", None)
    } else {
        (
            "ContainersNotReady",
            Some(format!(
                "containers with unready status: [{}]",
                unready.join(" ")
            )),
        )
    };
    let gates_ok = spec.readiness_gates.iter().flatten().all(|g| {
        old_conditions
            .iter()
            .any(|c| c.type_ == g.condition_type && c.status == "True")
    });
    let containers_ready = unready.is_empty() && !completed;
    let mut conditions = vec![
        condition(
            &old_conditions,
            "PodReadyToStartContainers",
            sandbox_ready,
            None,
            None,
            now,
        ),
        condition(
            &old_conditions,
            "Initialized",
            incomplete.is_empty() || completed,
            Some(if completed {
                "PodCompleted"
            } else {
                "ContainersNotInitialized"
            }),
            (!completed).then(|| {
                format!(
                    "containers with incomplete status: [{}]",
                    incomplete.join(" ")
                )
            }),
            now,
        ),
        if containers_ready && !gates_ok {
            condition(
                &old_conditions,
                "Ready",
                false,
                Some("ReadinessGatesNotReady"),
                Some("corresponding condition of pod readiness gate is not True".into()),
                now,
            )
        } else {
            condition(
                &old_conditions,
                "Ready",
                containers_ready,
                Some(ready_reason),
                ready_msg.clone(),
                now,
            )
        },
        condition(
            &old_conditions,
            "ContainersReady",
            containers_ready,
            Some(ready_reason),
            ready_msg,
            now,
        ),
    ];
    // Conditions owned by others (PodScheduled, readiness gates, DisruptionTarget) are kept.
    let owned = [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
    ];
    let mut others: Vec<PodCondition> = old_conditions
        .iter()
        .filter(|c| !owned.contains(&c.type_.as_str()))
        .cloned()
        .collect();
    if !others.iter().any(|c| c.type_ == "PodScheduled") {
        others.push(condition(&[], "PodScheduled", true, None, None, now));
    }
    // The generation this status describes (KEP 5067), on the pod and on the conditions the
    // kubelet owns.
    let generation = pod.metadata.generation;
    for c in conditions.iter_mut() {
        c.observed_generation = generation;
    }
    conditions.extend(others);

    PodStatus {
        observed_generation: generation,
        phase: Some(phase),
        conditions: Some(conditions),
        host_ip: Some(input.host_ip.to_string()),
        host_ips: Some(vec![HostIP {
            ip: input.host_ip.to_string(),
        }]),
        pod_ip: pod_ip.clone(),
        pod_ips: pod_ip.map(|ip| vec![PodIP { ip }]),
        start_time: old.start_time.clone().or_else(|| Some(to_time(now))),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        container_statuses: Some(app_statuses),
        ephemeral_container_statuses: (!ephemeral_statuses.is_empty())
            .then_some(ephemeral_statuses),
        qos_class: old.qos_class.clone(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
