//! Go's string forms of time values: RFC3339 timestamps and `time.Duration`.

use crate::error::ProtoError;
use chrono::{DateTime, Utc};

/// Formats seconds/nanos as `metav1.Time` does: RFC3339 in UTC, whole seconds.
pub(crate) fn format_time(seconds: i64, nanos: i32, micro: bool) -> Result<String, ProtoError> {
    let nanos = u32::try_from(nanos).map_err(|_| ProtoError::InvalidTime)?;
    let t: DateTime<Utc> =
        DateTime::from_timestamp(seconds, nanos).ok_or(ProtoError::InvalidTime)?;
    let pattern = if micro {
        "%Y-%m-%dT%H:%M:%S%.6fZ"
    } else {
        "%Y-%m-%dT%H:%M:%SZ"
    };
    Ok(t.format(pattern).to_string())
}

/// Parses an RFC3339 timestamp into seconds and nanoseconds since the epoch.
pub(crate) fn parse_time(s: &str) -> Option<(i64, i32)> {
    let t = DateTime::parse_from_rfc3339(s).ok()?;
    Some((
        t.timestamp(),
        i32::try_from(t.timestamp_subsec_nanos()).ok()?,
    ))
}

/// The fraction of `v / 10^prec` as ".123" without trailing zeros (empty when zero), and
/// the integer part, as Go's `fmtFrac` does.
fn frac(v: u64, prec: u32) -> (String, u64) {
    let scale = 10u64.pow(prec);
    let digits = v % scale;
    let text = format!("{digits:0width$}", width = prec as usize);
    let trimmed = text.trim_end_matches('0');
    let s = if trimmed.is_empty() {
        String::new()
    } else {
        format!(".{trimmed}")
    };
    (s, v / scale)
}

/// Formats nanoseconds like Go's `time.Duration.String` (`1h2m3.5s`, `1.5ms`, `0s`).
pub(crate) fn format_duration(d: i64) -> String {
    let neg = d < 0;
    let u = d.unsigned_abs();
    let body = if u == 0 {
        return "0s".into();
    } else if u < 1_000 {
        format!("{u}ns")
    } else if u < 1_000_000 {
        let (f, i) = frac(u, 3);
        format!("{i}{f}µs")
    } else if u < 1_000_000_000 {
        let (f, i) = frac(u, 6);
        format!("{i}{f}ms")
    } else {
        let (f, secs) = frac(u, 9);
        let (s, mins) = (secs % 60, secs / 60);
        let (m, hours) = (mins % 60, mins / 60);
        if hours > 0 {
            format!("{hours}h{m}m{s}{f}s")
        } else if mins > 0 {
            format!("{m}m{s}{f}s")
        } else {
            format!("{s}{f}s")
        }
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

/// Parses a Go duration string (`time.ParseDuration`) into nanoseconds.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.bytes().take_while(u8::is_ascii_digit).count();
                a.split_at(n)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after.len(), |(i, _)| i);
        let (unit, after) = after.split_at(unit_len);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().ok()?
        };
        let mut value = int.checked_mul(scale)?;
        let mut div: u128 = 1;
        let mut f: u128 = 0;
        for d in frac_part.bytes().take(30) {
            f = f * 10 + u128::from(d - b'0');
            div *= 10;
        }
        value += f * scale / div;
        total = total.checked_add(value)?;
        if total > 1u128 << 63 {
            return None;
        }
        rest = after;
    }
    let total = i128::try_from(total).ok()?;
    i64::try_from(if neg { -total } else { total }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_format_like_go() {
        // Cases from Go's time package TestDurationString.
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (1100, "1.1µs"),
            (2_200_000, "2.2ms"),
            (3_300_000_000, "3.3s"),
            (4 * 60_000_000_000 + 5_000_000_000, "4m5s"),
            (4 * 60_000_000_000 + 5_001_000_000, "4m5.001s"),
            (
                5 * 3_600_000_000_000 + 6 * 60_000_000_000 + 7_001_000_000,
                "5h6m7.001s",
            ),
            (8 * 60_000_000_000 + 1, "8m0.000000001s"),
            (3_600_000_000_000, "1h0m0s"),
            (-1, "-1ns"),
            (i64::MAX, "2562047h47m16.854775807s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ];
        for (d, s) in cases {
            assert_eq!(format_duration(*d), *s);
            assert_eq!(parse_duration(s), Some(*d), "{s}");
        }
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("300ms"), Some(300_000_000));
        assert_eq!(parse_duration("-1.5h"), Some(-5_400_000_000_000));
        assert_eq!(parse_duration("2h45m"), Some(9_900_000_000_000));
        assert_eq!(parse_duration(".5s"), Some(500_000_000));
        assert_eq!(parse_duration("10us"), Some(10_000));
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("3"), None);
        assert_eq!(parse_duration("1d"), None);
        assert_eq!(parse_duration("."), None);
        assert_eq!(parse_duration("9999999999999999999h"), None);
    }

    #[test]
    fn times_format_as_rfc3339() {
        assert_eq!(
            format_time(1_704_164_645, 0, false).as_deref(),
            Ok("2024-01-02T03:04:05Z")
        );
        assert_eq!(
            format_time(1_704_164_645, 123_456_789, false).as_deref(),
            Ok("2024-01-02T03:04:05Z")
        );
        assert_eq!(
            format_time(1_704_164_645, 123_456_789, true).as_deref(),
            Ok("2024-01-02T03:04:05.123456Z")
        );
        assert_eq!(format_time(0, -1, false), Err(ProtoError::InvalidTime));
        assert_eq!(
            format_time(i64::MAX, 0, false),
            Err(ProtoError::InvalidTime)
        );
        assert_eq!(
            parse_time("2024-01-02T03:04:05.5+01:00"),
            Some((1_704_161_045, 500_000_000))
        );
        assert_eq!(parse_time("yesterday"), None);
    }
}
