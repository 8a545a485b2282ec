//! Volatility: realised volatility (root mean square, i.e. the zero-mean standard deviation) of the
//! 1-second log returns of the recent window, against the same over the baseline before it. Also
//! the window's price move in baseline sigmas ([`Volatility::move_sigmas`]): a steady slide moves
//! the price far while its 1-second returns stay as dispersed as before.

use serde::{Deserialize, Serialize};

use super::{py_max, BPS};
use crate::readings::{measure, not_ready, Indicator, Reading};
use crate::rolling::RecentAndBaseline;

/// The root mean square of `n` samples whose squares sum to `squares` (NaN when `n` is 0).
fn rms(n: usize, squares: f64) -> f64 {
    if n == 0 {
        return f64::NAN;
    }
    (py_max(squares, 0.0) / n as f64).sqrt()
}

/// Realised volatility of the recent window against its baseline, in basis points.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Volatility {
    /// The 1-second log returns, in basis points.
    pub returns: RecentAndBaseline,
    /// Baseline samples needed before the reading is ready.
    pub warmup: usize,
    /// Recent over baseline RMS at which it fires (with the floor).
    pub ratio: f64,
    /// Smallest recent RMS (bp) that fires.
    pub floor_bps: f64,
    /// The last price seen (NaN before the first, and after `restart`).
    #[serde(with = "crate::serde_float")]
    last: f64,
}

impl Volatility {
    /// Empty windows of `window_secs` recent and `baseline_secs` baseline returns.
    pub fn new(
        window_secs: usize,
        baseline_secs: usize,
        warmup_secs: usize,
        ratio: f64,
        floor_bps: f64,
    ) -> Self {
        Self {
            returns: RecentAndBaseline::new(window_secs, baseline_secs),
            warmup: warmup_secs,
            ratio,
            floor_bps,
            last: f64::NAN,
        }
    }

    /// `price`: the last trade price at the end of the second (NaN before the first trade, which is
    /// skipped). The return from the previous price is pushed; `learn` as `RecentAndBaseline::push`.
    pub fn on_second(&mut self, price: f64, learn: bool) {
        if price.is_nan() {
            return;
        }
        if !self.last.is_nan() {
            self.returns.push((price / self.last).ln() * BPS, learn);
        }
        self.last = price;
    }

    /// The next price starts the return series afresh (after a feed outage).
    pub fn restart(&mut self) {
        self.last = f64::NAN;
    }

    /// RMS of the recent returns, bp (NaN when there are none).
    pub fn recent_bps(&self) -> f64 {
        let w = &self.returns.recent;
        rms(w.len(), w.squares)
    }

    /// The price's move over the recent window (the sum of its `n` returns, in size) over what `n`
    /// returns of baseline size would move it by chance (`scale_bps × √n`): a random walk at the
    /// baseline's volatility stays under 2 about 95 % of the time; ten returns all one way at the
    /// baseline's size give √10 ≈ 3.2. NaN until the baseline is warm.
    pub fn move_sigmas(&self) -> f64 {
        let w = &self.returns.recent;
        if !self.returns.baseline_ready(self.warmup) || w.is_empty() {
            return f64::NAN;
        }
        w.total.abs() / (self.scale_bps() * (w.len() as f64).sqrt())
    }

    /// RMS of the baseline returns, bp (NaN when there are none).
    pub fn baseline_bps(&self) -> f64 {
        let w = &self.returns.baseline;
        rms(w.len(), w.squares)
    }

    /// The baseline RMS as the readings divide by: at least `floor / ratio` (and 1e-9), so a
    /// baseline of zero (no trade moved the price) does not make every move infinitely large.
    fn scale_bps(&self) -> f64 {
        py_max(
            py_max(self.baseline_bps(), self.floor_bps / self.ratio),
            1e-9,
        )
    }

    /// Recent RMS over `scale_bps`; fires from `ratio` when the recent RMS is at least the floor.
    /// With a baseline of zero the ratio fires exactly when the floor does.
    pub fn reading(&self) -> Reading {
        if !self.returns.baseline_ready(self.warmup) {
            return not_ready(Indicator::Volatility, self.ratio);
        }
        let recent = self.recent_bps();
        let value = recent / self.scale_bps();
        let fired = value >= self.ratio && recent >= self.floor_bps;
        measure(Indicator::Volatility, value, self.ratio, fired, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::isclose;

    /// Prices from 100, each the previous times `exp(r)` for the log returns `rs`.
    fn drive(v: &mut Volatility, rs: &[f64]) {
        let mut price = 100.0;
        v.on_second(price, true);
        for r in rs {
            price *= r.exp();
            v.on_second(price, true);
        }
    }

    #[test]
    fn ratio_and_floor() {
        struct Case {
            name: &'static str,
            floor_bps: f64,
            returns: &'static [f64],
            fired: bool,
            /// The expected value (rel. tol. 1e-6), when checked.
            value: Option<f64>,
        }
        let cases = [
            // Baseline: 1 bp returns (RMS 1 bp); recent: 20 bp (RMS 20 bp, 20x, over the floor). The
            // floor / ratio (2 bp) is above the 1 bp baseline, so the ratio is 20 / 2 = 10.
            Case {
                name: "fires",
                floor_bps: 10.0,
                returns: &[1e-4, -1e-4, 1e-4, -1e-4, -2e-3, 2e-3],
                fired: true,
                value: Some(10.0),
            },
            // Baseline 0.1 bp, recent 20 bp: the ratio is met but the 50 bp floor is not.
            Case {
                name: "under the floor",
                floor_bps: 50.0,
                returns: &[1e-5, -1e-5, 1e-5, -1e-5, 2e-3, -2e-3],
                fired: false,
                value: None,
            },
        ];
        for c in cases {
            let mut v = Volatility::new(2, 4, 4, 5.0, c.floor_bps);
            let mut price = 100.0;
            v.on_second(price, true);
            for (i, r) in c.returns.iter().enumerate() {
                if i == 4 {
                    assert!(!v.reading().ready, "{}", c.name); // 2 of the 4 baseline returns yet
                }
                price *= r.exp();
                v.on_second(price, true);
            }
            let rd = v.reading();
            assert!(rd.ready && rd.fired == c.fired, "{}: {rd:?}", c.name);
            if let Some(value) = c.value {
                assert!(isclose(rd.value, value, 1e-6), "{}: {rd:?}", c.name);
            }
        }
        let mut v = Volatility::new(2, 4, 4, 5.0, 10.0);
        drive(&mut v, &[1e-4, -1e-4, 1e-4, -1e-4, -2e-3, 2e-3]);
        assert!(isclose(v.baseline_bps(), 1.0, 1e-6));
    }

    #[test]
    fn fires_exactly_at_its_ratio_and_its_floor() {
        // `volatility_ratio` and `volatility_floor_bps` are "at least" thresholds. Returns (bp) go
        // straight into the windows so the RMS values are exact: baseline 1, -1, 1, -1 (RMS 1),
        // recent 5, -5 (RMS 5); 5 / max(1, 5 / 5) = 5.
        struct Case {
            floor_bps: f64,
            baseline: f64,
            fired: bool,
        }
        let cases = [
            Case {
                floor_bps: 5.0,
                baseline: 1.0,
                fired: true,
            },
            // A hair under the floor does not fire: the floor works through the scale, which is then
            // floor / ratio (1.0000002, over the baseline 0.5), so the value is 4.999999, under the
            // ratio.
            Case {
                floor_bps: 5.000001,
                baseline: 0.5,
                fired: false,
            },
        ];
        for c in cases {
            let mut v = Volatility::new(2, 4, 4, 5.0, c.floor_bps);
            for r in [c.baseline, -c.baseline, c.baseline, -c.baseline, 5.0, -5.0] {
                v.returns.push(r, true);
            }
            assert_eq!((v.recent_bps(), v.baseline_bps()), (5.0, c.baseline));
            let rd = v.reading();
            assert!(rd.ready && rd.fired == c.fired, "{rd:?}");
            assert!(rd.value > 5.0 * 0.999, "{rd:?}");
            if c.fired {
                assert_eq!(rd.value, 5.0);
            } else {
                assert!(rd.value < 5.0, "{rd:?}");
            }
        }
    }

    #[test]
    fn the_move_in_baseline_sigmas() {
        // Baseline returns (bp) 2, -2, 2, -2: RMS 2. Recent window of 4.
        let mut v = Volatility::new(4, 4, 4, 5.0, 5.0);
        assert!(v.move_sigmas().is_nan());
        for r in [2.0, -2.0, 2.0, -2.0] {
            v.returns.push(r, true);
        }
        assert!(
            v.move_sigmas().is_nan(),
            "no recent return yet, the baseline not warm"
        );
        // a slide: four returns of -3 bp move the price 12 bp, against 2 x sqrt(4) = 4 bp by chance;
        // the dispersion is only 1.5x the baseline's, under the ratio
        for r in [-3.0; 4] {
            v.returns.push(r, true);
        }
        assert_eq!(v.move_sigmas(), 3.0);
        assert!(!v.reading().fired);
        // the same returns back and forth move it nowhere
        for r in [3.0, -3.0, 3.0, -3.0] {
            v.returns.push(r, true);
        }
        assert_eq!(v.move_sigmas(), 0.0);
        // a flat baseline is taken as floor / ratio (1 bp): one return of 8 bp in a window of one
        let mut v = Volatility::new(1, 4, 4, 5.0, 5.0);
        for r in [0.0, 0.0, 0.0, 0.0, 8.0] {
            v.returns.push(r, true);
        }
        assert_eq!(v.move_sigmas(), 8.0);
    }

    #[test]
    fn a_missing_price_is_skipped_and_a_restart_breaks_the_series() {
        let mut v = Volatility::new(2, 4, 4, 5.0, 10.0);
        assert!(v.recent_bps().is_nan() && v.baseline_bps().is_nan());
        v.on_second(f64::NAN, true); // before the first trade
        v.on_second(100.0, true);
        v.on_second(f64::NAN, true); // no trade: no return, the last price is kept
        v.on_second(100.0 * 1e-3f64.exp(), true);
        assert_eq!(v.returns.recent.len(), 1);
        assert!(isclose(v.returns.recent.items[0], 10.0, 1e-9));
        v.restart();
        v.on_second(200.0, true); // no return from the price before the outage
        assert_eq!(v.returns.recent.len(), 1);
        v.on_second(200.0, true);
        assert_eq!(v.returns.recent.items, [v.returns.recent.items[0], 0.0]);
    }

    #[test]
    fn not_learning_keeps_the_baseline() {
        let mut v = Volatility::new(1, 4, 1, 5.0, 10.0);
        v.on_second(100.0, true);
        v.on_second(101.0, true);
        v.on_second(102.0, false); // the 100 -> 101 return leaves the recent window unlearnt
        assert!(v.returns.baseline.is_empty() && !v.reading().ready);
        v.on_second(103.0, true);
        assert_eq!(v.returns.baseline.len(), 1);
        assert!(v.reading().ready);
    }

    #[test]
    fn a_zero_baseline_and_floor_read_against_1e_9() {
        // No move in the baseline, floor 0: the denominator is 1e-9.
        let mut v = Volatility::new(1, 2, 2, 5.0, 0.0);
        for r in [0.0, 0.0, 1.0] {
            v.returns.push(r, true);
        }
        let rd = v.reading();
        assert_eq!(rd.value, 1.0 / 1e-9);
        assert!(rd.fired);
    }

    #[test]
    fn its_state_round_trips_through_json_with_a_nan_last_price() {
        let mut v = Volatility::new(2, 4, 4, 5.0, 10.0);
        let json = serde_json::to_string(&v).unwrap();
        assert!(json.contains(r#""last":"NaN""#), "{json}");
        let back: Volatility = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
        // Dyadic values: serde_json's default float parsing is not always correctly rounded.
        v.on_second(128.0, true);
        v.returns.push(1.5, true);
        let back: Volatility = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
        assert_eq!(back, v);
    }
}
