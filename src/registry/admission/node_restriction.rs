//! NodeRestriction (upstream's admission plugin of that name): what the Node authorizer lets
//! every kubelet write is narrowed to the writing node's own objects. A node may
//! - create only mirror pods bound to itself (owned by its Node, referencing nothing), delete
//!   and evict only pods bound to itself, update status only of pods bound to itself (not their
//!   labels), and never update a pod itself;
//! - create and modify only its own Node, never its taints, nor labels under
//!   `node-restriction.kubernetes.io/` or `kubernetes.io`/`k8s.io` labels outside the kubelet's
//!   set;
//! - touch only its own Lease in `kube-node-lease` and its own CSINode, write only the
//!   status of claims, and request service-account tokens only bound to a pod of its own.
//!
//! Checks that the URL decides run before the handler ([`check_request`]); those that need
//! the object run as storage hooks inside the write ([`NodeRestriction`]). Refusals are
//! upstream's 403s with its words.

use std::collections::BTreeSet;

use ferrokube_auth::rbac::node::node_identity;
use ferrokube_auth::rbac::RequestInfo;
use ferrokube_auth::UserInfo;
use futures::future::BoxFuture;
use serde_json::{Map, Value};

use crate::registry::hooks::{HookContext, StorageHooks, TxnExtras};
use crate::registry::Registry;
use crate::status::{ApiError, ApiResult};

/// Upstream's mirror-pod annotation.
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// Labels a kubelet may set on its Node beyond its own label namespaces.
const KUBELET_LABELS: &[&str] = &[
    "kubernetes.io/hostname",
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "node.kubernetes.io/windows-build",
];
/// Label namespaces (and their subdomains) that belong to the kubelet.
const KUBELET_LABEL_NAMESPACES: &[&str] = &["kubelet.kubernetes.io", "node.kubernetes.io"];

/// The node a request comes from, for writes NodeRestriction looks at.
fn writing_node(user: Option<&UserInfo>) -> Option<&str> {
    user.and_then(node_identity)
}

fn refuse(info: &RequestInfo, why: String) -> ApiError {
    let status = ferrokube_auth::rbac::forbidden_status_with(
        &info.api_group,
        &info.resource,
        &info.name,
        &why,
    );
    ApiError::forbidden(status["message"].as_str().unwrap_or_default().to_string())
        .with_details(status["details"].clone())
}

/// The checks the request line decides, before any handler runs (nothing is written when
/// they refuse). Only node identities and only writes are checked.
pub async fn check_request(
    registry: &Registry,
    user: &UserInfo,
    info: &RequestInfo,
) -> ApiResult<()> {
    let Some(node) = node_identity(user) else {
        return Ok(());
    };
    let write = matches!(
        info.verb.as_str(),
        "create" | "update" | "patch" | "delete" | "deletecollection"
    );
    if !write || !info.resource_request {
        return Ok(());
    }
    if node.is_empty() {
        return Err(refuse(
            info,
            format!("could not determine node from user {:?}", user.name),
        ));
    }
    match (info.api_group.as_str(), info.resource.as_str()) {
        ("", "pods") => check_pod(registry, node, info).await,
        ("", "nodes") if !(info.verb == "create" && info.subresource.is_empty()) => {
            match info.name == node {
                true => Ok(()),
                false => Err(refuse(
                    info,
                    format!(
                        "node {node:?} is not allowed to modify node {:?}",
                        info.name
                    ),
                )),
            }
        }
        ("", "persistentvolumeclaims") if info.subresource != "status" => {
            Err(refuse(info, "may only update PVC status".into()))
        }
        ("storage.k8s.io", "csinodes") if info.verb != "create" && info.name != node => {
            Err(refuse(
                info,
                "can only access CSINode with the same name as the requesting node".into(),
            ))
        }
        ("coordination.k8s.io", "leases") => {
            if info.namespace != "kube-node-lease" {
                return Err(refuse(
                    info,
                    "can only access leases in the \"kube-node-lease\" system namespace".into(),
                ));
            }
            if info.verb != "create" && info.name != node {
                return Err(refuse(
                    info,
                    "can only access node lease with the same name as the requesting node".into(),
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `spec.nodeName` of an existing pod; 404 when it does not exist (upstream returns the
/// lister's NotFound).
async fn bound_node(registry: &Registry, info: &RequestInfo) -> ApiResult<String> {
    let pod = registry
        .get_value("", "Pod", Some(&info.namespace), &info.name)
        .await?
        .ok_or_else(|| ApiError::not_found("", "pods", &info.name))?;
    Ok(pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string())
}

async fn check_pod(registry: &Registry, node: &str, info: &RequestInfo) -> ApiResult<()> {
    let verb = info.verb.as_str();
    match (info.subresource.as_str(), verb) {
        // Mirror-pod rules need the body: the storage hook checks them.
        ("", "create") => Ok(()),
        ("", "delete") => {
            if bound_node(registry, info).await? != node {
                return Err(refuse(
                    info,
                    format!("node {node:?} can only delete pods with spec.nodeName set to itself"),
                ));
            }
            Ok(())
        }
        ("", _) => Err(refuse(
            info,
            format!(
                "unexpected operation {:?}, node {node:?} can only create and delete mirror pods",
                operation(verb)
            ),
        )),
        // Checked by the storage hook against the object being replaced: no extra read on
        // every status write a kubelet makes.
        ("status", "update" | "patch") => Ok(()),
        ("eviction", "create") => {
            if bound_node(registry, info).await? != node {
                return Err(refuse(
                    info,
                    format!("node {node} can only evict pods with spec.nodeName set to itself"),
                ));
            }
            Ok(())
        }
        (sub, _) => Err(refuse(
            info,
            format!("unexpected pod subresource {sub:?}, only 'status' and 'eviction' are allowed"),
        )),
    }
}

/// Upstream's `admitServiceAccount`: a node's TokenRequest must be bound to a pod (by name and
/// uid) that is bound to the node.
pub async fn check_token_request(
    registry: &Registry,
    user: Option<&UserInfo>,
    namespace: &str,
    service_account: &str,
    request: &Value,
) -> ApiResult<()> {
    let Some(node) = writing_node(user) else {
        return Ok(());
    };
    let info = RequestInfo::resource("create", "", "serviceaccounts/token", namespace)
        .named(service_account);
    let bound = request.pointer("/spec/boundObjectRef");
    let text = |k: &str| {
        bound
            .and_then(|b| b.get(k))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    if text("apiVersion") != "v1" || text("kind") != "Pod" || text("name").is_empty() {
        return Err(refuse(
            &info,
            "node requested token not bound to a pod".into(),
        ));
    }
    if text("uid").is_empty() {
        return Err(refuse(
            &info,
            "node requested token with a pod binding without a uid".into(),
        ));
    }
    let pod = registry
        .get_value("", "Pod", Some(namespace), text("name"))
        .await?
        .ok_or_else(|| ApiError::not_found("", "pods", text("name")))?;
    if pod.pointer("/metadata/uid").and_then(Value::as_str) != Some(text("uid")) {
        return Err(refuse(&info, format!("the UID in the bound object reference ({}) does not match the UID in record. The object might have been deleted and then recreated", text("uid"))));
    }
    if pod.pointer("/spec/nodeName").and_then(Value::as_str) != Some(node) {
        return Err(refuse(
            &info,
            "node requested token bound to a pod scheduled on a different node".into(),
        ));
    }
    Ok(())
}

/// Upstream's admission operation names.
fn operation(verb: &str) -> &'static str {
    match verb {
        "create" => "CREATE",
        "delete" | "deletecollection" => "DELETE",
        _ => "UPDATE",
    }
}

/// The checks that need the object, as a storage hook on Pods, Nodes and Leases.
pub struct NodeRestriction;

impl StorageHooks for NodeRestriction {
    fn before_create<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        obj: &'a mut Value,
        _txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            let Some(node) = writing_node(ctx.user) else {
                return Ok(());
            };
            let d = ctx.descriptor;
            let why = match (d.group.as_str(), d.kind.as_str()) {
                ("", "Pod") => mirror_pod_refusal(ctx.registry, node, obj).await?,
                ("", "Node") => node_create_refusal(node, obj),
                ("coordination.k8s.io", "Lease") => (meta_name(obj) != node).then(|| {
                    "can only access node lease with the same name as the requesting node".into()
                }),
                ("storage.k8s.io", "CSINode") => (meta_name(obj) != node).then(|| {
                    "can only access CSINode with the same name as the requesting node".into()
                }),
                _ => None,
            };
            match why {
                Some(why) => Err(ApiError::admission_forbidden(
                    &d.group, &d.plural, obj, &why,
                )),
                None => Ok(()),
            }
        })
    }

    fn before_update<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        old: &'a Value,
        new: &'a mut Value,
        _txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            let Some(node) = writing_node(ctx.user) else {
                return Ok(());
            };
            let d = ctx.descriptor;
            let why = match (d.group.as_str(), d.kind.as_str()) {
                // Only status writes reach here (check_request refuses the rest).
                ("", "Pod") => pod_status_refusal(node, old, new),
                ("", "Node") => node_update_refusal(node, old, new),
                _ => None,
            };
            match why {
                Some(why) => Err(ApiError::admission_forbidden(
                    &d.group, &d.plural, new, &why,
                )),
                None => Ok(()),
            }
        })
    }
}

fn meta_name(obj: &Value) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn labels(obj: &Value) -> Map<String, Value> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn pod_status_refusal(node: &str, old: &Value, new: &Value) -> Option<String> {
    if old.pointer("/spec/nodeName").and_then(Value::as_str) != Some(node) {
        return Some(format!(
            "node {node:?} can only update pod status for pods with spec.nodeName set to itself"
        ));
    }
    (labels(old) != labels(new))
        .then(|| format!("node {node:?} cannot update labels through pod status"))
}

/// Upstream's `admitPodCreate`.
async fn mirror_pod_refusal(
    registry: &Registry,
    node: &str,
    pod: &Value,
) -> ApiResult<Option<String>> {
    let annotated = pod
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|a| a.contains_key(MIRROR_ANNOTATION));
    if !annotated {
        return Ok(Some(format!(
            "pod does not have {MIRROR_ANNOTATION:?} annotation, node {node:?} can only create mirror pods"
        )));
    }
    if pod.pointer("/spec/nodeName").and_then(Value::as_str) != Some(node) {
        return Ok(Some(format!(
            "node {node:?} can only create pods with spec.nodeName set to itself"
        )));
    }
    let owners = pod
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    match owners.as_slice() {
        [] => {
            return Ok(Some(format!(
                "node {node:?} can only create pods with an owner reference set to itself"
            )))
        }
        [owner] => {
            if let Some(why) = owner_refusal(registry, node, owner).await? {
                return Ok(Some(why));
            }
        }
        _ => {
            return Ok(Some(format!(
                "node {node:?} can only create pods with a single owner reference set to itself"
            )))
        }
    }
    Ok(references_refusal(node, pod))
}

async fn owner_refusal(
    registry: &Registry,
    node: &str,
    owner: &Value,
) -> ApiResult<Option<String>> {
    let text = |k: &str| owner.get(k).and_then(Value::as_str).unwrap_or_default();
    if text("apiVersion") != "v1" || text("kind") != "Node" || text("name") != node {
        return Ok(Some(format!(
            "node {node:?} can only create pods with an owner reference set to itself"
        )));
    }
    if owner.get("controller") != Some(&Value::Bool(true)) {
        return Ok(Some(format!(
            "node {node:?} can only create pods with a controller owner reference set to itself"
        )));
    }
    if owner.get("blockOwnerDeletion") == Some(&Value::Bool(true)) {
        return Ok(Some(format!(
            "node {node:?} must not set blockOwnerDeletion on an owner reference"
        )));
    }
    let actual = registry
        .get_value("", "Node", None, node)
        .await?
        .ok_or_else(|| ApiError::not_found("", "nodes", node))?;
    let uid = actual
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Ok((text("uid") != uid).then(|| {
        format!(
            "node {node} UID mismatch: expected {} got {uid}",
            text("uid")
        )
    }))
}

/// A mirror pod may reference no other API object.
fn references_refusal(node: &str, pod: &Value) -> Option<String> {
    let spec = pod.get("spec")?;
    if spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
    {
        return Some(format!(
            "node {node:?} can not create pods that reference a service account"
        ));
    }
    let mut as_bound = pod.clone();
    as_bound["spec"]["nodeName"] = Value::from(node);
    let refs = crate::rbac::node_graph::pod_refs(meta_name(pod), &as_bound)?;
    if !refs.secrets.is_empty() {
        return Some(format!(
            "node {node:?} can not create pods that reference secrets"
        ));
    }
    if !refs.configmaps.is_empty() {
        return Some(format!(
            "node {node:?} can not create pods that reference configmaps"
        ));
    }
    let volumes = spec.get("volumes").and_then(Value::as_array);
    let trust_bundles = volumes.into_iter().flatten().any(|v| {
        v.pointer("/projected/sources")
            .and_then(Value::as_array)
            .is_some_and(|s| s.iter().any(|s| s.get("clusterTrustBundle").is_some()))
    });
    if trust_bundles {
        return Some(format!(
            "node {node:?} can not create pods that reference clustertrustbundles"
        ));
    }
    let claims = volumes
        .into_iter()
        .flatten()
        .any(|v| v.get("persistentVolumeClaim").is_some());
    claims
        .then(|| format!("node {node:?} can not create pods that reference persistentvolumeclaims"))
}

fn node_create_refusal(node: &str, obj: &Value) -> Option<String> {
    let name = meta_name(obj);
    if name != node {
        return Some(format!(
            "node {node:?} is not allowed to modify node {name:?}"
        ));
    }
    if obj
        .pointer("/spec/configSource")
        .is_some_and(|c| !c.is_null())
    {
        return Some(format!(
            "node {node:?} is not allowed to create pods with a non-nil configSource"
        ));
    }
    let forbidden = forbidden_labels(&modified_labels(&labels(obj), &Map::new()));
    (!forbidden.is_empty()).then(|| {
        format!(
            "node {node:?} is not allowed to set the following labels: {}",
            forbidden.into_iter().collect::<Vec<_>>().join(", ")
        )
    })
}

fn node_update_refusal(node: &str, old: &Value, new: &Value) -> Option<String> {
    let name = meta_name(old);
    if name != node {
        return Some(format!(
            "node {node:?} is not allowed to modify node {name:?}"
        ));
    }
    let config = new.pointer("/spec/configSource").filter(|c| !c.is_null());
    if config.is_some() && config != old.pointer("/spec/configSource") {
        return Some(format!(
            "node {node:?} is not allowed to update configSource to a new non-nil configSource"
        ));
    }
    let taints = |v: &Value| {
        v.pointer("/spec/taints")
            .filter(|t| t.as_array().is_some_and(|a| !a.is_empty()))
            .cloned()
    };
    if taints(old) != taints(new) {
        return Some(format!("node {node:?} is not allowed to modify taints"));
    }
    let forbidden = forbidden_labels(&modified_labels(&labels(new), &labels(old)));
    (!forbidden.is_empty()).then(|| {
        format!(
            "is not allowed to modify labels: {}",
            forbidden.into_iter().collect::<Vec<_>>().join(", ")
        )
    })
}

/// Keys whose value differs between `a` and `b` (added, removed or changed).
fn modified_labels(a: &Map<String, Value>, b: &Map<String, Value>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (k, v) in a {
        if b.get(k) != Some(v) {
            out.insert(k.clone());
        }
    }
    for (k, v) in b {
        if a.get(k) != Some(v) {
            out.insert(k.clone());
        }
    }
    out
}

fn label_namespace(key: &str) -> &str {
    key.split_once('/').map(|(ns, _)| ns).unwrap_or("")
}

fn in_domain(namespace: &str, domain: &str) -> bool {
    namespace == domain || namespace.ends_with(&format!(".{domain}"))
}

fn is_kubelet_label(key: &str) -> bool {
    let ns = label_namespace(key);
    KUBELET_LABELS.contains(&key) || KUBELET_LABEL_NAMESPACES.iter().any(|d| in_domain(ns, d))
}

/// Upstream's `getForbiddenLabels`.
fn forbidden_labels(modified: &BTreeSet<String>) -> BTreeSet<String> {
    modified
        .iter()
        .filter(|key| {
            let ns = label_namespace(key);
            let restricted = in_domain(ns, "node-restriction.kubernetes.io");
            let kubernetes = in_domain(ns, "kubernetes.io") || in_domain(ns, "k8s.io");
            restricted || (kubernetes && !is_kubelet_label(key))
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_a_node_may_and_may_not_set() {
        let set = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<BTreeSet<_>>();
        let got = forbidden_labels(&set(&[
            "kubernetes.io/hostname",
            "node.kubernetes.io/exclude-from-external-load-balancers",
            "foo.kubelet.kubernetes.io/x",
            "example.com/team",
            "node-restriction.kubernetes.io/secure",
            "node-role.kubernetes.io/control-plane",
            "x.k8s.io/y",
        ]));
        assert_eq!(
            got,
            set(&[
                "node-restriction.kubernetes.io/secure",
                "node-role.kubernetes.io/control-plane",
                "x.k8s.io/y"
            ])
        );
    }

    #[test]
    fn node_updates_keep_taints_and_restricted_labels() {
        let old = json!({"metadata": {"name": "n1", "labels": {"a": "1"}}, "spec": {}});
        let mut new = old.clone();
        new["metadata"]["labels"]["example.com/x"] = json!("y");
        assert_eq!(node_update_refusal("n1", &old, &new), None);
        new["metadata"]["labels"]["node-restriction.kubernetes.io/x"] = json!("y");
        assert_eq!(
            node_update_refusal("n1", &old, &new).unwrap(),
            "is not allowed to modify labels: node-restriction.kubernetes.io/x"
        );
        let mut tainted = old.clone();
        tainted["spec"]["taints"] = json!([{"key": "k", "effect": "NoSchedule"}]);
        assert_eq!(
            node_update_refusal("n1", &old, &tainted).unwrap(),
            "node \"n1\" is not allowed to modify taints"
        );
        assert_eq!(
            node_update_refusal("n2", &old, &old).unwrap(),
            "node \"n2\" is not allowed to modify node \"n1\""
        );
        assert_eq!(
            node_create_refusal(
                "n1",
                &json!({"metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1"}}})
            ),
            None
        );
    }

    #[test]
    fn pod_status_only_for_its_own_pods() {
        let pod = json!({"metadata": {"labels": {"app": "a"}}, "spec": {"nodeName": "n1"}});
        assert_eq!(pod_status_refusal("n1", &pod, &pod), None);
        assert_eq!(
            pod_status_refusal("n2", &pod, &pod).unwrap(),
            "node \"n2\" can only update pod status for pods with spec.nodeName set to itself"
        );
        let mut relabeled = pod.clone();
        relabeled["metadata"]["labels"]["app"] = json!("b");
        assert_eq!(
            pod_status_refusal("n1", &pod, &relabeled).unwrap(),
            "node \"n1\" cannot update labels through pod status"
        );
        let mirror = json!({"metadata": {"name": "m"}, "spec": {"nodeName": "n1", "volumes": [{"name": "v", "secret": {"secretName": "s"}}]}});
        assert_eq!(
            references_refusal("n1", &mirror).unwrap(),
            "node \"n1\" can not create pods that reference secrets"
        );
    }
}
