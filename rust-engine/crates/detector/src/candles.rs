//! 1-second OHLCV candles from trades, closed by event time (the Python
//! `flashcrash.event_detector.candles`).
//!
//! A candle closes when an event (trade or book) of a later second arrives. Seconds without a trade
//! produce no candle: the detector measures time by candle timestamps, not by candle counts.

use serde::{Deserialize, Serialize};

/// One second, in nanoseconds (the default candle interval).
pub const NS: i64 = 1_000_000_000;

/// One closed candle; `start_ns` is the start of its interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candle {
    /// Start of the candle's interval (event time, ns).
    pub start_ns: i64,
    /// Price of the first trade.
    pub open: f64,
    /// Highest trade price.
    pub high: f64,
    /// Lowest trade price.
    pub low: f64,
    /// Price of the last trade.
    pub close: f64,
    /// Quantity traded (summed in trade order from 0).
    pub volume: f64,
    /// Quantity of the aggressive buys.
    pub buy_volume: f64,
    /// Number of trades.
    pub trades: u64,
}

impl Candle {
    /// Whether it closed above its open.
    pub fn bullish(&self) -> bool {
        self.close > self.open
    }
}

/// Python's `a % b` on integers: the remainder takes the sign of the divisor (floor division).
fn py_mod(a: i64, b: i64) -> i64 {
    let r = a % b;
    if r != 0 && ((r < 0) != (b < 0)) {
        r + b
    } else {
        r
    }
}

/// Builds candles of `interval_ns` from trades in event-time order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandleBuilder {
    /// Length of a candle (ns).
    pub interval_ns: i64,
    /// Start of the open candle, if one is open.
    start: Option<i64>,
    /// Start of the last closed candle (-1 before the first).
    closed_start: i64,
    o: f64,
    h: f64,
    l: f64,
    c: f64,
    v: f64,
    bv: f64,
    n: u64,
    /// Trades dropped for belonging to an interval already closed (or older than the open one).
    pub late_trades: u64,
}

impl Default for CandleBuilder {
    /// A builder of 1-second candles.
    fn default() -> Self {
        Self::new(NS)
    }
}

impl CandleBuilder {
    /// A builder of candles of `interval_ns` (Python's default: [`NS`]), nothing open.
    pub fn new(interval_ns: i64) -> Self {
        Self {
            interval_ns,
            start: None,
            closed_start: -1,
            o: 0.0,
            h: 0.0,
            l: 0.0,
            c: 0.0,
            v: 0.0,
            bv: 0.0,
            n: 0,
            late_trades: 0,
        }
    }

    /// The start of the interval holding `ts_ns`.
    fn bucket(&self, ts_ns: i64) -> i64 {
        ts_ns - py_mod(ts_ns, self.interval_ns)
    }

    /// Closes the open candle (starting at `start`) and hands it back.
    fn close(&mut self, start: i64) -> Candle {
        let candle = Candle {
            start_ns: start,
            open: self.o,
            high: self.h,
            low: self.l,
            close: self.c,
            volume: self.v,
            buy_volume: self.bv,
            trades: self.n,
        };
        self.closed_start = start;
        self.start = None;
        candle
    }

    /// The end of the open candle's interval: the earliest time `advance` closes it (`None` while
    /// no candle is open).
    pub fn open_end_ns(&self) -> Option<i64> {
        self.start.map(|start| start + self.interval_ns)
    }

    /// Closes the open candle if `ts_ns` is in a later interval.
    pub fn advance(&mut self, ts_ns: i64) -> Option<Candle> {
        match self.start {
            Some(start) if self.bucket(ts_ns) > start => Some(self.close(start)),
            _ => None,
        }
    }

    /// Adds a trade; returns the candle it closed, if any. A trade belonging to an interval already
    /// closed (or older than the open one) is counted in `late_trades` and dropped.
    pub fn on_trade(&mut self, ts_ns: i64, price: f64, qty: f64, buy: bool) -> Option<Candle> {
        let bucket = self.bucket(ts_ns);
        let mut closed = None;
        if let Some(start) = self.start {
            if bucket > start {
                closed = Some(self.close(start));
            }
        }
        if bucket <= self.closed_start || self.start.is_some_and(|start| bucket < start) {
            self.late_trades += 1;
            return closed;
        }
        if self.start.is_none() {
            self.start = Some(bucket);
            self.o = price;
            self.h = price;
            self.l = price;
            self.c = price;
            // `0.0 + qty` as in Python: the sums start from +0 (a -0 quantity makes +0).
            self.v = 0.0 + qty;
            self.bv = if buy { 0.0 + qty } else { 0.0 };
            self.n = 1;
            return closed;
        }
        if price > self.h {
            self.h = price;
        } else if price < self.l {
            self.l = price;
        }
        self.c = price;
        self.v += qty;
        if buy {
            self.bv += qty;
        }
        self.n += 1;
        closed
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    const S: i64 = NS;

    #[test]
    fn candle_ohlcv_and_close_by_later_event() {
        let mut b = CandleBuilder::new(NS);
        assert_eq!(b.open_end_ns(), None);
        assert_eq!(b.on_trade(10 * S + 1, 1.0, 2.0, true), None);
        assert_eq!(b.open_end_ns(), Some(11 * S));
        assert_eq!(b.on_trade(10 * S + 5, 1.5, 1.0, false), None);
        assert_eq!(b.on_trade(10 * S + 9, 0.8, 3.0, true), None);
        let c = b.advance(11 * S).expect("closed by a later second");
        assert_eq!(b.open_end_ns(), None);
        assert_eq!(
            (c.start_ns, c.open, c.high, c.low, c.close),
            (10 * S, 1.0, 1.5, 0.8, 0.8)
        );
        assert_eq!((c.volume, c.buy_volume, c.trades), (6.0, 5.0, 3));
        assert!(!c.bullish());
        assert_eq!(b.advance(12 * S), None, "no trade, no candle");
    }

    #[test]
    fn trade_of_a_closed_second_is_late_and_dropped() {
        let mut b = CandleBuilder::default();
        assert_eq!(b.on_trade(10 * S, 1.0, 1.0, true), None);
        let closed = b
            .on_trade(11 * S, 2.0, 1.0, true)
            .expect("closed by a later trade");
        assert_eq!(closed.close, 1.0);
        assert_eq!(b.on_trade(10 * S + 500, 9.0, 1.0, true), None);
        assert_eq!(b.late_trades, 1);
        let c = b.advance(12 * S).expect("closed");
        assert_eq!(c.high, 2.0);
    }

    #[test]
    fn advance_within_the_open_second_closes_nothing() {
        let mut b = CandleBuilder::new(NS);
        b.on_trade(10 * S + 1, 1.0, 1.0, true);
        assert_eq!(b.advance(10 * S + S - 1), None);
        assert_eq!(b.advance(10 * S), None);
        let c = b.advance(11 * S).expect("closed");
        assert_eq!(c.start_ns, 10 * S);
    }

    #[test]
    fn a_trade_older_than_the_open_second_or_of_a_second_closed_by_advance_is_late() {
        let mut b = CandleBuilder::new(NS);
        b.on_trade(10 * S, 1.0, 1.0, true);
        assert_eq!(
            b.on_trade(9 * S + 7, 5.0, 1.0, true),
            None,
            "older than the open second"
        );
        assert_eq!(b.late_trades, 1);
        assert!(b.advance(11 * S).is_some());
        assert_eq!(
            b.on_trade(10 * S + 3, 5.0, 1.0, true),
            None,
            "its second closed by `advance`"
        );
        assert_eq!(b.late_trades, 2);
        assert_eq!(b.advance(20 * S), None, "nothing open");
    }

    #[test]
    fn candle_fields_follow_the_trades() {
        struct Case {
            trades: &'static [(f64, f64, bool)],
            ohlc: (f64, f64, f64, f64),
            volumes: (f64, f64),
            bullish: bool,
        }
        let cases = [
            Case {
                trades: &[(5.0, 1.0, false)],
                ohlc: (5.0, 5.0, 5.0, 5.0),
                volumes: (1.0, 0.0),
                bullish: false,
            },
            Case {
                trades: &[
                    (5.0, 1.0, false),
                    (7.0, 2.0, true),
                    (4.0, 0.5, false),
                    (6.0, 0.25, true),
                ],
                ohlc: (5.0, 7.0, 4.0, 6.0),
                volumes: (3.75, 2.25),
                bullish: true,
            },
            // a -0 quantity sums to +0, as Python's `0.0 + qty`
            Case {
                trades: &[(5.0, -0.0, true)],
                ohlc: (5.0, 5.0, 5.0, 5.0),
                volumes: (0.0, 0.0),
                bullish: false,
            },
        ];
        for case in cases {
            let mut b = CandleBuilder::new(NS);
            for (k, (price, qty, buy)) in case.trades.iter().enumerate() {
                let k = i64::try_from(k).expect("few trades");
                assert_eq!(b.on_trade(3 * S + k, *price, *qty, *buy), None);
            }
            let c = b.advance(4 * S).expect("closed");
            assert_eq!((c.open, c.high, c.low, c.close), case.ohlc);
            assert_eq!((c.volume, c.buy_volume), case.volumes);
            assert!(c.volume.is_sign_positive() && c.buy_volume.is_sign_positive());
            assert_eq!(c.trades, case.trades.len() as u64);
            assert_eq!(c.bullish(), case.bullish);
        }
    }

    #[test]
    fn buckets_are_python_floor_modulo() {
        let mut b = CandleBuilder::new(7);
        b.on_trade(20, 1.0, 1.0, true);
        assert_eq!(b.advance(21).map(|c| c.start_ns), Some(14));
        // Python: -1 % 10**9 == 10**9 - 1, so -1 ns is in the second starting at -1 s; that is
        // before the "last closed" start of a new builder (-1): a negative time is always late.
        let mut b = CandleBuilder::new(NS);
        assert_eq!(b.on_trade(-1, 1.0, 1.0, true), None);
        assert_eq!((b.late_trades, b.advance(0)), (1, None));
        assert_eq!(py_mod(-1, 10), 9);
        assert_eq!(py_mod(7, 10), 7);
        assert_eq!(py_mod(-20, 10), 0);
        assert_eq!(py_mod(7, -10), -3);
    }

    #[test]
    fn a_builder_round_trips_through_json() {
        let mut b = CandleBuilder::new(NS);
        b.on_trade(S + 1, 2.0, 3.0, true);
        b.on_trade(S + 2, 1.5, 1.0, false);
        let back: CandleBuilder =
            serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        assert_eq!(back, b);
        assert_eq!(b.clone().advance(2 * S), back.clone().advance(2 * S));
    }

    /// The reference: trades in arrival order, a trade kept only when its interval is not before
    /// the latest kept one; then the kept trades grouped by interval, folded naively.
    fn naive(interval: i64, trades: &[(i64, f64, f64, bool)]) -> (Vec<Candle>, u64) {
        let mut groups: BTreeMap<i64, Vec<(f64, f64, bool)>> = BTreeMap::new();
        let mut latest = i64::MIN;
        let mut late = 0;
        for &(ts, price, qty, buy) in trades {
            let bucket = ts.div_euclid(interval) * interval;
            if bucket < latest {
                late += 1;
                continue;
            }
            latest = bucket;
            groups.entry(bucket).or_default().push((price, qty, buy));
        }
        let candles = groups
            .into_iter()
            .map(|(start_ns, g)| Candle {
                start_ns,
                open: g[0].0,
                high: g.iter().map(|t| t.0).fold(f64::NEG_INFINITY, f64::max),
                low: g.iter().map(|t| t.0).fold(f64::INFINITY, f64::min),
                close: g[g.len() - 1].0,
                volume: g.iter().fold(0.0, |s, t| s + t.1),
                buy_volume: g.iter().filter(|t| t.2).fold(0.0, |s, t| s + t.1),
                trades: g.len() as u64,
            })
            .collect();
        (candles, late)
    }

    fn trade() -> impl Strategy<Value = (i64, f64, f64, bool)> {
        // offsets of up to 0.6 s either way around an advancing clock (set in the test)
        (
            -600_000_000i64..3_000_000_000,
            0.5f64..2000.0,
            0.0f64..50.0,
            any::<bool>(),
        )
    }

    proptest! {
        #[test]
        fn builder_matches_bucketing_trades_by_interval(
            interval in prop_oneof![Just(NS), Just(250_000_000i64), Just(1_000i64), Just(7i64)],
            steps in prop::collection::vec(trade(), 1..120),
        ) {
            // A clock that moves forward by up to 3 s (scaled to the interval) and trades up to 0.6
            // s before it: some arrive late.
            let scale = |x: i64| x / (NS / interval.min(NS)).max(1);
            let mut clock = 100 * NS;
            let trades: Vec<_> = steps
                .iter()
                .map(|&(dt, price, qty, buy)| {
                    if dt > 0 {
                        clock += scale(dt);
                    }
                    (clock + scale(dt.min(0)), price, qty, buy)
                })
                .collect();
            let mut b = CandleBuilder::new(interval);
            let mut got: Vec<Candle> =
                trades.iter().filter_map(|&(ts, p, q, buy)| b.on_trade(ts, p, q, buy)).collect();
            got.extend(b.advance(clock + 10 * interval));
            let (expected, late) = naive(interval, &trades);
            prop_assert_eq!(got, expected);
            prop_assert_eq!(b.late_trades, late);
        }

        #[test]
        fn each_candle_closes_at_the_first_event_of_a_later_interval(
            gaps in prop::collection::vec(
                (0i64..2_500_000_000, any::<bool>(), 1.0f64..10.0),
                1..80,
            ),
        ) {
            // Trades and books (`advance`) in time order: no trade is late, and the candle of an
            // interval is handed back by the first event after it whose interval is later.
            let mut ts = 5 * NS;
            let mut b = CandleBuilder::new(NS);
            let mut open: Option<i64> = None;
            for &(gap, is_trade, price) in &gaps {
                ts += gap;
                let bucket = ts - ts % NS;
                let closed =
                    if is_trade { b.on_trade(ts, price, 1.0, true) } else { b.advance(ts) };
                let expect_close = open.filter(|&start| bucket > start);
                prop_assert_eq!(closed.map(|c| c.start_ns), expect_close);
                if expect_close.is_some() {
                    open = None;
                }
                if is_trade {
                    open = Some(bucket);
                }
            }
            prop_assert_eq!(b.late_trades, 0);
        }
    }
}
