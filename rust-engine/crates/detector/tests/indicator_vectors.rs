//! The Rust indicators against the Python ones they replaced, bit for bit: `indicator_vectors.json`
//! records every call made on each Python indicator (`flashcrash.event_detector.indicators`, deleted
//! in favour of this crate; its generator, seeded, went with it: see the history of
//! `tests/gen_indicator_vectors.py`) and every result. They are replayed here on the Rust port and
//! every float must be the same bits (any NaN equals any NaN: `float.hex` does not keep its sign).
//! A golden file: a change of an indicator's arithmetic shows here.

use std::collections::BTreeMap;

use detector::indicators::{
    Acceleration, Depth, DepthView, MessageVelocity, OrderBookImbalance, Spread, Volatility,
    VolumeDelta,
};
use detector::{Indicator, Reading};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Vectors {
    seed: u64,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    class: String,
    args: Vec<Value>,
    /// (method, arguments, result): the result is null for a method that returns nothing.
    calls: Vec<(String, Vec<Value>, Value)>,
}

/// A float as the generator writes it: `float.hex()` (`0x1.8000000000000p+1`), or a `repr` (which
/// also covers `nan`, `inf` and `-inf`).
fn float(v: &Value) -> f64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("a float is a string: {v}"));
    match s.find("0x") {
        Some(at) => from_hex(&s[at + 2..], s.starts_with('-')),
        None => s.parse().unwrap_or_else(|e| panic!("{s}: {e}")),
    }
}

/// The float of Python's `float.hex()` digits after `0x`: `1.<13 hex digits>p<exp>` for a normal
/// number, `0.<hex digits>p-1022` for a subnormal one, `0.0p+0` for zero.
fn from_hex(s: &str, negative: bool) -> f64 {
    let (mantissa, exp) = s
        .split_once('p')
        .unwrap_or_else(|| panic!("no exponent in {s}"));
    let exp: i64 = exp.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
    let (lead, digits) = mantissa
        .split_once('.')
        .unwrap_or_else(|| panic!("no point in {s}"));
    assert!(digits.len() <= 13, "{s}");
    let frac = u64::from_str_radix(digits, 16).unwrap_or_else(|e| panic!("{s}: {e}"));
    let frac = frac << (4 * (13 - digits.len()));
    let bits = match lead {
        "1" => {
            assert!((-1022..=1023).contains(&exp), "{s}");
            (((exp + 1023) as u64) << 52) | frac
        }
        "0" => {
            assert!(frac == 0 || exp == -1022, "{s}");
            frac
        }
        _ => panic!("{s}"),
    };
    let x = f64::from_bits(bits);
    if negative {
        -x
    } else {
        x
    }
}

fn int(v: &Value) -> usize {
    v.as_u64().unwrap_or_else(|| panic!("not an int: {v}")) as usize
}

fn boolean(v: &Value) -> bool {
    v.as_bool().unwrap_or_else(|| panic!("not a bool: {v}"))
}

fn levels(v: &Value) -> Vec<(f64, f64)> {
    let side = v
        .as_array()
        .unwrap_or_else(|| panic!("not a book side: {v}"));
    side.iter()
        .map(|level| match level.as_array().map(Vec::as_slice) {
            Some([p, q]) => (float(p), float(q)),
            _ => panic!("not a level: {level}"),
        })
        .collect()
}

/// One indicator under test.
enum Subject {
    Volatility(Volatility),
    Acceleration(Acceleration),
    Obi(OrderBookImbalance),
    Spread(Spread),
    VolumeDelta(VolumeDelta),
    MessageVelocity(MessageVelocity),
    Depth(Depth),
}

/// What a call gave.
enum Outcome {
    Nothing,
    Float(f64),
    Reading(Reading),
    View(Option<DepthView>),
}

fn construct(class: &str, a: &[Value]) -> (Subject, Indicator) {
    match class {
        "Volatility" => (
            Subject::Volatility(Volatility::new(
                int(&a[0]),
                int(&a[1]),
                int(&a[2]),
                float(&a[3]),
                float(&a[4]),
            )),
            Indicator::Volatility,
        ),
        "Acceleration" => (
            Subject::Acceleration(Acceleration::new(int(&a[0]), float(&a[1]))),
            Indicator::Acceleration,
        ),
        "OrderBookImbalance" => (
            Subject::Obi(OrderBookImbalance::new(int(&a[0]), float(&a[1]))),
            Indicator::Obi,
        ),
        "Spread" => (
            Subject::Spread(Spread::new(int(&a[0]), int(&a[1]), float(&a[2]))),
            Indicator::Spread,
        ),
        "VolumeDelta" => (
            Subject::VolumeDelta(VolumeDelta::new(
                int(&a[0]),
                int(&a[1]),
                int(&a[2]),
                float(&a[3]),
            )),
            Indicator::VolumeDelta,
        ),
        "MessageVelocity" => (
            Subject::MessageVelocity(MessageVelocity::new(
                int(&a[0]),
                int(&a[1]),
                int(&a[2]),
                float(&a[3]),
                float(&a[4]),
            )),
            Indicator::MessageVelocity,
        ),
        "Depth" => (
            Subject::Depth(Depth::new(
                int(&a[0]),
                float(&a[1]),
                float(&a[2]),
                float(&a[3]),
            )),
            Indicator::Liquidity,
        ),
        _ => panic!("unknown class {class}"),
    }
}

fn call(subject: &mut Subject, method: &str, a: &[Value]) -> Outcome {
    use Outcome::{Float, Nothing};
    use Subject as S;
    match (subject, method) {
        (S::Volatility(v), "on_second") => {
            v.on_second(float(&a[0]), boolean(&a[1]));
            Nothing
        }
        (S::Volatility(v), "restart") => {
            v.restart();
            Nothing
        }
        (S::Volatility(v), "reading") => Outcome::Reading(v.reading()),
        (S::Volatility(v), "recent_bps") => Float(v.recent_bps()),
        (S::Volatility(v), "baseline_bps") => Float(v.baseline_bps()),
        (S::Acceleration(x), "on_second") => {
            x.on_second(float(&a[0]));
            Nothing
        }
        (S::Acceleration(x), "restart") => {
            x.restart();
            Nothing
        }
        (S::Acceleration(x), "reading") => Outcome::Reading(x.reading()),
        (S::Acceleration(x), "value") => Float(x.value()),
        (S::Acceleration(x), "second_difference") => Float(x.second_difference()),
        (S::Obi(o), "on_book") => {
            o.on_book(&levels(&a[0]), &levels(&a[1]));
            Nothing
        }
        (S::Obi(o), "reading") => Outcome::Reading(o.reading(boolean(&a[0]))),
        (S::Spread(s), "on_book") => {
            s.on_book(float(&a[0]), float(&a[1]));
            Nothing
        }
        (S::Spread(s), "on_second") => {
            s.on_second(boolean(&a[0]), boolean(&a[1]));
            Nothing
        }
        (S::Spread(s), "reading") => Outcome::Reading(s.reading(boolean(&a[0]))),
        (S::Spread(s), "ratio") => Float(s.ratio()),
        (S::VolumeDelta(v), "on_second") => {
            v.on_second(float(&a[0]), boolean(&a[1]));
            Nothing
        }
        (S::VolumeDelta(v), "reading") => Outcome::Reading(v.reading()),
        (S::VolumeDelta(v), "z") => Float(v.z()),
        (S::MessageVelocity(m), "on_second") => {
            let n = a[0]
                .as_u64()
                .unwrap_or_else(|| panic!("not a count: {}", a[0]));
            m.on_second(n, boolean(&a[1]));
            Nothing
        }
        (S::MessageVelocity(m), "reading") => Outcome::Reading(m.reading()),
        (S::Depth(d), "on_book") => {
            d.on_book(&levels(&a[0]), &levels(&a[1]));
            Nothing
        }
        (S::Depth(d), "reading") => Outcome::Reading(d.reading(boolean(&a[0]))),
        (S::Depth(d), "view") => Outcome::View(d.view.clone()),
        (_, method) => panic!("no replay for {method}"),
    }
}

/// The same bits, or both NaN.
fn same(got: f64, want: f64) -> bool {
    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan())
}

/// Records a difference when `got` is not the bits of `want`.
fn check_float(diffs: &mut Vec<String>, name: &str, got: f64, want: &Value) {
    if !same(got, float(want)) {
        diffs.push(format!(
            "{name}: {got:?} ({:#018x}) != {want} ({:?})",
            got.to_bits(),
            float(want)
        ));
    }
}

/// Differences between what the Rust call gave and what the Python one did (none when identical).
fn compare(got: &Outcome, want: &Value, indicator: Indicator) -> Vec<String> {
    let mut diffs = Vec::new();
    let d = &mut diffs;
    match (got, want) {
        (Outcome::Nothing, Value::Null) | (Outcome::View(None), Value::Null) => {}
        (Outcome::Float(x), want) => check_float(d, "result", *x, want),
        (Outcome::Reading(r), Value::Array(w)) if w.len() == 5 => {
            check_float(d, "value", r.value, &w[0]);
            check_float(d, "threshold", r.threshold, &w[1]);
            check_float(d, "strength", r.strength, &w[3]);
            if (r.fired, r.ready, r.indicator) != (boolean(&w[2]), boolean(&w[4]), indicator) {
                d.push(format!("fired/ready/indicator: {r:?} != {w:?}"));
            }
        }
        (Outcome::View(Some(v)), Value::Array(w)) if w.len() == 5 => {
            check_float(d, "liquidity_usd", v.liquidity_usd, &w[0]);
            check_float(d, "imbalance", v.imbalance, &w[1]);
            if v.extreme != boolean(&w[2]) {
                d.push(format!("extreme: {v:?} != {w:?}"));
            }
            for (name, got, want) in [
                ("bid_walls", &v.bid_walls, &w[3]),
                ("ask_walls", &v.ask_walls, &w[4]),
            ] {
                let want = want.as_array().unwrap_or_else(|| panic!("{name}: {want}"));
                if got.len() != want.len() {
                    d.push(format!("{name}: {got:?} != {want:?}"));
                    continue;
                }
                for (g, w) in got.iter().zip(want) {
                    check_float(d, name, *g, w);
                }
            }
        }
        (_, want) => d.push(format!("a result of another kind than {want}")),
    }
    diffs
}

#[test]
fn the_rust_indicators_give_the_python_results_bit_for_bit() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/indicator_vectors.json");
    let text = std::fs::read_to_string(path)
        .expect("tests/indicator_vectors.json (gen_indicator_vectors.py)");
    let vectors: Vectors = serde_json::from_str(&text).expect("indicator vectors");
    assert_ne!(vectors.seed, 0);
    let mut calls_by_class: BTreeMap<String, usize> = BTreeMap::new();
    let mut results = 0;
    let mut failures = Vec::new();
    for (n, case) in vectors.cases.iter().enumerate() {
        let (mut subject, indicator) = construct(&case.class, &case.args);
        for (i, (method, args, want)) in case.calls.iter().enumerate() {
            let got = call(&mut subject, method, args);
            if !matches!(got, Outcome::Nothing) {
                results += 1;
            }
            for d in compare(&got, want, indicator) {
                let (ctor, args) = (Value::from(case.args.clone()), Value::from(args.clone()));
                failures.push(format!(
                    "case {n} {}{ctor} call {i} {method}{args}: {d}",
                    case.class
                ));
            }
        }
        *calls_by_class.entry(case.class.clone()).or_default() += case.calls.len();
    }
    assert!(
        failures.is_empty(),
        "{} differences from the Python results; the first:\n{}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n")
    );
    // Every indicator was exercised, at length.
    let classes: Vec<&str> = calls_by_class.keys().map(String::as_str).collect();
    assert_eq!(
        classes,
        [
            "Acceleration",
            "Depth",
            "MessageVelocity",
            "OrderBookImbalance",
            "Spread",
            "Volatility",
            "VolumeDelta"
        ]
    );
    assert!(
        calls_by_class.values().all(|n| *n >= 100),
        "{calls_by_class:?}"
    );
    assert!(results > 2500, "{results} results compared");
}

#[test]
fn hex_floats_read_back_exactly() {
    struct Case {
        text: &'static str,
        expected: f64,
    }
    let cases = [
        Case {
            text: "0x1.8000000000000p+1",
            expected: 3.0,
        },
        Case {
            text: "-0x1.0000000000000p-1",
            expected: -0.5,
        },
        Case {
            text: "0x0.0p+0",
            expected: 0.0,
        },
        Case {
            text: "-0x0.0p+0",
            expected: -0.0,
        },
        Case {
            text: "0x1.999999999999ap-4",
            expected: 0.1,
        },
        Case {
            text: "0x1.fffffffffffffp+1023",
            expected: f64::MAX,
        },
        Case {
            text: "0x0.0000000000001p-1022",
            expected: f64::from_bits(1),
        },
        Case {
            text: "0x1.0000000000000p-1022",
            expected: f64::MIN_POSITIVE,
        },
        Case {
            text: "inf",
            expected: f64::INFINITY,
        },
        Case {
            text: "-inf",
            expected: f64::NEG_INFINITY,
        },
        Case {
            text: "nan",
            expected: f64::NAN,
        },
        Case {
            text: "99.85000000000001",
            expected: 99.85000000000001,
        },
    ];
    for c in cases {
        assert!(same(float(&Value::from(c.text)), c.expected), "{}", c.text);
    }
}
