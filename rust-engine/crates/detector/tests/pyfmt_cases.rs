//! `detector::pyfmt` against Python's own `format(x, spec)`: `pyfmt_cases.json` holds
//! `[float.hex(x), spec, expected]` cases written by `gen_pyfmt_cases.py` (edge cases, powers of
//! ten and their neighbours, rounding ties, random bit patterns and magnitudes).

use detector::pyfmt::format_g;

/// Parses Python's `float.hex` output (`-0x1.8000000000000p+3`, `0x0.0p+0`, `inf`, `nan`): the
/// bits are assembled directly, so the value is exact.
fn from_python_hex(s: &str) -> f64 {
    match s {
        "nan" => return f64::NAN,
        "inf" => return f64::INFINITY,
        "-inf" => return f64::NEG_INFINITY,
        _ => {}
    }
    let (negative, rest) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let rest = rest.strip_prefix("0x").expect("0x");
    let (mantissa, exp) = rest.split_once('p').expect("p");
    let exp: i64 = exp.parse().expect("exponent");
    let (lead, frac) = mantissa.split_once('.').expect("a point");
    assert!(frac.len() <= 13, "{s}");
    let frac = u64::from_str_radix(&format!("{frac:0<13}"), 16).expect("hex digits");
    let biased: u64 = match lead {
        "1" => u64::try_from(exp + 1023).expect("a normal exponent"),
        "0" => 0, // zero (`p+0`) or subnormal (`p-1022`)
        _ => panic!("leading digit of {s}"),
    };
    f64::from_bits(u64::from(negative) << 63 | biased << 52 | frac)
}

#[test]
fn hex_parsing_is_exact() {
    assert_eq!(from_python_hex("0x1.8000000000000p+3"), 12.0);
    assert_eq!(from_python_hex("-0x0.0p+0").to_bits(), (-0.0f64).to_bits());
    assert_eq!(from_python_hex("0x0.0000000000001p-1022"), 5e-324);
    assert_eq!(from_python_hex("0x1.fffffffffffffp+1023"), f64::MAX);
    assert_eq!(from_python_hex("0x1.999999999999ap-4"), 0.1);
}

#[test]
fn format_g_matches_python_on_every_case() {
    let cases: Vec<(String, String, String)> =
        serde_json::from_str(include_str!("pyfmt_cases.json")).expect("pyfmt_cases.json");
    assert!(cases.len() > 2000, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (hex, spec, expected) in &cases {
        let x = from_python_hex(hex);
        let precision = match spec.as_str() {
            "g" => 6,
            s => s
                .strip_prefix('.')
                .and_then(|s| s.strip_suffix('g'))
                .expect(s)
                .parse()
                .expect(s),
        };
        let got = format_g(x, precision);
        if got != *expected {
            failures.push(format!(
                "{hex} ({x:e}) {spec}: got {got}, Python {expected}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
