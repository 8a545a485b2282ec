//! The event detector: validated market events → jitter buffer → indicators → state machine (the
//! Python `flashcrash.event_detector.detector`, result for result).
//!
//! Trades and books are checked by the `InputGuard` (a rejected event never reaches an indicator and
//! is counted), wait `jitter_buffer_ms` in the `JitterBuffer`, and are then applied in event-time
//! order. Each time the events the buffer releases cross into a new second, the second that ended
//! is closed: every indicator takes its sample, the `Readings` of that instant are built, and the
//! state machine steps. The book indicators read only the latest book, and only when a second
//! closes: of the ~10 books a second only the last is measured.
//!
//! An event whose time jumps far ahead is held here until the guard has the next event's time (see
//! `guard`'s doc, "Jumps ahead"). Confirmed, it enters the buffer then, ahead of that event, and is
//! listed in `released` for the caller (whose candles and strategy take it then); shown to be an
//! outlier, it is dropped.
//!
//! Message velocity counts every trade and, with `velocity_touch_only`, only the books that moved the
//! best bid or ask price.
//!
//! A feed outage (`on_feed_lost`) leaves seconds nobody observed. They are not closed: the windows
//! join the market before the outage to the market after it, and the price path restarts after it.
//! Closed as empty seconds, a long outage would become the baselines' idea of a calm market.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::candles::{CandleBuilder, NS};
use crate::config::DetectorConfig;
use crate::guard::{Admit, InputGuard, Leaving};
use crate::indicators::{
    Acceleration, Depth, MessageVelocity, OrderBookImbalance, Spread, Volatility, VolumeDelta,
};
use crate::jitter::JitterBuffer;
use crate::machine::{State, StateMachine, Transition};
use crate::patterns::CandlePatterns;
use crate::readings::{measure, not_ready, Indicator, Pattern, Reading, Readings};
use crate::serde_float;

/// Book indicators are not ready when the last book is older than this.
pub const BOOK_STALE_NS: i64 = 5 * NS;

/// The version of `Detector::snapshot`'s format.
pub const SNAPSHOT_VERSION: u32 = 2;

/// One side of a book: (price, quantity) levels, best first.
pub type Levels = Vec<(f64, f64)>;

/// A buffered market event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Event {
    Trade { price: f64, qty: f64, is_buy: bool },
    Book { bids: Levels, asks: Levels },
}

/// A held event the guard released (its jump ahead confirmed by a later event): the caller takes it
/// as it would have taken the event itself, before the event that released it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Released {
    Trade {
        ts_ns: i64,
        price: f64,
        qty: f64,
        is_buy: bool,
    },
    Book {
        ts_ns: i64,
    },
}

impl Released {
    fn of(ts_ns: i64, ev: &Event) -> Self {
        match *ev {
            Event::Trade { price, qty, is_buy } => Released::Trade {
                ts_ns,
                price,
                qty,
                is_buy,
            },
            Event::Book { .. } => Released::Book { ts_ns },
        }
    }
}

/// A held event leaving the hold as the guard says (`l`): taken out of `held`; released, it is listed
/// in `released` and returned for the buffer; dropped, its vectors go back to `spare`.
fn leave(
    l: Leaving,
    held: &mut VecDeque<Event>,
    released: &mut Vec<Released>,
    spare: &mut Spare,
) -> Option<Event> {
    let ev = held
        .remove(l.index)
        .expect("the guard holds the times of the detector's held events");
    if l.released {
        released.push(Released::of(l.ts_ns, &ev));
        Some(ev)
    } else {
        spare.give_event(ev);
        None
    }
}

/// Level vectors of books already measured or replaced, kept to hold the next books' levels, so
/// that a book costs no allocation once a few have passed. A cache, not state: never serialized, and
/// equal to any other.
#[derive(Clone, Debug, Default)]
struct Spare(Vec<Levels>);

impl Spare {
    /// At most this many vectors are kept (a book in flight takes two).
    const MAX: usize = 8;

    /// An empty vector, with the capacity of a past book's side when there is one.
    fn take(&mut self) -> Levels {
        self.0.pop().unwrap_or_default()
    }

    /// Keeps `v` (emptied) for a later book.
    fn give(&mut self, mut v: Levels) {
        if self.0.len() < Self::MAX {
            v.clear();
            self.0.push(v);
        }
    }

    /// Keeps a dropped book's vectors.
    fn give_event(&mut self, ev: Event) {
        if let Event::Book { bids, asks } = ev {
            self.give(bids);
            self.give(asks);
        }
    }
}

impl PartialEq for Spare {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Why a snapshot could not be restored.
#[derive(Debug, Error)]
pub enum SnapshotError {
    #[error("detector snapshot is not valid JSON of this detector: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("unknown detector snapshot version {found} (this detector reads version {SNAPSHOT_VERSION})")]
    Version { found: u32 },
    #[error("detector snapshot holds {events} events for the guard's {times} held times")]
    Held { events: usize, times: usize },
}

/// Everything the detector keeps between events, but the guard and the buffer (split so the buffer
/// can hand its released events to `apply` while both are borrowed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Core {
    machine: StateMachine,
    candles: CandleBuilder,
    volatility: Volatility,
    acceleration: Acceleration,
    obi: OrderBookImbalance,
    spread: Spread,
    volume_delta: VolumeDelta,
    velocity: MessageVelocity,
    depth: Depth,
    patterns: CandlePatterns,
    /// Events that reached the indicators.
    applied: u64,
    /// The open second (ts // NS) of the released events.
    second: Option<i64>,
    #[serde(with = "serde_float")]
    price: f64,
    delta: f64,
    messages: u64,
    /// The last book's best bid and ask prices (message velocity).
    touch: (f64, f64),
    book_ns: i64,
    /// Released, not yet handed to the book indicators.
    pending_book: Option<(Levels, Levels)>,
    #[serde(skip)]
    spare: Spare,
    readings: Readings,
    /// Closed seconds (a new `readings` each).
    closes: u64,
    reported: usize,
    normal: bool,
    /// `on_feed_lost`: the last second seen before an outage.
    lost_after: Option<i64>,
    /// The longest window, in seconds: a silence needs no more empty seconds than this.
    longest: i64,
    touch_only: bool,
}

/// The whole detector: guard, buffer and core. `snapshot`/`restore` carry every part but the
/// configuration and the past transitions.
#[derive(Clone, Debug)]
pub struct Detector {
    cfg: DetectorConfig,
    guard: InputGuard,
    /// The events the guard holds (jumps ahead), in its order of their times.
    held: VecDeque<Event>,
    /// The held events the last `on_trade`/`on_book` released, in order.
    released: Vec<Released>,
    buffer: JitterBuffer<Event>,
    core: Core,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    guard: InputGuard,
    buffer: JitterBuffer<Event>,
    /// Left out when empty (as the guard's held times), so a snapshot without it reads as before.
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    held: VecDeque<Event>,
    core: Core,
}

impl Detector {
    /// A detector in SLEEP with empty windows.
    pub fn new(cfg: DetectorConfig) -> Self {
        let jitter_ns = cfg.jitter_buffer_ms as i64 * 1_000_000;
        let (base, warm) = (cfg.baseline_secs, cfg.warmup_secs);
        let longest = cfg.baseline_secs
            + 2 * cfg
                .volatility_window_secs
                .max(cfg.volume_delta_window_secs)
                .max(cfg.velocity_window_secs);
        let core = Core {
            machine: StateMachine::new(&cfg),
            candles: CandleBuilder::new(NS),
            volatility: Volatility::new(
                cfg.volatility_window_secs,
                base,
                warm,
                cfg.volatility_ratio,
                cfg.volatility_floor_bps,
            ),
            acceleration: Acceleration::new(
                cfg.acceleration_span_secs,
                cfg.acceleration_bps_per_s2,
            ),
            obi: OrderBookImbalance::new(cfg.obi_levels, cfg.obi_threshold),
            spread: Spread::new(base, warm, cfg.spread_ratio),
            volume_delta: VolumeDelta::new(
                cfg.volume_delta_window_secs,
                base,
                warm,
                cfg.volume_delta_z,
            ),
            velocity: MessageVelocity::new(
                cfg.velocity_window_secs,
                base,
                warm,
                cfg.velocity_ratio,
                cfg.velocity_min_per_sec,
            ),
            depth: Depth::new(
                cfg.depth_levels,
                cfg.liquidity_min_usd,
                cfg.extreme_imbalance,
                cfg.wall_ratio,
            ),
            patterns: CandlePatterns::new(
                cfg.pattern_min_candles,
                cfg.pattern_max_candles,
                cfg.exhaustion_wick_pct,
                cfg.exhaustion_wick_growth_pct,
                cfg.climax_wick_pct,
                cfg.climax_volume_ratio,
            ),
            applied: 0,
            second: None,
            price: f64::NAN,
            delta: 0.0,
            messages: 0,
            touch: (0.0, 0.0),
            book_ns: -BOOK_STALE_NS - 1,
            pending_book: None,
            spare: Spare::default(),
            readings: initial_readings(&cfg),
            closes: 0,
            reported: 0,
            normal: true,
            lost_after: None,
            longest: longest as i64,
            touch_only: cfg.velocity_touch_only,
        };
        Self {
            guard: InputGuard::new(jitter_ns),
            held: VecDeque::new(),
            released: Vec::new(),
            buffer: JitterBuffer::new(jitter_ns),
            core,
            cfg,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &DetectorConfig {
        &self.cfg
    }

    /// A reload's configuration: the thresholds, ratios, levels and rules take effect at once. The
    /// keys that size windows and buffers (`jitter_buffer_ms`, `baseline_secs`, the window spans,
    /// the pattern lengths) keep their running values: the strategy's reload refuses to change them.
    pub fn reconfigure(&mut self, cfg: DetectorConfig) {
        let c = &mut self.core;
        c.machine.set_config(&cfg);
        (c.volatility.ratio, c.volatility.floor_bps) =
            (cfg.volatility_ratio, cfg.volatility_floor_bps);
        c.acceleration.threshold = cfg.acceleration_bps_per_s2;
        (c.obi.levels, c.obi.threshold) = (cfg.obi_levels, cfg.obi_threshold);
        c.spread.threshold = cfg.spread_ratio;
        c.volume_delta.threshold = cfg.volume_delta_z;
        (c.velocity.ratio, c.velocity.min_per_sec) = (cfg.velocity_ratio, cfg.velocity_min_per_sec);
        c.volatility.warmup = cfg.warmup_secs;
        c.spread.warmup = cfg.warmup_secs;
        c.volume_delta.warmup = cfg.warmup_secs;
        c.velocity.warmup = cfg.warmup_secs;
        let d = &mut c.depth;
        (d.levels, d.min_usd, d.extreme, d.wall_ratio) = (
            cfg.depth_levels,
            cfg.liquidity_min_usd,
            cfg.extreme_imbalance,
            cfg.wall_ratio,
        );
        let p = &mut c.patterns;
        (p.ex_wick, p.ex_growth) = (cfg.exhaustion_wick_pct, cfg.exhaustion_wick_growth_pct);
        (p.cl_wick, p.cl_volume) = (cfg.climax_wick_pct, cfg.climax_volume_ratio);
        c.touch_only = cfg.velocity_touch_only;
        self.cfg = cfg;
    }

    /// The published state.
    pub fn state(&self) -> State {
        self.core.machine.state
    }

    /// Every transition so far (those set by `set_history` first).
    pub fn transitions(&self) -> &[Transition] {
        &self.core.machine.transitions
    }

    /// The readings at the end of the last closed second (all not ready before the first).
    pub fn readings(&self) -> &Readings {
        &self.core.readings
    }

    /// How many seconds have closed (each made new readings).
    pub fn closes(&self) -> u64 {
        self.core.closes
    }

    /// Events that reached the indicators.
    pub fn applied(&self) -> u64 {
        self.core.applied
    }

    /// The input guard (its drop counts, the newest event time).
    pub fn guard(&self) -> &InputGuard {
        &self.guard
    }

    /// The input guard, to count an input the caller could not even read as a number.
    pub fn guard_mut(&mut self) -> &mut InputGuard {
        &mut self.guard
    }

    /// Events waiting in the jitter buffer.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Events the guard holds (jumps ahead waiting for the next event).
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// The held events the last `on_trade` or `on_book` released (confirmed), in order: they
    /// entered the buffer before the event of that call.
    pub fn released(&self) -> &[Released] {
        &self.released
    }

    /// Whether an event at `ts_ns` would be taken or dropped at once, releasing nothing: nothing is
    /// held and it is no jump ahead (`InputGuard::is_plain`).
    pub fn plain(&self, ts_ns: i64) -> bool {
        self.guard.is_plain(ts_ns)
    }

    /// Validates and buffers a trade; false when dropped (and counted by the guard) or held (a jump
    /// ahead: see `released`).
    pub fn on_trade(&mut self, ts_ns: i64, price: f64, qty: f64, is_buy: bool) -> bool {
        self.released.clear();
        if !self.guard.trade_values_ok(price, qty) {
            return false;
        }
        self.admit(ts_ns, Event::Trade { price, qty, is_buy })
    }

    /// The guard's verdict on the time of an event whose values passed: held events it releases
    /// enter the buffer first.
    fn admit(&mut self, ts_ns: i64, ev: Event) -> bool {
        let Self {
            guard,
            held,
            released,
            buffer,
            core,
            ..
        } = self;
        let verdict = guard.admit(ts_ns, |l: Leaving| {
            if let Some(ev) = leave(l, held, released, &mut core.spare) {
                buffer.push_release(l.ts_ns, ev, |t, e| core.apply(t, e));
            }
        });
        match verdict {
            Admit::Keep => {
                buffer.push_release(ts_ns, ev, |t, e| core.apply(t, e));
                true
            }
            Admit::Hold => {
                held.push_back(ev);
                false
            }
            Admit::Drop => {
                core.spare.give_event(ev);
                false
            }
        }
    }

    /// Two empty sides for the next book, reusing the vectors of books already measured: filled and
    /// handed to `on_book`, a book costs no allocation.
    pub fn book_sides(&mut self) -> (Levels, Levels) {
        (self.core.spare.take(), self.core.spare.take())
    }

    /// Validates and buffers a book (sides best first; see `book_sides`); false when dropped (and
    /// counted) or held (see `on_trade`). `proven`: its levels were already checked where it was
    /// made, so only its time is.
    pub fn on_book(&mut self, ts_ns: i64, bids: Levels, asks: Levels, proven: bool) -> bool {
        self.released.clear();
        if !self.guard.book_values_ok(&bids, &asks, proven) {
            self.core.spare.give(bids);
            self.core.spare.give(asks);
            return false;
        }
        self.admit(ts_ns, Event::Book { bids, asks })
    }

    /// The feed stopped: nothing after the newest event seen so far was observed until the next
    /// event after it. Told again before that event has left the jitter buffer (the runner hears
    /// of one outage twice: the feed's state, then the restarted engine's first health), it is the
    /// same outage: the gap stays where it was told first.
    pub fn on_feed_lost(&mut self) {
        if self.guard.newest_ns > 0 && self.core.lost_after.is_none() {
            self.core.lost_after = Some(self.guard.newest_ns.div_euclid(NS));
        }
    }

    /// The newest transition since the previous call, if any (the runner's candle clock).
    pub fn take_transition(&mut self) -> Option<&Transition> {
        let all = &self.core.machine.transitions;
        if all.len() > self.core.reported {
            self.core.reported = all.len();
            return all.last();
        }
        None
    }

    /// Applies every buffered event and closes the last second (end of a replay). An event still
    /// held is taken unconfirmed (`InputGuard::take_held`), and listed in `released`.
    pub fn flush(&mut self) {
        self.released.clear();
        let Self {
            guard,
            held,
            released,
            buffer,
            core,
            ..
        } = self;
        guard.take_held(|l| {
            if let Some(ev) = leave(l, held, released, &mut core.spare) {
                buffer.push(l.ts_ns, ev);
            }
        });
        for (ts, ev) in self.buffer.drain() {
            self.core.apply(ts, ev);
        }
        if let Some(sec) = self.core.second {
            self.core.close_second(sec);
            self.core.second = Some(sec + 1);
        }
    }

    /// Ends the session: SHUTDOWN at `ts_ns`.
    pub fn shutdown(&mut self, ts_ns: i64, reason: String) -> Transition {
        self.core.machine.go(ts_ns, State::Shutdown, reason)
    }

    /// The transitions before a restored snapshot (read back from the audit log by a recovery):
    /// none of them is reported as new.
    pub fn set_history(&mut self, transitions: Vec<Transition>) {
        self.core.reported = transitions.len();
        self.core.machine.transitions = transitions;
    }

    /// The whole state but the configuration and the past transitions, as JSON: `restore` on a
    /// detector of the same configuration carries on exactly where this one stands.
    pub fn snapshot(&mut self) -> String {
        self.core.measure_book();
        let mut core = self.core.clone();
        core.machine.transitions = Vec::new();
        let snap = Snapshot {
            version: SNAPSHOT_VERSION,
            guard: self.guard.clone(),
            buffer: self.buffer.clone(),
            held: self.held.clone(),
            core,
        };
        serde_json::to_string(&snap).expect("a detector's state serialises")
    }

    /// Replaces this detector's state by a `snapshot()` (its configuration and transitions stay).
    ///
    /// # Errors
    /// `SnapshotError` when the text is not a snapshot of this version; the detector is unchanged.
    pub fn restore(&mut self, json: &str) -> Result<(), SnapshotError> {
        #[derive(Deserialize)]
        struct Versioned {
            version: u32,
        }
        let v: Versioned = serde_json::from_str(json)?;
        if v.version != SNAPSHOT_VERSION {
            return Err(SnapshotError::Version { found: v.version });
        }
        let snap: Snapshot = serde_json::from_str(json)?;
        let times = snap.guard.held().len();
        if snap.held.len() != times {
            return Err(SnapshotError::Held {
                events: snap.held.len(),
                times,
            });
        }
        let transitions = std::mem::take(&mut self.core.machine.transitions);
        let fresh = Detector::new(self.cfg.clone());
        self.guard = snap.guard;
        self.held = snap.held;
        self.released.clear();
        self.buffer = snap.buffer;
        self.core = snap.core;
        self.core.machine.fill_older_snapshot();
        // The configuration is the restoring detector's, not the snapshot's: every threshold and
        // rule a reload may change, and what sizes the outage handling.
        self.reconfigure(self.cfg.clone());
        self.core.longest = fresh.core.longest;
        self.core.machine.transitions = transitions;
        self.core.reported = self.core.reported.min(self.core.machine.transitions.len());
        Ok(())
    }
}

impl Core {
    fn apply(&mut self, ts: i64, ev: Event) {
        let sec = ts.div_euclid(NS);
        let mut second = *self.second.get_or_insert(sec);
        if sec > second {
            if let Some(lost) = self.lost_after {
                if sec > lost {
                    // The first event after an outage.
                    self.lost_after = None;
                    if sec > lost + 1 && second <= lost {
                        while second <= lost {
                            self.close_second(second);
                            second += 1;
                        }
                        second = sec; // the seconds after `lost` were not observed
                        self.volatility.restart();
                        self.acceleration.restart();
                        // The price path restarts too: a second of books only after the outage
                        // must not close on the price from before it.
                        self.price = f64::NAN;
                        self.machine.resume();
                    }
                }
            }
            second = second.max(sec - self.longest);
            while second < sec {
                self.close_second(second);
                second += 1;
            }
            self.second = Some(second);
        }
        self.applied += 1;
        match ev {
            Event::Trade { price, qty, is_buy } => {
                self.messages += 1;
                self.price = price;
                self.delta += if is_buy { price * qty } else { -(price * qty) };
                if let Some(closed) = self.candles.on_trade(ts, price, qty, is_buy) {
                    self.patterns.on_candle(&closed);
                }
            }
            Event::Book { bids, asks } => {
                if self.touch_only {
                    let touch = (bids[0].0, asks[0].0);
                    if touch != self.touch {
                        self.messages += 1;
                        self.touch = touch;
                    }
                } else {
                    self.messages += 1;
                }
                self.book_ns = ts;
                if let Some((b, a)) = self.pending_book.replace((bids, asks)) {
                    self.spare.give(b);
                    self.spare.give(a);
                }
            }
        }
    }

    /// Hands the latest released book to the book indicators (they keep only the latest).
    fn measure_book(&mut self) {
        if let Some((bids, asks)) = self.pending_book.take() {
            self.obi.on_book(&bids, &asks);
            self.spread.on_book(bids[0].0, asks[0].0);
            self.depth.on_book(&bids, &asks);
            self.spare.give(bids);
            self.spare.give(asks);
        }
    }

    fn close_second(&mut self, sec: i64) {
        self.measure_book();
        let end = (sec + 1) * NS;
        if let Some(closed) = self.candles.advance(end) {
            self.patterns.on_candle(&closed);
        }
        let fresh = end - self.book_ns <= BOOK_STALE_NS;
        let learn = self.normal; // baselines learn only the normal market
        self.volatility.on_second(self.price, learn);
        self.acceleration.on_second(self.price);
        self.volume_delta.on_second(self.delta, learn);
        self.velocity.on_second(self.messages, learn);
        self.spread.on_second(fresh, learn);
        self.delta = 0.0;
        self.messages = 0;
        self.readings = self.build(end, sec, fresh);
        self.closes += 1;
        self.machine.step(&self.readings);
        self.normal = self.machine.learns(end);
    }

    fn build(&self, end: i64, sec: i64, fresh: bool) -> Readings {
        let p = &self.patterns;
        let pattern = if p.last_start_ns == sec * NS {
            p.pattern
        } else {
            Pattern::None
        };
        let length = if pattern != Pattern::None {
            p.length as f64
        } else {
            0.0
        };
        let min_candles = p.min as f64;
        let by: [Reading; 8] = [
            self.volatility.reading(),
            self.acceleration.reading(),
            self.obi.reading(fresh),
            self.spread.reading(fresh),
            self.volume_delta.reading(),
            self.velocity.reading(),
            measure(
                Indicator::Pattern,
                length,
                min_candles,
                pattern != Pattern::None,
                p.last_start_ns >= 0,
            ),
            self.depth.reading(fresh),
        ];
        let spread_ratio = by[Indicator::Spread as usize].value;
        let base = Readings {
            price_move: self.volatility.move_sigmas(),
            ..Readings::without_book(end, by, pattern, spread_ratio)
        };
        match (&self.depth.view, fresh) {
            (Some(view), true) => Readings {
                liquidity_usd: view.liquidity_usd,
                depth_imbalance: view.imbalance,
                extreme_imbalance: view.extreme,
                bid_walls: view.bid_walls.clone(),
                ask_walls: view.ask_walls.clone(),
                ..base
            },
            _ => base,
        }
    }
}

fn initial_readings(cfg: &DetectorConfig) -> Readings {
    let thresholds = [
        cfg.volatility_ratio,
        cfg.acceleration_bps_per_s2,
        cfg.obi_threshold,
        cfg.spread_ratio,
        cfg.volume_delta_z,
        cfg.velocity_ratio,
        cfg.pattern_min_candles as f64,
        cfg.liquidity_min_usd,
    ];
    let by = std::array::from_fn(|i| not_ready(Indicator::ALL[i], thresholds[i]));
    Readings::without_book(0, by, Pattern::None, f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = NS;
    const T0: i64 = 1_700_000_000 * S;

    fn small() -> DetectorConfig {
        DetectorConfig {
            baseline_secs: 20,
            warmup_secs: 5,
            volatility_window_secs: 3,
            volume_delta_window_secs: 3,
            velocity_window_secs: 2,
            recovery_confirm_secs: 4,
            active_hold_secs: 2,
            active_confirm_secs: 1.0,
            volatility_floor_bps: 1.0,
            velocity_min_per_sec: 1.0,
            liquidity_min_usd: 10.0,
            ..DetectorConfig::default()
        }
    }

    fn book(mid: f64) -> (Levels, Levels) {
        (
            (0..5)
                .map(|i| (mid - 0.01 * f64::from(i + 1), 10.0))
                .collect(),
            (0..5)
                .map(|i| (mid + 0.01 * f64::from(i + 1), 12.0))
                .collect(),
        )
    }

    /// Calm for a minute, a 20 % fall over ten seconds, calm again: trades every 100 ms, a book
    /// every 300 ms. Every event is taken (the first, on a fresh detector, held until the book at
    /// the same time confirms it).
    fn feed(d: &mut Detector, from: usize, to: usize) {
        for k in from..to {
            let ts = T0 + k as i64 * (S / 10);
            let sec = k / 10;
            let price = match sec {
                0..60 => 1.0 + 0.0005 * ((k % 7) as f64),
                60..70 => 1.0 - 0.02 * (k - 600) as f64 / 10.0,
                _ => 0.8 + 0.0005 * ((k % 5) as f64),
            };
            let took = d.on_trade(ts, price, 1.0 + (k % 3) as f64, k % 4 == 0 || sec >= 70);
            assert!(took || (k == 0 && d.held() == 1), "{k}");
            if k % 3 == 0 {
                let (bids, asks) = book(price);
                assert!(d.on_book(ts, bids, asks, false));
            }
        }
    }

    fn readings_json(d: &Detector) -> String {
        serde_json::to_string(d.readings()).unwrap()
    }

    #[test]
    fn a_crash_goes_active_and_a_restored_snapshot_carries_on_bit_for_bit() {
        let mut straight = Detector::new(small());
        feed(&mut straight, 0, 640);
        let mut restored = Detector::new(small());
        restored.restore(&straight.snapshot()).unwrap();
        restored.set_history(straight.transitions().to_vec());
        assert_eq!(restored.take_transition(), None); // history is not news
        for (from, to) in [(640, 700), (700, 1000)] {
            feed(&mut straight, from, to);
            feed(&mut restored, from, to);
            assert_eq!(readings_json(&straight), readings_json(&restored));
            assert_eq!(straight.transitions(), restored.transitions());
        }
        straight.flush();
        restored.flush();
        assert_eq!(readings_json(&straight), readings_json(&restored));
        assert_eq!(straight.closes(), restored.closes());
        let states: Vec<_> = straight.transitions().iter().map(|t| t.current).collect();
        assert!(
            states.contains(&State::Active),
            "{:?}",
            straight.transitions()
        );
    }

    #[test]
    fn books_filled_into_book_sides_reuse_the_vectors_of_books_measured() {
        let mut fresh = Detector::new(small());
        feed(&mut fresh, 0, 300);
        let mut reused = Detector::new(small());
        for k in 0..300usize {
            let ts = T0 + k as i64 * (S / 10);
            let price = 1.0 + 0.0005 * ((k % 7) as f64);
            let took = reused.on_trade(ts, price, 1.0 + (k % 3) as f64, k % 4 == 0);
            assert!(took || k == 0);
            if k % 3 == 0 {
                let (want_b, want_a) = book(price);
                let (mut bids, mut asks) = reused.book_sides();
                if k > 30 {
                    // Books of past seconds were measured: their vectors come back, emptied.
                    assert!(bids.is_empty() && bids.capacity() >= 5, "{k}");
                    assert!(asks.is_empty() && asks.capacity() >= 5, "{k}");
                }
                bids.extend(want_b);
                asks.extend(want_a);
                assert!(reused.on_book(ts, bids, asks, false));
            }
        }
        assert_eq!(readings_json(&fresh), readings_json(&reused));
        assert_eq!(fresh.snapshot(), reused.snapshot());
        // A rejected book's vectors come back too, and the pool stays bounded.
        let mut d = Detector::new(small());
        for _ in 0..20 {
            let (mut bids, asks) = d.book_sides();
            bids.extend([(f64::NAN, 1.0); 4]);
            assert!(!d.on_book(T0, bids, asks, false));
        }
        assert!(d.book_sides().0.capacity() >= 4);
        assert!(d.core.spare.0.len() <= Spare::MAX);
    }

    #[test]
    fn another_version_or_a_broken_snapshot_is_refused_and_changes_nothing() {
        let mut d = Detector::new(small());
        feed(&mut d, 0, 100);
        let before = d.snapshot();
        let other = before.replacen(
            &format!("\"version\":{SNAPSHOT_VERSION}"),
            "\"version\":1",
            1,
        );
        assert!(matches!(
            d.restore(&other),
            Err(SnapshotError::Version { found: 1 })
        ));
        assert!(matches!(
            d.restore("{\"version\":2}"),
            Err(SnapshotError::Malformed(_))
        ));
        assert!(matches!(
            d.restore("not json"),
            Err(SnapshotError::Malformed(_))
        ));
        assert_eq!(d.snapshot(), before);
    }

    #[test]
    fn reconfigure_changes_thresholds_at_the_next_second_and_keeps_the_windows() {
        let returns = |d: &Detector| serde_json::to_value(&d.core.volatility.returns).unwrap();
        let mut d = Detector::new(small());
        feed(&mut d, 0, 100);
        let (windows, old) = (returns(&d), d.readings().get(Indicator::Obi).threshold);
        assert_ne!(old, 0.3);
        d.reconfigure(DetectorConfig {
            obi_threshold: 0.3,
            volatility_ratio: 7.0,
            ..small()
        });
        assert_eq!(returns(&d), windows, "the windows are kept");
        assert_eq!(d.config().obi_threshold, 0.3);
        // The second already closed keeps its readings; the next one closes with the new thresholds.
        assert_eq!(d.readings().get(Indicator::Obi).threshold, old);
        feed(&mut d, 100, 120);
        assert_eq!(d.readings().get(Indicator::Obi).threshold, 0.3);
        assert_eq!(d.readings().get(Indicator::Volatility).threshold, 7.0);
        // The windows went on as they would have without the reload.
        let mut same = Detector::new(small());
        feed(&mut same, 0, 120);
        assert_eq!(returns(&d), returns(&same));
    }

    #[test]
    fn an_outage_leaves_its_seconds_unclosed() {
        let mut d = Detector::new(small());
        feed(&mut d, 0, 100); // 10 s
        d.on_feed_lost();
        let closes = d.closes();
        // 100 s later the feed is back: only the seconds before the outage close, none of its own.
        // Its first trade, 100 s ahead, waits for the next event, which confirms it.
        let ts = T0 + 110 * S;
        assert!(!d.on_trade(ts, 1.0, 1.0, true) && d.held() == 1);
        assert!(d.on_trade(ts + 2 * S, 1.0, 1.0, true));
        let first = Released::Trade {
            ts_ns: ts,
            price: 1.0,
            qty: 1.0,
            is_buy: true,
        };
        assert_eq!(d.released(), [first]);
        assert!(
            d.closes() - closes <= 2,
            "{} seconds closed",
            d.closes() - closes
        );
        let mut told_nothing = Detector::new(small());
        feed(&mut told_nothing, 0, 100);
        assert!(!told_nothing.on_trade(ts, 1.0, 1.0, true));
        assert!(told_nothing.on_trade(ts + 2 * S, 1.0, 1.0, true));
        assert!(told_nothing.closes() - closes > 20); // the silence closed as empty seconds
    }

    /// The audit's case: one trade stamped at twice the epoch. Before the hold it became the newest
    /// time and every genuine event after it was dropped as `time_backwards` (0 of 36,000 in the
    /// next hour); now it alone is dropped (`time_ahead`) and the detector goes on closing seconds.
    #[test]
    fn a_far_future_trade_does_not_blind_the_detector() {
        let mut d = Detector::new(small());
        feed(&mut d, 0, 300);
        assert!(!d.on_trade(2 * T0, 1.0, 1.0, true) && d.held() == 1);
        let (applied, closes) = (d.applied(), d.closes());
        feed(&mut d, 300, 1000); // every one taken
        assert_eq!(d.released(), []);
        assert_eq!(d.held(), 0);
        assert_eq!(
            d.guard()
                .dropped()
                .map(|(r, n)| (r.as_str(), n))
                .collect::<Vec<_>>(),
            [("time_ahead", 1)]
        );
        assert_eq!(d.guard().newest_ns, T0 + 999 * (S / 10));
        assert!(d.applied() - applied > 900 && d.closes() - closes >= 69);
        // The same detector, never sent it: the same readings and transitions.
        let mut clean = Detector::new(small());
        feed(&mut clean, 0, 1000);
        assert_eq!(readings_json(&d), readings_json(&clean));
        assert_eq!(d.transitions(), clean.transitions());
    }

    /// A held event enters the buffer, in order, with the event that confirms it: a book held over
    /// a gap reaches the book indicators, and its vectors come back to `book_sides` as any book's.
    #[test]
    fn a_held_event_is_released_in_order_by_the_next() {
        let mut d = Detector::new(small());
        feed(&mut d, 0, 100);
        let (applied, buffered) = (d.applied(), d.buffered());
        assert!(buffered > 10); // the last 1.5 s of 100 trades and 34 books
        let ts = T0 + 400 * S;
        let (bids, asks) = book(0.9);
        assert!(!d.on_book(ts, bids, asks, false));
        // Held aside: the buffer does not move until the jump is confirmed.
        assert_eq!(
            (d.held(), d.buffered(), d.applied()),
            (1, buffered, applied)
        );
        assert!(d.on_trade(ts - S, 0.9, 1.0, true)); // up to the jitter window before it
        assert_eq!(d.released(), [Released::Book { ts_ns: ts }]);
        // The book went in first, releasing every event before it less the window; then the trade.
        assert_eq!(
            (d.held(), d.buffered(), d.applied()),
            (0, 2, applied + buffered as u64)
        );
        d.flush();
        assert_eq!(d.applied(), 100 + 34 + 2);
        assert!(
            d.readings().get(Indicator::Obi).ready,
            "the book reached the book indicators"
        );
    }

    #[test]
    fn a_snapshot_carries_a_held_event_and_flush_takes_one() {
        let mut d = Detector::new(small());
        feed(&mut d, 0, 100);
        assert!(!d.on_trade(T0 + 500 * S, 1.0, 1.0, true));
        let snap = d.snapshot();
        assert!(snap.contains(r#""held":[{"Trade""#), "{snap}");
        let mut restored = Detector::new(small());
        restored.restore(&snap).unwrap();
        assert_eq!(restored.held(), 1);
        assert_eq!(restored.snapshot(), snap);
        // Confirmed after the restore: it is released as it would have been.
        assert!(restored.on_trade(T0 + 500 * S + 1, 1.0, 1.0, true));
        assert_eq!(restored.released().len(), 1);
        // The end of a replay: what is held is taken, unconfirmed.
        let (applied, buffered) = (d.applied(), d.buffered() as u64);
        d.flush();
        assert_eq!((d.held(), d.guard().total_dropped()), (0, 0));
        assert_eq!(d.released().len(), 1);
        assert_eq!(d.applied(), applied + buffered + 1);
        assert_eq!(d.guard().newest_ns, T0 + 500 * S);
        // A snapshot whose held events and held times differ is refused.
        let broken = snap.replacen(r#""held":[{"Trade""#, r#""held":[],"x":[{"Trade""#, 1);
        assert!(matches!(
            restored.restore(&broken),
            Err(SnapshotError::Held {
                events: 0,
                times: 1
            })
        ));
    }
}
