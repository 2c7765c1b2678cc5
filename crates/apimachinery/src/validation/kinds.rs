//! Per-kind validation: name rules and the handful of required fields upstream enforces.
//!
//! Small functions, one per kind with checks of its own; the server's kind descriptors say
//! which applies to which kind (kinds without one only get `ObjectMeta` validation).

use serde_json::{Map, Value};

use super::errors::{go_map_literal, BadValue, FieldError};
use super::names::{is_config_map_key, is_dns1123_label, is_valid_port_num};
use crate::labels::Selector;

/// Upper bound on the summed size of ConfigMap or Secret data (`MaxSecretSize`).
pub const MAX_DATA_SIZE_BYTES: usize = 1024 * 1024;

/// A kind's own checks beyond `ObjectMeta` (each kind's descriptor names its validator).
pub type KindValidator = fn(&Value) -> Vec<FieldError>;

fn s(v: Option<&Value>) -> &str {
    v.and_then(Value::as_str).unwrap_or("")
}

/// Upstream's checks of this kind (see the module docs).
pub fn validate_pod(obj: &Value) -> Vec<FieldError> {
    validate_pod_spec(obj.get("spec"), "spec")
}

const RESTART_POLICIES: [&str; 3] = ["Always", "OnFailure", "Never"];

/// Containers present, named (DNS-1123 label, unique), with images and valid ports.
/// PodTemplate: the template's pod spec.
pub fn validate_pod_template(obj: &Value) -> Vec<FieldError> {
    validate_pod_spec(obj.pointer("/template/spec"), "template.spec")
}

fn validate_pod_spec(spec: Option<&Value>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let empty = Value::Null;
    let spec = spec.unwrap_or(&empty);
    let mut seen: Vec<String> = Vec::new();
    let containers = spec.get("containers").and_then(Value::as_array);
    if containers.is_none_or(|c| c.is_empty()) {
        errs.push(FieldError::required(&format!("{path}.containers"), ""));
    }
    for (list_name, list) in [
        ("initContainers", spec.get("initContainers")),
        ("containers", spec.get("containers")),
    ] {
        let Some(list) = list.and_then(Value::as_array) else {
            continue;
        };
        for (i, c) in list.iter().enumerate() {
            let cpath = format!("{path}.{list_name}[{i}]");
            let name = s(c.get("name"));
            if name.is_empty() {
                errs.push(FieldError::required(&format!("{cpath}.name"), ""));
            } else {
                for msg in is_dns1123_label(name) {
                    errs.push(FieldError::invalid(&format!("{cpath}.name"), name, &msg));
                }
                if seen.iter().any(|n| n == name) {
                    errs.push(FieldError::duplicate(&format!("{cpath}.name"), name));
                } else {
                    seen.push(name.to_owned());
                }
            }
            if s(c.get("image")).trim().is_empty() {
                errs.push(FieldError::required(&format!("{cpath}.image"), ""));
            }
            if let Some(ports) = c.get("ports").and_then(Value::as_array) {
                for (j, p) in ports.iter().enumerate() {
                    let port = p.get("containerPort").and_then(Value::as_i64).unwrap_or(0);
                    let ppath = format!("{cpath}.ports[{j}].containerPort");
                    if port == 0 {
                        errs.push(FieldError::required(&ppath, ""));
                    } else {
                        for msg in is_valid_port_num(port) {
                            errs.push(FieldError::invalid(&ppath, port, &msg));
                        }
                    }
                }
            }
        }
    }
    errs.extend(super::validate_sysctls(
        spec.get("securityContext"),
        spec,
        path,
    ));
    if let Some(policy) = spec.get("restartPolicy").and_then(Value::as_str) {
        if !RESTART_POLICIES.contains(&policy) {
            errs.push(FieldError::not_supported(
                &format!("{path}.restartPolicy"),
                policy,
                &RESTART_POLICIES,
            ));
        }
    }
    errs
}

fn validate_data_keys(obj: &Value, field: &str, other: &str, total: &mut usize) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(map) = obj.get(field).and_then(Value::as_object) else {
        return errs;
    };
    let other_map = obj.get(other).and_then(Value::as_object);
    for (k, v) in map {
        let path = format!("{field}[{k}]");
        for msg in is_config_map_key(k) {
            errs.push(FieldError::invalid(&path, k.as_str(), &msg));
        }
        if other_map.is_some_and(|m| m.contains_key(k)) {
            errs.push(FieldError::invalid(
                &path,
                k.as_str(),
                &format!("duplicate of key present in {other}"),
            ));
        }
        *total += v.as_str().map_or(0, str::len);
    }
    errs
}

/// Upstream's checks of this kind (see the module docs).
pub fn validate_config_map(obj: &Value) -> Vec<FieldError> {
    let mut total = 0;
    let mut errs = validate_data_keys(obj, "data", "binaryData", &mut total);
    errs.extend(validate_data_keys(obj, "binaryData", "data", &mut total));
    if total > MAX_DATA_SIZE_BYTES {
        errs.push(FieldError::too_long("", MAX_DATA_SIZE_BYTES));
    }
    errs
}

/// Upstream's checks of this kind (see the module docs).
pub fn validate_secret(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0;
    let data = obj.get("data").and_then(Value::as_object);
    let string_data = obj.get("stringData").and_then(Value::as_object);
    for (field, map) in [("data", data), ("stringData", string_data)] {
        let Some(map) = map else { continue };
        for (k, v) in map {
            for msg in is_config_map_key(k) {
                errs.push(FieldError::invalid(
                    &format!("{field}[{k}]"),
                    k.as_str(),
                    &msg,
                ));
            }
            total += v.as_str().map_or(0, str::len);
        }
    }
    if total > MAX_DATA_SIZE_BYTES {
        errs.push(FieldError::too_long("data", MAX_DATA_SIZE_BYTES));
    }
    let has = |key: &str| {
        data.is_some_and(|m| m.contains_key(key))
            || string_data.is_some_and(|m| m.contains_key(key))
    };
    let required_keys: &[&str] = match s(obj.get("type")) {
        "kubernetes.io/dockercfg" => &[".dockercfg"],
        "kubernetes.io/dockerconfigjson" => &[".dockerconfigjson"],
        "kubernetes.io/ssh-auth" => &["ssh-privatekey"],
        "kubernetes.io/tls" => &["tls.key", "tls.crt"],
        "kubernetes.io/service-account-token" => {
            if s(obj.pointer("/metadata/annotations/kubernetes.io~1service-account.name"))
                .is_empty()
            {
                errs.push(FieldError::required(
                    "metadata.annotations[kubernetes.io/service-account.name]",
                    "",
                ));
            }
            &[]
        }
        _ => &[],
    };
    for key in required_keys {
        if !has(key) {
            errs.push(FieldError::required(&format!("data[{key}]"), ""));
        }
    }
    errs
}

const SERVICE_TYPES: [&str; 4] = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];

/// Upstream's checks of this kind (see the module docs).
pub fn validate_service(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let empty = Value::Null;
    let spec = obj.get("spec").unwrap_or(&empty);
    let svc_type = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    if !SERVICE_TYPES.contains(&svc_type) {
        errs.push(FieldError::not_supported(
            "spec.type",
            svc_type,
            &SERVICE_TYPES,
        ));
    }
    let headless = s(spec.get("clusterIP")) == "None";
    if svc_type == "ExternalName" && s(spec.get("externalName")).is_empty() {
        errs.push(FieldError::required("spec.externalName", ""));
    }
    let ports = spec.get("ports").and_then(Value::as_array);
    if ports.is_none_or(|p| p.is_empty()) && !headless && svc_type != "ExternalName" {
        errs.push(FieldError::required("spec.ports", ""));
    }
    let ports = ports.map(Vec::as_slice).unwrap_or_default();
    let mut names: Vec<&str> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        let name = s(p.get("name"));
        if ports.len() > 1 && name.is_empty() {
            errs.push(FieldError::required(&format!("{path}.name"), ""));
        } else if !name.is_empty() {
            for msg in is_dns1123_label(name) {
                errs.push(FieldError::invalid(&format!("{path}.name"), name, &msg));
            }
            if names.contains(&name) {
                errs.push(FieldError::duplicate(&format!("{path}.name"), name));
            }
            names.push(name);
        }
        let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
        for msg in is_valid_port_num(port) {
            errs.push(FieldError::invalid(&format!("{path}.port"), port, &msg));
        }
        if let Some(proto) = p.get("protocol").and_then(Value::as_str) {
            if !PROTOCOLS.contains(&proto) {
                errs.push(FieldError::not_supported(
                    &format!("{path}.protocol"),
                    proto,
                    &PROTOCOLS,
                ));
            }
        }
    }
    errs
}

fn validate_replicas(obj: &Value, errs: &mut Vec<FieldError>) {
    if let Some(r) = obj.pointer("/spec/replicas").and_then(Value::as_i64) {
        if r < 0 {
            errs.push(FieldError::invalid(
                "spec.replicas",
                r,
                "must be greater than or equal to 0",
            ));
        }
    }
}

fn template_labels(obj: &Value, template_ptr: &str) -> Map<String, Value> {
    obj.pointer(&format!("{template_ptr}/metadata/labels"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Upstream's checks of this kind (see the module docs).
pub fn validate_replication_controller(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_replicas(obj, &mut errs);
    if let Some(sel) = obj.pointer("/spec/selector").and_then(Value::as_object) {
        let labels = template_labels(obj, "/spec/template");
        if !sel.is_empty() && sel.iter().any(|(k, v)| labels.get(k) != Some(v)) {
            errs.push(FieldError::invalid(
                "spec.template.metadata.labels",
                BadValue::Raw(go_map_literal(&labels)),
                "`selector` does not match template `labels`",
            ));
        }
    }
    if obj.pointer("/spec/template").is_some() {
        errs.extend(validate_pod_spec(
            obj.pointer("/spec/template/spec"),
            "spec.template.spec",
        ));
    }
    errs
}

/// Upstream `ValidateLabelSelector`: each `matchExpressions` requirement has a label name for a
/// key, a known operator and values exactly when the operator needs them, each a label value;
/// `matchLabels` are valid labels.
pub fn validate_label_selector(sel: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let exprs = sel.get("matchExpressions").and_then(Value::as_array);
    for (i, req) in exprs.into_iter().flatten().enumerate() {
        let at = format!("{path}.matchExpressions[{i}]");
        let key = s(req.get("key"));
        for msg in super::is_qualified_name(key) {
            errs.push(FieldError::invalid(&format!("{at}.key"), key, &msg));
        }
        let values = req.get("values").and_then(Value::as_array);
        for (j, value) in values.into_iter().flatten().enumerate() {
            let value = value.as_str().unwrap_or("");
            for msg in super::is_valid_label_value(value) {
                errs.push(FieldError::invalid(
                    &format!("{at}.values[{j}]"),
                    value,
                    &msg,
                ));
            }
        }
        let has_values = req
            .get("values")
            .and_then(Value::as_array)
            .is_some_and(|v| !v.is_empty());
        match s(req.get("operator")) {
            "In" | "NotIn" if !has_values => errs.push(FieldError::required(
                &format!("{at}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if has_values => errs.push(FieldError::forbidden(
                &format!("{at}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errs.push(FieldError::invalid(
                &format!("{at}.operator"),
                other,
                "not a valid selector operator",
            )),
        }
    }
    errs.extend(super::validate_labels(
        sel.get("matchLabels"),
        &format!("{path}.matchLabels"),
    ));
    errs
}

/// Selector required, non-empty, matching the template labels; then the pod template.
fn validate_selector_and_template(
    obj: &Value,
    template_ptr: &str,
    template_path: &str,
    kind_word: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match obj.pointer("/spec/selector") {
        None | Some(Value::Null) => errs.push(FieldError::required("spec.selector", "")),
        Some(sel) => {
            errs.extend(validate_label_selector(sel, "spec.selector"));
            match Selector::from_label_selector(Some(sel)) {
                Ok(selector) if selector.is_empty() => errs.push(FieldError::invalid(
                    "spec.selector",
                    BadValue::Raw(sel.to_string()),
                    &format!("empty selector is invalid for {kind_word}"),
                )),
                Ok(selector) => {
                    let labels = template_labels(obj, template_ptr);
                    if !selector.matches(&labels) {
                        errs.push(FieldError::invalid(
                            &format!("{template_path}.metadata.labels"),
                            BadValue::Raw(go_map_literal(&labels)),
                            "`selector` does not match template `labels`",
                        ));
                    }
                }
                // Upstream reports the structural errors above plus this summary.
                Err(_) => errs.push(FieldError::invalid(
                    "spec.selector",
                    BadValue::Raw(sel.to_string()),
                    "invalid label selector",
                )),
            }
        }
    }
    errs.extend(validate_pod_spec(
        obj.pointer(&format!("{template_ptr}/spec")),
        &format!("{template_path}.spec"),
    ));
    errs
}

/// Upstream's checks of this kind (see the module docs).
pub fn validate_apps_workload(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_replicas(obj, &mut errs);
    let word = match s(obj.get("kind")) {
        "ReplicaSet" => "replicaset",
        "DaemonSet" => "daemonset",
        "StatefulSet" => "statefulset",
        _ => "deployment",
    };
    errs.extend(validate_selector_and_template(
        obj,
        "/spec/template",
        "spec.template",
        word,
    ));
    if word == "daemonset" {
        if let Some(ru) = obj.pointer("/spec/updateStrategy/rollingUpdate") {
            errs.extend(validate_daemonset_rolling_update(ru));
        }
    }
    errs
}

/// Upstream `ValidateRollingUpdateDaemonSet`'s rule that exactly one of `maxSurge` and
/// `maxUnavailable` is non-zero (both are defaulted before validation: 0 and 1).
fn validate_daemonset_rolling_update(ru: &Value) -> Vec<FieldError> {
    const PATH: &str = "spec.updateStrategy.rollingUpdate";
    // Go's `getIntOrPercentValue`: the number, with a trailing `%` dropped.
    let value = |v: Option<&Value>| match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.trim_end_matches('%').parse().unwrap_or(0),
        _ => 0,
    };
    let surge = ru.get("maxSurge");
    let has_surge = value(surge) != 0;
    let has_unavailable = value(ru.get("maxUnavailable")) != 0;
    if has_surge && has_unavailable {
        vec![FieldError::invalid(
            &format!("{PATH}.maxSurge"),
            super::errors::BadValue::Raw(go_int_or_string(surge)),
            "may not be set when maxUnavailable is non-zero",
        )]
    } else if !has_surge && !has_unavailable {
        vec![FieldError::required(
            &format!("{PATH}.maxUnavailable"),
            "cannot be 0 when maxSurge is 0",
        )]
    } else {
        Vec::new()
    }
}

/// How Go's `%#v` prints an `intstr.IntOrString` in a field error.
fn go_int_or_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => {
            format!("intstr.IntOrString{{Type:1, IntVal:0, StrVal:{s:?}}}")
        }
        other => {
            let n = other.and_then(Value::as_i64).unwrap_or(0);
            format!("intstr.IntOrString{{Type:0, IntVal:{n}, StrVal:\"\"}}")
        }
    }
}

const JOB_RESTART_POLICIES: [&str; 2] = ["OnFailure", "Never"];

fn validate_job_template(obj: &Value, spec_ptr: &str, spec_path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let policy = s(obj.pointer(&format!("{spec_ptr}/template/spec/restartPolicy")));
    if !JOB_RESTART_POLICIES.contains(&policy) {
        errs.push(FieldError::not_supported(
            &format!("{spec_path}.template.spec.restartPolicy"),
            policy,
            &JOB_RESTART_POLICIES,
        ));
    }
    errs.extend(validate_pod_spec(
        obj.pointer(&format!("{spec_ptr}/template/spec")),
        &format!("{spec_path}.template.spec"),
    ));
    errs
}

/// Upstream's checks of this kind (see the module docs).
pub fn validate_job(obj: &Value) -> Vec<FieldError> {
    validate_job_template(obj, "/spec", "spec")
}

/// Upstream's checks of this kind (see the module docs).
pub fn validate_cron_job(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let schedule = s(obj.pointer("/spec/schedule"));
    if schedule.is_empty() {
        errs.push(FieldError::required("spec.schedule", ""));
    } else if let Err(msg) = super::cron::parse_standard(schedule) {
        errs.push(FieldError::invalid("spec.schedule", schedule, &msg));
    }
    if super::cron::schedule_has_tz(schedule) {
        errs.push(FieldError::invalid(
            "spec.schedule",
            schedule,
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        ));
    }
    if let Some(tz) = obj.pointer("/spec/timeZone").and_then(Value::as_str) {
        if let Err(msg) = super::cron::time_zone(tz) {
            errs.push(FieldError::invalid("spec.timeZone", tz, &msg));
        }
    }
    errs.extend(validate_job_template(
        obj,
        "/spec/jobTemplate/spec",
        "spec.jobTemplate.spec",
    ));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msgs(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    /// The validator the server's descriptor of (group, kind) names.
    fn validate_kind(group: &str, kind: &str, obj: &Value) -> Vec<FieldError> {
        let f: KindValidator = match (group, kind) {
            ("", "Pod") => validate_pod,
            ("", "ConfigMap") => validate_config_map,
            ("", "Secret") => validate_secret,
            ("", "Service") => validate_service,
            ("apps", _) => validate_apps_workload,
            ("batch", "Job") => validate_job,
            ("batch", "CronJob") => validate_cron_job,
            _ => return Vec::new(),
        };
        f(obj)
    }

    #[test]
    fn pod_requires_containers_names_images() {
        assert_eq!(
            msgs(&validate_kind("", "Pod", &json!({"spec": {}}))),
            vec!["spec.containers: Required value"]
        );
        let errs = validate_kind(
            "",
            "Pod",
            &json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "a"}, {"image": "y", "ports": [{"containerPort": 70000}]}]}}),
        );
        assert_eq!(
            msgs(&errs),
            vec![
                "spec.containers[1].name: Duplicate value: \"a\"",
                "spec.containers[1].image: Required value",
                "spec.containers[2].name: Required value",
                "spec.containers[2].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            ]
        );
    }

    #[test]
    fn configmap_and_secret_keys() {
        let errs = validate_kind(
            "",
            "ConfigMap",
            &json!({"data": {"a/b": "x", "ok": "y"}, "binaryData": {"ok": ""}}),
        );
        assert_eq!(errs.len(), 3);
        assert_eq!(errs[0].field, "data[a/b]");
        assert_eq!(
            errs[1].message,
            "Invalid value: \"ok\": duplicate of key present in binaryData"
        );
        let tls = validate_kind(
            "",
            "Secret",
            &json!({"type": "kubernetes.io/tls", "data": {"tls.crt": ""}}),
        );
        assert_eq!(msgs(&tls), vec!["data[tls.key]: Required value"]);
    }

    #[test]
    fn service_ports() {
        assert_eq!(
            msgs(&validate_kind("", "Service", &json!({"spec": {}}))),
            vec!["spec.ports: Required value"]
        );
        assert!(validate_kind("", "Service", &json!({"spec": {"clusterIP": "None"}})).is_empty());
        let errs = validate_kind(
            "",
            "Service",
            &json!({"spec": {"type": "Foo", "ports": [{"port": 0, "protocol": "ICMP"}, {"name": "b", "port": 80}]}}),
        );
        assert_eq!(errs[0].message, "Unsupported value: \"Foo\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"");
        assert_eq!(errs[1].to_string(), "spec.ports[0].name: Required value");
        assert_eq!(errs[2].field, "spec.ports[0].port");
        assert_eq!(errs[3].field, "spec.ports[0].protocol");
    }

    #[test]
    fn deployment_selector_must_match_template() {
        let d = json!({"kind": "Deployment", "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        assert_eq!(
            msgs(&validate_kind("apps", "Deployment", &d)),
            vec!["spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"b\"}: `selector` does not match template `labels`"]
        );
        let missing = json!({"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        assert_eq!(
            msgs(&validate_kind("apps", "Deployment", &missing)),
            vec!["spec.selector: Required value"]
        );
    }

    #[test]
    fn job_restart_policy() {
        let j = json!({"spec": {"template": {"spec": {"restartPolicy": "Always", "containers": [{"name": "c", "image": "i"}]}}}});
        assert_eq!(
            msgs(&validate_kind("batch", "Job", &j)),
            vec!["spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""]
        );
    }

    #[test]
    fn cron_job_schedule_must_parse() {
        let cj = |schedule: &str| {
            json!({"spec": {"schedule": schedule, "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "i"}]}}}}}})
        };
        assert!(validate_kind("batch", "CronJob", &cj("*/1 * * * *")).is_empty());
        assert_eq!(
            msgs(&validate_kind("batch", "CronJob", &cj("every minute"))),
            vec!["spec.schedule: Invalid value: \"every minute\": expected exactly 5 fields, found 2: [every minute]"]
        );
        assert_eq!(
            msgs(&validate_kind("batch", "CronJob", &cj("CRON_TZ=UTC * * * * *"))),
            vec!["spec.schedule: Invalid value: \"CRON_TZ=UTC * * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead"]
        );
        let mut zoned = cj("0 9 * * *");
        zoned["spec"]["timeZone"] = json!("Asia/Tokyo");
        assert!(validate_kind("batch", "CronJob", &zoned).is_empty());
        zoned["spec"]["timeZone"] = json!("Mars/Olympus");
        assert_eq!(
            msgs(&validate_kind("batch", "CronJob", &zoned)),
            vec!["spec.timeZone: Invalid value: \"Mars/Olympus\": unknown time zone Mars/Olympus"]
        );
    }

    #[test]
    fn daemonset_surge_needs_zero_unavailable() {
        let ds = |ru: Value| {
            json!({"kind": "DaemonSet", "spec": {"selector": {"matchLabels": {"app": "a"}},
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": ru},
                "template": {"metadata": {"labels": {"app": "a"}},
                    "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
        };
        let check = |ru: Value| msgs(&validate_kind("apps", "DaemonSet", &ds(ru)));
        assert!(check(json!({"maxSurge": 1, "maxUnavailable": 0})).is_empty());
        assert!(check(json!({"maxSurge": "0%", "maxUnavailable": 1})).is_empty());
        assert_eq!(
            check(json!({"maxSurge": 1, "maxUnavailable": 1})),
            vec!["spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:0, IntVal:1, StrVal:\"\"}: may not be set when maxUnavailable is non-zero"]
        );
        assert_eq!(
            check(json!({"maxSurge": "10%", "maxUnavailable": "20%"}))[0],
            "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"10%\"}: may not be set when maxUnavailable is non-zero"
        );
        assert_eq!(
            check(json!({"maxSurge": 0, "maxUnavailable": 0})),
            vec!["spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"]
        );
    }

    #[test]
    fn selector_requirements_are_checked() {
        let d = |expr: Value| {
            json!({"kind": "Deployment", "spec": {"selector": {"matchExpressions": [expr]},
                "template": {"metadata": {"labels": {"app": "a"}},
                    "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
        };
        let errs = msgs(&validate_kind(
            "apps",
            "Deployment",
            &d(json!({"key": "app", "operator": "Bogus", "values": ["a"]})),
        ));
        assert_eq!(
            errs[0],
            "spec.selector.matchExpressions[0].operator: Invalid value: \"Bogus\": not a valid selector operator"
        );
        assert!(errs[1].ends_with("invalid label selector"), "{errs:?}");
        let errs = msgs(&validate_kind(
            "apps",
            "Deployment",
            &d(json!({"key": "app", "operator": "In"})),
        ));
        assert_eq!(
            errs[0],
            "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
        );
        let ok = d(json!({"key": "app", "operator": "In", "values": ["a"]}));
        assert!(validate_kind("apps", "Deployment", &ok).is_empty());
    }
}
