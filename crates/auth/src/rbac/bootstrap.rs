//! Upstream's bootstrap RBAC policy (kube-apiserver's `bootstrappolicy`) as data: the default
//! ClusterRoles and ClusterRoleBindings the server creates at start and keeps up to date, plus
//! the few bindings our in-process components need.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{
    AggregationRule, ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::{AUTOUPDATE_ANNOTATION, RBAC_GROUP};

/// Label every bootstrap object carries.
pub const BOOTSTRAPPING_LABEL: (&str, &str) = ("kubernetes.io/bootstrapping", "rbac-defaults");
/// User of the controller manager.
pub const CONTROLLER_MANAGER_USER: &str = "system:kube-controller-manager";
/// User of the scheduler.
pub const SCHEDULER_USER: &str = "system:kube-scheduler";
/// Group of every node identity.
pub const NODES_GROUP: &str = "system:nodes";
/// Group of every bootstrap token's user.
pub use crate::bootstrap_token::BOOTSTRAPPERS_GROUP;
/// Prefix of node user names (`system:node:<name>`).
pub const NODE_USER_PREFIX: &str = "system:node:";
/// User of the API server's client certificate towards kubelets (kubeadm's CN).
pub const KUBELET_CLIENT_USER: &str = "kube-apiserver-kubelet-client";

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
const READ_WRITE: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const EVENTS_WRITE: &[&str] = &["create", "patch", "update"];

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(strings(groups)),
        resources: Some(strings(resources)),
        verbs: strings(verbs),
        ..PolicyRule::default()
    }
}

fn named(mut r: PolicyRule, names: &[&str]) -> PolicyRule {
    r.resource_names = Some(strings(names));
    r
}

fn urls(paths: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        non_resource_urls: Some(strings(paths)),
        verbs: strings(verbs),
        ..PolicyRule::default()
    }
}

fn meta(name: &str, extra_labels: &[(&str, &str)]) -> ObjectMeta {
    let mut labels = BTreeMap::from([(
        BOOTSTRAPPING_LABEL.0.to_string(),
        BOOTSTRAPPING_LABEL.1.to_string(),
    )]);
    labels.extend(
        extra_labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    ObjectMeta {
        name: Some(name.into()),
        labels: Some(labels),
        annotations: Some(BTreeMap::from([(
            AUTOUPDATE_ANNOTATION.to_string(),
            "true".to_string(),
        )])),
        ..ObjectMeta::default()
    }
}

fn role(name: &str, rules: Vec<PolicyRule>) -> ClusterRole {
    labeled(name, &[], rules)
}

fn labeled(name: &str, labels: &[(&str, &str)], rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole {
        metadata: meta(name, labels),
        rules: Some(rules),
        aggregation_rule: None,
    }
}

fn aggregate_label(to: &str) -> String {
    format!("rbac.authorization.k8s.io/aggregate-to-{to}")
}

/// A ClusterRole whose rules are those of every ClusterRole labelled `aggregate-to-<from>`.
fn aggregated(name: &str, from: &str, labels: &[(&str, &str)]) -> ClusterRole {
    let selector = LabelSelector {
        match_labels: Some(BTreeMap::from([(aggregate_label(from), "true".into())])),
        ..LabelSelector::default()
    };
    ClusterRole {
        metadata: meta(name, labels),
        rules: None,
        aggregation_rule: Some(AggregationRule {
            cluster_role_selectors: Some(vec![selector]),
        }),
    }
}

/// The default ClusterRoles.
pub fn cluster_roles() -> Vec<ClusterRole> {
    let to_admin = aggregate_label("admin");
    let to_edit = aggregate_label("edit");
    let to_view = aggregate_label("view");
    let mut roles = vec![
        role(
            "cluster-admin",
            vec![rule(&["*"], &["*"], &["*"]), urls(&["*"], &["*"])],
        ),
        aggregated("admin", "admin", &[]),
        aggregated("edit", "edit", &[(&to_admin, "true")]),
        aggregated("view", "view", &[(&to_edit, "true")]),
        labeled(
            "system:aggregate-to-admin",
            &[(&to_admin, "true")],
            aggregate_to_admin(),
        ),
        labeled(
            "system:aggregate-to-edit",
            &[(&to_edit, "true")],
            aggregate_to_edit(),
        ),
        labeled(
            "system:aggregate-to-view",
            &[(&to_view, "true")],
            aggregate_to_view(),
        ),
        // What metrics-server's manifest installs so that view, edit and admin may read
        // metrics.k8s.io (`kubectl top`).
        labeled(
            "system:aggregated-metrics-reader",
            &[(&to_view, "true"), (&to_edit, "true"), (&to_admin, "true")],
            vec![rule(
                &["metrics.k8s.io"],
                &["pods", "nodes"],
                &["get", "list", "watch"],
            )],
        ),
        role(
            "system:discovery",
            vec![urls(
                &[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
                &["get"],
            )],
        ),
        role(
            "system:public-info-viewer",
            vec![urls(
                &["/healthz", "/livez", "/readyz", "/version", "/version/"],
                &["get"],
            )],
        ),
        role(
            "system:monitoring",
            vec![urls(
                &[
                    "/healthz",
                    "/healthz/*",
                    "/livez",
                    "/livez/*",
                    "/metrics",
                    "/metrics/slis",
                    "/readyz",
                    "/readyz/*",
                ],
                &["get"],
            )],
        ),
        role(
            "system:basic-user",
            vec![
                rule(
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    &["create"],
                ),
                rule(
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                    &["create"],
                ),
            ],
        ),
        role(
            "system:auth-delegator",
            vec![
                rule(&["authentication.k8s.io"], &["tokenreviews"], &["create"]),
                rule(
                    &["authorization.k8s.io"],
                    &["subjectaccessreviews"],
                    &["create"],
                ),
            ],
        ),
        role(
            "system:service-account-issuer-discovery",
            vec![urls(
                &["/.well-known/openid-configuration", "/openid/v1/jwks"],
                &["get"],
            )],
        ),
        role("system:node", node_rules()),
        role(
            "system:node-proxier",
            vec![
                rule(&[""], &["endpoints", "services"], &["list", "watch"]),
                rule(&[""], &["nodes"], READ),
                rule(&["", "events.k8s.io"], &["events"], EVENTS_WRITE),
                rule(
                    &["discovery.k8s.io"],
                    &["endpointslices"],
                    &["list", "watch"],
                ),
            ],
        ),
        role(
            "system:node-bootstrapper",
            vec![rule(
                &["certificates.k8s.io"],
                &["certificatesigningrequests"],
                &["create", "get", "list", "watch"],
            )],
        ),
        role(
            "system:kubelet-api-admin",
            vec![
                rule(&[""], &["nodes"], READ),
                rule(&[""], &["nodes"], &["proxy"]),
                rule(
                    &[""],
                    &["nodes/log", "nodes/metrics", "nodes/proxy", "nodes/stats"],
                    &["*"],
                ),
            ],
        ),
        role(
            "system:kube-dns",
            vec![rule(&[""], &["endpoints", "services"], &["list", "watch"])],
        ),
        role("system:kube-controller-manager", controller_manager_rules()),
        role("system:kube-scheduler", scheduler_rules()),
        role(
            "system:volume-scheduler",
            vec![
                rule(
                    &[""],
                    &["persistentvolumes"],
                    &["get", "list", "patch", "update", "watch"],
                ),
                rule(&["storage.k8s.io"], &["storageclasses"], READ),
                rule(
                    &[""],
                    &["persistentvolumeclaims"],
                    &["get", "list", "patch", "update", "watch"],
                ),
            ],
        ),
    ];
    roles.extend(certificate_roles());
    roles.push(ferrokube_controller_manager());
    roles.push(local_path_provisioner());
    roles.push(role(
        FERROKUBE_SCHEDULER_ROLE,
        vec![named(
            rule(&["coordination.k8s.io"], &["leases"], &["get", "update"]),
            &["ferrokube-scheduler"],
        )],
    ));
    roles
}

/// Name of our ClusterRole for the local-path provisioner every agent runs.
pub const FERROKUBE_PROVISIONER_ROLE: &str = "system:ferrokube:local-path-provisioner";

/// What an agent's local-path provisioner does (as rancher's local-path-provisioner's own
/// ClusterRole): watch claims and classes, create, grow and delete the volumes it provisions,
/// and record events on the claims.
fn local_path_provisioner() -> ClusterRole {
    role(
        FERROKUBE_PROVISIONER_ROLE,
        vec![
            rule(
                &[""],
                &["persistentvolumeclaims"],
                &["get", "list", "watch", "update"],
            ),
            rule(
                &[""],
                &["persistentvolumes"],
                &[
                    "get", "list", "watch", "create", "update", "patch", "delete",
                ],
            ),
            rule(
                &["storage.k8s.io"],
                &["storageclasses"],
                &["get", "list", "watch"],
            ),
            rule(
                &["", "events.k8s.io"],
                &["events"],
                &["create", "update", "patch"],
            ),
        ],
    )
}

/// Name of our ClusterRole for what the scheduler does beyond upstream's role: its
/// leader-election Lease is `kube-system/ferrokube-scheduler`, not `kube-scheduler`.
pub const FERROKUBE_SCHEDULER_ROLE: &str = "system:ferrokube:scheduler";

fn aggregate_to_admin() -> Vec<PolicyRule> {
    vec![
        rule(
            &["authorization.k8s.io"],
            &["localsubjectaccessreviews"],
            &["create"],
        ),
        rule(&[RBAC_GROUP], &["rolebindings", "roles"], READ_WRITE),
    ]
}

fn aggregate_to_edit() -> Vec<PolicyRule> {
    let pod_access = ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy"];
    let mut pods_write = vec!["pods"];
    pods_write.extend(pod_access);
    let mut read_secrets = pod_access.to_vec();
    read_secrets.extend(["secrets", "services/proxy"]);
    vec![
        rule(&[""], &read_secrets, READ),
        rule(&[""], &["serviceaccounts"], &["impersonate"]),
        rule(&[""], &pods_write, WRITE),
        rule(&[""], &["pods/eviction"], &["create"]),
        rule(
            &[""],
            &[
                "configmaps",
                "events",
                "persistentvolumeclaims",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "secrets",
                "serviceaccounts",
                "services",
                "services/proxy",
            ],
            WRITE,
        ),
        rule(&[""], &["serviceaccounts/token"], &["create"]),
        rule(
            &["apps"],
            &[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
            ],
            WRITE,
        ),
        rule(&["autoscaling"], &["horizontalpodautoscalers"], WRITE),
        rule(&["batch"], &["cronjobs", "jobs"], WRITE),
        rule(
            &["extensions"],
            &[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "ingresses",
                "networkpolicies",
                "replicasets",
                "replicasets/scale",
                "replicationcontrollers/scale",
            ],
            WRITE,
        ),
        rule(&["policy"], &["poddisruptionbudgets"], WRITE),
        rule(
            &["networking.k8s.io"],
            &["ingresses", "networkpolicies"],
            WRITE,
        ),
        rule(&["coordination.k8s.io"], &["leases"], READ_WRITE),
    ]
}

fn aggregate_to_view() -> Vec<PolicyRule> {
    vec![
        rule(
            &[""],
            &[
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/status",
            ],
            READ,
        ),
        rule(
            &[""],
            &[
                "bindings",
                "events",
                "limitranges",
                "namespaces/status",
                "pods/log",
                "pods/status",
                "replicationcontrollers/status",
                "resourcequotas",
                "resourcequotas/status",
            ],
            READ,
        ),
        rule(&[""], &["namespaces"], READ),
        rule(&["discovery.k8s.io"], &["endpointslices"], READ),
        rule(
            &["apps"],
            &[
                "controllerrevisions",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
            ],
            READ,
        ),
        rule(
            &["autoscaling"],
            &[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ],
            READ,
        ),
        rule(
            &["batch"],
            &["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
            READ,
        ),
        rule(
            &["extensions"],
            &[
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "ingresses",
                "ingresses/status",
                "networkpolicies",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "replicationcontrollers/scale",
            ],
            READ,
        ),
        rule(
            &["policy"],
            &["poddisruptionbudgets", "poddisruptionbudgets/status"],
            READ,
        ),
        rule(
            &["networking.k8s.io"],
            &["ingresses", "ingresses/status", "networkpolicies"],
            READ,
        ),
    ]
}

/// The rules of upstream's `system:node` role, which the node authorizer grants every member
/// of `system:nodes`.
pub fn node_rules() -> Vec<PolicyRule> {
    vec![
        rule(&["authentication.k8s.io"], &["tokenreviews"], &["create"]),
        rule(
            &["authorization.k8s.io"],
            &["localsubjectaccessreviews", "subjectaccessreviews"],
            &["create"],
        ),
        rule(&[""], &["services"], READ),
        rule(&[""], &["nodes"], &["create", "get", "list", "watch"]),
        rule(&[""], &["nodes/status"], &["patch", "update"]),
        rule(&[""], &["nodes"], &["patch", "update"]),
        rule(&[""], &["events"], EVENTS_WRITE),
        rule(&[""], &["pods"], READ),
        rule(&[""], &["pods"], &["create", "delete"]),
        rule(&[""], &["pods/status"], &["patch", "update"]),
        rule(&[""], &["pods/eviction"], &["create"]),
        rule(&[""], &["configmaps", "secrets"], READ),
        rule(
            &[""],
            &["persistentvolumeclaims", "persistentvolumes"],
            &["get"],
        ),
        rule(&[""], &["endpoints"], &["get"]),
        rule(
            &["certificates.k8s.io"],
            &["certificatesigningrequests"],
            &["create", "get", "list", "watch"],
        ),
        rule(
            &["coordination.k8s.io"],
            &["leases"],
            &["create", "delete", "get", "patch", "update"],
        ),
        rule(&["storage.k8s.io"], &["volumeattachments"], &["get"]),
        rule(&[""], &["serviceaccounts/token"], &["create"]),
        rule(
            &[""],
            &["persistentvolumeclaims/status"],
            &["get", "patch", "update"],
        ),
        rule(&["storage.k8s.io"], &["csidrivers"], READ),
        rule(
            &["storage.k8s.io"],
            &["csinodes"],
            &["create", "delete", "get", "patch", "update"],
        ),
        rule(&["node.k8s.io"], &["runtimeclasses"], READ),
    ]
}

fn controller_manager_rules() -> Vec<PolicyRule> {
    vec![
        rule(&["", "events.k8s.io"], &["events"], EVENTS_WRITE),
        rule(&["coordination.k8s.io"], &["leases"], &["create"]),
        named(
            rule(&["coordination.k8s.io"], &["leases"], &["get", "update"]),
            &["kube-controller-manager"],
        ),
        rule(&[""], &["secrets", "serviceaccounts"], &["create"]),
        rule(&[""], &["secrets"], &["delete"]),
        rule(
            &[""],
            &["configmaps", "namespaces", "secrets", "serviceaccounts"],
            &["get"],
        ),
        rule(&[""], &["secrets", "serviceaccounts"], &["update"]),
        rule(&["authentication.k8s.io"], &["tokenreviews"], &["create"]),
        rule(
            &["authorization.k8s.io"],
            &["subjectaccessreviews"],
            &["create"],
        ),
        rule(&["*"], &["*"], &["list", "watch"]),
        rule(&[""], &["serviceaccounts/token"], &["create"]),
    ]
}

fn scheduler_rules() -> Vec<PolicyRule> {
    vec![
        rule(&["", "events.k8s.io"], &["events"], EVENTS_WRITE),
        rule(&["coordination.k8s.io"], &["leases"], &["create"]),
        named(
            rule(&["coordination.k8s.io"], &["leases"], &["get", "update"]),
            &["kube-scheduler"],
        ),
        rule(&[""], &["nodes"], READ),
        rule(&[""], &["pods"], &["delete", "get", "list", "watch"]),
        rule(&[""], &["bindings", "pods/binding"], &["create"]),
        rule(&[""], &["pods/status"], &["patch", "update"]),
        rule(&[""], &["replicationcontrollers", "services"], READ),
        rule(&["apps", "extensions"], &["replicasets"], READ),
        rule(&["apps"], &["statefulsets"], READ),
        rule(&["policy"], &["poddisruptionbudgets"], READ),
        rule(
            &[""],
            &["persistentvolumeclaims", "persistentvolumes"],
            READ,
        ),
        rule(&["authentication.k8s.io"], &["tokenreviews"], &["create"]),
        rule(
            &["authorization.k8s.io"],
            &["subjectaccessreviews"],
            &["create"],
        ),
        rule(&["storage.k8s.io"], &["csinodes"], READ),
        rule(&[""], &["namespaces"], READ),
        rule(&["storage.k8s.io"], &["csidrivers"], READ),
        rule(&["storage.k8s.io"], &["csistoragecapacities"], READ),
    ]
}

fn certificate_roles() -> Vec<ClusterRole> {
    let csr = "certificates.k8s.io";
    let approver = |signer: &str| {
        role(
            &format!("system:certificates.k8s.io:{signer}-approver"),
            vec![named(
                rule(&[csr], &["signers"], &["approve"]),
                &[&format!("kubernetes.io/{signer}")],
            )],
        )
    };
    vec![
        role(
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            vec![rule(
                &[csr],
                &["certificatesigningrequests/nodeclient"],
                &["create"],
            )],
        ),
        role(
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            vec![rule(
                &[csr],
                &["certificatesigningrequests/selfnodeclient"],
                &["create"],
            )],
        ),
        approver("kube-apiserver-client"),
        approver("kube-apiserver-client-kubelet"),
        approver("kubelet-serving"),
        approver("legacy-unknown"),
    ]
}

/// Name of our ClusterRole for the in-process controller manager.
pub const FERROKUBE_CONTROLLER_MANAGER_ROLE: &str = "system:ferrokube:controller-manager";

/// Our controller manager runs every control loop under its one identity (upstream's
/// `--use-service-account-credentials=false`), which upstream says must then hold every
/// controller role. Their union includes the garbage collector's and namespace controller's
/// read/write/delete of every resource, so this grants exactly that — and nothing of
/// `escalate`, `bind`, `impersonate`, `approve` or non-resource URLs.
fn ferrokube_controller_manager() -> ClusterRole {
    role(
        FERROKUBE_CONTROLLER_MANAGER_ROLE,
        vec![rule(&["*"], &["*"], READ_WRITE)],
    )
}

fn binding(name: &str, role: &str, subjects: Vec<Subject>) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(name, &[]),
        role_ref: RoleRef {
            api_group: Some(RBAC_GROUP.into()),
            kind: "ClusterRole".into(),
            name: role.into(),
        },
        subjects: Some(subjects),
    }
}

fn subject(kind: &str, name: &str) -> Subject {
    Subject {
        api_group: Some(RBAC_GROUP.into()),
        kind: kind.into(),
        name: name.into(),
        namespace: None,
    }
}

fn group(name: &str) -> Subject {
    subject("Group", name)
}

fn user(name: &str) -> Subject {
    subject("User", name)
}

/// The default ClusterRoleBindings.
pub fn cluster_role_bindings() -> Vec<ClusterRoleBinding> {
    let same = |name: &str, subjects| binding(name, name, subjects);
    let mut all = vec![
        same("cluster-admin", vec![group("system:masters")]),
        same("system:basic-user", vec![group("system:authenticated")]),
        same("system:discovery", vec![group("system:authenticated")]),
        same(
            "system:public-info-viewer",
            vec![
                group("system:authenticated"),
                group("system:unauthenticated"),
            ],
        ),
        same("system:monitoring", vec![group("system:monitoring")]),
        same(
            "system:kube-controller-manager",
            vec![user(CONTROLLER_MANAGER_USER)],
        ),
        same("system:kube-scheduler", vec![user(SCHEDULER_USER)]),
        same("system:volume-scheduler", vec![user(SCHEDULER_USER)]),
        same(
            "system:kube-dns",
            vec![Subject {
                api_group: None,
                kind: "ServiceAccount".into(),
                name: "kube-dns".into(),
                namespace: Some("kube-system".into()),
            }],
        ),
        same("system:node", vec![]),
        same("system:node-proxier", vec![user("system:kube-proxy")]),
        same(
            "system:service-account-issuer-discovery",
            vec![group("system:serviceaccounts")],
        ),
        binding(
            FERROKUBE_CONTROLLER_MANAGER_ROLE,
            FERROKUBE_CONTROLLER_MANAGER_ROLE,
            vec![user(CONTROLLER_MANAGER_USER)],
        ),
        binding(
            FERROKUBE_SCHEDULER_ROLE,
            FERROKUBE_SCHEDULER_ROLE,
            vec![user(SCHEDULER_USER)],
        ),
        // TLS bootstrap as kubeadm wires it: bootstrap tokens may submit node client CSRs and
        // have them approved; nodes may have their renewals approved.
        binding(
            "system:ferrokube:node-bootstrapper",
            "system:node-bootstrapper",
            vec![group(BOOTSTRAPPERS_GROUP)],
        ),
        binding(
            "system:ferrokube:node-autoapprove-bootstrap",
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            vec![group(BOOTSTRAPPERS_GROUP)],
        ),
        binding(
            "system:ferrokube:node-autoapprove-certificate-rotation",
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            vec![group(NODES_GROUP)],
        ),
        // The controller manager's csrapproving controller approves kubelet client requests
        // (upstream's certificate-controller role holds `approve` on that signer).
        binding(
            "system:ferrokube:kube-apiserver-client-kubelet-approver",
            "system:certificates.k8s.io:kube-apiserver-client-kubelet-approver",
            vec![user(CONTROLLER_MANAGER_USER)],
        ),
        // Our agents run the local-path provisioner beside the kubelet under the node identity.
        binding(
            FERROKUBE_PROVISIONER_ROLE,
            FERROKUBE_PROVISIONER_ROLE,
            vec![group(NODES_GROUP)],
        ),
        // Our agents run the service proxy beside the kubelet under the node identity.
        binding(
            "system:ferrokube:node-proxier",
            "system:node-proxier",
            vec![group(NODES_GROUP)],
        ),
    ];
    all.extend(kubelet_bindings());
    all
}

/// The API server's access to kubelets (kubeadm's `kubeadm:apiserver-kubelet-client`), and
/// the controller manager's approval of kubelet serving certificates (k3s does the same;
/// upstream leaves them to an administrator).
fn kubelet_bindings() -> [ClusterRoleBinding; 2] {
    [
        binding(
            "system:ferrokube:apiserver-kubelet-client",
            "system:kubelet-api-admin",
            vec![user(KUBELET_CLIENT_USER)],
        ),
        binding(
            "system:ferrokube:kubelet-serving-approver",
            "system:certificates.k8s.io:kubelet-serving-approver",
            vec![user(CONTROLLER_MANAGER_USER)],
        ),
    ]
}
