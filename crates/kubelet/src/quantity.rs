//! Resource quantities as the kubelet uses them: container sizes and resourceFieldRef values
//! (parsing is apimachinery's, upstream's grammar).

use ferrokube_apimachinery::quantity::Quantity;

/// Parse a quantity (`100m`, `1.5Gi`, `2e3`, `128974848`) into billionths of a unit.
pub fn parse_nanos(s: &str) -> Option<i128> {
    Quantity::parse_trimmed(s).ok().map(Quantity::nanos)
}

/// Whole units, rounded up (memory bytes, pods).
pub fn parse_units_ceil(s: &str) -> Option<i128> {
    Quantity::parse_trimmed(s).ok().map(Quantity::value)
}

/// Millis (CPU millicores), rounded up.
pub fn parse_millis_ceil(s: &str) -> Option<i128> {
    Quantity::parse_trimmed(s).ok().map(Quantity::milli_value)
}

/// `value / divisor` rounded up, both as quantities (resourceFieldRef semantics).
pub fn divide_ceil(value_nanos: i128, divisor: &str) -> Option<i128> {
    let d = parse_nanos(divisor)?;
    if d <= 0 {
        return None;
    }
    Some((value_nanos + d - 1).div_euclid(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstream_forms() {
        assert_eq!(parse_millis_ceil("100m"), Some(100));
        assert_eq!(parse_millis_ceil("1"), Some(1000));
        assert_eq!(parse_millis_ceil("0.5"), Some(500));
        assert_eq!(parse_millis_ceil("1.5"), Some(1500));
        assert_eq!(parse_units_ceil("128Mi"), Some(128 * 1024 * 1024));
        assert_eq!(parse_units_ceil("1G"), Some(1_000_000_000));
        assert_eq!(parse_units_ceil("1e3"), Some(1000));
        assert_eq!(parse_units_ceil("1E3"), Some(1000));
        assert_eq!(parse_units_ceil("1.5Gi"), Some(1_610_612_736));
        assert_eq!(parse_units_ceil("129M"), Some(129_000_000));
        assert_eq!(parse_units_ceil("abc"), None);
        assert_eq!(parse_units_ceil("1Qi"), None);
        assert_eq!(parse_units_ceil(""), None);
        assert_eq!(parse_units_ceil("1.2.3"), None);
        assert_eq!(parse_units_ceil("-1"), Some(-1));
    }

    #[test]
    fn divides_with_ceiling() {
        let mem = parse_nanos("64Mi").unwrap_or_default();
        assert_eq!(divide_ceil(mem, "1Mi"), Some(64));
        assert_eq!(divide_ceil(mem, "1"), Some(64 * 1024 * 1024));
        let cpu = parse_nanos("250m").unwrap_or_default();
        assert_eq!(divide_ceil(cpu, "1"), Some(1));
        assert_eq!(divide_ceil(cpu, "1m"), Some(250));
        assert_eq!(divide_ceil(cpu, "0"), None);
    }
}
