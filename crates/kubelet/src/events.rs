//! Events the kubelet records about pods and their containers, with upstream's reasons and
//! wording (`pkg/kubelet/events`), so `kubectl describe pod` tells what happened on the node.
//!
//! Workers hand events to an [`EventSink`]; the agent's sink is the shared
//! [`ferrokube_events::Recorder`] (aggregates repeats, never blocks a worker).

use std::sync::Mutex;

use k8s_openapi::api::core::v1::{ObjectReference, Pod};

/// Upstream's event reasons the kubelet uses (`pkg/kubelet/events/event.go`).
pub mod reason {
    /// Container created.
    pub const CREATED: &str = "Created";
    /// Container started.
    pub const STARTED: &str = "Started";
    /// Container could not be created or started, or an image could not be pulled.
    pub const FAILED: &str = "Failed";
    /// Container being stopped.
    pub const KILLING: &str = "Killing";
    /// Crash-looping container (or image pull) waiting out its back-off.
    pub const BACK_OFF: &str = "BackOff";
    /// Pulling an image.
    pub const PULLING: &str = "Pulling";
    /// Image present or pulled.
    pub const PULLED: &str = "Pulled";
    /// The engine could not inspect an image.
    pub const INSPECT_FAILED: &str = "InspectFailed";
    /// Image absent under pull policy Never.
    pub const ERR_IMAGE_NEVER_PULL: &str = "ErrImageNeverPull";
    /// A probe failed.
    pub const UNHEALTHY: &str = "Unhealthy";
    /// Volumes could not be set up.
    pub const FAILED_MOUNT: &str = "FailedMount";
    /// The pod's sandbox is gone and will be re-created.
    pub const SANDBOX_CHANGED: &str = "SandboxChanged";
    /// A postStart hook failed.
    pub const FAILED_POST_START_HOOK: &str = "FailedPostStartHook";
    /// A preStop hook failed.
    pub const FAILED_PRE_STOP_HOOK: &str = "FailedPreStopHook";
}

/// `Normal` event type.
pub const NORMAL: &str = "Normal";
/// `Warning` event type.
pub const WARNING: &str = "Warning";

/// Where a pod worker's events go; recording never blocks and never fails the caller.
pub trait EventSink: Send + Sync {
    /// Record one event about `obj`.
    fn record(&self, obj: &ObjectReference, type_: &str, reason: &str, message: &str);
}

impl EventSink for ferrokube_events::Recorder {
    fn record(&self, obj: &ObjectReference, type_: &str, reason: &str, message: &str) {
        self.post(obj, type_, reason, message);
    }
}

/// The agent's recorder: source component `kubelet` on host `node`, as upstream.
pub fn node_recorder(client: kube::Client, node: &str) -> ferrokube_events::Recorder {
    ferrokube_events::Recorder::with_manager(client, "kubelet", Some(node.to_owned()), "kubelet")
}

/// One recorded event, as [`Collected`] keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// `involvedObject.fieldPath` (empty for the pod itself).
    pub field_path: String,
    /// `Normal` or `Warning`.
    pub type_: String,
    /// Reason.
    pub reason: String,
    /// Message.
    pub message: String,
}

/// A sink that keeps events in memory (engine tests without an API server).
#[derive(Debug, Default)]
pub struct Collected(Mutex<Vec<Recorded>>);

impl Collected {
    /// Everything recorded so far, oldest first.
    pub fn all(&self) -> Vec<Recorded> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reasons recorded so far, oldest first.
    pub fn reasons(&self) -> Vec<String> {
        self.all().into_iter().map(|e| e.reason).collect()
    }
}

impl EventSink for Collected {
    fn record(&self, obj: &ObjectReference, type_: &str, reason: &str, message: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Recorded {
                field_path: obj.field_path.clone().unwrap_or_default(),
                type_: type_.to_owned(),
                reason: reason.to_owned(),
                message: message.to_owned(),
            });
    }
}

/// Reference to the pod itself (sandbox and volume events).
pub fn pod_reference(pod: &Pod) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: pod.metadata.name.clone(),
        namespace: pod.metadata.namespace.clone(),
        uid: pod.metadata.uid.clone(),
        resource_version: pod.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// Reference to one of the pod's containers, located as upstream's `GenerateContainerRef`
/// does: `spec.containers{name}`, `spec.initContainers{name}` or
/// `spec.ephemeralContainers{name}`.
pub fn container_reference(pod: &Pod, container: &str) -> ObjectReference {
    ObjectReference {
        field_path: Some(field_path(pod, container)),
        ..pod_reference(pod)
    }
}

fn field_path(pod: &Pod, container: &str) -> String {
    let Some(spec) = pod.spec.as_ref() else {
        return format!("implicitly required container {container}");
    };
    let named = |mut names: std::slice::Iter<'_, String>| names.any(|n| n == container);
    let containers: Vec<String> = spec.containers.iter().map(|c| c.name.clone()).collect();
    let inits: Vec<String> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| c.name.clone())
        .collect();
    let ephemeral: Vec<String> = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .map(|c| c.name.clone())
        .collect();
    if named(containers.iter()) {
        format!("spec.containers{{{container}}}")
    } else if named(inits.iter()) {
        format!("spec.initContainers{{{container}}}")
    } else if named(ephemeral.iter()) {
        format!("spec.ephemeralContainers{{{container}}}")
    } else {
        format!("implicitly required container {container}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_references_locate_every_kind_of_container() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u", "resourceVersion": "7"},
            "spec": {"containers": [{"name": "app"}], "initContainers": [{"name": "init"}],
                "ephemeralContainers": [{"name": "debug"}]}
        }))
        .expect("pod");
        let r = container_reference(&pod, "app");
        assert_eq!(r.field_path.as_deref(), Some("spec.containers{app}"));
        assert_eq!(
            (r.kind.as_deref(), r.api_version.as_deref()),
            (Some("Pod"), Some("v1"))
        );
        assert_eq!(
            (r.uid.as_deref(), r.namespace.as_deref()),
            (Some("u"), Some("ns"))
        );
        let path = |c| container_reference(&pod, c).field_path.unwrap_or_default();
        assert_eq!(path("init"), "spec.initContainers{init}");
        assert_eq!(path("debug"), "spec.ephemeralContainers{debug}");
        assert_eq!(path("gone"), "implicitly required container gone");
        assert_eq!(pod_reference(&pod).field_path, None);
    }
}
