//! The backtest's synthetic L2 book (`docs/EXCHANGE_SIM.md`, "The synthetic order book"), built
//! from past trades only, for data that has no book; the Python backtest
//! (`flashcrash.backtest.book.SyntheticBook`) calls it through the `flashcrash_native` module (crate
//! `py-detector`), a few thousand 100-ms boundaries at a time.
//!
//! At a boundary `T`, from the first `n` trades (the caller guarantees they are exactly those at or
//! before `T`):
//!
//! * `last` is the last trade's price in ticks; `range` the highest minus the lowest trade tick in
//!   `(T − 5 s, T]` (0 when no trade is in it);
//! * `spread = 1 + min(range / 8, cap)` ticks, `cap = max(1, last × 100 / 10 000)` (100 bp of the
//!   last price, rounded down), all in integers;
//! * the touch follows the last trade's aggressor: a taker sell at `last` puts the best bid there and
//!   the best ask `spread` ticks above, a taker buy the best ask there and the best bid `spread` ticks
//!   below; `levels` levels a side at consecutive ticks outward (a bid at tick 0 or below is no level:
//!   the caller drops it);
//! * level `i` (0 at the touch) holds `depth(i) × noise` rounded to whole steps (half to even, at
//!   least one step) and then to 8 decimals, with `depth(i) = (1 + 0.1 i) × liquidity × base`,
//!   `liquidity = 1 / (1 + 40 × range / last)`, `base` 5 × the median quantity of the last 1,000
//!   trades before `m` (`m` = `n` rounded down to a multiple of 100, `n` itself below 100), and
//!   `noise` in [0.6, 1.4] a splitmix64 hash of the seed, the level's tick and a one-second bucket
//!   whose phase is staggered per tick.
//!
//! It is the backtest's twin of the simulator's model (`exchange-sim/src/model.rs`), which takes its
//! constants, its noise ([`level_noise`]) and its base rule ([`base_count`], [`median`]) from here
//! and works in integer units: the two agree on the shared cases of `tests/book_cases` and, level
//! for level, on trades whose quantities change (`exchange-sim/tests/book_cases.rs`). (Until
//! 2026-12-06 the simulator took `base` from the median of the whole replayed window, a base the
//! backtest, which must not let the future shape the past, never had.) This
//! crate replaced the backtest's numpy code and is bit-identical to it: the same integer rules, and
//! every float expression evaluated in numpy's order (`depth = ((1 + 0.1 i) × liquidity) × base`,
//! `noise = 0.6 + (0.8 × draw) / 10 000`, `q = rint(rint(depth × noise / step) × step × 1e8) / 1e8`
//! as `np.round` computes it, the median as `np.median` does; the one thing numpy may do
//! differently is the sign of a zero median, which no quantity can show).
//!
//! Fast because consecutive books are alike: a book at the touch, liquidity and base of the one
//! before it, one bucket later (94 % of the 100-ms boundaries of the POLUSDT day of 10 Oct 2025), is
//! that book with the levels whose noise period starts in its bucket re-drawn, a tenth of them; the
//! quantities to compute are gathered over the whole batch and computed in one loop (see
//! [`SyntheticBook`]).

/// numpy's rounding and median, bit for bit.
pub mod numeric;

pub use numeric::{median, quantity, rint, round8};

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::OnceLock;

/// Spacing of the book boundaries, ns: the noise bucket of a book at `T` is `floor(T / 100 ms)`.
pub const BOUNDARY_NS: i64 = 100_000_000;
/// Window of the range, ns: the trades in `(T − 5 s, T]`.
pub const VOL_WINDOW_NS: i64 = 5_000_000_000;
/// Range ticks per extra tick of spread.
pub const SPREAD_DIVISOR: i64 = 8;
/// Most extra spread, basis points of the last price (rounded down to ticks, at least one tick).
pub const MAX_EXTRA_SPREAD_BPS: i64 = 100;
/// Basis points in one.
const BPS: i64 = 10_000;
/// How fast liquidity shrinks with the relative 5-s range.
pub const LIQUIDITY_K: f64 = 40.0;
/// Quantity growth per level of depth.
pub const DEPTH_SLOPE: f64 = 0.1;
/// Lowest noise factor; the highest is `2 − NOISE_MIN`.
pub const NOISE_MIN: f64 = 0.6;
/// 100-ms buckets per noise period (each level re-draws once per period).
pub const NOISE_PERIOD: u64 = 10;
/// Trades whose median quantity makes the base.
pub const BASE_TRADES: usize = 1000;
/// The base is re-computed once every this many trades (on a fixed grid of trade counts).
pub const BASE_GRID: usize = 100;
/// The base, in median trade quantities.
pub const BASE_MULTIPLE: f64 = 5.0;
/// Width of the noise band (`2 − 2 × NOISE_MIN`, as the numpy code computed it).
const NOISE_SPAN: f64 = 2.0 - 2.0 * NOISE_MIN;
/// Noise draws: 0 to 10 000 (ten-thousandths of the band).
const DRAWS: u64 = 10_001;
/// Books planned, computed and handed out at a time (see [`SyntheticBook`]).
const BLOCK: usize = 256;
/// The FNV prime that spreads a tick over the hash's input.
const TICK_MUL: u64 = 0x0000_0100_0000_01b3;

/// splitmix64's finaliser (wrapping arithmetic), as `exchange-sim`'s `model::mix`.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Spread in ticks for a 5-s range of `range` ticks at a last price of `last` ticks: one tick plus
/// an eighth of the range, the eighth capped at `MAX_EXTRA_SPREAD_BPS` of the price (rounded down, at
/// least one tick); integer floor divisions, as numpy's `//`.
pub fn spread_ticks(range: i64, last: i64) -> i64 {
    let cap = last
        .wrapping_mul(MAX_EXTRA_SPREAD_BPS)
        .div_euclid(BPS)
        .max(1);
    1 + range.div_euclid(SPREAD_DIVISOR).min(cap)
}

/// The trade count whose base serves `n` trades: `n` rounded down to a multiple of `BASE_GRID`
/// (`n` itself below it).
pub fn base_count(n: usize) -> usize {
    if n < BASE_GRID {
        n
    } else {
        n - n % BASE_GRID
    }
}

/// The model's parameters (the tick size is the caller's: trades come in ticks).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Quantity step: every level holds whole steps, at least one.
    pub step: f64,
    /// Levels a side.
    pub levels: usize,
    /// Noise seed.
    pub seed: u64,
}

/// The trades a book is built from, time-sorted, one entry per trade in each column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trades {
    /// Event time, ns.
    pub ts_ns: Vec<i64>,
    /// Price in ticks (`max(1, floor(price / tick + 0.5))`, as the caller rounds it).
    pub ticks: Vec<i64>,
    /// Quantity.
    pub qty: Vec<f64>,
    /// Whether the aggressor bought.
    pub buy: Vec<bool>,
}

/// Why a book could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The trades' columns differ in length (times, ticks, quantities, sides).
    Columns([usize; 4]),
    /// `t_ns` and `n` differ in length.
    Rows {
        /// Boundary times given.
        times: usize,
        /// Trade counts given.
        counts: usize,
    },
    /// A trade count outside `1..=trades` (a book needs a trade).
    Count {
        /// The count given.
        n: i64,
        /// Trades held.
        trades: usize,
    },
    /// An output slice of the wrong length.
    Output {
        /// Which output (`ticks`, `qty` or `nbids`).
        name: &'static str,
        /// Length needed.
        expected: usize,
        /// Length given.
        got: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Columns([t, k, q, b]) => write!(
                f,
                "trade columns differ in length: {t} times, {k} ticks, {q} quantities, {b} sides"
            ),
            Error::Rows { times, counts } => {
                write!(f, "{times} boundary times but {counts} trade counts")
            }
            Error::Count { n, trades } => {
                write!(f, "a book of {n} trades (1 to {trades} held)")
            }
            Error::Output {
                name,
                expected,
                got,
            } => write!(f, "output {name}: {got} values for {expected}"),
        }
    }
}

impl std::error::Error for Error {}

/// Books of many boundaries (`batch_into`), as arrays of rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// Level ticks, `2 × levels` per book: the bids best first, then the asks best first.
    pub ticks: Vec<i64>,
    /// Level quantities, laid out as `ticks`.
    pub qty: Vec<f64>,
    /// Per book, its bid levels at a tick above 0 (the first ones: the others are no level).
    pub nbids: Vec<i64>,
}

/// Per column (`2 × levels`: the bids best first, then the asks) of the last book planned: what
/// the next book at the same touch starts from.
#[derive(Debug, Clone, Default)]
struct Plan {
    /// Whether a book was planned.
    valid: bool,
    best_bid: i64,
    best_ask: i64,
    /// The bits of its liquidity and base (its depth per level is a function of the two).
    depth_key: (u64, u64),
    bucket: u64,
    /// Per level of depth: `(1 + 0.1 i) × liquidity × base`.
    depth: Vec<f64>,
    /// Per column: its tick, the tick's hash key and noise phase, its noise period and noise draw.
    ticks: Vec<i64>,
    key: Vec<u64>,
    phase: Vec<u64>,
    period: Vec<u64>,
    draw: Vec<u32>,
    /// The columns ordered by phase, those of phase `f` at `by_phase[phase_at[f]..phase_at[f + 1]]`.
    by_phase: Vec<usize>,
    phase_at: [usize; NOISE_PERIOD as usize + 1],
}

/// The quantities to compute for a batch of books: column, depth and noise of each (then its
/// quantity), the books' in order; and per book its touch and the end of its quantities.
#[derive(Debug, Clone, Default)]
struct Work {
    col: Vec<usize>,
    depth: Vec<f64>,
    noise: Vec<f64>,
    q: Vec<f64>,
    books: Vec<(i64, i64, usize)>,
}

/// The last book handed out, level for level.
#[derive(Debug, Clone, Default)]
struct Book {
    valid: bool,
    best_bid: i64,
    best_ask: i64,
    ticks: Vec<i64>,
    q: Vec<f64>,
    /// Its bids at a tick above 0.
    nbids: i64,
}

/// Where the last range window was: the trades after `from` start at `after`, and the window's
/// trades `lo..hi` have their highest and lowest ticks at the fronts of two monotone queues (indices
/// of falling, rising ticks), so that a window moving forward costs only the trades it passes.
#[derive(Debug, Clone, Default)]
struct Window {
    valid: bool,
    from: i64,
    after: usize,
    lo: usize,
    hi: usize,
    max: VecDeque<usize>,
    min: VecDeque<usize>,
}

impl Window {
    /// The first trade at a time after `from` (numpy's `searchsorted(ts, from, side="right")`):
    /// found forward from the last one when `from` moved forward.
    fn after(&mut self, ts: &[i64], from: i64) -> usize {
        self.after = if self.valid && from >= self.from {
            self.after + ts[self.after..].iter().take_while(|&&x| x <= from).count()
        } else {
            ts.partition_point(|&x| x <= from)
        };
        (self.valid, self.from) = (true, from);
        self.after
    }

    /// Highest minus lowest of `ticks[lo..hi]` (0 when empty).
    fn range(&mut self, ticks: &[i64], lo: usize, hi: usize) -> i64 {
        if lo < self.lo || hi < self.hi || lo > self.hi {
            (self.lo, self.hi) = (lo, lo);
            self.max.clear();
            self.min.clear();
        }
        for k in self.hi..hi {
            while self.max.back().is_some_and(|&b| ticks[b] <= ticks[k]) {
                self.max.pop_back();
            }
            self.max.push_back(k);
            while self.min.back().is_some_and(|&b| ticks[b] >= ticks[k]) {
                self.min.pop_back();
            }
            self.min.push_back(k);
        }
        (self.lo, self.hi) = (lo, hi);
        while self.max.front().is_some_and(|&f| f < lo) {
            self.max.pop_front();
        }
        while self.min.front().is_some_and(|&f| f < lo) {
            self.min.pop_front();
        }
        match (self.max.front(), self.min.front()) {
            (Some(&h), Some(&l)) => ticks[h].wrapping_sub(ticks[l]),
            _ => 0,
        }
    }
}

/// The synthetic book of a trade array: `batch_rows` builds the books of many boundaries at once.
///
/// A batch is built 256 books at a time, in three passes: the first walks the books in order and
/// lists the levels whose quantity is new (a book at the touch, liquidity and base of the one
/// before, one bucket later, re-draws only the levels whose noise period starts there, about a
/// tenth of them; any other book all of its levels but those whose noise and depth held); the
/// second computes those quantities in one loop; the third hands the books out, each the one before
/// with its new quantities.
#[derive(Debug, Clone)]
pub struct SyntheticBook {
    trades: Trades,
    p: Params,
    /// `1 + 0.1 i` per level of depth `i`.
    depth_slope: Vec<f64>,
    bases: HashMap<usize, f64>,
    /// The last base looked up, as (`base_count`, base).
    last_base: Option<(usize, f64)>,
    scratch: Vec<i64>,
    /// The noise of each draw (`noise_table`).
    noise: &'static [f64],
    /// The last liquidity computed, as (range, last, liquidity).
    liquidity: Option<(i64, i64, f64)>,
    window: Window,
    plan: Plan,
    work: Work,
    book: Book,
}

impl SyntheticBook {
    /// A model of `trades` (time-sorted) under `p`.
    pub fn new(trades: Trades, p: Params) -> Result<Self, Error> {
        let lens = [
            trades.ts_ns.len(),
            trades.ticks.len(),
            trades.qty.len(),
            trades.buy.len(),
        ];
        if lens.iter().any(|&l| l != lens[0]) {
            return Err(Error::Columns(lens));
        }
        let width = 2 * p.levels;
        Ok(SyntheticBook {
            depth_slope: (0..p.levels)
                .map(|i| 1.0 + DEPTH_SLOPE * i as f64)
                .collect(),
            plan: Plan {
                depth: vec![0.0; p.levels],
                ticks: vec![0; width],
                key: vec![0; width],
                phase: vec![0; width],
                period: vec![0; width],
                draw: vec![0; width],
                by_phase: vec![0; width],
                ..Plan::default()
            },
            book: Book {
                ticks: vec![0; width],
                q: vec![0.0; width],
                ..Book::default()
            },
            work: Work::default(),
            trades,
            p,
            bases: HashMap::new(),
            last_base: None,
            scratch: Vec::with_capacity(BASE_TRADES),
            liquidity: None,
            noise: noise_table(),
            window: Window::default(),
        })
    }

    /// The parameters.
    pub fn params(&self) -> &Params {
        &self.p
    }

    /// The trades.
    pub fn trades(&self) -> &Trades {
        &self.trades
    }

    /// `BASE_MULTIPLE` × the median quantity of the last `BASE_TRADES` trades before `m =
    /// base_count(n)`: re-computed once every `BASE_GRID` trades, on a fixed grid, and memoised.
    /// NaN for `n = 0`; `n` beyond the trades reads them all.
    pub fn base(&mut self, n: usize) -> f64 {
        let m = base_count(n).min(self.trades.qty.len());
        match self.last_base {
            Some((k, b)) if k == m => return b,
            _ => {}
        }
        let b = match self.bases.get(&m) {
            Some(&b) => b,
            None => {
                let qty = &self.trades.qty[m.saturating_sub(BASE_TRADES)..m];
                let b = BASE_MULTIPLE * median(qty, &mut self.scratch);
                self.bases.insert(m, b);
                b
            }
        };
        self.last_base = Some((m, b));
        b
    }

    /// The noise of the level at `tick` in the 100-ms bucket `bucket`: in [0.6, 1.4], re-drawn once
    /// every `NOISE_PERIOD` buckets at a phase of its own.
    pub fn noise(&self, tick: i64, bucket: u64) -> f64 {
        level_noise(self.p.seed, tick, bucket)
    }

    /// Plans the book at `bucket` with this touch, liquidity and base: lists in `self.work` the
    /// levels whose quantity differs from the last book planned (see `SyntheticBook`).
    fn plan(&mut self, best_bid: i64, best_ask: i64, liquidity: f64, base: f64, bucket: u64) {
        let (seed, levels) = (self.p.seed, self.p.levels);
        let depth_key = (liquidity.to_bits(), base.to_bits());
        let (l, w) = (&mut self.plan, &mut self.work);
        let same_touch = l.valid && l.best_bid == best_bid && l.best_ask == best_ask;
        let same_depth = l.valid && l.depth_key == depth_key;
        let noise = self.noise;
        let mut new = |col: usize, draw: u32, depth: &[f64]| {
            w.col.push(col);
            w.depth.push(depth[level_of(col, levels)]);
            w.noise.push(noise[draw as usize]);
        };
        if same_touch && same_depth && l.bucket < u64::MAX - NOISE_PERIOD && bucket == l.bucket + 1
        {
            // The next bucket: only the columns whose period starts here re-draw, all in one period.
            let f = ((NOISE_PERIOD - bucket % NOISE_PERIOD) % NOISE_PERIOD) as usize;
            let period = (bucket + f as u64) / NOISE_PERIOD;
            let mixed = mix(period);
            for &col in &l.by_phase[l.phase_at[f]..l.phase_at[f + 1]] {
                let draw = draw(l.key[col], mixed);
                l.period[col] = period;
                l.draw[col] = draw;
                new(col, draw, &l.depth);
            }
        } else {
            if !same_touch {
                for col in 0..2 * levels {
                    let tick = if col < levels {
                        best_bid.wrapping_sub(col as i64)
                    } else {
                        best_ask.wrapping_add((col - levels) as i64)
                    };
                    l.ticks[col] = tick;
                    l.key[col] = tick_key(seed, tick);
                    l.phase[col] = noise_phase(seed, tick);
                }
                // The columns by phase (a counting sort).
                let mut at = [0; NOISE_PERIOD as usize + 1];
                for &f in &l.phase {
                    at[f as usize + 1] += 1;
                }
                for f in 0..NOISE_PERIOD as usize {
                    at[f + 1] += at[f];
                }
                l.phase_at = at;
                for (col, &f) in l.phase.iter().enumerate() {
                    l.by_phase[at[f as usize]] = col;
                    at[f as usize] += 1;
                }
            }
            if !same_depth {
                for (d, slope) in l.depth.iter_mut().zip(&self.depth_slope) {
                    *d = slope * liquidity * base;
                }
            }
            // A column's period is one of two (one period ends in the next ten buckets).
            let first = bucket / NOISE_PERIOD;
            let mixed = [mix(first), mix(first.wrapping_add(1))];
            for col in 0..2 * levels {
                let period = bucket.wrapping_add(l.phase[col]) / NOISE_PERIOD;
                let redraw = !same_touch || period != l.period[col];
                if redraw {
                    let m = match period.wrapping_sub(first) {
                        k @ (0 | 1) => mixed[k as usize],
                        _ => mix(period), // `bucket + phase` wrapped
                    };
                    l.period[col] = period;
                    l.draw[col] = draw(l.key[col], m);
                }
                if redraw || !same_depth {
                    new(col, l.draw[col], &l.depth);
                }
            }
        }
        l.valid = true;
        (l.best_bid, l.best_ask, l.depth_key, l.bucket) = (best_bid, best_ask, depth_key, bucket);
        w.books.push((best_bid, best_ask, w.col.len()));
    }

    /// The books at the times `t_ns`, book `j` from the first `n[j]` trades (which the caller
    /// guarantees are those at or before `t_ns[j]`), handed to `row` one by one as (`j`, level
    /// ticks, level quantities, bids at a tick above 0): `2 × levels` ticks and quantities, the bids
    /// best first, then the asks best first (a bid tick below 1 is no level). Fastest with the times
    /// in order, 100 ms apart, as the replay asks for them.
    pub fn batch_rows(
        &mut self,
        t_ns: &[i64],
        n: &[i64],
        mut row: impl FnMut(usize, &[i64], &[f64], i64),
    ) -> Result<(), Error> {
        if n.len() != t_ns.len() {
            return Err(Error::Rows {
                times: t_ns.len(),
                counts: n.len(),
            });
        }
        let held = self.trades.ts_ns.len();
        if let Some(&bad) = n.iter().find(|&&k| k < 1 || k as u64 > held as u64) {
            return Err(Error::Count {
                n: bad,
                trades: held,
            });
        }
        // Block by block, so that the quantities to compute stay in the cache from pass to pass.
        for (block, (t_ns, n)) in t_ns.chunks(BLOCK).zip(n.chunks(BLOCK)).enumerate() {
            self.plan_block(t_ns, n);
            self.compute();
            self.hand_out(block * BLOCK, &mut row);
        }
        Ok(())
    }

    /// Pass 1: the books at `t_ns` from the first `n` trades each, planned (`plan`) in `self.work`.
    fn plan_block(&mut self, t_ns: &[i64], n: &[i64]) {
        let w = &mut self.work;
        w.col.clear();
        w.depth.clear();
        w.noise.clear();
        w.books.clear();
        for (&t, &count) in t_ns.iter().zip(n) {
            let count = count as usize;
            let last = self.trades.ticks[count - 1];
            let buy = self.trades.buy[count - 1];
            // The range of the trades in (T − 5 s, T] among the first `count`.
            let after = self
                .window
                .after(&self.trades.ts_ns, t.wrapping_sub(VOL_WINDOW_NS));
            let range = self
                .window
                .range(&self.trades.ticks, after.min(count), count);
            let spread = spread_ticks(range, last);
            let (best_bid, best_ask) = if buy {
                (last.wrapping_sub(spread), last)
            } else {
                (last, last.wrapping_add(spread))
            };
            let liquidity = match self.liquidity {
                Some((r, k, liquidity)) if (r, k) == (range, last) => liquidity,
                _ => 1.0 / (1.0 + LIQUIDITY_K * range as f64 / last as f64),
            };
            self.liquidity = Some((range, last, liquidity));
            let base = self.base(count);
            let bucket = t.div_euclid(BOUNDARY_NS) as u64;
            self.plan(best_bid, best_ask, liquidity, base, bucket);
        }
    }

    /// Pass 2: the quantities planned, in one loop (the compiler vectorises it).
    fn compute(&mut self) {
        let (w, step) = (&mut self.work, self.p.step);
        w.q.clear();
        w.q.extend(
            w.depth
                .iter()
                .zip(&w.noise)
                .map(|(&depth, &noise)| quantity(depth, noise, step)),
        );
    }

    /// Pass 3: the books planned, each the one before with its new quantities, handed to `row` as
    /// books `first`, `first + 1`, ...
    fn hand_out(&mut self, first: usize, row: &mut impl FnMut(usize, &[i64], &[f64], i64)) {
        let (w, b, levels) = (&self.work, &mut self.book, self.p.levels);
        let mut from = 0;
        for (j, &(best_bid, best_ask, to)) in w.books.iter().enumerate() {
            if !b.valid || b.best_bid != best_bid || b.best_ask != best_ask {
                for (i, tick) in b.ticks[..levels].iter_mut().enumerate() {
                    *tick = best_bid.wrapping_sub(i as i64);
                }
                for (i, tick) in b.ticks[levels..].iter_mut().enumerate() {
                    *tick = best_ask.wrapping_add(i as i64);
                }
                b.nbids = b.ticks[..levels].iter().filter(|&&k| k > 0).count() as i64;
                (b.valid, b.best_bid, b.best_ask) = (true, best_bid, best_ask);
            }
            for (&col, &q) in w.col[from..to].iter().zip(&w.q[from..to]) {
                b.q[col] = q;
            }
            from = to;
            row(first + j, &b.ticks, &b.q, b.nbids);
        }
    }

    /// `batch_rows` into arrays: `ticks` and `qty` of `t_ns.len() × 2 × levels` values (book `j` at
    /// `j × 2 × levels`), `nbids` of one per book.
    pub fn batch_into(
        &mut self,
        t_ns: &[i64],
        n: &[i64],
        ticks: &mut [i64],
        qty: &mut [f64],
        nbids: &mut [i64],
    ) -> Result<(), Error> {
        let rows = t_ns.len();
        let width = 2 * self.p.levels;
        for (name, expected, got) in [
            ("ticks", rows * width, ticks.len()),
            ("qty", rows * width, qty.len()),
            ("nbids", rows, nbids.len()),
        ] {
            if got != expected {
                return Err(Error::Output {
                    name,
                    expected,
                    got,
                });
            }
        }
        self.batch_rows(t_ns, n, |j, t, q, b| {
            ticks[j * width..(j + 1) * width].copy_from_slice(t);
            qty[j * width..(j + 1) * width].copy_from_slice(q);
            nbids[j] = b;
        })
    }

    /// `batch_into` into new arrays.
    pub fn batch(&mut self, t_ns: &[i64], n: &[i64]) -> Result<Rows, Error> {
        let cells = t_ns.len() * 2 * self.p.levels;
        let mut rows = Rows {
            ticks: vec![0; cells],
            qty: vec![0.0; cells],
            nbids: vec![0; t_ns.len()],
        };
        self.batch_into(t_ns, n, &mut rows.ticks, &mut rows.qty, &mut rows.nbids)?;
        Ok(rows)
    }
}

/// The level of depth of column `col` (bids, then asks).
#[inline(always)]
fn level_of(col: usize, levels: usize) -> usize {
    if col < levels {
        col
    } else {
        col - levels
    }
}

/// The noise of the level at `tick` in the 100-ms bucket `bucket` of a model seeded with `seed`: in
/// [0.6, 1.4], re-drawn once every `NOISE_PERIOD` buckets at the tick's phase. `exchange-sim`'s
/// model draws its noise here too.
pub fn level_noise(seed: u64, tick: i64, bucket: u64) -> f64 {
    let period = bucket.wrapping_add(noise_phase(seed, tick)) / NOISE_PERIOD;
    noise_of(draw(tick_key(seed, tick), mix(period)))
}

/// The bucket (0 to `NOISE_PERIOD − 1`) of each noise period at which the level at `tick` re-draws.
fn noise_phase(seed: u64, tick: i64) -> u64 {
    mix(tick as u64 ^ seed.rotate_left(17)) % NOISE_PERIOD
}

/// What a tick's noise draws hash besides their period: the seed and the tick.
fn tick_key(seed: u64, tick: i64) -> u64 {
    seed ^ (tick as u64).wrapping_mul(TICK_MUL)
}

/// The noise draw (0 to 10 000) of the tick of `key` in the noise period whose `mix` is `mixed`.
#[inline(always)]
fn draw(key: u64, mixed: u64) -> u32 {
    (mix(key ^ mixed) % DRAWS) as u32
}

/// The noise of a draw: `NOISE_MIN` plus `draw` ten-thousandths of the band.
fn noise_of(draw: u32) -> f64 {
    NOISE_MIN + NOISE_SPAN * f64::from(draw) / 10_000.0
}

/// `noise_of` every draw, computed once (a lookup costs less than the division).
fn noise_table() -> &'static [f64] {
    static TABLE: OnceLock<Vec<f64>> = OnceLock::new();
    TABLE.get_or_init(|| (0..DRAWS as u32).map(noise_of).collect())
}

#[cfg(test)]
mod tests;
