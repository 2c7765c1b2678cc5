//! Behaviour ported from upstream `printers_test.go` and `duration_test.go`.

use super::*;
use chrono::TimeZone;
use serde_json::json;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 10, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn ago(secs: i64) -> String {
    (now() - chrono::Duration::seconds(secs)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The printer a kind of (group, resource) uses (in the server, its descriptor names it).
fn printer(group: &str, resource: &str) -> Printer {
    match (group, resource) {
        ("", "pods") => PODS,
        ("", "nodes") => NODES,
        ("", "endpoints") => ENDPOINTS,
        ("", "events") => EVENTS,
        ("events.k8s.io", "events") => EVENTS_API,
        ("", "persistentvolumeclaims") => PERSISTENTVOLUMECLAIMS,
        ("", "services") => SERVICES,
        ("", "namespaces") => NAMESPACES,
        ("", "configmaps") => CONFIGMAPS,
        ("", "secrets") => SECRETS,
        ("", "serviceaccounts") => SERVICEACCOUNTS,
        ("", "persistentvolumes") => PERSISTENTVOLUMES,
        ("", "replicationcontrollers") => REPLICATIONCONTROLLERS,
        ("apps", "daemonsets") => DAEMONSETS,
        ("coordination.k8s.io", "leases") => LEASES,
        ("scheduling.k8s.io", "priorityclasses") => PRIORITYCLASSES,
        ("rbac.authorization.k8s.io", "rolebindings") => ROLEBINDINGS,
        ("rbac.authorization.k8s.io", "clusterrolebindings") => CLUSTERROLEBINDINGS,
        ("apps", "controllerrevisions") => CONTROLLERREVISIONS,
        ("apps", "deployments") => DEPLOYMENTS,
        ("apps", "replicasets") => REPLICASETS,
        ("apps", "statefulsets") => STATEFULSETS,
        ("batch", "cronjobs") => CRONJOBS,
        ("batch", "jobs") => JOBS,
        ("discovery.k8s.io", "endpointslices") => ENDPOINTSLICES,
        ("networking.k8s.io", "ingresses") => INGRESSES,
        ("policy", "poddisruptionbudgets") => PODDISRUPTIONBUDGETS,
        ("storage.k8s.io", "storageclasses") => STORAGECLASSES,
        _ => DEFAULT,
    }
}

fn cells(group: &str, resource: &str, obj: &Value) -> Vec<Value> {
    let t = table(
        &printer(group, resource),
        &[obj],
        IncludeObject::None,
        now(),
    );
    t.pointer("/rows/0/cells")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

#[test]
fn human_duration_table() {
    let d = chrono::Duration::seconds;
    for (secs, want) in [
        (-2, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (1, "1s"),
        (119, "119s"),
        (120, "2m"),
        (121, "2m1s"),
        (599, "9m59s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 20 * 60, "3h20m"),
        (8 * 3600, "8h"),
        (47 * 3600 + 59 * 60, "47h"),
        (48 * 3600, "2d"),
        (48 * 3600 + 3600, "2d1h"),
        (8 * 86400, "8d"),
        (367 * 86400, "367d"),
        (730 * 86400, "2y"),
        (731 * 86400, "2y1d"),
        (8 * 365 * 86400, "8y"),
    ] {
        assert_eq!(human_duration(d(secs)), want, "{secs}");
    }
}

#[test]
fn pod_status_table() {
    let base = |status: Value| json!({"metadata": {"name": "p", "creationTimestamp": ago(10)}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}, "status": status});
    let cases = vec![
        (
            json!({"phase": "Running", "containerStatuses": [{"ready": true, "restartCount": 3, "state": {"running": {}}}, {"restartCount": 3}]}),
            "1/2",
            "Running",
            "6",
        ),
        (
            json!({"phase": "podPhase", "containerStatuses": [{"ready": true, "restartCount": 3, "state": {"running": {}}}, {"ready": true, "restartCount": 3, "state": {"running": {}}}]}),
            "2/2",
            "podPhase",
            "6",
        ),
        (
            json!({"phase": "Running", "containerStatuses": [{"state": {"waiting": {"reason": "ContainerWaitingReason"}}, "restartCount": 3}]}),
            "0/2",
            "ContainerWaitingReason",
            "3",
        ),
        (
            json!({"phase": "Running", "containerStatuses": [{"state": {"terminated": {"reason": "ContainerTerminatedReason"}}, "restartCount": 3}]}),
            "0/2",
            "ContainerTerminatedReason",
            "3",
        ),
        (
            json!({"phase": "Running", "containerStatuses": [{"state": {"terminated": {"exitCode": 1}}}]}),
            "0/2",
            "ExitCode:1",
            "0",
        ),
        (
            json!({"phase": "Running", "containerStatuses": [{"state": {"terminated": {"signal": 9, "exitCode": 137}}}]}),
            "0/2",
            "Signal:9",
            "0",
        ),
        (
            json!({"phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": "ContainerCreating"}}}]}),
            "0/2",
            "ContainerCreating",
            "0",
        ),
        (
            json!({"phase": "Running", "containerStatuses": [{"state": {"waiting": {"reason": "CrashLoopBackOff"}}, "restartCount": 4, "lastState": {"terminated": {"finishedAt": ago(30)}}}]}),
            "0/2",
            "CrashLoopBackOff",
            "4 (30s ago)",
        ),
        (
            json!({"phase": "Succeeded", "containerStatuses": [{"state": {"terminated": {"reason": "Completed", "exitCode": 0}}}, {"state": {"terminated": {"reason": "Completed"}}}]}),
            "0/2",
            "Completed",
            "0",
        ),
        (
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": [{"state": {"terminated": {"reason": "Completed"}}}, {"ready": true, "state": {"running": {}}}]}),
            "1/2",
            "Running",
            "0",
        ),
        (
            json!({"phase": "Running", "containerStatuses": [{"state": {"terminated": {"reason": "Completed"}}}, {"ready": true, "state": {"running": {}}}]}),
            "1/2",
            "NotReady",
            "0",
        ),
        (
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
            "0/2",
            "SchedulingGated",
            "0",
        ),
    ];
    for (status, ready, reason, restarts) in cases {
        let c = cells("", "pods", &base(status.clone()));
        assert_eq!(c[1], json!(ready), "{status}");
        assert_eq!(c[2], json!(reason), "{status}");
        assert_eq!(c[3], json!(restarts), "{status}");
        assert_eq!(c[4], json!("10s"));
    }
}

#[test]
fn pod_init_containers_and_terminating() {
    let pod = json!({"metadata": {"name": "p"}, "spec": {"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "c"}]},
        "status": {"phase": "Pending", "initContainerStatuses": [{"name": "i1", "state": {"terminated": {"exitCode": 0}}}, {"name": "i2", "state": {"running": {}}}]}});
    assert_eq!(cells("", "pods", &pod)[2], json!("Init:1/2"));
    let failed = json!({"metadata": {"name": "p"}, "spec": {"initContainers": [{"name": "i1"}], "containers": [{"name": "c"}]},
        "status": {"phase": "Pending", "initContainerStatuses": [{"name": "i1", "state": {"terminated": {"exitCode": 2}}}]}});
    assert_eq!(cells("", "pods", &failed)[2], json!("Init:ExitCode:2"));
    let sidecar = json!({"metadata": {"name": "p"}, "spec": {"initContainers": [{"name": "s", "restartPolicy": "Always"}], "containers": [{"name": "c"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}], "initContainerStatuses": [{"name": "s", "started": true, "ready": true, "state": {"running": {}}}], "containerStatuses": [{"name": "c", "ready": true, "state": {"running": {}}}]}});
    assert_eq!(cells("", "pods", &sidecar)[1], json!("2/2"));
    let term = json!({"metadata": {"name": "p", "deletionTimestamp": ago(1)}, "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Running"}});
    assert_eq!(cells("", "pods", &term)[2], json!("Terminating"));
    let lost = json!({"metadata": {"name": "p", "deletionTimestamp": ago(1)}, "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Running", "reason": "NodeLost"}});
    assert_eq!(cells("", "pods", &lost)[2], json!("Unknown"));
}

#[test]
fn pod_wide_cells_and_conditions() {
    let pod = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1", "containers": [{"name": "c"}], "readinessGates": [{"conditionType": "g1"}, {"conditionType": "g2"}]},
        "status": {"phase": "Succeeded", "podIPs": [{"ip": "10.0.0.1"}], "conditions": [{"type": "g1", "status": "True"}]}});
    let t = table(&PODS, &[&pod], IncludeObject::Metadata, now());
    let c = t.pointer("/rows/0/cells").cloned().unwrap_or_default();
    assert_eq!(
        c,
        json!([
            "p",
            "0/1",
            "Succeeded",
            "0",
            "<unknown>",
            "10.0.0.1",
            "n1",
            "<none>",
            "1/2"
        ])
    );
    assert_eq!(
        t.pointer("/rows/0/conditions/0/reason"),
        Some(&json!("Succeeded"))
    );
    assert_eq!(
        t.pointer("/rows/0/object/kind"),
        Some(&json!("PartialObjectMetadata"))
    );
    assert_eq!(t.pointer("/rows/0/object/metadata/name"), Some(&json!("p")));
    assert_eq!(t["kind"], json!("Table"));
    let cols = t["columnDefinitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(cols.len(), 9);
    assert_eq!(cols[0]["format"], json!("name"));
    assert!(cols[0]["description"]
        .as_str()
        .unwrap_or("")
        .starts_with("Name must be unique within a namespace"));
    assert_eq!(cols[5]["priority"], json!(1));
}

#[test]
fn node_service_endpoints() {
    let node = json!({"metadata": {"name": "n", "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker"}},
        "spec": {"unschedulable": true}, "status": {"conditions": [{"type": "Ready", "status": "False"}], "nodeInfo": {"kubeletVersion": "v1.33.0"}, "addresses": [{"type": "InternalIP", "address": "10.1.1.1"}]}});
    let c = cells("", "nodes", &node);
    assert_eq!(c[1], json!("NotReady,SchedulingDisabled"));
    assert_eq!(c[2], json!("control-plane,worker"));
    assert_eq!(
        &c[4..],
        &[
            json!("v1.33.0"),
            json!("10.1.1.1"),
            json!("<none>"),
            json!("<unknown>"),
            json!("<unknown>"),
            json!("<unknown>")
        ]
    );
    assert_eq!(
        cells("", "nodes", &json!({"metadata": {"name": "n"}}))[1],
        json!("Unknown")
    );

    let svc = json!({"metadata": {"name": "s"}, "spec": {"type": "NodePort", "clusterIPs": ["10.0.0.10"], "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}], "selector": {"app": "x"}}});
    assert_eq!(
        cells("", "services", &svc),
        vec![
            json!("s"),
            json!("NodePort"),
            json!("10.0.0.10"),
            json!("<none>"),
            json!("80:30080/TCP,53/UDP"),
            json!("<unknown>"),
            json!("app=x")
        ]
    );
    let lb = json!({"metadata": {"name": "s"}, "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.2", "ports": []}});
    assert_eq!(cells("", "services", &lb)[3], json!("<pending>"));
    assert_eq!(cells("", "services", &lb)[4], json!("<none>"));

    let ep = json!({"metadata": {"name": "e"}, "subsets": [{"addresses": [{"ip": "1.1.1.1"}, {"ip": "2.2.2.2"}], "ports": [{"port": 80}, {"port": 443}]}]});
    assert_eq!(
        cells("", "endpoints", &ep)[1],
        json!("1.1.1.1:80,2.2.2.2:80,1.1.1.1:443 + 1 more...")
    );
    assert_eq!(
        cells("", "endpoints", &json!({"metadata": {"name": "e"}}))[1],
        json!("<none>")
    );
}

#[test]
fn workloads() {
    let d = json!({"metadata": {"name": "d"}, "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "x"}}, "template": {"spec": {"containers": [{"name": "a", "image": "ia"}, {"name": "b", "image": "ib"}]}}}, "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
    assert_eq!(
        cells("apps", "deployments", &d),
        vec![
            json!("d"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("<unknown>"),
            json!("a,b"),
            json!("ia,ib"),
            json!("app=x")
        ]
    );
    let rs = json!({"metadata": {"name": "r"}, "spec": {"replicas": 2, "template": {}}, "status": {"replicas": 2, "readyReplicas": 1}});
    assert_eq!(
        cells("apps", "replicasets", &rs)[1..4],
        [json!(2), json!(2), json!(1)]
    );
    assert_eq!(cells("apps", "replicasets", &rs)[7], json!("<none>"));
    let sts =
        json!({"metadata": {"name": "s"}, "spec": {"replicas": 3}, "status": {"readyReplicas": 1}});
    assert_eq!(cells("apps", "statefulsets", &sts)[1], json!("1/3"));
    let cr = json!({"metadata": {"name": "c", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ds", "controller": true}]}, "revision": 2});
    assert_eq!(
        cells("apps", "controllerrevisions", &cr)[1..3],
        [json!("daemonset.apps/ds"), json!(2)]
    );
}

#[test]
fn jobs_and_cronjobs() {
    let job = json!({"metadata": {"name": "j"}, "spec": {"completions": 2}, "status": {"succeeded": 1, "startTime": ago(3600), "completionTime": ago(60), "conditions": [{"type": "Complete", "status": "True"}]}});
    assert_eq!(
        cells("batch", "jobs", &job)[1..4],
        [json!("Complete"), json!("1/2"), json!("59m")]
    );
    let running = json!({"metadata": {"name": "j"}, "spec": {"parallelism": 2}, "status": {"startTime": ago(5)}});
    assert_eq!(
        cells("batch", "jobs", &running)[1..4],
        [json!("Running"), json!("0/1 of 2"), json!("5s")]
    );
    let unstarted = json!({"metadata": {"name": "j"}, "spec": {}});
    assert_eq!(
        cells("batch", "jobs", &unstarted)[1..4],
        [json!("Running"), json!("0/1"), json!("")]
    );
    let cj = json!({"metadata": {"name": "c"}, "spec": {"schedule": "*/1 * * * *", "suspend": false}, "status": {"active": [{}], "lastScheduleTime": ago(30)}});
    assert_eq!(
        cells("batch", "cronjobs", &cj)[1..6],
        [
            json!("*/1 * * * *"),
            json!("<none>"),
            json!("False"),
            json!(1),
            json!("30s")
        ]
    );
}

#[test]
fn config_secret_events_and_misc() {
    assert_eq!(
        cells(
            "",
            "configmaps",
            &json!({"metadata": {"name": "c"}, "data": {"a": "1"}, "binaryData": {"b": ""}})
        )[1],
        json!(2)
    );
    assert_eq!(
        cells(
            "",
            "secrets",
            &json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "MQ=="}})
        )[1..3],
        [json!("Opaque"), json!(1)]
    );
    let ev = json!({"metadata": {"name": "e1"}, "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{c}"}, "type": "Normal", "reason": "Started", "message": " hi ", "source": {"component": "kubelet", "host": "n1"}, "firstTimestamp": ago(120), "lastTimestamp": ago(60), "count": 3});
    assert_eq!(
        cells("", "events", &ev),
        vec![
            json!("60s"),
            json!("Normal"),
            json!("Started"),
            json!("pod/p"),
            json!("spec.containers{c}"),
            json!("kubelet, n1"),
            json!("hi"),
            json!("2m"),
            json!(3),
            json!("e1")
        ]
    );
    let ev2 = json!({"metadata": {"name": "e2"}, "regarding": {"kind": "Node", "name": "n"}, "note": "x", "eventTime": ago(5), "reportingController": "ctl", "type": "Warning", "reason": "R"});
    assert_eq!(
        cells("events.k8s.io", "events", &ev2),
        vec![
            json!("5s"),
            json!("Warning"),
            json!("R"),
            json!("node/n"),
            json!(""),
            json!("ctl"),
            json!("x"),
            json!("5s"),
            json!(1),
            json!("e2")
        ]
    );
    assert_eq!(
        cells(
            "coordination.k8s.io",
            "leases",
            &json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "h"}})
        )[1],
        json!("h")
    );
    let sc = json!({"metadata": {"name": "std", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}, "provisioner": "p"});
    assert_eq!(
        cells("storage.k8s.io", "storageclasses", &sc)[..5],
        [
            json!("std (default)"),
            json!("p"),
            json!("Delete"),
            json!("Immediate"),
            json!(false)
        ]
    );
    let pdb = json!({"metadata": {"name": "b"}, "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}});
    assert_eq!(
        cells("policy", "poddisruptionbudgets", &pdb)[1..4],
        [json!("50%"), json!("N/A"), json!(1)]
    );
    let pvc = json!({"metadata": {"name": "c"}, "spec": {"volumeName": "v", "storageClassName": "std"}, "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce", "ReadOnlyMany"]}});
    assert_eq!(
        cells("", "persistentvolumeclaims", &pvc)[1..7],
        [
            json!("Bound"),
            json!("v"),
            json!("1Gi"),
            json!("RWO,ROX"),
            json!("std"),
            json!("<unset>")
        ]
    );
    let ing = json!({"metadata": {"name": "i"}, "spec": {"rules": [{"host": "a"}, {}], "tls": [{}]}, "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}});
    assert_eq!(
        cells("networking.k8s.io", "ingresses", &ing)[1..5],
        [
            json!("<none>"),
            json!("a"),
            json!("1.2.3.4"),
            json!("80, 443")
        ]
    );
    let es = json!({"metadata": {"name": "e"}, "addressType": "IPv4", "ports": [{"port": 80}, {"name": "x"}], "endpoints": []});
    assert_eq!(
        cells("discovery.k8s.io", "endpointslices", &es)[1..4],
        [json!("IPv4"), json!("80,x"), json!("<unset>")]
    );
}

#[test]
fn default_table_uses_created_at() {
    let role = json!({"metadata": {"name": "r", "creationTimestamp": "2024-01-01T00:00:00Z"}});
    let t = table(&DEFAULT, &[&role], IncludeObject::Object, now());
    assert_eq!(
        t.pointer("/columnDefinitions/1/name"),
        Some(&json!("Created At"))
    );
    assert_eq!(t.pointer("/columnDefinitions/1/type"), Some(&json!("date")));
    assert_eq!(
        t.pointer("/rows/0/cells"),
        Some(&json!(["r", "2024-01-01T00:00:00Z"]))
    );
    assert_eq!(t.pointer("/rows/0/object"), Some(&role));
    let none = table(&PODS, &[], IncludeObject::None, now());
    assert_eq!(none["rows"], json!([]));
    assert_eq!(IncludeObject::parse("Object"), Some(IncludeObject::Object));
    assert_eq!(IncludeObject::parse("bogus"), None);
}
