//! `application/strategic-merge-patch+json` bodies applied to a pod, with the built-in
//! merge-key table (directives such as `$patch`, `$retainKeys`, `$setElementOrder` included).
#![no_main]

use ferrokube_merge::{strategic_merge_patch, MergeKeyTable};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(patch) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "labels": {"app": "web"}, "finalizers": ["a"]},
        "spec": {"containers": [{"name": "c", "image": "busybox",
            "ports": [{"containerPort": 80, "protocol": "TCP"}],
            "env": [{"name": "A", "value": "1"}]}],
            "tolerations": [{"key": "k", "operator": "Exists"}]}});
    let table = MergeKeyTable::builtin();
    let _ = strategic_merge_patch(&pod, &patch, &table, table.root("v1", "Pod"));
});
