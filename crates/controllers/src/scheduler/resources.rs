//! Resource arithmetic: quantity parsing and pod requests as the scheduler counts them
//! (upstream `resource.Quantity` and `computePodResourceRequest`).

use std::collections::BTreeMap;

use ferrokube_apimachinery::quantity::Quantity;
use k8s_openapi::api::core::v1::{Node, Pod, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as QuantityString;

/// Default CPU request (millicores) assumed for scoring when a container sets none.
pub const DEFAULT_MILLI_CPU: i64 = 100;
/// Default memory request (bytes) assumed for scoring when a container sets none.
pub const DEFAULT_MEMORY: i64 = 200 * 1024 * 1024;

/// A quantity in milli-units rounded up, as `Quantity.MilliValue` (`None` when malformed;
/// clamped to the `i64` range).
pub fn quantity_milli(q: &str) -> Option<i64> {
    Quantity::parse_trimmed(q)
        .ok()
        .map(|q| clamp(q.milli_value()))
}

/// A quantity in whole units rounded up, as `Quantity.Value` (`None` when malformed).
pub fn quantity_value(q: &str) -> Option<i64> {
    Quantity::parse_trimmed(q).ok().map(|q| clamp(q.value()))
}

fn clamp(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// A set of resource amounts: cpu in millicores, everything else in base units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// CPU in millicores.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Ephemeral storage in bytes.
    pub ephemeral_storage: i64,
    /// Pod count (only meaningful for allocatable).
    pub pods: i64,
    /// Extended resources by name.
    pub scalar: BTreeMap<String, i64>,
}

impl Resources {
    /// Reads a resource list (`requests`, `allocatable`, ...).
    pub fn from_list(list: Option<&BTreeMap<String, QuantityString>>) -> Self {
        let mut r = Resources::default();
        for (k, v) in list.into_iter().flatten() {
            match k.as_str() {
                "cpu" => r.milli_cpu = quantity_milli(&v.0).unwrap_or(0),
                "memory" => r.memory = quantity_value(&v.0).unwrap_or(0),
                "ephemeral-storage" => r.ephemeral_storage = quantity_value(&v.0).unwrap_or(0),
                "pods" => r.pods = quantity_value(&v.0).unwrap_or(0),
                other => {
                    r.scalar
                        .insert(other.to_owned(), quantity_value(&v.0).unwrap_or(0));
                }
            }
        }
        r
    }

    /// Adds `o` to `self`.
    pub fn add(&mut self, o: &Resources) {
        self.milli_cpu += o.milli_cpu;
        self.memory += o.memory;
        self.ephemeral_storage += o.ephemeral_storage;
        self.pods += o.pods;
        for (k, v) in &o.scalar {
            *self.scalar.entry(k.clone()).or_insert(0) += v;
        }
    }

    /// Subtracts `o` from `self`.
    pub fn sub(&mut self, o: &Resources) {
        self.milli_cpu -= o.milli_cpu;
        self.memory -= o.memory;
        self.ephemeral_storage -= o.ephemeral_storage;
        self.pods -= o.pods;
        for (k, v) in &o.scalar {
            *self.scalar.entry(k.clone()).or_insert(0) -= v;
        }
    }

    /// Element-wise maximum.
    fn max_with(&mut self, o: &Resources) {
        self.milli_cpu = self.milli_cpu.max(o.milli_cpu);
        self.memory = self.memory.max(o.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(o.ephemeral_storage);
        for (k, v) in &o.scalar {
            let e = self.scalar.entry(k.clone()).or_insert(0);
            *e = (*e).max(*v);
        }
    }
}

fn requests(r: Option<&ResourceRequirements>) -> Resources {
    Resources::from_list(r.and_then(|r| r.requests.as_ref()))
}

/// The pod's effective request: max(sum of containers, any init container) + overhead.
/// With `non_zero`, unset cpu/memory count as the scoring defaults.
pub fn pod_requests(pod: &Pod, non_zero: bool) -> Resources {
    let mut total = Resources::default();
    let Some(spec) = pod.spec.as_ref() else {
        return total;
    };
    for c in &spec.containers {
        let mut r = requests(c.resources.as_ref());
        if non_zero {
            if r.milli_cpu == 0 {
                r.milli_cpu = DEFAULT_MILLI_CPU;
            }
            if r.memory == 0 {
                r.memory = DEFAULT_MEMORY;
            }
        }
        total.add(&r);
    }
    for c in spec.init_containers.iter().flatten() {
        let r = requests(c.resources.as_ref());
        total.max_with(&r);
    }
    if let Some(o) = spec.overhead.as_ref() {
        total.add(&Resources::from_list(Some(o)));
    }
    total
}

/// The node's allocatable resources (falls back to capacity).
pub fn allocatable(node: &Node) -> Resources {
    let st = node.status.as_ref();
    let list = st
        .and_then(|s| s.allocatable.as_ref())
        .or_else(|| st.and_then(|s| s.capacity.as_ref()));
    Resources::from_list(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_parse_like_upstream() {
        assert_eq!(quantity_milli("100m"), Some(100));
        assert_eq!(quantity_milli("2"), Some(2000));
        assert_eq!(quantity_milli("0.5"), Some(500));
        assert_eq!(quantity_value("128Mi"), Some(128 * 1024 * 1024));
        assert_eq!(quantity_value("1G"), Some(1_000_000_000));
        assert_eq!(quantity_value("1e3"), Some(1000));
        assert_eq!(quantity_value("16Gi"), Some(16 * 1024 * 1024 * 1024));
        assert_eq!(quantity_value("abc"), None);
        assert_eq!(quantity_value(""), None);
    }

    #[test]
    fn pod_requests_take_init_max_and_overhead() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {
                "containers": [
                    {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "1Mi"}}},
                    {"name": "b", "resources": {"requests": {"cpu": "200m"}}}
                ],
                "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "500m"}}}],
                "overhead": {"cpu": "10m"}
            }
        }))
        .unwrap();
        let r = pod_requests(&pod, false);
        assert_eq!(r.milli_cpu, 510);
        assert_eq!(r.memory, 1024 * 1024);
        let nz = pod_requests(&pod, true);
        assert_eq!(nz.memory, 1024 * 1024 + DEFAULT_MEMORY);
    }
}
