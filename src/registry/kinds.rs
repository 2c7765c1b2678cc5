//! The table of built-in kinds we serve: one line per kind. A new kind is a line here (and a
//! strategy when it needs one), never a new handler.

use k8s_openapi::api::{
    apps::v1 as apps, batch::v1 as batch, coordination::v1 as coordination, core::v1 as core,
    discovery::v1 as discovery, events::v1 as events, networking::v1 as networking,
    policy::v1 as policy, rbac::v1 as rbac, scheduling::v1 as scheduling, storage::v1 as storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;

use super::descriptor::{Describe, ResourceDescriptor};
use super::strategy::*;

const ALL: &[&str] = &["all"];

/// Every built-in kind, in the order discovery lists them.
pub fn builtin_kinds() -> Vec<ResourceDescriptor> {
    vec![
        // core/v1
        Describe::of::<core::Namespace>(&NAMESPACE)
            .short(&["ns"])
            .status()
            .build("namespace"),
        Describe::of::<core::Pod>(&POD)
            .short(&["po"])
            .categories(ALL)
            .status()
            .build("pod"),
        Describe::of::<core::Service>(&SERVICE)
            .short(&["svc"])
            .categories(ALL)
            .status()
            .build("service"),
        Describe::of::<core::Endpoints>(&PLAIN)
            .short(&["ep"])
            .build("endpoints"),
        Describe::of::<core::ConfigMap>(&PLAIN)
            .short(&["cm"])
            .build("configmap"),
        Describe::of::<core::Secret>(&SECRET).build("secret"),
        Describe::of::<core::ServiceAccount>(&SERVICE_ACCOUNT)
            .short(&["sa"])
            .build("serviceaccount"),
        Describe::of::<core::Node>(&NODE)
            .short(&["no"])
            .status()
            .build("node"),
        Describe::of::<core::Event>(&PLAIN)
            .short(&["ev"])
            .build("event"),
        Describe::of::<core::ReplicationController>(&REPLICATION_CONTROLLER)
            .short(&["rc"])
            .categories(ALL)
            .status()
            .scale("/spec/selector")
            .build("replicationcontroller"),
        Describe::of::<core::PodTemplate>(&PLAIN).build("podtemplate"),
        Describe::of::<core::LimitRange>(&PLAIN)
            .short(&["limits"])
            .build("limitrange"),
        Describe::of::<core::ResourceQuota>(&PLAIN)
            .short(&["quota"])
            .status()
            .build("resourcequota"),
        Describe::of::<core::PersistentVolume>(&PLAIN)
            .short(&["pv"])
            .status()
            .build("persistentvolume"),
        Describe::of::<core::PersistentVolumeClaim>(&PLAIN)
            .short(&["pvc"])
            .status()
            .build("persistentvolumeclaim"),
        // apps/v1
        Describe::of::<apps::Deployment>(&DEPLOYMENT)
            .short(&["deploy"])
            .categories(ALL)
            .status()
            .scale("/spec/selector")
            .build("deployment"),
        Describe::of::<apps::ReplicaSet>(&REPLICASET)
            .short(&["rs"])
            .categories(ALL)
            .status()
            .scale("/spec/selector")
            .build("replicaset"),
        Describe::of::<apps::DaemonSet>(&DAEMONSET)
            .short(&["ds"])
            .categories(ALL)
            .status()
            .build("daemonset"),
        Describe::of::<apps::StatefulSet>(&STATEFULSET)
            .short(&["sts"])
            .categories(ALL)
            .status()
            .scale("/spec/selector")
            .build("statefulset"),
        Describe::of::<apps::ControllerRevision>(&PLAIN).build("controllerrevision"),
        // batch/v1
        Describe::of::<batch::Job>(&JOB)
            .categories(ALL)
            .status()
            .build("job"),
        Describe::of::<batch::CronJob>(&CRONJOB)
            .short(&["cj"])
            .categories(ALL)
            .status()
            .build("cronjob"),
        // coordination.k8s.io/v1
        Describe::of::<coordination::Lease>(&PLAIN).build("lease"),
        // discovery.k8s.io/v1
        Describe::of::<discovery::EndpointSlice>(&PLAIN).build("endpointslice"),
        // events.k8s.io/v1
        Describe::of::<events::Event>(&PLAIN)
            .short(&["ev"])
            .build("event"),
        // policy/v1
        Describe::of::<policy::PodDisruptionBudget>(&GENERATIONAL)
            .short(&["pdb"])
            .status()
            .build("poddisruptionbudget"),
        // networking.k8s.io/v1
        Describe::of::<networking::Ingress>(&GENERATIONAL)
            .short(&["ing"])
            .status()
            .build("ingress"),
        Describe::of::<networking::NetworkPolicy>(&GENERATIONAL)
            .short(&["netpol"])
            .build("networkpolicy"),
        Describe::of::<networking::IngressClass>(&PLAIN).build("ingressclass"),
        // rbac.authorization.k8s.io/v1 (stored; enforcement comes with the RBAC authorizer)
        Describe::of::<rbac::ClusterRole>(&PLAIN).build("clusterrole"),
        Describe::of::<rbac::ClusterRoleBinding>(&PLAIN).build("clusterrolebinding"),
        Describe::of::<rbac::Role>(&PLAIN).build("role"),
        Describe::of::<rbac::RoleBinding>(&PLAIN).build("rolebinding"),
        // storage.k8s.io/v1
        Describe::of::<storage::StorageClass>(&PLAIN)
            .short(&["sc"])
            .build("storageclass"),
        // apiextensions.k8s.io/v1
        Describe::of::<apiextensions::CustomResourceDefinition>(&CRD)
            .short(&["crd", "crds"])
            .categories(&["api-extensions"])
            .status()
            .build("customresourcedefinition"),
        // scheduling.k8s.io/v1
        Describe::of::<scheduling::PriorityClass>(&PLAIN)
            .short(&["pc"])
            .build("priorityclass"),
    ]
}
