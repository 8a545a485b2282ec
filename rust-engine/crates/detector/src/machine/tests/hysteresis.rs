//! The quorum's hysteresis (`quorum_release_ratio`): a core indicator that fired keeps its vote
//! while its reading stays at that share of its threshold.
use super::*;

/// Steps a machine through `seq`: per second the indicators fired and the volume delta's value
/// (threshold 1); every other indicator reads 1 when fired, else 0.
fn drive_vd(seq: &[(IndicatorSet, f64)], cfg: &DetectorConfig) -> (Vec<State>, StateMachine) {
    let mut m = StateMachine::new(cfg);
    let mut out = Vec::with_capacity(seq.len());
    for (sec, (fired, vd)) in seq.iter().enumerate() {
        let r = readings_valued(sec as i64, *fired, |i| {
            if i == VD {
                *vd
            } else if fired.contains(i) {
                1.0
            } else {
                0.0
            }
        });
        m.step(&r);
        out.push(m.state);
    }
    (out, m)
}

fn with_release(h: f64) -> DetectorConfig {
    DetectorConfig {
        quorum_release_ratio: h,
        ..cfg()
    }
}

/// Acceleration and the velocity spike for six seconds; volume delta fires, dips to 0.96 of its
/// threshold for two seconds (longer than the jitter window bridges), and fires again: POLUSDT at
/// 21:12:44-48 on 10 Oct 2025 (z -7.5, -3.87, -3.85, -4.4, -4.5 against 4).
fn chatter() -> Vec<(IndicatorSet, f64)> {
    let am = set(&[A, MV]);
    let amv = set(&[A, MV, VD]);
    vec![
        (NONE, 0.0),
        (amv, 1.9),
        (am, 0.96),
        (am, 0.96),
        (amv, 1.1),
        (amv, 1.1),
        (NONE, 0.0),
    ]
}

#[test]
fn a_reading_hovering_at_its_threshold_keeps_the_quorum() {
    // Without hysteresis the dip breaks the quorum: never held more than 2 s.
    let (s, _) = drive_vd(&chatter(), &with_release(1.0));
    assert!(!s.contains(&State::Active), "{s:?}");
    // Held from 1 s through 5 s: more than 2 s at 4 s.
    for h in [0.5, 0.9, 0.95] {
        let (s, m) = drive_vd(&chatter(), &with_release(h));
        assert_eq!(s[4], State::Active, "{h}: {s:?}");
        assert!(
            m.transitions
                .last()
                .unwrap()
                .reason
                .contains("volume_delta"),
            "{:?}",
            m.transitions
        );
    }
    // Released under its share: the dip to 0.96 is under 0.97, and lasts longer than the jitter
    // window bridges.
    let (s, _) = drive_vd(&chatter(), &with_release(0.97));
    assert!(!s.contains(&State::Active), "{s:?}");
}

#[test]
fn what_never_fired_is_not_held() {
    // Volume delta at 0.99 of its threshold throughout, never firing: no vote, however close.
    let am = set(&[A, MV]);
    let (s, _) = drive_vd(&[(am, 0.99); 10], &with_release(0.5));
    assert!(!s.contains(&State::Active), "{s:?}");
}

#[test]
fn the_velocity_spike_is_not_held() {
    // Acceleration and volume delta held, the spike gone: two core, no spike, the quorum is 3.
    let mut m = StateMachine::new(&with_release(0.5));
    let all = set(&[A, VD, MV]);
    let r = |sec: i64, fired: IndicatorSet| {
        readings_valued(sec, fired, |i| if fired.contains(i) { 1.0 } else { 0.9 })
    };
    m.step(&r(0, all));
    for sec in 1..4 {
        m.step(&r(sec, NONE));
    }
    assert_eq!(m.counted, set(&[A, VD]));
    assert!(!m.quorum(&r(4, NONE)).0);
}

#[test]
fn the_alert_level_and_the_stir_read_the_indicators_as_they_fire() {
    // Acceleration fired once and stays at 0.9 of its threshold: held for the quorum, but not an
    // alert level or a stir of its own once the jitter window has passed.
    let mut m = StateMachine::new(&with_release(0.5));
    let r = |sec: i64, fired: IndicatorSet| {
        readings_valued(sec, fired, |i| if fired.contains(i) { 1.0 } else { 0.9 })
    };
    m.step(&r(0, set(&[A])));
    m.step(&r(1, NONE));
    let (met, alert, stirring) = m.quorum(&r(2, NONE));
    assert!(
        m.counted.contains(A) && !met && !alert && !stirring,
        "{m:?}"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Over any seconds of voters and values: the hysteresis never changes the alert level or the
    /// stir (only the quorum).
    #[test]
    fn never_in_the_alert_level_or_the_stir(
        seq in proptest::collection::vec((0u8..64, 0.0f64..1.5), 1..120),
    ) {
        let voters = |bits: u8| -> IndicatorSet {
            VOTERS.into_iter().enumerate().filter(|(k, _)| bits >> k & 1 == 1).map(|(_, i)| i).collect()
        };
        let mut off = StateMachine::new(&with_release(1.0));
        let mut on = StateMachine::new(&with_release(0.5));
        let mut on_alert = Vec::new();
        let mut off_alert = Vec::new();
        for (sec, (bits, v)) in seq.iter().enumerate() {
            let fired = voters(*bits);
            let r = readings_valued(sec as i64, fired, |i| if fired.contains(i) { 1.0 } else { *v });
            let (_, a1, s1) = on.clone().quorum(&r);
            let (_, a0, s0) = off.clone().quorum(&r);
            on_alert.push((a1, s1));
            off_alert.push((a0, s0));
            on.step(&r);
            off.step(&r);
        }
        proptest::prop_assert_eq!(on_alert, off_alert);
    }
}

#[test]
fn a_machine_saved_before_the_hysteresis_carries_on_as_it_would_have() {
    // Its snapshot has no `recent_fired`: its `recent` is the fired history. Restored
    // after any second of a wake-up and its end (ratio 1, the rule it was saved under), it leaves
    // ALERT when the straight run does: with `recent_fired` empty it forgot the volatility of the
    // second before and went back to SLEEP a second early.
    let c = with_release(1.0);
    let seq = [
        rep(NONE, 1),
        rep(set(&[V]), 1),
        rep(NONE, c.recovery_confirm_secs as usize + 3),
    ]
    .concat();
    let (straight, _) = drive_with(&seq, &c);
    for at in 1..seq.len() {
        let mut m = StateMachine::new(&c);
        for (sec, fired) in seq[..at].iter().enumerate() {
            m.step(&readings(sec as i64, *fired));
        }
        let mut saved = serde_json::to_value(&m).unwrap();
        let fields = saved.as_object_mut().unwrap();
        assert!(fields.remove("recent_fired").is_some());
        let mut restored: StateMachine = serde_json::from_value(saved).unwrap();
        restored.set_config(&c);
        restored.fill_older_snapshot();
        for (sec, fired) in seq.iter().enumerate().skip(at) {
            restored.step(&readings(sec as i64, *fired));
            assert_eq!(
                restored.state, straight[sec],
                "saved after {at} s, at {sec} s"
            );
        }
    }
}
