//! The simulator's authoritative L2 book and the synthetic model that drives it from trades.
//!
//! Model (see `docs/EXCHANGE_SIM.md`): the touch follows the last trade (a taker sell at `p` puts the
//! best bid at `p`, a taker buy puts the best ask at `p`); the spread in ticks widens with the price
//! range of the last 5 s; `levels` levels per side at consecutive ticks; the quantity at depth `i` is
//! `base × (1 + 0.1 i) × liquidity × noise`, where `base` is 5× the median trade size, `liquidity`
//! shrinks as the 5-s range grows (the book hollows out in a crash) and `noise` in [0.6, 1.4] is a
//! hash of the seed, the price and a one-second bucket staggered per level, so about a tenth of the
//! levels change every 100 ms. Everything is deterministic given the data and the seed.

use std::collections::{BTreeMap, VecDeque};

/// Units per whole (10⁸, Binance's 8 decimals).
pub const SCALE: u64 = 100_000_000;

/// Parameters of the model.
#[derive(Debug, Clone, Copy)]
pub struct ModelParams {
    /// Tick size, units.
    pub tick: u64,
    /// Step size, units.
    pub step: u64,
    /// Levels per side.
    pub levels: usize,
    /// Median trade quantity × 5, units.
    pub base_qty: u64,
    /// Noise seed.
    pub seed: u64,
}

/// One changed level of a diff: price, new quantity (0 removes).
pub type LevelChange = (u64, u64);

/// A diff between two states of the book.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Diff {
    /// Bid changes, best first.
    pub bids: Vec<LevelChange>,
    /// Ask changes, best first.
    pub asks: Vec<LevelChange>,
}

impl Diff {
    /// Number of level changes.
    pub fn len(&self) -> usize {
        self.bids.len() + self.asks.len()
    }

    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The authoritative book with its update id.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Book {
    /// Price → quantity.
    pub bids: BTreeMap<u64, u64>,
    /// Price → quantity.
    pub asks: BTreeMap<u64, u64>,
    /// `u` of the last applied diff.
    pub update_id: u64,
}

impl Book {
    /// Top `n` bids (best first) and asks (best first).
    pub fn top(&self, n: usize) -> (Vec<LevelChange>, Vec<LevelChange>) {
        let bids = self
            .bids
            .iter()
            .rev()
            .take(n)
            .map(|(&p, &q)| (p, q))
            .collect();
        let asks = self.asks.iter().take(n).map(|(&p, &q)| (p, q)).collect();
        (bids, asks)
    }

    /// Changes that turn this book into `target`, applied here; the update id advances by one per
    /// changed level, as Binance's ids do. Returns the diff and its `(U, u)`.
    pub fn move_to(&mut self, target: &Book) -> (Diff, u64, u64) {
        let diff = Diff {
            bids: side_diff(&self.bids, &target.bids, true),
            asks: side_diff(&self.asks, &target.asks, false),
        };
        let first = self.update_id + 1;
        if !diff.is_empty() {
            self.bids.clone_from(&target.bids);
            self.asks.clone_from(&target.asks);
            self.update_id += diff.len() as u64;
        }
        (diff, first, self.update_id)
    }
}

fn side_diff(
    cur: &BTreeMap<u64, u64>,
    target: &BTreeMap<u64, u64>,
    bids: bool,
) -> Vec<LevelChange> {
    let mut out: Vec<LevelChange> = target
        .iter()
        .filter(|(p, q)| cur.get(p) != Some(q))
        .map(|(&p, &q)| (p, q))
        .chain(
            cur.keys()
                .filter(|p| !target.contains_key(p))
                .map(|&p| (p, 0)),
        )
        .collect();
    if bids {
        out.sort_unstable_by_key(|l| std::cmp::Reverse(l.0));
    } else {
        out.sort_unstable_by_key(|l| l.0);
    }
    out
}

/// The model's state: the last trade and the recent price range.
#[derive(Debug)]
pub struct Model {
    p: ModelParams,
    last_tick: Option<(u64, bool)>,
    recent: VecDeque<(i64, u64)>,
}

/// Window of the volatility measure, µs.
const WINDOW_US: i64 = 5_000_000;

fn mix(mut x: u64) -> u64 {
    // splitmix64 finaliser
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Model {
    /// A model with no trade seen yet.
    pub fn new(p: ModelParams) -> Self {
        Model {
            p,
            last_tick: None,
            recent: VecDeque::new(),
        }
    }

    /// Records a trade (price in units, taker side).
    pub fn on_trade(&mut self, ts_us: i64, price: u64, taker_sell: bool) {
        let tick = (price + self.p.tick / 2) / self.p.tick;
        self.last_tick = Some((tick.max(1), taker_sell));
        self.recent.push_back((ts_us, tick));
        while self
            .recent
            .front()
            .is_some_and(|&(t, _)| t < ts_us - WINDOW_US)
        {
            self.recent.pop_front();
        }
    }

    /// Price range of the last 5 s relative to the last price.
    fn relative_range(&self) -> f64 {
        let (lo, hi) = self
            .recent
            .iter()
            .fold((u64::MAX, 0), |(lo, hi), &(_, t)| (lo.min(t), hi.max(t)));
        match self.last_tick {
            Some((last, _)) if hi >= lo => (hi - lo) as f64 / last as f64,
            _ => 0.0,
        }
    }

    /// The book the model wants at `now_us` (empty before the first trade).
    pub fn target(&self, now_us: i64) -> Book {
        let mut book = Book::default();
        let Some((last, taker_sell)) = self.last_tick else {
            return book;
        };
        let range = self.relative_range();
        let range_ticks = range * last as f64;
        let spread = 1 + (range_ticks / 8.0).min(20.0) as u64;
        let (best_bid, best_ask) = if taker_sell {
            (last, last + spread)
        } else {
            (last.saturating_sub(spread), last)
        };
        let liquidity = 1.0 / (1.0 + 40.0 * range);
        let bucket_base = (now_us / 100_000) as u64;
        for i in 0..self.p.levels as u64 {
            for (side_tick, is_bid) in
                [(best_bid.checked_sub(i), true), (Some(best_ask + i), false)]
            {
                let Some(t) = side_tick.filter(|&t| t > 0) else {
                    continue;
                };
                let stagger = mix(t ^ self.p.seed) % 10;
                let bucket = (bucket_base + stagger) / 10;
                let noise = 0.6
                    + 0.8
                        * (mix(self.p.seed ^ t.wrapping_mul(31) ^ bucket.wrapping_mul(1_000_003))
                            % 10_000) as f64
                        / 10_000.0;
                let q = self.p.base_qty as f64 * (1.0 + 0.1 * i as f64) * liquidity * noise;
                let steps = ((q / self.p.step as f64).round() as u64).max(1);
                let (price, qty) = (t * self.p.tick, steps * self.p.step);
                if is_bid {
                    book.bids.insert(price, qty);
                } else {
                    book.asks.insert(price, qty);
                }
            }
        }
        book
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> ModelParams {
        ModelParams {
            tick: 10_000,
            step: 10_000_000,
            levels: 20,
            base_qty: 500 * SCALE,
            seed: 7,
        }
    }

    #[test]
    fn touch_follows_trades_and_never_crosses() {
        let mut m = Model::new(params());
        let mut book = Book {
            update_id: 100,
            ..Book::default()
        };
        let mut id = 100;
        let prices = [
            15_830_000u64,
            15_820_000,
            15_000_000,
            14_000_000,
            14_500_000,
            15_900_000,
        ];
        for (k, &p) in prices.iter().enumerate() {
            let sell = k % 2 == 0;
            m.on_trade(k as i64 * 100_000, p, sell);
            let target = m.target(k as i64 * 100_000);
            let (bb, ba) = (
                *target.bids.keys().next_back().unwrap(),
                *target.asks.keys().next().unwrap(),
            );
            assert!(bb < ba, "crossed at {p}");
            assert_eq!(if sell { bb } else { ba }, p);
            let (diff, first, last) = book.move_to(&target);
            assert_eq!(first, id + 1);
            assert_eq!(last, id + diff.len() as u64);
            id = last;
            assert_eq!(book.bids, target.bids);
        }
    }

    #[test]
    fn deterministic_and_churning() {
        let mut a = Model::new(params());
        let mut b = Model::new(params());
        a.on_trade(0, 15_830_000, true);
        b.on_trade(0, 15_830_000, true);
        assert_eq!(a.target(1_000_000), b.target(1_000_000));
        let mut book = Book::default();
        book.move_to(&a.target(0));
        let changes: Vec<usize> = (1..30)
            .map(|k| book.move_to(&a.target(k * 100_000)).0.len())
            .collect();
        assert!(
            changes.iter().all(|&c| c > 0),
            "book went quiet: {changes:?}"
        );
    }

    #[test]
    fn diff_removes_vanished_levels() {
        let mut book = Book::default();
        book.bids.insert(10, 1);
        book.bids.insert(9, 1);
        let mut target = Book::default();
        target.bids.insert(10, 2);
        let (d, _, _) = book.move_to(&target);
        assert_eq!(d.bids, vec![(10, 2), (9, 0)]);
    }
}
