//! Row printers for workload, batch, networking, storage, policy and RBAC kinds.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::rows_core::{discovery_ports, load_balancer_string};
use super::{
    age, arr_at, container_cells, human_duration, int_at, list_with_more, name, since, str_at,
    timestamp, Row,
};
use crate::labels::{format_label_selector, format_labels, Selector};

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

/// Replicas default to 1 on the server; stored objects omit nothing, but stay safe if they do.
fn desired_replicas(obj: &Value) -> i64 {
    int_at(obj, "/spec/replicas", 1)
}

fn template_containers<'a>(obj: &'a Value, template_ptr: &str) -> &'a [Value] {
    arr_at(obj, &format!("{template_ptr}/spec/containers"))
}

/// `printReplicationController`.
pub(crate) fn replication_controller_row(rc: &Value, now: DateTime<Utc>) -> Row {
    let (names, images) = container_cells(template_containers(rc, "/spec/template"));
    Row::new(vec![
        name(rc),
        json!(desired_replicas(rc)),
        json!(int_at(rc, "/status/replicas", 0)),
        json!(int_at(rc, "/status/readyReplicas", 0)),
        age(rc, now),
        names,
        images,
        s(&format_labels(rc.pointer("/spec/selector"))),
    ])
}

/// `printDeployment`: READY is `ready/desired`; the selector prints empty when absent.
pub(crate) fn deployment_row(d: &Value, now: DateTime<Utc>) -> Row {
    let (names, images) = container_cells(template_containers(d, "/spec/template"));
    let selector = match Selector::from_label_selector(d.pointer("/spec/selector")) {
        Ok(sel) => sel.to_string(),
        Err(_) => "<invalid>".to_owned(),
    };
    Row::new(vec![
        name(d),
        s(&format!(
            "{}/{}",
            int_at(d, "/status/readyReplicas", 0),
            desired_replicas(d)
        )),
        json!(int_at(d, "/status/updatedReplicas", 0)),
        json!(int_at(d, "/status/availableReplicas", 0)),
        age(d, now),
        names,
        images,
        s(&selector),
    ])
}

/// `printReplicaSet`.
pub(crate) fn replica_set_row(rs: &Value, now: DateTime<Utc>) -> Row {
    let (names, images) = container_cells(template_containers(rs, "/spec/template"));
    Row::new(vec![
        name(rs),
        json!(desired_replicas(rs)),
        json!(int_at(rs, "/status/replicas", 0)),
        json!(int_at(rs, "/status/readyReplicas", 0)),
        age(rs, now),
        names,
        images,
        s(&format_label_selector(rs.pointer("/spec/selector"))),
    ])
}

/// `printDaemonSet`.
pub(crate) fn daemon_set_row(ds: &Value, now: DateTime<Utc>) -> Row {
    let (names, images) = container_cells(template_containers(ds, "/spec/template"));
    Row::new(vec![
        name(ds),
        json!(int_at(ds, "/status/desiredNumberScheduled", 0)),
        json!(int_at(ds, "/status/currentNumberScheduled", 0)),
        json!(int_at(ds, "/status/numberReady", 0)),
        json!(int_at(ds, "/status/updatedNumberScheduled", 0)),
        json!(int_at(ds, "/status/numberAvailable", 0)),
        s(&format_labels(
            ds.pointer("/spec/template/spec/nodeSelector"),
        )),
        age(ds, now),
        names,
        images,
        s(&format_label_selector(ds.pointer("/spec/selector"))),
    ])
}

/// `printStatefulSet`.
pub(crate) fn stateful_set_row(sts: &Value, now: DateTime<Utc>) -> Row {
    let (names, images) = container_cells(template_containers(sts, "/spec/template"));
    Row::new(vec![
        name(sts),
        s(&format!(
            "{}/{}",
            int_at(sts, "/status/readyReplicas", 0),
            desired_replicas(sts)
        )),
        age(sts, now),
        names,
        images,
    ])
}

/// `GroupKind.String()` of an owner reference, lower-cased, joined with the name.
fn controller_name(owner: &Value) -> String {
    let api_version = str_at(owner, "/apiVersion");
    let group = match api_version.split_once('/') {
        Some((g, _)) => g,
        None => "",
    };
    let kind = str_at(owner, "/kind");
    let gk = if group.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}.{group}")
    };
    let owner_name = str_at(owner, "/name");
    if gk.is_empty() {
        owner_name.to_owned()
    } else {
        format!("{}/{owner_name}", gk.to_lowercase())
    }
}

/// `printControllerRevision`.
pub(crate) fn controller_revision_row(cr: &Value, now: DateTime<Utc>) -> Row {
    let controller = arr_at(cr, "/metadata/ownerReferences")
        .iter()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
        .map(controller_name)
        .unwrap_or_else(|| "<none>".to_owned());
    Row::new(vec![
        name(cr),
        s(&controller),
        json!(int_at(cr, "/revision", 0)),
        age(cr, now),
    ])
}

fn job_condition(job: &Value, ty: &str) -> bool {
    arr_at(job, "/status/conditions")
        .iter()
        .find(|c| str_at(c, "/type") == ty)
        .is_some_and(|c| str_at(c, "/status") == "True")
}

/// `printJob`: STATUS, COMPLETIONS (`n/m`, `n/1 of p`), DURATION.
pub(crate) fn job_row(job: &Value, now: DateTime<Utc>) -> Row {
    let succeeded = int_at(job, "/status/succeeded", 0);
    let completions = match job.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(c) => format!("{succeeded}/{c}"),
        None => {
            let parallelism = int_at(job, "/spec/parallelism", 0);
            if parallelism > 1 {
                format!("{succeeded}/1 of {parallelism}")
            } else {
                format!("{succeeded}/1")
            }
        }
    };
    let start = timestamp(job.pointer("/status/startTime"));
    let completion = timestamp(job.pointer("/status/completionTime"));
    let duration = match (start, completion) {
        (None, _) => String::new(),
        (Some(st), None) => human_duration(now - st),
        (Some(st), Some(done)) => human_duration(done - st),
    };
    let deleting = job
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null());
    let status = if job_condition(job, "Complete") {
        "Complete"
    } else if job_condition(job, "Failed") {
        "Failed"
    } else if deleting {
        "Terminating"
    } else if job_condition(job, "Suspended") {
        "Suspended"
    } else if job_condition(job, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = container_cells(template_containers(job, "/spec/template"));
    Row::new(vec![
        name(job),
        s(status),
        s(&completions),
        s(&duration),
        age(job, now),
        names,
        images,
        s(&format_label_selector(job.pointer("/spec/selector"))),
    ])
}

/// `printCronJob`.
pub(crate) fn cron_job_row(cj: &Value, now: DateTime<Utc>) -> Row {
    let last = if cj
        .pointer("/status/lastScheduleTime")
        .is_some_and(|v| !v.is_null())
    {
        since(cj.pointer("/status/lastScheduleTime"), now)
    } else {
        "<none>".to_owned()
    };
    let suspend = match cj.pointer("/spec/suspend").and_then(Value::as_bool) {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    let tz = cj
        .pointer("/spec/timeZone")
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    let (names, images) =
        container_cells(template_containers(cj, "/spec/jobTemplate/spec/template"));
    Row::new(vec![
        name(cj),
        s(str_at(cj, "/spec/schedule")),
        s(tz),
        s(suspend),
        json!(arr_at(cj, "/status/active").len()),
        s(&last),
        age(cj, now),
        names,
        images,
        s(&format_label_selector(
            cj.pointer("/spec/jobTemplate/spec/selector"),
        )),
    ])
}

/// `formatHosts`: up to three hosts then `+ N more...`, `*` when no rule names a host.
fn format_hosts(rules: &[Value]) -> String {
    let max = 3;
    let mut list: Vec<&str> = Vec::new();
    let mut more = false;
    for r in rules {
        if list.len() == max {
            more = true;
        }
        let host = str_at(r, "/host");
        if !more && !host.is_empty() {
            list.push(host);
        }
    }
    if list.is_empty() {
        return "*".to_owned();
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", rules.len() - max)
    } else {
        ret
    }
}

/// `printIngress`.
pub(crate) fn ingress_row(ing: &Value, now: DateTime<Utc>) -> Row {
    let class = ing
        .pointer("/spec/ingressClassName")
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    let ports = if arr_at(ing, "/spec/tls").is_empty() {
        "80"
    } else {
        "80, 443"
    };
    Row::new(vec![
        name(ing),
        s(class),
        s(&format_hosts(arr_at(ing, "/spec/rules"))),
        s(&load_balancer_string(
            arr_at(ing, "/status/loadBalancer/ingress"),
            true,
        )),
        s(ports),
        age(ing, now),
    ])
}

/// `printEndpointSlice`.
pub(crate) fn endpoint_slice_row(es: &Value, now: DateTime<Utc>) -> Row {
    let max = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0;
    for ep in arr_at(es, "/endpoints") {
        for addr in arr_at(ep, "/addresses") {
            if list.len() < max {
                list.push(addr.as_str().unwrap_or("").to_owned());
            } else if list.len() == max {
                more = true;
            }
            count += 1;
        }
    }
    Row::new(vec![
        name(es),
        s(str_at(es, "/addressType")),
        s(&discovery_ports(arr_at(es, "/ports"))),
        s(&list_with_more(&list, more, count, max)),
        age(es, now),
    ])
}

/// `printStorageClass`: `(default)` marks the default class.
pub(crate) fn volume_attributes_class_row(vac: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![
        name(vac),
        s(str_at(vac, "/driverName")),
        age(vac, now),
    ])
}

pub(crate) fn storage_class_row(sc: &Value, now: DateTime<Utc>) -> Row {
    let is_default = [
        "storageclass.kubernetes.io~1is-default-class",
        "storageclass.beta.kubernetes.io~1is-default-class",
    ]
    .iter()
    .any(|a| str_at(sc, &format!("/metadata/annotations/{a}")) == "true");
    let mut n = str_at(sc, "/metadata/name").to_owned();
    if is_default {
        n.push_str(" (default)");
    }
    let reclaim = sc
        .get("reclaimPolicy")
        .and_then(Value::as_str)
        .unwrap_or("Delete");
    let binding = sc
        .get("volumeBindingMode")
        .and_then(Value::as_str)
        .unwrap_or("Immediate");
    let expand = sc
        .get("allowVolumeExpansion")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Row::new(vec![
        s(&n),
        s(str_at(sc, "/provisioner")),
        s(reclaim),
        s(binding),
        json!(expand),
        age(sc, now),
    ])
}

/// `printPriorityClass`.
pub(crate) fn priority_class_row(pc: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![
        name(pc),
        json!(int_at(pc, "/value", 0)),
        json!(pc
            .get("globalDefault")
            .and_then(Value::as_bool)
            .unwrap_or(false)),
        age(pc, now),
        s(str_at(pc, "/preemptionPolicy")),
    ])
}

/// `printMutatingAdmissionPolicy`: the number of mutations and the parameter kind.
pub(crate) fn mutating_admission_policy_row(p: &Value, now: DateTime<Utc>) -> Row {
    let mutations = p
        .pointer("/spec/mutations")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let param_kind = match p.pointer("/spec/paramKind") {
        Some(k) if k.is_object() => format!("{}/{}", str_at(k, "/apiVersion"), str_at(k, "/kind")),
        _ => "<unset>".into(),
    };
    Row::new(vec![name(p), json!(mutations), s(&param_kind), age(p, now)])
}

/// `printMutatingAdmissionPolicyBinding`: the policy and the parameter reference
/// (`<ns>/<name>`, `*/<name>` without a namespace, or the selector).
pub(crate) fn mutating_admission_policy_binding_row(b: &Value, now: DateTime<Utc>) -> Row {
    let param = match b.pointer("/spec/paramRef") {
        Some(r) if !str_at(r, "/name").is_empty() => match str_at(r, "/namespace") {
            "" => format!("*/{}", str_at(r, "/name")),
            ns => format!("{ns}/{}", str_at(r, "/name")),
        },
        Some(r) if r.get("selector").is_some_and(Value::is_object) => {
            format_label_selector(r.get("selector"))
        }
        _ => "<unset>".into(),
    };
    Row::new(vec![
        name(b),
        s(str_at(b, "/spec/policyName")),
        s(&param),
        age(b, now),
    ])
}

/// `IntOrString.String()`, or `N/A` when unset.
fn int_or_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(st)) => st.clone(),
        _ => "N/A".to_owned(),
    }
}

/// `printPodDisruptionBudget`.
pub(crate) fn pod_disruption_budget_row(pdb: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![
        name(pdb),
        s(&int_or_string(pdb.pointer("/spec/minAvailable"))),
        s(&int_or_string(pdb.pointer("/spec/maxUnavailable"))),
        json!(int_at(pdb, "/status/disruptionsAllowed", 0)),
        age(pdb, now),
    ])
}

/// `printLease`.
pub(crate) fn lease_row(lease: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![
        name(lease),
        s(str_at(lease, "/spec/holderIdentity")),
        age(lease, now),
    ])
}

/// `printRoleBinding` / `printClusterRoleBinding` with `rbac.SubjectsStrings`.
pub(crate) fn role_binding_row(rb: &Value, now: DateTime<Utc>) -> Row {
    let mut users = Vec::new();
    let mut groups = Vec::new();
    let mut sas = Vec::new();
    for subj in arr_at(rb, "/subjects") {
        let n = str_at(subj, "/name");
        match str_at(subj, "/kind") {
            "User" => users.push(n.to_owned()),
            "Group" => groups.push(n.to_owned()),
            "ServiceAccount" => sas.push(format!("{}/{n}", str_at(subj, "/namespace"))),
            _ => {}
        }
    }
    Row::new(vec![
        name(rb),
        s(&format!(
            "{}/{}",
            str_at(rb, "/roleRef/kind"),
            str_at(rb, "/roleRef/name")
        )),
        age(rb, now),
        s(&users.join(", ")),
        s(&groups.join(", ")),
        s(&sas.join(", ")),
    ])
}

/// `Local` or `<namespace>/<name>`; `True`, or `False (<reason>)` as upstream prints it.
pub(crate) fn api_service_row(svc: &Value, now: DateTime<Utc>) -> Row {
    let service = match svc.pointer("/spec/service") {
        Some(r) if !r.is_null() => format!("{}/{}", str_at(r, "/namespace"), str_at(r, "/name")),
        _ => "Local".to_string(),
    };
    let available = arr_at(svc, "/status/conditions")
        .iter()
        .find(|c| str_at(c, "/type") == "Available")
        .map(|c| match str_at(c, "/status") {
            "True" => "True".to_string(),
            status => format!("{status} ({})", str_at(c, "/reason")),
        })
        .unwrap_or_else(|| "Unknown".to_string());
    Row::new(vec![name(svc), s(&service), s(&available), age(svc, now)])
}

/// Upstream's resourceClaimState: `deleted`, `pending`, `allocated`, `reserved`, joined.
pub(crate) fn resource_claim_row(claim: &Value, now: DateTime<Utc>) -> Row {
    let deleting = claim.pointer("/metadata/deletionTimestamp").is_some();
    let allocated = claim
        .pointer("/status/allocation")
        .is_some_and(|a| !a.is_null());
    let mut states = Vec::new();
    if deleting {
        states.push("deleted");
    }
    if allocated {
        states.push("allocated");
        if !arr_at(claim, "/status/reservedFor").is_empty() {
            states.push("reserved");
        }
    } else if !deleting {
        states.push("pending");
    }
    Row::new(vec![name(claim), s(&states.join(",")), age(claim, now)])
}

pub(crate) fn resource_slice_row(slice: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![
        name(slice),
        s(str_at(slice, "/spec/nodeName")),
        s(str_at(slice, "/spec/driver")),
        s(str_at(slice, "/spec/pool/name")),
        age(slice, now),
    ])
}

pub(crate) fn service_cidr_row(cidr: &Value, now: DateTime<Utc>) -> Row {
    let cidrs: Vec<&str> = arr_at(cidr, "/spec/cidrs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    Row::new(vec![name(cidr), s(&cidrs.join(",")), age(cidr, now)])
}

/// `<resource>[.<group>]/[<namespace>/]<name>`, as upstream prints the parent.
pub(crate) fn ip_address_row(ip: &Value, _now: DateTime<Utc>) -> Row {
    let parent = match ip.pointer("/spec/parentRef") {
        Some(r) if r.is_object() => {
            let (group, resource) = (str_at(r, "/group"), str_at(r, "/resource"));
            let mut text = if group.is_empty() {
                resource.to_lowercase()
            } else {
                format!("{resource}.{group}").to_lowercase()
            };
            let ns = str_at(r, "/namespace");
            if !ns.is_empty() {
                text.push('/');
                text.push_str(ns);
            }
            text.push('/');
            text.push_str(str_at(r, "/name"));
            text
        }
        _ => "<none>".to_string(),
    };
    Row::new(vec![name(ip), s(&parent)])
}

pub(crate) fn runtime_class_row(rc: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![name(rc), s(str_at(rc, "/handler")), age(rc, now)])
}

pub(crate) fn csi_driver_row(d: &Value, now: DateTime<Utc>) -> Row {
    let flag = |ptr: &str| json!(d.pointer(ptr).and_then(Value::as_bool).unwrap_or(false));
    let audiences: Vec<&str> = arr_at(d, "/spec/tokenRequests")
        .iter()
        .filter_map(|t| t.get("audience").and_then(Value::as_str))
        .collect();
    let modes: Vec<&str> = arr_at(d, "/spec/volumeLifecycleModes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    Row::new(vec![
        name(d),
        json!(d
            .pointer("/spec/attachRequired")
            .and_then(Value::as_bool)
            .unwrap_or(true)),
        flag("/spec/podInfoOnMount"),
        flag("/spec/storageCapacity"),
        s(&if audiences.is_empty() {
            "<unset>".to_string()
        } else {
            audiences.join(",")
        }),
        flag("/spec/requiresRepublish"),
        s(&modes.join(",")),
        age(d, now),
    ])
}

pub(crate) fn csi_node_row(n: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![
        name(n),
        json!(arr_at(n, "/spec/drivers").len()),
        age(n, now),
    ])
}

pub(crate) fn volume_attachment_row(va: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![
        name(va),
        s(str_at(va, "/spec/attacher")),
        s(str_at(va, "/spec/source/persistentVolumeName")),
        s(str_at(va, "/spec/nodeName")),
        json!(va
            .pointer("/status/attached")
            .and_then(Value::as_bool)
            .unwrap_or(false)),
        age(va, now),
    ])
}

/// `printCertificateSigningRequest`: the condition column is upstream's `extractCSRStatus`
/// (Denied over Approved over Pending, then `,Failed` and `,Issued`).
pub(crate) fn csr_row(csr: &Value, now: DateTime<Utc>) -> Row {
    let none = || "<none>".to_string();
    let signer = str_at(csr, "/spec/signerName");
    let duration = csr
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .map(|secs| human_duration(chrono::Duration::seconds(secs)))
        .unwrap_or_else(none);
    let has = |ty: &str| {
        csr.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|l| l.iter().any(|c| c.get("type") == Some(&json!(ty))))
    };
    let mut status = if has("Denied") {
        "Denied".to_string()
    } else if has("Approved") {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if has("Failed") {
        status.push_str(",Failed");
    }
    if !str_at(csr, "/status/certificate").is_empty() {
        status.push_str(",Issued");
    }
    Row::new(vec![
        name(csr),
        age(csr, now),
        s(if signer.is_empty() { "<none>" } else { signer }),
        s(str_at(csr, "/spec/username")),
        json!(duration),
        json!(status),
    ])
}
