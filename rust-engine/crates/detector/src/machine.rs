//! The detector's state machine, stepped once a second of event time with that second's readings
//! (the Python `flashcrash.event_detector.machine`).
//!
//! The quorum: at least `core_quorum` of the five core indicators fire, or `core_quorum_velocity`
//! during a message-velocity spike, and (with `quorum_needs_price`) the price moves: volatility or
//! acceleration is among them, or the price has moved `price_move_sigmas` baseline sigmas over the
//! volatility window ([`Readings::price_move`]). A crash is a move of the price: order flow (volume
//! delta, velocity) and the book (spread, imbalance) confirm one and complete the quorum, but they
//! are not independent evidence of their own: one burst of one-sided trades raises volume delta and
//! velocity together, and a book derived from the trades (the backtest's synthetic book) widens its
//! spread with the same burst's price range (docs/benchmarks/detection.md, "What made the false
//! ACTIVEs"). The move is there for the crash that starts as a slide: steady 1-second returns
//! all one way, which neither volatility (their dispersion) nor acceleration (their change) sees.
//!
//! The alert level is a price indicator firing (with `quorum_needs_price`; without it, any core
//! indicator). Volume delta or spread alone does not wake the detector (in thin markets they fire
//! in a good share of the calm seconds), and neither does a quorum on the move: order flow, the
//! book and a move together for a second or two are common in thin calm markets (with them as the
//! alert level, ALERT took 0.4-0.9 % of the calm hours of three 10 Oct 2025 files, none before). A
//! slide's quorum therefore goes SLEEP → ACTIVE once it has held, without an ALERT first. Once
//! awake, the detector stays alert while any core indicator fires (a hysteresis: woken by the
//! price, kept awake by the flow and the book).
//!
//! The baselines learn apart from the published state: they pause through a *stir*, from the first
//! core indicator of any kind (in SLEEP or ALERT) to `recovery_confirm_secs` without one, and
//! through ACTIVE and RECOVERY. A stir or a RECOVERY lasting `baseline_secs` is a new regime, not a
//! crash building: the baselines learn it then
//! ([`StateMachine::learns`](crate::machine::StateMachine::learns)). The first sign of a crash is
//! often order flow alone, and a baseline that learnt those minutes would no longer see the crash.
//!
//! * SLEEP → ALERT at the alert level; SLEEP → ACTIVE when the quorum has held for more than
//!   `active_confirm_secs` (a slide's, on the move: see above);
//! * ALERT → ACTIVE when the quorum has held for more than `active_confirm_secs`; ALERT → SLEEP
//!   when its stir ends (`recovery_confirm_secs` without any core indicator);
//! * ACTIVE → RECOVERY when the quorum has been lost for `active_hold_secs`;
//! * RECOVERY → ACTIVE when the quorum holds again for more than `active_confirm_secs`; RECOVERY →
//!   SLEEP after `recovery_confirm_secs` without any core indicator;
//! * any → SHUTDOWN when the session ends.
//!
//! A core indicator that fired keeps its vote while its reading stays at `quorum_release_ratio` of
//! its threshold (a hysteresis: a reading hovering at its threshold does not break a quorum second
//! by second; 1 is off). Only the quorum: the velocity spike, the alert level and the stir read the
//! indicators as they fire.
//!
//! An indicator (or the velocity spike) counts for the quorum when it fired at any of the last
//! `jitter_buffer_ms` of ticks (at least the current one): a rolling window that absorbs feed
//! jitter, so a burst split unevenly across two seconds does not break the quorum.
//!
//! Every transition is kept with its reason (the Python wrapper logs it). The reasons are the
//! Python detector's strings, byte for byte (see [`crate::pyfmt`]).

use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::DetectorConfig;
use crate::pyfmt::{format_g, g};
use crate::readings::{Indicator, Readings, CORE};

/// One second, in nanoseconds.
pub const NS: i64 = crate::candles::NS;

/// What the quorum counts: the core indicators, and the message velocity (as the spike).
pub const VOTERS: [Indicator; 6] = [
    CORE[0],
    CORE[1],
    CORE[2],
    CORE[3],
    CORE[4],
    Indicator::MessageVelocity,
];

/// A set of indicators (Python's `frozenset[Indicator]`): one bit per `Indicator as usize`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IndicatorSet(u8);

impl IndicatorSet {
    /// No indicator.
    pub const EMPTY: IndicatorSet = IndicatorSet(0);

    /// The set of `indicators`.
    pub const fn of(indicators: &[Indicator]) -> IndicatorSet {
        let mut set = IndicatorSet::EMPTY;
        let mut k = 0;
        while k < indicators.len() {
            set = set.with(indicators[k]);
            k += 1;
        }
        set
    }

    /// This set and `i`.
    pub const fn with(self, i: Indicator) -> IndicatorSet {
        IndicatorSet(self.0 | 1 << i as u8)
    }

    /// Whether `i` is in the set.
    pub const fn contains(self, i: Indicator) -> bool {
        self.0 & 1 << i as u8 != 0
    }

    /// The indicators in either set.
    pub const fn union(self, other: IndicatorSet) -> IndicatorSet {
        IndicatorSet(self.0 | other.0)
    }

    /// The indicators in both sets.
    pub const fn intersection(self, other: IndicatorSet) -> IndicatorSet {
        IndicatorSet(self.0 & other.0)
    }

    /// Whether the sets have no indicator in common.
    pub const fn is_disjoint(self, other: IndicatorSet) -> bool {
        self.0 & other.0 == 0
    }

    /// How many indicators are in the set.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The indicators in the set, in index order.
    pub fn iter(self) -> impl Iterator<Item = Indicator> {
        Indicator::ALL
            .into_iter()
            .filter(move |i| self.contains(*i))
    }
}

impl FromIterator<Indicator> for IndicatorSet {
    fn from_iter<T: IntoIterator<Item = Indicator>>(iter: T) -> Self {
        iter.into_iter()
            .fold(IndicatorSet::EMPTY, IndicatorSet::with)
    }
}

/// The five core indicators, as a set.
pub const CORE_SET: IndicatorSet = IndicatorSet::of(&CORE);

/// The core indicators read from the price path alone (volatility, acceleration): with
/// `quorum_needs_price` a quorum counts only when one of them is in it, or the price moved.
pub const PRICE: IndicatorSet = {
    let mut set = IndicatorSet::EMPTY;
    let mut k = 0;
    while k < Indicator::ALL.len() {
        if Indicator::ALL[k].is_price() {
            set = set.with(Indicator::ALL[k]);
        }
        k += 1;
    }
    set
};

/// The detector's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum State {
    /// Calm.
    Sleep,
    /// A price indicator fired (or, once awake, any core indicator still fires).
    Alert,
    /// The quorum held: an event.
    Active,
    /// The quorum was lost; back to ACTIVE if it holds again, to SLEEP once calm.
    Recovery,
    /// The session ended.
    Shutdown,
}

impl State {
    /// Every state.
    pub const ALL: [State; 5] = [
        State::Sleep,
        State::Alert,
        State::Active,
        State::Recovery,
        State::Shutdown,
    ];

    /// The Python `State` value (`"SLEEP"`...).
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Sleep => "SLEEP",
            State::Alert => "ALERT",
            State::Active => "ACTIVE",
            State::Recovery => "RECOVERY",
            State::Shutdown => "SHUTDOWN",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change of state at `ts_ns` (event time), with its reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// Event time of the change (ns).
    pub ts_ns: i64,
    /// The state left.
    pub previous: State,
    /// The state entered.
    pub current: State,
    /// Why (the Python detector's string, byte for byte).
    pub reason: String,
}

/// The core indicators counted (with their value now) and the velocity, for a transition's reason:
/// `"3/5 core fired (volatility 1, acceleration 1, volume_delta 1); velocity spike 4.2x"`.
pub fn describe(r: &Readings, counted: IndicatorSet) -> String {
    let parts: Vec<String> = CORE
        .iter()
        .filter(|i| counted.contains(**i))
        .map(|i| format!("{} {}", i.as_str(), format_g(r.get(*i).value, 3)))
        .collect();
    let spike = if counted.contains(Indicator::MessageVelocity) {
        format!(
            "; velocity spike {}x",
            format_g(r.get(Indicator::MessageVelocity).value, 3)
        )
    } else {
        String::new()
    };
    let listed = if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    };
    format!("{}/5 core fired ({listed}){spike}", parts.len())
}

/// `secs` seconds in nanoseconds (Python's exact `secs * NS`; saturated, never reached, past i64).
fn secs_ns(secs: u64) -> i64 {
    i64::try_from(secs).map_or(i64::MAX, |s| s.saturating_mul(NS))
}

/// Whether `condition` has held for at least `secs` at `ts` (its start kept in `since`: set when it
/// begins, cleared when it fails). Python's `StateMachine._lasting`.
fn lasting(since: &mut Option<i64>, condition: bool, ts: i64, secs: u64) -> bool {
    if !condition {
        *since = None;
        return false;
    }
    let start = *since.get_or_insert(ts);
    ts - start >= secs_ns(secs)
}

/// Pushes `set` into the jitter window `window` of `ticks` steps (at least one), dropping the
/// oldest; the union of what it then holds.
fn slide(window: &mut VecDeque<IndicatorSet>, ticks: usize, set: IndicatorSet) -> IndicatorSet {
    while window.len() >= ticks.max(1) {
        window.pop_front();
    }
    window.push_back(set);
    window.iter().fold(IndicatorSet::EMPTY, |a, b| a.union(*b))
}

/// The SLEEP/ALERT/ACTIVE/RECOVERY machine (see the module documentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateMachine {
    /// The configuration it judges by (not in a snapshot: the restoring detector's own is set).
    #[serde(skip)]
    cfg: DetectorConfig,
    /// The current state.
    pub state: State,
    /// Every transition so far, in order (history, not state: not in a snapshot).
    #[serde(skip)]
    pub transitions: Vec<Transition>,
    quorum_since: Option<i64>,
    lost_since: Option<i64>,
    stable_since: Option<i64>,
    /// A stir: from the first core indicator in SLEEP or ALERT to `recovery_confirm_secs` without
    /// one.
    stir_since: Option<i64>,
    unstirred_since: Option<i64>,
    /// Ticks of the jitter window: `max(1, ceil(jitter_buffer_ms / 1000))`.
    ticks: usize,
    /// The voters held at each of the last `ticks` steps (Python's `deque(maxlen=ticks)`): fired,
    /// or (core indicators) held the step before and still at `quorum_release_ratio` of their
    /// threshold.
    recent: VecDeque<IndicatorSet>,
    /// The voters held within the jitter window at the last step.
    pub counted: IndicatorSet,
    /// The voters fired at each of the last `ticks` steps, unheld: the alert level and the stir.
    #[serde(default)]
    recent_fired: VecDeque<IndicatorSet>,
    /// Event time of the last transition (ns).
    pub since: i64,
}

impl StateMachine {
    /// A machine in SLEEP, with `cfg`'s quorums, timings and jitter window.
    pub fn new(cfg: &DetectorConfig) -> Self {
        // Python's `max(1, math.ceil(cfg.jitter_buffer_ms / 1000))` (a float division).
        let ticks = (cfg.jitter_buffer_ms as f64 / 1000.0).ceil().max(1.0) as usize;
        Self {
            cfg: cfg.clone(),
            state: State::Sleep,
            transitions: Vec::new(),
            quorum_since: None,
            lost_since: None,
            stable_since: None,
            stir_since: None,
            unstirred_since: None,
            ticks,
            recent: VecDeque::with_capacity(ticks),
            counted: IndicatorSet::EMPTY,
            recent_fired: VecDeque::with_capacity(ticks),
            since: 0,
        }
    }

    /// The configuration it judges by from now on (a reload; a restored snapshot's machine).
    pub fn set_config(&mut self, cfg: &DetectorConfig) {
        self.cfg = cfg.clone();
    }

    /// After a feed outage: each condition must hold again in observed time (its timer and the
    /// jitter window restart; the state stays).
    pub fn resume(&mut self) {
        self.quorum_since = None;
        self.lost_since = None;
        self.stable_since = None;
        self.stir_since = None;
        self.unstirred_since = None;
        self.recent.clear();
        self.recent_fired.clear();
    }

    /// A snapshot written before the quorum's hysteresis has no `recent_fired`: its `recent` is
    /// the fired history.
    pub(crate) fn fill_older_snapshot(&mut self) {
        if self.recent_fired.is_empty() && !self.recent.is_empty() {
            self.recent_fired = self.recent.clone();
        }
    }

    /// Enters `new` at `ts` for `reason`; the transition is kept and handed back.
    pub fn go(&mut self, ts: i64, new: State, reason: String) -> Transition {
        let t = Transition {
            ts_ns: ts,
            previous: self.state,
            current: new,
            reason,
        };
        self.state = new;
        self.since = ts;
        self.transitions.push(t.clone());
        t
    }

    /// (quorum met, alert level met, any core indicator fired), over the rolling jitter window.
    pub fn quorum(&mut self, r: &Readings) -> (bool, bool, bool) {
        let fired: IndicatorSet = VOTERS.into_iter().filter(|i| r.get(*i).fired).collect();
        // Hysteresis: a core indicator that fired keeps its vote while its reading stays at
        // `quorum_release_ratio` of its threshold (1: released at the threshold, no hysteresis).
        let h = self.cfg.quorum_release_ratio;
        let held = if h < 1.0 {
            let prev = self.recent.back().copied().unwrap_or(IndicatorSet::EMPTY);
            fired.union(
                CORE.into_iter()
                    .filter(|i| {
                        let rd = r.get(*i);
                        prev.contains(*i) && rd.ready && rd.value.abs() >= h * rd.threshold.abs()
                    })
                    .collect(),
            )
        } else {
            fired
        };
        self.counted = slide(&mut self.recent, self.ticks, held);
        let raw = slide(&mut self.recent_fired, self.ticks, fired);
        let raw_n = raw.intersection(CORE_SET).len();
        let spike = self.counted.contains(Indicator::MessageVelocity);
        let n = self.counted.intersection(CORE_SET).len();
        // A spike lowers the quorum, never raises it (the config may set them either way round).
        let need = if spike {
            self.cfg.core_quorum_velocity.min(self.cfg.core_quorum)
        } else {
            self.cfg.core_quorum
        };
        if self.cfg.quorum_needs_price {
            let priced = !self.counted.is_disjoint(PRICE);
            let met = n >= need && (priced || self.moved(r));
            return (met, !raw.is_disjoint(PRICE), raw_n >= 1);
        }
        (n >= need, raw_n >= 1, raw_n >= 1)
    }

    /// Whether the price's move stands for the price evidence of the quorum: with
    /// `quorum_needs_price`, no price indicator counted and a move of `price_move_sigmas` (0: never).
    fn moved(&self, r: &Readings) -> bool {
        let z = self.cfg.price_move_sigmas;
        self.cfg.quorum_needs_price
            && self.counted.is_disjoint(PRICE)
            && z > 0.0
            && r.price_move >= z
    }

    /// The reason's account of `r`: `describe`, and the price's move when it stood for the price.
    fn account(&self, r: &Readings) -> String {
        let core = describe(r, self.counted);
        if self.moved(r) {
            format!("{core}; price moved {} sigmas", format_g(r.price_move, 3))
        } else {
            core
        }
    }

    /// Whether the baselines learn the second that ended at `now` (see the module documentation).
    pub fn learns(&self, now: i64) -> bool {
        let base = secs_ns(self.cfg.baseline_secs as u64);
        match self.state {
            State::Sleep | State::Alert => self.stir_since.is_none_or(|stir| now - stir >= base),
            State::Recovery => now - self.since >= base,
            State::Active | State::Shutdown => false,
        }
    }

    /// Follows the stir in SLEEP and ALERT: over once no core indicator fired for
    /// `recovery_confirm_secs` (ACTIVE and RECOVERY have their own rule in `learns`). True when it
    /// ended at `ts`, which ends an ALERT too.
    fn stir(&mut self, ts: i64, stirring: bool) -> bool {
        if !matches!(self.state, State::Sleep | State::Alert) {
            self.stir_since = None;
            self.unstirred_since = None;
        } else if stirring {
            self.unstirred_since = None;
            if self.stir_since.is_none() {
                self.stir_since = Some(ts);
            }
        } else if self.stir_since.is_some()
            && lasting(
                &mut self.unstirred_since,
                true,
                ts,
                self.cfg.recovery_confirm_secs,
            )
        {
            self.stir_since = None;
            self.unstirred_since = None;
            return true;
        }
        false
    }

    /// One second of event time: the readings at its end (`r.ts_ns`); the transition it made, if
    /// any.
    pub fn step(&mut self, r: &Readings) -> Option<Transition> {
        let ts = r.ts_ns;
        let (met, alert, stirring) = self.quorum(r);
        let calmed = self.stir(ts, stirring);
        if met {
            self.quorum_since = Some(self.quorum_since.unwrap_or(ts));
        } else {
            self.quorum_since = None;
        }
        // Python's `(ts - since) / NS`: a correctly rounded int division, the same as this while
        // the difference fits 53 bits (104 days of nanoseconds).
        let held_s = match self.quorum_since {
            None => 0.0,
            Some(since) => (ts - since) as f64 / NS as f64,
        };
        let held = met && held_s > self.cfg.active_confirm_secs;
        let hold = self.cfg.active_hold_secs;
        let rc = self.cfg.recovery_confirm_secs;
        // Python's cases in order (SLEEP if held, SLEEP if alert, ALERT if held, ALERT if calmed...);
        // a guard is evaluated only when its state matches, as Python's `_lasting` side effects are.
        match self.state {
            State::Sleep | State::Alert if held => {
                let reason = format!("quorum held {}s: {}", g(held_s), self.account(r));
                Some(self.go(ts, State::Active, reason))
            }
            State::Sleep if alert => {
                let reason = format!("alert level: {}", self.account(r));
                Some(self.go(ts, State::Alert, reason))
            }
            State::Alert if calmed => {
                Some(self.go(ts, State::Sleep, format!("no core indicator for {rc}s")))
            }
            State::Active if lasting(&mut self.lost_since, !met, ts, hold) => {
                self.lost_since = None;
                self.stable_since = None;
                let reason = format!("quorum lost for {hold}s: {}", self.account(r));
                Some(self.go(ts, State::Recovery, reason))
            }
            State::Recovery if held => {
                self.stable_since = None;
                let reason = format!("quorum held {}s again: {}", g(held_s), self.account(r));
                Some(self.go(ts, State::Active, reason))
            }
            State::Recovery if lasting(&mut self.stable_since, !stirring, ts, rc) => {
                self.stable_since = None;
                let reason = format!("stable for {rc}s: {}", self.account(r));
                Some(self.go(ts, State::Sleep, reason))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
