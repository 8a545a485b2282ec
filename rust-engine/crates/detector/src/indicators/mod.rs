//! The detector's indicators (the Python `flashcrash.event_detector.indicators`): each takes one
//! sample per second of event time (or the latest book) and gives its `Reading`; work per sample is
//! constant (amortised).
//!
//! Every float operation is the Python one, in the Python order, so the readings are the same bits.
//! Python's `max(a, b)` and `min(a, b)` on floats are not `f64::max`/`f64::min` when a NaN is
//! involved: they are `py_max`/`py_min` here.

/// Second difference of the 1-second log closes, held over its span.
pub mod acceleration;
/// Book depth: liquidity, extreme notional imbalance and walls of the top levels.
pub mod depth;
/// Messages per second against the baseline rate.
pub mod message_velocity;
/// Order book imbalance of the top levels' quantities.
pub mod obi;
/// Relative spread against its baseline.
pub mod spread;
/// Realised volatility of the 1-second log returns against its baseline.
pub mod volatility;
/// Aggressive buy minus sell notional over the window, as a z-score against its baseline.
pub mod volume_delta;

pub use acceleration::Acceleration;
pub use depth::{Depth, DepthView};
pub use message_velocity::MessageVelocity;
pub use obi::OrderBookImbalance;
pub use spread::Spread;
pub use volatility::Volatility;
pub use volume_delta::VolumeDelta;

/// Basis points in one (log returns and log prices are read in basis points).
pub const BPS: f64 = 1e4;

/// Python's `max(a, b)` on floats: `b if b > a else a` (the first argument unless the second is
/// greater: `py_max(NaN, 1.0)` is NaN, `py_max(1.0, NaN)` is 1.0).
pub(crate) fn py_max(a: f64, b: f64) -> f64 {
    if b > a {
        b
    } else {
        a
    }
}

/// Python's `min(a, b)` on floats: `b if b < a else a`.
pub(crate) fn py_min(a: f64, b: f64) -> f64 {
    if b < a {
        b
    } else {
        a
    }
}

/// Python's `math.isclose(a, b, rel_tol=rel_tol)` (no absolute tolerance), for the tests.
#[cfg(test)]
pub(crate) fn isclose(a: f64, b: f64, rel_tol: f64) -> bool {
    a == b || (a - b).abs() <= rel_tol * a.abs().max(b.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn py_max_and_py_min_keep_the_first_argument_unless_the_second_wins() {
        struct Case {
            a: f64,
            b: f64,
            max: f64,
            min: f64,
        }
        let nan = f64::NAN;
        let cases = [
            Case {
                a: 1.0,
                b: 2.0,
                max: 2.0,
                min: 1.0,
            },
            Case {
                a: 2.0,
                b: 1.0,
                max: 2.0,
                min: 1.0,
            },
            Case {
                a: nan,
                b: 1.0,
                max: nan,
                min: nan,
            },
            Case {
                a: 1.0,
                b: nan,
                max: 1.0,
                min: 1.0,
            },
            Case {
                a: -0.0,
                b: 0.0,
                max: -0.0,
                min: -0.0,
            },
            Case {
                a: 0.0,
                b: -0.0,
                max: 0.0,
                min: 0.0,
            },
        ];
        for c in cases {
            let same = |x: f64, y: f64| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
            assert!(same(py_max(c.a, c.b), c.max), "max({}, {})", c.a, c.b);
            assert!(same(py_min(c.a, c.b), c.min), "min({}, {})", c.a, c.b);
        }
    }
}
