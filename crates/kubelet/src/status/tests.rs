use super::*;
use crate::naming::{container_labels, PodRef, Role};
use serde_json::json;

fn pod(policy: &str, init: bool) -> Pod {
    let mut spec = json!({"restartPolicy": policy, "containers": [
        {"name": "b", "image": "busybox"},
        {"name": "a", "image": "busybox", "readinessProbe": {"exec": {"command": ["true"]}}}
    ]});
    if init {
        spec["initContainers"] = json!([{"name": "setup", "image": "busybox"}]);
    }
    serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
        "spec": spec,
        "status": {"conditions": [{"type": "PodScheduled", "status": "True"}], "qosClass": "BestEffort"}
    }))
    .expect("pod")
}

fn info(name: &str, attempt: u32, state: ContainerState, code: Option<i64>) -> ContainerInfo {
    let pr = PodRef {
        namespace: "ns".into(),
        name: "p".into(),
        uid: "u".into(),
    };
    let role = if name == SANDBOX_CONTAINER {
        Role::Sandbox
    } else {
        Role::App
    };
    ContainerInfo {
        id: format!("{name}-{attempt}"),
        name: format!("k8s_{name}_{attempt}"),
        image: "busybox".into(),
        image_id: "sha256:1".into(),
        labels: container_labels(
            crate::naming::Owner {
                cluster: "",
                node: "n",
            },
            &pr,
            name,
            role,
            attempt,
        ),
        state,
        exit_code: code,
        oom_killed: false,
        error: String::new(),
        started_at: Some(Utc::now()),
        finished_at: code.map(|_| Utc::now()),
        ip: (name == SANDBOX_CONTAINER).then(|| "172.17.0.9".to_string()),
    }
}

fn compute(
    pod: &Pod,
    cs: &[ContainerInfo],
    waiting: &BTreeMap<String, Waiting>,
    ready: bool,
) -> PodStatus {
    let probes = move |_: &str, c: &Container| ProbeVerdicts {
        live: true,
        ready: c.readiness_probe.is_none() || ready,
        started: true,
    };
    let messages = BTreeMap::from([("b-0".to_string(), "bye".to_string())]);
    compute_status(&StatusInput {
        pod,
        containers: cs,
        waiting,
        probes: &probes,
        host_ip: "10.0.0.1",
        now: Utc::now(),
        messages: &messages,
    })
}

fn cond<'a>(s: &'a PodStatus, t: &str) -> &'a PodCondition {
    s.conditions
        .as_ref()
        .and_then(|c| c.iter().find(|c| c.type_ == t))
        .expect("condition")
}

#[test]
fn pending_then_running_then_ready() {
    let p = pod("Always", false);
    let none = BTreeMap::new();
    let s = compute(&p, &[], &none, false);
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    assert_eq!(cond(&s, "PodReadyToStartContainers").status, "False");
    let waiting = s
        .container_statuses
        .as_ref()
        .and_then(|c| c[0].state.clone())
        .and_then(|s| s.waiting)
        .and_then(|w| w.reason);
    assert_eq!(waiting.as_deref(), Some("ContainerCreating"));

    let cs = vec![
        info(SANDBOX_CONTAINER, 0, ContainerState::Running, None),
        info("a", 0, ContainerState::Running, None),
        info("b", 0, ContainerState::Running, None),
    ];
    let s = compute(&p, &cs, &none, false);
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert_eq!(s.pod_ip.as_deref(), Some("172.17.0.9"));
    assert_eq!(cond(&s, "Ready").status, "False");
    assert_eq!(
        cond(&s, "Ready").message.as_deref(),
        Some("containers with unready status: [a]")
    );
    assert_eq!(cond(&s, "PodScheduled").status, "True");
    let names: Vec<_> = s
        .container_statuses
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["a", "b"]);
    let s = compute(&p, &cs, &none, true);
    assert_eq!(cond(&s, "Ready").status, "True");
    assert_eq!(cond(&s, "ContainersReady").status, "True");
    assert_eq!(s.qos_class.as_deref(), Some("BestEffort"));
}

#[test]
fn exits_map_to_upstream_reasons_and_phases() {
    let none = BTreeMap::new();
    let ok = vec![
        info(SANDBOX_CONTAINER, 0, ContainerState::Running, None),
        info("a", 0, ContainerState::Exited, Some(0)),
        info("b", 0, ContainerState::Exited, Some(0)),
    ];
    let s = compute(&pod("Never", false), &ok, &none, true);
    assert_eq!(s.phase.as_deref(), Some("Succeeded"));
    assert_eq!(cond(&s, "Ready").reason.as_deref(), Some("PodCompleted"));
    let t = s
        .container_statuses
        .as_ref()
        .and_then(|c| c[0].state.clone())
        .and_then(|s| s.terminated)
        .expect("terminated");
    assert_eq!(t.reason.as_deref(), Some("Completed"));
    let b = s
        .container_statuses
        .as_ref()
        .and_then(|c| c[1].state.clone())
        .and_then(|s| s.terminated)
        .expect("b");
    assert_eq!(
        b.message.as_deref(),
        Some("bye"),
        "termination message from the file"
    );
    let b = s
        .container_statuses
        .as_ref()
        .and_then(|c| c[1].state.clone())
        .and_then(|s| s.terminated)
        .expect("b");
    assert_eq!(
        b.message.as_deref(),
        Some("bye"),
        "termination message from the file"
    );

    let mut failed = ok.clone();
    failed[2] = info("b", 0, ContainerState::Exited, Some(3));
    let s = compute(&pod("Never", false), &failed, &none, true);
    assert_eq!(s.phase.as_deref(), Some("Failed"));
    let b = s
        .container_statuses
        .as_ref()
        .map(|c| c[1].clone())
        .expect("b");
    let t = b.state.and_then(|s| s.terminated).expect("terminated");
    assert_eq!((t.exit_code, t.reason.as_deref()), (3, Some("Error")));
    assert_eq!(
        compute(&pod("OnFailure", false), &failed, &none, true)
            .phase
            .as_deref(),
        Some("Running")
    );
    assert_eq!(
        compute(&pod("Always", false), &ok, &none, true)
            .phase
            .as_deref(),
        Some("Running")
    );

    let mut oom = info("b", 0, ContainerState::Exited, Some(137));
    oom.oom_killed = true;
    let mut start_err = info("a", 0, ContainerState::Exited, Some(127));
    start_err.error = "exec: \"nope\": executable file not found in $PATH".into();
    let cs = vec![
        info(SANDBOX_CONTAINER, 0, ContainerState::Running, None),
        start_err,
        oom,
    ];
    let s = compute(&pod("Never", false), &cs, &none, true);
    let st: Vec<_> = s
        .container_statuses
        .iter()
        .flatten()
        .filter_map(|c| c.state.clone()?.terminated)
        .collect();
    assert_eq!(st[0].reason.as_deref(), Some("StartError"));
    assert!(st[0]
        .message
        .as_deref()
        .is_some_and(|m| m.contains("executable file not found")));
    assert_eq!(st[1].reason.as_deref(), Some("OOMKilled"));
}

#[test]
fn crash_loop_keeps_last_state_and_restart_count() {
    let waiting = BTreeMap::from([(
        "b".to_string(),
        Waiting {
            reason: "CrashLoopBackOff".into(),
            message: "back-off 10s restarting failed container=b pod=p_ns(u)".into(),
        },
    )]);
    let cs = vec![
        info(SANDBOX_CONTAINER, 0, ContainerState::Running, None),
        info("a", 0, ContainerState::Running, None),
        info("b", 0, ContainerState::Exited, Some(1)),
        info("b", 1, ContainerState::Exited, Some(1)),
    ];
    let s = compute(&pod("Always", false), &cs, &waiting, true);
    let b = s
        .container_statuses
        .as_ref()
        .map(|c| c[1].clone())
        .expect("b");
    assert_eq!(b.restart_count, 1);
    assert_eq!(
        b.state
            .and_then(|s| s.waiting)
            .and_then(|w| w.reason)
            .as_deref(),
        Some("CrashLoopBackOff")
    );
    assert_eq!(
        b.last_state.and_then(|s| s.terminated).map(|t| t.exit_code),
        Some(1)
    );
    assert_eq!(s.phase.as_deref(), Some("Running"));
}

#[test]
fn init_containers_gate_the_pod() {
    let none = BTreeMap::new();
    let p = pod("Always", true);
    let mut setup = info("setup", 0, ContainerState::Running, None);
    setup
        .labels
        .insert(crate::naming::LABEL_ROLE.into(), "init".into());
    let cs = vec![
        info(SANDBOX_CONTAINER, 0, ContainerState::Running, None),
        setup.clone(),
    ];
    let s = compute(&p, &cs, &none, true);
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    assert_eq!(cond(&s, "Initialized").status, "False");
    let w = s
        .container_statuses
        .as_ref()
        .and_then(|c| c[0].state.clone())
        .and_then(|s| s.waiting)
        .and_then(|w| w.reason);
    assert_eq!(w.as_deref(), Some("PodInitializing"));

    let mut failed = setup.clone();
    failed.state = ContainerState::Exited;
    failed.exit_code = Some(1);
    let s = compute(
        &pod("Never", true),
        &[
            info(SANDBOX_CONTAINER, 0, ContainerState::Running, None),
            failed,
        ],
        &none,
        true,
    );
    assert_eq!(s.phase.as_deref(), Some("Failed"));

    let mut done = setup;
    done.state = ContainerState::Exited;
    done.exit_code = Some(0);
    let s = compute(
        &p,
        &[
            info(SANDBOX_CONTAINER, 0, ContainerState::Running, None),
            done,
        ],
        &none,
        true,
    );
    assert_eq!(cond(&s, "Initialized").status, "True");
    let init = &s.init_container_statuses.as_ref().expect("init statuses")[0];
    assert!(
        init.ready,
        "a completed init container is ready, as upstream reports it"
    );
}

#[test]
fn containers_not_yet_created_wait_as_pod_initializing() {
    let mut p = pod("Always", true);
    p.spec
        .as_mut()
        .unwrap()
        .init_containers
        .as_mut()
        .unwrap()
        .push(serde_json::from_value(json!({"name": "second", "image": "busybox"})).unwrap());
    let mut first = info("setup", 0, ContainerState::Exited, Some(1));
    first
        .labels
        .insert(crate::naming::LABEL_ROLE.into(), "init".into());
    let cs = [
        info(SANDBOX_CONTAINER, 0, ContainerState::Running, None),
        first,
    ];
    let s = compute(&p, &cs, &BTreeMap::new(), true);
    let second = &s.init_container_statuses.as_ref().unwrap()[1];
    let reason = second
        .state
        .as_ref()
        .and_then(|st| st.waiting.as_ref())
        .and_then(|w| w.reason.as_deref());
    assert_eq!(reason, Some("PodInitializing"));
    assert!(
        !s.init_container_statuses.as_ref().unwrap()[0].ready,
        "a failed init container is not ready"
    );
}

#[test]
fn terminal_phase_is_sticky() {
    let mut p = pod("Never", false);
    if let Some(s) = p.status.as_mut() {
        s.phase = Some("Succeeded".into());
    }
    let s = compute(&p, &[], &BTreeMap::new(), true);
    assert_eq!(s.phase.as_deref(), Some("Succeeded"));
}
