//! The string formats CRD schemas may use (upstream apiextensions `supportedVersionedFormats`
//! at 1.33, checked the way kube-openapi's `strfmt.Default` registry checks them).

use std::net::IpAddr;
use std::sync::OnceLock;

use base64::Engine as _;
use regex::Regex;

/// Formats validated for strings, normalized (dashes removed) as go-openapi does.
const STRING_FORMATS: &[&str] = &[
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
    "quantity",
];

fn normalize(format: &str) -> String {
    format.replace('-', "")
}

/// The format a schema keeps for validation: unsupported ones are dropped (set to empty)
/// like upstream's `StripUnsupportedFormatsPostProcess`.
pub(crate) fn effective(ty: &str, format: &str) -> String {
    if format.is_empty() {
        return String::new();
    }
    let keep = match ty {
        "" | "string" => STRING_FORMATS.contains(&normalize(format).as_str()),
        "integer" => format == "int32" || format == "int64",
        "number" => format == "float" || format == "double",
        _ => false,
    };
    if keep {
        format.to_owned()
    } else {
        String::new()
    }
}

/// True if `format` is one the registry validates strings against.
pub(crate) fn is_string_format(format: &str) -> bool {
    STRING_FORMATS.contains(&normalize(format).as_str())
}

fn rx(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("static format regex"))
}

macro_rules! static_rx {
    ($name:ident, $pat:expr) => {
        fn $name() -> &'static Regex {
            static CELL: OnceLock<Regex> = OnceLock::new();
            rx(&CELL, $pat)
        }
    };
}

static_rx!(
    rx_uuid,
    r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$"
);
static_rx!(
    rx_uuid3,
    r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$"
);
static_rx!(
    rx_uuid4,
    r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$"
);
static_rx!(
    rx_uuid5,
    r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$"
);
static_rx!(rx_bson, r"^[0-9a-fA-F]{24}$");
static_rx!(
    rx_hostname,
    r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9\-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$"
);
static_rx!(rx_email, r"^[^@\s<>]+@[^@\s<>]+$");
static_rx!(rx_uri_start, r"^(/|[a-zA-Z][a-zA-Z0-9+.\-]*:)");
static_rx!(
    rx_mac,
    r"^([0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}|[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){7}|[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){19}|[0-9a-fA-F]{4}(\.[0-9a-fA-F]{4}){2}|[0-9a-fA-F]{4}(\.[0-9a-fA-F]{4}){3}|[0-9a-fA-F]{4}(\.[0-9a-fA-F]{4}){9})$"
);
static_rx!(
    rx_creditcard,
    r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35\d{3})\d{11})$"
);
static_rx!(rx_ssn, r"^\d{3}[- ]?\d{2}[- ]?\d{4}$");
static_rx!(rx_hexcolor, r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$");
static_rx!(
    rx_rgbcolor,
    r"^rgb\(\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*\)$"
);
static_rx!(rx_date, r"^(\d{4})-(\d{2})-(\d{2})$");
static_rx!(
    rx_datetime,
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$"
);
static_rx!(
    rx_go_duration,
    r"^[-+]?(0|((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+)$"
);
static_rx!(
    rx_word_duration,
    r"^(\d+)\s*(ns|nanoseconds?|us|µs|microseconds?|ms|milliseconds?|s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?|d|days?|w|wk|wks|weeks?)$"
);
static_rx!(
    rx_quantity,
    r"^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$"
);

fn valid_date(y: &str, m: &str, d: &str) -> bool {
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<u32>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

fn is_date(s: &str) -> bool {
    rx_date()
        .captures(s)
        .is_some_and(|c| valid_date(&c[1], &c[2], &c[3]))
}

fn is_datetime(s: &str) -> bool {
    rx_datetime().captures(s).is_some_and(|c| {
        let (h, mi, se) = (
            c[4].parse::<u32>().unwrap_or(99),
            c[5].parse::<u32>().unwrap_or(99),
            c[6].parse::<u32>().unwrap_or(99),
        );
        valid_date(&c[1], &c[2], &c[3]) && h < 24 && mi < 60 && se < 61
    })
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    !bits.is_empty()
        && bits.bytes().all(|b| b.is_ascii_digit())
        && bits.parse::<u32>().is_ok_and(|b| b <= max)
}

fn isbn10(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 {
        return false;
    }
    let mut sum = 0u32;
    for (i, c) in b.iter().enumerate() {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'X' if i == 9 => 10,
            _ => return false,
        };
        sum += v * (10 - i as u32);
    }
    sum.is_multiple_of(11)
}

fn isbn13(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 13 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b
        .iter()
        .enumerate()
        .map(|(i, c)| u32::from(c - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    sum.is_multiple_of(10)
}

fn strip_isbn(s: &str) -> String {
    s.chars().filter(|c| *c != '-' && *c != ' ').collect()
}

/// Whether `value` is valid for `format` (which must be a supported string format).
pub(crate) fn validates(format: &str, value: &str) -> bool {
    match normalize(format).as_str() {
        "bsonobjectid" => rx_bson().is_match(value),
        "uri" => rx_uri_start().is_match(value) && !value.chars().any(|c| c.is_whitespace()),
        "email" => rx_email().is_match(value),
        "hostname" => value.len() <= 255 && rx_hostname().is_match(value),
        "ipv4" => value.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv4()),
        "ipv6" => value.contains(':') && value.parse::<IpAddr>().is_ok(),
        "cidr" => is_cidr(value),
        "mac" => rx_mac().is_match(value),
        "uuid" => rx_uuid().is_match(value),
        "uuid3" => rx_uuid3().is_match(value),
        "uuid4" => rx_uuid4().is_match(value),
        "uuid5" => rx_uuid5().is_match(value),
        "isbn" => {
            let s = strip_isbn(value);
            isbn10(&s) || isbn13(&s)
        }
        "isbn10" => isbn10(&strip_isbn(value)),
        "isbn13" => isbn13(&strip_isbn(value)),
        "creditcard" => {
            let digits: String = value.chars().filter(char::is_ascii_digit).collect();
            rx_creditcard().is_match(&digits)
        }
        "ssn" => rx_ssn().is_match(value),
        "hexcolor" => rx_hexcolor().is_match(value),
        "rgbcolor" => rx_rgbcolor().is_match(value),
        "byte" => base64::engine::general_purpose::STANDARD
            .decode(value)
            .is_ok(),
        "password" => true,
        "date" => is_date(value),
        "duration" => rx_go_duration().is_match(value) || rx_word_duration().is_match(value),
        "datetime" => is_datetime(value),
        "quantity" => rx_quantity().is_match(value),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_formats_are_stripped() {
        assert_eq!(effective("string", "date-time"), "date-time");
        assert_eq!(effective("string", "k8s-short-name"), "");
        assert_eq!(effective("integer", "int32"), "int32");
        assert_eq!(effective("integer", "uint8"), "");
        assert_eq!(effective("number", "double"), "double");
        assert_eq!(effective("object", "date"), "");
    }

    #[test]
    fn format_checks() {
        let cases = [
            ("date-time", "2006-01-02T15:04:05Z", true),
            ("date-time", "2006-01-02T15:04:05.123+02:00", true),
            ("date-time", "yesterday", false),
            ("date", "2024-02-29", true),
            ("date", "2023-02-29", false),
            ("uuid", "123e4567-e89b-12d3-a456-426614174000", true),
            ("uuid", "nope", false),
            ("ipv4", "10.0.0.1", true),
            ("ipv4", "::1", false),
            ("ipv6", "::1", true),
            ("cidr", "10.0.0.0/8", true),
            ("cidr", "10.0.0.0/33", false),
            ("byte", "aGVsbG8=", true),
            ("byte", "not base64!", false),
            ("hostname", "example.com", true),
            ("hostname", "-bad", false),
            ("mac", "00:1a:2b:3c:4d:5e", true),
            ("duration", "1h30m", true),
            ("duration", "3 days", true),
            ("duration", "soon", false),
            ("quantity", "10Gi", true),
            ("quantity", "500m", true),
            ("quantity", "ten", false),
            ("isbn10", "0321751043", true),
            ("isbn13", "978-0321751041", true),
            ("email", "a@b.c", true),
            ("uri", "https://example.com/x", true),
            ("uri", "relative/path", false),
        ];
        for (f, v, ok) in cases {
            assert_eq!(validates(f, v), ok, "{f} {v}");
        }
    }
}
