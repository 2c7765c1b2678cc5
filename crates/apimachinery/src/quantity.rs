//! Resource quantities (`100m`, `1.5Gi`, `2e3`, `128974848`) as upstream's `resource.Quantity`
//! parses them: the same grammar (`parseQuantityString`), the same suffixes, the same three
//! errors with their messages, non-zero values rounded away from zero to the nearest nano, and
//! binary-SI values capped at 2^63-1 units.
//!
//! Values are kept exactly as signed nanos in an `i128` (±1.7·10^29 units). Upstream's
//! arbitrary-precision decimals go further; beyond that range a value saturates instead of
//! failing, so every quantity upstream accepts is accepted here too.

use std::fmt;

/// Upstream's `splitREString`, quoted in its format error.
pub const QUANTITY_REGEX: &str = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$";

const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// Why a string is not a quantity (upstream's `ErrFormatWrong`, `ErrSuffix`, `ErrNumeric`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantityError {
    /// The string does not have a quantity's shape.
    Format,
    /// The suffix is not one of upstream's.
    Suffix,
    /// The number cannot be read.
    Numeric,
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Format => write!(
                f,
                "quantities must match the regular expression '{QUANTITY_REGEX}'"
            ),
            Self::Suffix => f.write_str("unable to parse quantity's suffix"),
            Self::Numeric => f.write_str("unable to parse numeric part of quantity"),
        }
    }
}

impl std::error::Error for QuantityError {}

/// How a quantity was written, which its canonical form keeps (upstream's `Format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// `Ki`, `Mi`, … `Ei`.
    BinarySi,
    /// No suffix, or `n`, `u`, `m`, `k`, `M`, `G`, `T`, `P`, `E`.
    #[default]
    DecimalSi,
    /// `e3`, `E-6`, …
    DecimalExponent,
}

/// A parsed quantity: its exact value in signed nanos of the unit, and its format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Quantity {
    nanos: i128,
    format: Format,
}

/// The parts of a quantity string (upstream's `parseQuantityString`).
struct Parts<'a> {
    negative: bool,
    whole: &'a str,
    fraction: &'a str,
    suffix: &'a str,
}

/// How a suffix scales the number.
enum Scale {
    /// Multiply by 1024^n.
    Binary(u32),
    /// Multiply by 10^n.
    Decimal(i64),
}

impl Quantity {
    /// Parses a quantity exactly as upstream's `ParseQuantity` (no surrounding spaces: JSON
    /// decoding trims them first, see [`Quantity::parse_trimmed`]).
    pub fn parse(s: &str) -> Result<Self, QuantityError> {
        if s.is_empty() {
            return Err(QuantityError::Format);
        }
        let parts = split(s)?;
        let (scale, format) = interpret_suffix(parts.suffix)?;
        let magnitude = scaled_nanos(parts.whole, parts.fraction, &scale);
        let nanos = if parts.negative {
            -magnitude
        } else {
            magnitude
        };
        Ok(Self { nanos, format })
    }

    /// Parses the way a quantity field of a JSON body is decoded (spaces trimmed first).
    pub fn parse_trimmed(s: &str) -> Result<Self, QuantityError> {
        Self::parse(s.trim())
    }

    /// A quantity of `n` nanos, written in `format`.
    pub fn from_nanos(nanos: i128, format: Format) -> Self {
        Self { nanos, format }
    }

    /// How it was written.
    pub fn format(self) -> Format {
        self.format
    }

    /// The exact value in nanos of the unit.
    pub fn nanos(self) -> i128 {
        self.nanos
    }

    /// Milli-units rounded up, as upstream's `MilliValue`.
    pub fn milli_value(self) -> i128 {
        ceil_div(self.nanos, 1_000_000)
    }

    /// Whole units rounded up, as upstream's `Value`.
    pub fn value(self) -> i128 {
        ceil_div(self.nanos, NANOS_PER_UNIT)
    }

    /// Whether the value is zero.
    pub fn is_zero(self) -> bool {
        self.nanos == 0
    }
}

impl Quantity {
    /// The text upstream stores and returns for this quantity (`Quantity.String()`, its
    /// "canonical form"): no fractional digits, the largest suffix of the written format that
    /// keeps the value exact — `1.5` is `1500m`, `1.5Gi` is `1536Mi`, `1000` is `1k`, `0.5Gi`
    /// is `512Mi` — and binary amounts below 1024 or not whole units in decimal SI. None for
    /// values beyond what upstream's int64-based form covers (the written text then stays).
    pub fn canonical(self) -> Option<String> {
        if self.nanos == 0 {
            return Some("0".into());
        }
        if self.nanos.unsigned_abs() >= i128::MAX.unsigned_abs() / 10 {
            return None;
        }
        let whole_units = self.nanos % NANOS_PER_UNIT == 0;
        let binary = self.format == Format::BinarySi
            && self.nanos.unsigned_abs() >= 1024 * NANOS_PER_UNIT.unsigned_abs()
            && whole_units;
        if binary {
            let (mut amount, mut power) = (self.nanos / NANOS_PER_UNIT, 0);
            while amount % 1024 == 0 && power < 6 {
                amount /= 1024;
                power += 1;
            }
            return Some(format!("{amount}{}", BINARY_SUFFIXES[power]));
        }
        // mantissa · 10^exponent units, trailing zeros moved into the exponent, which is then
        // lowered to a multiple of three.
        let (mut mantissa, mut exponent) = (self.nanos, -9_i64);
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exponent += 1;
        }
        let lower = exponent.rem_euclid(3);
        mantissa *= 10_i128.pow(lower as u32);
        exponent -= lower;
        match self.format {
            Format::DecimalExponent if exponent == 0 => Some(mantissa.to_string()),
            Format::DecimalExponent => Some(format!("{mantissa}e{exponent}")),
            _ => DECIMAL_SUFFIXES
                .iter()
                .find(|(_, e)| *e == exponent)
                .map(|(suffix, _)| format!("{mantissa}{suffix}")),
        }
    }
}

/// `ceil(n / d)` for a positive `d`.
fn ceil_div(n: i128, d: i128) -> i128 {
    n.div_euclid(d) + i128::from(n.rem_euclid(d) != 0)
}

/// Splits sign, whole digits, fraction digits and suffix, as upstream's hand-written scanner:
/// leading zeros and an empty number are fine ("-" and "." are zero), a suffix is letters from
/// `eEinumkKMGTP` then an optional sign and digits, and anything else is a format error.
fn split(s: &str) -> Result<Parts<'_>, QuantityError> {
    let bytes = s.as_bytes();
    let (negative, mut pos) = match bytes[0] {
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    let digits_from = |from: usize| {
        bytes[from..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .map_or(bytes.len(), |i| from + i)
    };
    let whole_end = digits_from(pos);
    let whole = &s[pos..whole_end];
    pos = whole_end;
    let mut fraction = "";
    if bytes.get(pos) == Some(&b'.') {
        let end = digits_from(pos + 1);
        fraction = &s[pos + 1..end];
        pos = end;
    }
    let suffix_start = pos;
    while bytes.get(pos).is_some_and(|b| b"eEinumkKMGTP".contains(b)) {
        pos += 1;
    }
    if matches!(bytes.get(pos), Some(b'-' | b'+')) {
        pos += 1;
    }
    if digits_from(pos) != bytes.len() {
        return Err(QuantityError::Format);
    }
    Ok(Parts {
        negative,
        whole,
        fraction,
        suffix: &s[suffix_start..],
    })
}

const BINARY_SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
const DECIMAL_SUFFIXES: [(&str, i64); 10] = [
    ("n", -9),
    ("u", -6),
    ("m", -3),
    ("", 0),
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
    ("E", 18),
];

/// Upstream's `quantitySuffixer.interpret`.
fn interpret_suffix(suffix: &str) -> Result<(Scale, Format), QuantityError> {
    if let Some(i) = BINARY_SUFFIXES[1..].iter().position(|b| *b == suffix) {
        return Ok((Scale::Binary(i as u32 + 1), Format::BinarySi));
    }
    if let Some((_, e)) = DECIMAL_SUFFIXES.iter().find(|(s, _)| *s == suffix) {
        return Ok((Scale::Decimal(*e), Format::DecimalSi));
    }
    if suffix.len() > 1 && suffix.starts_with(['e', 'E']) {
        let exponent = suffix[1..]
            .parse::<i64>()
            .map_err(|_| QuantityError::Suffix)?;
        return Ok((Scale::Decimal(exponent), Format::DecimalExponent));
    }
    Err(QuantityError::Suffix)
}

/// The magnitude in nanos, rounded up to a whole nano and saturating at `i128::MAX`; binary-SI
/// values are capped at 2^63-1 units as upstream caps them. Exact while the number's digits
/// times its binary multiplier fit an `i128` (38 digits, 20 with `Ei`); digits beyond that
/// round the magnitude up in the last kept one.
fn scaled_nanos(whole: &str, fraction: &str, scale: &Scale) -> i128 {
    let significant: Vec<u8> = whole
        .bytes()
        .chain(fraction.bytes())
        .skip_while(|d| *d == b'0')
        .collect();
    let multiplier = match scale {
        Scale::Binary(p) => 1_i128 << (10 * p),
        Scale::Decimal(_) => 1,
    };
    // value = mantissa · multiplier · 10^exponent units.
    let limit = i128::MAX / multiplier;
    let mut mantissa: i128 = 0;
    let mut kept = 0;
    for d in &significant {
        let next = mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(i128::from(d - b'0')))
            .filter(|m| *m <= limit);
        let Some(next) = next else { break };
        mantissa = next;
        kept += 1;
    }
    if significant[kept..].iter().any(|d| *d != b'0') {
        mantissa = mantissa.saturating_add(1);
    }
    let mut exponent = (significant.len() - kept) as i64 - fraction.len() as i64;
    if let Scale::Decimal(e) = scale {
        exponent = exponent.saturating_add(*e);
    }
    let product = mantissa.saturating_mul(multiplier);
    // In nanos: product · 10^(exponent + 9).
    let shift = exponent.saturating_add(9);
    let nanos = if shift >= 0 {
        saturating_pow10(product, shift)
    } else {
        match u32::try_from(shift.unsigned_abs())
            .ok()
            .and_then(|e| 10_i128.checked_pow(e))
        {
            Some(divisor) => ceil_div(product, divisor),
            None => i128::from(product > 0),
        }
    };
    match scale {
        Scale::Binary(_) => nanos.min(i128::from(i64::MAX) * NANOS_PER_UNIT),
        Scale::Decimal(_) => nanos,
    }
}

fn saturating_pow10(n: i128, exponent: i64) -> i128 {
    if n == 0 {
        return 0;
    }
    match u32::try_from(exponent)
        .ok()
        .and_then(|e| 10_i128.checked_pow(e))
    {
        Some(p) => n.saturating_mul(p),
        None => i128::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nanos(s: &str) -> i128 {
        Quantity::parse(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .nanos()
    }

    #[test]
    fn parses_upstream_forms() {
        assert_eq!(nanos("100m"), 100_000_000);
        assert_eq!(nanos("1"), NANOS_PER_UNIT);
        assert_eq!(nanos("0.5"), 500_000_000);
        assert_eq!(nanos(".5"), 500_000_000);
        assert_eq!(nanos("1."), NANOS_PER_UNIT);
        assert_eq!(
            Quantity::parse("128Mi").map(Quantity::value),
            Ok(128 * 1024 * 1024)
        );
        assert_eq!(
            Quantity::parse("1.5Gi").map(Quantity::value),
            Ok(1_610_612_736)
        );
        assert_eq!(
            Quantity::parse("1G").map(Quantity::value),
            Ok(1_000_000_000)
        );
        assert_eq!(Quantity::parse("1e3").map(Quantity::value), Ok(1000));
        assert_eq!(Quantity::parse("1E3").map(Quantity::value), Ok(1000));
        assert_eq!(
            Quantity::parse("1E").map(Quantity::value),
            Ok(10_i128.pow(18))
        );
        assert_eq!(Quantity::parse("2e-3").map(Quantity::milli_value), Ok(2));
        assert_eq!(Quantity::parse("1E+2").map(Quantity::value), Ok(100));
        assert_eq!(nanos("-1"), -NANOS_PER_UNIT);
        assert_eq!(nanos("+7n"), 7);
        assert_eq!(nanos("007"), 7 * NANOS_PER_UNIT);
    }

    #[test]
    fn upstream_quirks_are_zero() {
        // parseQuantityString returns "0" once only a sign or a point is left.
        for s in ["-", "+", ".", "0", "-0", "0.000", "0Mi"] {
            assert_eq!(nanos(s), 0, "{s}");
        }
    }

    #[test]
    fn rounds_up_to_a_nano_away_from_zero() {
        assert_eq!(nanos("0.1n"), 1);
        assert_eq!(nanos("1.0000000001"), NANOS_PER_UNIT + 1);
        assert_eq!(nanos("-0.1n"), -1);
        assert_eq!(nanos("1e-10"), 1);
        assert_eq!(nanos("0.0000000000"), 0);
        assert_eq!(Quantity::parse("-1.5").map(Quantity::value), Ok(-1));
        assert_eq!(Quantity::parse("1.5m").map(Quantity::milli_value), Ok(2));
    }

    #[test]
    fn caps_binary_and_saturates_decimal() {
        let cap = i128::from(i64::MAX) * NANOS_PER_UNIT;
        assert_eq!(nanos("16Ei"), cap);
        assert_eq!(nanos("1e30"), i128::MAX);
        assert_eq!(nanos("1e-1000000000000"), 1);
        assert_eq!(nanos(&"9".repeat(60)), i128::MAX);
    }

    fn canonical(s: &str) -> Option<String> {
        Quantity::parse(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .canonical()
    }

    #[test]
    fn canonical_forms_are_upstreams() {
        // From upstream's quantity_test.go (TestQuantityParse / TestQuantityString).
        let cases = [
            ("0", "0"),
            ("0n", "0"),
            ("0Ki", "0"),
            ("1.5", "1500m"),
            ("0.5", "500m"),
            ("1", "1"),
            ("1000", "1k"),
            ("1500", "1500"),
            ("1e3", "1e3"),
            ("1.5e3", "1500"),
            ("1E6", "1e6"),
            ("1000m", "1"),
            ("100m", "100m"),
            ("0.1m", "100u"),
            ("1n", "1n"),
            ("1.5Gi", "1536Mi"),
            ("0.5Gi", "512Mi"),
            ("1024Mi", "1Gi"),
            ("1024", "1024"),
            ("1Ki", "1Ki"),
            ("1023", "1023"),
            ("512Ki", "512Ki"),
            ("1024Ki", "1Mi"),
            ("0.5Ki", "512"),
            ("1.5Ki", "1536"),
            ("1.1Ki", "1126400m"),
            ("-1.5Gi", "-1536Mi"),
            ("-1500m", "-1500m"),
            ("-1.5", "-1500m"),
            ("1E", "1E"),
            ("100M", "100M"),
            ("12e3", "12e3"),
            ("0.5e3", "500"),
            ("5e-3", "5e-3"),
        ];
        for (written, expected) in cases {
            assert_eq!(canonical(written).as_deref(), Some(expected), "{written}");
        }
        assert_eq!(canonical("1e30"), None);
    }

    #[test]
    fn refuses_with_upstream_errors() {
        for s in ["", "abc", "1.2.3", "1 ", " 1", "1m5x", "--1", "1e-", "1Qi"] {
            let err = Quantity::parse(s).expect_err(s);
            assert!(
                matches!(err, QuantityError::Format | QuantityError::Suffix),
                "{s}: {err:?}"
            );
        }
        assert_eq!(Quantity::parse("1Ki5"), Err(QuantityError::Suffix));
        assert_eq!(Quantity::parse("1e"), Err(QuantityError::Suffix));
        assert_eq!(Quantity::parse("1mm"), Err(QuantityError::Suffix));
        assert_eq!(Quantity::parse("1.2.3"), Err(QuantityError::Format));
        assert_eq!(
            Quantity::parse("1e99999999999999999999"),
            Err(QuantityError::Suffix)
        );
        assert_eq!(
            QuantityError::Format.to_string(),
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
        assert_eq!(Quantity::parse_trimmed(" 2 ").map(Quantity::value), Ok(2));
    }
}
