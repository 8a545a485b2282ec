//! Validation in front of the detector (the Python `flashcrash.event_detector.guard`): NaN, Inf,
//! non-positive prices, negative quantities, bad or crossed books and events whose time goes back by
//! more than the jitter buffer are dropped and counted here, so none of them reaches a candle, an
//! indicator or an order.
//!
//! An event accepted here is never older than `newest_ns - jitter_ns`; the detector's jitter buffer
//! releases only events older than that, so what it releases is in time order.
//!
//! # Jumps ahead
//!
//! `newest_ns` is what every later time is judged by, so one time far ahead of the market's (a
//! trade stamped at twice the epoch) must not become it: every genuine event after it would be
//! dropped as `time_backwards` until the market reached that time. Forward jumps are real too (a
//! recording gap in the data, 820 s in Gemini BTCUSD's; a feed back after an outage; a quiet
//! market's trades seconds apart when there is no book), and only the events after a jump tell the
//! two apart (the wall clock cannot: a replay's event times run ahead of it legitimately). So:
//!
//! * a time up to [`ahead_ns`](crate::guard::InputGuard::ahead_ns) past `newest_ns` (`jitter_ns` +
//!   [`AHEAD_MARGIN_NS`](crate::guard::AHEAD_MARGIN_NS), 3.5 s by default) is kept at once;
//! * a time further ahead is held ([`Admit::Hold`](crate::guard::Admit::Hold): the detector keeps
//!   the event aside) and the next event with a usable time decides. Landing before the held time
//!   by more than the jitter window (back near `newest_ns`), it shows that time to be the outlier:
//!   dropped, counted as `time_ahead`. Landing at or after it less the jitter window, it confirms
//!   the jump: the held event is released ahead of it, in order, and nothing is lost. A time older
//!   than `newest_ns` less the jitter window decides nothing (dropped as `time_backwards`, the held
//!   event stays held); nor does an event dropped for its values.
//!
//! The bound. Kept at once, a time that is an outlier after all costs the genuine events stamped
//! more than the jitter window before it: at most `AHEAD_MARGIN_NS` (2 s) of them, under the
//! shortest span of an indicator (acceleration's 3 s). The hold's cost: a held event reaches the
//! indicators, the candles and the strategy with the next event, not on its own. While the feed is
//! live a book comes every 100 ms, so in practice only the first event after an outage waits, a
//! tenth of a second; in a trades-only replay only event time counts, and the events reach the
//! detector in the same order as without the hold. A larger bound would let a near outlier blind
//! the detector for longer; a smaller one would hold ordinary gaps between events (and the
//! backtest's runs of rows, `on_rows`, which stop before an event that is held or releases one,
//! are cut on the candle so that no time in one jumps 2 s past the newest).
//!
//! One event confirms: a held event waits a book's interval, not several. The limit: two or more
//! events in a row stamped alike far ahead are taken for the feed going on, as after an outage (the
//! import of recorded trades, `flashcrash.marketdata.trades`, which can look further ahead, drops
//! runs of up to 5 rows).
//!
//! Before the first event there is no `newest_ns`: the first event is held until one lands near it
//! (no more than the jitter window before it, no more than `ahead_ns` after it). When the second
//! does not, both are held and the third decides: it lands near one of them (that one is kept, the
//! other dropped: `time_ahead` if it was the later, `time_backwards` if the earlier); or it goes on
//! after both, give or take the jitter window (the first is kept, the second becomes the held jump
//! ahead of it: a start as quiet as that loses nothing); or else the one of the three out of line
//! with the other two is dropped (the third held, unless it is the one). A far-past time as the
//! very first event, with times going on after it, is taken for a start followed by a gap: the two
//! cannot be told apart.
//!
//! At the end of a replay (`Detector::flush`) an event still held is taken unconfirmed: nothing after
//! it can contradict it, nor be blinded by it, and a replay's trades come from files whose rows far
//! ahead the import already dropped; dropped, the last trade of a quiet file would be lost.
//!
//! The Python guard also drops values of the wrong type (a price that is not a float, a time that
//! is not an int or is a bool, a level that is not a pair): here the values are typed, so the
//! Python binding makes those checks and counts them with `InputGuard::count`.

use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The latest event time taken (2^62 ns, in the year 2116): the detector's second arithmetic
/// (`(second + 1) * NS`) must not overflow an `i64` (Python's integers never did).
pub const MAX_TS_NS: i64 = 1 << 62;

/// How much further than the jitter window a time may jump ahead of the newest and be kept at once
/// (2 s; see the module's doc): further ahead, it waits for the next event to confirm it.
pub const AHEAD_MARGIN_NS: i64 = 2_000_000_000;

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
    /// An event time so far ahead of the newest that it was held, and that the next event showed to
    /// be out of place (it came back near the newest).
    TimeAhead,
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
    pub const COUNT: usize = 10;

    /// Every reason, in index order (the order [`InputGuard::dropped`] lists them in).
    pub const ALL: [DropReason; DropReason::COUNT] = [
        DropReason::BadPrice,
        DropReason::BadQuantity,
        DropReason::BadTime,
        DropReason::TimeBackwards,
        DropReason::TimeAhead,
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
            DropReason::TimeAhead => "time_ahead",
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
/// present. When false, [`InputGuard::book_values_ok`] finds the reason level by level.
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

/// What the guard does with an event's time ([`InputGuard::admit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Kept: the caller hands the event on now.
    Keep,
    /// Held: a jump ahead the next event decides on. The caller keeps the event aside, last of its
    /// held events; `admit` tells it later what becomes of it.
    Hold,
    /// Dropped (and counted).
    Drop,
}

/// A held event leaving the hold, as `admit` and `take_held` tell their caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leaving {
    /// Its place among the held events (0: the oldest held), before it leaves.
    pub index: usize,
    /// Its time.
    pub ts_ns: i64,
    /// Released (its time confirmed: hand it on now, before the event being admitted), or dropped
    /// (and counted).
    pub released: bool,
}

/// Accepts, holds or drops market events; [`InputGuard::dropped`] counts the reasons.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputGuard {
    /// How much older than the newest event an event may be and still be kept (ns).
    pub jitter_ns: i64,
    /// The newest event time accepted so far (0 before the first).
    pub newest_ns: i64,
    /// The times of the events held (jumps ahead waiting for the next event), in arrival order: at
    /// most one once there is a `newest_ns`, at most two before. Left out of the JSON when empty.
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    held: VecDeque<i64>,
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
            held: VecDeque::new(),
            counts: [0; DropReason::COUNT],
        }
    }

    /// How far past the newest time an event may be and be kept at once: `jitter_ns` +
    /// [`AHEAD_MARGIN_NS`] (exact, as Python's integers).
    pub fn ahead_ns(&self) -> i128 {
        i128::from(self.jitter_ns) + i128::from(AHEAD_MARGIN_NS)
    }

    /// The times of the events held, oldest first.
    pub fn held(&self) -> impl ExactSizeIterator<Item = i64> + '_ {
        self.held.iter().copied()
    }

    /// Whether a trade's values are good: price finite and positive (else `bad_price`), then
    /// quantity finite and not negative (else `bad_quantity`). Its time is [`InputGuard::admit`]'s.
    pub fn trade_values_ok(&mut self, price: f64, qty: f64) -> bool {
        if !price_ok(price) {
            self.count(DropReason::BadPrice);
            return false;
        }
        if !qty_ok(qty) {
            self.count(DropReason::BadQuantity);
            return false;
        }
        true
    }

    /// A book is used only whole: every price finite and positive, every quantity finite and not
    /// negative, both sides present, bids descending, asks ascending, best bid under best ask.
    /// `proven`: the levels were already found to pass [`book_levels_ok`] (`wire.levels_proven`),
    /// so they are not checked again. Its time is [`InputGuard::admit`]'s.
    ///
    /// A rejected book counts the first of: `book_side_empty`; the first bad level, bids first,
    /// level by level, its price (`book_bad_price`) before its quantity (`book_bad_quantity`);
    /// `book_unsorted`; `book_crossed`.
    pub fn book_values_ok(
        &mut self,
        bids: &[(f64, f64)],
        asks: &[(f64, f64)],
        proven: bool,
    ) -> bool {
        if proven || book_levels_ok(bids, asks) {
            return true;
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
        true
    }

    /// An event's time (of an event whose values passed): times not positive or past `MAX_TS_NS`
    /// are dropped (`bad_time`); the others are kept, held or dropped as the module's doc says
    /// (`time_backwards`, `time_ahead`). Before the verdict, `leaving` hears of each held event this
    /// time decides, in order: a released one is to be handed on before the event admitted. A kept
    /// time newer than `newest_ns` becomes it, as does a released one.
    pub fn admit(&mut self, ts_ns: i64, mut leaving: impl FnMut(Leaving)) -> Admit {
        if ts_ns <= 0 || ts_ns > MAX_TS_NS {
            self.count(DropReason::BadTime);
            return Admit::Drop;
        }
        self.judge(ts_ns, &mut leaving)
    }

    /// Whether `admit(ts_ns)` would neither hold nor release anything: nothing is held and the time
    /// is not a jump ahead (a fresh guard holds its first event: false). The backtest's runs of
    /// rows (`on_rows`) go only while it is true.
    pub fn is_plain(&self, ts_ns: i64) -> bool {
        let valid = 0 < ts_ns && ts_ns <= MAX_TS_NS;
        self.held.is_empty()
            && self.newest_ns > 0
            && !(valid && i128::from(ts_ns) > i128::from(self.newest_ns) + self.ahead_ns())
    }

    /// The end of a replay (`Detector::flush`): nothing will come to decide on the held events, so
    /// each is taken, oldest first, as if the event after it had confirmed it; but a second held
    /// time before the first by more than the jitter window (the start's two held times) is dropped
    /// (`time_backwards`), so that what is taken stays in order.
    pub fn take_held(&mut self, mut leaving: impl FnMut(Leaving)) {
        while let Some(&ts) = self.held.front() {
            let behind = self.newest_ns > 0 && self.before_window(self.newest_ns, ts);
            self.release_or_drop(0, behind.then_some(DropReason::TimeBackwards), &mut leaving);
        }
    }

    /// Whether `ts` is more than the jitter window older than `at` (exact, as Python's integers).
    fn before_window(&self, at: i64, ts: i64) -> bool {
        i128::from(ts) < i128::from(at) - i128::from(self.jitter_ns)
    }

    /// Whether `ts` lands near `at`: no more than the jitter window before it, no more than
    /// `ahead_ns` after it.
    fn near(&self, at: i64, ts: i64) -> bool {
        !self.before_window(at, ts) && i128::from(ts) <= i128::from(at) + self.ahead_ns()
    }

    /// The held event at `index` leaves the hold: released (its time becomes `newest_ns` when newer)
    /// or dropped for `reason`.
    fn release_or_drop(
        &mut self,
        index: usize,
        drop_for: Option<DropReason>,
        leaving: &mut impl FnMut(Leaving),
    ) {
        let ts_ns = self
            .held
            .remove(index)
            .expect("a held event leaves the hold");
        match drop_for {
            Some(reason) => self.count(reason),
            None => self.newest_ns = self.newest_ns.max(ts_ns),
        }
        leaving(Leaving {
            index,
            ts_ns,
            released: drop_for.is_none(),
        });
    }

    /// `admit` for a valid time.
    fn judge(&mut self, ts: i64, leaving: &mut impl FnMut(Leaving)) -> Admit {
        let newest = self.newest_ns;
        let (first, second) = (self.held.front().copied(), self.held.get(1).copied());
        match (newest > 0, first, second) {
            (true, None, _) => self.keep_or_hold(ts),
            (true, Some(jump), _) => {
                debug_assert!(
                    second.is_none(),
                    "one jump held at a time once there is a newest"
                );
                if self.before_window(newest, ts) {
                    // Older than the newest: it says nothing of the jump.
                    self.count(DropReason::TimeBackwards);
                    return Admit::Drop;
                }
                // Back near the newest, the jump was an outlier; at or after it, it was real.
                let outlier = self.before_window(jump, ts);
                self.release_or_drop(0, outlier.then_some(DropReason::TimeAhead), leaving);
                self.keep_or_hold(ts)
            }
            // The start: nothing to judge the first time by.
            (false, None, _) => self.hold(ts),
            (false, Some(a), None) => {
                if self.near(a, ts) {
                    self.release_or_drop(0, None, leaving);
                    self.keep_or_hold(ts)
                } else {
                    self.hold(ts)
                }
            }
            (false, Some(a), Some(b)) => {
                if self.near(a, ts) || (a < b && !self.before_window(b, ts)) {
                    // `a` is kept (`ts` lands near it, or the three go on in order); `b` (not near
                    // it) is judged against it as an event would be: far before it, dropped; far
                    // ahead of it, the jump held, which `ts` then decides on.
                    self.release_or_drop(0, None, leaving);
                    if self.before_window(a, b) {
                        self.release_or_drop(0, Some(DropReason::TimeBackwards), leaving);
                    }
                    self.judge(ts, leaving)
                } else if self.near(b, ts) {
                    // `b` is kept, and `a`, after it by more than the jitter window, dropped.
                    debug_assert!(a > b);
                    self.release_or_drop(0, Some(DropReason::TimeAhead), leaving);
                    self.release_or_drop(0, None, leaving);
                    self.keep_or_hold(ts)
                } else if a < b {
                    // `ts` near neither, and before `b` by more than the jitter window: after `a`,
                    // `b` is the one out of line (dropped, `ts` held in its place); before `a` too,
                    // `ts` is.
                    if self.before_window(a, ts) {
                        self.count(DropReason::TimeBackwards);
                        return Admit::Drop;
                    }
                    self.release_or_drop(1, Some(DropReason::TimeAhead), leaving);
                    self.hold(ts)
                } else if self.before_window(a, ts) {
                    // `b` before `a`, `ts` before `a`: `a` is the one out of line.
                    self.release_or_drop(0, Some(DropReason::TimeAhead), leaving);
                    self.hold(ts)
                } else {
                    // `b` before `a`, `ts` after it: `b` is.
                    self.release_or_drop(1, Some(DropReason::TimeBackwards), leaving);
                    self.hold(ts)
                }
            }
        }
    }

    /// A valid time, once there is a newest and nothing held.
    fn keep_or_hold(&mut self, ts: i64) -> Admit {
        if self.before_window(self.newest_ns, ts) {
            self.count(DropReason::TimeBackwards);
            Admit::Drop
        } else if i128::from(ts) <= i128::from(self.newest_ns) + self.ahead_ns() {
            self.newest_ns = self.newest_ns.max(ts);
            Admit::Keep
        } else {
            self.hold(ts)
        }
    }

    fn hold(&mut self, ts: i64) -> Admit {
        self.held.push_back(ts);
        Admit::Hold
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
