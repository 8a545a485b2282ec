//! Over real sockets: the engine's feed task against a venue that misbehaves on purpose while a part
//! of the real crash is replayed: every fault mode of `exchange-sim`. Each fault is seen and counted
//! by the engine, its book never crosses, and every book it held in sync (up to its last published
//! one) equals the venue's authoritative book at the same update id.

use std::time::Duration;

use common::message::HealthMetrics;
use exchange_sim::faults::{Faults, Scheduled, TimedFault};
use feed_handler::book::{Level, Levels};

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_book_survives_every_fault_and_ends_equal_to_the_venue() {
    let faults = Faults {
        drop_depth: 0.02,
        duplicate: 0.02,
        malformed: 0.01,
        bad_price: 0.01,
        disconnect_every: Some(Duration::from_secs(2)),
        ..Faults::default()
    };
    let (h, f) = run_with_faults(faults, vec![], "2025-10-10T21:13:30Z", 6.0).await;
    assert!(
        f["dropped"].as_u64().unwrap() > 0 && h.gap_count > 0,
        "gaps: {f} {h:?}"
    );
    assert!(
        f["malformed"].as_u64().unwrap() > 0 && h.malformed_count > 0,
        "{f} {h:?}"
    );
    assert!(
        f["bad_prices"].as_u64().unwrap() > 0 && h.rejected_count > 0,
        "{f} {h:?}"
    );
    // A trade refused for its price never reaches the strategy: a jump in the trade ids.
    assert!(h.trades_missed_count > 0, "{f} {h:?}");
    assert!(
        f["duplicated"].as_u64().unwrap() > 0 && h.duplicate_count + h.out_of_order_count > 0,
        "{f} {h:?}"
    );
    assert!(
        f["disconnects"].as_u64().unwrap() > 0 && h.reconnect_count > 0,
        "{f} {h:?}"
    );
    assert!(h.resync_count > 1, "{h:?}");
}

/// Reconnect storm: the venue hangs up every second for 30 s of real-time replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_storm_ends_with_a_correct_book() {
    let faults = Faults {
        disconnect_every: Some(Duration::from_secs(1)),
        ..Faults::default()
    };
    let (h, f) = run_with_faults(faults, vec![], "2025-10-10T21:13:00Z", 1.0).await;
    assert!(f["disconnects"].as_u64().unwrap() >= 20, "{f}");
    assert!(h.reconnect_count >= 20, "{h:?}");
}

/// Frames held back behind later ones: the engine drops the stale depth events or resyncs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_frames_never_corrupt_the_book() {
    let faults = Faults {
        reorder: 0.05,
        reorder_window: 3,
        ..Faults::default()
    };
    let (h, f) = run_with_faults(faults, vec![], "2025-10-10T21:13:30Z", 6.0).await;
    assert!(f["reordered"].as_u64().unwrap() > 0, "{f}");
    assert!(
        h.out_of_order_count + h.duplicate_count + h.gap_count > 0,
        "{h:?}"
    );
}

/// Hang-ups at given times with reconnects refused for a second after each, a 3-s stall (longer
/// than the engine's 1-s heartbeat), and a scheduled refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_disconnects_stall_and_refused_reconnects() {
    let faults = Faults {
        refuse_reconnects: Some(Duration::from_secs(1)),
        ..Faults::default()
    };
    let at = Duration::from_secs;
    let schedule = vec![
        Scheduled {
            at: at(2),
            fault: TimedFault::Disconnect,
        },
        Scheduled {
            at: at(5),
            fault: TimedFault::Stall(at(3)),
        },
        Scheduled {
            at: at(10),
            fault: TimedFault::Disconnect,
        },
        Scheduled {
            at: at(13),
            fault: TimedFault::Refuse(at(2)),
        },
        Scheduled {
            at: at(13),
            fault: TimedFault::Disconnect,
        },
    ];
    let (h, f) = run_with_faults(faults, schedule, "2025-10-10T21:13:10Z", 2.0).await;
    assert!(f["disconnects"].as_u64().unwrap() >= 3, "{f}");
    assert_eq!(f["stalls"].as_u64().unwrap(), 1, "{f}");
    assert!(f["refused"].as_u64().unwrap() > 0, "{f}");
    // Three hang-ups and the stall, each followed by a new connection (refused attempts are not
    // reconnections; the stall on its own: `a_stall_longer_than_the_heartbeat_is_a_dead_feed`).
    assert!(h.reconnect_count >= 4, "{h:?}");
}

/// A 3-s stall alone (no hang-up, nothing refused): the engine's 1-s heartbeat takes the silent
/// connection for dead and reconnects; without the heartbeat the stall would end with the same
/// connection and no reconnect at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_longer_than_the_heartbeat_is_a_dead_feed() {
    let schedule = vec![Scheduled {
        at: Duration::from_secs(2),
        fault: TimedFault::Stall(Duration::from_secs(3)),
    }];
    let (h, f) = run_with_faults(Faults::default(), schedule, "2025-10-10T21:12:50Z", 2.0).await;
    assert_eq!(f["stalls"].as_u64().unwrap(), 1, "{f}");
    assert_eq!(f["disconnects"].as_u64().unwrap(), 0, "{f}");
    assert!(h.reconnect_count >= 1, "{h:?}");
}

/// A `serverShutdown` with a 5-s grace: the engine's feed ends the connection on the event itself
/// (the venue never has to close it), reconnects, resyncs its book from a fresh snapshot and ends
/// the replay in sync with the venue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_shutdown_is_a_reconnect_and_a_resync() {
    let schedule = vec![Scheduled {
        at: Duration::from_secs(2),
        fault: TimedFault::ServerShutdown(Duration::from_secs(5)),
    }];
    let (h, f, states) = run_with_faults_ending(
        Faults::default(),
        schedule,
        "2025-10-10T21:12:50Z",
        2.0,
        true,
    )
    .await;
    let told = states.iter().position(|(s, why)| {
        s == "reconnecting" && why.starts_with("venue announced serverShutdown")
    });
    let told = told.unwrap_or_else(|| panic!("no reconnect for serverShutdown: {states:?}"));
    assert!(
        states[told..].iter().any(|(s, _)| s == "live"),
        "not live again: {states:?}"
    );
    assert_eq!(f["disconnects"].as_u64().unwrap(), 0, "{f}");
    assert!(h.reconnect_count >= 1, "{h:?}");
    assert!(h.resync_count >= 2, "{h:?}");
}

/// Every frame delivered 800 ms late: the engine measures it, raises its alert state after
/// `latency_alert_secs` (5 s here) and reconnects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_latency_is_measured_and_alarms() {
    let faults = Faults {
        latency: Duration::from_millis(800),
        ..Faults::default()
    };
    // The engine hangs up on so stale a feed, so it need not be in sync when the replay ends.
    let (h, _, states) =
        run_with_faults_ending(faults, vec![], "2025-10-10T21:12:45Z", 1.0, false).await;
    assert!(h.latency_p50_us >= 700_000.0, "{h:?}");
    assert!(h.reconnect_count >= 1, "{h:?}");
    // The alert state, for the latency (not another cause of reconnection), before the reconnect.
    let lagging = states.iter().position(|(s, _)| s == "lagging");
    let lagging = lagging.unwrap_or_else(|| panic!("no lagging state: {states:?}"));
    assert!(
        states[lagging]
            .1
            .starts_with("mean feed latency above 500 ms"),
        "{states:?}"
    );
    assert!(
        states[lagging..].iter().any(|(s, _)| s == "reconnecting"),
        "{states:?}"
    );
}

/// Half of the REST snapshots are five seconds older than the stream; gaps force resyncs. The
/// engine fetches again and ends in sync with the venue. (A gap every second of wall time, as 2 %
/// of the depth frames lost at this speed would make, keeps the book from staying live long enough
/// to reset the snapshot backoff: the feed then rests its fetches up to 10 s apart, by design.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_snapshots_are_detected_and_fetched_again() {
    let faults = Faults {
        drop_depth: 0.005,
        stale_snapshot: 0.5,
        ..Faults::default()
    };
    let (h, f) = run_with_faults(faults, vec![], "2025-10-10T21:13:30Z", 6.0).await;
    assert!(f["stale_snapshots"].as_u64().unwrap() > 0, "{f}");
    assert!(h.resync_count > 1, "{h:?}");
}

/// Levels per side compared, as many as the engine publishes.
const TOP: usize = 20;

/// The engine's book as the publisher reads it: update id and the top levels.
type Sample = (u64, Vec<Level>, Vec<Level>);

/// Replays 21:12:30 to `end` with `faults` and runs the engine's feed against it. While the replay
/// runs, the engine's in-sync book is sampled every 20 ms, as the publisher reads it; it must never
/// cross, and every sample (up to the last one, the engine's last published book) must equal the
/// venue's authoritative book at the same update id, taken from the venue's history. Returns the
/// last health figures and the simulator's fault counts.
async fn run_with_faults(
    faults: Faults,
    schedule: Vec<Scheduled>,
    end: &str,
    speed: f64,
) -> (HealthMetrics, serde_json::Value) {
    let (h, f, _) = run_with_faults_ending(faults, schedule, end, speed, true).await;
    (h, f)
}

/// [`run_with_faults`], and every state change of the feed as (state, reason); `in_sync_at_end`
/// requires a sample in the last tenth of the replay.
async fn run_with_faults_ending(
    faults: Faults,
    schedule: Vec<Scheduled>,
    end: &str,
    speed: f64,
    in_sync_at_end: bool,
) -> (HealthMetrics, serde_json::Value, Vec<(String, String)>) {
    let started =
        support::start_sim_scheduled("2025-10-10T21:12:30Z", end, speed, faults, schedule).await;
    let (sim, replay_task) = (started.addr, started.replay);
    let cfg = support::feed_config(format!("ws://{sim}"), String::new(), sim);
    let feed = support::spawn_feed(cfg, Duration::from_millis(200));
    let book = feed.book.clone();
    let (feed, health) = feed.last_health();

    let mut samples: Vec<Sample> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while !replay_task.is_finished() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "replay did not finish"
        );
        {
            let st = book.read();
            if st.synced {
                let id = st.book.update_id();
                assert!(!st.book.is_crossed(), "crossed book at {id}");
                if samples.last().map(|s| s.0) != Some(id) {
                    let top = |side: Levels<'_>| side.take(TOP).copied().collect::<Vec<Level>>();
                    samples.push((id, top(st.book.bids()), top(st.book.asks())));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let final_id = support::venue_book(sim).await.last_update_id;

    let stats: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{sim}/sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    feed.stop().await;
    let published = health.await.unwrap();
    let h = published.health.expect("health published");

    // Compare the samples the venue still remembers, newest first.
    let mut compared = 0;
    for (id, bids, asks) in samples.iter().rev() {
        let Some(venue) = support::venue_book_at(sim, *id, TOP).await else {
            break;
        };
        assert_eq!(bids, &venue.bids, "bids at update {id}");
        assert_eq!(asks, &venue.asks, "asks at update {id}");
        compared += 1;
    }
    let (first, last) = (samples.first().unwrap().0, samples.last().unwrap().0);
    assert!(
        compared >= 10,
        "only {compared} of {} samples compared",
        samples.len()
    );
    assert!(
        !in_sync_at_end || final_id - last <= (final_id - first) / 10,
        "the engine was not in sync near the end: last sample {last}, venue's last update {final_id}"
    );
    (h, stats["faults"].clone(), published.states)
}
