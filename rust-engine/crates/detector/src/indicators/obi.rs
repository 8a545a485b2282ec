//! Order book imbalance: (bid - ask) / (bid + ask) of the quantities of the top N levels, in
//! [-1, 1]; it fires on its size (positive: bids outweigh asks).

use serde::{Deserialize, Serialize};

use crate::readings::{measure, Indicator, Reading};

/// (bid - ask) / (bid + ask) of the quantities of the top `levels` levels of each side (0 when
/// both are empty or weigh nothing). The quantities are summed best first.
pub fn imbalance(bids: &[(f64, f64)], asks: &[(f64, f64)], levels: usize) -> f64 {
    let b = bids.iter().take(levels).fold(0.0, |s, &(_, q)| s + q);
    let a = asks.iter().take(levels).fold(0.0, |s, &(_, q)| s + q);
    if b + a > 0.0 {
        (b - a) / (b + a)
    } else {
        0.0
    }
}

/// The imbalance of the latest book.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderBookImbalance {
    /// Levels a side that count.
    pub levels: usize,
    /// Size from which it fires.
    pub threshold: f64,
    /// The latest book's imbalance (NaN before the first book).
    #[serde(with = "crate::serde_float")]
    pub current: f64,
}

impl OrderBookImbalance {
    /// No book yet.
    pub fn new(levels: usize, threshold: f64) -> Self {
        Self {
            levels,
            threshold,
            current: f64::NAN,
        }
    }

    /// Measures a book (sides best first).
    pub fn on_book(&mut self, bids: &[(f64, f64)], asks: &[(f64, f64)]) {
        self.current = imbalance(bids, asks, self.levels);
    }

    /// The latest imbalance; ready with a fresh book (a stale one keeps its value, not ready).
    pub fn reading(&self, book_fresh: bool) -> Reading {
        let ready = book_fresh && !self.current.is_nan();
        let v = self.current;
        measure(
            Indicator::Obi,
            v,
            self.threshold,
            ready && v.abs() >= self.threshold,
            ready,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BIDS: [(f64, f64); 3] = [(10.0, 3.0), (9.9, 1.0), (9.8, 100.0)];
    const ASKS: [(f64, f64); 3] = [(10.1, 1.0), (10.2, 1.0), (10.3, 100.0)];

    #[test]
    fn imbalance_of_the_top_levels() {
        struct Case {
            bids: &'static [(f64, f64)],
            asks: &'static [(f64, f64)],
            levels: usize,
            expected: f64,
        }
        let cases = [
            Case {
                bids: &BIDS,
                asks: &ASKS,
                levels: 2,
                expected: (4.0 - 2.0) / 6.0,
            },
            Case {
                bids: &BIDS,
                asks: &ASKS,
                levels: 1,
                expected: 0.5,
            },
            Case {
                bids: &BIDS,
                asks: &ASKS,
                levels: 3,
                expected: (104.0 - 102.0) / 206.0,
            },
            Case {
                bids: &BIDS,
                asks: &ASKS,
                levels: 10,
                expected: (104.0 - 102.0) / 206.0,
            },
            Case {
                bids: &[],
                asks: &ASKS,
                levels: 1,
                expected: -1.0,
            },
            Case {
                bids: &[],
                asks: &[],
                levels: 5,
                expected: 0.0,
            },
            Case {
                bids: &[(1.0, 0.0)],
                asks: &[(2.0, 0.0)],
                levels: 5,
                expected: 0.0,
            },
            Case {
                bids: &BIDS,
                asks: &ASKS,
                levels: 0,
                expected: 0.0,
            },
        ];
        for c in cases {
            assert_eq!(
                imbalance(c.bids, c.asks, c.levels),
                c.expected,
                "{} levels",
                c.levels
            );
        }
    }

    #[test]
    fn fires_on_its_size_either_way() {
        struct Case {
            bids: &'static [(f64, f64)],
            asks: &'static [(f64, f64)],
            value: f64,
        }
        let cases = [
            Case {
                bids: &BIDS,
                asks: &ASKS,
                value: 0.5,
            },
            // Asks outweighing bids (the book of a crash) fire as bids would, with a negative value:
            // top level only, 1 bid against 3 asks = (1 - 3) / 4.
            Case {
                bids: &[(10.0, 1.0), (9.9, 50.0)],
                asks: &[(10.1, 3.0), (10.2, 1.0)],
                value: -0.5,
            },
        ];
        for c in cases {
            let mut o = OrderBookImbalance::new(1, 0.5);
            o.on_book(c.bids, c.asks);
            let rd = o.reading(true);
            assert!(rd.ready && rd.fired && rd.value == c.value, "{rd:?}");
            let stale = o.reading(false); // a stale book is not read
            assert!(
                !stale.ready && !stale.fired && stale.value == c.value,
                "{stale:?}"
            );
        }
    }

    #[test]
    fn not_ready_before_the_first_book_and_under_threshold_below_it() {
        let mut o = OrderBookImbalance::new(2, 0.5);
        let rd = o.reading(true);
        assert!(!rd.ready && rd.value.is_nan());
        o.on_book(&BIDS, &ASKS); // 1/3
        let rd = o.reading(true);
        assert!(
            rd.ready && !rd.fired && rd.strength == (1.0 / 3.0) / 0.5,
            "{rd:?}"
        );
    }

    proptest! {
        /// The imbalance is that of the quantities summed best first over the top levels, in [-1, 1].
        #[test]
        fn imbalance_is_that_of_the_top_quantities(
            bids in proptest::collection::vec((1.0f64..1e5, 0.0f64..1e6), 0..30),
            asks in proptest::collection::vec((1.0f64..1e5, 0.0f64..1e6), 0..30),
            levels in 0usize..40,
        ) {
            let (mut b, mut a) = (0.0, 0.0);
            for (_, q) in bids.iter().take(levels) {
                b += q;
            }
            for (_, q) in asks.iter().take(levels) {
                a += q;
            }
            let expected = if b + a > 0.0 { (b - a) / (b + a) } else { 0.0 };
            let got = imbalance(&bids, &asks, levels);
            prop_assert_eq!(got.to_bits(), expected.to_bits());
            prop_assert!((-1.0..=1.0).contains(&got));
        }
    }

    #[test]
    fn its_state_round_trips_through_json() {
        let mut o = OrderBookImbalance::new(1, 0.5);
        let json = serde_json::to_string(&o).unwrap();
        assert!(json.contains(r#""current":"NaN""#), "{json}");
        let back: OrderBookImbalance = serde_json::from_str(&json).unwrap();
        assert!(back.current.is_nan() && back.levels == 1);
        o.on_book(&BIDS, &ASKS);
        let back: OrderBookImbalance =
            serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
        assert_eq!(back, o);
    }
}
