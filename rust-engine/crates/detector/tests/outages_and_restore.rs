//! A feed outage told twice, a market that comes back with books before trades, a stir across an
//! outage, a velocity spike's quorum, and a restore under a changed configuration.

use detector::machine::{State, StateMachine};
use detector::readings::{Pattern, Reading};
use detector::{Detector, DetectorConfig, Indicator, Readings};

const S: i64 = 1_000_000_000;

/// The defaults with the price's move needed in the quorum and as the alert level (the synthetic
/// book's overlay, `config/synthetic_book.toml`), under which these cases were written.
fn price_quorum() -> DetectorConfig {
    DetectorConfig {
        quorum_needs_price: true,
        ..DetectorConfig::default()
    }
}

/// Four trades a second, one cent up every third; a one-level book every half second (as
/// `trade_for` of python-strategy's `test_detector_outage.py`). `hook` runs after each trade. Every
/// event is taken; the first book, when it jumps ahead (a fresh detector's first event, the first
/// after an outage), held until the trade after it confirms it.
fn trade_for(
    d: &mut Detector,
    start_s: i64,
    secs: i64,
    price: f64,
    mut hook: impl FnMut(&mut Detector, i64),
) {
    for k in 0..secs * 4 {
        let ts = start_s * S + k * S / 4;
        let px = price + if k % 3 == 0 { 0.01 } else { 0.0 };
        if k % 2 == 0 {
            let took = d.on_book(ts, vec![(px - 0.01, 50.0)], vec![(px + 0.01, 50.0)], false);
            assert!(took || (k == 0 && d.held() == 1));
        }
        assert!(d.on_trade(ts + 1, px, 1.0 + (k % 5) as f64, k % 2 == 0));
        assert_eq!(d.held(), 0);
        hook(d, k);
    }
}

/// 400 calm seconds at 100, the feed lost, then 6 s at 99 from second 1,000; told of the outage
/// again after the first trade after it when `twice` (the runner hears of one outage from the
/// feed's state, then from the restarted engine's first health).
fn outage(twice: bool) -> Detector {
    let mut d = Detector::new(price_quorum());
    trade_for(&mut d, 1, 400, 100.0, |_, _| {});
    d.on_feed_lost();
    trade_for(&mut d, 1_000, 6, 99.0, |d, k| {
        if twice && k == 0 {
            d.on_feed_lost();
        }
    });
    d
}

/// Told twice, an outage is one: its seconds are not closed as empty seconds, and the move across
/// it is no crash.
#[test]
fn an_outage_told_twice_is_one_outage() {
    let (once, twice) = (outage(false), outage(true));
    assert_eq!(once.state(), State::Sleep);
    assert_eq!(once.closes(), twice.closes());
    assert_eq!(twice.state(), State::Sleep, "{:?}", twice.transitions());
}

/// The market comes back with a second of books before its first trade (the engine publishes its
/// resynced book first): no 1-second return spans the outage.
#[test]
fn books_first_after_an_outage_do_not_carry_the_old_price_across_it() {
    let mut d = Detector::new(price_quorum());
    trade_for(&mut d, 1, 400, 100.0, |_, _| {});
    d.on_feed_lost();
    for k in 0..4 {
        let ts = 1_000 * S + k * S / 4;
        let took = d.on_book(ts, vec![(98.99, 50.0)], vec![(99.01, 50.0)], false);
        assert!(took || k == 0); // the first, 600 s ahead, held until the second
    }
    trade_for(&mut d, 1_001, 6, 99.0, |_, _| {});
    let volatility = d.readings().get(Indicator::Volatility).value;
    assert!(volatility < 0.5, "a return spans the outage: {volatility}");
    assert_eq!(d.state(), State::Sleep, "{:?}", d.transitions());
}

fn readings(sec: i64, fired: &[Indicator]) -> Readings {
    let by = Indicator::ALL.map(|i| Reading {
        indicator: i,
        value: 1.0,
        threshold: 1.0,
        fired: fired.contains(&i),
        strength: 0.0,
        ready: true,
    });
    Readings::without_book(sec * S, by, Pattern::None, f64::NAN)
}

/// A stir (volume delta alone) of 20 s, an outage of 600 s, the stir again: 21 observed seconds,
/// not the `baseline_secs` that make a stir a new regime the baselines learn.
#[test]
fn a_stir_is_timed_in_observed_seconds() {
    let mut m = StateMachine::new(&price_quorum());
    for sec in 0..20 {
        m.step(&readings(sec, &[Indicator::VolumeDelta]));
        assert!(!m.learns(sec * S), "{sec}");
    }
    m.resume();
    m.step(&readings(620, &[Indicator::VolumeDelta]));
    assert_eq!(m.state, State::Sleep);
    assert!(!m.learns(620 * S));
}

/// A velocity spike lowers the quorum, never raises it, even configured above `core_quorum`.
#[test]
fn a_velocity_spike_never_raises_the_quorum() {
    let cfg = DetectorConfig {
        core_quorum: 2,
        core_quorum_velocity: 3,
        ..DetectorConfig::default()
    };
    let run = |fired: &[Indicator]| {
        let mut m = StateMachine::new(&cfg);
        for sec in 0..10 {
            m.step(&readings(sec, fired));
        }
        m.state
    };
    use Indicator::{MessageVelocity, Volatility, VolumeDelta};
    assert_eq!(run(&[Volatility, VolumeDelta]), State::Active);
    assert_eq!(
        run(&[Volatility, VolumeDelta, MessageVelocity]),
        State::Active
    );
}

/// A detector restored from a snapshot taken under other thresholds (the config edited between a
/// crash and the restart) judges by its own: every threshold a reload may change.
#[test]
fn a_restored_detector_judges_by_its_own_configuration() {
    const T0: i64 = 1_700_000_000 * S;
    let feed = |d: &mut Detector, from: i64, to: i64| {
        for k in from..to {
            let ts = T0 + k * (S / 10);
            let px = 1.0 + 0.0005 * ((k % 7) as f64);
            assert!(d.on_trade(ts, px, 1.0, k % 2 == 0) || k == 0);
            if k % 3 == 0 {
                assert!(d.on_book(ts, vec![(px - 0.01, 10.0)], vec![(px + 0.01, 12.0)], false));
            }
        }
    };
    let old = DetectorConfig::default();
    let mut a = Detector::new(old.clone());
    feed(&mut a, 0, 200);
    let new = DetectorConfig {
        volatility_ratio: 7.0,
        obi_threshold: 0.3,
        spread_ratio: 6.0,
        volume_delta_z: 3.0,
        velocity_ratio: 4.0,
        liquidity_min_usd: 5.0,
        ..old
    };
    let mut b = Detector::new(new);
    b.restore(&a.snapshot()).unwrap();
    feed(&mut b, 200, 220);
    let got: Vec<f64> = [
        Indicator::Volatility,
        Indicator::Obi,
        Indicator::Spread,
        Indicator::VolumeDelta,
        Indicator::MessageVelocity,
        Indicator::Liquidity,
    ]
    .iter()
    .map(|i| b.readings().get(*i).threshold)
    .collect();
    assert_eq!(got, [7.0, 0.3, 6.0, 3.0, 4.0, 5.0]);
}
