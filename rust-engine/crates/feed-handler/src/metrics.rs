//! Prometheus figures of the feed (`flashcrash_engine_feed_*`, `flashcrash_engine_book_*`), in the
//! process's default registry: the engine serves them on `/metrics`. Updated once per health
//! interval from the same counters `HealthMetrics` carries, plus the time of the last feed message
//! (one atomic store per message) for the engine's watchdog.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use prometheus::{
    register_gauge, register_histogram, register_int_counter, register_int_counter_vec,
    register_int_gauge_vec, Gauge, Histogram, IntCounter, IntCounterVec, IntGaugeVec,
};

use crate::feed::FeedState;
use crate::health::Counters;

/// Receive time of the last feed message, ns since the epoch (0 = none yet).
static LAST_MESSAGE_NS: AtomicU64 = AtomicU64::new(0);

/// Records that a feed message arrived at `local_ns`.
pub fn touch(local_ns: u64) {
    // The latest: frames held through a rotation are handled after newer ones were received.
    LAST_MESSAGE_NS.fetch_max(local_ns, Ordering::Relaxed);
}

/// Receive time of the last feed message, ns since the epoch; `None` before the first.
pub fn last_message_ns() -> Option<u64> {
    match LAST_MESSAGE_NS.load(Ordering::Relaxed) {
        0 => None,
        ns => Some(ns),
    }
}

/// Latency buckets, seconds: 0.5 ms to 10 s.
const LATENCY_BUCKETS: [f64; 16] = [
    0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
];

/// Every feed state name, for the one-hot state gauge.
const STATES: [FeedState; 8] = [
    FeedState::Connecting,
    FeedState::Syncing,
    FeedState::Live,
    FeedState::Lagging,
    FeedState::Resyncing,
    FeedState::Reconnecting,
    FeedState::Halted,
    FeedState::Stopped,
];

/// The feed's Prometheus metrics.
pub struct FeedMetrics {
    messages: IntCounter,
    msgs_per_sec: Gauge,
    latency: Histogram,
    gaps: IntCounter,
    resyncs: IntCounter,
    reconnects: IntCounter,
    rotations: IntCounter,
    trades_missed: IntCounter,
    invalid: IntCounterVec,
    levels: IntGaugeVec,
    snapshot_age: Gauge,
    state: IntGaugeVec,
    /// The counters as last reported (Prometheus counters only go up by deltas).
    reported: Mutex<Counters>,
}

impl FeedMetrics {
    /// The process-wide metrics, registered in the default registry on first use.
    ///
    /// # Panics
    /// Never in practice: the names are constant and registered once.
    pub fn global() -> &'static FeedMetrics {
        static METRICS: OnceLock<FeedMetrics> = OnceLock::new();
        METRICS.get_or_init(|| FeedMetrics {
            messages: register_int_counter!(
                "flashcrash_engine_feed_messages_total",
                "Feed messages received (counted at each health interval)"
            )
            .expect("metric"),
            msgs_per_sec: register_gauge!(
                "flashcrash_engine_feed_messages_per_second",
                "Feed messages per second over the last health interval"
            )
            .expect("metric"),
            latency: register_histogram!(
                "flashcrash_engine_feed_latency_seconds",
                "Feed latency: receive time (local clock corrected by its offset from the venue's) minus the venue's event time",
                LATENCY_BUCKETS.to_vec()
            )
            .expect("metric"),
            gaps: register_int_counter!(
                "flashcrash_engine_feed_gaps_total",
                "Sequence gaps detected in the depth stream"
            )
            .expect("metric"),
            resyncs: register_int_counter!(
                "flashcrash_engine_feed_resyncs_total",
                "Book resyncs from a fresh REST snapshot (including the first sync)"
            )
            .expect("metric"),
            reconnects: register_int_counter!(
                "flashcrash_engine_feed_reconnects_total",
                "WebSocket reconnections"
            )
            .expect("metric"),
            rotations: register_int_counter!(
                "flashcrash_engine_feed_rotations_total",
                "Connections rotated before the venue's 24-hour limit: a new connection took the stream over (not counted as reconnections)"
            )
            .expect("metric"),
            trades_missed: register_int_counter!(
                "flashcrash_engine_feed_trades_missed_total",
                "Trades not published: jumps in the aggregate trade ids (missed while disconnected, lost, or refused as invalid)"
            )
            .expect("metric"),
            invalid: register_int_counter_vec!(
                "flashcrash_engine_feed_invalid_messages_total",
                "Feed messages dropped or repaired, by reason (malformed, rejected, out_of_order, duplicate, snapshot_mismatch)",
                &["reason"]
            )
            .expect("metric"),
            levels: register_int_gauge_vec!(
                "flashcrash_engine_book_levels",
                "Price levels in the local order book, by side",
                &["side"]
            )
            .expect("metric"),
            snapshot_age: register_gauge!(
                "flashcrash_engine_book_snapshot_age_seconds",
                "Age of the last REST depth snapshot"
            )
            .expect("metric"),
            state: register_int_gauge_vec!(
                "flashcrash_engine_feed_state",
                "Feed state: 1 for the current state, 0 for the others",
                &["state"]
            )
            .expect("metric"),
            reported: Mutex::new(Counters::default()),
        })
    }

    /// One health interval's messages and latency samples (µs).
    pub fn observe_messages(&self, messages: u64, samples_us: &[u32]) {
        self.messages.inc_by(messages);
        for &us in samples_us {
            self.latency.observe(f64::from(us) / 1e6);
        }
    }

    /// One health interval's figures: rate, counters since start, book levels (bids, asks) and
    /// snapshot age.
    pub fn observe_interval(
        &self,
        rate: f64,
        counters: &Counters,
        levels: (usize, usize),
        snapshot_age_ms: u64,
    ) {
        self.msgs_per_sec.set(rate);
        self.levels.with_label_values(&["bid"]).set(levels.0 as i64);
        self.levels.with_label_values(&["ask"]).set(levels.1 as i64);
        self.snapshot_age.set(snapshot_age_ms as f64 / 1e3);
        let mut last = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        let up = |c: &IntCounter, new: u64, old: u64| c.inc_by(new.saturating_sub(old));
        up(&self.gaps, counters.gaps, last.gaps);
        up(&self.resyncs, counters.resyncs, last.resyncs);
        up(&self.reconnects, counters.reconnects, last.reconnects);
        up(&self.rotations, counters.rotations, last.rotations);
        up(
            &self.trades_missed,
            counters.trades_missed,
            last.trades_missed,
        );
        for (reason, new, old) in [
            ("malformed", counters.malformed, last.malformed),
            ("rejected", counters.rejected, last.rejected),
            ("out_of_order", counters.out_of_order, last.out_of_order),
            ("duplicate", counters.duplicates, last.duplicates),
            (
                "snapshot_mismatch",
                counters.snapshot_mismatches,
                last.snapshot_mismatches,
            ),
        ] {
            up(&self.invalid.with_label_values(&[reason]), new, old);
        }
        // A second feed task in the process (tests) starts its counters at zero again.
        *last = *counters;
    }

    /// The feed entered `state`.
    pub fn set_state(&self, state: FeedState) {
        for s in STATES {
            self.state
                .with_label_values(&[s.as_str()])
                .set(i64::from(s == state));
        }
    }
}
