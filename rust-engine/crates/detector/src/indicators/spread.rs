//! Spread: the relative spread (ask - bid) / mid of the latest book, against its mean over the
//! baseline (one sample a second, the latest book's).

use serde::{Deserialize, Serialize};

use crate::readings::{measure, not_ready, Indicator, Reading};
use crate::rolling::RecentAndBaseline;

/// The latest book's relative spread over its baseline mean.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// One relative spread a second (a recent window of one, the baseline before it).
    pub samples: RecentAndBaseline,
    /// Baseline samples needed before the reading is ready.
    pub warmup: usize,
    /// Ratio to the baseline from which it fires.
    pub threshold: f64,
    /// The latest book's relative spread (NaN before the first book).
    #[serde(with = "crate::serde_float")]
    pub current: f64,
}

impl Spread {
    /// No book yet; a baseline of `baseline_secs` samples.
    pub fn new(baseline_secs: usize, warmup_secs: usize, ratio: f64) -> Self {
        Self {
            samples: RecentAndBaseline::new(1, baseline_secs),
            warmup: warmup_secs,
            threshold: ratio,
            current: f64::NAN,
        }
    }

    /// Measures a book by its best prices: (ask - bid) / ((ask + bid) / 2).
    pub fn on_book(&mut self, best_bid: f64, best_ask: f64) {
        self.current = (best_ask - best_bid) / ((best_ask + best_bid) / 2.0);
    }

    /// Samples the latest book, when it is fresh (a stale book adds nothing to the windows).
    pub fn on_second(&mut self, book_fresh: bool, learn: bool) {
        if book_fresh && !self.current.is_nan() {
            self.samples.push(self.current, learn);
        }
    }

    /// The latest spread over the baseline mean (NaN unless that mean is positive).
    pub fn ratio(&self) -> f64 {
        let base = self.samples.baseline.mean();
        if base > 0.0 {
            self.current / base
        } else {
            f64::NAN
        }
    }

    /// `ratio()`, ready with a fresh book and a warm, positive baseline.
    pub fn reading(&self, book_fresh: bool) -> Reading {
        let ready = book_fresh
            && self.samples.baseline_ready(self.warmup)
            && self.samples.baseline.mean() > 0.0;
        if !ready {
            return not_ready(Indicator::Spread, self.threshold);
        }
        let r = self.ratio();
        measure(
            Indicator::Spread,
            r,
            self.threshold,
            r >= self.threshold,
            true,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::isclose;

    #[test]
    fn against_its_baseline() {
        let mut sp = Spread::new(3, 3, 4.0);
        for _ in 0..4 {
            sp.on_book(99.99, 100.01); // 2 bp
            sp.on_second(true, true);
        }
        sp.on_book(99.95, 100.05); // 10 bp: 5x
        sp.on_second(true, true);
        let rd = sp.reading(true);
        assert!(rd.fired && isclose(rd.value, 5.0, 1e-9), "{rd:?}");
        assert!(!sp.reading(false).ready); // stale book
    }

    /// A spread baseline of two samples of 1/8 (15/17: (17 - 15) / 16; binary fractions, so the
    /// means are exact), then one book.
    fn eighth_then(bid: f64, ask: f64) -> Spread {
        let mut sp = Spread::new(2, 2, 4.0);
        for _ in 0..3 {
            // 1 recent + 2 baseline
            sp.on_book(15.0, 17.0);
            sp.on_second(true, true);
        }
        sp.on_book(bid, ask);
        sp
    }

    #[test]
    fn fires_exactly_at_its_ratio() {
        struct Case {
            bid: f64,
            ask: f64,
            value: f64,
            fired: bool,
        }
        let cases = [
            // 3/5 is a spread of 2 / 4 = 1/2, exactly 4x the 1/8 baseline: it fires.
            Case {
                bid: 3.0,
                ask: 5.0,
                value: 4.0,
                fired: true,
            },
            // 7/9: 2 / 8 = 1/4, 2x.
            Case {
                bid: 7.0,
                ask: 9.0,
                value: 2.0,
                fired: false,
            },
        ];
        for c in cases {
            let mut sp = eighth_then(c.bid, c.ask);
            sp.on_second(true, true);
            let rd = sp.reading(true);
            assert!(rd.value == c.value && rd.fired == c.fired, "{rd:?}");
        }
    }

    #[test]
    fn does_not_sample_a_stale_book() {
        // Seconds with a stale book add nothing to the windows: the 1/8 baseline is still there when
        // a fresh book comes back, and a 1/2 spread reads 4x (it would read 1x had the stale 1/2
        // books been learnt).
        let mut sp = eighth_then(3.0, 5.0);
        for _ in 0..5 {
            sp.on_second(false, true);
        }
        assert_eq!(sp.samples.baseline.items, [0.125, 0.125]);
        assert_eq!(sp.samples.recent.items, [0.125]);
        sp.on_second(true, true);
        assert!(sp.reading(true).value == 4.0 && sp.reading(true).fired);
    }

    #[test]
    fn not_ready_without_a_book_or_a_positive_baseline() {
        let mut sp = Spread::new(2, 2, 4.0);
        sp.on_second(true, true); // no book yet: nothing sampled
        assert!(sp.samples.recent.is_empty() && sp.ratio().is_nan());
        for _ in 0..3 {
            sp.on_book(10.0, 10.0); // a zero spread (locked book)
            sp.on_second(true, true);
        }
        assert!(sp.samples.baseline_ready(2) && sp.ratio().is_nan());
        assert!(!sp.reading(true).ready);
    }

    #[test]
    fn its_state_round_trips_through_json() {
        let sp = Spread::new(2, 2, 4.0);
        let json = serde_json::to_string(&sp).unwrap();
        let back: Spread = serde_json::from_str(&json).unwrap();
        assert!(back.current.is_nan() && serde_json::to_string(&back).unwrap() == json);
        let sp = eighth_then(3.0, 5.0);
        let back: Spread = serde_json::from_str(&serde_json::to_string(&sp).unwrap()).unwrap();
        assert_eq!(back, sp);
    }
}
