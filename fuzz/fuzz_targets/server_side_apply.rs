//! `application/apply-patch+yaml` configurations (as JSON, which YAML decodes to) applied
//! server-side onto a live Deployment that another manager owns fields of: field sets, list
//! maps, pruning, conflicts and `force`. The live object's `managedFields` come from the input
//! too, as a client may have written any `FieldsV1` there with a plain update.
#![no_main]

use ferrokube_merge::{apply, MergeKeyTable};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let Ok(input) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let table = MergeKeyTable::builtin();
    let now = "2026-01-01T00:00:00Z";
    let base = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "busybox",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}}});
    let Ok(live) = apply(None, &base, "kubectl", false, &table, now) else {
        return;
    };
    let force = flags & 1 == 1;
    if flags & 2 == 2 {
        // The input is the live object's managed fields; a fixed config is applied over it.
        let mut tampered = live.clone();
        tampered["metadata"]["managedFields"] = input;
        let config = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"}, "spec": {"replicas": 3}});
        let _ = apply(Some(&tampered), &config, "fuzzer", force, &table, now);
    } else if let Ok(applied) = apply(Some(&live), &input, "fuzzer", force, &table, now) {
        // Applying the same configuration again is a fixed point for its own fields.
        let _ = apply(Some(&applied), &input, "fuzzer", force, &table, now);
    }
});
