use super::*;
use crate::runtime::FakeRuntime;
use async_trait::async_trait;
use serde_json::json;
use std::sync::Mutex;

#[derive(Default)]
struct Recorder {
    statuses: Mutex<Vec<PodStatus>>,
    deletes: Mutex<Vec<String>>,
}

#[async_trait]
impl PodApi for Recorder {
    async fn patch_status(&self, _: &str, _: &str, status: &PodStatus) -> Result<()> {
        self.statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(status.clone());
        Ok(())
    }
    async fn delete_now(&self, _: &str, name: &str, _: &str) -> Result<()> {
        self.deletes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(name.to_string());
        Ok(())
    }
}

struct NoObjects;

#[async_trait]
impl ObjectSource for NoObjects {
    async fn config_map(&self, _: &str, _: &str) -> Result<Option<BTreeMap<String, Vec<u8>>>> {
        Ok(None)
    }
    async fn secret(&self, _: &str, _: &str) -> Result<Option<BTreeMap<String, Vec<u8>>>> {
        Ok(None)
    }
}

#[async_trait]
impl TokenSource for NoObjects {
    async fn token(
        &self,
        _: &str,
        _: &str,
        _: Option<&str>,
        _: i64,
        _: &Pod,
    ) -> Result<Option<String>> {
        Ok(None)
    }
}

struct Harness {
    rt: FakeRuntime,
    api: Arc<Recorder>,
    events: Arc<crate::events::Collected>,
    worker: PodWorker,
    _tmp: tempfile::TempDir,
}

fn harness(pod: serde_json::Value, no_pull: bool) -> Harness {
    let tmp = tempfile::tempdir().expect("tmp");
    let rt = FakeRuntime::new();
    rt.add_image("busybox:latest");
    let api = Arc::new(Recorder::default());
    let events = Arc::new(crate::events::Collected::default());
    let deps = WorkerDeps {
        runtime: Arc::new(rt.clone()),
        objects: Arc::new(NoObjects),
        tokens: Arc::new(NoObjects),
        api: api.clone(),
        events: events.clone(),
        node: Arc::new(NodeContext {
            node_name: "node-a".into(),
            cluster_id: "cluster-a".into(),
            data_dir: tmp.path().to_path_buf(),
            no_image_pull: no_pull,
            allowed_unsafe_sysctls: Vec::new(),
            pause_image: "busybox:latest".into(),
            resources: NodeResources {
                cpu_millis: 2000,
                memory_bytes: 1 << 30,
                ephemeral_bytes: 0,
            },
            host_ip: "10.1.1.1".into(),
            memory_root: tmp.path().join("shm"),
            dns: Default::default(),
        }),
    };
    let pod: Pod = serde_json::from_value(pod).expect("pod");
    Harness {
        rt,
        api,
        events,
        worker: PodWorker::new(deps, pod, Arc::new(Notify::new())),
        _tmp: tmp,
    }
}

fn simple_pod(policy: &str) -> serde_json::Value {
    json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "uid-1"},
        "spec": {"nodeName": "node-a", "restartPolicy": policy, "terminationGracePeriodSeconds": 5,
            "containers": [{"name": "main", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", "echo $(GREETING)"], "env": [{"name": "GREETING", "value": "hi"}]}]}
    })
}

impl Harness {
    fn last_status(&self) -> PodStatus {
        self.api
            .statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .cloned()
            .expect("a status")
    }
    fn app(&self, name: &str) -> Vec<crate::runtime::FakeContainer> {
        let mut v: Vec<_> = self
            .rt
            .containers()
            .into_iter()
            .filter(|c| {
                c.info
                    .labels
                    .get(crate::naming::LABEL_CONTAINER_NAME)
                    .map(String::as_str)
                    == Some(name)
            })
            .collect();
        v.sort_by_key(|c| attempt_of(&c.info.labels));
        v
    }
}

fn main_state(s: &PodStatus) -> k8s_openapi::api::core::v1::ContainerState {
    s.container_statuses
        .as_ref()
        .and_then(|c| c[0].state.clone())
        .expect("state")
}

#[tokio::test]
async fn pod_runs_with_sandbox_and_reports_ip() {
    let mut h = harness(simple_pod("Always"), true);
    h.worker.sync().await.expect("sync");
    let sandbox = h.app(crate::naming::SANDBOX_CONTAINER);
    assert_eq!(sandbox.len(), 1);
    let main = h.app("main");
    assert_eq!(main.len(), 1);
    assert_eq!(main[0].config.name, "k8s_main_web_default_uid-1_0");
    assert_eq!(
        main[0].config.entrypoint,
        vec!["sh".to_string(), "-c".into(), "echo hi".into()]
    );
    assert_eq!(
        main[0].config.network,
        Some(crate::runtime::NetworkMode::Container(
            sandbox[0].info.id.clone()
        ))
    );
    assert_eq!(main[0].config.labels[crate::naming::LABEL_NODE], "node-a");
    let s = h.last_status();
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert!(s
        .pod_ip
        .as_deref()
        .is_some_and(|ip| ip.starts_with("172.17.")));
    assert_eq!(s.host_ip.as_deref(), Some("10.1.1.1"));
    assert!(main_state(&s).running.is_some());
    assert!(h.rt.pulls().is_empty());
}

#[tokio::test]
async fn never_policy_reaches_terminal_phases() {
    let mut h = harness(simple_pod("Never"), true);
    h.worker.sync().await.expect("sync");
    let id = h.app("main")[0].info.id.clone();
    h.rt.exit_container(&id, 3, false);
    h.worker.sync().await.expect("sync");
    let s = h.last_status();
    assert_eq!(s.phase.as_deref(), Some("Failed"));
    let t = main_state(&s).terminated.expect("terminated");
    assert_eq!((t.exit_code, t.reason.as_deref()), (3, Some("Error")));
    // Terminal: nothing restarts, the sandbox is stopped on the next pass.
    h.worker.sync().await.expect("sync");
    assert_eq!(h.app("main").len(), 1);
    assert!(h
        .rt
        .containers()
        .iter()
        .all(|c| c.info.state != crate::runtime::ContainerState::Running));

    let mut ok = harness(simple_pod("OnFailure"), true);
    ok.worker.sync().await.expect("sync");
    let id = ok.app("main")[0].info.id.clone();
    ok.rt.exit_container(&id, 0, false);
    ok.worker.sync().await.expect("sync");
    assert_eq!(ok.last_status().phase.as_deref(), Some("Succeeded"));
    assert_eq!(
        main_state(&ok.last_status())
            .terminated
            .and_then(|t| t.reason)
            .as_deref(),
        Some("Completed")
    );
}

#[tokio::test]
async fn always_restarts_then_backs_off() {
    let mut h = harness(simple_pod("Always"), true);
    h.worker.sync().await.expect("sync");
    let first = h.app("main")[0].info.id.clone();
    h.rt.exit_container(&first, 1, false);
    h.worker.sync().await.expect("sync");
    let all = h.app("main");
    assert_eq!(all.len(), 2, "restarted immediately the first time");
    h.rt.exit_container(&all[1].info.id, 1, false);
    h.worker.sync().await.expect("sync");
    assert_eq!(
        h.app("main").len(),
        2,
        "second crash waits for the back-off"
    );
    let s = h.last_status();
    let cs = s
        .container_statuses
        .as_ref()
        .map(|c| c[0].clone())
        .expect("cs");
    assert_eq!(cs.restart_count, 1);
    let w = cs.state.and_then(|s| s.waiting).expect("waiting");
    assert_eq!(w.reason.as_deref(), Some("CrashLoopBackOff"));
    assert!(w
        .message
        .as_deref()
        .is_some_and(|m| m
            .starts_with("back-off 10s restarting failed container=main pod=web_default(uid-1)")));
    assert_eq!(
        cs.last_state
            .and_then(|s| s.terminated)
            .map(|t| t.exit_code),
        Some(1)
    );
    assert_eq!(s.phase.as_deref(), Some("Running"));
}

#[tokio::test]
async fn missing_image_in_no_pull_mode() {
    let mut pod = simple_pod("Always");
    pod["spec"]["containers"][0]["image"] = json!("nginx:1.25");
    pod["spec"]["containers"][0]["imagePullPolicy"] = json!("Always");
    let mut h = harness(pod, true);
    h.worker.sync().await.expect("sync");
    let s = h.last_status();
    let w = main_state(&s).waiting.expect("waiting");
    assert_eq!(w.reason.as_deref(), Some("ErrImageNeverPull"));
    assert!(w
        .message
        .as_deref()
        .is_some_and(|m| m.contains("nginx:1.25") && m.contains("--no-image-pull")));
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    assert!(
        h.rt.pulls().is_empty(),
        "the engine must never be asked to pull"
    );

    // With pulls allowed the engine is asked, fails, and the next pass backs off.
    let mut pod = simple_pod("Always");
    pod["spec"]["containers"][0]["image"] = json!("nginx:1.25");
    let mut h = harness(pod, false);
    h.worker.sync().await.expect("sync");
    assert_eq!(
        main_state(&h.last_status())
            .waiting
            .and_then(|w| w.reason)
            .as_deref(),
        Some("ErrImagePull")
    );
    h.worker.sync().await.expect("sync");
    assert_eq!(
        main_state(&h.last_status())
            .waiting
            .and_then(|w| w.reason)
            .as_deref(),
        Some("ImagePullBackOff")
    );
    assert_eq!(h.rt.pulls(), vec!["nginx:1.25".to_string()]);
}

#[tokio::test]
async fn init_containers_run_in_order() {
    let mut pod = simple_pod("Always");
    pod["spec"]["initContainers"] = json!([
        {"name": "one", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent"},
        {"name": "two", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent"}
    ]);
    let mut h = harness(pod, true);
    h.worker.sync().await.expect("sync");
    assert_eq!(h.app("one").len(), 1);
    assert!(h.app("two").is_empty() && h.app("main").is_empty());
    let s = h.last_status();
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    let one = h.app("one")[0].info.id.clone();
    h.rt.exit_container(&one, 0, false);
    h.worker.sync().await.expect("sync");
    assert_eq!(h.app("two").len(), 1);
    assert!(h.app("main").is_empty());
    let two = h.app("two")[0].info.id.clone();
    h.rt.exit_container(&two, 0, false);
    h.worker.sync().await.expect("sync");
    assert_eq!(h.app("main").len(), 1);
    let s = h.last_status();
    assert_eq!(s.phase.as_deref(), Some("Running"));
    let inits = s.init_container_statuses.expect("init statuses");
    assert_eq!(
        inits.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["one", "two"]
    );
}

#[tokio::test]
async fn start_error_is_reported_with_runtime_message() {
    let mut h = harness(simple_pod("Never"), true);
    h.rt.fail_start(
        "k8s_main_",
        "exec: \"nope\": executable file not found in $PATH",
    );
    h.worker.sync().await.expect("sync");
    let s = h.last_status();
    let t = main_state(&s).terminated.expect("terminated");
    assert_eq!(t.reason.as_deref(), Some("StartError"));
    assert!(t
        .message
        .as_deref()
        .is_some_and(|m| m.contains("executable file not found")));
    assert_eq!(s.phase.as_deref(), Some("Failed"));
}

#[tokio::test]
async fn graceful_delete_then_cleanup() {
    let mut h = harness(simple_pod("Always"), true);
    h.worker.sync().await.expect("sync");
    let mut pod = h.worker.pod.clone();
    pod.metadata.deletion_timestamp = Some(crate::status::to_time(chrono::Utc::now()));
    pod.metadata.deletion_grace_period_seconds = Some(1);
    h.worker.update(pod);
    h.worker.sync().await.expect("sync");
    assert!(h
        .rt
        .containers()
        .iter()
        .all(|c| c.info.state != crate::runtime::ContainerState::Running));
    assert_eq!(
        *h.api.deletes.lock().unwrap_or_else(|e| e.into_inner()),
        vec!["web".to_string()]
    );
    assert!(main_state(&h.last_status()).terminated.is_some());
    h.worker.remove().await.expect("remove");
    assert!(h.rt.containers().is_empty());
    assert!(!h.worker.pod_dir().exists());
}

#[tokio::test(start_paused = true)]
async fn failing_liveness_restarts_the_container() {
    let mut pod = simple_pod("Always");
    pod["spec"]["containers"][0]["livenessProbe"] =
        json!({"exec": {"command": ["check"]}, "periodSeconds": 1, "failureThreshold": 1});
    pod["spec"]["containers"][0]["readinessProbe"] =
        json!({"exec": {"command": ["ready"]}, "periodSeconds": 1});
    let mut h = harness(pod, true);
    h.rt.set_exec_result("check", 1);
    h.worker.sync().await.expect("sync");
    h.worker.sync().await.expect("sync");
    let notify = h.worker.wake_handle();
    tokio::time::timeout(Duration::from_secs(30), notify.notified())
        .await
        .expect("probe verdict");
    h.worker.sync().await.expect("sync");
    h.worker.sync().await.expect("sync");
    let main = h.app("main");
    assert_eq!(main.len(), 2, "killed by liveness and restarted");
    assert_eq!(
        h.last_status()
            .container_statuses
            .map(|c| c[0].restart_count),
        Some(1)
    );
}

#[tokio::test]
async fn starting_a_container_records_upstreams_events() {
    let mut h = harness(simple_pod("Always"), true);
    h.worker.sync().await.expect("sync");
    let events = h.events.all();
    let main: Vec<_> = events
        .iter()
        .filter(|e| e.field_path == "spec.containers{main}")
        .map(|e| (e.type_.as_str(), e.reason.as_str(), e.message.as_str()))
        .collect();
    let pulled = "Container image \"busybox:latest\" already present on machine and can be accessed by the pod";
    assert_eq!(
        main,
        vec![
            ("Normal", "Pulled", pulled),
            ("Normal", "Created", "Container created"),
            ("Normal", "Started", "Container started"),
        ]
    );
    // The pause container's image is no container of the spec: no event about it.
    assert_eq!(events.len(), 3, "{events:?}");
}

#[tokio::test]
async fn a_missing_image_under_never_is_err_image_never_pull() {
    let mut pod = simple_pod("Always");
    pod["spec"]["containers"][0]["image"] = json!("absent:1");
    let mut h = harness(pod, true);
    h.worker.sync().await.expect("sync");
    let reasons = h.events.reasons();
    assert_eq!(
        reasons,
        vec!["ErrImageNeverPull", "Failed"],
        "{:?}",
        h.events.all()
    );
    let failed = &h.events.all()[1];
    assert_eq!(
        (failed.type_.as_str(), failed.message.as_str()),
        ("Warning", "Error: ErrImageNeverPull")
    );
}
