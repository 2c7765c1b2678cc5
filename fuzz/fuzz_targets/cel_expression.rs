//! CEL from CRD validation rules and admission policies: compile, and evaluate what compiled
//! against an object.
#![no_main]

use ferrokube_apiextensions::expression::{Bindings, Expression};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(expr) = Expression::compile(text) {
        let object = json!({"spec": {"replicas": 3, "items": [1, 2]},
            "metadata": {"name": "a", "labels": {"app": "web"}}});
        let mut bindings = Bindings::default();
        if bindings.bind_json("object", &object).is_ok() {
            let _ = bindings.eval(&expr);
        }
    }
});
