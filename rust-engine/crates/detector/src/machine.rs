//! The detector's state machine, stepped once a second of event time with that second's readings
//! (the Python `flashcrash.event_detector.machine`).
//!
//! The quorum: at least `core_quorum` of the five core indicators fire, or `core_quorum_velocity`
//! during a message-velocity spike, and (with `quorum_needs_price`) volatility or acceleration is
//! among them. A crash is a move of the price: order flow (volume delta, velocity) and the book
//! (spread, imbalance) confirm one and complete the quorum, but they are not independent evidence
//! of their own: one burst of one-sided trades raises volume delta and velocity together, and a
//! book derived from the trades (the backtest's synthetic book) widens its spread with the same
//! burst's price range (docs/benchmarks/detection.md, "What made the false ACTIVEs").
//!
//! The alert level is what could start a quorum: a price indicator firing (with
//! `quorum_needs_price`; without it, any core indicator). Volume delta or spread alone does not
//! wake the detector (in thin markets they fire in a good share of the calm seconds). Once awake,
//! it stays alert while any core indicator fires (a hysteresis: woken by the price, kept awake by
//! the flow and the book).
//!
//! The baselines learn apart from the published state: they pause through a *stir*, from the first
//! core indicator of any kind (in SLEEP or ALERT) to `recovery_confirm_secs` without one, and
//! through ACTIVE and RECOVERY. A stir or a RECOVERY lasting `baseline_secs` is a new regime, not a
//! crash building: the baselines learn it then
//! ([`StateMachine::learns`](crate::machine::StateMachine::learns)). The first sign of a crash is
//! often order flow alone, and a baseline that learnt those minutes would no longer see the crash.
//!
//! * SLEEP → ALERT at the alert level;
//! * ALERT → ACTIVE when the quorum has held for more than `active_confirm_secs`; ALERT → SLEEP
//!   when its stir ends (`recovery_confirm_secs` without any core indicator);
//! * ACTIVE → RECOVERY when the quorum has been lost for `active_hold_secs`;
//! * RECOVERY → ACTIVE when the quorum holds again for more than `active_confirm_secs`; RECOVERY →
//!   SLEEP after `recovery_confirm_secs` without any core indicator;
//! * any → SHUTDOWN when the session ends.
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
/// `quorum_needs_price` a quorum counts only when one of them is in it.
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
    /// The voters fired at each of the last `ticks` steps (Python's `deque(maxlen=ticks)`).
    recent: VecDeque<IndicatorSet>,
    /// The voters fired within the jitter window at the last step.
    pub counted: IndicatorSet,
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
        self.unstirred_since = None;
        self.recent.clear();
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
        while self.recent.len() >= self.ticks.max(1) {
            self.recent.pop_front();
        }
        self.recent.push_back(fired);
        self.counted = self
            .recent
            .iter()
            .fold(IndicatorSet::EMPTY, |a, b| a.union(*b));
        let spike = self.counted.contains(Indicator::MessageVelocity);
        let n = self.counted.intersection(CORE_SET).len();
        let need = if spike {
            self.cfg.core_quorum_velocity
        } else {
            self.cfg.core_quorum
        };
        if self.cfg.quorum_needs_price {
            let priced = !self.counted.is_disjoint(PRICE);
            return (n >= need && priced, priced, n >= 1);
        }
        (n >= need, n >= 1, n >= 1)
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
                let reason = format!("quorum held {}s: {}", g(held_s), describe(r, self.counted));
                Some(self.go(ts, State::Active, reason))
            }
            State::Sleep if alert => {
                let reason = format!("alert level: {}", describe(r, self.counted));
                Some(self.go(ts, State::Alert, reason))
            }
            State::Alert if calmed => {
                Some(self.go(ts, State::Sleep, format!("no core indicator for {rc}s")))
            }
            State::Active if lasting(&mut self.lost_since, !met, ts, hold) => {
                self.lost_since = None;
                self.stable_since = None;
                let reason = format!("quorum lost for {hold}s: {}", describe(r, self.counted));
                Some(self.go(ts, State::Recovery, reason))
            }
            State::Recovery if held => {
                self.stable_since = None;
                let reason = format!(
                    "quorum held {}s again: {}",
                    g(held_s),
                    describe(r, self.counted)
                );
                Some(self.go(ts, State::Active, reason))
            }
            State::Recovery if lasting(&mut self.stable_since, !stirring, ts, rc) => {
                self.stable_since = None;
                let reason = format!("stable for {rc}s: {}", describe(r, self.counted));
                Some(self.go(ts, State::Sleep, reason))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readings::{Pattern, Reading};

    const S: i64 = NS;
    const V: Indicator = Indicator::Volatility;
    const A: Indicator = Indicator::Acceleration;
    const OB: Indicator = Indicator::Obi;
    const SP: Indicator = Indicator::Spread;
    const VD: Indicator = Indicator::VolumeDelta;
    const MV: Indicator = Indicator::MessageVelocity;
    const NONE: IndicatorSet = IndicatorSet::EMPTY;
    /// The quorum of the defaults: three core indicators, a price one among them.
    const Q: IndicatorSet = IndicatorSet::of(&[V, A, VD]);
    const Q4: IndicatorSet = IndicatorSet::of(&[V, A, OB, VD]);

    fn set(indicators: &[Indicator]) -> IndicatorSet {
        IndicatorSet::of(indicators)
    }

    /// `n` seconds of `fired`.
    fn rep(fired: IndicatorSet, n: usize) -> Vec<IndicatorSet> {
        vec![fired; n]
    }

    /// Readings at `sec` s: every indicator of value 1 and threshold 1, those of `fired` fired.
    fn readings(sec: i64, fired: IndicatorSet) -> Readings {
        readings_valued(sec, fired, |_| 1.0)
    }

    fn readings_valued(
        sec: i64,
        fired: IndicatorSet,
        value: impl Fn(Indicator) -> f64,
    ) -> Readings {
        let by_indicator = Indicator::ALL.map(|i| Reading {
            indicator: i,
            value: value(i),
            threshold: 1.0,
            fired: fired.contains(i),
            strength: if fired.contains(i) { 1.0 } else { 0.0 },
            ready: true,
        });
        Readings::without_book(sec * S, by_indicator, Pattern::None, f64::NAN)
    }

    /// Steps a new machine through `seq` (one set a second from 0 s): the state after each second.
    fn drive_with(seq: &[IndicatorSet], cfg: &DetectorConfig) -> (Vec<State>, StateMachine) {
        let mut m = StateMachine::new(cfg);
        let mut out = Vec::with_capacity(seq.len());
        for (sec, fired) in seq.iter().enumerate() {
            m.step(&readings(sec as i64, *fired));
            out.push(m.state);
        }
        (out, m)
    }

    fn drive(seq: &[IndicatorSet]) -> (Vec<State>, StateMachine) {
        drive_with(seq, &DetectorConfig::default())
    }

    fn last(states: &[State]) -> State {
        *states.last().expect("at least one second")
    }

    /// (second, state entered) of each transition.
    fn entered(m: &StateMachine) -> Vec<(i64, State)> {
        m.transitions
            .iter()
            .map(|t| (t.ts_ns / S, t.current))
            .collect()
    }

    fn cfg() -> DetectorConfig {
        DetectorConfig::default()
    }

    /// The quorums and timings of the configuration tests: none of them the default.
    fn other() -> DetectorConfig {
        DetectorConfig {
            active_confirm_secs: 4.0,
            active_hold_secs: 3,
            recovery_confirm_secs: 10,
            core_quorum: 4,
            core_quorum_velocity: 3,
            ..cfg()
        }
    }

    fn anyone() -> DetectorConfig {
        DetectorConfig {
            quorum_needs_price: false,
            ..cfg()
        }
    }

    fn jitter(ms: u64) -> DetectorConfig {
        DetectorConfig {
            jitter_buffer_ms: ms,
            ..cfg()
        }
    }

    #[test]
    fn calm_sleeps() {
        let (s, m) = drive(&rep(NONE, 100));
        assert!(s.iter().all(|s| *s == State::Sleep));
        assert!(m.transitions.is_empty());
    }

    #[test]
    fn three_core_for_more_than_two_seconds_activates() {
        let (s, m) = drive(&[NONE, Q, Q, Q, Q]);
        assert_eq!(
            s,
            [
                State::Sleep,
                State::Alert,
                State::Alert,
                State::Alert,
                State::Active
            ]
        );
        assert!(m
            .transitions
            .last()
            .unwrap()
            .reason
            .contains("3/5 core fired"));
    }

    #[test]
    fn two_seconds_are_not_enough() {
        // two seconds of quorum, held one more by the jitter window: 2 s, not more than 2 s
        let (s, _) = drive(&[rep(Q, 2), rep(NONE, 3)].concat());
        assert!(!s.contains(&State::Active));
    }

    #[test]
    fn velocity_spike_lowers_the_quorum_to_two() {
        assert!(!drive(&rep(set(&[V, SP]), 6)).0.contains(&State::Active));
        assert_eq!(last(&drive(&rep(set(&[V, SP, MV]), 6)).0), State::Active);
    }

    #[test]
    fn a_quorum_needs_a_price_indicator() {
        // Order flow and the book alone (no volatility, no acceleration): not even an alert. On the
        // 10 Oct 2025 files every calm-hour false ACTIVE was spread + volume delta + a velocity
        // spike.
        for fired in [
            set(&[SP, VD, MV]),
            set(&[SP, VD, OB]),
            set(&[SP, VD, OB, MV]),
        ] {
            let (s, _) = drive(&rep(fired, 20));
            assert!(s.iter().all(|s| *s == State::Sleep), "{fired:?}");
        }
        struct Case {
            fired: IndicatorSet,
            cfg: DetectorConfig,
        }
        let cases = [
            // one price indicator with the others makes the quorum
            Case {
                fired: set(&[A, VD, MV]),
                cfg: cfg(),
            },
            Case {
                fired: set(&[V, SP, VD]),
                cfg: cfg(),
            },
            Case {
                fired: set(&[V, A, OB]),
                cfg: cfg(),
            },
            // quorum_needs_price = false: any three (two in a spike) count
            Case {
                fired: set(&[SP, VD, MV]),
                cfg: anyone(),
            },
            Case {
                fired: set(&[SP, VD, OB]),
                cfg: anyone(),
            },
        ];
        for c in cases {
            assert_eq!(
                last(&drive_with(&rep(c.fired, 6), &c.cfg).0),
                State::Active,
                "{:?}",
                c.fired
            );
        }
    }

    #[test]
    fn the_alert_level_is_a_price_indicator() {
        // what could start a quorum wakes the detector; volume delta or spread alone does not
        for one in [V, A] {
            assert_eq!(drive(&[set(&[one])]).0, [State::Alert]);
        }
        for one in [OB, SP, VD, MV] {
            assert_eq!(drive(&rep(set(&[one]), 5)).0, [State::Sleep; 5]);
        }
        // once awake, the detector stays alert while any core indicator fires (hysteresis)
        let rc = cfg().recovery_confirm_secs as usize;
        let (s, _) = drive(&[rep(set(&[A]), 1), rep(set(&[SP, VD]), rc + 2)].concat());
        assert!(s.iter().all(|s| *s == State::Alert));
        // quorum_needs_price = false: any core indicator is the alert level
        assert_eq!(drive_with(&[set(&[VD])], &anyone()).0, [State::Alert]);
    }

    #[test]
    fn recovery_needs_a_price_indicator_to_reactivate() {
        let (s, _) = drive(&[rep(Q, 5), rep(NONE, 8), rep(set(&[SP, VD, MV]), 6)].concat());
        assert_eq!(s[4], State::Active);
        assert_eq!(last(&s), State::Recovery);
    }

    #[test]
    fn one_second_gap_is_absorbed_by_the_jitter_window() {
        let (s, _) = drive(&[Q, Q, set(&[V, A]), Q, Q]);
        assert_eq!(last(&s), State::Active);
    }

    #[test]
    fn recovery_then_sleep() {
        let c = cfg();
        let seq = [
            rep(Q, 5),
            rep(set(&[V]), 6),
            rep(NONE, c.recovery_confirm_secs as usize + 2),
        ]
        .concat();
        let (s, m) = drive(&seq);
        assert_eq!(s[4], State::Active);
        let i = s
            .iter()
            .position(|s| *s == State::Recovery)
            .expect("a RECOVERY");
        // the jitter window holds the quorum one more second
        assert_eq!(i, 5 + 1 + c.active_hold_secs as usize);
        assert_eq!(last(&s), State::Sleep);
        let states: Vec<State> = m.transitions.iter().map(|t| t.current).collect();
        assert_eq!(
            states,
            [State::Alert, State::Active, State::Recovery, State::Sleep]
        );
        assert!(m.transitions.iter().all(|t| !t.reason.is_empty()));
        let previous: Vec<State> = m.transitions.iter().map(|t| t.previous).collect();
        assert_eq!(
            previous,
            [State::Sleep, State::Alert, State::Active, State::Recovery]
        );
    }

    #[test]
    fn recovery_sleeps_exactly_recovery_confirm_secs_after_the_last_core_indicator() {
        let rc = cfg().recovery_confirm_secs as usize;
        let rc_i = rc as i64;
        // V fires last at 10 s; the jitter window counts it at 11 s too (the second RECOVERY
        // begins). The first second without a core indicator is 12 s: SLEEP at 12 + rc, not a
        // second earlier.
        let (s, m) = drive(&[rep(Q, 5), rep(set(&[V]), 6), rep(NONE, rc + 20)].concat());
        assert_eq!(s[11], State::Recovery);
        assert_eq!(m.transitions[2].ts_ns, 11 * S);
        assert!(s[11..12 + rc].iter().all(|s| *s == State::Recovery));
        assert!(s[12 + rc..].iter().all(|s| *s == State::Sleep));
        let t = m.transitions.last().unwrap();
        assert_eq!((t.current, t.ts_ns), (State::Sleep, (12 + rc_i) * S));
        // Any core indicator (spread alone, no quorum) restarts the wait: SLEEP rc after its last
        // count.
        let (s, m) = drive(
            &[
                rep(Q, 5),
                rep(NONE, 20),
                rep(set(&[SP]), 1),
                rep(NONE, rc + 20),
            ]
            .concat(),
        );
        assert_eq!(s[11], State::Recovery);
        assert_eq!(s[12 + rc], State::Recovery);
        assert!(s[11..27 + rc].iter().all(|s| *s == State::Recovery));
        assert!(s[27 + rc..].iter().all(|s| *s == State::Sleep));
        assert_eq!(m.transitions.last().unwrap().ts_ns, (27 + rc_i) * S);
    }

    #[test]
    fn recovery_reactivates() {
        let (s, _) = drive(&[rep(Q, 5), rep(NONE, 8), rep(Q, 5)].concat());
        assert!(s.contains(&State::Recovery));
        assert_eq!(last(&s), State::Active);
    }

    #[test]
    fn alert_falls_asleep_after_calm() {
        // the jitter window holds {V} one more second, then 30 s of calm
        let rc = cfg().recovery_confirm_secs as usize;
        let (s, m) = drive(&[rep(set(&[V]), 1), rep(NONE, rc + 2)].concat());
        assert_eq!(s[0], State::Alert);
        assert_eq!(last(&s), State::Sleep);
        assert_eq!(
            m.transitions.last().unwrap().reason,
            "no core indicator for 30s"
        );
    }

    #[test]
    fn baselines_pause_while_any_core_indicator_fires_and_learn_a_stir_longer_than_the_window() {
        // A stir (any core indicator, price or not) pauses learning until recovery_confirm_secs
        // without one, or until it has lasted baseline_secs (a new regime); volume delta alone
        // stays SLEEP.
        let c = cfg();
        let (calm, base) = (c.recovery_confirm_secs as usize, c.baseline_secs);
        let (calm_i, base_i) = (calm as i64, base as i64);
        // the jitter window holds VD one more second
        let (s, mut m) = drive(&[rep(NONE, 1), rep(set(&[VD]), 1), rep(NONE, calm + 1)].concat());
        assert!(s.iter().all(|s| *s == State::Sleep));
        assert!(!m.learns((calm_i + 2) * S), "29 s without");
        m.step(&readings(calm_i + 3, NONE));
        assert!(m.learns((calm_i + 3) * S));
        let (s, m) = drive(&[rep(NONE, 1), rep(set(&[VD]), base + 1)].concat());
        assert!(s.iter().all(|s| *s == State::Sleep));
        assert!(!m.learns(base_i * S));
        assert!(m.learns((base_i + 1) * S));
        // ACTIVE never learns; RECOVERY learns once it has lasted baseline_secs
        let mut m = StateMachine::new(&c);
        for (state, learns_late) in [(State::Recovery, true), (State::Active, false)] {
            m.state = state;
            m.since = 1_000 * S;
            assert!(!m.learns(1_000 * S + base_i * S - 1), "{state}");
            assert_eq!(m.learns(1_000 * S + base_i * S), learns_late, "{state}");
        }
        m.state = State::Shutdown;
        assert!(!m.learns(i64::MAX / 2));
        // a new machine learns: no stir
        assert!(StateMachine::new(&c).learns(0));
    }

    #[test]
    fn the_quorums_come_from_the_configuration() {
        // core_quorum 4: three core indicators are not enough; core_quorum_velocity 3: two with a
        // velocity spike are not, three are.
        let o = other();
        assert!(!drive_with(&rep(Q, 10), &o).0.contains(&State::Active));
        assert!(!drive_with(&rep(set(&[V, A, MV]), 10), &o)
            .0
            .contains(&State::Active));
        assert_eq!(
            last(&drive_with(&rep(set(&[V, A, VD, MV]), 10), &o).0),
            State::Active
        );
        assert_eq!(last(&drive_with(&rep(Q4, 10), &o).0), State::Active);
    }

    #[test]
    fn the_timings_come_from_the_configuration() {
        // active_confirm_secs 4: the quorum from 0 s is held more than 4 s at 5 s (ACTIVE then, not
        // at 3 s). active_hold_secs 3: the quorum last counts at 6 s (the jitter window's second
        // tick), is lost from 7 s, RECOVERY at 7 + 3 = 10 s. recovery_confirm_secs 10: RECOVERY's
        // first second without a core indicator is 11 s, SLEEP at 11 + 10 = 21 s.
        let (_, m) = drive_with(&[rep(Q4, 6), rep(NONE, 30)].concat(), &other());
        assert_eq!(
            entered(&m),
            [
                (0, State::Alert),
                (5, State::Active),
                (10, State::Recovery),
                (21, State::Sleep)
            ]
        );
        // ALERT -> SLEEP after recovery_confirm_secs of calm: V at 0 s, counted at 1 s, calm from 2
        // s.
        let (_, m) = drive_with(&[rep(set(&[V]), 1), rep(NONE, 30)].concat(), &other());
        assert_eq!(entered(&m), [(0, State::Alert), (12, State::Sleep)]);
    }

    #[test]
    fn the_jitter_window_follows_jitter_buffer_ms() {
        // The quorum counts an indicator fired at any of the last ceil(jitter_buffer_ms / 1000)
        // ticks: with 1000 ms a one-second gap breaks the quorum (restarting its 2-s hold), with
        // 3000 ms a two-second gap does not.
        let gap1 = [rep(Q, 2), rep(set(&[V, A]), 1), rep(Q, 3)].concat();
        assert!(!drive_with(&gap1, &jitter(1000)).0.contains(&State::Active));
        assert_eq!(
            drive(&gap1).0[3],
            State::Active,
            "1500 ms: two ticks, the gap is absorbed"
        );
        let gap2 = [rep(Q, 2), rep(set(&[V, A]), 2), rep(Q, 1)].concat();
        assert_eq!(drive_with(&gap2, &jitter(3000)).0[3], State::Active);
        struct Case {
            ms: u64,
            ticks: usize,
        }
        for c in [
            Case { ms: 0, ticks: 1 },
            Case { ms: 1, ticks: 1 },
            Case { ms: 1000, ticks: 1 },
            Case { ms: 1001, ticks: 2 },
            Case { ms: 1500, ticks: 2 },
            Case { ms: 3000, ticks: 3 },
            Case {
                ms: 10_000,
                ticks: 10,
            },
        ] {
            assert_eq!(
                StateMachine::new(&jitter(c.ms)).ticks,
                c.ticks,
                "{} ms",
                c.ms
            );
        }
    }

    #[test]
    fn the_quorum_hold_restarts_when_the_quorum_is_lost() {
        // Two seconds of quorum, three without, one with: the hold counts from the new quorum, not
        // the first one (no ACTIVE).
        let (s, _) = drive(&[rep(Q, 2), rep(set(&[V]), 3), rep(Q, 3)].concat());
        assert!(!s.contains(&State::Active));
    }

    #[test]
    fn a_reactivation_needs_the_full_hold_again_before_recovery() {
        // ACTIVE -> RECOVERY -> ACTIVE, then the quorum drops: RECOVERY again only active_hold_secs
        // after this loss, not at once from the timer of the first loss (jitter window of one
        // tick).
        let (_, m) = drive_with(
            &[rep(Q, 4), rep(NONE, 6), rep(Q, 4), rep(NONE, 8)].concat(),
            &jitter(1000),
        );
        assert_eq!(
            entered(&m),
            [
                (0, State::Alert),
                (3, State::Active),
                (9, State::Recovery),  // lost from 4 s, for 5 s
                (13, State::Active),   // the quorum from 10 s held more than 2 s
                (19, State::Recovery), // lost from 14 s, for 5 s
            ]
        );
    }

    #[test]
    fn resume_restarts_the_timers_and_the_jitter_window() {
        // After `resume` (a feed outage) a quorum must hold again in observed time, and what fired
        // before the outage no longer counts.
        let mut m = StateMachine::new(&cfg());
        for sec in 0..2 {
            m.step(&readings(sec, Q));
        }
        assert_eq!(m.state, State::Alert);
        m.resume();
        m.step(&readings(10, NONE));
        assert_eq!(m.counted, IndicatorSet::EMPTY);
        assert_eq!(m.state, State::Alert);
        let mut m = StateMachine::new(&cfg());
        for sec in 0..2 {
            m.step(&readings(sec, Q));
        }
        m.resume();
        for sec in [10, 11] {
            // held 1 s after the outage (3 s counting the seconds before it)
            m.step(&readings(sec, Q));
        }
        assert_eq!(m.state, State::Alert);
        m.step(&readings(13, Q)); // held 3 s from 10 s
        assert_eq!(m.state, State::Active);
    }

    #[test]
    fn every_transition_has_the_python_reason() {
        // (The Python test also checked the INFO log line `detector {previous} -> {current}:
        // {reason}`: the Python wrapper logs the transitions now.)
        let (_, m) = drive(&[set(&[V]), Q, Q, Q, Q]);
        let reasons: Vec<&str> = m.transitions.iter().map(|t| t.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "alert level: 1/5 core fired (volatility 1)",
                "quorum held 3s: 3/5 core fired (volatility 1, acceleration 1, volume_delta 1)",
            ]
        );
        let (_, m) = drive(&rep(set(&[V, SP, MV]), 4));
        assert_eq!(
            m.transitions.last().unwrap().reason,
            "quorum held 3s: 2/5 core fired (volatility 1, spread 1); velocity spike 1x"
        );
    }

    #[test]
    fn the_reasons_of_every_transition_kind() {
        // RECOVERY and SLEEP reasons, and `quorum held ...s again`, from the Python detector.
        let (_, m) = drive(&[rep(Q, 5), rep(NONE, 8), rep(Q, 5), rep(NONE, 50)].concat());
        let got: Vec<(i64, &str)> = m
            .transitions
            .iter()
            .map(|t| (t.ts_ns / S, t.reason.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    0,
                    "alert level: 3/5 core fired (volatility 1, acceleration 1, volume_delta 1)"
                ),
                (
                    3,
                    "quorum held 3s: 3/5 core fired (volatility 1, acceleration 1, \
                     volume_delta 1)",
                ),
                (11, "quorum lost for 5s: 0/5 core fired (none)"),
                (
                    16,
                    "quorum held 3s again: 3/5 core fired (volatility 1, acceleration 1, \
                     volume_delta 1)",
                ),
                (24, "quorum lost for 5s: 0/5 core fired (none)"),
                (55, "stable for 30s: 0/5 core fired (none)"),
            ]
        );
    }

    #[test]
    fn describe_formats_values_as_python_3g() {
        let values = |i: Indicator| match i {
            Indicator::Volatility => 12.3456,
            Indicator::Acceleration => -0.000012345,
            Indicator::Obi => f64::NAN,
            Indicator::Spread => 1234.5,
            Indicator::VolumeDelta => f64::INFINITY,
            Indicator::MessageVelocity => 4.25678,
            _ => 0.0,
        };
        let r = readings_valued(0, NONE, values);
        assert_eq!(
            describe(&r, set(&[V, A, OB, SP, VD, MV])),
            "5/5 core fired (volatility 12.3, acceleration -1.23e-05, obi nan, spread 1.23e+03, \
             volume_delta inf); velocity spike 4.26x"
        );
        assert_eq!(describe(&r, NONE), "0/5 core fired (none)");
        assert_eq!(
            describe(&r, set(&[MV])),
            "0/5 core fired (none); velocity spike 4.26x"
        );
        // the pattern and liquidity are not core: never listed
        assert_eq!(
            describe(&r, set(&[Indicator::Pattern, Indicator::Liquidity, SP])),
            "1/5 core fired (spread 1.23e+03)"
        );
    }

    #[test]
    fn fractional_holds_are_written_as_python_g() {
        // active_confirm_secs 0.5 with quorum seconds 0.25 s apart: "0.75s".
        let c = DetectorConfig {
            active_confirm_secs: 0.5,
            ..cfg()
        };
        let mut m = StateMachine::new(&c);
        let mut last = None;
        for k in 0..4 {
            let mut r = readings(0, Q);
            r.ts_ns = 10 * S + k * S / 4;
            last = m.step(&r).or(last);
        }
        let t = last.expect("a transition");
        assert_eq!(
            t.reason,
            "quorum held 0.75s: 3/5 core fired (volatility 1, acceleration 1, volume_delta 1)"
        );
        assert_eq!(
            (t.previous, t.current, t.ts_ns),
            (State::Alert, State::Active, 10 * S + 3 * S / 4)
        );
    }

    #[test]
    fn go_keeps_and_hands_back_the_transition() {
        let mut m = StateMachine::new(&cfg());
        let t = m.go(7 * S, State::Shutdown, "session end".to_owned());
        assert_eq!(
            t,
            Transition {
                ts_ns: 7 * S,
                previous: State::Sleep,
                current: State::Shutdown,
                reason: "session end".to_owned()
            }
        );
        assert_eq!(
            (m.state, m.since, m.transitions.as_slice()),
            (State::Shutdown, 7 * S, [t].as_slice())
        );
        // SHUTDOWN is final for `step`
        assert_eq!(m.step(&readings(8, Q)), None);
        assert_eq!(m.step(&readings(20, Q)), None);
    }

    #[test]
    fn core_fired_counts_only_the_five_core_indicators() {
        // Velocity, pattern and liquidity firing do not count as core indicators.
        let r = readings(
            0,
            set(&[V, SP, MV, Indicator::Pattern, Indicator::Liquidity]),
        );
        assert_eq!(r.core_fired(), 2);
    }

    #[test]
    fn states_are_the_python_values() {
        let all = [
            State::Sleep,
            State::Alert,
            State::Active,
            State::Recovery,
            State::Shutdown,
        ];
        let names: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["SLEEP", "ALERT", "ACTIVE", "RECOVERY", "SHUTDOWN"]);
        for s in all {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
    }

    #[test]
    fn indicator_sets() {
        assert_eq!(CORE_SET.len(), 5);
        assert_eq!(PRICE, set(&[V, A]));
        assert!(!CORE_SET.contains(MV) && CORE_SET.contains(VD));
        assert!(set(&[SP, VD]).is_disjoint(PRICE) && !set(&[A]).is_disjoint(PRICE));
        assert_eq!(
            set(&[V, MV]).union(set(&[SP])).iter().collect::<Vec<_>>(),
            [V, SP, MV]
        );
        assert_eq!(set(&[V, MV]).intersection(CORE_SET), set(&[V]));
        assert!(NONE.is_empty() && !Q.is_empty());
        assert_eq!(Q.with(V), Q);
        assert_eq!([V, A, VD].into_iter().collect::<IndicatorSet>(), Q);
        assert_eq!(
            Indicator::ALL.into_iter().collect::<IndicatorSet>().len(),
            8
        );
    }

    #[test]
    fn a_machine_round_trips_through_json() {
        let (_, m) = drive(&[rep(Q, 5), rep(set(&[V]), 3)].concat());
        let json = serde_json::to_string(&m).unwrap();
        let mut back: StateMachine = serde_json::from_str(&json).unwrap();
        // The history and the configuration are not in it: the restoring detector sets its own.
        assert!(back.transitions.is_empty() && !m.transitions.is_empty());
        back.transitions = m.transitions.clone();
        back.set_config(&DetectorConfig::default());
        assert_eq!(back, m);
        let mut m = m;
        for sec in 8..60 {
            let r = readings(sec, if sec % 7 == 0 { set(&[SP]) } else { NONE });
            assert_eq!(back.step(&r), m.step(&r));
        }
        assert_eq!(back, m);
    }
}
