//! The timings: how long a quorum must hold, RECOVERY and SLEEP, the jitter window, the baselines'
//! learning, and the configuration's quorums and timings.
use super::*;

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
