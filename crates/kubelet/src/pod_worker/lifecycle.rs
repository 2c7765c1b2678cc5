//! Starting, restarting and stopping a pod's containers (images, back-off, hooks, grace).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, LifecycleHandler};

use super::{go_duration, should_restart, PodWorker, Resolved};
use crate::events::{reason, NORMAL, WARNING};
use crate::naming::{attempt_of, Role, SANDBOX_CONTAINER};
use crate::probes::{run_action, Action, ProbeOutcome};
use crate::runtime::{ContainerInfo, ContainerState};
use crate::status::{instances, Waiting};

fn waiting(reason: &str, message: String) -> Waiting {
    Waiting {
        reason: reason.to_string(),
        message,
    }
}

fn handler_action(h: &LifecycleHandler) -> Action {
    Action {
        exec: h.exec.clone(),
        http_get: h.http_get.clone(),
        tcp_socket: h.tcp_socket.clone(),
        grpc: None,
    }
}

impl PodWorker {
    /// Image present (or pulled) per policy and node mode; otherwise the waiting reason.
    /// Images of a container (`for_container`) get upstream's image manager events.
    pub(super) async fn ensure_image(
        &mut self,
        image: &str,
        policy: &str,
        for_container: Option<&str>,
    ) -> Result<String, Waiting> {
        let present = match self.deps.runtime.image_id(image).await {
            Ok(present) => present,
            Err(e) => {
                let msg = format!("Failed to inspect image \"{image}\": {e}");
                self.image_event(for_container, WARNING, reason::INSPECT_FAILED, &msg);
                return Err(waiting("ImageInspectError", msg));
            }
        };
        let no_pull = self.deps.node.no_image_pull;
        match present {
            Some(id) if policy != "Always" || no_pull => {
                // v1.36's wording (KubeletEnsureSecretPulledImages is on by default): an
                // image pulled without credentials may be used by any pod.
                let msg = format!(
                    "Container image \"{image}\" already present on machine and can be accessed by the pod"
                );
                self.image_event(for_container, NORMAL, reason::PULLED, &msg);
                return Ok(id);
            }
            None if no_pull || policy == "Never" => {
                let mut msg =
                    format!("Container image \"{image}\" is not present with pull policy of Never");
                self.image_event(for_container, WARNING, reason::ERR_IMAGE_NEVER_PULL, &msg);
                if no_pull && policy != "Never" {
                    msg.push_str(" (image pulls are disabled on this node: --no-image-pull)");
                }
                return Err(waiting("ErrImageNeverPull", msg));
            }
            _ => {}
        }
        let key = format!("pull/{image}");
        let now = Instant::now();
        if self.backoff.in_backoff(&key, now).is_some() {
            let msg = format!("Back-off pulling image \"{image}\"");
            self.image_event(for_container, NORMAL, reason::BACK_OFF, &msg);
            return Err(waiting("ImagePullBackOff", msg));
        }
        self.image_event(
            for_container,
            NORMAL,
            reason::PULLING,
            &format!("Pulling image \"{image}\""),
        );
        let started = Instant::now();
        let pulled = match self.deps.runtime.pull_image(image).await {
            Ok(()) => match self.deps.runtime.image_id(image).await {
                Ok(Some(id)) => Ok(id),
                Ok(None) => Err(format!("image {image} missing after pull")),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        match pulled {
            Ok(id) => {
                self.backoff.reset(&key);
                let took = go_duration(started.elapsed());
                let msg = format!(
                    "Successfully pulled image \"{image}\" in {took} ({took} including waiting)"
                );
                self.image_event(for_container, NORMAL, reason::PULLED, &msg);
                Ok(id)
            }
            Err(e) => {
                self.backoff.next(&key, now);
                let msg = format!("Failed to pull image \"{image}\": {e}");
                self.image_event(for_container, WARNING, reason::FAILED, &msg);
                Err(waiting("ErrImagePull", e))
            }
        }
    }

    /// An image manager event, about the container whose image it is (none for the sandbox).
    fn image_event(&self, container: Option<&str>, type_: &str, reason: &str, msg: &str) {
        if let Some(name) = container {
            self.container_event(name, type_, reason, msg);
        }
    }

    /// Bring one container to where its restart policy wants it.
    pub(super) async fn ensure_container(
        &mut self,
        spec: &Container,
        role: Role,
        policy: &str,
        latest: Option<&ContainerInfo>,
        sandbox: &ContainerInfo,
    ) {
        let Some(latest) = latest else {
            self.start(spec, role, 0, sandbox).await;
            return;
        };
        match latest.state {
            ContainerState::Running => {
                let verdicts = self.probes.verdicts(&latest.id, spec);
                if !verdicts.live {
                    tracing::info!(container = %spec.name, "liveness probe failed, restarting");
                    let probe = if verdicts.started {
                        "liveness"
                    } else {
                        "startup"
                    };
                    let why = format!(
                        "Container {} failed {probe} probe, will be restarted",
                        spec.name
                    );
                    self.stop_one(spec, latest, self.container_grace(), Some(why))
                        .await;
                    self.busy = true;
                } else if !self.probes.is_running(&latest.id) {
                    // Adopted after an agent restart, or started by us a moment ago.
                    let events = crate::probes::ProbeEvents {
                        sink: self.deps.events.clone(),
                        reference: crate::events::container_reference(&self.pod, &spec.name),
                    };
                    self.probes.start(
                        self.deps.runtime.clone(),
                        &latest.id,
                        spec,
                        sandbox.ip.clone(),
                        self.wake.clone(),
                        events,
                    );
                }
                self.waiting.remove(&spec.name);
                // A container that stayed up 10 minutes earns a fresh back-off, as upstream.
                if latest
                    .started_at
                    .is_some_and(|t| chrono::Utc::now() - t > chrono::Duration::minutes(10))
                {
                    self.backoff.reset(&spec.name);
                }
            }
            ContainerState::Created | ContainerState::Unknown => {
                self.busy = true;
            }
            ContainerState::Exited => {
                let failed_start = !latest.error.is_empty();
                let code = if failed_start {
                    128
                } else {
                    latest.exit_code.unwrap_or(0)
                };
                if !should_restart(policy, code) {
                    self.waiting.remove(&spec.name);
                    return;
                }
                let now = Instant::now();
                if let Some(delay) = self.backoff.in_backoff(&spec.name, now) {
                    let msg = format!(
                        "Back-off restarting failed container {} in pod {}_{}({})",
                        spec.name, self.pod_ref.name, self.pod_ref.namespace, self.pod_ref.uid
                    );
                    self.container_event(&spec.name, WARNING, reason::BACK_OFF, &msg);
                    self.waiting.insert(
                        spec.name.clone(),
                        waiting(
                            "CrashLoopBackOff",
                            format!(
                                "back-off {} restarting failed container={} pod={}_{}({})",
                                go_duration(delay),
                                spec.name,
                                self.pod_ref.name,
                                self.pod_ref.namespace,
                                self.pod_ref.uid
                            ),
                        ),
                    );
                    return;
                }
                self.backoff.next(&spec.name, now);
                self.start(spec, role, attempt_of(&latest.labels) + 1, sandbox)
                    .await;
            }
        }
    }

    pub(super) fn container_grace(&self) -> Duration {
        let secs = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds)
            .unwrap_or(30);
        Duration::from_secs(secs.max(0) as u64)
    }

    /// Create and start attempt `attempt` of a container; failures become waiting reasons.
    pub(super) async fn start(
        &mut self,
        spec: &Container,
        role: Role,
        attempt: u32,
        sandbox: &ContainerInfo,
    ) {
        self.busy = true;
        let image = spec.image.clone().unwrap_or_default();
        let policy = spec.image_pull_policy.clone().unwrap_or_else(|| {
            let tagged = image
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':') && !last.ends_with(":latest"));
            if tagged {
                "IfNotPresent".into()
            } else {
                "Always".into()
            }
        });
        if let Err(w) = self.ensure_image(&image, &policy, Some(&spec.name)).await {
            // Upstream names the error kind here ("Error: ErrImageNeverPull").
            let msg = format!("Error: {}", w.reason);
            self.container_event(&spec.name, WARNING, reason::FAILED, &msg);
            self.waiting.insert(spec.name.clone(), w);
            return;
        }
        let pod = self.pod_with_ip(sandbox.ip.as_deref());
        let env = match crate::env::container_env(
            self.deps.objects.as_ref(),
            &pod,
            spec,
            self.deps.node.resources,
        )
        .await
        {
            Ok(env) => env,
            Err(e) => {
                self.create_failed(spec, "CreateContainerConfigError", e.to_string());
                return;
            }
        };
        let volumes = self
            .volumes
            .as_ref()
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let mounts = match crate::volumes::container_mounts(spec, &volumes, &env) {
            Ok(m) => m,
            Err(e) => {
                self.create_failed(spec, "CreateContainerConfigError", e.to_string());
                return;
            }
        };
        let mut mounts = mounts;
        match self.termination_log(spec, attempt) {
            Ok(host) => mounts.push(crate::runtime::BindMount {
                host_path: host.to_string_lossy().into_owned(),
                container_path: spec
                    .termination_message_path
                    .clone()
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "/dev/termination-log".into()),
                read_only: false,
            }),
            Err(e) => tracing::warn!(error = %e, "cannot create termination log"),
        }
        let dns = &self.deps.node.dns;
        match crate::pod_dns::write_files(&self.pod_dir(), &pod, sandbox.ip.as_deref(), dns) {
            // A volume the user mounts at /etc/hosts or /etc/resolv.conf wins (upstream).
            Ok(files) => {
                let taken = |f: &crate::runtime::BindMount| {
                    mounts.iter().any(|m| m.container_path == f.container_path)
                };
                let files: Vec<_> = files.into_iter().filter(|f| !taken(f)).collect();
                mounts.extend(files);
            }
            Err(e) => tracing::warn!(error = %e, "cannot write resolv.conf and hosts"),
        }
        let resolved = Resolved {
            env,
            mounts,
            sandbox_id: sandbox.id.clone(),
            pid_of: self.pid_target(spec, role).await,
        };
        let cfg = super::container_config(
            self.deps.node.owner(),
            &pod,
            &self.pod_ref,
            spec,
            role,
            attempt,
            resolved,
        );
        let rt = self.deps.runtime.clone();
        let id = match rt.create_container(&cfg).await {
            Ok(id) => id,
            Err(e) => {
                self.create_failed(spec, "CreateContainerError", e.to_string());
                return;
            }
        };
        self.waiting.remove(&spec.name);
        self.container_event(&spec.name, NORMAL, reason::CREATED, "Container created");
        if let Err(e) = rt.start_container(&id).await {
            // The engine records the error on the container; status reports it as StartError.
            tracing::info!(container = %spec.name, error = %e, "container failed to start");
            let msg = format!("Error: {}", e.to_string().replace(&id, &spec.name));
            self.container_event(&spec.name, WARNING, reason::FAILED, &msg);
        } else {
            self.container_event(&spec.name, NORMAL, reason::STARTED, "Container started");
            self.post_start(spec, &id, sandbox).await;
        }
        // Keep the newest two attempts (current and `--previous` logs), drop older ones.
        if let Ok(all) = self.list().await {
            for old in instances(&all, &spec.name).iter().skip(2) {
                if let Err(e) = rt.remove_container(&old.id).await {
                    tracing::debug!(error = %e, "cannot remove old container");
                }
            }
        }
    }

    /// Runs the postStart hook of a just-started container; a failure kills it (upstream).
    async fn post_start(&self, spec: &Container, id: &str, sandbox: &ContainerInfo) {
        let Some(hook) = spec.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) else {
            return;
        };
        let rt = self.deps.runtime.clone();
        let outcome = run_action(
            rt.as_ref(),
            id,
            spec,
            sandbox.ip.as_deref(),
            &handler_action(hook),
            self.container_grace().max(Duration::from_secs(1)),
        )
        .await;
        if let ProbeOutcome::Failure(msg) = outcome {
            tracing::info!(container = %spec.name, %msg, "postStart hook failed, killing container");
            // Like upstream, the hook's output stays out of the event (it may hold secrets).
            let failed = reason::FAILED_POST_START_HOOK;
            self.container_event(&spec.name, WARNING, failed, "PostStartHook failed");
            self.container_event(&spec.name, NORMAL, reason::KILLING, failed);
            if let Err(e) = rt.stop_container(id, Duration::ZERO).await {
                tracing::warn!(error = %e, "cannot kill container");
            }
        }
    }

    /// Creating a container failed: a `Failed` event and the waiting reason.
    fn create_failed(&mut self, spec: &Container, why: &str, message: String) {
        let msg = format!("Error: {message}");
        self.container_event(&spec.name, WARNING, reason::FAILED, &msg);
        self.waiting
            .insert(spec.name.clone(), waiting(why, message));
    }

    /// The running container an ephemeral container's `targetContainerName` names, whose
    /// processes it then sees (`kubectl debug --target`).
    async fn pid_target(&self, spec: &Container, role: Role) -> Option<String> {
        if role != Role::Ephemeral {
            return None;
        }
        let target = crate::ephemeral::target_of(&self.pod, &spec.name)?;
        let all = self.list().await.ok()?;
        let running = instances(&all, &target)
            .into_iter()
            .find(|c| c.state == ContainerState::Running)?;
        Some(running.id.clone())
    }

    /// Host file bound at the container's terminationMessagePath.
    pub(super) fn termination_log_path(&self, name: &str, attempt: u32) -> std::path::PathBuf {
        self.pod_dir()
            .join("containers")
            .join(name)
            .join(format!("{attempt}-termination-log"))
    }

    fn termination_log(
        &self,
        spec: &Container,
        attempt: u32,
    ) -> std::io::Result<std::path::PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.termination_log_path(&spec.name, attempt);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::File::create(&path)?;
        // Writable by whatever user the container runs as.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))?;
        Ok(path)
    }

    /// Termination messages of exited containers: the message file, or for
    /// `FallbackToLogsOnError` failures the log tail, both capped like upstream.
    pub(super) async fn termination_messages(
        &self,
        containers: &[ContainerInfo],
    ) -> std::collections::BTreeMap<String, String> {
        use futures::StreamExt;
        const MAX_BYTES: usize = 4096;
        let spec = self.pod.spec.clone().unwrap_or_default();
        let mut out = std::collections::BTreeMap::new();
        for c in containers
            .iter()
            .filter(|c| c.state == ContainerState::Exited)
        {
            let name = c
                .labels
                .get(crate::naming::LABEL_CONTAINER_NAME)
                .cloned()
                .unwrap_or_default();
            let Some(cspec) = spec
                .init_containers
                .iter()
                .flatten()
                .chain(&spec.containers)
                .find(|s| s.name == name)
            else {
                continue;
            };
            let file = std::fs::read(self.termination_log_path(&name, attempt_of(&c.labels)))
                .unwrap_or_default();
            let mut msg = String::from_utf8_lossy(&file[..file.len().min(MAX_BYTES)]).into_owned();
            let fallback =
                cspec.termination_message_policy.as_deref() == Some("FallbackToLogsOnError");
            if msg.is_empty() && fallback && c.exit_code.unwrap_or(0) != 0 {
                let opts = crate::runtime::LogOptions {
                    tail_lines: Some(80),
                    ..Default::default()
                };
                let logs: Vec<u8> = self
                    .deps
                    .runtime
                    .logs(&c.id, &opts)
                    .filter_map(|r| async move { r.ok().map(|c| c.data.to_vec()) })
                    .concat()
                    .await;
                let start = logs.len().saturating_sub(2048);
                msg = String::from_utf8_lossy(&logs[start..]).into_owned();
            }
            if !msg.is_empty() {
                out.insert(c.id.clone(), msg);
            }
        }
        out
    }

    /// Stops one container (preStop hook first) with a `Killing` event saying `why`
    /// (upstream's "Stopping container X" when none is given).
    pub(super) async fn stop_one(
        &self,
        spec: &Container,
        c: &ContainerInfo,
        grace: Duration,
        why: Option<String>,
    ) {
        let why = why.unwrap_or_else(|| format!("Stopping container {}", spec.name));
        self.container_event(&spec.name, NORMAL, reason::KILLING, &why);
        let started = Instant::now();
        let rt = self.deps.runtime.clone();
        if let Some(pre_stop) = spec.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()) {
            let ip = self.last_status.as_ref().and_then(|s| s.pod_ip.clone());
            let action = handler_action(pre_stop);
            // The hook shares the grace period with the stop itself.
            let outcome = tokio::time::timeout(
                grace,
                run_action(
                    rt.as_ref(),
                    &c.id,
                    spec,
                    ip.as_deref(),
                    &action,
                    grace.max(Duration::from_secs(1)),
                ),
            )
            .await;
            if let Ok(ProbeOutcome::Failure(_)) = outcome {
                let hook = reason::FAILED_PRE_STOP_HOOK;
                self.container_event(&spec.name, WARNING, hook, "PreStopHook failed");
            }
        }
        let left = grace.saturating_sub(started.elapsed());
        if let Err(e) = rt.stop_container(&c.id, left).await {
            tracing::warn!(container = %spec.name, error = %e, "stop failed");
        }
    }

    /// Stop every running container of the pod (apps with preStop in parallel, then the sandbox).
    pub(super) async fn kill_all(
        &mut self,
        containers: &[ContainerInfo],
        grace: Duration,
    ) -> crate::error::Result<()> {
        self.probes.stop_all();
        let spec = self.pod.spec.clone().unwrap_or_default();
        let all_specs: Vec<Container> = spec
            .init_containers
            .iter()
            .flatten()
            .chain(&spec.containers)
            .cloned()
            .collect();
        let running: Vec<&ContainerInfo> = containers
            .iter()
            .filter(|c| c.state == ContainerState::Running)
            .filter(|c| {
                c.labels
                    .get(crate::naming::LABEL_CONTAINER_NAME)
                    .map(String::as_str)
                    != Some(SANDBOX_CONTAINER)
            })
            .collect();
        let this: &PodWorker = self;
        let stops = running.iter().map(|c| {
            let name = c
                .labels
                .get(crate::naming::LABEL_CONTAINER_NAME)
                .cloned()
                .unwrap_or_default();
            let spec = all_specs
                .iter()
                .find(|s| s.name == name)
                .cloned()
                .unwrap_or(Container {
                    name,
                    ..Default::default()
                });
            async move { this.stop_one(&spec, c, grace, None).await }
        });
        futures::future::join_all(stops).await;
        for sb in crate::status::sandboxes(containers) {
            if sb.state == ContainerState::Running {
                self.deps
                    .runtime
                    .stop_container(&sb.id, Duration::ZERO)
                    .await?;
            }
        }
        Ok(())
    }
}
