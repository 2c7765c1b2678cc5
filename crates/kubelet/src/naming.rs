//! Engine-level container names and the labels that let an agent find (and adopt) its containers.

use std::collections::BTreeMap;

/// Label: uid of the pod a container belongs to.
pub const LABEL_POD_UID: &str = "io.kubernetes.pod.uid";
/// Label: name of the pod.
pub const LABEL_POD_NAME: &str = "io.kubernetes.pod.name";
/// Label: namespace of the pod.
pub const LABEL_POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// Label: container name within the pod (`POD` for the pause container).
pub const LABEL_CONTAINER_NAME: &str = "io.kubernetes.container.name";
/// Label: node whose agent owns the container (several agents may share one engine).
pub const LABEL_NODE: &str = "io.ferrokube.node";
/// Label: the cluster whose agent owns the container (a digest of the cluster CA), so that
/// clusters sharing one engine never touch each other's containers, whatever their node names.
pub const LABEL_CLUSTER: &str = "io.ferrokube.cluster";
/// Label: restart attempt number of this container.
pub const LABEL_ATTEMPT: &str = "io.ferrokube.attempt";
/// Label: role of the container in the pod (`sandbox`, `init`, `app`).
pub const LABEL_ROLE: &str = "io.ferrokube.role";

/// The name upstream's dockershim gave the pause container inside a pod.
pub const SANDBOX_CONTAINER: &str = "POD";

/// Role of an engine container within its pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The pause container owning the namespaces.
    Sandbox,
    /// An init container.
    Init,
    /// An app container.
    App,
    /// An ephemeral (debugging) container, run once.
    Ephemeral,
}

impl Role {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Sandbox => "sandbox",
            Role::Init => "init",
            Role::App => "app",
            Role::Ephemeral => "ephemeral",
        }
    }
}

/// Identity of a pod as carried in labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Uid.
    pub uid: String,
}

/// Which agent owns a container: its cluster and node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner<'a> {
    /// The cluster's identity (empty: unknown, matches containers of any cluster).
    pub cluster: &'a str,
    /// The node name.
    pub node: &'a str,
}

impl Owner<'_> {
    /// The label filter selecting exactly this owner's containers.
    pub fn selector(&self) -> Vec<(String, String)> {
        let mut labels = vec![(LABEL_NODE.to_string(), self.node.to_string())];
        if !self.cluster.is_empty() {
            labels.push((LABEL_CLUSTER.to_string(), self.cluster.to_string()));
        }
        labels
    }
}

/// `k8s_<container>_<pod>_<ns>_<uid>_<attempt>`.
pub fn container_name(container: &str, pod: &PodRef, attempt: u32) -> String {
    format!(
        "k8s_{container}_{}_{}_{}_{attempt}",
        pod.name, pod.namespace, pod.uid
    )
}

/// Labels put on every container of a pod.
pub fn container_labels(
    owner: Owner<'_>,
    pod: &PodRef,
    container: &str,
    role: Role,
    attempt: u32,
) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = owner.selector().into_iter().collect();
    labels.extend([
        (LABEL_POD_UID.to_string(), pod.uid.clone()),
        (LABEL_POD_NAME.to_string(), pod.name.clone()),
        (LABEL_POD_NAMESPACE.to_string(), pod.namespace.clone()),
        (LABEL_CONTAINER_NAME.to_string(), container.to_string()),
        (LABEL_ROLE.to_string(), role.as_str().to_string()),
        (LABEL_ATTEMPT.to_string(), attempt.to_string()),
    ]);
    labels
}

/// Attempt number recorded in a container's labels (0 when missing or garbled).
pub fn attempt_of(labels: &BTreeMap<String, String>) -> u32 {
    labels
        .get(LABEL_ATTEMPT)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockershim_layout() {
        let pod = PodRef {
            namespace: "default".into(),
            name: "web".into(),
            uid: "u-1".into(),
        };
        assert_eq!(
            container_name("nginx", &pod, 2),
            "k8s_nginx_web_default_u-1_2"
        );
        let labels = container_labels(
            Owner {
                cluster: "c1",
                node: "n1",
            },
            &pod,
            "nginx",
            Role::App,
            2,
        );
        assert_eq!(labels[LABEL_CLUSTER], "c1");
        assert_eq!(labels[LABEL_NODE], "n1");
        assert_eq!(attempt_of(&labels), 2);
        assert_eq!(attempt_of(&BTreeMap::new()), 0);
    }
}
