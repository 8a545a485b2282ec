//! The quorum and the alert level: which indicators wake the machine, and the price's move.
use super::*;

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
