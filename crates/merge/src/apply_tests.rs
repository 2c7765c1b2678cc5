//! Ownership, conflicts, force, removal and list semantics of server-side apply.
use super::*;
use crate::fieldpath::PathElement;
use serde_json::json;

const T0: &str = "2026-01-01T00:00:00Z";
const T1: &str = "2026-01-01T00:01:00Z";

fn table() -> MergeKeyTable {
    MergeKeyTable::builtin()
}

fn deployment(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "default", "labels": {"app": "d"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}},
                              "spec": {"containers": [{"name": "app", "image": image}]}}}
    })
}

fn entry<'a>(
    obj: &Value,
    manager: &str,
    entries: &'a mut Vec<ManagedFieldsEntry>,
) -> Option<&'a ManagedFieldsEntry> {
    *entries = managed_fields(obj);
    entries.iter().find(|e| e.manager == manager)
}

#[test]
fn create_records_apply_field_set() {
    let out = apply(
        None,
        &deployment(1, "app:1"),
        "kubectl",
        false,
        &table(),
        T0,
    )
    .unwrap();
    let mf = &out["metadata"]["managedFields"][0];
    assert_eq!(mf["manager"], "kubectl");
    assert_eq!(mf["operation"], "Apply");
    assert_eq!(mf["apiVersion"], "apps/v1");
    assert_eq!(mf["time"], T0);
    assert_eq!(mf["fieldsType"], "FieldsV1");
    assert_eq!(
        mf["fieldsV1"],
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}}}}
                }
            }
        })
    );
    assert_eq!(out["spec"]["replicas"], 1);
}

#[test]
fn reapply_same_config_is_stable() {
    let t = table();
    let first = apply(None, &deployment(1, "app:1"), "kubectl", false, &t, T0).unwrap();
    let second = apply(
        Some(&first),
        &deployment(1, "app:1"),
        "kubectl",
        false,
        &t,
        T1,
    )
    .unwrap();
    assert_eq!(first, second);
}

#[test]
fn conflict_with_other_applier_and_force() {
    let t = table();
    let live = apply(None, &deployment(1, "app:1"), "alice", false, &t, T0).unwrap();
    let err = apply(Some(&live), &deployment(3, "app:1"), "bob", false, &t, T1).unwrap_err();
    let ApplyError::Conflicts(conflicts) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        conflicts,
        &vec![Conflict {
            manager: "\"alice\"".into(),
            path: ".spec.replicas".into()
        }]
    );
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"alice\": .spec.replicas"
    );
    assert_eq!(conflicts[0].cause_message(), "conflict with \"alice\"");

    let forced = apply(Some(&live), &deployment(3, "app:1"), "bob", true, &t, T1).unwrap();
    assert_eq!(forced["spec"]["replicas"], 3);
    let mut es = Vec::new();
    let alice = entry(&forced, "alice", &mut es).cloned().unwrap();
    let replicas = [
        PathElement::Field("spec".into()),
        PathElement::Field("replicas".into()),
    ];
    assert!(!alice.fields.contains(&replicas));
    let bob = entry(&forced, "bob", &mut es).cloned().unwrap();
    assert!(bob.fields.contains(&replicas));
}

#[test]
fn same_value_is_shared_not_a_conflict() {
    let t = table();
    let live = apply(None, &deployment(1, "app:1"), "alice", false, &t, T0).unwrap();
    let out = apply(Some(&live), &deployment(1, "app:1"), "bob", false, &t, T1).unwrap();
    let mut es = Vec::new();
    let replicas = [
        PathElement::Field("spec".into()),
        PathElement::Field("replicas".into()),
    ];
    assert!(entry(&out, "alice", &mut es)
        .unwrap()
        .fields
        .contains(&replicas));
    assert!(entry(&out, "bob", &mut es)
        .unwrap()
        .fields
        .contains(&replicas));
}

#[test]
fn conflict_with_update_manager_names_version_and_time() {
    let t = table();
    let live = apply(None, &deployment(1, "app:1"), "kubectl", false, &t, T0).unwrap();
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(5);
    record_update(
        Some(&live),
        &mut scaled,
        "kube-controller-manager",
        "Update",
        &t,
        T1,
    );
    let err = apply(
        Some(&scaled),
        &deployment(2, "app:1"),
        "kubectl",
        false,
        &t,
        T1,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Apply failed with 1 conflict: conflict with \"kube-controller-manager\" using apps/v1 at {T1}: .spec.replicas")
    );
}

#[test]
fn multiple_conflicts_message_groups_by_manager() {
    let t = table();
    let live = apply(None, &deployment(1, "app:1"), "alice", false, &t, T0).unwrap();
    let err = apply(Some(&live), &deployment(2, "app:2"), "bob", false, &t, T1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 2 conflicts: conflicts with \"alice\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"app\"].image"
    );
}

#[test]
fn dropping_a_field_removes_it_when_unowned() {
    let t = table();
    let mut config = deployment(1, "app:1");
    config["metadata"]["labels"]["extra"] = json!("x");
    let live = apply(None, &config, "kubectl", false, &t, T0).unwrap();
    assert_eq!(live["metadata"]["labels"]["extra"], "x");
    let out = apply(
        Some(&live),
        &deployment(1, "app:1"),
        "kubectl",
        false,
        &t,
        T1,
    )
    .unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"app": "d"}));
}

#[test]
fn dropping_a_field_keeps_it_when_someone_else_owns_it() {
    let t = table();
    let mut config = deployment(1, "app:1");
    config["metadata"]["labels"]["extra"] = json!("x");
    let live = apply(None, &config, "alice", false, &t, T0).unwrap();
    let shared = apply(Some(&live), &config, "bob", false, &t, T0).unwrap();
    let out = apply(
        Some(&shared),
        &deployment(1, "app:1"),
        "alice",
        false,
        &t,
        T1,
    )
    .unwrap();
    assert_eq!(out["metadata"]["labels"]["extra"], "x");
}

#[test]
fn dropping_a_list_map_item_removes_it() {
    let t = table();
    let mut two = deployment(1, "app:1");
    two["spec"]["template"]["spec"]["containers"] =
        json!([{"name": "app", "image": "app:1"}, {"name": "side", "image": "side:1"}]);
    let live = apply(None, &two, "kubectl", false, &t, T0).unwrap();
    let out = apply(
        Some(&live),
        &deployment(1, "app:1"),
        "kubectl",
        false,
        &t,
        T1,
    )
    .unwrap();
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([{"name": "app", "image": "app:1"}])
    );
}

#[test]
fn list_map_items_of_different_managers_coexist() {
    let t = table();
    let live = apply(None, &deployment(1, "app:1"), "alice", false, &t, T0).unwrap();
    let mut other = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"template": {"spec": {"containers": [{"name": "side", "image": "side:1"}]}}}});
    let out = apply(Some(&live), &other, "bob", false, &t, T1).unwrap();
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([{"name": "app", "image": "app:1"}, {"name": "side", "image": "side:1"}])
    );
    assert_eq!(out["spec"]["replicas"], 1);
    // Bob applying nothing for containers removes only his item.
    other["spec"] = json!({});
    let out = apply(Some(&out), &other, "bob", false, &t, T1).unwrap();
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([{"name": "app", "image": "app:1"}])
    );
}

#[test]
fn list_map_keys_use_protocol_default() {
    let t = table();
    let mut config = deployment(1, "app:1");
    config["spec"]["template"]["spec"]["containers"][0]["ports"] = json!([{"containerPort": 80}]);
    let mut live = apply(None, &config, "kubectl", false, &t, T0).unwrap();
    // The server defaults protocol; re-applying must address the same item.
    live["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = json!("TCP");
    let out = apply(Some(&live), &config, "kubectl", false, &t, T1).unwrap();
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][0]["ports"],
        json!([{"containerPort": 80, "protocol": "TCP"}])
    );
    let fields = &out["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]
        ["f:containers"]["k:{\"name\":\"app\"}"];
    assert!(
        fields["f:ports"]
            .get("k:{\"containerPort\":80,\"protocol\":\"TCP\"}")
            .is_some(),
        "{fields}"
    );
}

#[test]
fn set_lists_merge_per_item() {
    let t = table();
    let cm = |finalizers: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": finalizers}});
    let live = apply(None, &cm(json!(["a/x"])), "alice", false, &t, T0).unwrap();
    let out = apply(Some(&live), &cm(json!(["b/y"])), "bob", false, &t, T1).unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["a/x", "b/y"]));
    assert_eq!(
        out["metadata"]["managedFields"][1]["fieldsV1"],
        json!({"f:metadata": {"f:finalizers": {"v:\"b/y\"": {}}}})
    );
    let out = apply(Some(&out), &cm(json!([])), "alice", false, &t, T1).unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["b/y"]));
}

#[test]
fn atomic_lists_conflict_as_a_whole() {
    let t = table();
    let pod = |tolerations: Value| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"tolerations": tolerations}});
    let live = apply(None, &pod(json!([{"key": "a"}])), "alice", false, &t, T0).unwrap();
    let err = apply(
        Some(&live),
        &pod(json!([{"key": "b"}])),
        "bob",
        false,
        &t,
        T1,
    )
    .unwrap_err();
    let ApplyError::Conflicts(c) = err else {
        panic!()
    };
    assert_eq!(c[0].path, ".spec.tolerations");
    let out = apply(
        Some(&live),
        &pod(json!([{"key": "b"}])),
        "bob",
        true,
        &t,
        T1,
    )
    .unwrap();
    assert_eq!(out["spec"]["tolerations"], json!([{"key": "b"}]));
    assert_eq!(managed_fields(&out).len(), 1);
}

#[test]
fn custom_resources_use_deduced_semantics() {
    let t = table();
    let cr = |v: Value| json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": v});
    let live = apply(
        None,
        &cr(json!({"a": 1, "list": [1, 2]})),
        "alice",
        false,
        &t,
        T0,
    )
    .unwrap();
    let err = apply(Some(&live), &cr(json!({"list": [3]})), "bob", false, &t, T1).unwrap_err();
    assert!(matches!(err, ApplyError::Conflicts(ref c) if c[0].path == ".spec.list"));
    let out = apply(Some(&live), &cr(json!({"b": 2})), "bob", false, &t, T1).unwrap();
    assert_eq!(out["spec"], json!({"a": 1, "list": [1, 2], "b": 2}));
}

#[test]
fn invalid_configs_are_rejected() {
    let t = table();
    assert!(matches!(
        apply(None, &json!([]), "m", false, &t, T0),
        Err(ApplyError::Invalid(_))
    ));
    let mut c = deployment(1, "x");
    c["metadata"]["managedFields"] = json!([{"manager": "x"}]);
    assert!(matches!(
        apply(None, &c, "m", false, &t, T0),
        Err(ApplyError::Invalid(_))
    ));
    let mut c = deployment(1, "x");
    c["spec"]["template"]["spec"]["containers"] = json!([{"image": "no-name"}]);
    assert!(matches!(
        apply(None, &c, "m", false, &t, T0),
        Err(ApplyError::Invalid(_))
    ));
    let mut c = deployment(1, "x");
    c["spec"]["template"]["spec"]["containers"] = json!([{"name": "a"}, {"name": "a"}]);
    assert!(matches!(
        apply(None, &c, "m", false, &t, T0),
        Err(ApplyError::Invalid(_))
    ));
}

#[test]
fn update_records_changed_fields_with_dot_entries() {
    let t = table();
    let mut created = deployment(1, "app:1");
    record_update(None, &mut created, "kubectl-create", "Update", &t, T0);
    let mf = &created["metadata"]["managedFields"][0];
    assert_eq!(mf["operation"], "Update");
    assert_eq!(
        mf["fieldsV1"]["f:metadata"],
        json!({"f:labels": {".": {}, "f:app": {}}})
    );
    assert_eq!(
        mf["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"],
        json!({"k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}}})
    );
}

#[test]
fn update_takes_ownership_from_others_and_drops_removed() {
    let t = table();
    let live = apply(None, &deployment(1, "app:1"), "kubectl", false, &t, T0).unwrap();
    let mut new = live.clone();
    new["spec"]["replicas"] = json!(4);
    new["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .shift_remove("app");
    record_update(Some(&live), &mut new, "hpa", "Update", &t, T1);
    let mut es = Vec::new();
    let kubectl = entry(&new, "kubectl", &mut es).cloned().unwrap();
    let replicas = [
        PathElement::Field("spec".into()),
        PathElement::Field("replicas".into()),
    ];
    let label = [
        PathElement::Field("metadata".into()),
        PathElement::Field("labels".into()),
        PathElement::Field("app".into()),
    ];
    assert!(!kubectl.fields.contains(&replicas));
    assert!(!kubectl.fields.contains(&label));
    let hpa = entry(&new, "hpa", &mut es).cloned().unwrap();
    assert!(hpa.fields.contains(&replicas));
    assert_eq!(hpa.time.as_deref(), Some(T1));
    // No-op updates add no manager.
    let mut same = new.clone();
    record_update(Some(&new), &mut same, "noop", "Update", &t, T1);
    assert!(entry(&same, "noop", &mut es).is_none());
}

#[test]
fn update_can_reset_managed_fields() {
    let t = table();
    let live = apply(None, &deployment(1, "app:1"), "kubectl", false, &t, T0).unwrap();
    let mut new = live.clone();
    new["metadata"]["managedFields"] = json!([]);
    record_update(Some(&live), &mut new, "m", "Update", &t, T1);
    assert!(new["metadata"].get("managedFields").is_none());
}

#[test]
fn subresource_writes_keep_their_own_entries() {
    let t = table();
    let live = apply(None, &deployment(1, "app:1"), "kubectl", false, &t, T0).unwrap();
    // The same manager applying through /scale gets a second entry, and takes the field over.
    let scaled = apply(
        Some(&live),
        &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                "spec": {"replicas": 3}}),
        Manager::of("kubectl", "scale"),
        true,
        &t,
        T1,
    )
    .unwrap();
    let entries = managed_fields(&scaled);
    let replicas = [
        PathElement::Field("spec".into()),
        PathElement::Field("replicas".into()),
    ];
    let main = entries
        .iter()
        .find(|e| e.manager == "kubectl" && e.subresource.is_empty())
        .unwrap();
    let scale = entries
        .iter()
        .find(|e| e.manager == "kubectl" && e.subresource == "scale")
        .unwrap();
    assert!(!main.fields.contains(&replicas));
    assert!(scale.fields.contains(&replicas));
    assert_eq!(
        scaled["metadata"]["managedFields"][1]["subresource"],
        "scale"
    );

    // An Update through /status is recorded apart from the main-resource Apply entry.
    let mut with_status = scaled.clone();
    with_status["status"] = json!({"replicas": 3});
    record_update(
        Some(&scaled),
        &mut with_status,
        Manager::of("kubectl", "status"),
        "Update",
        &t,
        T1,
    );
    let entries = managed_fields(&with_status);
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert!(entries
        .iter()
        .any(|e| e.subresource == "status" && e.operation == "Update"));
}

#[test]
fn entries_without_a_manager_are_kept() {
    let obj = json!({"metadata": {"managedFields": [
        {"operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:data": {"f:a": {}}}}]}});
    let entries = managed_fields(&obj);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].manager, "");
}
