//! Strategies of core/v1 kinds with defaults or lifecycle rules of their own.

use ferrokube_apimachinery::validation::FieldError;
use serde_json::{json, Value};

use super::{each_mut, get_mut, set_default, Strategy};

/// Pods: upstream defaults, Pending on create, graceful deletion once scheduled.
pub struct PodStrategy;
/// The pod strategy.
pub static POD: PodStrategy = PodStrategy;

/// Defaults of a pod spec (also used inside pod templates of workloads).
pub(crate) fn default_pod_spec(spec: &mut Value) {
    set_default(spec, &["restartPolicy"], json!("Always"));
    set_default(spec, &["dnsPolicy"], json!("ClusterFirst"));
    set_default(spec, &["schedulerName"], json!("default-scheduler"));
    set_default(spec, &["terminationGracePeriodSeconds"], json!(30));
    set_default(spec, &["securityContext"], json!({}));
    set_default(spec, &["enableServiceLinks"], json!(true));
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        each_mut(spec, &[list], default_container);
    }
    each_mut(spec, &["volumes"], |volume| {
        for (source, mode) in [("secret", "defaultMode"), ("configMap", "defaultMode")] {
            if volume.get(source).is_some() {
                set_default(volume, &[source, mode], json!(420));
            }
        }
    });
}

fn default_container(container: &mut Value) {
    set_default(
        container,
        &["terminationMessagePath"],
        json!("/dev/termination-log"),
    );
    set_default(container, &["terminationMessagePolicy"], json!("File"));
    let image = container.get("image").and_then(Value::as_str).unwrap_or("");
    set_default(
        container,
        &["imagePullPolicy"],
        json!(default_pull_policy(image)),
    );
    each_mut(container, &["ports"], |port| {
        set_default(port, &["protocol"], json!("TCP"))
    });
    set_default(container, &["resources"], json!({}));
}

/// Upstream: `Always` for `:latest` or untagged images, `IfNotPresent` otherwise.
pub(crate) fn default_pull_policy(image: &str) -> &'static str {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    match last.split_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ if image.contains('@') => "IfNotPresent",
        _ => "Always",
    }
}

/// Upstream's `SetDefaults_Pod`: a container (or the pod) that sets a limit but no request for a
/// resource requests its limit. Pods only: templates keep what their author wrote.
fn default_requests_to_limits(resources: &mut Value) {
    let Some(limits) = resources.get("limits").and_then(Value::as_object).cloned() else {
        return;
    };
    let requests = resources
        .as_object_mut()
        .map(|r| r.entry("requests").or_insert_with(|| json!({})));
    if let Some(Value::Object(requests)) = requests {
        for (name, amount) in limits {
            requests.entry(name).or_insert(amount);
        }
    }
}

impl Strategy for PodStrategy {
    fn default(&self, obj: &mut Value) {
        if let Some(spec) = get_mut(obj, &["spec"]) {
            default_pod_spec(spec);
            for list in ["containers", "initContainers"] {
                each_mut(spec, &[list], |c| {
                    if let Some(resources) = get_mut(c, &["resources"]) {
                        default_requests_to_limits(resources);
                    }
                });
            }
            if let Some(resources) = get_mut(spec, &["resources"]) {
                default_requests_to_limits(resources);
            }
        }
        // DefaultTolerationSeconds admission: pods tolerate an unready/unreachable node for 300 s.
        if let Some(spec) = get_mut(obj, &["spec"]) {
            for key in [
                "node.kubernetes.io/not-ready",
                "node.kubernetes.io/unreachable",
            ] {
                let tolerations = spec
                    .as_object_mut()
                    .map(|m| m.entry("tolerations").or_insert_with(|| json!([])));
                if let Some(Value::Array(list)) = tolerations {
                    let present = list.iter().any(|t| {
                        t.get("key").and_then(Value::as_str) == Some(key)
                            && t.get("effect")
                                .and_then(Value::as_str)
                                .is_none_or(|e| e == "NoExecute")
                    });
                    if !present {
                        list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
                    }
                }
            }
        }
    }

    fn prepare_create(&self, obj: &mut Value) {
        let qos = qos_class(obj.get("spec").unwrap_or(&Value::Null));
        if let Some(map) = obj.as_object_mut() {
            map.insert(
                "status".into(),
                json!({"phase": "Pending", "qosClass": qos}),
            );
        }
    }

    fn validate(&self, new: &Value, old: Option<&Value>) -> Vec<FieldError> {
        crate::registry::ephemeral::validate(new, old)
    }

    /// Pods count generations since 1.34 (KEP 5067): 1 on create whatever the client sent,
    /// +1 on every spec change (resizes and ephemeral containers included, status writes not)
    /// and when graceful deletion begins; the kubelet reports what it acted on as
    /// `status.observedGeneration`.
    fn tracks_generation(&self) -> bool {
        true
    }

    fn validate_update(&self, new: &Value, old: &Value, subresource: &str) -> Vec<FieldError> {
        match subresource {
            "" => crate::registry::pod_update::validate(new, old),
            crate::registry::resize::RESIZE => crate::registry::resize::validate(new, old),
            _ => Vec::new(),
        }
    }

    fn graceful_delete_seconds(&self, obj: &Value, requested: Option<i64>) -> Option<i64> {
        let scheduled = obj
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        let phase = obj
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !scheduled || phase == "Succeeded" || phase == "Failed" {
            return None;
        }
        let default = obj
            .pointer("/spec/terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(30);
        match requested.unwrap_or(default) {
            0 => None,
            seconds => Some(seconds.max(1)),
        }
    }
}

/// Upstream's QoS class: Guaranteed when every container's limits equal requests for cpu and
/// memory, BestEffort when nothing is set, Burstable otherwise.
/// A pod's QoS class from its spec (upstream's `ComputePodQOS`).
pub(crate) fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|k| spec.get(*k).and_then(Value::as_array))
        .flatten()
        .collect();
    let mut any_set = false;
    let mut guaranteed = true;
    for c in &containers {
        let requests = c.pointer("/resources/requests");
        let limits = c.pointer("/resources/limits");
        for res in ["cpu", "memory"] {
            let req = requests.and_then(|r| r.get(res));
            let lim = limits.and_then(|l| l.get(res));
            if req.is_some() || lim.is_some() {
                any_set = true;
            }
            match (req, lim) {
                (_, None) => guaranteed = false,
                (Some(r), Some(l)) if r != l => guaranteed = false,
                _ => {}
            }
        }
    }
    match (any_set, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

/// Namespaces: the `kubernetes` finalizer, Active phase, the metadata.name label.
pub struct NamespaceStrategy;
/// The namespace strategy.
pub static NAMESPACE: NamespaceStrategy = NamespaceStrategy;

impl Strategy for NamespaceStrategy {
    fn default(&self, obj: &mut Value) {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !name.is_empty() {
            if let Some(meta) = get_mut(obj, &["metadata"]).and_then(Value::as_object_mut) {
                let labels = meta.entry("labels").or_insert_with(|| json!({}));
                if labels.is_null() {
                    *labels = json!({});
                }
                if let Some(labels) = labels.as_object_mut() {
                    labels.insert("kubernetes.io/metadata.name".into(), json!(name));
                }
            }
        }
    }

    fn prepare_create(&self, obj: &mut Value) {
        if let Some(map) = obj.as_object_mut() {
            map.insert("spec".into(), json!({"finalizers": ["kubernetes"]}));
            map.insert("status".into(), json!({"phase": "Active"}));
        }
    }

    fn on_delete(&self, obj: &mut Value) {
        if let Some(map) = obj.as_object_mut() {
            map.insert("status".into(), json!({"phase": "Terminating"}));
        }
    }

    fn blocks_deletion(&self, obj: &Value) -> bool {
        obj.pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
    }
}

/// Services: ClusterIP type, session affinity, port defaults.
pub struct ServiceStrategy;
/// The service strategy.
pub static SERVICE: ServiceStrategy = ServiceStrategy;

impl Strategy for ServiceStrategy {
    fn default(&self, obj: &mut Value) {
        set_default(obj, &["spec", "type"], json!("ClusterIP"));
        set_default(obj, &["spec", "sessionAffinity"], json!("None"));
        set_default(obj, &["spec", "internalTrafficPolicy"], json!("Cluster"));
        set_default(obj, &["spec", "ipFamilyPolicy"], json!("SingleStack"));
        set_default(obj, &["spec", "ipFamilies"], json!(["IPv4"]));
        if let Some(spec) = get_mut(obj, &["spec"]) {
            each_mut(spec, &["ports"], |port| {
                set_default(port, &["protocol"], json!("TCP"));
                // Go clients send an unset IntOrString as 0 (its zero value is not omitted),
                // so upstream defaults 0 and "" like a missing targetPort.
                let unset = port
                    .get("targetPort")
                    .is_none_or(|t| t.is_null() || *t == json!(0) || *t == json!(""));
                if let (true, Some(p)) = (unset, port.get("port").cloned()) {
                    port["targetPort"] = p;
                }
            });
        }
    }

    fn prepare_create(&self, obj: &mut Value) {
        if let Some(map) = obj.as_object_mut() {
            map.insert("status".into(), json!({"loadBalancer": {}}));
        }
    }
}

/// Nodes: not namespaced, no special defaults beyond upstream's empty pod CIDR handling.
pub struct NodeStrategy;
/// The node strategy.
pub static NODE: NodeStrategy = NodeStrategy;
impl Strategy for NodeStrategy {}

/// Service accounts.
pub struct ServiceAccountStrategy;
/// The service account strategy.
pub static SERVICE_ACCOUNT: ServiceAccountStrategy = ServiceAccountStrategy;
impl Strategy for ServiceAccountStrategy {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_defaults_like_upstream() {
        assert_eq!(default_pull_policy("busybox"), "Always");
        assert_eq!(default_pull_policy("busybox:latest"), "Always");
        assert_eq!(default_pull_policy("busybox:1.36"), "IfNotPresent");
        assert_eq!(default_pull_policy("localhost:5000/busybox"), "Always");
        assert_eq!(
            default_pull_policy("localhost:5000/busybox:v2"),
            "IfNotPresent"
        );
        assert_eq!(default_pull_policy("busybox@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn service_target_ports_default_to_the_port() {
        // Go clients send an unset targetPort as 0; kube-rs and kubectl leave it out.
        let mut svc = json!({"spec": {"ports": [{"port": 80, "targetPort": 0},
            {"port": 81, "targetPort": ""}, {"port": 82}, {"port": 83, "targetPort": "http"},
            {"port": 84, "targetPort": 8084}]}});
        SERVICE.default(&mut svc);
        let targets: Vec<&Value> = svc["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| &p["targetPort"])
            .collect();
        assert_eq!(
            targets,
            [
                &json!(80),
                &json!(81),
                &json!(82),
                &json!("http"),
                &json!(8084)
            ]
        );
    }

    #[test]
    fn qos_classes() {
        assert_eq!(
            qos_class(&json!({"containers": [{"name": "a"}]})),
            "BestEffort"
        );
        let g = json!({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}}]});
        assert_eq!(qos_class(&g), "Guaranteed");
        let b = json!({"containers": [{"resources": {"requests": {"cpu": "1"}}}]});
        assert_eq!(qos_class(&b), "Burstable");
    }

    #[test]
    fn pod_requests_default_to_limits() {
        let mut pod = json!({"spec": {"containers": [{"name": "c", "image": "busybox:1",
            "resources": {"limits": {"cpu": "300m"}, "requests": {"memory": "150Mi"}}}]}});
        POD.default(&mut pod);
        assert_eq!(
            pod["spec"]["containers"][0]["resources"]["requests"],
            json!({"cpu": "300m", "memory": "150Mi"})
        );
    }

    #[test]
    fn pod_defaults_fill_containers_and_tolerations() {
        let mut pod = json!({"spec": {"containers": [{"name": "a", "image": "busybox", "ports": [{"containerPort": 80}]}]}});
        POD.default(&mut pod);
        assert_eq!(pod.pointer("/spec/restartPolicy"), Some(&json!("Always")));
        assert_eq!(
            pod.pointer("/spec/containers/0/imagePullPolicy"),
            Some(&json!("Always"))
        );
        assert_eq!(
            pod.pointer("/spec/containers/0/ports/0/protocol"),
            Some(&json!("TCP"))
        );
        assert_eq!(
            pod.pointer("/spec/tolerations")
                .and_then(Value::as_array)
                .map(Vec::len),
            Some(2)
        );
        POD.default(&mut pod);
        assert_eq!(
            pod.pointer("/spec/tolerations")
                .and_then(Value::as_array)
                .map(Vec::len),
            Some(2)
        );
    }
}
