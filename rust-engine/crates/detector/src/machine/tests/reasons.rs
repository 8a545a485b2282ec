//! Each transition's reason, written as the Python detector wrote it.
use super::*;

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
