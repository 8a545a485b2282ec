use super::*;

#[test]
fn no_faults_passes_everything() {
    let mut inj = Injector::new(Faults::default(), 1, 1);
    let c = FaultCounts::default();
    for _ in 0..100 {
        assert_eq!(
            inj.apply("x".into(), true, false, &c),
            Action::Send {
                text: "x".into(),
                twice: false,
                hold: None
            }
        );
    }
}

/// A malformed frame is the first half of the text, cut on a character boundary: a frame with
/// multi-byte characters around its middle is broken, never a panic.
#[test]
fn a_malformed_frame_is_cut_on_a_character_boundary() {
    let f = Faults {
        malformed: 1.0,
        ..Faults::default()
    };
    let mut inj = Injector::new(f, 1, 1);
    let c = FaultCounts::default();
    for text in ["{\"s\":\"ÀÀÀÀ\"}", "ééééé", "{\"e\":\"trade\"}"] {
        let Action::Send { text: cut, .. } = inj.apply(text.to_owned(), false, true, &c) else {
            panic!("a malformed frame is sent");
        };
        assert!(
            text.starts_with(&cut) && cut.len() < text.len(),
            "{text:?} -> {cut:?}"
        );
        assert!(text.len() / 2 - cut.len() < 4, "{text:?} -> {cut:?}");
    }
    assert_eq!(c.malformed.load(Ordering::Relaxed), 3);
}

#[test]
fn rates_are_roughly_the_asked_ones_and_reproducible() {
    let f = Faults {
        drop_depth: 0.1,
        duplicate: 0.1,
        ..Faults::default()
    };
    let run = || {
        let mut inj = Injector::new(f, 7, 3);
        let c = FaultCounts::default();
        let acts: Vec<Action> = (0..2000)
            .map(|_| inj.apply("{}".into(), true, false, &c))
            .collect();
        (
            acts,
            c.dropped.load(Ordering::Relaxed),
            c.duplicated.load(Ordering::Relaxed),
        )
    };
    let (a, dropped, dup) = run();
    assert!((150..250).contains(&dropped), "{dropped}");
    assert!((120..240).contains(&dup), "{dup}");
    assert_eq!(a, run().0);
}

/// `--drop-depth` drops depth events only: trades (and anything else) always go out.
#[test]
fn drop_depth_spares_trades() {
    let f = Faults {
        drop_depth: 1.0,
        ..Faults::default()
    };
    let mut inj = Injector::new(f, 3, 1);
    let c = FaultCounts::default();
    for _ in 0..50 {
        assert_eq!(inj.apply("d".into(), true, false, &c), Action::Drop);
        assert_eq!(
            inj.apply("t".into(), false, true, &c),
            Action::Send {
                text: "t".into(),
                twice: false,
                hold: None
            }
        );
    }
    assert_eq!(c.dropped.load(Ordering::Relaxed), 50);
}

/// `--bad-price` touches trades only, and gives them `NaN` or `-1`, both drawn.
#[test]
fn bad_prices_are_nan_or_negative_and_only_on_trades() {
    let f = Faults {
        bad_price: 1.0,
        ..Faults::default()
    };
    let mut inj = Injector::new(f, 9, 2);
    let c = FaultCounts::default();
    let depth = r#"{"e":"depthUpdate","p":"0.1","b":[]}"#;
    let Action::Send { text, .. } = inj.apply(depth.into(), true, false, &c) else {
        panic!("depth is not dropped")
    };
    assert_eq!(text, depth, "depth events keep their text");
    assert_eq!(c.bad_prices.load(Ordering::Relaxed), 0);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..100 {
        let Action::Send { text, .. } = inj.apply(
            r#"{"e":"trade","p":"0.15830000","q":"1"}"#.into(),
            false,
            true,
            &c,
        ) else {
            panic!("trades are not dropped")
        };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        seen.insert(v["p"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["-1", "NaN"]);
    assert_eq!(c.bad_prices.load(Ordering::Relaxed), 100);
}

/// A POLUSDT venue with no book whose hang-ups refuse reconnects for `refuse` (`--refuse-reconnects`).
fn refusing_reconnects(refuse: Duration) -> Arc<Venue> {
    use crate::book::Book;
    use crate::exchange_info::SymbolSpec;
    use crate::venue::VenueOptions;
    let spec = SymbolSpec::new_checked("POLUSDT", 10_000, 10_000_000, 500_000_000).unwrap();
    let opts = VenueOptions {
        faults: Faults {
            refuse_reconnects: Some(refuse),
            ..Faults::default()
        },
        ..VenueOptions::new(spec)
    };
    Venue::new(opts, Book::empty(1), None)
}

/// The schedule is applied in time order whatever its order as given, from the replay's start:
/// a hang-up (then reconnects refused for `--refuse-reconnects`), a stall lasting its whole
/// length, a refusal lasting its whole length; each counted and logged.
#[tokio::test(start_paused = true)]
async fn the_schedule_runs_in_time_order_for_the_given_lengths() {
    let logs = crate::log_capture::LogBuf::default();
    let _logging = tracing::subscriber::set_default(logs.subscriber());
    let venue = refusing_reconnects(Duration::from_secs(1));
    let secs = Duration::from_secs;
    let schedule = vec![
        Scheduled {
            at: secs(10),
            fault: TimedFault::Refuse(secs(4)),
        },
        Scheduled {
            at: secs(5),
            fault: TimedFault::Stall(secs(3)),
        },
        Scheduled {
            at: secs(2),
            fault: TimedFault::Disconnect,
        },
    ];
    let run = tokio::spawn(run_schedule(venue.clone(), schedule));
    // Nothing happens before the replay starts.
    tokio::time::sleep(secs(60)).await;
    assert_eq!(*venue.control.borrow(), Control::default());
    venue.stats.replay_started.store(true, Ordering::Relaxed);
    let start = Instant::now();
    let at = |ms: u64| start + Duration::from_millis(ms);
    let count = |a: &AtomicU64| a.load(Ordering::Relaxed);

    tokio::time::sleep_until(at(2_500)).await;
    assert_eq!(
        *venue.control.borrow(),
        Control {
            kicks: 1,
            ..Control::default()
        }
    );
    assert!(
        venue.refuses_connection(),
        "refused right after the hang-up"
    );
    tokio::time::sleep_until(at(3_500)).await;
    assert!(!venue.refuses_connection(), "refused only for 1 s");

    tokio::time::sleep_until(at(5_500)).await;
    let stalled_until = venue
        .control
        .borrow()
        .stalled_until
        .expect("stalled at 5 s");
    assert!(
        (at(8_000)..at(8_100)).contains(&stalled_until),
        "a 3-s stall from 5 s"
    );
    assert_eq!(count(&venue.fault_counts.stalls), 1);
    assert!(!venue.refuses_connection());

    tokio::time::sleep_until(at(13_500)).await;
    assert!(venue.refuses_connection(), "refused from 10 s for 4 s");
    tokio::time::sleep_until(at(14_500)).await;
    assert!(!venue.refuses_connection());
    run.await.unwrap();
    assert_eq!(count(&venue.fault_counts.refused), 2);
    assert_eq!(venue.control.borrow().kicks, 1);
    let logged = logs.lines_with("scheduled fault");
    assert_eq!(logged.len(), 3, "{logged:?}");
    for (line, fault) in logged.iter().zip([
        "fault=disconnect",
        "fault=stall for 3.000 s",
        "fault=refuse connections for 4.000 s",
    ]) {
        assert!(line.contains(fault), "{line}");
    }
    assert_eq!(logs.lines_with("fault: refusing new connections").len(), 2);
}

/// A scheduled `serverShutdown` tells every connection (through the venue's control) at its time,
/// with its grace, each time it is scheduled; it hangs up on nobody by itself and, unlike a
/// hang-up, refuses no reconnect (`--refuse-reconnects` set); it is logged.
#[tokio::test(start_paused = true)]
async fn a_scheduled_server_shutdown_is_announced_with_its_grace() {
    let logs = crate::log_capture::LogBuf::default();
    let _logging = tracing::subscriber::set_default(logs.subscriber());
    let venue = refusing_reconnects(Duration::from_secs(5));
    let secs = Duration::from_secs;
    let schedule = vec![
        Scheduled {
            at: secs(6),
            fault: TimedFault::ServerShutdown(Duration::from_millis(500)),
        },
        Scheduled {
            at: secs(3),
            fault: TimedFault::ServerShutdown(secs(2)),
        },
    ];
    let run = tokio::spawn(run_schedule(venue.clone(), schedule));
    venue.stats.replay_started.store(true, Ordering::Relaxed);
    let start = Instant::now();
    let at = |ms: u64| start + Duration::from_millis(ms);
    tokio::time::sleep_until(at(2_900)).await;
    assert_eq!(*venue.control.borrow(), Control::default());
    tokio::time::sleep_until(at(3_100)).await;
    let told = Control {
        shutdowns: 1,
        shutdown_grace: secs(2),
        ..Control::default()
    };
    assert_eq!(*venue.control.borrow(), told);
    assert!(!venue.refuses_connection(), "reconnects are accepted");
    tokio::time::sleep_until(at(6_100)).await;
    assert_eq!(
        *venue.control.borrow(),
        Control {
            shutdowns: 2,
            shutdown_grace: Duration::from_millis(500),
            ..Control::default()
        }
    );
    run.await.unwrap();
    assert!(!venue.refuses_connection());
    assert_eq!(venue.fault_counts.refused.load(Ordering::Relaxed), 0);
    let logged = logs.lines_with("scheduled fault");
    assert_eq!(logged.len(), 2, "{logged:?}");
    for (line, fault) in logged.iter().zip([
        "fault=serverShutdown, closing after 2.000 s",
        "fault=serverShutdown, closing after 0.500 s",
    ]) {
        assert!(line.contains(fault), "{line}");
    }
}

#[test]
fn outbox_delays_and_reorders() {
    let t0 = Instant::now();
    let mut out = Outbox::new(Duration::from_millis(100));
    out.push("a".into(), Some(2), t0);
    out.push("b".into(), None, t0);
    assert_eq!(out.pop_ready(t0), None, "not due before the latency");
    out.push("c".into(), None, t0);
    let later = t0 + Duration::from_millis(100);
    assert_eq!(out.next_due(), Some(later));
    let sent: Vec<String> = std::iter::from_fn(|| out.pop_ready(later))
        .map(|f| f.text)
        .collect();
    assert_eq!(sent, ["b", "c", "a"]);
}

/// The `serverShutdown` event leaves the outbox marked with its grace, behind the frames queued
/// before it, after the latency like every frame; it is never held back, and it ends the wait of
/// a held frame as any later frame does.
#[test]
fn a_server_shutdown_leaves_the_outbox_marked_after_the_latency() {
    let t0 = Instant::now();
    let latency = Duration::from_millis(100);
    let grace = Duration::from_millis(700);
    let mut out = Outbox::new(latency);
    out.push("a".into(), Some(1), t0);
    out.push("b".into(), None, t0);
    let t1 = t0 + Duration::from_millis(10);
    out.push("c".into(), Some(1), t1);
    out.push_server_shutdown("bye".into(), grace, t1);
    assert_eq!(
        out.pop_ready(t1 + latency - Duration::from_millis(1))
            .map(|f| f.text),
        Some("b".into())
    );
    assert_eq!(
        out.pop_ready(t1 + latency - Duration::from_millis(1))
            .map(|f| f.text),
        Some("a".into())
    );
    assert_eq!(out.pop_ready(t1), None, "not before its latency");
    assert_eq!(out.next_due(), Some(t1 + latency));
    let sent: Vec<Outgoing> = std::iter::from_fn(|| out.pop_ready(t1 + latency)).collect();
    assert_eq!(
        sent,
        [
            Outgoing {
                text: "bye".into(),
                shutdown_grace: Some(grace),
            },
            Outgoing {
                text: "c".into(),
                shutdown_grace: None,
            },
        ]
    );
}

#[test]
fn reorder_holds_frames_within_the_window() {
    let f = Faults {
        reorder: 0.5,
        reorder_window: 3,
        ..Faults::default()
    };
    let mut inj = Injector::new(f, 5, 1);
    let c = FaultCounts::default();
    let mut out = Outbox::new(Duration::ZERO);
    let now = Instant::now();
    for i in 0..200u32 {
        let Action::Send { text, hold, .. } = inj.apply(i.to_string(), true, false, &c) else {
            panic!("nothing is dropped")
        };
        assert!(hold.is_none_or(|h| (1..=3).contains(&h)));
        out.push(text, hold, now);
    }
    let sent: Vec<u32> = std::iter::from_fn(|| out.pop_ready(now))
        .map(|f| f.text.parse().unwrap())
        .collect();
    let moved = sent
        .iter()
        .enumerate()
        .filter(|(i, &v)| *i as u32 != v)
        .count();
    assert!(c.reordered.load(Ordering::Relaxed) > 50 && moved > 50);
    for (pos, &v) in sent.iter().enumerate() {
        assert!(pos as u32 <= v + 3 * 4, "frame {v} sent at {pos}");
    }
}

#[test]
fn bad_price_and_malformed() {
    assert_eq!(
        replace_price(r#"{"a":1,"p":"0.15830000","q":"1"}"#, "NaN"),
        r#"{"a":1,"p":"NaN","q":"1"}"#
    );
    let f = Faults {
        malformed: 1.0,
        ..Faults::default()
    };
    let mut inj = Injector::new(f, 1, 1);
    let c = FaultCounts::default();
    match inj.apply(r#"{"e":"trade","p":"1"}"#.into(), false, true, &c) {
        Action::Send { text, .. } => {
            assert!(serde_json::from_str::<serde_json::Value>(&text).is_err())
        }
        Action::Drop => panic!("malformed frames are sent"),
    }
}
