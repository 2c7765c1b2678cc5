//! Node registration, status, and the heartbeat Lease in `kube-node-lease`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeSpec, NodeStatus,
    NodeSystemInfo, Taint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use kube::api::{Patch, PatchParams, PostParams};

use crate::downward::NodeResources;
use crate::error::Result;

/// Facts about the machine, read once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineFacts {
    /// Logical CPUs.
    pub cpus: u32,
    /// Total memory in bytes.
    pub memory_bytes: u64,
    /// Size of the file system holding the data dir, in bytes.
    pub disk_bytes: u64,
    /// `/etc/machine-id`.
    pub machine_id: String,
    /// `/proc/sys/kernel/random/boot_id`.
    pub boot_id: String,
    /// Kernel release.
    pub kernel_version: String,
    /// `PRETTY_NAME` from `/etc/os-release`.
    pub os_image: String,
    /// Kubernetes architecture name (`amd64`, `arm64`).
    pub architecture: String,
}

/// Memory upstream reserves for its hard eviction threshold (`memory.available<100Mi`).
const EVICTION_RESERVE: u64 = 100 * 1024 * 1024;
/// Kubelet version reported in nodeInfo (the API level we implement).
pub const KUBELET_VERSION: &str = "v1.33.0";
/// Pods per node, upstream's default `maxPods`.
pub const MAX_PODS: u32 = 110;

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Parse `MemTotal` (kB) out of `/proc/meminfo` text.
pub fn mem_total(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kb| kb * 1024)
}

/// Parse `PRETTY_NAME` out of `/etc/os-release` text.
pub fn pretty_name(os_release: &str) -> Option<String> {
    let line = os_release.lines().find(|l| l.starts_with("PRETTY_NAME="))?;
    Some(line["PRETTY_NAME=".len()..].trim_matches('"').to_string())
}

fn disk_size(path: &std::path::Path) -> u64 {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return 0;
    };
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return 0;
    }
    (st.f_blocks as u64).saturating_mul(st.f_frsize as u64)
}

impl MachineFacts {
    /// Read the facts of this machine; `data_dir` decides which disk counts as ephemeral storage.
    pub fn detect(data_dir: &std::path::Path) -> Self {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        Self {
            cpus,
            memory_bytes: mem_total(&read_trim("/proc/meminfo")).unwrap_or(0),
            disk_bytes: disk_size(data_dir),
            machine_id: read_trim("/etc/machine-id"),
            boot_id: read_trim("/proc/sys/kernel/random/boot_id"),
            kernel_version: read_trim("/proc/sys/kernel/osrelease"),
            os_image: pretty_name(&read_trim("/etc/os-release")).unwrap_or_else(|| "Linux".into()),
            architecture: match std::env::consts::ARCH {
                "x86_64" => "amd64".into(),
                "aarch64" => "arm64".into(),
                other => other.into(),
            },
        }
    }

    /// Allocatable resources (capacity minus upstream's eviction reserve).
    pub fn allocatable(&self) -> NodeResources {
        NodeResources {
            cpu_millis: i128::from(self.cpus) * 1000,
            memory_bytes: i128::from(self.memory_bytes.saturating_sub(EVICTION_RESERVE)),
            ephemeral_bytes: i128::from(self.disk_bytes),
        }
    }
}

/// Pick the node's IP: the listen address when specific, else the primary outbound interface.
pub fn detect_host_ip(listen: IpAddr) -> IpAddr {
    if !listen.is_unspecified() {
        return listen;
    }
    // A UDP "connect" sends nothing; it only asks the kernel which source address it would use.
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").and_then(|s| {
        s.connect("10.255.255.255:1")?;
        s.local_addr()
    });
    match probe {
        Ok(a) if !a.ip().is_unspecified() => a.ip(),
        _ => IpAddr::from([127, 0, 0, 1]),
    }
}

/// Inputs for the Node object.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// Node name.
    pub name: String,
    /// Node IP.
    pub ip: IpAddr,
    /// Port of the kubelet streaming server.
    pub kubelet_port: u16,
    /// `docker://<version>`.
    pub runtime_version: String,
    /// Extra labels.
    pub labels: BTreeMap<String, String>,
    /// Taints to register with.
    pub taints: Vec<Taint>,
}

fn now_time() -> Time {
    crate::status::to_time(chrono::Utc::now())
}

fn quantity(bytes: u64) -> Quantity {
    Quantity(format!("{}Ki", bytes / 1024))
}

/// Node conditions; pressure conditions stay False (no eviction manager).
pub fn conditions(previous: Option<&[NodeCondition]>) -> Vec<NodeCondition> {
    let now = now_time();
    let make = |type_: &str, status: &str, reason: &str, message: &str| {
        let since = previous
            .and_then(|p| p.iter().find(|c| c.type_ == type_ && c.status == status))
            .and_then(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| now.clone());
        NodeCondition {
            type_: type_.into(),
            status: status.into(),
            reason: Some(reason.into()),
            message: Some(message.into()),
            last_heartbeat_time: Some(now.clone()),
            last_transition_time: Some(since),
        }
    };
    vec![
        make(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        make(
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
        ),
        make(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        make(
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status",
        ),
    ]
}

/// The Node status for these facts.
pub fn node_status(
    s: &NodeSettings,
    f: &MachineFacts,
    previous: Option<&[NodeCondition]>,
) -> NodeStatus {
    let alloc = f.allocatable();
    let resources = |memory: u64| {
        BTreeMap::from([
            ("cpu".to_string(), Quantity(f.cpus.to_string())),
            ("memory".to_string(), quantity(memory)),
            ("pods".to_string(), Quantity(MAX_PODS.to_string())),
            ("ephemeral-storage".to_string(), quantity(f.disk_bytes)),
            ("hugepages-1Gi".to_string(), Quantity("0".into())),
            ("hugepages-2Mi".to_string(), Quantity("0".into())),
        ])
    };
    NodeStatus {
        capacity: Some(resources(f.memory_bytes)),
        allocatable: Some(resources(u64::try_from(alloc.memory_bytes).unwrap_or(0))),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".into(),
                address: s.ip.to_string(),
            },
            NodeAddress {
                type_: "Hostname".into(),
                address: s.name.clone(),
            },
        ]),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint {
                port: i32::from(s.kubelet_port),
            }),
        }),
        node_info: Some(NodeSystemInfo {
            machine_id: f.machine_id.clone(),
            system_uuid: f.machine_id.clone(),
            boot_id: f.boot_id.clone(),
            kernel_version: f.kernel_version.clone(),
            os_image: f.os_image.clone(),
            container_runtime_version: s.runtime_version.clone(),
            kubelet_version: KUBELET_VERSION.into(),
            kube_proxy_version: String::new(),
            operating_system: "linux".into(),
            architecture: f.architecture.clone(),
            ..Default::default()
        }),
        conditions: Some(conditions(previous)),
        ..Default::default()
    }
}

/// The Node object to register.
pub fn node_object(s: &NodeSettings, f: &MachineFacts) -> Node {
    let mut labels = BTreeMap::from([
        ("kubernetes.io/hostname".to_string(), s.name.clone()),
        ("kubernetes.io/os".to_string(), "linux".to_string()),
        ("kubernetes.io/arch".to_string(), f.architecture.clone()),
        ("beta.kubernetes.io/os".to_string(), "linux".to_string()),
        (
            "beta.kubernetes.io/arch".to_string(),
            f.architecture.clone(),
        ),
    ]);
    labels.extend(s.labels.clone());
    Node {
        metadata: ObjectMeta {
            name: Some(s.name.clone()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([
                ("node.alpha.kubernetes.io/ttl".to_string(), "0".to_string()),
                (
                    "volumes.kubernetes.io/controller-managed-attach-detach".to_string(),
                    "true".to_string(),
                ),
            ])),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            taints: (!s.taints.is_empty()).then(|| s.taints.clone()),
            ..Default::default()
        }),
        status: Some(node_status(s, f, None)),
    }
}

/// Create the Node, or refresh labels and status of an existing one; returns its uid.
pub async fn register(client: &kube::Client, s: &NodeSettings, f: &MachineFacts) -> Result<String> {
    let api: kube::Api<Node> = kube::Api::all(client.clone());
    let node = node_object(s, f);
    let created = match api.create(&PostParams::default(), &node).await {
        Ok(n) => n,
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let patch = serde_json::json!({ "metadata": { "labels": node.metadata.labels } });
            api.patch(&s.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?
        }
        Err(e) => return Err(e.into()),
    };
    sync_status(client, s, f, true).await?;
    Ok(created.metadata.uid.unwrap_or_default())
}

/// Upstream `nodeStatusUpdateFrequency`: how often the status is computed (and the Lease renewed).
pub const STATUS_UPDATE_FREQUENCY: Duration = Duration::from_secs(10);
/// Upstream `nodeStatusReportFrequency`: an unchanged status is still written this often.
pub const STATUS_REPORT_FREQUENCY: Duration = Duration::from_secs(5 * 60);

/// Whether a status differs from the stored one beyond condition heartbeat times (upstream
/// `nodeStatusHasChanged`), i.e. whether it must be written before the report period is up.
pub fn status_changed(stored: Option<&NodeStatus>, new: &NodeStatus) -> bool {
    let Some(stored) = stored else { return true };
    let strip = |st: &NodeStatus| {
        let mut st = st.clone();
        for c in st.conditions.iter_mut().flatten() {
            c.last_heartbeat_time = None;
        }
        st
    };
    strip(stored) != strip(new)
}

/// Write the Node status when it changed or `force` (the report period is up); true when written.
pub async fn sync_status(
    client: &kube::Client,
    s: &NodeSettings,
    f: &MachineFacts,
    force: bool,
) -> Result<bool> {
    let api: kube::Api<Node> = kube::Api::all(client.clone());
    let stored = api.get_opt(&s.name).await?.and_then(|n| n.status);
    let previous = stored.as_ref().and_then(|st| st.conditions.as_deref());
    let status = node_status(s, f, previous);
    if !force && !status_changed(stored.as_ref(), &status) {
        return Ok(false);
    }
    let patch = serde_json::json!({ "status": status });
    api.patch_status(&s.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(true)
}

/// Lease lifetime upstream uses (`nodeLeaseDurationSeconds`).
pub const LEASE_DURATION_SECONDS: i32 = 40;

/// Create or renew the node's Lease.
pub async fn renew_lease(client: &kube::Client, node: &str, node_uid: &str) -> Result<()> {
    let api: kube::Api<Lease> = kube::Api::namespaced(client.clone(), "kube-node-lease");
    let now = MicroTime(crate::status::to_time(chrono::Utc::now()).0);
    if api.get_opt(node).await?.is_some() {
        let patch = serde_json::json!({ "spec": { "holderIdentity": node, "renewTime": now, "leaseDurationSeconds": LEASE_DURATION_SECONDS } });
        api.patch(node, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        return Ok(());
    }
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(node.into()),
            namespace: Some("kube-node-lease".into()),
            owner_references: (!node_uid.is_empty()).then(|| {
                vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "Node".into(),
                    name: node.into(),
                    uid: node_uid.into(),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(node.into()),
            lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
            renew_time: Some(now),
            ..Default::default()
        }),
    };
    match api.create(&PostParams::default(), &lease).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> MachineFacts {
        MachineFacts {
            cpus: 2,
            memory_bytes: 4 * 1024 * 1024 * 1024,
            disk_bytes: 10 * 1024 * 1024 * 1024,
            machine_id: "m".into(),
            boot_id: "b".into(),
            kernel_version: "6.1".into(),
            os_image: "Debian".into(),
            architecture: "amd64".into(),
        }
    }

    #[test]
    fn node_object_looks_like_upstream() {
        let s = NodeSettings {
            name: "n1".into(),
            ip: IpAddr::from([10, 0, 0, 1]),
            kubelet_port: 10250,
            runtime_version: "docker://20.10.24".into(),
            labels: BTreeMap::from([("role".to_string(), "x".to_string())]),
            taints: vec![],
        };
        let n = node_object(&s, &facts());
        let labels = n.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels["kubernetes.io/hostname"], "n1");
        assert_eq!(labels["role"], "x");
        let st = n.status.expect("status");
        let cap = st.capacity.expect("capacity");
        assert_eq!(cap["cpu"].0, "2");
        assert_eq!(cap["memory"].0, "4194304Ki");
        assert_eq!(cap["pods"].0, "110");
        assert_eq!(st.allocatable.expect("alloc")["memory"].0, "4091904Ki");
        assert_eq!(
            st.daemon_endpoints
                .and_then(|d| d.kubelet_endpoint)
                .map(|k| k.port),
            Some(10250)
        );
        let conds = st.conditions.expect("conditions");
        let types: Vec<_> = conds.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(
            types,
            ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
        );
        assert_eq!(conds[3].status, "True");
        assert_eq!(
            st.node_info.map(|i| i.container_runtime_version).as_deref(),
            Some("docker://20.10.24")
        );
    }

    #[test]
    fn only_real_changes_are_written_before_the_report_period() {
        let settings = NodeSettings {
            name: "n1".into(),
            ip: IpAddr::from([10, 0, 0, 5]),
            kubelet_port: 10250,
            runtime_version: "docker://27".into(),
            labels: BTreeMap::new(),
            taints: vec![],
        };
        let first = node_status(&settings, &facts(), None);
        assert!(status_changed(None, &first));
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let again = node_status(&settings, &facts(), first.conditions.as_deref());
        assert_ne!(first, again, "heartbeat times moved");
        assert!(!status_changed(Some(&first), &again));
        // The node controller marked the node Unknown: the kubelet must say Ready again.
        let mut unknown = first.clone();
        for c in unknown.conditions.iter_mut().flatten() {
            c.status = "Unknown".into();
        }
        let fixed = node_status(&settings, &facts(), unknown.conditions.as_deref());
        assert!(status_changed(Some(&unknown), &fixed));
        let mut moved = settings.clone();
        moved.ip = IpAddr::from([10, 0, 0, 6]);
        assert!(status_changed(
            Some(&first),
            &node_status(&moved, &facts(), None)
        ));
    }

    #[test]
    fn parses_proc_files() {
        assert_eq!(
            mem_total("MemTotal:       16384 kB\nMemFree: 1 kB"),
            Some(16384 * 1024)
        );
        assert_eq!(mem_total("garbage"), None);
        assert_eq!(
            pretty_name("ID=debian\nPRETTY_NAME=\"Debian GNU/Linux 12\"").as_deref(),
            Some("Debian GNU/Linux 12")
        );
        assert_eq!(
            detect_host_ip(IpAddr::from([127, 0, 0, 2])),
            IpAddr::from([127, 0, 0, 2])
        );
    }
}
