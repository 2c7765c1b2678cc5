//! The table of built-in kinds we serve: one line per kind. A new kind is a line here (and a
//! strategy when it needs one), never a new handler.

use k8s_openapi::api::{
    admissionregistration::v1 as admissionregistration, apps::v1 as apps,
    autoscaling::v1 as autoscaling_v1, autoscaling::v2 as autoscaling_v2, batch::v1 as batch,
    coordination::v1 as coordination, core::v1 as core, discovery::v1 as discovery,
    events::v1 as events, flowcontrol::v1 as flowcontrol, networking::v1 as networking,
    node::v1 as node, policy::v1 as policy, rbac::v1 as rbac, resource::v1 as resource,
    scheduling::v1 as scheduling, storage::v1 as storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1 as apiregistration;

use ferrokube_apimachinery::{fields, printers as print, validation as valid};
use valid::NameRule;

use k8s_openapi::api::{
    authentication::v1 as authn, authorization::v1 as authz, certificates::v1 as certificates,
};

use super::descriptor::{Describe, ResourceDescriptor};
use super::reviews;
use super::strategy::*;
use super::subresource::{Handler, Subresource};

const ALL: &[&str] = &["all"];

/// The URL segment scoping a path to a namespace (`/api/v1/namespaces/<ns>/...`). It is also
/// the namespaces resource, whose own subresources the request parser must tell apart from a
/// namespace's resources (`namespaces/<ns>/status` vs `namespaces/<ns>/pods`), as upstream's
/// RequestInfoFactory does.
pub const NAMESPACE_SEGMENT: &str = "namespaces";

/// The namespace kind's subresources (see [`NAMESPACE_SEGMENT`]).
pub const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// `namespaces/finalize`: writes keep only `spec.finalizers` changes.
const FINALIZE: Subresource = Subresource {
    name: "finalize",
    verbs: &["update"],
    response: Some(("", "v1")),
    kind: Some("Namespace"),
    handler: Handler::Finalize,
    options: None,
    body_schema: None,
};

/// Pods' subresources beyond status: the scheduler's binding, eviction, and the streams the
/// node agent serves (kinds and verbs as upstream's discovery lists them).
const POD_SUBRESOURCES: &[Subresource] = &[
    Subresource::action::<core::Binding>("binding", super::pods::bind_action),
    Subresource::action::<policy::Eviction>("eviction", super::pods::evict_action),
    Subresource::connect("attach", "PodAttachOptions", &["create", "get"]),
    Subresource::connect("exec", "PodExecOptions", &["create", "get"]),
    Subresource::getter("log", "Pod", "PodLogOptions"),
    Subresource::connect("portforward", "PodPortForwardOptions", &["create", "get"]),
    Subresource::proxy("PodProxyOptions", super::locate::pod),
    Subresource {
        name: super::rest::EPHEMERAL_CONTAINERS,
        verbs: &["get", "patch", "update"],
        response: None,
        kind: None,
        handler: Handler::Status,
        options: None,
        body_schema: None,
    },
    Subresource {
        name: super::resize::RESIZE,
        verbs: &["get", "patch", "update"],
        response: None,
        kind: None,
        handler: Handler::Status,
        options: None,
        body_schema: None,
    },
];

/// `serviceaccounts/token`: TokenRequest.
const TOKEN: Subresource =
    Subresource::action::<authn::TokenRequest>("token", super::token::token_action);

/// `certificatesigningrequests/approval`: writes keep only `status.conditions` changes; who may
/// add Approved or Denied is checked by `super::csr`.
const APPROVAL: Subresource = Subresource {
    name: "approval",
    verbs: &["get", "patch", "update"],
    response: None,
    kind: None,
    handler: Handler::Status,
    options: None,
    body_schema: None,
};

/// Every built-in kind, in the order discovery lists them.
pub fn builtin_kinds() -> Vec<ResourceDescriptor> {
    vec![
        // core/v1
        Describe::of::<core::Namespace>(&NAMESPACE)
            .short(&["ns"])
            .status()
            .names(NameRule::Dns1123Label)
            .fields(fields::NAMESPACE)
            .printer(print::NAMESPACES)
            .subresources(&[FINALIZE])
            .no_delete_collection()
            .build("namespace"),
        Describe::of::<core::Pod>(&POD)
            .short(&["po"])
            .categories(ALL)
            .status()
            .validate(valid::validate_pod)
            .fields(fields::POD)
            .printer(print::PODS)
            .subresources(POD_SUBRESOURCES)
            .hook(std::sync::Arc::new(
                super::runtime_class::RuntimeClassAdmission,
            ))
            .build("pod"),
        Describe::of::<core::Service>(&SERVICE)
            .short(&["svc"])
            .categories(ALL)
            .status()
            .names(NameRule::Dns1035Label)
            .validate(valid::validate_service)
            .fields(fields::SERVICE)
            .printer(print::SERVICES)
            .hook(std::sync::Arc::new(super::service_alloc::ServiceAddresses))
            .subresources(&[Subresource::proxy(
                "ServiceProxyOptions",
                super::locate::service,
            )])
            .build("service"),
        Describe::of::<core::Endpoints>(&PLAIN)
            .short(&["ep"])
            .printer(print::ENDPOINTS)
            .build("endpoints"),
        Describe::of::<core::ConfigMap>(&CONFIG_MAP)
            .short(&["cm"])
            .validate(valid::validate_config_map)
            .printer(print::CONFIGMAPS)
            .build("configmap"),
        Describe::of::<core::Secret>(&SECRET)
            .validate(valid::validate_secret)
            .fields(fields::SECRET)
            .printer(print::SECRETS)
            .build("secret"),
        Describe::of::<core::ServiceAccount>(&SERVICE_ACCOUNT)
            .short(&["sa"])
            .printer(print::SERVICEACCOUNTS)
            .subresources(&[TOKEN])
            .build("serviceaccount"),
        Describe::of::<core::Node>(&NODE)
            .short(&["no"])
            .status()
            .fields(fields::NODE)
            .printer(print::NODES)
            .subresources(&[Subresource::proxy("NodeProxyOptions", super::locate::node)])
            .build("node"),
        Describe::of::<core::ComponentStatus>(&PLAIN)
            .short(&["cs"])
            .printer(print::COMPONENTSTATUSES)
            .computed(
                super::component_status::list,
                Some(super::component_status::DEPRECATION),
            )
            .build("componentstatus"),
        Describe::of::<core::Event>(&PLAIN)
            .short(&["ev"])
            .fields(fields::EVENT)
            .printer(print::EVENTS)
            .build("event"),
        Describe::of::<core::ReplicationController>(&REPLICATION_CONTROLLER)
            .short(&["rc"])
            .categories(ALL)
            .status()
            .scale("/spec/selector")
            .validate(valid::validate_replication_controller)
            .fields(fields::REPLICATION_CONTROLLER)
            .printer(print::REPLICATIONCONTROLLERS)
            .build("replicationcontroller"),
        Describe::of::<core::PodTemplate>(&PLAIN)
            .validate(valid::validate_pod_template)
            .build("podtemplate"),
        Describe::of::<core::LimitRange>(&PLAIN)
            .short(&["limits"])
            .build("limitrange"),
        Describe::of::<core::ResourceQuota>(&PLAIN)
            .short(&["quota"])
            .status()
            .build("resourcequota"),
        Describe::of::<core::PersistentVolume>(&PERSISTENT_VOLUME)
            .short(&["pv"])
            .status()
            .printer(print::PERSISTENTVOLUMES)
            .build("persistentvolume"),
        Describe::of::<core::PersistentVolumeClaim>(&PERSISTENT_VOLUME_CLAIM)
            .short(&["pvc"])
            .status()
            .printer(print::PERSISTENTVOLUMECLAIMS)
            .hook(std::sync::Arc::new(super::claims::ClaimAdmission))
            .build("persistentvolumeclaim"),
        // apps/v1
        Describe::of::<apps::Deployment>(&DEPLOYMENT)
            .short(&["deploy"])
            .categories(ALL)
            .status()
            .scale("/spec/selector")
            .validate(valid::validate_apps_workload)
            .printer(print::DEPLOYMENTS)
            .build("deployment"),
        Describe::of::<apps::ReplicaSet>(&REPLICASET)
            .short(&["rs"])
            .categories(ALL)
            .status()
            .scale("/spec/selector")
            .validate(valid::validate_apps_workload)
            .printer(print::REPLICASETS)
            .build("replicaset"),
        Describe::of::<apps::DaemonSet>(&DAEMONSET)
            .short(&["ds"])
            .categories(ALL)
            .status()
            .validate(valid::validate_apps_workload)
            .printer(print::DAEMONSETS)
            .build("daemonset"),
        Describe::of::<apps::StatefulSet>(&STATEFULSET)
            .short(&["sts"])
            .categories(ALL)
            .status()
            .scale("/spec/selector")
            .validate(valid::validate_apps_workload)
            .printer(print::STATEFULSETS)
            .build("statefulset"),
        Describe::of::<apps::ControllerRevision>(&PLAIN)
            .printer(print::CONTROLLERREVISIONS)
            .build("controllerrevision"),
        // autoscaling/v2 (storage) and autoscaling/v1 (converted, `strategy::autoscaling`)
        Describe::of::<autoscaling_v2::HorizontalPodAutoscaler>(&HPA_V2)
            .short(&["hpa"])
            .categories(ALL)
            .status()
            .printer(print::HORIZONTALPODAUTOSCALERS)
            .build("horizontalpodautoscaler"),
        Describe::of::<autoscaling_v1::HorizontalPodAutoscaler>(&HPA_V1)
            .short(&["hpa"])
            .categories(ALL)
            .status()
            .printer(print::HORIZONTALPODAUTOSCALERS)
            .converted(HPA_V1_CONVERSION)
            .build("horizontalpodautoscaler"),
        // batch/v1
        Describe::of::<batch::Job>(&JOB)
            .categories(ALL)
            .status()
            .validate(valid::validate_job)
            .fields(fields::JOB)
            .printer(print::JOBS)
            .build("job"),
        Describe::of::<batch::CronJob>(&CRONJOB)
            .short(&["cj"])
            .categories(ALL)
            .status()
            .validate(valid::validate_cron_job)
            .printer(print::CRONJOBS)
            .build("cronjob"),
        // coordination.k8s.io/v1
        Describe::of::<coordination::Lease>(&PLAIN)
            .printer(print::LEASES)
            .build("lease"),
        // discovery.k8s.io/v1
        Describe::of::<discovery::EndpointSlice>(&PLAIN)
            .printer(print::ENDPOINTSLICES)
            .build("endpointslice"),
        // events.k8s.io/v1, kept in core/v1 Event storage (`strategy::events`)
        Describe::of::<events::Event>(&PLAIN)
            .short(&["ev"])
            .fields(fields::EVENTS_API)
            .printer(print::EVENTS_API)
            .converted(super::strategy::events::EVENTS_V1_CONVERSION)
            .build("event"),
        // policy/v1
        Describe::of::<policy::PodDisruptionBudget>(&GENERATIONAL)
            .short(&["pdb"])
            .status()
            .printer(print::PODDISRUPTIONBUDGETS)
            .build("poddisruptionbudget"),
        // networking.k8s.io/v1
        Describe::of::<networking::Ingress>(&GENERATIONAL)
            .short(&["ing"])
            .status()
            .printer(print::INGRESSES)
            .build("ingress"),
        Describe::of::<networking::NetworkPolicy>(&GENERATIONAL)
            .short(&["netpol"])
            .build("networkpolicy"),
        Describe::of::<networking::IngressClass>(&PLAIN).build("ingressclass"),
        // (the service CIDRs and the cluster IPs taken from them: `service_alloc`)
        Describe::of::<networking::ServiceCIDR>(&GENERATIONAL)
            .status()
            .printer(print::SERVICECIDRS)
            .build("servicecidr"),
        Describe::of::<networking::IPAddress>(&PLAIN)
            .names(NameRule::IpAddress)
            .printer(print::IPADDRESSES)
            .build("ipaddress"),
        // rbac.authorization.k8s.io/v1 (enforced by `crate::rbac`)
        Describe::of::<rbac::ClusterRole>(&PLAIN)
            .names(NameRule::PathSegment)
            .build("clusterrole"),
        Describe::of::<rbac::ClusterRoleBinding>(&PLAIN)
            .names(NameRule::PathSegment)
            .printer(print::CLUSTERROLEBINDINGS)
            .build("clusterrolebinding"),
        Describe::of::<rbac::Role>(&PLAIN)
            .names(NameRule::PathSegment)
            .build("role"),
        Describe::of::<rbac::RoleBinding>(&PLAIN)
            .names(NameRule::PathSegment)
            .printer(print::ROLEBINDINGS)
            .build("rolebinding"),
        // authentication.k8s.io/v1 and authorization.k8s.io/v1: create-only reviews
        Describe::create_only::<authn::SelfSubjectReview>(&PLAIN, reviews::self_subject_review)
            .build("selfsubjectreview"),
        Describe::create_only::<authn::TokenReview>(&PLAIN, reviews::token_review)
            .build("tokenreview"),
        Describe::create_only::<authz::LocalSubjectAccessReview>(
            &PLAIN,
            reviews::local_subject_access_review,
        )
        .build("localsubjectaccessreview"),
        Describe::create_only::<authz::SelfSubjectAccessReview>(
            &PLAIN,
            reviews::self_subject_access_review,
        )
        .build("selfsubjectaccessreview"),
        Describe::create_only::<authz::SelfSubjectRulesReview>(
            &PLAIN,
            reviews::self_subject_rules_review,
        )
        .build("selfsubjectrulesreview"),
        Describe::create_only::<authz::SubjectAccessReview>(&PLAIN, reviews::subject_access_review)
            .build("subjectaccessreview"),
        // certificates.k8s.io/v1 (storage rules in `csr`, signing in `crate::certificates`)
        Describe::of::<certificates::CertificateSigningRequest>(&PLAIN)
            .short(&["csr"])
            .status()
            .fields(fields::CERTIFICATE_SIGNING_REQUEST)
            .printer(print::CERTIFICATESIGNINGREQUESTS)
            .subresources(&[APPROVAL])
            .build("certificatesigningrequest"),
        // storage.k8s.io/v1
        Describe::of::<storage::StorageClass>(&PLAIN)
            .short(&["sc"])
            .printer(print::STORAGECLASSES)
            .build("storageclass"),
        Describe::of::<storage::VolumeAttributesClass>(&VOLUME_ATTRIBUTES_CLASS)
            .short(&["vac"])
            .printer(print::VOLUMEATTRIBUTESCLASSES)
            .build("volumeattributesclass"),
        Describe::of::<storage::CSIDriver>(&PLAIN)
            .printer(print::CSIDRIVERS)
            .build("csidriver"),
        Describe::of::<storage::CSINode>(&PLAIN)
            .printer(print::CSINODES)
            .build("csinode"),
        Describe::of::<storage::CSIStorageCapacity>(&PLAIN).build("csistoragecapacity"),
        Describe::of::<storage::VolumeAttachment>(&GENERATIONAL)
            .status()
            .printer(print::VOLUMEATTACHMENTS)
            .build("volumeattachment"),
        // node.k8s.io/v1 (pods naming a class are admitted by `runtime_class`)
        Describe::of::<node::RuntimeClass>(&PLAIN)
            .names(NameRule::Dns1123Subdomain)
            .printer(print::RUNTIMECLASSES)
            .build("runtimeclass"),
        // resource.k8s.io/v1 (dynamic resource allocation: the API; no driver allocates yet)
        Describe::of::<resource::DeviceClass>(&GENERATIONAL).build("deviceclass"),
        Describe::of::<resource::ResourceClaim>(&IMMUTABLE_SPEC)
            .status()
            .printer(print::RESOURCECLAIMS)
            .build("resourceclaim"),
        Describe::of::<resource::ResourceClaimTemplate>(&IMMUTABLE_SPEC)
            .build("resourceclaimtemplate"),
        Describe::of::<resource::ResourceSlice>(&GENERATIONAL)
            .fields(fields::RESOURCE_SLICE)
            .printer(print::RESOURCESLICES)
            .build("resourceslice"),
        // apiregistration.k8s.io/v1 (one Local APIService per served group-version:
        // `crate::apiservices`; those with a service: `crate::aggregator`)
        Describe::of::<apiregistration::APIService>(&API_SERVICE)
            .names(NameRule::PathSegment)
            .validate(valid::validate_api_service)
            .categories(&["api-extensions"])
            .status()
            .printer(print::APISERVICES)
            .build("apiservice"),
        // apiextensions.k8s.io/v1
        Describe::of::<apiextensions::CustomResourceDefinition>(&CRD)
            .short(&["crd", "crds"])
            .categories(&["api-extensions"])
            .status()
            .build("customresourcedefinition"),
        // admissionregistration.k8s.io/v1 (enforced by `admission::policy`)
        Describe::of::<admissionregistration::ValidatingAdmissionPolicy>(&VALIDATING_POLICY)
            .categories(&["api-extensions"])
            .status()
            .build("validatingadmissionpolicy"),
        Describe::of::<admissionregistration::ValidatingAdmissionPolicyBinding>(
            &VALIDATING_POLICY_BINDING,
        )
        .categories(&["api-extensions"])
        .build("validatingadmissionpolicybinding"),
        // (enforced by `admission::mutating_policy`)
        Describe::of::<admissionregistration::MutatingAdmissionPolicy>(&MUTATING_POLICY)
            .categories(&["api-extensions"])
            .printer(print::MUTATINGADMISSIONPOLICIES)
            .build("mutatingadmissionpolicy"),
        Describe::of::<admissionregistration::MutatingAdmissionPolicyBinding>(
            &MUTATING_POLICY_BINDING,
        )
        .categories(&["api-extensions"])
        .printer(print::MUTATINGADMISSIONPOLICYBINDINGS)
        .build("mutatingadmissionpolicybinding"),
        Describe::of::<admissionregistration::ValidatingWebhookConfiguration>(
            &WEBHOOK_CONFIGURATION,
        )
        .categories(&["api-extensions"])
        .build("validatingwebhookconfiguration"),
        Describe::of::<admissionregistration::MutatingWebhookConfiguration>(&WEBHOOK_CONFIGURATION)
            .categories(&["api-extensions"])
            .build("mutatingwebhookconfiguration"),
        // flowcontrol.apiserver.k8s.io/v1 (read by `crate::flowcontrol`)
        Describe::of::<flowcontrol::FlowSchema>(&GENERATIONAL)
            .status()
            .build("flowschema"),
        Describe::of::<flowcontrol::PriorityLevelConfiguration>(&GENERATIONAL)
            .status()
            .build("prioritylevelconfiguration"),
        // scheduling.k8s.io/v1
        Describe::of::<scheduling::PriorityClass>(&PRIORITY_CLASS)
            .short(&["pc"])
            .printer(print::PRIORITYCLASSES)
            .build("priorityclass"),
        // metrics.k8s.io/v1beta1 (computed from the kubelets' resource metrics)
        Describe::of::<super::metrics::types::NodeMetrics>(&PLAIN)
            .computed(super::metrics::node_metrics, None)
            .computed_get(super::metrics::node_metrics_get)
            .build("nodemetrics"),
        Describe::of::<super::metrics::types::PodMetrics>(&PLAIN)
            .computed(super::metrics::pod_metrics, None)
            .computed_get(super::metrics::pod_metrics_get)
            .build("podmetrics"),
    ]
}
