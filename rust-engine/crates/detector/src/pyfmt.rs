//! Python's `g` float formatting, as the state machine's transition reasons use it: `f"{x:.3g}"`
//! ([`format_g`](crate::pyfmt::format_g) with precision 3) and `f"{x:g}"` ([`g`](crate::pyfmt::g),
//! precision 6). The strings are exactly Python's, for every `f64`: the reasons are stored in the
//! audit log and compared with the Python detector's.
//!
//! Python rounds `x` to `precision` significant digits (correctly, half to even on the exact binary
//! value), then writes it in fixed notation when the rounded value's decimal exponent `exp`
//! satisfies `-4 <= exp < precision`, else in exponent notation (`1e+16`, `1.5e-05`: a sign and at
//! least two exponent digits); trailing zeros of the fraction, and a bare decimal point, are
//! dropped. NaN is `nan` (whatever its sign), infinities `inf` and `-inf`, negative zero `-0`.

/// `format(x, f".{precision}g")` in Python. A precision of 0 is taken as 1, as Python does.
pub fn format_g(x: f64, precision: usize) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if x.is_infinite() {
        return format!("{sign}inf");
    }
    let p = precision.max(1);
    // Rust's `{:e}` with a precision is correctly rounded (half to even on the exact binary value),
    // as Python's `float.__format__` is: the digits are Python's, and the exponent is the rounded
    // value's (9.9996 at precision 3 is `1.00e1`).
    let sci = format!("{:.*e}", p - 1, x.abs());
    let (mantissa, exponent) = sci.split_once('e').expect("`{:e}` writes an exponent");
    let exp: i64 = exponent.parse().expect("`{:e}` writes an integer exponent");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    debug_assert_eq!(digits.len(), p);
    let p_exp = i64::try_from(p).unwrap_or(i64::MAX);
    if (-4..p_exp).contains(&exp) {
        let (int_part, frac) = if exp >= 0 {
            // `exp < p`: the integer part is the first `exp + 1` digits (all of them at most).
            let split = usize::try_from(exp + 1).expect("0 < exp + 1 <= p");
            (digits[..split].to_owned(), digits[split..].to_owned())
        } else {
            let zeros = usize::try_from(-exp - 1).expect("0 <= -exp - 1 <= 3");
            ("0".to_owned(), format!("{}{digits}", "0".repeat(zeros)))
        };
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            format!("{sign}{int_part}")
        } else {
            format!("{sign}{int_part}.{frac}")
        }
    } else {
        let frac = digits[1..].trim_end_matches('0');
        let point = if frac.is_empty() { "" } else { "." };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!(
            "{sign}{}{point}{frac}e{exp_sign}{:02}",
            &digits[..1],
            exp.unsigned_abs()
        )
    }
}

/// `f"{x:g}"` in Python (precision 6).
pub fn g(x: f64) -> String {
    format_g(x, 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_cases_are_python_strings() {
        struct Case {
            x: f64,
            precision: usize,
            expected: &'static str,
        }
        let cases = [
            Case {
                x: f64::NAN,
                precision: 6,
                expected: "nan",
            },
            Case {
                x: -f64::NAN,
                precision: 3,
                expected: "nan",
            },
            Case {
                x: f64::INFINITY,
                precision: 6,
                expected: "inf",
            },
            Case {
                x: f64::NEG_INFINITY,
                precision: 3,
                expected: "-inf",
            },
            Case {
                x: 0.0,
                precision: 6,
                expected: "0",
            },
            Case {
                x: -0.0,
                precision: 6,
                expected: "-0",
            },
            Case {
                x: -0.0,
                precision: 3,
                expected: "-0",
            },
            Case {
                x: 1.0,
                precision: 3,
                expected: "1",
            },
            Case {
                x: 3.0,
                precision: 6,
                expected: "3",
            },
            Case {
                x: 2.5,
                precision: 6,
                expected: "2.5",
            },
            Case {
                x: 1e16,
                precision: 6,
                expected: "1e+16",
            },
            Case {
                x: 1e-5,
                precision: 6,
                expected: "1e-05",
            },
            Case {
                x: 1e-4,
                precision: 6,
                expected: "0.0001",
            },
            Case {
                x: 1.5e-5,
                precision: 3,
                expected: "1.5e-05",
            },
            Case {
                x: 123456.0,
                precision: 6,
                expected: "123456",
            },
            Case {
                x: 1234567.0,
                precision: 6,
                expected: "1.23457e+06",
            },
            Case {
                x: 999999.5,
                precision: 6,
                expected: "1e+06",
            },
            Case {
                x: 999.5,
                precision: 3,
                expected: "1e+03",
            },
            Case {
                x: 99.95,
                precision: 3,
                expected: "100",
            },
            Case {
                x: 0.125,
                precision: 2,
                expected: "0.12",
            },
            Case {
                x: 0.375,
                precision: 2,
                expected: "0.38",
            },
            Case {
                x: 1234565.0,
                precision: 6,
                expected: "1.23456e+06",
            },
            Case {
                x: 1e100,
                precision: 3,
                expected: "1e+100",
            },
            Case {
                x: 5e-324,
                precision: 6,
                expected: "4.94066e-324",
            },
            Case {
                x: f64::MAX,
                precision: 3,
                expected: "1.8e+308",
            },
            Case {
                x: -12.345,
                precision: 3,
                expected: "-12.3",
            },
            Case {
                x: 0.1,
                precision: 25,
                expected: "0.1000000000000000055511151",
            },
            Case {
                x: 7.0,
                precision: 0,
                expected: "7",
            },
        ];
        for c in cases {
            assert_eq!(
                format_g(c.x, c.precision),
                c.expected,
                "{:?} .{}g",
                c.x,
                c.precision
            );
        }
        assert_eq!(g(2.000000001), "2");
        assert_eq!(g(0.000123456789), "0.000123457");
    }
}
