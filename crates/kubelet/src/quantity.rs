//! Just enough of Kubernetes resource quantities to size containers and answer resourceFieldRef.

/// Parse a quantity (`100m`, `1.5Gi`, `2e3`, `128974848`) into billionths of a unit.
pub fn parse_nanos(s: &str) -> Option<i128> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let (negative, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let num_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, suffix) = body.split_at(num_end);
    if number.is_empty() || number == "." {
        return None;
    }
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if frac_part.contains('.') {
        return None;
    }
    // Work in nanos with up to 9 fractional digits kept exactly; finer digits round up like
    // upstream's ceiling on scale-down.
    let int: i128 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().ok()?
    };
    let mut frac_nanos: i128 = 0;
    for (i, d) in frac_part.bytes().enumerate() {
        let d = i128::from(d - b'0');
        if i < 9 {
            frac_nanos += d * 10_i128.pow(8 - i as u32);
        } else if d > 0 {
            frac_nanos += 1;
            break;
        }
    }
    let base = int.checked_mul(1_000_000_000)?.checked_add(frac_nanos)?;
    let scaled = apply_suffix(base, suffix)?;
    Some(if negative { -scaled } else { scaled })
}

fn apply_suffix(base: i128, suffix: &str) -> Option<i128> {
    let binary = |p: u32| base.checked_mul(1_i128 << (10 * p));
    let decimal = |e: i32| {
        if e >= 0 {
            base.checked_mul(10_i128.checked_pow(e as u32)?)
        } else {
            let d = 10_i128.checked_pow((-e) as u32)?;
            // Ceiling keeps tiny values from rounding to zero.
            Some((base + d - 1).div_euclid(d))
        }
    };
    match suffix {
        "" => Some(base),
        "Ki" => binary(1),
        "Mi" => binary(2),
        "Gi" => binary(3),
        "Ti" => binary(4),
        "Pi" => binary(5),
        "Ei" => binary(6),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        s if s.starts_with(['e', 'E']) => decimal(s[1..].parse().ok()?),
        _ => None,
    }
}

/// Whole units, rounded up (memory bytes, pods).
pub fn parse_units_ceil(s: &str) -> Option<i128> {
    let n = parse_nanos(s)?;
    Some((n + 999_999_999).div_euclid(1_000_000_000))
}

/// Millis (CPU millicores), rounded up.
pub fn parse_millis_ceil(s: &str) -> Option<i128> {
    let n = parse_nanos(s)?;
    Some((n + 999_999).div_euclid(1_000_000))
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
