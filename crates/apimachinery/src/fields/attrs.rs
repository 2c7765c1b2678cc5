//! Per-resource selectable fields, as kube-apiserver's `AddFieldLabelConversionFunc`
//! registrations (which fields a request may name) and `ToSelectableFields` (their values).

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

const META: &[&str] = &["metadata.name", "metadata.namespace"];
const POD: &[&str] = &[
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
const NODE: &[&str] = &["metadata.name", "spec.unschedulable"];
const RC: &[&str] = &["metadata.name", "metadata.namespace", "status.replicas"];
const EVENT: &[&str] = &[
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
const EVENTS_K8S_IO: &[&str] = &[
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
const NAMESPACE: &[&str] = &["status.phase", "metadata.name"];
const SECRET: &[&str] = &["type", "metadata.namespace", "metadata.name"];
const SERVICE: &[&str] = &[
    "metadata.namespace",
    "metadata.name",
    "spec.clusterIP",
    "spec.type",
];
const JOB: &[&str] = &["metadata.name", "metadata.namespace", "status.successful"];
const CSR: &[&str] = &["metadata.name", "spec.signerName"];

fn table(group: &str, resource: &str) -> (&'static [&'static str], Rejection) {
    match (group, resource) {
        ("", "pods") => (POD, Rejection::NotSupported),
        ("", "nodes") => (NODE, Rejection::NotSupported),
        ("", "replicationcontrollers") => (RC, Rejection::NotSupported),
        ("", "events") => (EVENT, Rejection::NotSupported),
        ("", "namespaces") => (NAMESPACE, Rejection::NotSupported),
        ("", "secrets") => (SECRET, Rejection::NotSupported),
        ("", "services") => (SERVICE, Rejection::NotSupported),
        ("events.k8s.io", "events") => (EVENTS_K8S_IO, Rejection::NotSupported),
        ("batch", "jobs") => (JOB, Rejection::BatchJob),
        ("certificates.k8s.io", "certificatesigningrequests") => (CSR, Rejection::NotSupported),
        _ => (META, Rejection::Default),
    }
}

/// Field names a request may use in `fieldSelector` for `group`/`resource`.
pub fn supported_fields(group: &str, resource: &str) -> &'static [&'static str] {
    table(group, resource).0
}

/// Checks every field of `sel` against the resource's conversion, with upstream's message for
/// the first unsupported one (the server answers it as 400 BadRequest).
pub fn validate_fields(group: &str, resource: &str, sel: &FieldSelector) -> Result<(), FieldError> {
    let (fields, rejection) = table(group, resource);
    for r in &sel.requirements {
        if fields.contains(&r.field.as_str()) {
            continue;
        }
        let msg = match rejection {
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

/// The value of a selectable `field` of `obj`, as upstream's `ToSelectableFields` renders it;
/// `None` when the resource does not support selecting on that field. A supported field absent
/// from the object reads as `""` (numbers and booleans as their Go defaults).
pub fn field_value(group: &str, resource: &str, obj: &Value, field: &str) -> Option<String> {
    if !supported_fields(group, resource).contains(&field) {
        return None;
    }
    let v = match field {
        "metadata.name" => text(obj, "/metadata/name"),
        "metadata.namespace" => text(obj, "/metadata/namespace"),
        _ => match (group, resource) {
            ("", "pods") => pod_field(obj, field),
            ("", "nodes") => bool_or_false(obj, "/spec/unschedulable"),
            ("", "replicationcontrollers") => int_or_zero(obj, "/status/replicas"),
            ("", "events") => core_event_field(obj, field),
            ("events.k8s.io", "events") => events_api_field(obj, field),
            ("", "namespaces") => text(obj, "/status/phase"),
            ("", "secrets") => text(obj, "/type"),
            ("", "services") => text(obj, &format!("/{}", field.replace('.', "/"))),
            ("batch", "jobs") => int_or_zero(obj, "/status/succeeded"),
            ("certificates.k8s.io", "certificatesigningrequests") => text(obj, "/spec/signerName"),
            _ => String::new(),
        },
    };
    Some(v)
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

    fn check(group: &str, resource: &str, sel: &str) -> Result<(), String> {
        let s = FieldSelector::parse(sel).map_err(|e| e.to_string())?;
        validate_fields(group, resource, &s).map_err(|e| e.to_string())
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
