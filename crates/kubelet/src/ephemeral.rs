//! A pod's ephemeral containers as the kubelet runs them: an `EphemeralContainer` has the
//! fields of a `Container` (the API server refused ports, probes and resources), plus the
//! target whose PID namespace it joins.

use k8s_openapi::api::core::v1::{Container, EphemeralContainer, Pod, PodSpec};

/// The spec's ephemeral containers as containers, in spec order.
pub fn containers(spec: &PodSpec) -> Vec<Container> {
    spec.ephemeral_containers
        .iter()
        .flatten()
        .map(as_container)
        .collect()
}

/// The same fields as a `Container` (everything but `targetContainerName`).
pub fn as_container(ec: &EphemeralContainer) -> Container {
    Container {
        name: ec.name.clone(),
        image: ec.image.clone(),
        image_pull_policy: ec.image_pull_policy.clone(),
        command: ec.command.clone(),
        args: ec.args.clone(),
        working_dir: ec.working_dir.clone(),
        env: ec.env.clone(),
        env_from: ec.env_from.clone(),
        volume_mounts: ec.volume_mounts.clone(),
        volume_devices: ec.volume_devices.clone(),
        security_context: ec.security_context.clone(),
        stdin: ec.stdin,
        stdin_once: ec.stdin_once,
        tty: ec.tty,
        termination_message_path: ec.termination_message_path.clone(),
        termination_message_policy: ec.termination_message_policy.clone(),
        ..Default::default()
    }
}

/// The `targetContainerName` of the pod's ephemeral container `name`, when it has one.
pub fn target_of(pod: &Pod, name: &str) -> Option<String> {
    pod.spec
        .as_ref()?
        .ephemeral_containers
        .as_ref()?
        .iter()
        .find(|ec| ec.name == name)?
        .target_container_name
        .clone()
        .filter(|t| !t.is_empty())
}
