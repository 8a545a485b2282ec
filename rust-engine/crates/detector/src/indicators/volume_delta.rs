//! Volume delta: aggressive buy minus aggressive sell notional over the recent window, as a z-score
//! against the same rolling sum over the baseline before it. Negative: sellers are hitting bids.

use serde::{Deserialize, Serialize};

use super::{py_max, py_min};
use crate::readings::{measure, not_ready, Indicator, Reading};
use crate::rolling::{RecentAndBaseline, Window};

/// The largest size of the z-score (a flat baseline makes any change infinitely many deviations).
pub const Z_CAP: f64 = 1000.0;

/// The window's delta sum as a z-score against the baseline's window sums.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VolumeDelta {
    /// The per-second deltas of the window (its `total` is the window sum).
    pub per_second: Window,
    /// One window sum a second: the recent ones, and the baseline before them.
    pub sums: RecentAndBaseline,
    /// Baseline samples needed before the reading is ready.
    pub warmup: usize,
    /// Size of the z-score from which it fires.
    pub threshold: f64,
}

impl VolumeDelta {
    /// Empty windows: sums over `window_secs` seconds, a baseline of `baseline_secs` sums.
    pub fn new(window_secs: usize, baseline_secs: usize, warmup_secs: usize, z: f64) -> Self {
        Self {
            per_second: Window::new(window_secs),
            sums: RecentAndBaseline::new(window_secs, baseline_secs),
            warmup: warmup_secs,
            threshold: z,
        }
    }

    /// `delta`: buy minus sell notional of the second. `learn` as `RecentAndBaseline::push`.
    pub fn on_second(&mut self, delta: f64, learn: bool) {
        self.per_second.push(delta);
        self.sums.push(self.per_second.total, learn);
    }

    /// (window sum - baseline mean) / baseline std, within ±`Z_CAP`; with a flat baseline, 0 when the
    /// sum is its mean, else ±`Z_CAP` by the sign of the difference.
    pub fn z(&self) -> f64 {
        let base = &self.sums.baseline;
        let s = self.per_second.total;
        let sd = base.std();
        if sd > 0.0 {
            return py_max(-Z_CAP, py_min(Z_CAP, (s - base.mean()) / sd));
        }
        if s == base.mean() {
            0.0
        } else {
            Z_CAP.copysign(s - base.mean())
        }
    }

    /// `z()`, ready with a warm baseline; fires when its size is at least the threshold.
    pub fn reading(&self) -> Reading {
        if !self.sums.baseline_ready(self.warmup) {
            return not_ready(Indicator::VolumeDelta, self.threshold);
        }
        let z = self.z();
        measure(
            Indicator::VolumeDelta,
            z,
            self.threshold,
            z.abs() >= self.threshold,
            true,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::isclose;

    #[test]
    fn z_score_of_the_window_sum() {
        struct Case {
            name: &'static str,
            window: usize,
            z: f64,
            deltas: &'static [f64],
            value: f64,
            /// 0 for an exact value.
            rel_tol: f64,
            fired: bool,
        }
        let cases = [
            // Baseline sums 1, -1, 1, -1: mean 0, std 1.
            Case {
                name: "z-score",
                window: 1,
                z: 3.0,
                deltas: &[1.0, -1.0, 1.0, -1.0, 1.0, -5.0],
                value: -5.0,
                rel_tol: 1e-9,
                fired: true,
            },
            // A window sum of -3 is z = -3 exactly: fires at 3.
            Case {
                name: "exactly at its z",
                window: 1,
                z: 3.0,
                deltas: &[1.0, -1.0, 1.0, -1.0, 1.0, -3.0],
                value: -3.0,
                rel_tol: 0.0,
                fired: true,
            },
            // The z-score is of the sum over the window, not of one second: with a window of 2,
            // deltas 1, 1, -1, -1, 1, 1, -1, -1 give sums 2, 0, -2, 0, 2, 0, -2 (the baseline: the 4
            // before the window, 0, -2, 0, 2: mean 0, std sqrt(2)); then -2, -2: sum -4.
            Case {
                name: "sums its window",
                window: 2,
                z: 10.0,
                deltas: &[1.0, 1.0, -1.0, -1.0, 1.0, 1.0, -2.0, -2.0],
                value: -4.0 / std::f64::consts::SQRT_2,
                rel_tol: 1e-12,
                fired: false,
            },
            // A flat baseline: the same sum reads 0, another ±Z_CAP.
            Case {
                name: "flat, unchanged",
                window: 1,
                z: 3.0,
                deltas: &[2.0, 2.0, 2.0, 2.0, 2.0, 2.0],
                value: 0.0,
                rel_tol: 0.0,
                fired: false,
            },
            Case {
                name: "flat, changed",
                window: 1,
                z: 3.0,
                deltas: &[0.0, 0.0, 0.0, 0.0, 0.0, -0.5],
                value: -Z_CAP,
                rel_tol: 0.0,
                fired: true,
            },
            // Capped: 1, -1, 1, -1 (std 1), then 5000.
            Case {
                name: "capped",
                window: 1,
                z: 3.0,
                deltas: &[1.0, -1.0, 1.0, -1.0, 1.0, 5000.0],
                value: Z_CAP,
                rel_tol: 0.0,
                fired: true,
            },
        ];
        for c in cases {
            let mut vd = VolumeDelta::new(c.window, 4, 4, c.z);
            for d in c.deltas {
                vd.on_second(*d, true);
            }
            let rd = vd.reading();
            assert!(rd.ready && rd.fired == c.fired, "{}: {rd:?}", c.name);
            assert!(isclose(rd.value, c.value, c.rel_tol), "{}: {rd:?}", c.name);
        }
        let mut vd = VolumeDelta::new(2, 4, 4, 10.0);
        for d in [1.0, 1.0, -1.0, -1.0, 1.0, 1.0, -2.0, -2.0] {
            vd.on_second(d, true);
        }
        assert_eq!(vd.sums.baseline.items, [0.0, -2.0, 0.0, 2.0]);
    }

    #[test]
    fn not_ready_until_the_baseline_is_warm_and_not_learning_keeps_it() {
        let mut vd = VolumeDelta::new(1, 4, 2, 3.0);
        vd.on_second(1.0, true);
        vd.on_second(1.0, true);
        assert!(!vd.reading().ready && vd.reading().value.is_nan());
        vd.on_second(1.0, false); // the second sum leaves the window unlearnt
        assert_eq!(vd.sums.baseline.len(), 1);
        vd.on_second(1.0, true);
        assert!(vd.reading().ready);
    }

    #[test]
    fn its_state_round_trips_through_json() {
        let mut vd = VolumeDelta::new(2, 4, 4, 10.0);
        for d in [1.0, 1.0, -1.0, -1.5, 1.0, 1.0, -2.0, -2.0] {
            vd.on_second(d, true);
        }
        let back: VolumeDelta = serde_json::from_str(&serde_json::to_string(&vd).unwrap()).unwrap();
        assert_eq!(back, vd);
    }
}
