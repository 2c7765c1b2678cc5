//! Column definitions per resource (upstream `printers.go` `AddHandlers`), with descriptions
//! taken from the same API documentation strings upstream reads via `SwaggerDoc()`.

use k8s_openapi::api::{
    apps::v1 as apps, batch::v1 as batch, certificates::v1 as certificates,
    coordination::v1 as coordination, core::v1 as core, discovery::v1 as discovery,
    rbac::v1 as rbac, scheduling::v1 as scheduling, storage::v1 as storage,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::schemars::{JsonSchema, SchemaGenerator};

use super::{rows_core as rc, rows_other as ro, Printer};

/// One `TableColumnDefinition`.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Column header (kubectl upper-cases it).
    pub name: &'static str,
    /// OpenAPI type: `string`, `integer`, `boolean`, `date`.
    pub ty: &'static str,
    /// Format hint, `name` for the object-name column.
    pub format: &'static str,
    /// Human description.
    pub description: String,
    /// 0 = always shown, 1 = wide output only.
    pub priority: i32,
}

/// Description of property `prop` of API type `T` from its schema.
fn doc<T: JsonSchema>(prop: &str) -> String {
    let mut generator = SchemaGenerator::default();
    let schema = T::json_schema(&mut generator);
    schema
        .get("properties")
        .and_then(|p| p.get(prop))
        .and_then(|p| p.get("description"))
        .and_then(|d| d.as_str())
        .unwrap_or_default()
        .to_owned()
}

fn col(name: &'static str, ty: &'static str, description: String) -> Column {
    Column {
        name,
        ty,
        format: "",
        description,
        priority: 0,
    }
}

fn wide(name: &'static str, ty: &'static str, description: String) -> Column {
    Column {
        name,
        ty,
        format: "",
        description,
        priority: 1,
    }
}

fn text(s: &str) -> String {
    s.to_owned()
}

fn name_col() -> Column {
    Column {
        name: "Name",
        ty: "string",
        format: "name",
        description: doc::<ObjectMeta>("name"),
        priority: 0,
    }
}

fn age_col() -> Column {
    col("Age", "string", doc::<ObjectMeta>("creationTimestamp"))
}

fn containers_cols() -> [Column; 2] {
    [
        wide(
            "Containers",
            "string",
            text("Names of each container in the template."),
        ),
        wide(
            "Images",
            "string",
            text("Images referenced by each container in the template."),
        ),
    ]
}

/// Columns of the default convertor used for resources without a printer.
pub(crate) fn default_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Created At", "date", doc::<ObjectMeta>("creationTimestamp")),
    ]
}

/// The default convertor's printer, for kinds without one of their own.
pub const DEFAULT: Printer = Printer {
    columns: default_columns,
    row: super::default_row,
};

/// `pods`.
pub const PODS: Printer = Printer {
    columns: pods_columns,
    row: rc::pod_row,
};

#[rustfmt::skip]
fn pods_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Ready", "string", text("The aggregate readiness state of this pod for accepting traffic.")),
        col("Status", "string", text("The aggregate status of the containers in this pod.")),
        col("Restarts", "string", text("The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.")),
        age_col(),
        wide("IP", "string", doc::<core::PodStatus>("podIP")),
        wide("Node", "string", doc::<core::PodSpec>("nodeName")),
        wide("Nominated Node", "string", doc::<core::PodStatus>("nominatedNodeName")),
        wide("Readiness Gates", "string", doc::<core::PodSpec>("readinessGates")),
    ]
}

/// `nodes`.
pub const NODES: Printer = Printer {
    columns: nodes_columns,
    row: rc::node_row,
};

#[rustfmt::skip]
fn nodes_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Status", "string", text("The status of the node")),
        col("Roles", "string", text("The roles of the node")),
        age_col(),
        col("Version", "string", doc::<core::NodeSystemInfo>("kubeletVersion")),
        wide("Internal-IP", "string", doc::<core::NodeStatus>("addresses")),
        wide("External-IP", "string", doc::<core::NodeStatus>("addresses")),
        wide("OS-Image", "string", doc::<core::NodeSystemInfo>("osImage")),
        wide("Kernel-Version", "string", doc::<core::NodeSystemInfo>("kernelVersion")),
        wide("Container-Runtime", "string", doc::<core::NodeSystemInfo>("containerRuntimeVersion")),
    ]
}

/// `namespaces`.
pub const NAMESPACES: Printer = Printer {
    columns: namespaces_columns,
    row: rc::namespace_row,
};

#[rustfmt::skip]
fn namespaces_columns() -> Vec<Column> {
    vec![name_col(), col("Status", "string", text("The status of the namespace")), age_col()]
}

/// `services`.
pub const SERVICES: Printer = Printer {
    columns: services_columns,
    row: rc::service_row,
};

#[rustfmt::skip]
fn services_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Type", "string", doc::<core::ServiceSpec>("type")),
        col("Cluster-IP", "string", doc::<core::ServiceSpec>("clusterIP")),
        col("External-IP", "string", doc::<core::ServiceSpec>("externalIPs")),
        col("Port(s)", "string", doc::<core::ServiceSpec>("ports")),
        age_col(),
        wide("Selector", "string", doc::<core::ServiceSpec>("selector")),
    ]
}

/// `endpoints`.
pub const ENDPOINTS: Printer = Printer {
    columns: endpoints_columns,
    row: rc::endpoints_row,
};

#[rustfmt::skip]
fn endpoints_columns() -> Vec<Column> {
    vec![name_col(), col("Endpoints", "string", doc::<core::Endpoints>("subsets")), age_col()]
}

/// `componentstatuses`.
pub const COMPONENTSTATUSES: Printer = Printer {
    columns: componentstatuses_columns,
    row: rc::component_status_row,
};

#[rustfmt::skip]
fn componentstatuses_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Status", "string", text("Status of the component conditions")),
        col("Message", "string", text("Message of the component conditions")),
        col("Error", "string", text("Error of the component conditions")),
    ]
}

/// `configmaps`.
pub const CONFIGMAPS: Printer = Printer {
    columns: configmaps_columns,
    row: rc::config_map_row,
};

#[rustfmt::skip]
fn configmaps_columns() -> Vec<Column> {
    vec![name_col(), col("Data", "string", doc::<core::ConfigMap>("data")), age_col()]
}

/// `secrets`.
pub const SECRETS: Printer = Printer {
    columns: secrets_columns,
    row: rc::secret_row,
};

#[rustfmt::skip]
fn secrets_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Type", "string", doc::<core::Secret>("type")),
        col("Data", "string", doc::<core::Secret>("data")),
        age_col(),
    ]
}

/// `serviceaccounts`.
pub const SERVICEACCOUNTS: Printer = Printer {
    columns: serviceaccounts_columns,
    row: rc::service_account_row,
};

#[rustfmt::skip]
fn serviceaccounts_columns() -> Vec<Column> {
    vec![name_col(), col("Secrets", "string", doc::<core::ServiceAccount>("secrets")), age_col()]
}

/// Core/v1 events.
pub const EVENTS: Printer = Printer {
    columns: events_columns,
    row: rc::event_row,
};

/// events.k8s.io/v1 events (same columns as core events).
pub const EVENTS_API: Printer = Printer {
    columns: events_columns,
    row: rc::events_api_row,
};

#[rustfmt::skip]
fn events_columns() -> Vec<Column> {
    vec![
        col("Last Seen", "string", doc::<core::Event>("lastTimestamp")),
        col("Type", "string", doc::<core::Event>("type")),
        col("Reason", "string", doc::<core::Event>("reason")),
        col("Object", "string", doc::<core::Event>("involvedObject")),
        wide("Subobject", "string", doc::<core::ObjectReference>("fieldPath")),
        wide("Source", "string", doc::<core::Event>("source")),
        col("Message", "string", doc::<core::Event>("message")),
        wide("First Seen", "string", doc::<core::Event>("firstTimestamp")),
        wide("Count", "string", doc::<core::Event>("count")),
        Column { format: "name", ..wide("Name", "string", doc::<ObjectMeta>("name")) },
    ]
}

/// `persistentvolumes`.
pub const PERSISTENTVOLUMES: Printer = Printer {
    columns: persistentvolumes_columns,
    row: rc::persistent_volume_row,
};

#[rustfmt::skip]
fn persistentvolumes_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Capacity", "string", doc::<core::PersistentVolumeSpec>("capacity")),
        col("Access Modes", "string", doc::<core::PersistentVolumeSpec>("accessModes")),
        col("Reclaim Policy", "string", doc::<core::PersistentVolumeSpec>("persistentVolumeReclaimPolicy")),
        col("Status", "string", doc::<core::PersistentVolumeStatus>("phase")),
        col("Claim", "string", doc::<core::PersistentVolumeSpec>("claimRef")),
        col("StorageClass", "string", text("StorageClass of the pv")),
        col("VolumeAttributesClass", "string", text("VolumeAttributesClass of the pv")),
        col("Reason", "string", doc::<core::PersistentVolumeStatus>("reason")),
        age_col(),
        wide("VolumeMode", "string", doc::<core::PersistentVolumeSpec>("volumeMode")),
    ]
}

/// `persistentvolumeclaims`.
pub const PERSISTENTVOLUMECLAIMS: Printer = Printer {
    columns: persistentvolumeclaims_columns,
    row: rc::persistent_volume_claim_row,
};

#[rustfmt::skip]
fn persistentvolumeclaims_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Status", "string", doc::<core::PersistentVolumeClaimStatus>("phase")),
        col("Volume", "string", doc::<core::PersistentVolumeClaimSpec>("volumeName")),
        col("Capacity", "string", doc::<core::PersistentVolumeClaimStatus>("capacity")),
        col("Access Modes", "string", doc::<core::PersistentVolumeClaimStatus>("accessModes")),
        col("StorageClass", "string", text("StorageClass of the pvc")),
        col("VolumeAttributesClass", "string", text("VolumeAttributesClass of the pvc")),
        age_col(),
        wide("VolumeMode", "string", doc::<core::PersistentVolumeClaimSpec>("volumeMode")),
    ]
}

/// `replicationcontrollers`.
pub const REPLICATIONCONTROLLERS: Printer = Printer {
    columns: replicationcontrollers_columns,
    row: ro::replication_controller_row,
};

#[rustfmt::skip]
fn replicationcontrollers_columns() -> Vec<Column> {
    let [containers, images] = containers_cols();
    vec![
        name_col(),
        col("Desired", "integer", doc::<core::ReplicationControllerSpec>("replicas")),
        col("Current", "integer", doc::<core::ReplicationControllerStatus>("replicas")),
        col("Ready", "integer", doc::<core::ReplicationControllerStatus>("readyReplicas")),
        age_col(),
        containers,
        images,
        wide("Selector", "string", doc::<core::ReplicationControllerSpec>("selector")),
    ]
}

/// `apps/deployments`.
pub const DEPLOYMENTS: Printer = Printer {
    columns: deployments_columns,
    row: ro::deployment_row,
};

#[rustfmt::skip]
fn deployments_columns() -> Vec<Column> {
    let [containers, images] = containers_cols();
    vec![
        name_col(),
        col("Ready", "string", text("Number of the pod with ready state")),
        col("Up-to-date", "string", doc::<apps::DeploymentStatus>("updatedReplicas")),
        col("Available", "string", doc::<apps::DeploymentStatus>("availableReplicas")),
        age_col(),
        containers,
        images,
        wide("Selector", "string", doc::<apps::DeploymentSpec>("selector")),
    ]
}

/// `apps/replicasets`.
pub const REPLICASETS: Printer = Printer {
    columns: replicasets_columns,
    row: ro::replica_set_row,
};

#[rustfmt::skip]
fn replicasets_columns() -> Vec<Column> {
    let [containers, images] = containers_cols();
    vec![
        name_col(),
        col("Desired", "integer", doc::<apps::ReplicaSetSpec>("replicas")),
        col("Current", "integer", doc::<apps::ReplicaSetStatus>("replicas")),
        col("Ready", "integer", doc::<apps::ReplicaSetStatus>("readyReplicas")),
        age_col(),
        containers,
        images,
        wide("Selector", "string", doc::<apps::ReplicaSetSpec>("selector")),
    ]
}

/// `apps/daemonsets`.
pub const DAEMONSETS: Printer = Printer {
    columns: daemonsets_columns,
    row: ro::daemon_set_row,
};

#[rustfmt::skip]
fn daemonsets_columns() -> Vec<Column> {
    let [containers, images] = containers_cols();
    vec![
        name_col(),
        col("Desired", "integer", doc::<apps::DaemonSetStatus>("desiredNumberScheduled")),
        col("Current", "integer", doc::<apps::DaemonSetStatus>("currentNumberScheduled")),
        col("Ready", "integer", doc::<apps::DaemonSetStatus>("numberReady")),
        col("Up-to-date", "integer", doc::<apps::DaemonSetStatus>("updatedNumberScheduled")),
        col("Available", "integer", doc::<apps::DaemonSetStatus>("numberAvailable")),
        col("Node Selector", "string", doc::<core::PodSpec>("nodeSelector")),
        age_col(),
        containers,
        images,
        wide("Selector", "string", doc::<apps::DaemonSetSpec>("selector")),
    ]
}

/// `apps/statefulsets`.
pub const STATEFULSETS: Printer = Printer {
    columns: statefulsets_columns,
    row: ro::stateful_set_row,
};

#[rustfmt::skip]
fn statefulsets_columns() -> Vec<Column> {
    let [containers, images] = containers_cols();
    vec![
        name_col(),
        col("Ready", "string", text("Number of the pod with ready state")),
        age_col(),
        containers,
        images,
    ]
}

/// `apps/controllerrevisions`.
pub const CONTROLLERREVISIONS: Printer = Printer {
    columns: controllerrevisions_columns,
    row: ro::controller_revision_row,
};

#[rustfmt::skip]
fn controllerrevisions_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Controller", "string", text("Controller of the object")),
        col("Revision", "string", doc::<apps::ControllerRevision>("revision")),
        age_col(),
    ]
}

/// `batch/jobs`.
pub const JOBS: Printer = Printer {
    columns: jobs_columns,
    row: ro::job_row,
};

#[rustfmt::skip]
fn jobs_columns() -> Vec<Column> {
    let [containers, images] = containers_cols();
    vec![
        name_col(),
        col("Status", "string", text("Status of the job.")),
        col("Completions", "string", doc::<batch::JobStatus>("succeeded")),
        col("Duration", "string", text("Time required to complete the job.")),
        age_col(),
        containers,
        images,
        wide("Selector", "string", doc::<batch::JobSpec>("selector")),
    ]
}

/// `batch/cronjobs`.
pub const CRONJOBS: Printer = Printer {
    columns: cronjobs_columns,
    row: ro::cron_job_row,
};

#[rustfmt::skip]
fn cronjobs_columns() -> Vec<Column> {
    let [containers, images] = containers_cols();
    vec![
        name_col(),
        col("Schedule", "string", doc::<batch::CronJobSpec>("schedule")),
        col("Timezone", "string", doc::<batch::CronJobSpec>("timeZone")),
        col("Suspend", "boolean", doc::<batch::CronJobSpec>("suspend")),
        col("Active", "integer", doc::<batch::CronJobStatus>("active")),
        col("Last Schedule", "string", doc::<batch::CronJobStatus>("lastScheduleTime")),
        age_col(),
        containers,
        images,
        wide("Selector", "string", doc::<batch::JobSpec>("selector")),
    ]
}

/// `networking.k8s.io/ingresses`.
pub const INGRESSES: Printer = Printer {
    columns: ingresses_columns,
    row: ro::ingress_row,
};

#[rustfmt::skip]
fn ingresses_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Class", "string", text("The name of the IngressClass resource that should be used for additional configuration")),
        col("Hosts", "string", text("Hosts that incoming requests are matched against before the ingress rule")),
        col("Address", "string", text("Address is a list containing ingress points for the load-balancer")),
        col("Ports", "string", text("Ports of TLS configurations that open")),
        age_col(),
    ]
}

/// `discovery.k8s.io/endpointslices`.
pub const ENDPOINTSLICES: Printer = Printer {
    columns: endpointslices_columns,
    row: ro::endpoint_slice_row,
};

#[rustfmt::skip]
fn endpointslices_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("AddressType", "string", doc::<discovery::EndpointSlice>("addressType")),
        col("Ports", "string", doc::<discovery::EndpointSlice>("ports")),
        col("Endpoints", "string", doc::<discovery::EndpointSlice>("endpoints")),
        age_col(),
    ]
}

/// `storage.k8s.io/storageclasses`.
pub const STORAGECLASSES: Printer = Printer {
    columns: storageclasses_columns,
    row: ro::storage_class_row,
};

#[rustfmt::skip]
fn storageclasses_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Provisioner", "string", doc::<storage::StorageClass>("provisioner")),
        col("ReclaimPolicy", "string", doc::<storage::StorageClass>("reclaimPolicy")),
        col("VolumeBindingMode", "string", doc::<storage::StorageClass>("volumeBindingMode")),
        col("AllowVolumeExpansion", "string", doc::<storage::StorageClass>("allowVolumeExpansion")),
        age_col(),
    ]
}

/// `storage.k8s.io/volumeattributesclasses`.
pub const VOLUMEATTRIBUTESCLASSES: Printer = Printer {
    columns: volumeattributesclasses_columns,
    row: ro::volume_attributes_class_row,
};

#[rustfmt::skip]
fn volumeattributesclasses_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("DriverName", "string", doc::<storage::VolumeAttributesClass>("driverName")),
        age_col(),
    ]
}

/// `admissionregistration.k8s.io/mutatingadmissionpolicies`.
pub const MUTATINGADMISSIONPOLICIES: Printer = Printer {
    columns: mutating_admission_policies_columns,
    row: ro::mutating_admission_policy_row,
};

fn mutating_admission_policies_columns() -> Vec<Column> {
    vec![
        name_col(),
        col(
            "Mutations",
            "integer",
            "Mutation indicates the number of mutations rules defined in this configuration".into(),
        ),
        col(
            "ParamKind",
            "string",
            "ParamKind specifies the kind of resources used to parameterize this policy".into(),
        ),
        age_col(),
    ]
}

/// `admissionregistration.k8s.io/mutatingadmissionpolicybindings`.
pub const MUTATINGADMISSIONPOLICYBINDINGS: Printer = Printer {
    columns: mutating_admission_policy_bindings_columns,
    row: ro::mutating_admission_policy_binding_row,
};

fn mutating_admission_policy_bindings_columns() -> Vec<Column> {
    vec![
        name_col(),
        col(
            "PolicyName",
            "string",
            "PolicyName indicates the policy definition which the policy binding binded to".into(),
        ),
        col(
            "ParamRef",
            "string",
            "ParamRef indicates the param resource which sets the configuration param".into(),
        ),
        age_col(),
    ]
}

/// `scheduling.k8s.io/priorityclasses`.
pub const PRIORITYCLASSES: Printer = Printer {
    columns: priorityclasses_columns,
    row: ro::priority_class_row,
};

#[rustfmt::skip]
fn priorityclasses_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Value", "integer", doc::<scheduling::PriorityClass>("value")),
        col("Global-Default", "boolean", doc::<scheduling::PriorityClass>("globalDefault")),
        age_col(),
        col("PreemptionPolicy", "string", doc::<scheduling::PriorityClass>("preemptionPolicy")),
    ]
}

/// `policy/poddisruptionbudgets`.
pub const PODDISRUPTIONBUDGETS: Printer = Printer {
    columns: poddisruptionbudgets_columns,
    row: ro::pod_disruption_budget_row,
};

#[rustfmt::skip]
fn poddisruptionbudgets_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Min Available", "string", text("The minimum number of pods that must be available.")),
        col("Max Unavailable", "string", text("The maximum number of pods that may be unavailable.")),
        col("Allowed Disruptions", "integer", text("Calculated number of pods that may be disrupted at this time.")),
        age_col(),
    ]
}

/// `coordination.k8s.io/leases`.
pub const LEASES: Printer = Printer {
    columns: leases_columns,
    row: ro::lease_row,
};

#[rustfmt::skip]
fn leases_columns() -> Vec<Column> {
    vec![name_col(), col("Holder", "string", doc::<coordination::LeaseSpec>("holderIdentity")), age_col()]
}

/// `rbac.authorization.k8s.io/rolebindings`.
pub const ROLEBINDINGS: Printer = Printer {
    columns: || binding_columns("roleBinding"),
    row: ro::role_binding_row,
};

/// `rbac.authorization.k8s.io/clusterrolebindings`.
pub const CLUSTERROLEBINDINGS: Printer = Printer {
    columns: || binding_columns("clusterRoleBinding"),
    row: ro::role_binding_row,
};

#[rustfmt::skip]
fn binding_columns(what: &str) -> Vec<Column> {
    vec![
        name_col(),
        col("Role", "string", doc::<rbac::RoleBinding>("roleRef")),
        age_col(),
        wide("Users", "string", format!("Users in the {what}")),
        wide("Groups", "string", format!("Groups in the {what}")),
        wide("ServiceAccounts", "string", format!("ServiceAccounts in the {what}")),
    ]
}

/// apiregistration.k8s.io APIServices (the aggregator's table).
pub const APISERVICES: Printer = Printer {
    columns: apiservices_columns,
    row: ro::api_service_row,
};

#[rustfmt::skip]
fn apiservices_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Service", "string", "The reference to the service that hosts this API endpoint.".into()),
        col("Available", "string", "Whether this service is available.".into()),
        age_col(),
    ]
}

/// resource.k8s.io ResourceClaims.
pub const RESOURCECLAIMS: Printer = Printer {
    columns: resourceclaims_columns,
    row: ro::resource_claim_row,
};

#[rustfmt::skip]
fn resourceclaims_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("State", "string", "A summary of the current state (allocated, pending, reserved, etc.).".into()),
        age_col(),
    ]
}

/// resource.k8s.io ResourceSlices.
pub const RESOURCESLICES: Printer = Printer {
    columns: resourceslices_columns,
    row: ro::resource_slice_row,
};

#[rustfmt::skip]
fn resourceslices_columns() -> Vec<Column> {
    use k8s_openapi::api::resource::v1::ResourceSliceSpec;
    vec![
        name_col(),
        col("Node", "string", doc::<ResourceSliceSpec>("nodeName")),
        col("Driver", "string", doc::<ResourceSliceSpec>("driver")),
        col("Pool", "string", "The name of the resource pool that this ResourceSlice belongs to.".into()),
        age_col(),
    ]
}

/// networking.k8s.io ServiceCIDRs.
pub const SERVICECIDRS: Printer = Printer {
    columns: servicecidrs_columns,
    row: ro::service_cidr_row,
};

#[rustfmt::skip]
fn servicecidrs_columns() -> Vec<Column> {
    use k8s_openapi::api::networking::v1::ServiceCIDRSpec;
    vec![name_col(), col("CIDRs", "string", doc::<ServiceCIDRSpec>("cidrs")), age_col()]
}

/// networking.k8s.io IPAddresses (upstream prints no age).
pub const IPADDRESSES: Printer = Printer {
    columns: ipaddresses_columns,
    row: ro::ip_address_row,
};

#[rustfmt::skip]
fn ipaddresses_columns() -> Vec<Column> {
    use k8s_openapi::api::networking::v1::IPAddressSpec;
    vec![name_col(), col("ParentRef", "string", doc::<IPAddressSpec>("parentRef"))]
}

/// node.k8s.io RuntimeClass.
pub const RUNTIMECLASSES: Printer = Printer {
    columns: runtimeclasses_columns,
    row: ro::runtime_class_row,
};

#[rustfmt::skip]
fn runtimeclasses_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Handler", "string", doc::<k8s_openapi::api::node::v1::RuntimeClass>("handler")),
        age_col(),
    ]
}

/// storage.k8s.io CSIDriver.
pub const CSIDRIVERS: Printer = Printer {
    columns: csidrivers_columns,
    row: ro::csi_driver_row,
};

#[rustfmt::skip]
fn csidrivers_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("AttachRequired", "boolean", doc::<storage::CSIDriverSpec>("attachRequired")),
        col("PodInfoOnMount", "boolean", doc::<storage::CSIDriverSpec>("podInfoOnMount")),
        col("StorageCapacity", "boolean", doc::<storage::CSIDriverSpec>("storageCapacity")),
        col("TokenRequests", "string", doc::<storage::CSIDriverSpec>("tokenRequests")),
        col("RequiresRepublish", "boolean", doc::<storage::CSIDriverSpec>("requiresRepublish")),
        col("Modes", "string", doc::<storage::CSIDriverSpec>("volumeLifecycleModes")),
        age_col(),
    ]
}

/// storage.k8s.io CSINode.
pub const CSINODES: Printer = Printer {
    columns: csinodes_columns,
    row: ro::csi_node_row,
};

#[rustfmt::skip]
fn csinodes_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Drivers", "integer", doc::<storage::CSINodeSpec>("drivers")),
        age_col(),
    ]
}

/// storage.k8s.io VolumeAttachment.
pub const VOLUMEATTACHMENTS: Printer = Printer {
    columns: volumeattachments_columns,
    row: ro::volume_attachment_row,
};

#[rustfmt::skip]
fn volumeattachments_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Attacher", "string", doc::<storage::VolumeAttachmentSpec>("attacher")),
        col("PV", "string", doc::<storage::VolumeAttachmentSource>("persistentVolumeName")),
        col("Node", "string", doc::<storage::VolumeAttachmentSpec>("nodeName")),
        col("Attached", "boolean", doc::<storage::VolumeAttachmentStatus>("attached")),
        age_col(),
    ]
}

/// `certificates.k8s.io/certificatesigningrequests`.
pub const CERTIFICATESIGNINGREQUESTS: Printer = Printer {
    columns: csr_columns,
    row: ro::csr_row,
};

#[rustfmt::skip]
fn csr_columns() -> Vec<Column> {
    vec![
        name_col(),
        age_col(),
        col("SignerName", "string", doc::<certificates::CertificateSigningRequestSpec>("signerName")),
        col("Requestor", "string", doc::<certificates::CertificateSigningRequestSpec>("request")),
        col("RequestedDuration", "string", doc::<certificates::CertificateSigningRequestSpec>("expirationSeconds")),
        col("Condition", "string", doc::<certificates::CertificateSigningRequestStatus>("conditions")),
    ]
}

/// `autoscaling/horizontalpodautoscalers` (both versions).
pub const HORIZONTALPODAUTOSCALERS: Printer = Printer {
    columns: hpa_columns,
    row: super::rows_autoscaling::hpa_row,
};

#[rustfmt::skip]
fn hpa_columns() -> Vec<Column> {
    use k8s_openapi::api::autoscaling::v2 as autoscaling;
    vec![
        name_col(),
        col("Reference", "string", doc::<autoscaling::HorizontalPodAutoscalerSpec>("scaleTargetRef")),
        col("Targets", "string", doc::<autoscaling::HorizontalPodAutoscalerSpec>("metrics")),
        col("MinPods", "string", doc::<autoscaling::HorizontalPodAutoscalerSpec>("minReplicas")),
        col("MaxPods", "string", doc::<autoscaling::HorizontalPodAutoscalerSpec>("maxReplicas")),
        col("Replicas", "string", doc::<autoscaling::HorizontalPodAutoscalerStatus>("currentReplicas")),
        age_col(),
    ]
}
