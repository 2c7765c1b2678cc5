//! Container probes and lifecycle hooks (exec, httpGet over HTTP/HTTPS, tcpSocket, gRPC) with
//! upstream's timing rules.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Container, ExecAction, GRPCAction, HTTPGetAction, Probe, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::events::{EventSink, WARNING};
use crate::runtime::{exec_collect, ContainerRuntime};

mod grpc;
mod http;

/// Result of one probe or hook run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The check passed.
    Success,
    /// The check failed, with a human-readable reason.
    Failure(String),
}

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// Restarts the container on failure.
    Liveness,
    /// Gates the Ready condition.
    Readiness,
    /// Holds the other two back until it first succeeds.
    Startup,
}

impl ProbeKind {
    /// Upstream's name of the probe in events ("Liveness probe failed: ...").
    pub fn label(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Startup => "Startup",
        }
    }
}

/// Where a container's probe failures are reported (`Unhealthy` events).
#[derive(Clone)]
pub struct ProbeEvents {
    /// The event sink.
    pub sink: Arc<dyn EventSink>,
    /// The container's reference (`spec.containers{name}`).
    pub reference: k8s_openapi::api::core::v1::ObjectReference,
}

/// The action part shared by probes and lifecycle handlers.
#[derive(Debug, Clone, Default)]
pub struct Action {
    /// Command run in the container.
    pub exec: Option<ExecAction>,
    /// HTTP GET against the pod IP.
    pub http_get: Option<HTTPGetAction>,
    /// TCP connect against the pod IP.
    pub tcp_socket: Option<TCPSocketAction>,
    /// gRPC health check against the pod IP (probes only).
    pub grpc: Option<GRPCAction>,
}

impl From<&Probe> for Action {
    fn from(p: &Probe) -> Self {
        Action {
            exec: p.exec.clone(),
            http_get: p.http_get.clone(),
            tcp_socket: p.tcp_socket.clone(),
            grpc: p.grpc.clone(),
        }
    }
}

/// Where a network probe connects: its own `host` if set, else the pod IP, and its port
/// resolved against the container's named ports.
fn target(
    host: Option<&str>,
    port: &IntOrString,
    container: &Container,
    pod_ip: Option<&str>,
) -> Result<(String, u16), String> {
    let port = resolve_port(port, container)?;
    let host = host
        .filter(|h| !h.is_empty())
        .or(pod_ip)
        .ok_or_else(|| "pod has no IP yet".to_string())?;
    Ok((host.to_string(), port))
}

/// Resolve a numeric or named container port.
pub fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    match port {
        IntOrString::Int(p) => u16::try_from(*p).map_err(|_| format!("invalid port {p}")),
        IntOrString::String(name) => {
            if let Ok(p) = name.parse::<u16>() {
                return Ok(p);
            }
            container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok())
                .ok_or_else(|| format!("couldn't find port {name:?} in container"))
        }
    }
}

/// Run one action against a container; `pod_ip` is where network checks connect.
pub async fn run_action(
    runtime: &dyn ContainerRuntime,
    container_id: &str,
    container: &Container,
    pod_ip: Option<&str>,
    action: &Action,
    timeout: Duration,
) -> ProbeOutcome {
    if let Some(exec) = &action.exec {
        let cmd = exec.command.clone().unwrap_or_default();
        return match exec_collect(runtime, container_id, cmd, timeout).await {
            Ok((0, _)) => ProbeOutcome::Success,
            Ok((code, out)) => ProbeOutcome::Failure(format!(
                "command failed with exit code {code}: {}",
                String::from_utf8_lossy(&out).trim()
            )),
            Err(e) => ProbeOutcome::Failure(e.to_string()),
        };
    }
    if let Some(get) = &action.http_get {
        return match target(get.host.as_deref(), &get.port, container, pod_ip) {
            Ok((host, port)) => http::http_get(&host, port, get, timeout).await,
            Err(e) => ProbeOutcome::Failure(e),
        };
    }
    if let Some(tcp) = &action.tcp_socket {
        let (host, port) = match target(tcp.host.as_deref(), &tcp.port, container, pod_ip) {
            Ok(target) => target,
            Err(e) => return ProbeOutcome::Failure(e),
        };
        return match tokio::time::timeout(
            timeout,
            tokio::net::TcpStream::connect((host.as_str(), port)),
        )
        .await
        {
            Ok(Ok(_)) => ProbeOutcome::Success,
            Ok(Err(e)) => ProbeOutcome::Failure(format!("dial tcp {host}:{port}: {e}")),
            Err(_) => ProbeOutcome::Failure(format!("dial tcp {host}:{port}: i/o timeout")),
        };
    }
    if let Some(g) = &action.grpc {
        let Ok(port) = u16::try_from(g.port) else {
            return ProbeOutcome::Failure(format!("invalid port {}", g.port));
        };
        let Some(host) = pod_ip else {
            return ProbeOutcome::Failure("pod has no IP yet".into());
        };
        return grpc::check(host, port, g.service.as_deref().unwrap_or(""), timeout).await;
    }
    ProbeOutcome::Failure("probe has no supported handler".into())
}

/// Latest probe verdicts for one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeVerdicts {
    /// `false` once liveness crossed its failure threshold.
    pub live: bool,
    /// Readiness (false until the first success when a readiness probe exists).
    pub ready: bool,
    /// Startup probe passed (true when there is none).
    pub started: bool,
}

/// Threshold bookkeeping shared by all probe kinds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Thresholds {
    successes: i32,
    failures: i32,
}

impl Thresholds {
    /// Feed one outcome; returns the new verdict if a threshold was crossed.
    pub fn observe(
        &mut self,
        ok: bool,
        success_threshold: i32,
        failure_threshold: i32,
    ) -> Option<bool> {
        if ok {
            self.failures = 0;
            self.successes += 1;
            (self.successes >= success_threshold.max(1)).then_some(true)
        } else {
            self.successes = 0;
            self.failures += 1;
            (self.failures >= failure_threshold.max(1)).then_some(false)
        }
    }
}

/// Runs the probes of every running container and remembers the verdicts by container id.
#[derive(Default)]
pub struct ProbeManager {
    verdicts: Arc<Mutex<HashMap<String, ProbeVerdicts>>>,
    tasks: HashMap<String, Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for ProbeManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeManager")
            .field("containers", &self.tasks.len())
            .finish()
    }
}

fn lock(
    m: &Mutex<HashMap<String, ProbeVerdicts>>,
) -> std::sync::MutexGuard<'_, HashMap<String, ProbeVerdicts>> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ProbeManager {
    /// Current verdicts for a container (defaults for containers without probes).
    pub fn verdicts(&self, container_id: &str, container: &Container) -> ProbeVerdicts {
        lock(&self.verdicts)
            .get(container_id)
            .copied()
            .unwrap_or(ProbeVerdicts {
                live: true,
                ready: container.readiness_probe.is_none(),
                started: container.startup_probe.is_none(),
            })
    }

    /// Whether probes already run for this container.
    pub fn is_running(&self, container_id: &str) -> bool {
        self.tasks.contains_key(container_id)
    }

    /// Start the probe loops of a freshly started container; `wake` is notified on every change.
    pub fn start(
        &mut self,
        runtime: Arc<dyn ContainerRuntime>,
        container_id: &str,
        container: &Container,
        pod_ip: Option<String>,
        wake: Arc<Notify>,
        events: ProbeEvents,
    ) {
        let initial = ProbeVerdicts {
            live: true,
            ready: container.readiness_probe.is_none(),
            started: container.startup_probe.is_none(),
        };
        lock(&self.verdicts).insert(container_id.to_string(), initial);
        let mut handles = Vec::new();
        for (kind, probe) in [
            (ProbeKind::Startup, &container.startup_probe),
            (ProbeKind::Liveness, &container.liveness_probe),
            (ProbeKind::Readiness, &container.readiness_probe),
        ] {
            let Some(probe) = probe.clone() else { continue };
            let ctx = ProbeLoop {
                runtime: runtime.clone(),
                id: container_id.to_string(),
                container: container.clone(),
                pod_ip: pod_ip.clone(),
                verdicts: self.verdicts.clone(),
                wake: wake.clone(),
                events: events.clone(),
            };
            handles.push(tokio::spawn(ctx.run(kind, probe)));
        }
        self.tasks.insert(container_id.to_string(), handles);
    }

    /// Stop probing containers that are no longer running.
    pub fn retain(&mut self, running: &dyn Fn(&str) -> bool) {
        let gone: Vec<String> = self
            .tasks
            .keys()
            .filter(|id| !running(id))
            .cloned()
            .collect();
        for id in gone {
            if let Some(handles) = self.tasks.remove(&id) {
                handles.iter().for_each(JoinHandle::abort);
            }
            lock(&self.verdicts).remove(&id);
        }
    }

    /// Stop everything (pod is going away).
    pub fn stop_all(&mut self) {
        self.retain(&|_| false);
    }
}

impl Drop for ProbeManager {
    fn drop(&mut self) {
        self.stop_all();
    }
}

struct ProbeLoop {
    runtime: Arc<dyn ContainerRuntime>,
    id: String,
    container: Container,
    pod_ip: Option<String>,
    verdicts: Arc<Mutex<HashMap<String, ProbeVerdicts>>>,
    wake: Arc<Notify>,
    events: ProbeEvents,
}

impl ProbeLoop {
    fn started(&self) -> bool {
        lock(&self.verdicts)
            .get(&self.id)
            .is_some_and(|v| v.started)
    }

    async fn run(self, kind: ProbeKind, probe: Probe) {
        let period = Duration::from_secs(probe.period_seconds.unwrap_or(10).max(1) as u64);
        let timeout = Duration::from_secs(probe.timeout_seconds.unwrap_or(1).max(1) as u64);
        let success_threshold = probe.success_threshold.unwrap_or(1);
        let failure_threshold = probe.failure_threshold.unwrap_or(3);
        tokio::time::sleep(Duration::from_secs(
            probe.initial_delay_seconds.unwrap_or(0).max(0) as u64,
        ))
        .await;
        let action = Action::from(&probe);
        let mut thresholds = Thresholds::default();
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            // Liveness and readiness wait for the startup probe, as upstream.
            if kind != ProbeKind::Startup && !self.started() {
                continue;
            }
            let outcome = run_action(
                self.runtime.as_ref(),
                &self.id,
                &self.container,
                self.pod_ip.as_deref(),
                &action,
                timeout,
            )
            .await;
            let ok = outcome == ProbeOutcome::Success;
            if let ProbeOutcome::Failure(msg) = &outcome {
                tracing::debug!(container = %self.container.name, ?kind, %msg, "probe failed");
                // Every failed run is an event, as upstream's prober records them.
                let message = format!("{} probe failed: {msg}", kind.label());
                let reason = crate::events::reason::UNHEALTHY;
                (self.events.sink).record(&self.events.reference, WARNING, reason, &message);
            }
            let Some(verdict) = thresholds.observe(ok, success_threshold, failure_threshold) else {
                continue;
            };
            let changed = {
                let mut g = lock(&self.verdicts);
                let Some(v) = g.get_mut(&self.id) else { return };
                let before = *v;
                match kind {
                    ProbeKind::Liveness => v.live = verdict,
                    ProbeKind::Readiness => v.ready = verdict,
                    ProbeKind::Startup => v.started = v.started || verdict,
                }
                // A failed startup probe kills the container just like liveness.
                if kind == ProbeKind::Startup && !verdict {
                    v.live = false;
                }
                before != *v
            };
            if changed {
                self.wake.notify_one();
            }
            if kind == ProbeKind::Startup && verdict {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{ContainerConfig, FakeRuntime, NetworkMode};
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn thresholds_follow_upstream_counts() {
        let mut t = Thresholds::default();
        assert_eq!(t.observe(false, 1, 3), None);
        assert_eq!(t.observe(false, 1, 3), None);
        assert_eq!(t.observe(false, 1, 3), Some(false));
        assert_eq!(t.observe(true, 2, 3), None);
        assert_eq!(t.observe(true, 2, 3), Some(true));
    }

    #[test]
    fn named_ports_resolve() {
        let c: Container = serde_json::from_value(
            json!({"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}),
        )
        .expect("c");
        assert_eq!(
            resolve_port(&IntOrString::String("http".into()), &c),
            Ok(8080)
        );
        assert_eq!(resolve_port(&IntOrString::Int(81), &c), Ok(81));
        assert!(resolve_port(&IntOrString::String("nope".into()), &c).is_err());
        assert!(resolve_port(&IntOrString::Int(70000), &c).is_err());
    }

    #[tokio::test]
    async fn http_and_tcp_and_exec_actions() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let mut n = 0;
            while let Ok((mut s, _)) = listener.accept().await {
                n += 1;
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf).await;
                let status = if n == 1 {
                    "200 OK"
                } else {
                    "503 Service Unavailable"
                };
                let _ = s
                    .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await;
            }
        });
        let rt = FakeRuntime::new();
        let c = Container {
            name: "c".into(),
            ..Default::default()
        };
        let get = Action {
            http_get: Some(HTTPGetAction {
                port: IntOrString::Int(i32::from(port)),
                path: Some("/healthz".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let t = Duration::from_secs(1);
        assert_eq!(
            run_action(&rt, "x", &c, Some("127.0.0.1"), &get, t).await,
            ProbeOutcome::Success
        );
        assert!(
            matches!(run_action(&rt, "x", &c, Some("127.0.0.1"), &get, t).await, ProbeOutcome::Failure(m) if m.contains("503"))
        );
        let tcp = Action {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::Int(i32::from(port)),
                host: None,
            }),
            ..Default::default()
        };
        assert_eq!(
            run_action(&rt, "x", &c, Some("127.0.0.1"), &tcp, t).await,
            ProbeOutcome::Success
        );
        assert!(matches!(
            run_action(&rt, "x", &c, None, &tcp, t).await,
            ProbeOutcome::Failure(_)
        ));

        rt.add_image("img");
        let id = rt
            .create_container(&ContainerConfig {
                name: "a".into(),
                image: "img".into(),
                network: Some(NetworkMode::Bridge),
                ..Default::default()
            })
            .await
            .expect("create");
        rt.start_container(&id).await.expect("start");
        rt.set_exec_result("false", 1);
        let exec = |cmd: &str| Action {
            exec: Some(ExecAction {
                command: Some(vec![cmd.to_string()]),
            }),
            ..Default::default()
        };
        assert_eq!(
            run_action(&rt, &id, &c, None, &exec("true"), t).await,
            ProbeOutcome::Success
        );
        assert!(
            matches!(run_action(&rt, &id, &c, None, &exec("false"), t).await, ProbeOutcome::Failure(m) if m.contains("exit code 1"))
        );
    }
}
