//! Per-resource selectable fields, as kube-apiserver's `AddFieldLabelConversionFunc`
//! registrations (which fields a request may name) and `ToSelectableFields` (their values).

use std::sync::Arc;

use serde_json::Value;

use super::{FieldError, FieldSelector};
use crate::validation::go_quote;

/// How a resource's field-label conversion rejects unknown fields (the message differs).
#[derive(Clone, Copy)]
enum Rejection {
    /// `DefaultMetaV1FieldSelectorConversion` (resources without their own conversion).
    Default,
    /// `field label not supported: <field>`.
    NotSupported,
    /// batch/v1 Job's `field label "<field>" not supported for batchv1.Job`.
    BatchJob,
}

const META_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];
const POD_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
    // Old v1 clients send spec.host; the conversion maps it to spec.nodeName.
    "spec.host",
];
const NODE_FIELDS: &[&str] = &["metadata.name", "spec.unschedulable"];
const RC_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "status.replicas"];
const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    "metadata.namespace",
    "metadata.name",
];
const EVENTS_API_FIELDS: &[&str] = &[
    "reason",
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "regarding.resourceVersion",
    "regarding.fieldPath",
    "reportingController",
    "type",
    "metadata.namespace",
    "metadata.name",
];
const NAMESPACE_FIELDS: &[&str] = &["status.phase", "metadata.name"];
const SECRET_FIELDS: &[&str] = &["type", "metadata.namespace", "metadata.name"];
const SERVICE_FIELDS: &[&str] = &[
    "metadata.namespace",
    "metadata.name",
    "spec.clusterIP",
    "spec.type",
];
const JOB_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "status.successful"];
const CSR_FIELDS: &[&str] = &["metadata.name", "spec.signerName"];
const RESOURCE_SLICE_FIELDS: &[&str] = &["metadata.name", "spec.nodeName", "spec.driver"];

/// A kind's selectable fields (upstream's field-label conversion plus `ToSelectableFields`):
/// which fields a `fieldSelector` may name, how an unknown one is rejected, and each field's
/// value. Each kind's descriptor names the set it uses; [`META`] is upstream's default
/// (`metadata.name`, `metadata.namespace`).
#[derive(Clone)]
pub struct FieldAttrs {
    fields: Names,
    rejection: Rejection,
    /// The value of a supported field other than metadata.name/namespace.
    value: fn(&Value, &str) -> String,
}

impl std::fmt::Debug for FieldAttrs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldAttrs")
            .field(
                "fields",
                &match &self.fields {
                    Names::Fixed(n) => n.iter().map(|s| s.to_string()).collect(),
                    Names::Custom(n) => n.to_vec(),
                },
            )
            .finish_non_exhaustive()
    }
}

/// The field names of a kind: fixed for built-ins, from the CRD for custom resources.
#[derive(Clone)]
enum Names {
    Fixed(&'static [&'static str]),
    Custom(Arc<[String]>),
}

impl Names {
    fn contains(&self, field: &str) -> bool {
        match self {
            Names::Fixed(names) => names.contains(&field),
            Names::Custom(names) => names.iter().any(|n| n == field),
        }
    }
}

const fn attrs(fields: &'static [&'static str], value: fn(&Value, &str) -> String) -> FieldAttrs {
    FieldAttrs {
        fields: Names::Fixed(fields),
        rejection: Rejection::NotSupported,
        value,
    }
}

/// Kinds without their own conversion: metadata.name and metadata.namespace only.
pub const META: FieldAttrs = FieldAttrs {
    fields: Names::Fixed(META_FIELDS),
    rejection: Rejection::Default,
    value: |_, _| String::new(),
};
/// core/v1 Pod.
pub const POD: FieldAttrs = attrs(POD_FIELDS, pod_field);
/// core/v1 Node.
pub const NODE: FieldAttrs = attrs(NODE_FIELDS, |o, _| bool_or_false(o, "/spec/unschedulable"));
/// core/v1 ReplicationController.
pub const REPLICATION_CONTROLLER: FieldAttrs =
    attrs(RC_FIELDS, |o, _| int_or_zero(o, "/status/replicas"));
/// core/v1 Event.
pub const EVENT: FieldAttrs = attrs(EVENT_FIELDS, core_event_field);
/// events.k8s.io/v1 Event.
pub const EVENTS_API: FieldAttrs = attrs(EVENTS_API_FIELDS, events_api_field);
/// core/v1 Namespace.
pub const NAMESPACE: FieldAttrs = attrs(NAMESPACE_FIELDS, |o, _| text(o, "/status/phase"));
/// core/v1 Secret.
pub const SECRET: FieldAttrs = attrs(SECRET_FIELDS, |o, _| text(o, "/type"));
/// core/v1 Service.
pub const SERVICE: FieldAttrs = attrs(SERVICE_FIELDS, |o, f| {
    text(o, &format!("/{}", f.replace('.', "/")))
});
/// batch/v1 Job (its own rejection message).
pub const JOB: FieldAttrs = FieldAttrs {
    fields: Names::Fixed(JOB_FIELDS),
    rejection: Rejection::BatchJob,
    value: |o, _| int_or_zero(o, "/status/succeeded"),
};
/// certificates.k8s.io/v1 CertificateSigningRequest.
pub const CERTIFICATE_SIGNING_REQUEST: FieldAttrs =
    attrs(CSR_FIELDS, |o, _| text(o, "/spec/signerName"));

/// resource.k8s.io/v1 ResourceSlice (upstream's `ResourceSliceSelectorNodeName` / `...Driver`).
pub const RESOURCE_SLICE: FieldAttrs = attrs(RESOURCE_SLICE_FIELDS, |o, f| {
    text(o, &format!("/{}", f.replace('.', "/")))
});

impl FieldAttrs {
    /// A custom resource version's fields: metadata's two plus its CRD's `selectableFields`
    /// (JSON paths like `.spec.color`, selected as `spec.color`), whose values are read at
    /// those paths. With selectable fields, an unknown one is refused as upstream's
    /// apiextensions server does (`field label not supported`).
    pub fn custom_resource(selectable: &[String]) -> FieldAttrs {
        if selectable.is_empty() {
            return META;
        }
        let names: Vec<String> = META_FIELDS
            .iter()
            .map(|f| f.to_string())
            .chain(
                selectable
                    .iter()
                    .map(|p| p.trim_start_matches('.').to_string()),
            )
            .collect();
        FieldAttrs {
            fields: Names::Custom(names.into()),
            rejection: Rejection::NotSupported,
            value: |o, field| text(o, &format!("/{}", field.replace('.', "/"))),
        }
    }

    /// Checks every field of `sel` against the kind's conversion, with upstream's message for
    /// the first unsupported one (the server answers it as 400 BadRequest).
    pub fn validate(&self, sel: &FieldSelector) -> Result<(), FieldError> {
        for r in &sel.requirements {
            if self.fields.contains(&r.field) {
                continue;
            }
            let msg = match self.rejection {
                Rejection::Default => format!(
                    "{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
                    go_quote(&r.field)
                ),
                Rejection::NotSupported => format!("field label not supported: {}", r.field),
                Rejection::BatchJob => format!(
                    "field label {} not supported for batchv1.Job",
                    go_quote(&r.field)
                ),
            };
            return Err(FieldError::Unsupported(msg));
        }
        Ok(())
    }

    /// The value of a selectable `field` of `obj`, as upstream's `ToSelectableFields` renders
    /// it; `None` when the kind does not support selecting on that field. A supported field
    /// absent from the object reads as `""` (numbers and booleans as their Go defaults).
    pub fn value(&self, obj: &Value, field: &str) -> Option<String> {
        if !self.fields.contains(field) {
            return None;
        }
        Some(match field {
            "metadata.name" => text(obj, "/metadata/name"),
            "metadata.namespace" => text(obj, "/metadata/namespace"),
            _ => (self.value)(obj, field),
        })
    }
}

fn text(obj: &Value, ptr: &str) -> String {
    match obj.pointer(ptr) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn int_or_zero(obj: &Value, ptr: &str) -> String {
    obj.pointer(ptr)
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .to_string()
}

fn bool_or_false(obj: &Value, ptr: &str) -> String {
    obj.pointer(ptr)
        .and_then(Value::as_bool)
        .unwrap_or(false)
        .to_string()
}

fn pod_field(obj: &Value, field: &str) -> String {
    match field {
        "spec.nodeName" | "spec.host" => text(obj, "/spec/nodeName"),
        "spec.restartPolicy" => text(obj, "/spec/restartPolicy"),
        "spec.schedulerName" => text(obj, "/spec/schedulerName"),
        "spec.serviceAccountName" => text(obj, "/spec/serviceAccountName"),
        "spec.hostNetwork" => bool_or_false(obj, "/spec/hostNetwork"),
        "status.phase" => text(obj, "/status/phase"),
        // Upstream takes the first of status.podIPs, not the singular field.
        "status.podIP" => text(obj, "/status/podIPs/0/ip"),
        "status.nominatedNodeName" => text(obj, "/status/nominatedNodeName"),
        // Accepted by the conversion but never populated in the selectable set upstream.
        _ => String::new(),
    }
}

fn core_event_field(obj: &Value, field: &str) -> String {
    match field {
        "source" => {
            let component = text(obj, "/source/component");
            if component.is_empty() {
                text(obj, "/reportingComponent")
            } else {
                component
            }
        }
        f if f.starts_with("involvedObject.") => text(
            obj,
            &format!("/involvedObject/{}", &f["involvedObject.".len()..]),
        ),
        f => text(obj, &format!("/{f}")),
    }
}

fn events_api_field(obj: &Value, field: &str) -> String {
    match field {
        f if f.starts_with("regarding.") => {
            text(obj, &format!("/regarding/{}", &f["regarding.".len()..]))
        }
        f => text(obj, &format!("/{f}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs_of(group: &str, resource: &str) -> FieldAttrs {
        match (group, resource) {
            ("", "pods") => POD,
            ("", "nodes") => NODE,
            ("", "replicationcontrollers") => REPLICATION_CONTROLLER,
            ("", "events") => EVENT,
            ("events.k8s.io", "events") => EVENTS_API,
            ("", "namespaces") => NAMESPACE,
            ("", "secrets") => SECRET,
            ("", "services") => SERVICE,
            ("batch", "jobs") => JOB,
            _ => META,
        }
    }

    fn check(group: &str, resource: &str, sel: &str) -> Result<(), String> {
        let s = FieldSelector::parse(sel).map_err(|e| e.to_string())?;
        attrs_of(group, resource)
            .validate(&s)
            .map_err(|e| e.to_string())
    }

    fn field_value(group: &str, resource: &str, obj: &Value, field: &str) -> Option<String> {
        attrs_of(group, resource).value(obj, field)
    }

    #[test]
    fn unsupported_messages_per_resource() {
        assert_eq!(
            check("", "pods", "spec.foo=1"),
            Err("field label not supported: spec.foo".to_owned())
        );
        assert_eq!(
            check("apps", "deployments", "spec.replicas=1"),
            Err("\"spec.replicas\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"".to_owned())
        );
        assert_eq!(
            check("batch", "jobs", "x=1"),
            Err("field label \"x\" not supported for batchv1.Job".to_owned())
        );
        assert_eq!(
            check("", "nodes", "metadata.namespace=a"),
            Err("field label not supported: metadata.namespace".to_owned())
        );
        assert!(check("", "pods", "spec.nodeName=a,status.phase!=Running").is_ok());
        assert!(check("", "services", "spec.type=ClusterIP,spec.clusterIP=None").is_ok());
        assert!(check("", "secrets", "type=Opaque").is_ok());
        assert!(check("", "events", "involvedObject.uid=1,reason=x,source=kubelet").is_ok());
        assert!(check(
            "events.k8s.io",
            "events",
            "regarding.name=x,reportingController=y"
        )
        .is_ok());
        assert!(check("events.k8s.io", "events", "source=x").is_err());
    }

    #[test]
    fn values_per_resource() {
        let node = json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}});
        assert_eq!(
            field_value("", "nodes", &node, "spec.unschedulable").as_deref(),
            Some("true")
        );
        assert_eq!(
            field_value("", "nodes", &json!({}), "spec.unschedulable").as_deref(),
            Some("false")
        );
        let ev = json!({"involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Started", "reportingComponent": "kubelet"});
        assert_eq!(
            field_value("", "events", &ev, "involvedObject.kind").as_deref(),
            Some("Pod")
        );
        assert_eq!(
            field_value("", "events", &ev, "source").as_deref(),
            Some("kubelet")
        );
        let ev2 = json!({"regarding": {"name": "p"}, "reportingController": "c"});
        assert_eq!(
            field_value("events.k8s.io", "events", &ev2, "regarding.name").as_deref(),
            Some("p")
        );
        assert_eq!(
            field_value("events.k8s.io", "events", &ev2, "reportingController").as_deref(),
            Some("c")
        );
        assert_eq!(
            field_value(
                "batch",
                "jobs",
                &json!({"status": {"succeeded": 2}}),
                "status.successful"
            )
            .as_deref(),
            Some("2")
        );
        assert_eq!(
            field_value("", "replicationcontrollers", &json!({}), "status.replicas").as_deref(),
            Some("0")
        );
        assert_eq!(
            field_value(
                "",
                "namespaces",
                &json!({"status": {"phase": "Active"}}),
                "status.phase"
            )
            .as_deref(),
            Some("Active")
        );
        assert_eq!(
            field_value(
                "",
                "services",
                &json!({"spec": {"type": "NodePort"}}),
                "spec.type"
            )
            .as_deref(),
            Some("NodePort")
        );
        assert_eq!(field_value("", "configmaps", &json!({}), "data.x"), None);
    }
}
