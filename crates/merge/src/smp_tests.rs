//! Behaviour ported from upstream `patch_test.go` tables, expressed on real built-in kinds.
use super::*;
use serde_json::json;

fn pod_patch(original: Value, patch: Value) -> Result<Value, MergeError> {
    let table = MergeKeyTable::builtin();
    strategic_merge_patch(&original, &patch, &table, table.root("v1", "Pod"))
}

fn deploy_patch(original: Value, patch: Value) -> Result<Value, MergeError> {
    let table = MergeKeyTable::builtin();
    strategic_merge_patch(
        &original,
        &patch,
        &table,
        table.root("apps/v1", "Deployment"),
    )
}

#[test]
fn maps_merge_and_null_deletes() {
    let out = pod_patch(
        json!({"metadata": {"name": "p", "labels": {"a": "1", "b": "2"}}}),
        json!({"metadata": {"labels": {"a": null, "c": "3"}}}),
    )
    .unwrap();
    assert_eq!(
        out,
        json!({"metadata": {"name": "p", "labels": {"b": "2", "c": "3"}}})
    );
}

#[test]
fn unmatched_nulls_are_ignored() {
    let out = pod_patch(
        json!({"spec": {}}),
        json!({"spec": {"nodeName": null}, "metadata": {"labels": {"x": null, "y": "1"}}}),
    )
    .unwrap();
    assert_eq!(out, json!({"spec": {}, "metadata": {"labels": {"y": "1"}}}));
}

#[test]
fn merge_list_by_key_merges_and_appends() {
    let out = pod_patch(
        json!({"spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}),
        json!({"spec": {"containers": [{"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}]}}),
    )
    .unwrap();
    assert_eq!(
        out["spec"]["containers"],
        // Server-only "a" sorts before patched "b" (both live); "c" follows the patch order.
        json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}])
    );
}

/// Upstream quirk (see the kubectl patch docs): without `$setElementOrder` a new item
/// whose neighbours are unknown to the live list is placed first.
#[test]
fn nested_merge_lists_by_key() {
    let out = pod_patch(
        json!({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80, "name": "http"}], "env": [{"name": "X", "value": "1"}]}]}}),
        json!({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 443}], "env": [{"name": "X", "value": "2"}]}]}}),
    )
    .unwrap();
    assert_eq!(
        out["spec"]["containers"][0],
        json!({"name": "a", "ports": [{"containerPort": 443}, {"containerPort": 80, "name": "http"}], "env": [{"name": "X", "value": "2"}]})
    );
}

#[test]
fn list_without_strategy_is_replaced() {
    let out = pod_patch(
        json!({"spec": {"tolerations": [{"key": "a"}], "containers": [{"name": "a", "args": ["x", "y"]}]}}),
        json!({"spec": {"tolerations": [{"key": "b"}], "containers": [{"name": "a", "args": ["z"]}]}}),
    )
    .unwrap();
    assert_eq!(out["spec"]["tolerations"], json!([{"key": "b"}]));
    assert_eq!(out["spec"]["containers"][0]["args"], json!(["z"]));
}

#[test]
fn primitive_merge_list_dedupes_and_appends() {
    let out = pod_patch(
        json!({"metadata": {"finalizers": ["a", "b"]}}),
        json!({"metadata": {"finalizers": ["b", "c"]}}),
    )
    .unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));
}

#[test]
fn delete_from_primitive_list() {
    let out = pod_patch(
        json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"], "finalizers": ["d"]}}),
    )
    .unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["d", "a", "c"]));
    let out = pod_patch(
        json!({"metadata": {}}),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}),
    )
    .unwrap();
    assert_eq!(out, json!({"metadata": {}}));
}

#[test]
fn bad_delete_from_primitive_list_key() {
    let err = pod_patch(
        json!({"metadata": {}}),
        json!({"metadata": {"$deleteFromPrimitiveList": ["b"]}}),
    )
    .unwrap_err();
    assert_eq!(err, MergeError::BadPrimitiveList);
}

#[test]
fn patch_delete_directive_in_list() {
    let out = pod_patch(
        json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}}),
        json!({"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}),
    )
    .unwrap();
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "a"}, {"name": "c"}])
    );
}

#[test]
fn patch_replace_directive_in_list() {
    let out = pod_patch(
        json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}),
        json!({"spec": {"containers": [{"name": "c", "image": "i"}, {"$patch": "replace"}]}}),
    )
    .unwrap();
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "c", "image": "i"}])
    );
}

#[test]
fn patch_merge_directive_in_list_is_an_error() {
    let err = pod_patch(
        json!({"spec": {"containers": [{"name": "a"}]}}),
        json!({"spec": {"containers": [{"$patch": "merge"}]}}),
    )
    .unwrap_err();
    assert_eq!(err, MergeError::MergeDirectiveInList);
}

#[test]
fn patch_replace_and_delete_directives_on_maps() {
    let out = pod_patch(
        json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
        json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}}}),
    )
    .unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"c": "3"}));
    let out = pod_patch(
        json!({"metadata": {"labels": {"a": "1"}}}),
        json!({"metadata": {"labels": {"$patch": "delete"}}}),
    )
    .unwrap();
    assert_eq!(out["metadata"]["labels"], json!({}));
    let out = pod_patch(json!({"a": 1}), json!({"$patch": "replace", "b": 2})).unwrap();
    assert_eq!(out, json!({"b": 2}));
}

#[test]
fn unknown_directive_is_an_error() {
    let err = pod_patch(
        json!({"metadata": {"labels": {}}}),
        json!({"metadata": {"labels": {"$patch": "frobnicate"}}}),
    )
    .unwrap_err();
    assert!(matches!(err, MergeError::BadPatchType { .. }));
    let err = pod_patch(
        json!({"spec": {"containers": [{"name": "a"}]}}),
        json!({"spec": {"containers": [{"name": "a", "$patch": "x"}]}}),
    )
    .unwrap_err();
    assert!(matches!(err, MergeError::BadPatchType { .. }));
}

#[test]
fn missing_merge_key_is_an_error() {
    let err = pod_patch(
        json!({"spec": {"containers": [{"name": "a"}]}}),
        json!({"spec": {"containers": [{"image": "x"}]}}),
    )
    .unwrap_err();
    assert!(matches!(err, MergeError::NoMergeKey { .. }));
    let err = pod_patch(
        json!({"spec": {"containers": [{"name": "a"}]}}),
        json!({"spec": {"containers": [{"$patch": "delete"}]}}),
    )
    .unwrap_err();
    assert!(matches!(err, MergeError::NoMergeKey { .. }));
}

#[test]
fn type_mismatch_replaces() {
    let out = pod_patch(
        json!({"spec": {"containers": [{"name": "a"}]}}),
        json!({"spec": {"containers": "oops"}}),
    )
    .unwrap();
    assert_eq!(out["spec"]["containers"], json!("oops"));
}

#[test]
fn directives_in_new_fields_are_resolved() {
    let out = pod_patch(
        json!({"spec": {}}),
        json!({"spec": {"containers": [{"name": "a"}, {"name": "b", "$patch": "delete"}]}}),
    )
    .unwrap();
    assert_eq!(out["spec"]["containers"], json!([{"name": "a"}]));
}

#[test]
fn set_element_order_orders_merged_list() {
    let out = pod_patch(
        json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}}),
        json!({"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}], "containers": [{"name": "a", "image": "x"}]}}),
    )
    .unwrap();
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "c"}, {"name": "a", "image": "x"}, {"name": "b"}])
    );
}

#[test]
fn set_element_order_keeps_server_only_items_in_place() {
    // kubectl apply: last-applied had [a, b], live has [a, x, b] (x added by someone else),
    // new config is [b, a, c].
    let out = pod_patch(
        json!({"spec": {"containers": [{"name": "a"}, {"name": "x"}, {"name": "b"}]}}),
        json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}, {"name": "c"}], "containers": [{"name": "c"}]}}),
    )
    .unwrap();
    assert_eq!(
        out["spec"]["containers"], // Best effort as upstream: x precedes b live, so it is placed before b.
        json!([{"name": "x"}, {"name": "b"}, {"name": "a"}, {"name": "c"}])
    );
}

#[test]
fn set_element_order_primitive_list_with_deletions() {
    let out = pod_patch(
        json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
        json!({"metadata": {"$setElementOrder/finalizers": ["c", "a", "d"], "$deleteFromPrimitiveList/finalizers": ["b"], "finalizers": ["d"]}}),
    )
    .unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["c", "a", "d"]));
}

#[test]
fn set_element_order_mismatch_is_an_error() {
    let err = pod_patch(
        json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}),
        json!({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}], "containers": [{"name": "b"}, {"name": "a"}]}}),
    )
    .unwrap_err();
    assert!(matches!(err, MergeError::OrderMismatch { .. }));
}

#[test]
fn set_element_order_must_be_a_list() {
    let err = pod_patch(
        json!({"spec": {}}),
        json!({"spec": {"$setElementOrder/containers": {"name": "a"}}}),
    )
    .unwrap_err();
    assert!(matches!(err, MergeError::BadArgType { .. }));
}

#[test]
fn retain_keys_clears_other_union_members() {
    let out = deploy_patch(
        json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}),
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
    )
    .unwrap();
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn retain_keys_in_merge_list_items() {
    let out = pod_patch(
        json!({"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}),
        json!({"spec": {"volumes": [{"name": "v", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/x"}}]}}),
    )
    .unwrap();
    assert_eq!(
        out["spec"]["volumes"],
        json!([{"name": "v", "hostPath": {"path": "/x"}}])
    );
}

#[test]
fn retain_keys_must_list_patched_fields() {
    let err = deploy_patch(
        json!({"spec": {"strategy": {"type": "RollingUpdate"}}}),
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}}}),
    )
    .unwrap_err();
    assert_eq!(err, MergeError::BadRetainKeys);
    let err = deploy_patch(
        json!({"spec": {"strategy": {}}}),
        json!({"spec": {"strategy": {"$retainKeys": "type"}}}),
    )
    .unwrap_err();
    assert_eq!(err, MergeError::BadRetainKeys);
}

#[test]
fn replace_strategy_on_struct_replaces_whole_value() {
    let table = MergeKeyTable::builtin();
    let root = table.root("policy/v1", "PodDisruptionBudget");
    let out = strategic_merge_patch(
        &json!({"spec": {"selector": {"matchLabels": {"a": "1"}}}}),
        &json!({"spec": {"selector": {"matchExpressions": []}}}),
        &table,
        root,
    )
    .unwrap();
    assert_eq!(out["spec"]["selector"], json!({"matchExpressions": []}));
}

#[test]
fn unknown_kinds_behave_like_json_merge_patch() {
    let table = MergeKeyTable::builtin();
    let root = table.root("example.com/v1", "Widget");
    let out = strategic_merge_patch(
        &json!({"spec": {"items": [{"name": "a"}], "m": {"x": 1, "y": 2}}}),
        &json!({"spec": {"items": [{"name": "b"}], "m": {"x": null, "z": 3}}}),
        &table,
        root,
    )
    .unwrap();
    assert_eq!(
        out,
        json!({"spec": {"items": [{"name": "b"}], "m": {"y": 2, "z": 3}}})
    );
}

#[test]
fn non_object_documents_are_rejected() {
    let table = MergeKeyTable::builtin();
    let err = strategic_merge_patch(&json!([]), &json!({}), &table, Ty::Scalar).unwrap_err();
    assert_eq!(err, MergeError::NotAnObject("original"));
    let err = strategic_merge_patch(&json!({}), &json!("x"), &table, Ty::Scalar).unwrap_err();
    assert_eq!(err, MergeError::NotAnObject("patch"));
}

#[test]
fn list_of_lists_and_mixed_lists_are_errors() {
    let err = pod_patch(
        json!({"metadata": {"finalizers": [["a"]]}}),
        json!({"metadata": {"finalizers": [["b"]]}}),
    )
    .unwrap_err();
    assert_eq!(err, MergeError::ListOfLists);
    let err = pod_patch(
        json!({"metadata": {"finalizers": ["a"]}}),
        json!({"metadata": {"finalizers": [1]}}),
    )
    .unwrap_err();
    assert!(matches!(err, MergeError::MixedElementTypes(_)));
}

#[test]
fn kubectl_apply_patch_round_trip() {
    // A patch as kubectl apply computes it for changing an image and dropping a port.
    let live = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "app", "image": "app:1", "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 81, "protocol": "TCP"}]},
            {"name": "side", "image": "side:1"}
        ]}}}
    });
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "side"}],
        "containers": [{"name": "app", "image": "app:2",
            "$setElementOrder/ports": [{"containerPort": 80}],
            "ports": [{"containerPort": 81, "$patch": "delete"}]}]
    }}}});
    let out = deploy_patch(live, patch).unwrap();
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([
            {"name": "app", "image": "app:2", "ports": [{"containerPort": 80, "protocol": "TCP"}]},
            {"name": "side", "image": "side:1"}
        ])
    );
    assert_eq!(out["spec"]["replicas"], json!(1));
}
