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
    match read(s.as_bytes())? {
        (parts, n) if n == s.len() => parts.units(),
        _ => Err(FixedError::Malformed),
    }
}

/// Reads the decimal at the start of `bytes` (digits with at most one `.` and 8 decimals) up to the
/// first byte that is neither a digit nor its first `.`: its units and how many bytes it took.
/// [`parse_units`] is this with nothing left over.
///
/// # Errors
/// [`FixedError`]: no digit, a 9th decimal, or too large.
pub fn parse_units_prefix(bytes: &[u8]) -> Result<(u64, usize), FixedError> {
    let (parts, n) = read(bytes)?;
    Ok((parts.units()?, n))
}

/// A decimal's whole part and its decimals in units, before they are added up.
struct Parts {
    int: u64,
    frac: u64,
}

impl Parts {
    fn units(self) -> Result<u64, FixedError> {
        self.int
            .checked_mul(SCALE)
            .and_then(|v| v.checked_add(self.frac))
            .ok_or(FixedError::Overflow)
    }
}

/// [`parse_units_prefix`] up to the sum, which [`parse_units`] does only once it has seen every
/// byte (a malformed string is malformed, however large its digits).
fn read(bytes: &[u8]) -> Result<(Parts, usize), FixedError> {
    let digit = |i: usize| {
        bytes
            .get(i)
            .filter(|b| b.is_ascii_digit())
            .map(|&b| u64::from(b - b'0'))
    };
    let mut i = 0;
    let mut int: u64 = 0;
    while let Some(d) = digit(i) {
        int = int
            .checked_mul(10)
            .and_then(|v| v.checked_add(d))
            .ok_or(FixedError::Overflow)?;
        i += 1;
    }
    let int_digits = i;
    let (mut frac, mut frac_digits) = (0u64, 0u32);
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        // Binance writes 8 decimals: one word for all of them.
        if let Some(v) = bytes.get(i..i + 8).and_then(eight_digits) {
            (frac, frac_digits) = (v, 8);
            i += 8;
        }
        while let Some(d) = digit(i) {
            if frac_digits == 8 {
                return Err(FixedError::Malformed);
            }
            frac = frac * 10 + d;
            frac_digits += 1;
            i += 1;
        }
    }
    if int_digits == 0 && frac_digits == 0 {
        return Err(FixedError::Malformed);
    }
    let frac = frac * 10u64.pow(8 - frac_digits);
    Ok((Parts { int, frac }, i))
}

/// The value of 8 ASCII digits, `None` if any byte is not a digit (the SWAR method of simdjson's
/// `parse_eight_digits_unrolled`: all eight checked, then combined in pairs, fours and eights).
fn eight_digits(bytes: &[u8]) -> Option<u64> {
    let word = u64::from_le_bytes(bytes.try_into().ok()?);
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    // Each byte is 0x30..=0x39 exactly when its high nibble is 3 and adding 6 keeps it 3.
    let all_digits = (word & HIGH) | ((word.wrapping_add(0x0606_0606_0606_0606) & HIGH) >> 4)
        == 0x3333_3333_3333_3333;
    if !all_digits {
        return None;
    }
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    const MUL1: u64 = 100 + (1_000_000 << 32);
    const MUL2: u64 = 1 + (10_000 << 32);
    let v = word - 0x3030_3030_3030_3030;
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    Some(
        (v & MASK)
            .wrapping_mul(MUL1)
            .wrapping_add(((v >> 16) & MASK).wrapping_mul(MUL2))
            >> 32,
    )
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

    /// The plain digit-by-digit reading, as the model the fast one must equal.
    fn reference(s: &str) -> Result<u64, FixedError> {
        let (mut int, mut frac, mut frac_digits, mut seen_dot, mut digits) =
            (0u64, 0u64, 0, false, 0);
        for b in s.bytes() {
            match b {
                b'0'..=b'9' if seen_dot => {
                    frac_digits += 1;
                    if frac_digits > 8 {
                        return Err(FixedError::Malformed);
                    }
                    frac = frac * 10 + u64::from(b - b'0');
                    digits += 1;
                }
                b'0'..=b'9' => {
                    int = int
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(u64::from(b - b'0')))
                        .ok_or(FixedError::Overflow)?;
                    digits += 1;
                }
                b'.' if !seen_dot => seen_dot = true,
                _ => return Err(FixedError::Malformed),
            }
        }
        if digits == 0 {
            return Err(FixedError::Malformed);
        }
        int.checked_mul(SCALE)
            .and_then(|v| v.checked_add(frac * 10u64.pow(8 - frac_digits)))
            .ok_or(FixedError::Overflow)
    }

    proptest::proptest! {
        #[test]
        fn equals_the_digit_by_digit_reading(s in "[0-9]{0,12}(\\.[0-9]{0,10})?[0-9./:e\"-]{0,2}") {
            proptest::prop_assert_eq!(parse_units(&s), reference(&s));
        }

        #[test]
        fn equals_it_on_any_bytes(s in "\\PC{0,24}") {
            proptest::prop_assert_eq!(parse_units(&s), reference(&s));
        }

        #[test]
        fn a_prefix_stops_at_the_first_foreign_byte(n in 0u64..10_000_000_000_000_000, tail in "[\",\\]x ]{0,3}") {
            let text = format!("{}{tail}", to_string(n));
            let (units, len) = parse_units_prefix(text.as_bytes()).unwrap();
            proptest::prop_assert_eq!((units, len), (n, text.len() - tail.len()));
        }
    }

    #[test]
    fn eight_digits_reads_words_and_refuses_others() {
        assert_eq!(eight_digits(b"12345678"), Some(12_345_678));
        assert_eq!(eight_digits(b"00000001"), Some(1));
        assert_eq!(eight_digits(b"99999999"), Some(99_999_999));
        for bad in [
            &b"1234567:"[..],
            b"/2345678",
            b"1234 678",
            b"\xff2345678"[..8].as_ref(),
            b"1234567",
        ] {
            assert_eq!(eight_digits(bad), None, "{bad:?}");
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
