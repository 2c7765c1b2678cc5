//! Pods on the real Docker engine through the API and stock kubectl: lifecycle and exit codes,
//! shared localhost, env and volumes read back with `kubectl exec`, probes, logs, exec with
//! stdin, port-forward, cp, bad input, agent restart adoption and two agents on one host.
//!
//! Every test runs its own server with the embedded agent under a unique node name (agents
//! sharing one engine remove containers of their node they do not know), and a guard removes
//! that node's containers when the test ends, passed or failed.

mod kubelet_common;
mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams};
use kubelet_common::*;
use serde_json::json;
use support::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_exit_codes_bad_input_and_cleanup() {
    let (_serial, _sweep, c, node) = cluster("e2e-life").await;
    let pods: Api<Pod> = Api::namespaced(c.client().await, "default");
    let one = |name: &str, command: serde_json::Value, image: &str| {
        json!({"metadata": {"name": name}, "spec": {"restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": image, "command": command}]}})
    };
    create(&pods, one("ok", json!(["sh", "-c", "exit 0"]), "busybox")).await;
    create(
        &pods,
        one("three", json!(["sh", "-c", "exit 3"]), "busybox"),
    )
    .await;
    create(
        &pods,
        one("absent", json!(["true"]), "ferrokube-e2e/absent:1"),
    )
    .await;
    create(&pods, one("nocmd", json!(["/no/such-binary"]), "busybox")).await;

    let ok = wait_pod(&pods, "ok", "Succeeded", |p| phase(p) == "Succeeded").await;
    let t = container_status(&ok, "main")
        .and_then(|s| s.state.as_ref()?.terminated.clone())
        .expect("terminated state");
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));

    let three = wait_pod(&pods, "three", "Failed", |p| phase(p) == "Failed").await;
    let t = container_status(&three, "main")
        .and_then(|s| s.state.as_ref()?.terminated.clone())
        .expect("terminated state");
    assert_eq!((t.exit_code, t.reason.as_deref()), (3, Some("Error")));

    let absent = wait_pod(&pods, "absent", "ErrImageNeverPull", |p| {
        container_status(p, "main")
            .and_then(|s| s.state.as_ref()?.waiting.as_ref()?.reason.clone())
            .as_deref()
            == Some("ErrImageNeverPull")
    })
    .await;
    assert_eq!(phase(&absent), "Pending");

    let nocmd = wait_pod(&pods, "nocmd", "terminated", |p| {
        container_status(p, "main")
            .and_then(|s| s.state.as_ref()?.terminated.clone())
            .is_some()
    })
    .await;
    let t = container_status(&nocmd, "main")
        .and_then(|s| s.state.as_ref()?.terminated.clone())
        .expect("terminated state");
    assert_ne!(t.exit_code, 0);
    let message = t.message.unwrap_or_default();
    assert!(
        message.contains("/no/such-binary"),
        "the runtime's message names the command: {message:?}"
    );

    // Streaming into pods that never started answers upstream's 400s, never hangs.
    let err = kubectl_fails(&c, &["logs", "absent"]);
    assert!(
        err.contains("container \"main\" in pod \"absent\" is waiting to start: ErrImageNeverPull"),
        "{err}"
    );
    let err = kubectl_fails(&c, &["exec", "absent", "-c", "nope", "--", "true"]);
    assert!(
        err.contains("container nope is not valid for pod absent"),
        "{err}"
    );
    let err = kubectl_fails(&c, &["logs", "ok", "--tail=-5", "--since=0s"]);
    assert!(!err.is_empty());

    // Sysctls: a safe one is set in the pod's namespaces; any other is refused at admission
    // with upstream's reason and words, and the pod never starts.
    let with_sysctls = |name: &str, sysctl: &str| {
        json!({"metadata": {"name": name}, "spec": {"restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "securityContext": {"sysctls": [{"name": sysctl, "value": "1"}]},
            "containers": [{"name": "main", "image": "busybox",
                "command": ["/bin/sysctl", "kernel.shm_rmid_forced"]}]}})
    };
    create(&pods, with_sysctls("sysctl", "kernel.shm_rmid_forced")).await;
    create(&pods, with_sysctls("unsafe-sysctl", "kernel.msgmax")).await;
    wait_pod(&pods, "sysctl", "Succeeded", |p| phase(p) == "Succeeded").await;
    let log = kubectl_ok(&c, &["logs", "sysctl"]);
    assert!(log.contains("kernel.shm_rmid_forced = 1"), "{log}");
    let refused = wait_pod(&pods, "unsafe-sysctl", "Failed", |p| phase(p) == "Failed").await;
    let status = refused.status.clone().unwrap_or_default();
    assert_eq!(status.reason.as_deref(), Some("SysctlForbidden"));
    assert_eq!(
        status.message.as_deref(),
        Some("forbidden sysctl: \"kernel.msgmax\" not allowlisted")
    );
    assert!(status
        .container_statuses
        .unwrap_or_default()
        .iter()
        .all(|s| s
            .state
            .as_ref()
            .and_then(|st| st.running.as_ref())
            .is_none()));

    // Deleting the pods leaves no containers behind on the engine.
    for name in ["ok", "three", "absent", "nocmd", "sysctl", "unsafe-sysctl"] {
        pods.delete(name, &DeleteParams::default())
            .await
            .expect("delete pod");
    }
    let gone = eventually(POD_WAIT, || async {
        containers_of(&node).is_empty().then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "containers left after delete: {:?}",
        containers_of(&node)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_sysctls_run_where_the_node_allows_them() {
    let (_serial, _sweep, c, _node) =
        cluster_with("e2e-sysctl", &["--allowed-unsafe-sysctls=kernel.msg*"]).await;
    let pods: Api<Pod> = Api::namespaced(c.client().await, "default");
    create(
        &pods,
        json!({"metadata": {"name": "msgmax"}, "spec": {"restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "12345"}]},
            "containers": [{"name": "main", "image": "busybox",
                "command": ["/bin/sysctl", "kernel.msgmax"]}]}}),
    )
    .await;
    wait_pod(&pods, "msgmax", "Succeeded", |p| phase(p) == "Succeeded").await;
    let log = kubectl_ok(&c, &["logs", "msgmax"]);
    assert!(log.contains("kernel.msgmax = 12345"), "{log}");
    pods.delete("msgmax", &DeleteParams::default())
        .await
        .expect("delete pod");
}

/// `--node-ip` (upstream's flag): the node reports that InternalIP, its kubelet answers there
/// (logs go through it), and a host port bound to it is reachable on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_ip_is_reported_served_and_bound() {
    let node_ip = "127.0.0.3";
    let (_serial, _sweep, c, node) = cluster_with("e2e-nodeip", &["--node-ip", node_ip]).await;
    let client = c.client().await;
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let reported = eventually(Duration::from_secs(20), || async {
        let n = nodes.get_opt(&node).await.ok()??;
        let addresses = n.status?.addresses?;
        addresses
            .into_iter()
            .find(|a| a.type_ == "InternalIP")
            .map(|a| a.address)
    })
    .await;
    assert_eq!(reported.as_deref(), Some(node_ip));
    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    create(
        &pods,
        json!({"metadata": {"name": "web"}, "spec": {"terminationGracePeriodSeconds": 1,
            "containers": [{"name": "web", "image": "busybox",
                "command": ["sh", "-c", "mkdir /w; echo node-ip > /w/index.html; echo serving; httpd -f -p 8080 -h /w"],
                "ports": [{"containerPort": 8080, "hostPort": port, "hostIP": node_ip}]}]}}),
    )
    .await;
    wait_pod(&pods, "web", "Running", running).await;
    let addr = format!("{node_ip}:{port}");
    let body = eventually(Duration::from_secs(20), || {
        let addr = addr.clone();
        async move { http_get(&addr).filter(|b| b == "node-ip") }
    })
    .await;
    assert_eq!(body.as_deref(), Some("node-ip"));
    let log = kubectl_ok(&c, &["logs", "web"]);
    assert!(
        log.contains("serving"),
        "logs through the kubelet at the node IP: {log}"
    );
    pods.delete("web", &DeleteParams::default())
        .await
        .expect("delete pod");
}

/// Effective capability bits a container reports for itself (`CapEff` of /proc/self/status).
fn effective_capabilities(log: &str) -> u64 {
    let hex = log
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap_or_else(|| panic!("no CapEff in {log}"));
    u64::from_str_radix(hex.trim(), 16).expect("hex capability mask")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privileged_containers_and_capabilities() {
    const CAP_NET_ADMIN: u64 = 1 << 12;
    const CAP_SYS_ADMIN: u64 = 1 << 21;
    let (_serial, _sweep, c, _node) = cluster("e2e-privileged").await;
    let pods: Api<Pod> = Api::namespaced(c.client().await, "default");
    // Mounting needs CAP_SYS_ADMIN and no seccomp filter: what privileged means. The pod runs
    // even where the engine's host lacks some capabilities (this machine lacks CAP_SYS_RESOURCE).
    let pod = |name: &str, security: serde_json::Value| {
        json!({"metadata": {"name": name}, "spec": {"restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": "busybox", "securityContext": security,
                "command": ["sh", "-c",
                    "grep CapEff /proc/self/status; mkdir -p /tmp/m; mount -t tmpfs t /tmp/m && echo mounted"]}]}})
    };
    create(&pods, pod("privileged", json!({"privileged": true}))).await;
    create(&pods, pod("plain", json!({}))).await;
    create(
        &pods,
        pod("net-admin", json!({"capabilities": {"add": ["NET_ADMIN"]}})),
    )
    .await;
    create(
        &pods,
        pod("none", json!({"capabilities": {"drop": ["ALL"]}})),
    )
    .await;
    for name in ["privileged", "plain", "net-admin", "none"] {
        wait_pod(&pods, name, "finished", |p| {
            matches!(phase(p), "Succeeded" | "Failed")
        })
        .await;
    }
    let log = kubectl_ok(&c, &["logs", "privileged"]);
    let caps = effective_capabilities(&log);
    assert_eq!(
        caps & (CAP_SYS_ADMIN | CAP_NET_ADMIN),
        CAP_SYS_ADMIN | CAP_NET_ADMIN,
        "{log}"
    );
    assert!(
        log.contains("mounted"),
        "a privileged container mounts: {log}"
    );
    let log = kubectl_ok(&c, &["logs", "plain"]);
    assert_eq!(
        effective_capabilities(&log) & (CAP_SYS_ADMIN | CAP_NET_ADMIN),
        0,
        "{log}"
    );
    assert!(!log.contains("mounted"), "{log}");
    let log = kubectl_ok(&c, &["logs", "net-admin"]);
    let caps = effective_capabilities(&log);
    assert_eq!(
        caps & (CAP_SYS_ADMIN | CAP_NET_ADMIN),
        CAP_NET_ADMIN,
        "{log}"
    );
    let log = kubectl_ok(&c, &["logs", "none"]);
    assert_eq!(effective_capabilities(&log), 0, "{log}");
    for name in ["privileged", "plain", "net-admin", "none"] {
        pods.delete(name, &DeleteParams::default())
            .await
            .expect("delete pod");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_logs_port_forward_cp_and_volumes() {
    let (_serial, _sweep, c, _node) = cluster("e2e-stream").await;
    let client = c.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    kubectl_ok(
        &c,
        &[
            "create",
            "configmap",
            "cfg",
            "--from-literal=greeting=hello-from-configmap",
        ],
    );
    kubectl_ok(
        &c,
        &[
            "create",
            "secret",
            "generic",
            "sec",
            "--from-literal=token=s3cr3t",
        ],
    );
    create(
        &pods,
        json!({"metadata": {"name": "web"}, "spec": {
            "terminationGracePeriodSeconds": 1,
            "volumes": [
                {"name": "www", "emptyDir": {}},
                {"name": "cfg", "configMap": {"name": "cfg"}},
                {"name": "sec", "secret": {"secretName": "sec"}}
            ],
            "containers": [
                {"name": "server", "image": "busybox",
                 "command": ["sh", "-c", "echo served-over-localhost > /www/index.html; echo server-started; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.3; done & exec httpd -f -p 8080 -h /www"],
                 "env": [
                    {"name": "PLAIN", "value": "plain-value"},
                    {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "greeting"}}},
                    {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "token"}}},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}
                 ],
                 "volumeMounts": [
                    {"name": "www", "mountPath": "/www"},
                    {"name": "cfg", "mountPath": "/etc/cfg"},
                    {"name": "sec", "mountPath": "/etc/sec"}
                 ]},
                {"name": "client", "image": "busybox", "command": ["sleep", "3600"]}
            ]}}),
    )
    .await;
    wait_pod(&pods, "web", "Running and Ready", |p| {
        running(p) && is_ready(p)
    })
    .await;

    // Env and volume contents, read back through exec.
    let env = kubectl_ok(&c, &["exec", "web", "-c", "server", "--", "env"]);
    for want in [
        "PLAIN=plain-value",
        "FROM_CM=hello-from-configmap",
        "FROM_SECRET=s3cr3t",
        "POD_NAME=web",
    ] {
        assert!(env.lines().any(|l| l == want), "{want} missing in:\n{env}");
    }
    // The addresses are known when the container starts, before any status was reported.
    let web = pods.get("web").await.expect("get web");
    let status = web.status.expect("status");
    for want in [
        format!("POD_IP={}", status.pod_ip.expect("pod IP")),
        format!("HOST_IP={}", status.host_ip.expect("host IP")),
    ] {
        assert!(env.lines().any(|l| l == want), "{want} missing in:\n{env}");
    }
    let files = kubectl_ok(
        &c,
        &[
            "exec",
            "web",
            "-c",
            "server",
            "--",
            "cat",
            "/etc/cfg/greeting",
            "/etc/sec/token",
        ],
    );
    assert_eq!(files, "hello-from-configmaps3cr3t");

    // Two containers of one pod share localhost.
    let fetched = kubectl_ok(
        &c,
        &[
            "exec",
            "web",
            "-c",
            "client",
            "--",
            "wget",
            "-qO-",
            "http://localhost:8080/index.html",
        ],
    );
    assert_eq!(fetched.trim(), "served-over-localhost");

    // Exit codes come back through the error channel; stdin reaches the process.
    let out = c.kubectl(&[
        "exec",
        "web",
        "-c",
        "client",
        "--",
        "sh",
        "-c",
        "echo to-stderr >&2; exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&out.stderr).contains("to-stderr"));
    let mut child = c
        .kubectl_command(
            Path::new("kubectl"),
            &[
                "exec",
                "-i",
                "web",
                "-c",
                "client",
                "--",
                "sh",
                "-c",
                "tr a-z A-Z",
            ],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("kubectl exec -i");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"shout this\n").expect("write stdin");
    }
    let out = support::output_within("kubectl exec -i", child, support::COMMAND_TIMEOUT);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "SHOUT THIS\n");
    // kubectl defaults the container itself; the API answers upstream's 400 without one.
    let resp = c
        .http()
        .get(format!(
            "{}/api/v1/namespaces/default/pods/web/log",
            c.base_url()
        ))
        .send()
        .await
        .expect("GET pods/log");
    assert_eq!(resp.status().as_u16(), 400);
    let status: serde_json::Value = resp.json().await.expect("Status body");
    assert_eq!(
        status["message"],
        "a container name must be specified for pod web, choose one of: [server client]"
    );

    // Logs, with options, and following.
    let logs = kubectl_ok(&c, &["logs", "web", "-c", "server"]);
    assert!(logs.starts_with("server-started\n"), "{logs}");
    let tail = kubectl_ok(&c, &["logs", "web", "-c", "server", "--tail=1"]);
    assert_eq!(tail.lines().count(), 1, "{tail}");
    let mut follow = background(&c, &["logs", "-f", "--tail=1", "web", "-c", "server"]);
    let mut count = 0;
    let seen = read_until(&mut follow, |_| {
        count += 1;
        count >= 3
    });
    assert!(
        seen.len() >= 3 && seen.iter().all(|l| l.starts_with("tick ")),
        "{seen:?}"
    );

    // Port-forward carries real HTTP, with a local port kubectl picks.
    let mut pf = background(&c, &["port-forward", "pod/web", ":8080"]);
    let lines = read_until(&mut pf, |l| l.starts_with("Forwarding from 127.0.0.1:"));
    let port = lines
        .last()
        .and_then(|l| l.strip_prefix("Forwarding from 127.0.0.1:"))
        .and_then(|rest| rest.split(' ').next())
        .expect("forwarded port")
        .to_string();
    // One connection per request: each is its own stream through the tunnel.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("http client");
    for round in 0..2 {
        let body = http
            .get(format!("http://127.0.0.1:{port}/index.html"))
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "GET {round} through port-forward: {e}; kubectl: {}",
                    pf.stderr()
                )
            })
            .text()
            .await
            .expect("body");
        assert_eq!(body.trim(), "served-over-localhost");
    }
    drop(pf);

    // cp a file out (tar over exec).
    let dest = c.scratch().join("index.html");
    let dest_str = dest.to_string_lossy().into_owned();
    kubectl_ok(
        &c,
        &["cp", "-c", "server", "web:/www/index.html", &dest_str],
    );
    assert_eq!(
        std::fs::read_to_string(&dest).expect("copied file").trim(),
        "served-over-localhost"
    );

    kubectl_ok(&c, &["delete", "pod", "web", "--wait=true"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_restarts_and_readiness_gates() {
    let (_serial, _sweep, c, _node) = cluster("e2e-probe").await;
    let pods: Api<Pod> = Api::namespaced(c.client().await, "default");
    create(
        &pods,
        json!({"metadata": {"name": "probed"}, "spec": {
        "terminationGracePeriodSeconds": 1,
        "containers": [
            {"name": "unhealthy", "image": "busybox", "command": ["sleep", "3600"],
             "livenessProbe": {"exec": {"command": ["sh", "-c", "exit 1"]},
                "initialDelaySeconds": 1, "periodSeconds": 1, "failureThreshold": 1}},
            {"name": "gated", "image": "busybox", "command": ["sleep", "3600"],
             "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]},
                "periodSeconds": 1}}
        ]}}),
    )
    .await;
    let p = wait_pod(&pods, "probed", "restarted by liveness", |p| {
        container_status(p, "unhealthy").is_some_and(|s| s.restart_count >= 1)
    })
    .await;
    let gated = container_status(&p, "gated").expect("gated status");
    assert!(
        !gated.ready,
        "readiness gates the container until the probe passes"
    );
    assert!(!is_ready(&p));
    kubectl_ok(
        &c,
        &["exec", "probed", "-c", "gated", "--", "touch", "/tmp/ready"],
    );
    wait_pod(&pods, "probed", "gated container ready", |p| {
        container_status(p, "gated").is_some_and(|s| s.ready)
    })
    .await;
    kubectl_ok(&c, &["delete", "pod", "probed", "--wait=true"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_and_agent_restart_adoption() {
    let (_serial, mut sweep, c, node_a) = cluster("e2e-agent-a").await;
    let node_b = unique_node("e2e-agent-b");
    sweep.0.push(node_b.clone());
    let _logs = AgentLogs(c.scratch().to_path_buf());
    let mut agent = Background(spawn_agent(&c, &node_b, 1));
    let client = c.client().await;
    // Bind pods to node B only once it exists: pod GC deletes pods bound to unknown nodes.
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let registered = eventually(POD_WAIT, || async { nodes.get(&node_b).await.ok() }).await;
    assert!(
        registered.is_some(),
        "agent {node_b} never registered its Node"
    );
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let sleeper = |name: &str, placement: serde_json::Value| {
        let mut spec = json!({"terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": "busybox", "command": ["sleep", "3600"]}]});
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), placement.as_object()) {
            spec.extend(extra.clone());
        }
        json!({"metadata": {"name": name}, "spec": spec})
    };
    create(&pods, sleeper("on-b", json!({"nodeName": node_b}))).await;
    create(
        &pods,
        sleeper(
            "on-a",
            json!({"nodeSelector": {"kubernetes.io/hostname": node_a}}),
        ),
    )
    .await;
    let on_b = wait_pod(&pods, "on-b", "Running", running).await;
    let on_a = wait_pod(&pods, "on-a", "Running", running).await;
    assert_eq!(
        on_a.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some(node_a.as_str())
    );
    // Each agent runs only its own pods: the engine's containers carry the owning node.
    let uid_of = |p: &Pod| p.metadata.uid.clone().unwrap_or_default();
    let b_ids = docker_ids(&format!("label=io.kubernetes.pod.uid={}", uid_of(&on_b)));
    let a_ids = docker_ids(&format!("label=io.kubernetes.pod.uid={}", uid_of(&on_a)));
    assert!(!a_ids.is_empty() && !b_ids.is_empty());
    let b_node_ids = containers_of(&node_b);
    let a_node_ids = containers_of(&node_a);
    assert!(
        b_ids.iter().all(|id| b_node_ids.contains(id)),
        "{b_ids:?} vs {b_node_ids:?}"
    );
    assert!(
        a_ids.iter().all(|id| a_node_ids.contains(id)),
        "{a_ids:?} vs {a_node_ids:?}"
    );
    // Streaming goes to the right kubelet.
    let host = kubectl_ok(&c, &["exec", "on-b", "--", "hostname"]);
    assert_eq!(host.trim(), "on-b");

    // Kill the agent hard, start it again: it adopts the running container.
    let before = container_id(&on_b).expect("container id");
    drop(agent);
    agent = Background(spawn_agent(&c, &node_b, 2));
    // Let the new agent sync once (its status write), then compare.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = wait_pod(&pods, "on-b", "Running after agent restart", running).await;
    assert_eq!(container_id(&after).as_deref(), Some(before.as_str()));
    assert_eq!(
        container_status(&after, "main").map(|s| s.restart_count),
        Some(0)
    );
    let host = kubectl_ok(&c, &["exec", "on-b", "--", "hostname"]);
    assert_eq!(host.trim(), "on-b", "exec reaches the restarted agent");

    for name in ["on-a", "on-b"] {
        pods.delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
    let gone = eventually(POD_WAIT, || async {
        (containers_of(&node_a).is_empty() && containers_of(&node_b).is_empty()).then_some(())
    })
    .await;
    assert!(gone.is_some(), "containers left after delete");
    drop(agent);
}

/// One HTTP/1.0 GET of `/` at `addr`; the body, or None if nothing answered.
fn http_get(addr: &str) -> Option<String> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = addr.parse().ok()?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split("\r\n\r\n").nth(1).map(|b| b.trim().to_string())
}

/// Upstream's HostPort spec, on Docker: three pods publish the same `hostPort`, on 127.0.0.1,
/// on the node's address (127.0.0.2 for a test agent on loopback), and on that address over UDP — no conflict, all three run,
/// and each TCP address reaches its own pod.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_ports_on_different_addresses_and_protocols() {
    let (_serial, _sweep, c, node) = cluster("e2e-hostport").await;
    let client = c.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let node_ip = eventually(Duration::from_secs(20), || async {
        let n = nodes.get_opt(&node).await.ok()??;
        let addresses = n.status?.addresses?;
        let internal = addresses.into_iter().find(|a| a.type_ == "InternalIP")?;
        Some(internal.address)
    })
    .await
    .expect("the node registers its InternalIP");
    // Test agents listen on loopback and report it as their address: take another one then.
    let node_ip = if node_ip == "127.0.0.1" {
        "127.0.0.2".to_string()
    } else {
        node_ip
    };
    // A port free on this machine now.
    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let server = |name: &str, host_ip: &str, protocol: &str| {
        json!({"metadata": {"name": name}, "spec": {"terminationGracePeriodSeconds": 1,
            "nodeName": node,
            "containers": [{"name": "web", "image": "busybox",
                "command": ["sh", "-c", format!("mkdir /w; echo {name} > /w/index.html; httpd -f -p 8080 -h /w")],
                "ports": [{"containerPort": 8080, "hostPort": port, "hostIP": host_ip, "protocol": protocol}]}]}})
    };
    create(&pods, server("loopback", "127.0.0.1", "TCP")).await;
    create(&pods, server("node-ip", &node_ip, "TCP")).await;
    create(&pods, server("node-ip-udp", &node_ip, "UDP")).await;
    for name in ["loopback", "node-ip", "node-ip-udp"] {
        wait_pod(&pods, name, "Running", running).await;
    }
    for (addr, want) in [
        (format!("127.0.0.1:{port}"), "loopback"),
        (format!("{node_ip}:{port}"), "node-ip"),
    ] {
        let body = eventually(Duration::from_secs(20), || {
            let addr = addr.clone();
            async move { http_get(&addr).filter(|b| b == want) }
        })
        .await;
        assert_eq!(body.as_deref(), Some(want), "{addr}");
    }
    for name in ["loopback", "node-ip", "node-ip-udp"] {
        pods.delete(name, &DeleteParams::default())
            .await
            .expect("delete pod");
    }
}
