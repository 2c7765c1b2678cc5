//! CronJob schedule validation: a port of the parse step of `robfig/cron/v3`'s
//! `ParseStandard`, which upstream's `validateScheduleFormat` calls, with its error texts.

/// Bounds and names of one cron field (robfig's `bounds`).
struct Bounds {
    min: i64,
    max: i64,
    names: &'static [(&'static str, i64)],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[
        ("sun", 0),
        ("mon", 1),
        ("tue", 2),
        ("wed", 3),
        ("thu", 4),
        ("fri", 5),
        ("sat", 6),
    ],
};

/// Checks a standard (5-field or `@descriptor`) cron spec; `Err` carries robfig's message.
pub fn parse_standard(spec: &str) -> Result<(), String> {
    if spec.is_empty() {
        return Err("empty spec string".into());
    }
    // A leading TZ=/CRON_TZ= is stripped by the parser (upstream's validation forbids it
    // separately for new objects).
    let mut spec = spec;
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        let Some(i) = spec.find(' ') else {
            return Err(format!(
                "provided bad location {spec}: unknown time zone {spec}"
            ));
        };
        spec = spec[i..].trim();
    }
    if spec.starts_with('@') {
        return parse_descriptor(spec);
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    for (field, bounds) in fields.iter().zip([&MINUTES, &HOURS, &DOM, &MONTHS, &DOW]) {
        for expr in field.split(',') {
            range(expr, bounds)?;
        }
    }
    Ok(())
}

/// Upstream `validateScheduleFormat`'s extra rule for new objects: the zone belongs in
/// `spec.timeZone`, not in the schedule (any `TZ` substring counts, as upstream).
pub fn schedule_has_tz(spec: &str) -> bool {
    spec.contains("TZ")
}

/// Upstream `validateTimeZone`: IANA naming rules, no `Local`, and the zone must exist
/// (Go's `time.LoadLocation`, here the tz database compiled into `chrono-tz`).
pub fn time_zone(tz: &str) -> Result<(), String> {
    if tz.is_empty() {
        return Err("timeZone must be nil or non-empty string".into());
    }
    // Components: 1-14 chars of [A-Za-z.-_0-9+], not `.`/`..`, not starting with `-`.
    let bad_part = |p: &str| {
        p == "."
            || p == ".."
            || p.starts_with('-')
            || p.is_empty()
            || p.len() > 14
            || !p
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b".-_+".contains(&c))
    };
    if tz.split('/').any(bad_part) {
        return Err(format!("unknown time zone {tz}"));
    }
    if tz.eq_ignore_ascii_case("Local") {
        return Err(
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"
                .into(),
        );
    }
    match tz.parse::<chrono_tz::Tz>() {
        Ok(_) => Ok(()),
        Err(_) => Err(format!("unknown time zone {tz}")),
    }
}

fn parse_descriptor(spec: &str) -> Result<(), String> {
    match spec {
        "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight" | "@hourly" => {
            Ok(())
        }
        _ => match spec.strip_prefix("@every ") {
            Some(d) if go_duration_ok(d) => Ok(()),
            Some(d) => Err(format!(
                "failed to parse duration {spec}: time: invalid duration \"{d}\""
            )),
            None => Err(format!("unrecognized descriptor: {spec}")),
        },
    }
}

/// Whether `d` parses as a Go `time.Duration` (`1h30m`, `90s`, `1.5h`).
fn go_duration_ok(d: &str) -> bool {
    let mut rest = d.strip_prefix(['+', '-']).unwrap_or(d);
    if rest == "0" {
        return true;
    }
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 || rest[..num_len] == *"." {
            return false;
        }
        rest = &rest[num_len..];
        let unit = ["ns", "us", "µs", "μs", "ms", "s", "m", "h"]
            .iter()
            .filter(|u| rest.starts_with(**u))
            .max_by_key(|u| u.len());
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

/// robfig's `getRange`: `*`, `?`, `a`, `a-b`, each optionally `/step`.
fn range(expr: &str, b: &Bounds) -> Result<(), String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let (start, mut end) = if low_and_high[0] == "*" || low_and_high[0] == "?" {
        (b.min, b.max)
    } else {
        let start = int_or_name(low_and_high[0], b.names)?;
        let end = match low_and_high.len() {
            1 => start,
            2 => int_or_name(low_and_high[1], b.names)?,
            _ => return Err(format!("too many hyphens: {expr}")),
        };
        (start, end)
    };
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = must_parse_int(range_and_step[1])?;
            if single {
                end = b.max;
            }
            step
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < b.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            b.min
        ));
    }
    if end > b.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            b.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    Ok(())
}

fn int_or_name(expr: &str, names: &[(&str, i64)]) -> Result<i64, String> {
    let lower = expr.to_ascii_lowercase();
    match names.iter().find(|(n, _)| *n == lower) {
        Some((_, v)) => Ok(*v),
        None => must_parse_int(expr),
    }
}

/// robfig's `mustParseInt` with Go's `strconv.Atoi` error texts.
fn must_parse_int(expr: &str) -> Result<i64, String> {
    let digits = expr.strip_prefix(['+', '-']).unwrap_or(expr);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing \"{expr}\": invalid syntax"
        ));
    }
    let n: i64 = match expr.parse() {
        Ok(n) => n,
        Err(_) => {
            return Err(format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing \"{expr}\": value out of range"
        ))
        }
    };
    if n < 0 {
        return Err(format!("negative number ({n}) not allowed: {expr}"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_standard_specs() {
        for ok in [
            "*/1 * * * *",
            "0 0 * * *",
            "5,10-20/5 1-3 1 jan-Mar mon-fri",
            "? * * * SUN",
            "@hourly",
            "@every 1h30m",
            "CRON_TZ=UTC 0 * * * *",
        ] {
            assert_eq!(parse_standard(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_with_robfig_messages() {
        let cases = [
            ("", "empty spec string"),
            (
                "not a cron",
                "expected exactly 5 fields, found 3: [not a cron]",
            ),
            (
                "* * * * * *",
                "expected exactly 5 fields, found 6: [* * * * * *]",
            ),
            ("60 * * * *", "end of range (60) above maximum (59): 60"),
            ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
            (
                "5-1 * * * *",
                "beginning of range (5) beyond end of range (1): 5-1",
            ),
            (
                "*/0 * * * *",
                "step of range should be a positive number: */0",
            ),
            ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
            ("*/2/3 * * * *", "too many slashes: */2/3"),
            (
                "x * * * *",
                "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax",
            ),
            ("@fortnightly", "unrecognized descriptor: @fortnightly"),
        ];
        for (spec, msg) in cases {
            assert_eq!(parse_standard(spec), Err(msg.to_string()), "{spec:?}");
        }
    }

    #[test]
    fn time_zones_follow_iana_names() {
        for ok in [
            "UTC",
            "Asia/Tokyo",
            "America/Argentina/Buenos_Aires",
            "Etc/GMT+9",
        ] {
            assert_eq!(time_zone(ok), Ok(()), "{ok}");
        }
        let unknown = |z: &str| Err(format!("unknown time zone {z}"));
        for bad in [
            "Mars/Olympus",
            "asia/tokyo",
            "../etc/passwd",
            "Europe//Paris",
            "A/-b",
        ] {
            assert_eq!(time_zone(bad), unknown(bad), "{bad}");
        }
        assert!(time_zone("local")
            .unwrap_err()
            .starts_with("timeZone must be an explicit"));
        assert_eq!(
            time_zone(""),
            Err("timeZone must be nil or non-empty string".into())
        );
        assert!(schedule_has_tz("CRON_TZ=UTC 0 * * * *"));
        assert!(!schedule_has_tz("0 * * * *"));
    }
}
