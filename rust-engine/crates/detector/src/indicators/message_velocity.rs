//! Message velocity: messages per second over the recent window, against the baseline rate before
//! it. A spike (panic submission and cancellation) lowers the ACTIVE quorum. The detector counts the
//! messages: every trade, and every book or (`velocity_touch_only`) only the books that moved the
//! best bid or ask price.

use serde::{Deserialize, Serialize};

use super::py_max;
use crate::readings::{measure, not_ready, Indicator, Reading};
use crate::rolling::RecentAndBaseline;

/// The recent message rate over the baseline rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageVelocity {
    /// Messages a second: the recent window, and the baseline before it.
    pub counts: RecentAndBaseline,
    /// Baseline samples needed before the reading is ready.
    pub warmup: usize,
    /// Recent over baseline rate from which it fires (with the minimum).
    pub ratio: f64,
    /// Smallest recent rate (messages a second) that fires.
    pub min_per_sec: f64,
}

impl MessageVelocity {
    /// Empty windows of `window_secs` recent and `baseline_secs` baseline seconds.
    pub fn new(
        window_secs: usize,
        baseline_secs: usize,
        warmup_secs: usize,
        ratio: f64,
        min_per_sec: f64,
    ) -> Self {
        Self {
            counts: RecentAndBaseline::new(window_secs, baseline_secs),
            warmup: warmup_secs,
            ratio,
            min_per_sec,
        }
    }

    /// The messages of the second. `learn` as `RecentAndBaseline::push`.
    pub fn on_second(&mut self, messages: u64, learn: bool) {
        self.counts.push(messages as f64, learn);
    }

    /// Recent rate over `max(baseline rate, min_per_sec / ratio, 1e-9)`; fires from `ratio` when
    /// the recent rate is at least `min_per_sec`. A quiet baseline is so taken as min / ratio.
    pub fn reading(&self) -> Reading {
        if !self.counts.baseline_ready(self.warmup) {
            return not_ready(Indicator::MessageVelocity, self.ratio);
        }
        let rate = self.counts.recent.mean();
        let floor = py_max(
            py_max(self.counts.baseline.mean(), self.min_per_sec / self.ratio),
            1e-9,
        );
        let value = rate / floor;
        let fired = value >= self.ratio && rate >= self.min_per_sec;
        measure(Indicator::MessageVelocity, value, self.ratio, fired, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::isclose;

    #[test]
    fn ratio_and_minimum() {
        struct Case {
            name: &'static str,
            min_per_sec: f64,
            counts: &'static [u64],
            value: f64,
            /// 0 for an exact value.
            rel_tol: f64,
            fired: bool,
            strength: f64,
        }
        let cases = [
            // A steady 4 a second: 1x.
            Case {
                name: "steady",
                min_per_sec: 5.0,
                counts: &[4, 4, 4, 4, 4, 4],
                value: 1.0,
                rel_tol: 0.0,
                fired: false,
                strength: 1.0 / 3.0,
            },
            Case {
                name: "a spike",
                min_per_sec: 5.0,
                counts: &[4, 4, 4, 4, 4, 4, 20, 20],
                value: 5.0,
                rel_tol: 1e-9,
                fired: true,
                strength: 1.0,
            },
            // A baseline of 2 a second, then 6: exactly 3x (and 6 >= the minimum of 5): fires.
            Case {
                name: "exactly at its ratio",
                min_per_sec: 5.0,
                counts: &[2, 2, 2, 2, 6, 6],
                value: 3.0,
                rel_tol: 0.0,
                fired: true,
                strength: 1.0,
            },
            // A quiet baseline (1 a second) is taken as min_per_sec / ratio (10 / 3): 5 a second reads
            // 5 / (10 / 3) = 1.5x, not 5x, and does not fire.
            Case {
                name: "floored baseline",
                min_per_sec: 10.0,
                counts: &[1, 1, 1, 1, 5, 5],
                value: 1.5,
                rel_tol: 1e-9,
                fired: false,
                strength: 0.5,
            },
            // 2.5x of a 2 a second baseline: under the ratio (the minimum, 3x the floored baseline, is
            // then never what stops it firing).
            Case {
                name: "under the ratio",
                min_per_sec: 5.0,
                counts: &[2, 2, 2, 2, 5, 5],
                value: 2.5,
                rel_tol: 0.0,
                fired: false,
                strength: 2.5 / 3.0,
            },
            // Nothing at all, no minimum: 0 / 1e-9.
            Case {
                name: "silence",
                min_per_sec: 0.0,
                counts: &[0, 0, 0, 0, 0, 0],
                value: 0.0,
                rel_tol: 0.0,
                fired: false,
                strength: 0.0,
            },
        ];
        for c in cases {
            let mut mv = MessageVelocity::new(2, 4, 4, 3.0, c.min_per_sec);
            for n in c.counts {
                mv.on_second(*n, true);
            }
            let rd = mv.reading();
            assert!(rd.ready && rd.fired == c.fired, "{}: {rd:?}", c.name);
            assert!(isclose(rd.value, c.value, c.rel_tol), "{}: {rd:?}", c.name);
            assert!(isclose(rd.strength, c.strength, 1e-9), "{}: {rd:?}", c.name);
        }
    }

    #[test]
    fn not_ready_until_the_windows_fill() {
        let mut mv = MessageVelocity::new(2, 4, 4, 3.0, 5.0);
        for n in [4, 4, 4, 4, 4] {
            mv.on_second(n, true);
            assert!(!mv.reading().ready && mv.reading().value.is_nan());
        }
        mv.on_second(4, true);
        assert!(mv.reading().ready);
    }

    #[test]
    fn its_state_round_trips_through_json() {
        let mut mv = MessageVelocity::new(2, 4, 4, 3.0, 5.0);
        for n in [4, 1, 7, 4, 0, 4, 9] {
            mv.on_second(n, n % 2 == 0);
        }
        let back: MessageVelocity =
            serde_json::from_str(&serde_json::to_string(&mv).unwrap()).unwrap();
        assert_eq!(back, mv);
    }
}
