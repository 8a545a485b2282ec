//! Order book depth over the top N levels a side: liquidity (bid + ask notional; the reading fires
//! when it is sufficient), extreme notional imbalance, and walls (levels over `wall_ratio` times the
//! median quantity of their side). O(N log N) per book with N fixed by the configuration.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::readings::{measure, not_ready, Indicator, Reading};

/// What the risk checks read from the latest book.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DepthView {
    /// Bid + ask notional of the top levels.
    #[serde(with = "crate::serde_float")]
    pub liquidity_usd: f64,
    /// (bid - ask) / (bid + ask) of notional (0 when there is none).
    #[serde(with = "crate::serde_float")]
    pub imbalance: f64,
    /// `|imbalance|` strictly over the extreme threshold.
    pub extreme: bool,
    /// Prices of the bid levels over `wall_ratio` times the side's median quantity, best first.
    pub bid_walls: Vec<f64>,
    /// Prices of the ask levels over `wall_ratio` times the side's median quantity, best first.
    pub ask_walls: Vec<f64>,
}

/// `statistics.median`: the middle value, or the mean of the two middle values when their count is
/// even (NaN for none, where Python raises).
///
/// Sorted as Python sorts (stably, by `<`), so of equal values (0 and -0) the same one is in the
/// middle. Quantities are never NaN (the input guard); were one NaN, the values would be sorted by
/// `f64::total_cmp`, which Python's sort does not reproduce.
pub fn median(xs: &[f64]) -> f64 {
    let n = xs.len();
    if n == 0 {
        return f64::NAN;
    }
    let mut data = xs.to_vec();
    if data.iter().any(|x| x.is_nan()) {
        data.sort_by(f64::total_cmp);
    } else {
        data.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
    }
    let i = n / 2;
    if n % 2 == 1 {
        data[i]
    } else {
        (data[i - 1] + data[i]) / 2.0
    }
}

/// The sum of price × quantity over the levels, in their order (0 for none).
pub fn notional(side: &[(f64, f64)]) -> f64 {
    side.iter().fold(0.0, |s, &(p, q)| s + p * q)
}

/// The prices of the levels whose quantity is over `ratio` times the side's median quantity (none
/// with fewer than 3 levels, or a median that is not positive).
pub fn walls(side: &[(f64, f64)], ratio: f64) -> Vec<f64> {
    if side.len() < 3 {
        return Vec::new();
    }
    let quantities: Vec<f64> = side.iter().map(|&(_, q)| q).collect();
    let med = median(&quantities);
    if med.is_nan() || med <= 0.0 {
        // Python's `if not med > 0`
        return Vec::new();
    }
    let limit = ratio * med;
    side.iter()
        .filter(|&&(_, q)| q > limit)
        .map(|&(p, _)| p)
        .collect()
}

/// Depth of the latest book's top `levels` levels a side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Depth {
    /// Levels a side that count.
    pub levels: usize,
    /// Liquidity (notional) from which the reading fires.
    pub min_usd: f64,
    /// `|imbalance|` over which it is extreme.
    pub extreme: f64,
    /// Quantity over the side's median from which a level is a wall.
    pub wall_ratio: f64,
    /// The latest book's figures (none before the first book).
    pub view: Option<DepthView>,
}

impl Depth {
    /// No book yet.
    pub fn new(levels: usize, min_usd: f64, extreme: f64, wall_ratio: f64) -> Self {
        Self {
            levels,
            min_usd,
            extreme,
            wall_ratio,
            view: None,
        }
    }

    /// Measures a book (sides best first): its top `levels` levels a side.
    pub fn on_book(&mut self, bids: &[(f64, f64)], asks: &[(f64, f64)]) {
        let b = &bids[..bids.len().min(self.levels)];
        let a = &asks[..asks.len().min(self.levels)];
        let (bid_usd, ask_usd) = (notional(b), notional(a));
        let total = bid_usd + ask_usd;
        let imb = if total > 0.0 {
            (bid_usd - ask_usd) / total
        } else {
            0.0
        };
        self.view = Some(DepthView {
            liquidity_usd: total,
            imbalance: imb,
            extreme: imb.abs() > self.extreme,
            bid_walls: walls(b, self.wall_ratio),
            ask_walls: walls(a, self.wall_ratio),
        });
    }

    /// The liquidity, ready with a fresh book; fires from `min_usd` (inclusive).
    pub fn reading(&self, book_fresh: bool) -> Reading {
        match &self.view {
            Some(view) if book_fresh => {
                let v = view.liquidity_usd;
                measure(
                    Indicator::Liquidity,
                    v,
                    self.min_usd,
                    v >= self.min_usd,
                    true,
                )
            }
            _ => not_ready(Indicator::Liquidity, self.min_usd),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::isclose;
    use proptest::prelude::*;

    fn view(d: &Depth) -> &DepthView {
        d.view.as_ref().expect("a book was measured")
    }

    #[test]
    fn liquidity_imbalance_and_walls() {
        let mut d = Depth::new(3, 100.0, 0.7, 3.0);
        let bids = [(10.0, 1.0), (9.0, 1.0), (8.0, 10.0)]; // 10 + 9 + 80 = 99; a wall at 8 (10 > 3 x 1)
        let asks = [(11.0, 0.1), (12.0, 0.1), (13.0, 0.1)]; // 3.6
        d.on_book(&bids, &asks);
        let v = view(&d);
        assert!(isclose(v.liquidity_usd, 102.6, 1e-9), "{v:?}");
        assert!(
            isclose(v.imbalance, (99.0 - 3.6) / 102.6, 1e-9) && v.extreme,
            "{v:?}"
        );
        assert_eq!(
            (v.bid_walls.as_slice(), v.ask_walls.as_slice()),
            (&[8.0][..], &[][..])
        );
        assert!(d.reading(true).fired);
    }

    #[test]
    fn liquidity_is_sufficient_exactly_at_the_minimum() {
        // From `liquidity_min_usd` inclusive: 50 + 50 = 100 of 100.
        let mut d = Depth::new(5, 100.0, 0.7, 3.0);
        assert!(!d.reading(true).ready && d.reading(true).value.is_nan()); // no book yet
        d.on_book(&[(10.0, 5.0)], &[(25.0, 2.0)]);
        let rd = d.reading(true);
        assert!(rd.value == 100.0 && rd.fired, "{rd:?}");
        let stale = d.reading(false);
        assert!(!stale.ready && stale.value.is_nan(), "{stale:?}");
    }

    #[test]
    fn extreme_imbalance_is_strictly_over_and_either_way() {
        struct Case {
            bid: (f64, f64),
            ask: (f64, f64),
            imbalance: f64,
            /// 0 for an exact imbalance.
            rel_tol: f64,
            extreme: bool,
        }
        let cases = [
            // 85 against 15 of notional is 0.7 exactly: not extreme.
            Case {
                bid: (1.0, 85.0),
                ask: (2.0, 7.5),
                imbalance: 0.7,
                rel_tol: 0.0,
                extreme: false,
            },
            // 86 against 14 is 0.72: extreme, and so is 14 against 86 (ask-heavy).
            Case {
                bid: (1.0, 86.0),
                ask: (2.0, 7.0),
                imbalance: 0.72,
                rel_tol: 1e-9,
                extreme: true,
            },
            Case {
                bid: (1.0, 14.0),
                ask: (2.0, 43.0),
                imbalance: -0.72,
                rel_tol: 1e-9,
                extreme: true,
            },
        ];
        let mut d = Depth::new(5, 1.0, 0.7, 3.0);
        for c in cases {
            d.on_book(&[c.bid], &[c.ask]);
            let v = view(&d);
            assert!(
                isclose(v.imbalance, c.imbalance, c.rel_tol) && v.extreme == c.extreme,
                "{v:?}"
            );
        }
    }

    #[test]
    fn counts_only_the_top_levels() {
        // With 2 levels, the third bid (a huge one) is neither liquidity nor imbalance nor a wall.
        // Bids 10 x 1 + 9 x 1 = 19, asks 11 x 1 + 12 x 1 = 23.
        let mut d = Depth::new(2, 1.0, 0.7, 3.0);
        d.on_book(
            &[(10.0, 1.0), (9.0, 1.0), (8.0, 1000.0)],
            &[(11.0, 1.0), (12.0, 1.0), (13.0, 1.0)],
        );
        let v = view(&d);
        assert_eq!(v.liquidity_usd, 42.0);
        assert!(
            isclose(v.imbalance, (19.0 - 23.0) / 42.0, 1e-9) && v.bid_walls.is_empty(),
            "{v:?}"
        );
    }

    #[test]
    fn empty_books_weigh_nothing() {
        let mut d = Depth::new(5, 0.0, 0.7, 3.0);
        d.on_book(&[], &[]);
        let v = view(&d);
        assert!(
            v.liquidity_usd == 0.0 && v.imbalance == 0.0 && !v.extreme,
            "{v:?}"
        );
        d.on_book(&[], &[(2.0, 1.0)]);
        assert!(view(&d).imbalance == -1.0 && view(&d).extreme);
    }

    #[test]
    fn median_and_walls_by_hand() {
        struct Case {
            xs: &'static [f64],
            median: f64,
        }
        let cases = [
            Case {
                xs: &[3.0],
                median: 3.0,
            },
            Case {
                xs: &[3.0, 1.0],
                median: 2.0,
            },
            Case {
                xs: &[5.0, 1.0, 3.0],
                median: 3.0,
            },
            Case {
                xs: &[4.0, 1.0, 3.0, 2.0],
                median: 2.5,
            },
        ];
        for c in cases {
            assert_eq!(median(c.xs), c.median, "{:?}", c.xs);
        }
        assert!(median(&[]).is_nan());
        // Python's stable sort by `<`: of 0 and -0, the first in the input stays first.
        assert!(median(&[0.0, -0.0, 1.0]).is_sign_negative());
        assert!(median(&[-0.0, 0.0, 1.0]).is_sign_positive());
        // A wall is strictly over ratio x median; two levels are never walls; a zero median none.
        let side = [(1.0, 1.0), (2.0, 7.0), (3.0, 1.0), (4.0, 3.0)]; // median (1 + 3) / 2 = 2
        assert_eq!(walls(&side, 3.0), [2.0]);
        assert!(walls(&side, 3.5).is_empty()); // 7 is not over 3.5 x 2
        assert!(walls(&side[..2], 1.0).is_empty());
        assert!(walls(&[(1.0, 0.0), (2.0, 0.0), (3.0, 5.0)], 3.0).is_empty());
    }

    #[test]
    fn its_state_round_trips_through_json() {
        let mut d = Depth::new(3, 100.0, 0.7, 3.0);
        let back: Depth = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d);
        d.on_book(
            &[(10.0, 1.0), (9.0, 1.0), (8.0, 10.0)],
            &[(11.0, 0.5), (12.0, 0.25)],
        );
        let back: Depth = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d);
    }

    /// The median as the textbook has it: the value with as many below as above.
    fn naive_median(xs: &[f64]) -> f64 {
        let mut sorted = xs.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        }
    }

    fn levels() -> impl Strategy<Value = Vec<(f64, f64)>> {
        proptest::collection::vec(
            (
                1e-8f64..1e9,
                prop_oneof![Just(0.0), 0.0f64..1e9, 0.0f64..10.0],
            ),
            0..=25,
        )
    }

    proptest! {
        /// `median` is `statistics.median`, `notional` the sum of price x quantity in level order,
        /// and the walls those of a generic median, exactly (not approximately).
        #[test]
        fn side_figures_equal_the_generic_ones(side in levels(), ratio in 0.5f64..10.0) {
            let quantities: Vec<f64> = side.iter().map(|l| l.1).collect();
            if !quantities.is_empty() {
                prop_assert_eq!(median(&quantities), naive_median(&quantities));
            }
            let mut sum = 0.0;
            for (p, q) in &side {
                sum += p * q;
            }
            prop_assert_eq!(notional(&side).to_bits(), sum.to_bits());
            let med = if side.len() >= 3 { naive_median(&quantities) } else { 0.0 };
            let expected: Vec<f64> = side.iter().filter(|l| med > 0.0 && l.1 > ratio * med).map(|l| l.0).collect();
            prop_assert_eq!(walls(&side, ratio), expected);
        }

        /// The view of a book is the side figures of its top levels.
        #[test]
        fn the_view_is_the_top_levels_figures(
            bids in levels(), asks in levels(), top in 1usize..30, extreme in 0.01f64..1.0,
        ) {
            let mut d = Depth::new(top, 1000.0, extreme, 3.0);
            d.on_book(&bids, &asks);
            let (b, a) = (&bids[..bids.len().min(top)], &asks[..asks.len().min(top)]);
            let (bu, au) = (notional(b), notional(a));
            let v = d.view.clone().unwrap();
            prop_assert_eq!(v.liquidity_usd, bu + au);
            let imb = if bu + au > 0.0 { (bu - au) / (bu + au) } else { 0.0 };
            prop_assert_eq!(v.imbalance, imb);
            prop_assert!((-1.0..=1.0).contains(&v.imbalance));
            prop_assert_eq!(v.extreme, imb.abs() > extreme);
            prop_assert_eq!(v.bid_walls, walls(b, 3.0));
            prop_assert_eq!(v.ask_walls, walls(a, 3.0));
            prop_assert_eq!(d.reading(true).fired, bu + au >= 1000.0);
        }
    }
}
