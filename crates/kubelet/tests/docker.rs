//! Tests against the real Docker engine (no-pull mode; the image is imported by the test).

mod common;

use common::{docker, unique};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ferrokube_kubelet::pod_worker::PodWorker;
use ferrokube_kubelet::runtime::{
    exec_collect, ContainerConfig, ContainerRuntime, ContainerState, DockerRuntime, LogOptions,
    NetworkMode,
};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use tokio::sync::Notify;

async fn wait_exited(rt: &DockerRuntime, id: &str) -> ferrokube_kubelet::runtime::ContainerInfo {
    for _ in 0..100 {
        let info = rt.inspect_container(id).await.expect("inspect");
        if info.state == ContainerState::Exited {
            return info;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("container {id} did not exit");
}

#[tokio::test]
async fn runs_containers_with_exit_codes_logs_and_exec() {
    let rt = docker().await;
    assert!(rt
        .image_id("busybox:latest")
        .await
        .expect("image")
        .is_some());
    assert!(rt
        .image_id("ferrokube-test/busybox:1")
        .await
        .expect("image")
        .is_some());
    assert!(rt
        .image_id("definitely-absent:0")
        .await
        .expect("image")
        .is_none());
    let label = unique("rt");
    let mut labels = BTreeMap::new();
    labels.insert("io.ferrokube.test".to_string(), label.clone());

    let cfg = ContainerConfig {
        name: unique("exit"),
        image: "busybox:latest".into(),
        entrypoint: vec!["sh".into(), "-c".into()],
        args: vec!["echo out; echo err >&2; exit 3".into()],
        labels: labels.clone(),
        network: Some(NetworkMode::Bridge),
        ..Default::default()
    };
    let id = rt.create_container(&cfg).await.expect("create");
    rt.start_container(&id).await.expect("start");
    let info = wait_exited(&rt, &id).await;
    assert_eq!(info.exit_code, Some(3));
    assert!(info.finished_at.is_some());
    let logs: Vec<u8> = rt
        .logs(&id, &LogOptions::default())
        .filter_map(|c| async move { c.ok().map(|c| c.data.to_vec()) })
        .concat()
        .await;
    let text = String::from_utf8_lossy(&logs);
    assert!(text.contains("out") && text.contains("err"), "logs: {text}");

    // A missing executable: start fails and the runtime's message is kept.
    let bad = ContainerConfig {
        name: unique("nocmd"),
        image: "busybox:latest".into(),
        entrypoint: vec!["/no/such/binary".into()],
        labels: labels.clone(),
        ..Default::default()
    };
    let bad_id = rt.create_container(&bad).await.expect("create");
    assert!(rt.start_container(&bad_id).await.is_err());
    let info = rt.inspect_container(&bad_id).await.expect("inspect");
    assert_eq!(info.state, ContainerState::Exited);
    assert!(!info.error.is_empty());

    // A long runner for exec.
    let sleeper = ContainerConfig {
        name: unique("sleep"),
        image: "busybox:latest".into(),
        entrypoint: vec![
            "sh".into(),
            "-c".into(),
            "trap 'exit 0' TERM; sleep 1000 & wait".into(),
        ],
        labels: labels.clone(),
        network: Some(NetworkMode::Bridge),
        ..Default::default()
    };
    let sid = rt.create_container(&sleeper).await.expect("create");
    rt.start_container(&sid).await.expect("start");
    let ip = rt.inspect_container(&sid).await.expect("inspect").ip;
    assert!(ip.is_some_and(|ip| ip.starts_with("172.")));
    let (code, out) = exec_collect(
        &rt,
        &sid,
        vec!["sh".into(), "-c".into(), "echo hi; exit 7".into()],
        Duration::from_secs(10),
    )
    .await
    .expect("exec");
    assert_eq!(code, 7);
    assert_eq!(String::from_utf8_lossy(&out).trim(), "hi");

    let listed = rt
        .list_containers(&[("io.ferrokube.test".into(), label.clone())])
        .await
        .expect("list");
    assert_eq!(listed.len(), 3);
    let started = std::time::Instant::now();
    rt.stop_container(&sid, Duration::from_secs(10))
        .await
        .expect("stop");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "SIGTERM should stop the shell promptly"
    );
    for c in listed {
        rt.remove_container(&c.id).await.expect("remove");
    }
    assert!(rt
        .list_containers(&[("io.ferrokube.test".into(), label)])
        .await
        .expect("list")
        .is_empty());
}

#[tokio::test]
async fn pod_containers_share_localhost_and_volumes() {
    let rt = Arc::new(docker().await);
    let tmp = tempfile::tempdir().expect("tmp");
    let node = unique("node");
    let api = Arc::new(common::Recorder(std::sync::Mutex::new(Vec::new())));
    let deps = common::deps(rt.clone(), &node, tmp.path(), api.clone());
    let uid = unique("uid");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "uid": uid},
        "spec": {"nodeName": node, "restartPolicy": "Never", "terminationGracePeriodSeconds": 2,
            "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}, {"name": "shared", "emptyDir": {}}],
            "containers": [
                {"name": "server", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent",
                 "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
                 "volumeMounts": [{"name": "cfg", "mountPath": "/www"}]},
                {"name": "client", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent",
                 "command": ["sh", "-c", "for i in $(seq 50); do wget -qO /data/got http://localhost:8080/greeting && echo -n fetched > /dev/termination-log && exit 0; sleep 0.1; done; exit 9"],
                 "volumeMounts": [{"name": "shared", "mountPath": "/data"}]}
            ]}
    }))
    .expect("pod");
    let mut worker = PodWorker::new(deps, pod, Arc::new(Notify::new()));
    let mut done = false;
    for _ in 0..100 {
        worker.sync().await.expect("sync");
        let last = api.last();
        let client_exit = last
            .as_ref()
            .and_then(|s| s.container_statuses.clone())
            .and_then(|cs| cs.into_iter().find(|c| c.name == "client"))
            .and_then(|c| c.state)
            .and_then(|s| s.terminated);
        if let Some(t) = client_exit {
            assert_eq!(t.exit_code, 0, "client reached the server over localhost");
            assert_eq!(
                t.message.as_deref(),
                Some("fetched"),
                "termination message file"
            );
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(done, "client container finished");
    let got = std::fs::read_to_string(worker.pod_dir().join("volumes/shared/got"))
        .expect("shared volume");
    assert_eq!(got, "hello from configmap");
    let last = api.last().expect("status");
    assert!(last
        .pod_ip
        .as_deref()
        .is_some_and(|ip| ip.starts_with("172.")));
    worker.remove().await.expect("remove");
    let left = rt
        .list_containers(&[(ferrokube_kubelet::naming::LABEL_POD_UID.to_string(), uid)])
        .await
        .expect("list");
    assert!(left.is_empty(), "nothing leaks after removal");
}
