//! Validation in front of the detector (the Python `flashcrash.event_detector.guard`): NaN, Inf,
//! non-positive prices, negative quantities, bad or crossed books and events whose time goes back by
//! more than the jitter buffer are dropped and counted here, so none of them reaches a candle, an
//! indicator or an order.
//!
//! An event accepted here is never older than `newest_ns - jitter_ns`; the detector's jitter buffer
//! releases only events older than that, so what it releases is in time order.
//!
//! The Python guard also drops values of the wrong type (a price that is not a float, a time that
//! is not an int or is a bool, a level that is not a pair): here the values are typed, so the
//! Python binding makes those checks and counts them with `InputGuard::count`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The latest event time taken (2^62 ns, in the year 2116): the detector's second arithmetic
/// (`(second + 1) * NS`) must not overflow an `i64` (Python's integers never did).
pub const MAX_TS_NS: i64 = 1 << 62;

/// Why an event was dropped; [`DropReason::as_str`] is the Python guard's `dropped` key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// A trade's price not finite and positive (or not a float).
    BadPrice,
    /// A trade's quantity not finite and non-negative (or not a float).
    BadQuantity,
    /// An event time not positive (or not an int).
    BadTime,
    /// An event time more than the jitter window older than the newest seen.
    TimeBackwards,
    /// A book with no bid or no ask.
    BookSideEmpty,
    /// A book level whose price is not finite and positive (or that is not a pair).
    BookBadPrice,
    /// A book level whose quantity is not finite and non-negative.
    BookBadQuantity,
    /// Bids not strictly descending or asks not strictly ascending.
    BookUnsorted,
    /// The best bid at or above the best ask.
    BookCrossed,
}

impl DropReason {
    /// The number of reasons (the length of [`DropReason::ALL`]).
    pub const COUNT: usize = 9;

    /// Every reason, in index order (the order [`InputGuard::dropped`] lists them in).
    pub const ALL: [DropReason; DropReason::COUNT] = [
        DropReason::BadPrice,
        DropReason::BadQuantity,
        DropReason::BadTime,
        DropReason::TimeBackwards,
        DropReason::BookSideEmpty,
        DropReason::BookBadPrice,
        DropReason::BookBadQuantity,
        DropReason::BookUnsorted,
        DropReason::BookCrossed,
    ];

    /// The key the Python guard counts this reason under (`"bad_price"`...).
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::BadPrice => "bad_price",
            DropReason::BadQuantity => "bad_quantity",
            DropReason::BadTime => "bad_time",
            DropReason::TimeBackwards => "time_backwards",
            DropReason::BookSideEmpty => "book_side_empty",
            DropReason::BookBadPrice => "book_bad_price",
            DropReason::BookBadQuantity => "book_bad_quantity",
            DropReason::BookUnsorted => "book_unsorted",
            DropReason::BookCrossed => "book_crossed",
        }
    }

    /// The reason counted under the Python key `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The reason's index in [`DropReason::ALL`] (and in the guard's counts).
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a book's levels pass every level and order check (the Python `wire.book_levels_ok`, for
/// typed levels): every quantity finite and >= 0, and the prices, bids from the best down then asks
/// from the best up, a chain that is every price finite and positive (NaN compares false), bids
/// strictly descending, asks strictly ascending and the best bid under the best ask; both sides
/// present. When false, [`InputGuard::book_ok`] finds the reason level by level.
pub fn book_levels_ok(bids: &[(f64, f64)], asks: &[(f64, f64)]) -> bool {
    let mut prev = f64::INFINITY;
    for &(p, q) in bids {
        if !(0.0 < p && p < prev && qty_ok(q)) {
            return false;
        }
        prev = p;
    }
    // Python tests `prev == inf` here and `prev != best_bid` at the end: with every bid below
    // infinity and every ask above the best bid, the same as a side being empty.
    let Some(&(best_bid, _)) = bids.first() else {
        return false;
    };
    prev = best_bid;
    for &(p, q) in asks {
        if !(prev < p && p < f64::INFINITY && qty_ok(q)) {
            return false;
        }
        prev = p;
    }
    !asks.is_empty()
}

/// Python's `_price_ok` for a float: finite and positive.
fn price_ok(p: f64) -> bool {
    0.0 < p && p < f64::INFINITY
}

/// Python's `_qty_ok` for a float: finite and not negative (`-0.0` passes).
fn qty_ok(q: f64) -> bool {
    (0.0..f64::INFINITY).contains(&q)
}

/// The first bad level's reason, bids first, level by level (price, then quantity).
fn level_fault(bids: &[(f64, f64)], asks: &[(f64, f64)]) -> Option<DropReason> {
    for &(p, q) in bids.iter().chain(asks) {
        if !price_ok(p) {
            return Some(DropReason::BookBadPrice);
        }
        if !qty_ok(q) {
            return Some(DropReason::BookBadQuantity);
        }
    }
    None
}

/// Accepts or drops market events; [`InputGuard::dropped`] counts the reasons.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputGuard {
    /// How much older than the newest event an event may be and still be kept (ns).
    pub jitter_ns: i64,
    /// The newest event time accepted so far (0 before the first).
    pub newest_ns: i64,
    /// Events dropped, by [`DropReason::index`]; a JSON map of the non-zero counts by Python key.
    #[serde(with = "drop_counts")]
    counts: [u64; DropReason::COUNT],
}

impl Default for InputGuard {
    /// The Python default: a 1.5-s jitter window.
    fn default() -> Self {
        Self::new(1_500_000_000)
    }
}

impl InputGuard {
    /// A guard keeping events up to `jitter_ns` older than the newest seen.
    pub fn new(jitter_ns: i64) -> Self {
        Self {
            jitter_ns,
            newest_ns: 0,
            counts: [0; DropReason::COUNT],
        }
    }

    /// Whether a trade is kept: price finite and positive (else `bad_price`), then quantity finite
    /// and not negative (else `bad_quantity`), then [`InputGuard::time_ok`].
    pub fn trade_ok(&mut self, ts_ns: i64, price: f64, qty: f64) -> bool {
        if !price_ok(price) {
            self.count(DropReason::BadPrice);
            return false;
        }
        if !qty_ok(qty) {
            self.count(DropReason::BadQuantity);
            return false;
        }
        self.time_ok(ts_ns)
    }

    /// A book is used only whole: every price finite and positive, every quantity finite and not
    /// negative, both sides present, bids descending, asks ascending, best bid under best ask.
    /// `proven`: the levels were already found to pass [`book_levels_ok`] (`wire.levels_proven`),
    /// so only the time is checked.
    ///
    /// A rejected book counts the first of: `book_side_empty`; the first bad level, bids first,
    /// level by level, its price (`book_bad_price`) before its quantity (`book_bad_quantity`);
    /// `book_unsorted`; `book_crossed`; then the time's reason.
    pub fn book_ok(
        &mut self,
        ts_ns: i64,
        bids: &[(f64, f64)],
        asks: &[(f64, f64)],
        proven: bool,
    ) -> bool {
        if proven || book_levels_ok(bids, asks) {
            return self.time_ok(ts_ns);
        }
        if bids.is_empty() || asks.is_empty() {
            self.count(DropReason::BookSideEmpty);
            return false;
        }
        if let Some(fault) = level_fault(bids, asks) {
            self.count(fault);
            return false;
        }
        let descending = bids.windows(2).all(|w| w[0].0 > w[1].0);
        let ascending = asks.windows(2).all(|w| w[0].0 < w[1].0);
        if !descending || !ascending {
            self.count(DropReason::BookUnsorted);
            return false;
        }
        if bids[0].0 >= asks[0].0 {
            self.count(DropReason::BookCrossed);
            return false;
        }
        // Not reached with typed levels (`book_levels_ok` holds when every check above passes),
        // kept as in Python.
        self.time_ok(ts_ns)
    }

    /// Events up to `jitter_ns` older than the newest seen are kept (the jitter buffer orders
    /// them); older ones are dropped (`time_backwards`), as are times not positive or past
    /// `MAX_TS_NS` (`bad_time`).
    /// A kept time newer than `newest_ns` becomes it.
    pub fn time_ok(&mut self, ts_ns: i64) -> bool {
        if ts_ns <= 0 || ts_ns > MAX_TS_NS {
            self.count(DropReason::BadTime);
            return false;
        }
        // In i128: Python's integers do not overflow, whatever `jitter_ns` is.
        if i128::from(ts_ns) < i128::from(self.newest_ns) - i128::from(self.jitter_ns) {
            self.count(DropReason::TimeBackwards);
            return false;
        }
        self.newest_ns = self.newest_ns.max(ts_ns);
        true
    }

    /// Counts one event dropped for `reason` (the binding's type checks use it directly).
    pub fn count(&mut self, reason: DropReason) {
        self.counts[reason.index()] += 1;
    }

    /// How many events were dropped for `reason`.
    pub fn dropped_for(&self, reason: DropReason) -> u64 {
        self.counts[reason.index()]
    }

    /// The reasons events were dropped for, with their counts (non-zero only), in
    /// [`DropReason::ALL`] order (the Python `Counter` lists them in the order first seen).
    pub fn dropped(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .into_iter()
            .map(|r| (r, self.counts[r.index()]))
            .filter(|&(_, n)| n > 0)
    }

    /// Every event dropped, whatever the reason.
    pub fn total_dropped(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// The counts as a JSON map of the non-zero ones, by Python key (as the Python snapshot's
/// `$counter`), so a snapshot does not depend on the enum's order.
mod drop_counts {
    use std::collections::BTreeMap;

    use serde::ser::SerializeMap;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::DropReason;

    pub fn serialize<S: Serializer>(
        counts: &[u64; DropReason::COUNT],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let nonzero = counts.iter().filter(|&&n| n > 0).count();
        let mut map = s.serialize_map(Some(nonzero))?;
        for r in DropReason::ALL {
            let n = counts[r.index()];
            if n > 0 {
                map.serialize_entry(&r, &n)?;
            }
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<[u64; DropReason::COUNT], D::Error> {
        let map = BTreeMap::<DropReason, u64>::deserialize(d)?;
        let mut counts = [0; DropReason::COUNT];
        for (r, n) in map {
            counts[r.index()] = n;
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests;
