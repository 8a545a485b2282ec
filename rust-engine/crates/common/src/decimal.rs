//! [`Dec`]: an exact decimal that travels as a plain decimal string (`^-?[0-9]+(\.[0-9]+)?$`).
//!
//! `rust_decimal` alone would also accept `1e3`, `1_000` or `.5`; the wire contract does not, so the
//! text is checked before it is parsed. The scale is kept, so `"200.0"` re-encodes as `"200.0"`.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// An exact decimal number written as a plain decimal string on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dec(pub Decimal);

/// A string that is not a plain decimal number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a plain decimal string (digits, optional '-' and one '.')")]
pub struct DecError(pub String);

impl Dec {
    /// Zero.
    pub const ZERO: Dec = Dec(Decimal::ZERO);

    /// True if the value is strictly greater than zero.
    pub fn is_positive(&self) -> bool {
        self.0 > Decimal::ZERO
    }

    /// True if `self` is an integer multiple of `step` (a step of zero disables the check).
    pub fn is_multiple_of(&self, step: Dec) -> bool {
        step.0.is_zero() || (self.0 % step.0).is_zero()
    }
}

fn is_plain_decimal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let mut parts = digits.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next();
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    all_digits(int) && frac.is_none_or(all_digits)
}

impl FromStr for Dec {
    type Err = DecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !is_plain_decimal(s) {
            return Err(DecError(s.to_owned()));
        }
        Decimal::from_str_exact(s)
            .map(Dec)
            .map_err(|_| DecError(s.to_owned()))
    }
}

impl fmt::Display for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<Decimal> for Dec {
    fn from(d: Decimal) -> Self {
        Dec(d)
    }
}

impl Serialize for Dec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Dec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Dec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a plain decimal string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dec, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_decimals_and_keeps_scale() {
        for (input, ok) in [
            ("200.0", true),
            ("0.1585", true),
            ("-5", true),
            ("7", true),
            ("1e3", false),
            ("1_000", false),
            (".5", false),
            ("5.", false),
            ("", false),
            ("-", false),
            ("+5", false),
            ("1.2.3", false),
            ("NaN", false),
            ("inf", false),
        ] {
            let parsed = input.parse::<Dec>();
            assert_eq!(parsed.is_ok(), ok, "{input}");
            if let Ok(d) = parsed {
                assert_eq!(d.to_string(), input);
            }
        }
    }

    #[test]
    fn multiple_of_step() {
        let d = |s: &str| s.parse::<Dec>().unwrap();
        assert!(d("0.1585").is_multiple_of(d("0.0001")));
        assert!(!d("0.15855").is_multiple_of(d("0.0001")));
        assert!(d("3").is_multiple_of(d("0")));
    }
}
