//! Label and field selectors from `?labelSelector=` / `?fieldSelector=`: parse, and match what
//! parsed against a small object, never panicking.
#![no_main]

use std::collections::BTreeMap;

use ferrokube_apimachinery::fields::FieldSelector;
use ferrokube_apimachinery::labels::Selector;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(selector) = Selector::parse(&text) {
        let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
        let _ = selector.matches(&labels);
    }
    let _ = FieldSelector::parse(&text);
});
