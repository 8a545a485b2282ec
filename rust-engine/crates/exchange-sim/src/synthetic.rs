//! The trades-only source: recorded trades, plus a book change every 100 ms of event time computed by
//! the synthetic model ([`crate::model`]).
//!
//! At each 100-ms boundary `T` the source computes the model's target book at `T` (the trades at or
//! before `T` have been seen), diffs it against the book it last emitted, and yields the diff. When
//! the target equals the book (possible only with very few levels), the best bid's quantity is raised
//! by one step instead, so a book change is yielded at every boundary: the depth stream never goes
//! quiet for more than 100 ms of event time. The book change of `T` comes after the trades at or
//! before `T` and before the later ones: a trade at exactly `T` is in it, as the backtest replays
//! the same trades (`flashcrash.backtest.replay`: "an event at the same time as a trade comes after
//! it").
//!
//! A silence of the trades longer than the data-gap limit ([`SyntheticSource::with_data_gap`]) is a
//! recording gap, not a quiet market, known to be one only once it has lasted the limit: the book
//! changes every 100 ms up to the last trade's time plus the limit, as through any silence, and
//! then none until the first trade after it, so the venue goes silent as a venue whose feed is down
//! (a client sees its heartbeat time out and reconnects), as the backtest replays such a gap
//! (`flashcrash.backtest.replay`). Nothing before that moment depends on how long the silence goes
//! on.

use crate::book::{Book, Diff};
use crate::model::{BookModel, ModelParams, BUCKET_US};
use crate::source::{DepthChange, EventSource, SourceEvent, UpdateIds};
use crate::trades_csv::TradeRow;
use tracing::info;

/// Recorded trades with a synthetic book.
#[derive(Debug)]
pub struct SyntheticSource {
    trades: Vec<TradeRow>,
    next: usize,
    model: BookModel,
    /// The book as last yielded (its update id is not used).
    mirror: Book,
    initial: Book,
    next_tick_us: i64,
    tail_done: bool,
    /// A silence longer than this (µs) is a recording gap; 0: never.
    gap_us: i64,
    last_trade_us: Option<i64>,
    gaps: u64,
}

impl SyntheticSource {
    /// A source over `trades` (time-ordered); the initial book is the model's book after the first
    /// trade, at update id `initial_update_id`.
    pub fn new(trades: Vec<TradeRow>, params: ModelParams, initial_update_id: u64) -> Self {
        let model = BookModel::new(params);
        let mut initial = Book::empty(initial_update_id);
        let mut next_tick_us = 0;
        if let Some(first) = trades.first() {
            let mut seeded = model.clone();
            seeded.on_trade(first.ts_us, first.price, first.qty, first.taker_sell);
            let target = seeded.target(first.ts_us);
            initial.bids = target.bids;
            initial.asks = target.asks;
            next_tick_us = (first.ts_us.div_euclid(BUCKET_US) + 1) * BUCKET_US;
        }
        SyntheticSource {
            mirror: initial.clone(),
            initial,
            trades,
            next: 0,
            model,
            next_tick_us,
            tail_done: false,
            gap_us: 0,
            last_trade_us: None,
            gaps: 0,
        }
    }

    /// Takes a silence of the trades longer than `gap_us` (µs; 0: never) as a recording gap (see
    /// the module's documentation).
    pub fn with_data_gap(mut self, gap_us: i64) -> Self {
        self.gap_us = gap_us.max(0);
        self
    }

    /// Recording gaps met so far.
    pub fn gaps(&self) -> u64 {
        self.gaps
    }

    /// Skips the book changes of a recording gap before trade `t` from the moment its silence has
    /// lasted the limit on (each gap logged once, then).
    fn skip_gap(&mut self, t: &TradeRow) {
        let Some(last) = self.last_trade_us else {
            return;
        };
        if self.gap_us == 0
            || t.ts_us - last <= self.gap_us
            || self.next_tick_us <= last + self.gap_us
            || self.next_tick_us >= t.ts_us
        {
            return;
        }
        self.gaps += 1;
        // The first boundary at or after the trade (after it, at the same time).
        self.next_tick_us = (t.ts_us + BUCKET_US - 1).div_euclid(BUCKET_US) * BUCKET_US;
        info!(
            from_us = last,
            secs = (t.ts_us - last) as f64 / 1e6,
            "recording gap in the trades: no book change until they resume (a venue outage)"
        );
    }

    /// Number of trades.
    pub fn trade_count(&self) -> usize {
        self.trades.len()
    }

    fn tick(&mut self) -> SourceEvent {
        let now = self.next_tick_us;
        self.next_tick_us += BUCKET_US;
        let target = self.model.target(now);
        let mut diff = self.mirror.diff_to(&target);
        if diff.is_empty() {
            diff = self.heartbeat();
        }
        self.mirror.apply(&diff, 0);
        SourceEvent::Depth(DepthChange {
            ts_us: now,
            diff,
            ids: UpdateIds::Assign,
        })
    }

    /// One step more at the best bid (or best ask when there are no bids).
    fn heartbeat(&self) -> Diff {
        let step = self.model.params().step.max(1);
        let mut diff = Diff::default();
        if let Some((&p, &q)) = self.mirror.bids.iter().next_back() {
            diff.bids.push((p, q + step));
        } else if let Some((&p, &q)) = self.mirror.asks.iter().next() {
            diff.asks.push((p, q + step));
        }
        diff
    }
}

impl EventSource for SyntheticSource {
    fn initial_book(&self) -> Book {
        self.initial.clone()
    }

    fn first_time_us(&self) -> Option<i64> {
        self.trades.first().map(|t| t.ts_us)
    }

    fn next_event(&mut self) -> Option<SourceEvent> {
        let next = self.trades.get(self.next).copied();
        if let Some(t) = &next {
            self.skip_gap(t);
        }
        match next {
            Some(t) if self.next_tick_us < t.ts_us => Some(self.tick()),
            Some(t) => {
                self.next += 1;
                self.last_trade_us = Some(t.ts_us);
                self.model.on_trade(t.ts_us, t.price, t.qty, t.taker_sell);
                Some(SourceEvent::Trade(t))
            }
            None if !self.tail_done && !self.trades.is_empty() => {
                // One last book after the last trade, so the book reflects it.
                self.tail_done = true;
                Some(self.tick())
            }
            None => None,
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} recorded trades with a synthetic book",
            self.trades.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::SCALE;

    fn params(levels: usize) -> ModelParams {
        ModelParams {
            tick: 10_000,
            step: SCALE / 10,
            levels,
            seed: 7,
        }
    }

    fn trade(ts_us: i64, id: u64, price: u64, taker_sell: bool) -> TradeRow {
        TradeRow {
            ts_us,
            id,
            price,
            qty: 100 * SCALE,
            taker_sell,
        }
    }

    #[test]
    fn a_book_change_every_100ms_even_through_silence_and_with_one_level() {
        let trades = vec![
            trade(1_000_050_000, 1, 15_830_000, true),
            trade(1_003_000_000, 2, 15_840_000, false),
        ];
        for levels in [1, 50] {
            let mut src = SyntheticSource::new(trades.clone(), params(levels), 5_000);
            let mut book_times = Vec::new();
            let mut trade_ids = Vec::new();
            let mut last_ts = i64::MIN;
            while let Some(ev) = src.next_event() {
                assert!(ev.ts_us() >= last_ts, "time went back");
                last_ts = ev.ts_us();
                match ev {
                    SourceEvent::Depth(d) => {
                        assert!(!d.diff.is_empty());
                        assert_eq!(d.ids, UpdateIds::Assign);
                        book_times.push(d.ts_us);
                    }
                    SourceEvent::Trade(t) => trade_ids.push(t.id),
                }
            }
            assert_eq!(trade_ids, vec![1, 2]);
            assert_eq!(book_times.first(), Some(&1_000_100_000));
            // Trade 2 is at a boundary: that boundary's book comes after it, and is the last.
            assert_eq!(book_times.last(), Some(&1_003_000_000));
            assert!(book_times.windows(2).all(|w| w[1] - w[0] == BUCKET_US));
        }
    }

    /// The book changes every 100 ms through the silence until it has lasted the limit (300 s after
    /// trade 2), then none until the trades resume; a silence under the limit, or no limit, is a
    /// silence with book changes throughout.
    #[test]
    fn a_recording_gap_yields_no_book_change_until_the_trades_resume() {
        let trades = vec![
            trade(1_000_050_000, 1, 15_830_000, true),
            trade(1_000_450_000, 2, 15_830_000, true),
            trade(1_400_450_000, 3, 15_840_000, false), // 400 s later
            trade(1_400_750_000, 4, 15_840_000, false),
        ];
        for (gap_us, expect_gap) in [(300_000_000, true), (0, false), (500_000_000, false)] {
            let mut src = SyntheticSource::new(trades.clone(), params(5), 1).with_data_gap(gap_us);
            let mut events = Vec::new();
            while let Some(ev) = src.next_event() {
                events.push(match ev {
                    SourceEvent::Depth(d) => (d.ts_us, 0),
                    SourceEvent::Trade(t) => (t.ts_us, t.id),
                });
            }
            let books_in = |from: i64, to: i64| {
                events
                    .iter()
                    .filter(|(ts, id)| *id == 0 && (from..to).contains(ts))
                    .count()
            };
            // Before the silence has lasted the limit: a book change at every boundary either way.
            let known = 1_000_450_000 + 300_000_000;
            let before = (known - 1_000_500_000) / BUCKET_US + 1;
            assert_eq!(
                books_in(1_000_450_000, known + 1),
                before as usize,
                "gap {gap_us}"
            );
            let after = (1_400_450_000 - known) / BUCKET_US;
            assert_eq!(src.gaps(), u64::from(expect_gap));
            let expect = if expect_gap { 0 } else { after as usize };
            assert_eq!(books_in(known + 1, 1_400_450_000), expect, "gap {gap_us}");
            // The trades and the books before and after the gap are all there.
            let ids: Vec<u64> = events.iter().filter(|e| e.1 > 0).map(|e| e.1).collect();
            assert_eq!(ids, vec![1, 2, 3, 4]);
            assert!(events.contains(&(1_000_400_000, 0)) && events.contains(&(1_400_500_000, 0)));
        }
    }

    #[test]
    fn replaying_the_diffs_over_the_initial_book_never_crosses() {
        let mut trades = Vec::new();
        let mut price = 20_000_000u64;
        for k in 0..3000u64 {
            // A random walk with a crash in the middle, deterministic.
            let r = crate::model::mix(k) % 7;
            price = if (1000..1500).contains(&k) {
                price - 10_000 * (r % 3)
            } else {
                (price + 10_000 * r).saturating_sub(30_000).max(10_000)
            };
            trades.push(trade(k as i64 * 37_000, k + 1, price, r % 2 == 0));
        }
        let mut src = SyntheticSource::new(trades, params(30), 1);
        let mut book = src.initial_book();
        assert!(!book.is_crossed());
        while let Some(ev) = src.next_event() {
            if let SourceEvent::Depth(d) = ev {
                book.apply(&d.diff, 0);
                let (b, a) = book.touch();
                assert!(b.unwrap() < a.unwrap(), "crossed at {}", d.ts_us);
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Any trade sequence: the book built from the initial book and the diffs is never crossed,
        /// never empty on either side (above price 0), and the same twice for the same seed.
        #[test]
        fn never_crossed_and_deterministic(
            steps in proptest::collection::vec((1u64..400, 0i64..700_000, proptest::bool::ANY), 1..120),
            levels in 1usize..40,
            seed in proptest::prelude::any::<u64>(),
        ) {
            let mut ts = 1_760_130_000_000_000i64;
            let trades: Vec<TradeRow> = steps
                .iter()
                .enumerate()
                .map(|(k, &(tick, gap, sell))| {
                    ts += gap;
                    trade(ts, k as u64 + 1, tick * 10_000, sell)
                })
                .collect();
            let p = ModelParams { seed, ..params(levels) };
            let run = || {
                let mut src = SyntheticSource::new(trades.clone(), p, 1);
                let mut book = src.initial_book();
                let mut books = vec![book.clone()];
                while let Some(ev) = src.next_event() {
                    if let SourceEvent::Depth(d) = ev {
                        book.apply(&d.diff, 0);
                        books.push(book.clone());
                    }
                }
                books
            };
            let books = run();
            for b in &books {
                proptest::prop_assert!(!b.is_crossed());
                proptest::prop_assert!(!b.asks.is_empty());
                proptest::prop_assert!(b.bids.keys().all(|&p| p > 0));
            }
            proptest::prop_assert_eq!(books, run());
        }
    }

    #[test]
    fn empty_source() {
        let mut src = SyntheticSource::new(Vec::new(), params(5), 9);
        assert_eq!(src.first_time_us(), None);
        assert_eq!(src.initial_book(), Book::empty(9));
        assert_eq!(src.next_event(), None);
    }
}
