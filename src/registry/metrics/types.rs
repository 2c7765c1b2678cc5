//! The metrics.k8s.io/v1beta1 kinds (upstream's `k8s.io/metrics/pkg/apis/metrics/v1beta1`):
//! k8s-openapi does not carry them, so they are declared here with the traits the descriptor
//! builder reads identity and OpenAPI schema from.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::{ClusterResourceScope, ListableResource, NamespaceResourceScope, Resource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The group-version both kinds are served in.
pub const API_VERSION: &str = "metrics.k8s.io/v1beta1";

/// Resource usage of a node: CPU as a rate over `window`, memory as the working set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.metrics.pkg.apis.metrics.v1beta1.NodeMetrics")]
pub struct NodeMetrics {
    /// `metrics.k8s.io/v1beta1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `NodeMetrics`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Name and labels of the node.
    pub metadata: ObjectMeta,
    /// The end of the window the usage was measured over.
    pub timestamp: Time,
    /// The length of that window (a Go duration string, `15.002s`).
    pub window: String,
    /// `cpu` and `memory` usage.
    pub usage: BTreeMap<String, Quantity>,
}

/// Resource usage of each container of a pod.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.metrics.pkg.apis.metrics.v1beta1.PodMetrics")]
pub struct PodMetrics {
    /// `metrics.k8s.io/v1beta1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `PodMetrics`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Name, namespace and labels of the pod.
    pub metadata: ObjectMeta,
    /// The end of the window the usage was measured over.
    pub timestamp: Time,
    /// The length of that window.
    pub window: String,
    /// One entry per running container.
    pub containers: Vec<ContainerMetrics>,
}

/// One container's usage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.metrics.pkg.apis.metrics.v1beta1.ContainerMetrics")]
pub struct ContainerMetrics {
    /// The container's name in the pod spec.
    pub name: String,
    /// `cpu` and `memory` usage.
    pub usage: BTreeMap<String, Quantity>,
}

impl Resource for NodeMetrics {
    const API_VERSION: &'static str = API_VERSION;
    const GROUP: &'static str = "metrics.k8s.io";
    const KIND: &'static str = "NodeMetrics";
    const VERSION: &'static str = "v1beta1";
    const URL_PATH_SEGMENT: &'static str = "nodes";
    type Scope = ClusterResourceScope;
}

impl ListableResource for NodeMetrics {
    const LIST_KIND: &'static str = "NodeMetricsList";
}

impl Resource for PodMetrics {
    const API_VERSION: &'static str = API_VERSION;
    const GROUP: &'static str = "metrics.k8s.io";
    const KIND: &'static str = "PodMetrics";
    const VERSION: &'static str = "v1beta1";
    const URL_PATH_SEGMENT: &'static str = "pods";
    type Scope = NamespaceResourceScope;
}

impl ListableResource for PodMetrics {
    const LIST_KIND: &'static str = "PodMetricsList";
}
