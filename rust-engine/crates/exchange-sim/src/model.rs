//! The synthetic L2 book model: the recorded data holds trades only, so the venue derives a book
//! around the traded price. Deterministic given the trades and the seed. The full model, with the
//! reasoning a user needs to judge fills against it, is in `docs/EXCHANGE_SIM.md`; in short, at event
//! time `T`:
//!
//! * prices are integer ticks; the **touch follows the last trade** at or before `T`: a taker sell at
//!   `p` puts the best bid at `p` and the best ask at `p + spread`, a taker buy at `p` puts the best
//!   ask at `p` and the best bid at `p − spread`;
//! * `range` = highest − lowest trade tick in `(T − 5 s, T]`; `spread` = `1 + min(range / 8, cap)`
//!   ticks, `cap` = 100 bp of the last price in ticks (`last × 100 / 10 000`, at least 1): a cap
//!   relative to the price, so fine-tick symbols widen in a crash as coarse-tick ones do;
//! * `levels` levels a side at consecutive ticks from the touch;
//! * quantity at depth `i` (0 at the touch) = `base × (1 + 0.1 i) × liquidity × noise`, rounded to
//!   whole steps (half to even; at least one), with `liquidity = 1 / (1 + 40 × range / last)` and `noise` in
//!   [0.6, 1.4] a hash of the seed, the level's tick and a one-second bucket whose phase is staggered
//!   per tick, so that about a tenth of the levels re-draw every 100 ms;
//! * `base` = 5 × the median quantity of the last 1,000 trades seen (re-computed every 100 trades,
//!   on the grid of trade counts of `synthetic_book::base_count`): the backtest's base, from past
//!   trades only, so a paper session on this venue meets the books a backtest of the same trades
//!   replays (until 2026-12-06 it was 5 × the median of the whole replayed window, a base the
//!   backtest never had: deeper or thinner books by up to a third on the bundled crash, another
//!   liquidity stop and other fill prices; `docs/parity.md`).

use std::collections::VecDeque;

use synthetic_book::{
    base_count, level_noise, median, BASE_GRID, BASE_MULTIPLE, BASE_TRADES, DEPTH_SLOPE,
    LIQUIDITY_K,
};

use crate::book::Book;
use crate::units::SCALE;

// The model's constants and its noise are the backtest's (crate `synthetic-book`), in this venue's
// units: µs of event time, integer ticks.
pub use synthetic_book::mix;
/// Window of the volatility measure, µs of event time.
pub const VOL_WINDOW_US: i64 = synthetic_book::VOL_WINDOW_NS / 1_000;
/// Length of one noise bucket (the book's update interval), µs.
pub const BUCKET_US: i64 = synthetic_book::BOUNDARY_NS / 1_000;
/// Range ticks per extra tick of spread.
const SPREAD_DIVISOR: u64 = synthetic_book::SPREAD_DIVISOR as u64;
/// Most extra spread, basis points of the last price (see `docs/EXCHANGE_SIM.md`, "The synthetic
/// order book").
const MAX_EXTRA_SPREAD_BPS: u64 = synthetic_book::MAX_EXTRA_SPREAD_BPS as u64;
/// Basis points in one.
const BPS: u64 = 10_000;

/// Parameters of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelParams {
    /// Tick size, units.
    pub tick: u64,
    /// Step size, units.
    pub step: u64,
    /// Levels per side.
    pub levels: usize,
    /// Noise seed.
    pub seed: u64,
}

/// The model's memory: the last trade, the trades of the volatility window, and the quantities of
/// the last trades with the base they make.
#[derive(Debug, Clone)]
pub struct BookModel {
    p: ModelParams,
    last: Option<(u64, bool)>,
    recent: VecDeque<(i64, u64)>,
    /// The quantities of the last `BASE_TRADES + BASE_GRID` trades, base units.
    qty: VecDeque<f64>,
    /// Trades seen.
    seen: usize,
    /// The base (5 × a median quantity, base units) and the trade count it was taken at.
    base: (usize, f64),
    scratch: Vec<i64>,
}

impl BookModel {
    /// A model that has seen no trade (its book is empty).
    pub fn new(p: ModelParams) -> Self {
        BookModel {
            p: ModelParams {
                tick: p.tick.max(1),
                step: p.step.max(1),
                ..p
            },
            last: None,
            recent: VecDeque::new(),
            qty: VecDeque::with_capacity(BASE_TRADES + BASE_GRID),
            seen: 0,
            base: (0, f64::NAN),
            scratch: Vec::with_capacity(BASE_TRADES),
        }
    }

    /// The parameters.
    pub fn params(&self) -> &ModelParams {
        &self.p
    }

    /// Records a trade (price and quantity in units; `taker_sell` = the aggressor sold).
    pub fn on_trade(&mut self, ts_us: i64, price: u64, qty: u64, taker_sell: bool) {
        self.on_quantity(qty);
        let tick = ((price + self.p.tick / 2) / self.p.tick).max(1);
        self.last = Some((tick, taker_sell));
        self.recent.push_back((ts_us, tick));
        while self
            .recent
            .front()
            .is_some_and(|&(t, _)| t <= ts_us - VOL_WINDOW_US)
        {
            self.recent.pop_front();
        }
    }

    /// Counts a trade's quantity; at a new grid count (`base_count`), the base is taken again: 5 ×
    /// the median quantity of the `BASE_TRADES` trades before it, as floats of the base asset (the
    /// backtest's, read from the same decimals), through the backtest's own median.
    fn on_quantity(&mut self, qty: u64) {
        if self.qty.len() == BASE_TRADES + BASE_GRID {
            self.qty.pop_front();
        }
        self.qty.push_back(qty as f64 / SCALE as f64);
        self.seen += 1;
        let m = base_count(self.seen);
        if m == self.base.0 {
            return;
        }
        // The deque holds trades `seen - len .. seen`; the base reads `m - BASE_TRADES .. m`.
        let first = self.seen - self.qty.len();
        let from = m.saturating_sub(BASE_TRADES) - first;
        let window = &self.qty.make_contiguous()[from..m - first];
        self.base = (m, BASE_MULTIPLE * median(window, &mut self.scratch));
    }

    /// Highest minus lowest trade tick in `(now − 5 s, now]`.
    fn range_ticks(&self, now_us: i64) -> u64 {
        let (lo, hi) = self
            .recent
            .iter()
            .filter(|&&(t, _)| t > now_us - VOL_WINDOW_US && t <= now_us)
            .fold((u64::MAX, 0), |(lo, hi), &(_, k)| (lo.min(k), hi.max(k)));
        hi.saturating_sub(lo)
    }

    /// Noise factor in [0.6, 1.4] of the level at `tick` during the 100-ms bucket `bucket`.
    fn noise(&self, tick: u64, bucket: u64) -> f64 {
        level_noise(self.p.seed, tick as i64, bucket)
    }

    /// Most extra ticks of spread at a last price of `last` ticks: `MAX_EXTRA_SPREAD_BPS` of it,
    /// rounded down, at least one tick.
    pub fn max_extra_spread(last: u64) -> u64 {
        (last.saturating_mul(MAX_EXTRA_SPREAD_BPS) / BPS).max(1)
    }

    /// Spread in ticks for a 5-s range of `range` ticks at a last price of `last` ticks.
    pub fn spread_ticks(range: u64, last: u64) -> u64 {
        1 + (range / SPREAD_DIVISOR).min(Self::max_extra_spread(last))
    }

    /// The book the model wants at event time `now_us` (empty before the first trade; its update id
    /// is 0 — ids belong to the venue).
    pub fn target(&self, now_us: i64) -> Book {
        let mut book = Book::default();
        let Some((last, taker_sell)) = self.last else {
            return book;
        };
        let range = self.range_ticks(now_us);
        let spread = Self::spread_ticks(range, last);
        let (best_bid, best_ask) = if taker_sell {
            (last, last + spread)
        } else {
            (last.saturating_sub(spread), last)
        };
        let liquidity = 1.0 / (1.0 + LIQUIDITY_K * range as f64 / last as f64);
        let bucket = now_us.div_euclid(BUCKET_US) as u64;
        let ModelParams { tick, step, .. } = self.p;
        // In base units, as the backtest's twin computes it (`synthetic_book::quantity`).
        let step_f = step as f64 / SCALE as f64;
        for i in 0..self.p.levels as u64 {
            let depth = (1.0 + DEPTH_SLOPE * i as f64) * liquidity * self.base.1;
            let qty = |t: u64| {
                // Ties to even, as numpy's `round` in the backtest's twin.
                let steps = (depth * self.noise(t, bucket) / step_f).round_ties_even() as u64;
                steps.max(1).saturating_mul(step)
            };
            if let Some(t) = best_bid.checked_sub(i).filter(|&t| t > 0) {
                book.bids.insert(t * tick, qty(t));
            }
            let t = best_ask + i;
            book.asks.insert(t * tick, qty(t));
        }
        book
    }
}

#[cfg(test)]
mod tests {
    use synthetic_book::{NOISE_MIN, NOISE_PERIOD};

    use super::*;

    /// Every test trade's quantity: a base of 500.
    const Q: u64 = 100 * SCALE;

    fn params(seed: u64) -> ModelParams {
        ModelParams {
            tick: 10_000,
            step: SCALE / 10,
            levels: 20,
            seed,
        }
    }

    #[test]
    fn empty_until_the_first_trade() {
        assert_eq!(BookModel::new(params(1)).target(0), Book::default());
    }

    #[test]
    fn touch_follows_the_aggressor() {
        let mut m = BookModel::new(params(7));
        m.on_trade(0, 15_830_000, Q, true);
        let b = m.target(0);
        assert_eq!(b.touch(), (Some(15_830_000), Some(15_840_000)));
        m.on_trade(1, 15_850_000, Q, false);
        let b = m.target(1);
        assert_eq!(b.touch().1, Some(15_850_000));
        assert!(b.touch().0.unwrap() < 15_850_000);
        assert_eq!((b.bids.len(), b.asks.len()), (20, 20));
    }

    #[test]
    fn deterministic_for_a_seed_and_different_across_seeds() {
        let run = |seed| {
            let mut m = BookModel::new(params(seed));
            m.on_trade(0, 15_830_000, Q, true);
            (0..20).map(|k| m.target(k * BUCKET_US)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn noise_stays_in_its_band_and_levels_redraw_once_a_second() {
        let m = BookModel::new(params(3));
        let mut changes = 0;
        for tick in 1000..1200u64 {
            let draws: Vec<f64> = (0..NOISE_PERIOD * 3).map(|b| m.noise(tick, b)).collect();
            assert!(draws
                .iter()
                .all(|n| (NOISE_MIN..=2.0 - NOISE_MIN).contains(n)));
            changes += draws.windows(2).filter(|w| w[0] != w[1]).count();
        }
        // 200 levels × 29 bucket steps, one re-draw per level per 10 buckets: about 200 × 3.
        assert!((400..800).contains(&changes), "{changes}");
    }

    #[test]
    fn a_crash_widens_the_spread_and_hollows_the_book() {
        let mut calm = BookModel::new(params(5));
        calm.on_trade(0, 20_000_000, Q, true);
        let mut crash = BookModel::new(params(5));
        for k in 0..50 {
            crash.on_trade(k * 50_000, 20_000_000 - k as u64 * 40_000, Q, true);
        }
        let now = 49 * 50_000;
        let (c, x) = (calm.target(now), crash.target(now));
        let spread = |b: &Book| b.touch().1.unwrap() - b.touch().0.unwrap();
        assert_eq!(spread(&c), 10_000);
        // Range 196 ticks → 24 extra, capped at 100 bp of the last price, 1804 ticks: 18.
        assert_eq!(spread(&x), 10_000 * 19);
        let depth = |b: &Book| b.bids.values().sum::<u64>();
        assert!(depth(&x) * 3 < depth(&c), "{} vs {}", depth(&x), depth(&c));
        // Five seconds later the window has emptied: calm spread again.
        assert_eq!(spread(&crash.target(now + VOL_WINDOW_US + 50_000)), 10_000);
    }

    struct SpreadCase {
        range: u64,
        last: u64,
        expected: u64,
    }

    #[test]
    fn spread_is_one_tick_plus_an_eighth_of_the_range_capped_at_100_bp_of_the_price() {
        #[rustfmt::skip]
        let cases = [
            // No trade in the window, or a range under 8 ticks: one tick.
            SpreadCase { range: 0, last: 2142, expected: 1 },
            SpreadCase { range: 7, last: 2142, expected: 1 },
            SpreadCase { range: 8, last: 2142, expected: 2 },
            // POLUSDT at 0.2142 (tick 0.0001): the cap is 21 ticks (the old fixed cap was 20).
            SpreadCase { range: 160, last: 2142, expected: 21 },
            SpreadCase { range: 168, last: 2142, expected: 22 },
            SpreadCase { range: 10_000, last: 2142, expected: 22 },
            // Rounded down: 100 bp of 1999 ticks is 19.99 → 19.
            SpreadCase { range: 10_000, last: 1999, expected: 20 },
            // Under 100 ticks the cap is still one tick.
            SpreadCase { range: 10_000, last: 50, expected: 2 },
            SpreadCase { range: 10_000, last: 1, expected: 2 },
            // BTC at 114,000.00 (tick 0.01): the cap is 114,000 ticks, far above a 21-tick one.
            SpreadCase { range: 2_000, last: 11_400_000, expected: 251 },
            SpreadCase { range: 2_000_000, last: 11_400_000, expected: 114_001 },
            // No overflow on absurd prices.
            SpreadCase { range: u64::MAX, last: u64::MAX, expected: 1 + u64::MAX / 10_000 },
        ];
        for c in cases {
            assert_eq!(
                BookModel::spread_ticks(c.range, c.last),
                c.expected,
                "range {} last {}",
                c.range,
                c.last
            );
        }
    }

    #[test]
    fn a_fine_tick_crash_widens_the_spread_and_its_calm_stays_under_the_cap() {
        // BCH-like: tick 0.01 at 544.12 (one tick = 0.18 bp). Calm: trades 10 ticks (0.2 bp) apart
        // over 5 s, a 160-tick (2.9 bp) range. Crash: −1.5 % in 5 s.
        let fine = |seed| {
            BookModel::new(ModelParams {
                tick: SCALE / 100,
                ..params(seed)
            })
        };
        let rel = |b: &Book| {
            let (bid, ask) = (b.touch().0.unwrap() as f64, b.touch().1.unwrap() as f64);
            (ask - bid) / (ask + bid) * 2.0
        };
        let mut calm = fine(4);
        let mut crash = fine(4);
        for k in 0..=16u64 {
            let t = k as i64 * 300_000;
            calm.on_trade(
                t,
                54_412 * SCALE / 100 + (k % 2) * 160 * SCALE / 100,
                Q,
                k % 3 == 0,
            );
            crash.on_trade(t, (54_412 - k * 51) * SCALE / 100, Q, true);
        }
        let now = 16 * 300_000;
        let (c, x) = (calm.target(now), crash.target(now));
        let ticks = |b: &Book| (b.touch().1.unwrap() - b.touch().0.unwrap()) / (SCALE / 100);
        // Calm: 1 + 160 / 8 = 21 ticks, under the cap of 100 bp (5441 ticks) by far; the old fixed
        // cap made every calm range of 160+ ticks the same 21 as a crash.
        assert_eq!(ticks(&c), 21);
        assert!(ticks(&c) < BookModel::max_extra_spread(54_412));
        // Crash: range 816 ticks (544.12 → 535.96) → 1 + 102 ticks, 19 bp.
        assert_eq!(ticks(&x), 103);
        assert!(rel(&x) > 4.0 * rel(&c), "{} vs {}", rel(&x), rel(&c));
    }

    #[test]
    fn quantities_are_whole_steps_and_prices_whole_ticks() {
        let mut m = BookModel::new(params(9));
        m.on_trade(0, 15_830_000, Q, false);
        let b = m.target(0);
        for (&p, &q) in b.bids.iter().chain(&b.asks) {
            assert_eq!(p % 10_000, 0);
            assert!(q > 0 && q % (SCALE / 10) == 0);
        }
    }

    #[test]
    fn low_prices_never_make_a_zero_or_negative_bid() {
        let mut m = BookModel::new(params(9));
        m.on_trade(0, 20_000, Q, false);
        let b = m.target(0);
        assert!(b.bids.keys().all(|&p| p > 0));
        assert!(!b.is_crossed());
    }
}
