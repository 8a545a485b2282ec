//! The machine's types: indicator sets, states and the JSON of a whole machine.
use super::*;

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
    back.set_config(&cfg());
    assert_eq!(back, m);
    let mut m = m;
    for sec in 8..60 {
        let r = readings(sec, if sec % 7 == 0 { set(&[SP]) } else { NONE });
        assert_eq!(back.step(&r), m.step(&r));
    }
    assert_eq!(back, m);
}
