//! Over real sockets: a venue that closes every stream connection at a fixed age (Binance's 24-hour
//! limit, here 3 s: `disconnect_every`) and the engine's feed task replaying the POLUSDT crash. With
//! `rotate_after_secs` under that age the feed moves to a new connection before each close and the
//! book carries on through every change: no reconnection, no resync, no gap, every trade once, and
//! the book equal to the venue's. Without it, each close is a reconnection and a resync. A reload
//! turns rotation on in a connection already open; a new connection the venue refuses leaves the
//! old one serving.

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::config::FeedConfig;
use common::message::{DataMessage, HealthMetrics};
use exchange_sim::faults::{Faults, Scheduled, TimedFault};
use tokio::sync::watch;

mod support;

/// What the feed published over a run, and the venue's connections in that time.
struct Run {
    health: HealthMetrics,
    trade_ids: Vec<u64>,
    states: Vec<(String, String)>,
    connections: u64,
    closed_by_venue: u64,
    refused: u64,
    /// The feed's book and the venue's at its update id agree.
    book_matches: bool,
}

/// How a run is set up.
struct Setup {
    /// `rotate_after_secs` at the start.
    rotate_after_secs: u64,
    /// Each connection closed by the venue at this age.
    close_after: Option<Duration>,
    /// Faults at given times after the replay starts.
    schedule: Vec<Scheduled>,
    /// `rotate_after_secs` reloaded this long after the start.
    reload: Option<(Duration, u64)>,
    run_for: Duration,
}

impl Default for Setup {
    /// Rotation after 1 s on a venue closing each connection at 3 s, for 8 s.
    fn default() -> Self {
        Setup {
            rotate_after_secs: 1,
            close_after: Some(Duration::from_secs(3)),
            schedule: Vec::new(),
            reload: None,
            run_for: Duration::from_secs(8),
        }
    }
}

/// Replays the crash at 2x with `setup`; the feed publishes health every 250 ms.
async fn run(setup: Setup) -> Run {
    let sim = support::start_sim_scheduled(
        "2025-10-10T21:12:30Z",
        "2025-10-10T21:15:30Z",
        2.0,
        Faults {
            disconnect_every: setup.close_after,
            ..Faults::default()
        },
        setup.schedule,
    )
    .await;
    let mut cfg = support::feed_config(format!("ws://{}", sim.addr), String::new(), sim.addr);
    cfg.rotate_after_secs = setup.rotate_after_secs;
    // The check snapshots would be fetched at each second; the book is compared at the end.
    cfg.snapshot_refresh_secs = 0;
    let (updates, updates_rx) = watch::channel::<FeedConfig>(cfg.clone());
    let mut feed =
        support::spawn_feed_with_updates(cfg.clone(), Duration::from_millis(250), Some(updates_rx));
    if let Some((after, secs)) = setup.reload {
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            updates.send_replace(FeedConfig {
                rotate_after_secs: secs,
                ..cfg
            });
        });
    }
    let (mut health, mut trade_ids, mut states) = (None, Vec::new(), Vec::new());
    let _ = tokio::time::timeout(setup.run_for, async {
        while let Some(msg) = feed.data.recv().await {
            match msg {
                DataMessage::HealthMetrics(h) => health = Some(h),
                DataMessage::Trade(t) => trade_ids.push(t.trade_id),
                DataMessage::StateChange(s) => states.push((s.current, s.reason)),
                _ => {}
            }
        }
    })
    .await;
    // The venue's book at the feed's update id, compared while both are still there.
    let (id, ours) = {
        let st = feed.book.read();
        (st.book.update_id(), st.book.clone())
    };
    let venue = support::venue_book_at(sim.addr, id, 5000).await;
    let book_matches = venue.is_some_and(|v| {
        let mut theirs = feed_handler::book::OrderBook::default();
        theirs.reset(v.last_update_id, &v.bids, &v.asks);
        theirs == ours
    });
    feed.stop().await;
    Run {
        health: health.expect("no HealthMetrics"),
        trade_ids,
        states,
        connections: sim.venue.connections.load(Ordering::Relaxed),
        closed_by_venue: sim.venue.fault_counts.disconnects.load(Ordering::Relaxed),
        refused: sim.venue.fault_counts.refused.load(Ordering::Relaxed),
        book_matches,
    }
}

/// One sync at the start and nothing after: no reconnection, resync or gap; no trade missed,
/// repeated or out of order; live throughout; every trade once in id order; the book the venue's.
fn assert_one_book_throughout(r: &Run) {
    let h = &r.health;
    assert_eq!(
        (h.reconnect_count, h.resync_count, h.gap_count),
        (0, 1, 0),
        "one sync at the start, nothing after: {h:?}"
    );
    assert_eq!(
        (
            h.trades_missed_count,
            h.duplicate_count,
            h.out_of_order_count
        ),
        (0, 0, 0),
        "{h:?}"
    );
    assert_eq!(h.feed_state, "live");
    let not_live: Vec<_> = r.states.iter().filter(|(s, _)| s != "live").collect();
    assert_eq!(
        not_live.len(),
        2,
        "connecting and syncing once, then live throughout: {:?}",
        r.states
    );
    assert!(r.trade_ids.len() > 100, "{} trades", r.trade_ids.len());
    for w in r.trade_ids.windows(2) {
        assert_eq!(w[1], w[0] + 1, "trade ids {} then {}", w[0], w[1]);
    }
    assert!(r.book_matches, "the book differs from the venue's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_rotates_before_the_venue_closes_and_the_book_carries_on() {
    let r = run(Setup::default()).await;
    // A new connection about every second (the change takes a depth event or two).
    assert!(r.connections >= 4, "connections: {}", r.connections);
    assert_eq!(r.closed_by_venue, 0, "the venue closed a connection");
    assert_one_book_throughout(&r);
}

/// The same venue without rotation: each close at 3 s is a reconnection and a resync (what the
/// test above would see if the feed did not rotate).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_rotation_each_close_is_a_reconnection_and_a_resync() {
    let r = run(Setup {
        rotate_after_secs: 0,
        ..Setup::default()
    })
    .await;
    let h = &r.health;
    assert!(r.closed_by_venue >= 2, "closed: {}", r.closed_by_venue);
    assert!(h.reconnect_count >= 2, "{h:?}");
    assert!(h.resync_count >= 3, "{h:?}");
    assert!(r.book_matches, "the book differs from the venue's");
}

/// Rotation off at the start and turned on by a reload 1.5 s in: the connection open since the
/// start rotates at once (it is past the new age), before the venue's close at 3 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_turns_rotation_on_in_the_open_connection() {
    let r = run(Setup {
        rotate_after_secs: 0,
        reload: Some((Duration::from_millis(1500), 1)),
        run_for: Duration::from_secs(5),
        ..Setup::default()
    })
    .await;
    assert!(r.connections >= 3, "connections: {}", r.connections);
    assert_eq!(r.closed_by_venue, 0, "the venue closed a connection");
    assert_one_book_throughout(&r);
}

/// The venue refuses new connections from 0.5 s to 3.5 s: the rotation's new connection, dialled
/// at about 1 s, is refused and given up, and the old connection serves on, its book untouched (the
/// next try is 60 s later).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_new_connection_leaves_the_old_one_serving() {
    let r = run(Setup {
        close_after: None,
        schedule: vec![Scheduled {
            at: Duration::from_millis(500),
            fault: TimedFault::Refuse(Duration::from_secs(3)),
        }],
        run_for: Duration::from_secs(4),
        ..Setup::default()
    })
    .await;
    assert!(r.refused >= 1, "refused: {}", r.refused);
    assert_eq!(r.connections, 1);
    assert_one_book_throughout(&r);
}
