//! `machine`'s unit and property tests, by topic, and the helpers they share.
mod hysteresis;
mod quorum;
mod reasons;
mod timings;
mod types;

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

fn readings_valued(sec: i64, fired: IndicatorSet, value: impl Fn(Indicator) -> f64) -> Readings {
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
    drive_with(seq, &cfg())
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

/// The defaults without the quorum's hysteresis: the readings of these tests are all of value 1 (at
/// threshold 1), fired or not, so a hysteresis would hold every indicator once fired. Tested apart
/// (`machine::tests::hysteresis`). The quorum needs the price (the synthetic book's overlay,
/// `config/synthetic_book.toml`); `anyone` is the design's any 3 of 5.
fn cfg() -> DetectorConfig {
    DetectorConfig {
        quorum_release_ratio: 1.0,
        quorum_needs_price: true,
        ..DetectorConfig::default()
    }
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
