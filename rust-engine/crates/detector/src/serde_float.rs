//! Serde for an `f64` that may be NaN or infinite (`#[serde(with = "crate::serde_float")]`).
//!
//! JSON has no NaN or infinity: `serde_json` writes them as `null` and cannot read that back as a
//! float. With this helper a finite value is written as a number and a non-finite one as the string
//! `"NaN"`, `"inf"` or `"-inf"` (the Python snapshot's `{"$float": repr}` without the tag). Reading
//! takes a number, or one of those strings (`"nan"`, `"+inf"`, `"infinity"` and `"-infinity"` too,
//! in any case).

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

/// Writes `x`: a number when finite, else `"NaN"`, `"inf"` or `"-inf"`.
pub fn serialize<S: Serializer>(x: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if x.is_finite() {
        serializer.serialize_f64(*x)
    } else if x.is_nan() {
        serializer.serialize_str("NaN")
    } else if *x > 0.0 {
        serializer.serialize_str("inf")
    } else {
        serializer.serialize_str("-inf")
    }
}

/// Reads what `serialize` writes (and any number).
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    deserializer.deserialize_any(FloatVisitor)
}

struct FloatVisitor;

impl Visitor<'_> for FloatVisitor {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(r#"a number, or "NaN", "inf" or "-inf""#)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        match v.to_ascii_lowercase().as_str() {
            "nan" => Ok(f64::NAN),
            "inf" | "+inf" | "infinity" | "+infinity" => Ok(f64::INFINITY),
            "-inf" | "-infinity" => Ok(f64::NEG_INFINITY),
            _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize)]
    struct Holder {
        #[serde(with = "crate::serde_float")]
        x: f64,
    }

    #[test]
    fn every_float_round_trips_through_json() {
        struct Case {
            x: f64,
            json: &'static str,
        }
        let cases = [
            Case {
                x: 1.5,
                json: r#"{"x":1.5}"#,
            },
            Case {
                x: -0.0,
                json: r#"{"x":-0.0}"#,
            },
            Case {
                x: 0.1,
                json: r#"{"x":0.1}"#,
            },
            Case {
                x: f64::MAX,
                json: r#"{"x":1.7976931348623157e+308}"#,
            },
            Case {
                x: f64::NAN,
                json: r#"{"x":"NaN"}"#,
            },
            Case {
                x: f64::INFINITY,
                json: r#"{"x":"inf"}"#,
            },
            Case {
                x: f64::NEG_INFINITY,
                json: r#"{"x":"-inf"}"#,
            },
        ];
        for c in cases {
            let json = serde_json::to_string(&Holder { x: c.x }).unwrap();
            assert_eq!(json, c.json);
            let back: Holder = serde_json::from_str(&json).unwrap();
            assert!(
                back.x.to_bits() == c.x.to_bits() || (back.x.is_nan() && c.x.is_nan()),
                "{json}"
            );
        }
    }

    #[test]
    fn reads_integers_and_other_spellings_and_refuses_other_strings() {
        struct Case {
            json: &'static str,
            expected: f64,
        }
        let cases = [
            Case {
                json: r#"{"x":3}"#,
                expected: 3.0,
            },
            Case {
                json: r#"{"x":-3}"#,
                expected: -3.0,
            },
            Case {
                json: r#"{"x":"nan"}"#,
                expected: f64::NAN,
            },
            Case {
                json: r#"{"x":"Infinity"}"#,
                expected: f64::INFINITY,
            },
            Case {
                json: r#"{"x":"-infinity"}"#,
                expected: f64::NEG_INFINITY,
            },
        ];
        for c in cases {
            let got = serde_json::from_str::<Holder>(c.json).unwrap().x;
            assert!(
                got == c.expected || (got.is_nan() && c.expected.is_nan()),
                "{}",
                c.json
            );
        }
        for bad in [r#"{"x":"1.5"}"#, r#"{"x":null}"#, r#"{"x":true}"#] {
            assert!(serde_json::from_str::<Holder>(bad).is_err(), "{bad}");
        }
    }
}
