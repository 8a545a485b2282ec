//! Fixed-point numbers: a Binance decimal string such as `"0.15830000"` becomes an integer count of
//! 10⁻⁸ units, without going through `f64`, so book keys are exact.

/// Units per whole: 10⁸, Binance's 8 decimals.
pub const SCALE: u64 = 100_000_000;

/// Why a decimal string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FixedError {
    /// Empty, a sign, an exponent, a letter (`NaN`, `Infinity`) or more than 8 decimals.
    #[error("not a non-negative decimal with at most 8 decimals")]
    Malformed,
    /// Larger than fits.
    #[error("too large")]
    Overflow,
}

/// Parses a non-negative decimal string into units of 10⁻⁸.
///
/// # Errors
/// [`FixedError`] for anything but digits with at most one `.` and 8 decimals.
pub fn parse_units(s: &str) -> Result<u64, FixedError> {
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return Err(FixedError::Malformed);
    }
    let mut int: u64 = 0;
    let mut frac: u64 = 0;
    let mut frac_digits = 0u32;
    let mut seen_dot = false;
    let mut digits = 0usize;
    for &b in bytes {
        match b {
            b'0'..=b'9' => {
                digits += 1;
                let d = u64::from(b - b'0');
                if seen_dot {
                    frac_digits += 1;
                    if frac_digits > 8 {
                        return Err(FixedError::Malformed);
                    }
                    frac = frac * 10 + d;
                } else {
                    int = int
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(d))
                        .ok_or(FixedError::Overflow)?;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => return Err(FixedError::Malformed),
        }
    }
    if digits == 0 {
        return Err(FixedError::Malformed);
    }
    frac *= 10u64.pow(8 - frac_digits);
    int.checked_mul(SCALE)
        .and_then(|v| v.checked_add(frac))
        .ok_or(FixedError::Overflow)
}

/// Units back to `f64` for publishing.
pub fn to_f64(units: u64) -> f64 {
    (units / SCALE) as f64 + (units % SCALE) as f64 / SCALE as f64
}

/// Units as a decimal string with 8 decimals, as Binance writes them.
pub fn to_string(units: u64) -> String {
    format!("{}.{:08}", units / SCALE, units % SCALE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        struct Case {
            input: &'static str,
            expected: Result<u64, FixedError>,
        }
        let cases = [
            Case {
                input: "0.15830000",
                expected: Ok(15_830_000),
            },
            Case {
                input: "12450.5",
                expected: Ok(1_245_050_000_000),
            },
            Case {
                input: "0",
                expected: Ok(0),
            },
            Case {
                input: "0.00000000",
                expected: Ok(0),
            },
            Case {
                input: "7",
                expected: Ok(700_000_000),
            },
            Case {
                input: "0.000000001",
                expected: Err(FixedError::Malformed),
            },
            Case {
                input: "-1.0",
                expected: Err(FixedError::Malformed),
            },
            Case {
                input: "NaN",
                expected: Err(FixedError::Malformed),
            },
            Case {
                input: "Infinity",
                expected: Err(FixedError::Malformed),
            },
            Case {
                input: "1e5",
                expected: Err(FixedError::Malformed),
            },
            Case {
                input: "",
                expected: Err(FixedError::Malformed),
            },
            Case {
                input: ".",
                expected: Err(FixedError::Malformed),
            },
            Case {
                input: "1.2.3",
                expected: Err(FixedError::Malformed),
            },
            Case {
                input: "999999999999999999",
                expected: Err(FixedError::Overflow),
            },
        ];
        for c in cases {
            assert_eq!(parse_units(c.input), c.expected, "{}", c.input);
        }
    }

    #[test]
    fn round_trips() {
        assert_eq!(to_string(15_830_000), "0.15830000");
        assert_eq!(to_f64(15_830_000), 0.1583);
        assert_eq!(
            parse_units(&to_string(123_456_789_012)).unwrap(),
            123_456_789_012
        );
    }
}
