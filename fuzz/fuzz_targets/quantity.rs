//! Resource quantities (`resources.requests.cpu`, quota `hard`, limit ranges, size limits): parse
//! any text as upstream's `ParseQuantity` would, never panicking, and keep the value exact — the
//! parsed value written back in nanos parses to the same value, and a sign flips it exactly.
#![no_main]

use ferrokube_apimachinery::quantity::Quantity;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(q) = Quantity::parse(text) else {
        return;
    };
    let nanos = q.nanos();
    assert!(q.value() >= nanos.div_euclid(1_000_000_000), "{text}");
    assert!(q.milli_value() >= nanos.div_euclid(1_000_000), "{text}");
    if nanos != i128::MAX && nanos != i128::MIN + 1 {
        assert_eq!(Quantity::parse(&format!("{nanos}n")), Ok(q), "{text}");
    }
    if !text.starts_with(['-', '+']) {
        let negated = Quantity::parse(&format!("-{text}")).expect("a negated quantity parses");
        assert_eq!(negated.nanos(), -nanos, "{text}");
    }
});
