//! `machine`'s unit and property tests.
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

/// Steps a new machine through `seq`: (fired, price move in baseline sigmas) a second from 0 s.
fn drive_moving(seq: &[(IndicatorSet, f64)], cfg: &DetectorConfig) -> StateMachine {
    let mut m = StateMachine::new(cfg);
    for (sec, (fired, moved)) in seq.iter().enumerate() {
        let r = Readings {
            price_move: *moved,
            ..readings(sec as i64, *fired)
        };
        m.step(&r);
    }
    m
}

#[test]
fn a_price_move_stands_for_the_price_indicators() {
    // A slide: order flow, the book and a velocity spike fire with the price moving steadily one
    // way, neither volatility nor acceleration firing. With a move of `price_move_sigmas` (4.5 by
    // default) it is a quorum, which is not the alert level: SLEEP until it has held for more
    // than 2 s, then ACTIVE, the reason saying the move.
    let flow = set(&[SP, VD, MV]);
    let m = drive_moving(&[(flow, 4.5); 4], &cfg());
    assert_eq!(entered(&m), [(3, State::Active)]);
    assert_eq!(
        m.transitions[0].reason,
        "quorum held 3s: 2/5 core fired (spread 1, volume_delta 1); velocity spike 1x; \
         price moved 4.5 sigmas"
    );
    // short of the move, or without it (NaN: the baseline is not warm), or with the move off: asleep
    for (moved, c) in [
        (4.49, cfg()),
        (f64::NAN, cfg()),
        (
            100.0,
            DetectorConfig {
                price_move_sigmas: 0.0,
                ..cfg()
            },
        ),
    ] {
        let m = drive_moving(&[(flow, moved); 6], &c);
        assert_eq!(m.state, State::Sleep, "{moved}");
    }
    // a move is no quorum by itself, and wakes nothing alone; nor does its quorum for 2 s
    let m = drive_moving(&[(set(&[VD]), 50.0); 6], &cfg());
    assert_eq!(m.state, State::Sleep);
    let m = drive_moving(
        &[[(flow, 9.0); 3].as_slice(), &[(flow, 1.0); 40]].concat(),
        &cfg(),
    );
    assert!(m.transitions.is_empty(), "{:?}", m.transitions);
    // once awake (a price indicator), a slide's quorum takes ALERT to ACTIVE
    let m = drive_moving(
        &[[(set(&[A]), 0.0)].as_slice(), &[(flow, 5.0); 4]].concat(),
        &cfg(),
    );
    assert_eq!(entered(&m), [(0, State::Alert), (4, State::Active)]);
    // with a price indicator in the quorum, the move is not mentioned
    let m = drive_moving(&[(set(&[A, VD, MV]), 9.0); 4], &cfg());
    assert_eq!(
        m.transitions[1].reason,
        "quorum held 3s: 2/5 core fired (acceleration 1, volume_delta 1); velocity spike 1x"
    );
    // quorum_needs_price = false: the move plays no part
    let m = drive_moving(&[(flow, 9.0); 4], &anyone());
    assert_eq!(
        m.transitions[1].reason,
        "quorum held 3s: 2/5 core fired (spread 1, volume_delta 1); velocity spike 1x"
    );
}

proptest::proptest! {
    /// Over any seconds of voters and moves: off (`price_move_sigmas` 0) the move changes nothing,
    /// and on it never raises an ALERT (only a price indicator does).
    #[test]
    fn the_move_matters_only_when_on_and_never_alerts(
        seq in proptest::collection::vec((0u8..64, 0.0f64..12.0), 1..120),
    ) {
        let seq: Vec<(IndicatorSet, f64)> = seq
            .into_iter()
            .map(|(bits, moved)| {
                let fired = VOTERS.into_iter().enumerate().filter(|(k, _)| bits & (1 << k) != 0);
                (fired.map(|(_, i)| i).collect(), moved)
            })
            .collect();
        let off = DetectorConfig { price_move_sigmas: 0.0, ..cfg() };
        let still: Vec<(IndicatorSet, f64)> = seq.iter().map(|(f, _)| (*f, f64::NAN)).collect();
        proptest::prop_assert_eq!(
            &drive_moving(&seq, &off).transitions,
            &drive_moving(&still, &off).transitions
        );
        let on = drive_moving(&seq, &cfg());
        for t in on.transitions.iter().filter(|t| t.current == State::Alert) {
            proptest::prop_assert!(
                t.reason.contains("volatility") || t.reason.contains("acceleration"),
                "{}",
                t.reason
            );
        }
    }
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
