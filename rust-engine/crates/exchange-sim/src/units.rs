//! Fixed-point decimals: every price and quantity in the simulator is an integer count of 10⁻⁸
//! (Binance spot writes prices and quantities with 8 decimals, e.g. `"0.15830000"`). No `f64` ever
//! keys a book.

use std::fmt;

/// Units per whole: 10⁸.
pub const SCALE: u64 = 100_000_000;

/// Decimals Binance spot writes for prices and quantities.
pub const DECIMALS: usize = 8;

/// Parses a non-negative decimal into 10⁻⁸ units.
///
/// Accepts plain decimals (`"0.2258"`, `"47"`, `"47.80000000000"` — digits past the eighth must be
/// zeros) and, as a fallback, finite scientific notation (`"1e-4"`), rounded to the nearest unit.
/// Returns `None` for anything else: signs, NaN, Inf, empty text, overflow, or a non-zero ninth
/// decimal.
pub fn parse_units(text: &str) -> Option<u64> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let plain = !int.is_empty() && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit());
    if !plain {
        return parse_scientific(text);
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > DECIMALS {
        return None;
    }
    let f: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse::<u64>().ok()? * 10u64.pow((DECIMALS - frac.len()) as u32)
    };
    int.parse::<u64>().ok()?.checked_mul(SCALE)?.checked_add(f)
}

fn parse_scientific(text: &str) -> Option<u64> {
    if !text.contains(['e', 'E']) || text.starts_with(['-', '+']) {
        return None;
    }
    let v = text.parse::<f64>().ok()?;
    let scaled = (v * SCALE as f64).round();
    (v.is_finite() && v >= 0.0 && scaled < u64::MAX as f64).then_some(scaled as u64)
}

/// Formats units as Binance does: `22_580_000` → `"0.22580000"`.
pub fn format_units(units: u64) -> String {
    Units(units).to_string()
}

/// Units displayed with 8 decimals; serialises to JSON as that string without an intermediate
/// `String`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Units(pub u64);

impl fmt::Display for Units {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:08}", self.0 / SCALE, self.0 % SCALE)
    }
}

impl serde::Serialize for Units {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TestCase {
        input: &'static str,
        expected: Option<u64>,
    }

    #[test]
    fn parses_decimals_and_rejects_the_rest() {
        let cases = [
            TestCase {
                input: "0.2258",
                expected: Some(22_580_000),
            },
            TestCase {
                input: "47.8",
                expected: Some(4_780_000_000),
            },
            TestCase {
                input: "47",
                expected: Some(4_700_000_000),
            },
            TestCase {
                input: "0.00000001",
                expected: Some(1),
            },
            TestCase {
                input: "0.158300000000",
                expected: Some(15_830_000),
            },
            TestCase {
                input: "1e-4",
                expected: Some(10_000),
            },
            TestCase {
                input: "2.5E1",
                expected: Some(2_500_000_000),
            },
            TestCase {
                input: "0",
                expected: Some(0),
            },
            TestCase {
                input: "0.000000001",
                expected: None,
            },
            TestCase {
                input: "-0.2",
                expected: None,
            },
            TestCase {
                input: "+0.2",
                expected: None,
            },
            TestCase {
                input: "-1e-4",
                expected: None,
            },
            TestCase {
                input: "NaN",
                expected: None,
            },
            TestCase {
                input: "nan",
                expected: None,
            },
            TestCase {
                input: "inf",
                expected: None,
            },
            TestCase {
                input: "Infinity",
                expected: None,
            },
            TestCase {
                input: "1e400",
                expected: None,
            },
            TestCase {
                input: "",
                expected: None,
            },
            TestCase {
                input: ".5",
                expected: None,
            },
            TestCase {
                input: "1.2.3",
                expected: None,
            },
            TestCase {
                input: "0x10",
                expected: None,
            },
            TestCase {
                input: "999999999999999999999",
                expected: None,
            },
        ];
        for c in cases {
            assert_eq!(parse_units(c.input), c.expected, "{:?}", c.input);
        }
    }

    #[test]
    fn formats_with_eight_decimals() {
        assert_eq!(format_units(15_830_000), "0.15830000");
        assert_eq!(format_units(0), "0.00000000");
        assert_eq!(format_units(4_780_000_000), "47.80000000");
        assert_eq!(serde_json::to_string(&Units(1)).unwrap(), "\"0.00000001\"");
    }

    #[test]
    fn round_trips() {
        for u in [0, 1, 99, SCALE, 123_456_789_012] {
            assert_eq!(parse_units(&format_units(u)), Some(u));
        }
    }
}
