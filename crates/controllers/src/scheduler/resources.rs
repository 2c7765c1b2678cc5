//! Resource arithmetic: quantity parsing and pod requests as the scheduler counts them
//! (upstream `resource.Quantity` and `computePodResourceRequest`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Default CPU request (millicores) assumed for scoring when a container sets none.
pub const DEFAULT_MILLI_CPU: i64 = 100;
/// Default memory request (bytes) assumed for scoring when a container sets none.
pub const DEFAULT_MEMORY: i64 = 200 * 1024 * 1024;

/// Parses a quantity into its value scaled by `scale` (1000 for milli-units), rounding up
/// like `Quantity.MilliValue`/`Value`. Returns `None` for malformed input.
pub fn parse_quantity(q: &str, scale: f64) -> Option<i64> {
    let s = q.trim();
    if s.is_empty() {
        return None;
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e if e.starts_with(['e', 'E']) => 10f64.powi(e[1..].parse::<i32>().ok()?),
        _ => return None,
    };
    let v = (n * mult * scale).ceil();
    if v.is_finite() {
        Some(v as i64)
    } else {
        None
    }
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
    pub fn from_list(list: Option<&BTreeMap<String, Quantity>>) -> Self {
        let mut r = Resources::default();
        for (k, v) in list.into_iter().flatten() {
            match k.as_str() {
                "cpu" => r.milli_cpu = parse_quantity(&v.0, 1000.0).unwrap_or(0),
                "memory" => r.memory = parse_quantity(&v.0, 1.0).unwrap_or(0),
                "ephemeral-storage" => r.ephemeral_storage = parse_quantity(&v.0, 1.0).unwrap_or(0),
                "pods" => r.pods = parse_quantity(&v.0, 1.0).unwrap_or(0),
                other => {
                    r.scalar
                        .insert(other.to_owned(), parse_quantity(&v.0, 1.0).unwrap_or(0));
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
        assert_eq!(parse_quantity("100m", 1000.0), Some(100));
        assert_eq!(parse_quantity("2", 1000.0), Some(2000));
        assert_eq!(parse_quantity("0.5", 1000.0), Some(500));
        assert_eq!(parse_quantity("128Mi", 1.0), Some(128 * 1024 * 1024));
        assert_eq!(parse_quantity("1G", 1.0), Some(1_000_000_000));
        assert_eq!(parse_quantity("1e3", 1.0), Some(1000));
        assert_eq!(parse_quantity("16Gi", 1.0), Some(16 * 1024 * 1024 * 1024));
        assert_eq!(parse_quantity("abc", 1.0), None);
        assert_eq!(parse_quantity("", 1.0), None);
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
