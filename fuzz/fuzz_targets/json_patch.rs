//! JSON patch (RFC 6902) and JSON merge patch (RFC 7386) bodies against a stored object, as the
//! PATCH handler applies them: never panicking, a failed JSON patch leaving the object as it was
//! is the caller's (it patches a copy), and a merge patch being idempotent (applying the result's
//! patch again changes nothing). The first byte picks the patch type.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let Ok(patch) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let stored = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "labels": {"app": "web"}, "finalizers": ["a", "b"]},
        "spec": {"containers": [{"name": "c", "image": "busybox", "args": ["1", "2"]}]}});
    if pick % 2 == 0 {
        let Ok(ops) = serde_json::from_value::<json_patch::Patch>(patch) else {
            return;
        };
        let mut doc = stored.clone();
        let _ = json_patch::patch(&mut doc, &ops);
    } else if patch.is_object() {
        let mut once = stored.clone();
        json_patch::merge(&mut once, &patch);
        let mut twice = once.clone();
        json_patch::merge(&mut twice, &patch);
        assert_eq!(once, twice, "merge patches are idempotent");
    }
});
