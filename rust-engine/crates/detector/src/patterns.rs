//! Candle patterns on consecutive 1-second candles (a second without a trade breaks a sequence);
//! the Python `flashcrash.event_detector.patterns`.
//!
//! * Selling exhaustion: 3 to 5 bearish candles, each with a lower wick over `exhaustion_wick_pct`
//!   of its range, each lower wick longer than the one before by over `exhaustion_wick_growth_pct`,
//!   each body smaller than the one before: sellers still win every second but lose ground to
//!   buyers.
//! * Buying climax: 3 to 5 bullish candles, each with an upper wick over `climax_wick_pct` of its
//!   range, the last with over `climax_volume_ratio` times the mean volume of the ones before it.
//!
//! The longest matching run ending at the last candle is reported (5, then 4, then 3 candles).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::candles::{Candle, NS};
use crate::readings::Pattern;

/// Python's `min(a, b)`: `a` unless `b` is smaller (so `min(0.0, -0.0)` is `0.0`).
fn py_min(a: f64, b: f64) -> f64 {
    if b < a {
        b
    } else {
        a
    }
}

/// Python's `max(a, b)`: `a` unless `b` is larger.
fn py_max(a: f64, b: f64) -> f64 {
    if b > a {
        b
    } else {
        a
    }
}

fn range(c: &Candle) -> f64 {
    c.high - c.low
}

fn body(c: &Candle) -> f64 {
    (c.close - c.open).abs()
}

fn lower_wick(c: &Candle) -> f64 {
    py_min(c.open, c.close) - c.low
}

fn upper_wick(c: &Candle) -> f64 {
    c.high - py_max(c.open, c.close)
}

/// Whether `run` is a selling exhaustion: every candle bearish with a range and a lower wick over
/// `wick_pct` % of it; each lower wick over `growth_pct` % longer than the one before, each body
/// smaller.
pub fn selling_exhaustion(run: &[Candle], wick_pct: f64, growth_pct: f64) -> bool {
    if !run.iter().all(|c| c.close < c.open && range(c) > 0.0) {
        return false;
    }
    if !run
        .iter()
        .all(|c| lower_wick(c) > wick_pct / 100.0 * range(c))
    {
        return false;
    }
    let growth = 1.0 + growth_pct / 100.0;
    run.windows(2)
        .all(|w| lower_wick(&w[1]) > lower_wick(&w[0]) * growth && body(&w[1]) < body(&w[0]))
}

/// Whether `run` is a buying climax: every candle bullish with a range and an upper wick over
/// `wick_pct` % of it; the last one's volume over `volume_ratio` times the mean of the ones before.
///
/// A run of one candle has no mean (Python divides by zero and raises; here the mean is NaN and
/// the answer false): the configuration's `pattern_min_candles` is at least 2.
pub fn buying_climax(run: &[Candle], wick_pct: f64, volume_ratio: f64) -> bool {
    if !run.iter().all(|c| c.close > c.open && range(c) > 0.0) {
        return false;
    }
    if !run
        .iter()
        .all(|c| upper_wick(c) > wick_pct / 100.0 * range(c))
    {
        return false;
    }
    let Some((last, before)) = run.split_last() else {
        return false; // Python: `run[-1]` of an empty run raises
    };
    // Python's `sum(...) / len(before)`: left to right from 0.
    let mean = before.iter().fold(0.0, |s, c| s + c.volume) / before.len() as f64;
    last.volume > volume_ratio * mean
}

/// Follows the last consecutive candles and reports the pattern their longest matching run ending
/// at the last candle makes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandlePatterns {
    /// Shortest run reported (`pattern_min_candles`).
    pub min: usize,
    /// Longest run reported (`pattern_max_candles`, at least `min`).
    pub max: usize,
    /// `exhaustion_wick_pct`.
    pub ex_wick: f64,
    /// `exhaustion_wick_growth_pct`.
    pub ex_growth: f64,
    /// `climax_wick_pct`.
    pub cl_wick: f64,
    /// `climax_volume_ratio`.
    pub cl_volume: f64,
    /// The last consecutive candles, at most `max`.
    run: VecDeque<Candle>,
    /// The pattern after the last candle (`Pattern::None` when none matched).
    pub pattern: Pattern,
    /// Candles in that pattern's run (0 without a pattern).
    pub length: usize,
    /// Start of the last candle seen (-1 before the first).
    pub last_start_ns: i64,
}

impl CandlePatterns {
    /// Patterns of `min_candles` to `max_candles` candles (at least `min_candles`), with the
    /// thresholds of `[event_detection]`.
    pub fn new(
        min_candles: usize,
        max_candles: usize,
        exhaustion_wick_pct: f64,
        exhaustion_growth_pct: f64,
        climax_wick_pct: f64,
        climax_volume_ratio: f64,
    ) -> Self {
        let max = max_candles.max(min_candles);
        Self {
            min: min_candles,
            max,
            ex_wick: exhaustion_wick_pct,
            ex_growth: exhaustion_growth_pct,
            cl_wick: climax_wick_pct,
            cl_volume: climax_volume_ratio,
            run: VecDeque::with_capacity(max),
            pattern: Pattern::None,
            length: 0,
            last_start_ns: -1,
        }
    }

    /// Adds the next closed candle (a gap of a second restarts the run) and returns the pattern
    /// ending at it, also kept in `pattern` and `length`.
    pub fn on_candle(&mut self, c: &Candle) -> Pattern {
        if self
            .run
            .back()
            .is_some_and(|last| c.start_ns - last.start_ns != NS)
        {
            self.run.clear();
        }
        // Python's `deque(maxlen=max)`: the oldest candle leaves (none is kept with a max of 0).
        if self.max > 0 {
            if self.run.len() >= self.max {
                self.run.pop_front();
            }
            self.run.push_back(*c);
        }
        self.last_start_ns = c.start_ns;
        self.pattern = Pattern::None;
        self.length = 0;
        // Both patterns need every candle of the run moving the same way with a range, the last one
        // included: only runs within the longest such suffix, and only the pattern of its
        // direction, can match (the same answer as trying both on every run length).
        let bearish = c.close < c.open;
        let moving = (bearish || c.close > c.open) && range(c) > 0.0;
        if !moving {
            return self.pattern;
        }
        let candles = self.run.make_contiguous();
        let same = candles
            .iter()
            .rev()
            .take_while(|x| {
                (if bearish {
                    x.close < x.open
                } else {
                    x.close > x.open
                }) && range(x) > 0.0
            })
            .count();
        for k in (self.min..=self.max.min(same)).rev() {
            // Python's `candles[-k:]`: the whole list when k is 0.
            let run = if k == 0 {
                &candles[..]
            } else {
                &candles[candles.len() - k..]
            };
            if bearish {
                if selling_exhaustion(run, self.ex_wick, self.ex_growth) {
                    (self.pattern, self.length) = (Pattern::SellingExhaustion, k);
                    break;
                }
            } else if buying_climax(run, self.cl_wick, self.cl_volume) {
                (self.pattern, self.length) = (Pattern::BuyingClimax, k);
                break;
            }
        }
        self.pattern
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = NS;

    fn c(sec: i64, o: f64, h: f64, low: f64, cl: f64) -> Candle {
        cv(sec, o, h, low, cl, 1.0)
    }

    fn cv(sec: i64, o: f64, h: f64, low: f64, cl: f64, vol: f64) -> Candle {
        Candle {
            start_ns: sec * S,
            open: o,
            high: h,
            low,
            close: cl,
            volume: vol,
            buy_volume: vol / 2.0,
            trades: 1,
        }
    }

    fn with(
        candles: &[Candle],
        max: usize,
        ex_wick: f64,
        ex_growth: f64,
        cl_wick: f64,
        cl_volume: f64,
    ) -> CandlePatterns {
        let mut p = CandlePatterns::new(3, max, ex_wick, ex_growth, cl_wick, cl_volume);
        for x in candles {
            p.on_candle(x);
        }
        p
    }

    fn run(candles: &[Candle]) -> (Pattern, usize) {
        let p = with(candles, 5, 20.0, 10.0, 20.0, 1.5);
        (p.pattern, p.length)
    }

    /// Bearish, bodies 1.0 > 0.8 > 0.6, lower wicks 0.5 < 0.6 < 0.8 (over 10 % growth), each over
    /// 20 % of its range (33 %, 43 %, 57 %; growing 20 % and 33 %).
    fn exhaustion() -> Vec<Candle> {
        vec![
            c(0, 10.0, 10.0, 8.5, 9.0),
            c(1, 9.0, 9.0, 7.6, 8.2),
            c(2, 8.2, 8.2, 6.8, 7.6),
        ]
    }

    /// Bullish, upper wicks 0.5 / 0.5 / 0.5 of ranges 1.5 (33 %), the last with volume 4 > 1.5 x 2.
    fn climax() -> Vec<Candle> {
        vec![
            cv(10, 10.0, 11.5, 10.0, 11.0, 2.0),
            cv(11, 11.0, 12.5, 11.0, 12.0, 2.0),
            cv(12, 12.0, 13.5, 12.0, 13.0, 4.0),
        ]
    }

    /// Bearish, bodies 2.0 > 1.8 > 1.6 > 1.4 > 1.2, lower wicks 0.6, 0.7, 0.8, 0.9, 1.0 (each over
    /// 10 % longer than the one before, and over 20 % of its range).
    fn exhaustion_5() -> Vec<Candle> {
        vec![
            c(20, 20.0, 20.0, 17.4, 18.0),
            c(21, 18.0, 18.0, 15.5, 16.2),
            c(22, 16.2, 16.2, 13.8, 14.6),
            c(23, 14.6, 14.6, 12.3, 13.2),
            c(24, 13.2, 13.2, 11.0, 12.0),
        ]
    }

    fn replace_last(mut candles: Vec<Candle>, last: Candle) -> Vec<Candle> {
        *candles.last_mut().unwrap() = last;
        candles
    }

    #[test]
    fn sequences_make_their_pattern_or_none() {
        struct Case {
            name: &'static str,
            candles: Vec<Candle>,
            expected: (Pattern, usize),
        }
        let none = (Pattern::None, 0);
        let mut first_wick_short = exhaustion();
        first_wick_short[0] = c(0, 10.0, 10.3, 8.8, 9.0);
        let mut first_upper_wick_short = climax();
        first_upper_wick_short[0] = cv(10, 10.0, 11.1, 10.0, 11.0, 2.0);
        let cases = [
            Case {
                name: "selling exhaustion",
                candles: exhaustion(),
                expected: (Pattern::SellingExhaustion, 3),
            },
            Case {
                // wick 0.65 < 0.6 x 1.1 = 0.66
                name: "exhaustion needs growing wicks",
                candles: replace_last(exhaustion(), c(2, 8.2, 8.2, 6.95, 7.6)),
                expected: none,
            },
            Case {
                // body 1.2
                name: "exhaustion needs shrinking bodies",
                candles: replace_last(exhaustion(), c(2, 8.2, 8.2, 6.0, 7.0)),
                expected: none,
            },
            Case {
                name: "exhaustion needs consecutive seconds",
                candles: replace_last(exhaustion(), c(3, 8.2, 8.2, 6.8, 7.6)),
                expected: none,
            },
            Case {
                name: "exhaustion needs bearish candles",
                candles: replace_last(exhaustion(), c(2, 7.6, 8.2, 6.8, 8.2)),
                expected: none,
            },
            Case {
                // the first lower wick is 0.2 of a 1.5 range (13 %, under 20 %), though the wicks
                // grow and the bodies shrink
                name: "exhaustion needs the long lower wick on every candle",
                candles: first_wick_short,
                expected: none,
            },
            Case {
                name: "buying climax",
                candles: climax(),
                expected: (Pattern::BuyingClimax, 3),
            },
            Case {
                name: "climax needs volume",
                candles: replace_last(climax(), cv(12, 12.0, 13.5, 12.0, 13.0, 2.9)),
                expected: none,
            },
            Case {
                // wick 9 %
                name: "climax needs long upper wicks",
                candles: replace_last(climax(), cv(12, 12.0, 13.1, 12.0, 13.0, 4.0)),
                expected: none,
            },
            Case {
                // the first upper wick is 0.1 of a 1.1 range (9 %, under 20 %)
                name: "climax needs the long upper wick on every candle",
                candles: first_upper_wick_short,
                expected: none,
            },
            Case {
                name: "five of exhaustion are a run of 5",
                candles: exhaustion_5(),
                expected: (Pattern::SellingExhaustion, 5),
            },
            Case {
                name: "four of exhaustion are a run of 4",
                candles: exhaustion_5()[..4].to_vec(),
                expected: (Pattern::SellingExhaustion, 4),
            },
        ];
        for case in cases {
            assert_eq!(run(&case.candles), case.expected, "{}", case.name);
        }
    }

    #[test]
    fn longest_run_is_reported() {
        let mut five = vec![
            c(0, 10.0, 10.0, 8.0, 9.5), // body 0.5, wick 1.5
            c(1, 9.5, 9.5, 7.5, 9.1),   // body 0.4, wick 1.6 (not +10 %)
        ];
        five.extend(
            exhaustion()
                .iter()
                .enumerate()
                .map(|(i, x)| c(i as i64 + 2, x.open, x.high, x.low, x.close)),
        );
        // The runs of 5 and 4 candles break the rules (wick growth, then body size): the last 3 are
        // the exhaustion, reported as it is alone.
        assert_eq!(run(&five), (Pattern::SellingExhaustion, 3));
        assert_eq!(run(&five[2..]), (Pattern::SellingExhaustion, 3));
    }

    #[test]
    fn the_longest_matching_run_is_reported_up_to_max_candles() {
        let p = with(&exhaustion_5(), 4, 20.0, 10.0, 20.0, 1.5);
        assert_eq!((p.pattern, p.length), (Pattern::SellingExhaustion, 4));
    }

    #[test]
    fn pattern_thresholds_come_from_the_configuration() {
        struct Case {
            candles: Vec<Candle>,
            thresholds: (f64, f64, f64, f64),
            expected: Pattern,
        }
        let cases = [
            Case {
                candles: exhaustion(),
                thresholds: (20.0, 10.0, 20.0, 1.5),
                expected: Pattern::SellingExhaustion,
            },
            Case {
                candles: exhaustion(),
                thresholds: (35.0, 10.0, 20.0, 1.5),
                expected: Pattern::None,
            },
            Case {
                candles: exhaustion(),
                thresholds: (20.0, 25.0, 20.0, 1.5),
                expected: Pattern::None,
            },
            Case {
                candles: climax(),
                thresholds: (20.0, 10.0, 20.0, 1.5),
                expected: Pattern::BuyingClimax,
            },
            Case {
                candles: climax(),
                thresholds: (20.0, 10.0, 35.0, 1.5),
                expected: Pattern::None,
            },
            // over 2x is needed: 4 is exactly 2 x 2
            Case {
                candles: climax(),
                thresholds: (20.0, 10.0, 20.0, 2.0),
                expected: Pattern::None,
            },
            Case {
                candles: climax(),
                thresholds: (20.0, 10.0, 20.0, 1.9),
                expected: Pattern::BuyingClimax,
            },
        ];
        for case in cases {
            let (ex_wick, ex_growth, cl_wick, cl_volume) = case.thresholds;
            let p = with(&case.candles, 5, ex_wick, ex_growth, cl_wick, cl_volume);
            assert_eq!(p.pattern, case.expected, "{:?}", case.thresholds);
        }
    }

    #[test]
    fn the_pattern_is_of_the_last_candle_and_max_is_at_least_min() {
        let mut p = CandlePatterns::new(3, 2, 20.0, 10.0, 20.0, 1.5);
        assert_eq!((p.min, p.max), (3, 3));
        for x in exhaustion() {
            p.on_candle(&x);
        }
        assert_eq!(
            (p.pattern, p.length, p.last_start_ns),
            (Pattern::SellingExhaustion, 3, 2 * S)
        );
        // a doji (no direction) ends it
        assert_eq!(p.on_candle(&c(3, 7.6, 7.8, 7.0, 7.6)), Pattern::None);
        assert_eq!(
            (p.pattern, p.length, p.last_start_ns),
            (Pattern::None, 0, 3 * S)
        );
        assert_eq!(p.run.len(), 3, "the run keeps at most max candles");
        let back: CandlePatterns =
            serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn pattern_functions_on_runs() {
        assert!(selling_exhaustion(&exhaustion(), 20.0, 10.0));
        assert!(!selling_exhaustion(&climax(), 20.0, 10.0));
        assert!(buying_climax(&climax(), 20.0, 1.5));
        assert!(!buying_climax(&exhaustion(), 20.0, 1.5));
        // a run of one has no mean volume before it
        assert!(!buying_climax(&climax()[2..], 20.0, 1.5));
        assert!(!buying_climax(&[], 20.0, 1.5));
        assert!(
            selling_exhaustion(&[], 20.0, 10.0),
            "Python's all() of nothing"
        );
        assert_eq!(
            (py_min(0.0, -0.0).to_bits(), py_max(-0.0, 0.0).to_bits()),
            (0, (-0.0f64).to_bits())
        );
    }
}
