//! Acceleration: the second derivative of the log price, as the second difference of the 1-second
//! closes over steps of `span` seconds, in basis points per second squared. It fires on its size (a
//! sudden dive or a sudden rebound); its sign is the direction.
//!
//! The reading is the largest (by size) of the last `span` second differences: a price path in a
//! crash zigzags, and the raw second difference flips sign every second or two, so the shock is held
//! for the span it is measured over (it may then count together with the slower indicators for the
//! quorum).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::BPS;
use crate::readings::{measure, Indicator, Reading};

/// Appends `x` to `q` as to a Python `deque(maxlen=maxlen)`: the oldest item leaves a full deque.
fn push_bounded(q: &mut VecDeque<f64>, x: f64, maxlen: usize) {
    if maxlen == 0 {
        return;
    }
    if q.len() >= maxlen {
        q.pop_front();
    }
    q.push_back(x);
}

/// The second difference of the log closes over `span` seconds, held over `span` seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Acceleration {
    /// Seconds between the closes of the second difference (and how long it is held).
    pub span: usize,
    /// Size (bp/s²) from which it fires.
    pub threshold: f64,
    /// The last `2 span + 1` log closes, in basis points.
    log_closes: VecDeque<f64>,
    /// The last `span` second differences.
    recent: VecDeque<f64>,
}

impl Acceleration {
    /// No closes yet. `span_secs` is at least 1 (the Python divides by `span²`).
    pub fn new(span_secs: usize, threshold_bps_s2: f64) -> Self {
        Self {
            span: span_secs,
            threshold: threshold_bps_s2,
            log_closes: VecDeque::with_capacity(2 * span_secs + 1),
            recent: VecDeque::with_capacity(span_secs),
        }
    }

    /// `price`: the second's close (NaN, no trade yet, is skipped).
    pub fn on_second(&mut self, price: f64) {
        if price.is_nan() {
            return;
        }
        push_bounded(&mut self.log_closes, price.ln() * BPS, 2 * self.span + 1);
        let a = self.second_difference();
        if !a.is_nan() {
            push_bounded(&mut self.recent, a, self.span);
        }
    }

    /// The price path starts afresh (after a feed outage): not ready until it is long enough.
    pub fn restart(&mut self) {
        self.log_closes.clear();
        self.recent.clear();
    }

    /// The largest (by size) second difference of the last `span` seconds (the older of a tie; NaN
    /// before ready).
    pub fn value(&self) -> f64 {
        let mut held = self.recent.iter().copied();
        let Some(first) = held.next() else {
            return f64::NAN;
        };
        held.fold(first, |m, a| if a.abs() > m.abs() { a } else { m })
    }

    /// `(c[-1] - 2 c[-1 - span] + c[0]) / span²` of the last `2 span + 1` log closes `c` (NaN
    /// until there are that many).
    pub fn second_difference(&self) -> f64 {
        let c = &self.log_closes;
        let k = self.span;
        if c.len() < 2 * k + 1 {
            return f64::NAN;
        }
        let last = c.len() - 1;
        (c[last] - 2.0 * c[last - k] + c[0]) / (k * k) as f64
    }

    /// `value()`; fires when its size is at least the threshold.
    pub fn reading(&self) -> Reading {
        let a = self.value();
        let ready = !a.is_nan();
        measure(
            Indicator::Acceleration,
            a,
            self.threshold,
            ready && a.abs() >= self.threshold,
            ready,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::isclose;

    #[test]
    fn is_the_second_difference_in_bps_per_s2() {
        let mut a = Acceleration::new(1, 8.0);
        for p in [100.0, 100.0] {
            a.on_second(p);
        }
        assert!(!a.reading().ready);
        a.on_second(100.0 * (-1e-3f64).exp()); // flat, then -10 bp in a second: (-10 - 0 + 0) / 1
        let rd = a.reading();
        assert!(
            rd.ready && rd.fired && isclose(rd.value, -10.0, 1e-6),
            "{rd:?}"
        );
        a.on_second(100.0 * (-2e-3f64).exp()); // steady -10 bp/s: no acceleration
        assert!(a.reading().value.abs() < 1e-6 && !a.reading().fired);
    }

    #[test]
    fn holds_the_largest_second_difference_of_its_span() {
        let mut a = Acceleration::new(2, 8.0);
        // bp: a 40 bp dive in one second, then flat.
        let logs = [0.0, 0.0, 0.0, 0.0, -40.0, -40.0, -40.0];
        let mut seconds = Vec::new();
        for x in logs {
            a.on_second(100.0 * (x / 1e4f64).exp());
            seconds.push(a.second_difference());
        }
        assert!(seconds[..4].iter().all(|s| s.is_nan())); // fewer than 2 span + 1 closes
        struct Case {
            second: usize,
            expected: f64,
        }
        // (c[-1] - 2 c[-3] + c[-5]) / 4 at each second: -10 at the dive, -10 a second later
        // ((-40 - 2 * 0 + 0) / 4), +10 two later.
        let cases = [
            Case {
                second: 4,
                expected: -10.0,
            },
            Case {
                second: 5,
                expected: -10.0,
            },
            Case {
                second: 6,
                expected: 10.0,
            },
        ];
        for c in cases {
            assert!(
                isclose(seconds[c.second], c.expected, 1e-6),
                "second {}: {:?}",
                c.second,
                seconds
            );
        }
        // The last two, -10 and +10: a tie keeps the older.
        assert!(isclose(a.value(), -10.0, 1e-6));
        a.on_second(100.0 * (-40.0 / 1e4f64).exp()); // (-40 + 80 - 40) / 4 = 0: the +10 is still held
        assert!(isclose(a.value(), 10.0, 1e-6) && a.reading().fired);
    }

    #[test]
    fn fires_exactly_at_its_threshold() {
        // "At least": with span 1 and closes 1, 1, p the second difference is exactly 1e4 ln p (the
        // first two logs are 0).
        let p: f64 = 0.999;
        let threshold = (p.ln() * 1e4).abs(); // 10.005 bp/s²
        let mut a = Acceleration::new(1, threshold);
        for price in [1.0, 1.0, p] {
            a.on_second(price);
        }
        let rd = a.reading();
        assert!(rd.value == -threshold && rd.fired, "{rd:?}");
    }

    #[test]
    fn a_missing_price_is_skipped_and_a_restart_starts_afresh() {
        let mut a = Acceleration::new(1, 8.0);
        for p in [100.0, f64::NAN, 100.0, f64::NAN] {
            a.on_second(p);
        }
        assert!(a.value().is_nan() && a.second_difference().is_nan());
        a.on_second(100.0);
        assert_eq!(a.value(), 0.0);
        a.restart();
        assert!(a.value().is_nan() && !a.reading().ready && a.second_difference().is_nan());
        for p in [100.0, 100.0] {
            a.on_second(p);
        }
        assert!(!a.reading().ready);
    }

    #[test]
    fn its_state_round_trips_through_json() {
        let mut a = Acceleration::new(1, 8.0);
        for p in [1.0, 1.0, 1.0] {
            a.on_second(p);
        }
        let back: Acceleration = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
    }
}
