//! Over real sockets: a venue that closes every stream connection at a fixed age (Binance's 24-hour
//! limit, here 3 s: `disconnect_every`) and the engine's feed task replaying the POLUSDT crash. With
//! `rotate_after_secs` under that age the feed moves to a new connection before each close and the
//! book carries on through every change: no reconnection, no resync, no gap, every trade once, and
//! the book equal to the venue's. Without it, each close is a reconnection and a resync.

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::message::{DataMessage, HealthMetrics};
use exchange_sim::faults::Faults;
use exchange_sim::RunningVenue;

mod support;

/// What the feed published over `run_for`, and the venue's connections in that time.
struct Run {
    health: HealthMetrics,
    trade_ids: Vec<u64>,
    states: Vec<(String, String)>,
    connections: u64,
    closed_by_venue: u64,
    /// The feed's book and the venue's at its update id agree.
    book_matches: bool,
}

/// Replays the crash at 2x on a venue closing each connection after 3 s, with the feed rotating
/// after `rotate_after_secs` (0: never), for `run_for`.
async fn run(rotate_after_secs: u64, run_for: Duration) -> Run {
    let sim: RunningVenue = support::start_sim(
        "2025-10-10T21:12:30Z",
        "2025-10-10T21:15:30Z",
        2.0,
        Faults {
            disconnect_every: Some(Duration::from_secs(3)),
            ..Faults::default()
        },
    )
    .await;
    let mut cfg = support::feed_config(format!("ws://{}", sim.addr), String::new(), sim.addr);
    cfg.rotate_after_secs = rotate_after_secs;
    // The check snapshots would be fetched at each second; the book is compared at the end.
    cfg.snapshot_refresh_secs = 0;
    let mut feed = support::spawn_feed(cfg, Duration::from_millis(250));
    let (mut health, mut trade_ids, mut states) = (None, Vec::new(), Vec::new());
    let _ = tokio::time::timeout(run_for, async {
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
        book_matches,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_rotates_before_the_venue_closes_and_the_book_carries_on() {
    let r = run(1, Duration::from_secs(8)).await;
    let h = &r.health;
    // A new connection about every second (and a half: the change takes a depth event or two).
    assert!(r.connections >= 4, "connections: {}", r.connections);
    assert_eq!(r.closed_by_venue, 0, "the venue closed a connection");
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
    let live_changes: Vec<_> = r.states.iter().filter(|(s, _)| s != "live").collect();
    assert_eq!(
        live_changes.len(),
        2,
        "connecting and syncing once, then live throughout: {:?}",
        r.states
    );
    // Every trade once, in order, none left out, across every change of connection.
    assert!(r.trade_ids.len() > 100, "{} trades", r.trade_ids.len());
    for w in r.trade_ids.windows(2) {
        assert_eq!(w[1], w[0] + 1, "trade ids {} then {}", w[0], w[1]);
    }
    assert!(r.book_matches, "the book differs from the venue's");
}

/// The same venue without rotation: each close at 3 s is a reconnection and a resync (what the
/// test above would see if the feed did not rotate).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_rotation_each_close_is_a_reconnection_and_a_resync() {
    let r = run(0, Duration::from_secs(8)).await;
    let h = &r.health;
    assert!(r.closed_by_venue >= 2, "closed: {}", r.closed_by_venue);
    assert!(h.reconnect_count >= 2, "{h:?}");
    assert!(h.resync_count >= 3, "{h:?}");
    assert!(r.book_matches, "the book differs from the venue's");
}
