//! Resource quantities (`resources.requests.cpu`, quota `hard`, limit ranges, size limits): parse
//! any text as upstream's `ParseQuantity` would, never panicking, and keep the value exact — the
//! parsed value written back in nanos parses to the same value, a sign flips it exactly, and
//! the canonical form (what the server stores) parses back to the same value.
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
        assert_eq!(
            Quantity::parse(&format!("{nanos}n")).map(Quantity::nanos),
            Ok(nanos),
            "{text}"
        );
    }
    // Upstream's canonical text names the same value (not always in the same form: `62.5Ki`
    // is `64000`, which read again is `64k`, as upstream's).
    if let Some(canonical) = q.canonical() {
        let again = Quantity::parse(&canonical).expect("the canonical form parses");
        assert_eq!(again.nanos(), nanos, "{text} -> {canonical}");
    }
    if !text.starts_with(['-', '+']) {
        let negated = Quantity::parse(&format!("-{text}")).expect("a negated quantity parses");
        assert_eq!(negated.nanos(), -nanos, "{text}");
    }
});
