//! What the replay shares with the endpoints: the authoritative book (with its recent history), the
//! fan-out of events to connections, the counters and the time base.
//!
//! Fan-out is one bounded ring ([`tokio::sync::broadcast`]) of [`VenueOptions::queue_capacity`](crate::venue::VenueOptions::queue_capacity)
//! frames: each connection reads it at its own pace, so each connection's queue is bounded by the
//! ring, and a connection that falls a whole ring behind has overflowed and is disconnected (as
//! Binance disconnects clients that cannot keep up). Memory does not grow with slow clients.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{broadcast, watch};

use crate::book::{Book, Diff};
use crate::clock::{wall_ms, TimeBase};
use crate::connection::Keepalive;
use crate::exchange_info::SymbolSpec;
use crate::faults::{Control, FaultCounts, Faults};
use crate::history::{TrackedBook, DEFAULT_HISTORY};
use crate::trading::{Trading, TradingOptions};

/// Frames queued per connection before it counts as too slow and is disconnected.
pub const DEFAULT_QUEUE_CAPACITY: usize = 32_768;
/// First update id of a synthetic book: a realistic Binance magnitude.
pub const INITIAL_UPDATE_ID: u64 = 5_000_000_000;

/// An event on its way to the connections, JSON already written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A `depthUpdate` of the 100-ms stream.
    Depth100ms(String),
    /// A `depthUpdate` of the 1000-ms stream.
    Depth1s(String),
    /// An `aggTrade`.
    AggTrade(String),
    /// A `trade`.
    Trade(String),
    /// The venue is closing: send a close frame and hang up.
    End,
}

/// Counters served at `/sim/stats`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Trades replayed.
    pub trades_sent: AtomicU64,
    /// 100-ms depth updates emitted.
    pub depth_updates_sent: AtomicU64,
    /// 1000-ms depth updates emitted.
    pub depth_1s_updates_sent: AtomicU64,
    /// Connected market-data WebSocket clients.
    pub clients: AtomicU64,
    /// Connected user data stream clients (the WebSocket API, listen-key streams).
    pub user_stream_clients: AtomicU64,
    /// Clients disconnected for being too slow.
    pub clients_dropped: AtomicU64,
    /// Clients disconnected for not answering a ping in time.
    pub pong_timeouts: AtomicU64,
    /// The replay has started.
    pub replay_started: AtomicBool,
    /// The replay is over.
    pub replay_done: AtomicBool,
    /// Event time reached by the replay, ms in the emitted time base.
    pub event_time_ms: AtomicI64,
}

/// How the venue is set up.
#[derive(Debug, Clone)]
pub struct VenueOptions {
    /// The symbol.
    pub spec: SymbolSpec,
    /// Time base of emitted event times.
    pub time_base: TimeBase,
    /// Frames queued per connection before it is disconnected.
    pub queue_capacity: usize,
    /// Ping frames and the pong deadline of every connection.
    pub keepalive: Keepalive,
    /// Book updates remembered for [`Venue::book_at`].
    pub history: usize,
    /// Faults injected into every connection.
    pub faults: Faults,
    /// Seed of the fault draws.
    pub seed: u64,
    /// The account, its key pair, rate limits and order faults.
    pub trading: TradingOptions,
}

impl VenueOptions {
    /// Defaults for `spec`: rebased times, default queue and history, no faults, seed 7.
    pub fn new(spec: SymbolSpec) -> Self {
        VenueOptions {
            spec,
            time_base: TimeBase::Rebased,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            keepalive: Keepalive::default(),
            history: DEFAULT_HISTORY,
            faults: Faults::default(),
            seed: 7,
            trading: TradingOptions::default(),
        }
    }
}

/// The venue's shared state.
#[derive(Debug)]
pub struct Venue {
    book: Mutex<TrackedBook>,
    events: broadcast::Sender<Arc<Frame>>,
    /// Counters.
    pub stats: Stats,
    /// The symbol.
    pub spec: SymbolSpec,
    /// The symbol in lower case, as stream names spell it.
    pub symbol_lower: String,
    /// Time base of emitted times.
    pub time_base: TimeBase,
    /// Added to recorded times (ms) to get emitted times: whole seconds, so each emitted second holds
    /// the recorded second's events (1-second candles cut from emitted times are the recorded ones).
    offset_ms: AtomicI64,
    /// The venue's clock ahead of the wall clock (ms, -499 to 500) with rebased times, set once
    /// (the clock never jumps): the offset rounded to whole seconds would stamp the first event
    /// this far from the wall clock's "now", and `serverTime` says so.
    clock_shift_ms: i64,
    /// Turns true when the first market-data client connects.
    pub client_seen: watch::Sender<bool>,
    /// Faults injected into every connection.
    pub faults: Faults,
    /// Faults injected so far.
    pub fault_counts: FaultCounts,
    /// Seed of the fault draws.
    pub seed: u64,
    /// Connections accepted so far (numbers them for the fault draws).
    pub connections: AtomicU64,
    /// Frames queued per connection before it is disconnected.
    pub queue_capacity: usize,
    /// Ping frames and the pong deadline of every connection.
    pub keepalive: Keepalive,
    /// Hang-ups, stalls and `serverShutdown` announcements that every connection obeys.
    pub control: watch::Sender<Control>,
    /// Turns true when the venue closes its connections ([`Venue::close_all`]).
    closing: watch::Sender<bool>,
    /// New connections are refused until then.
    refuse_until: Mutex<Option<tokio::time::Instant>>,
    /// Draws of the stale-snapshot fault.
    snapshot_rng: Mutex<StdRng>,
    /// The account, the order API's state and the user data stream.
    pub trading: Trading,
}

impl Venue {
    /// A venue around an initial book whose first event is at `first_us` (recorded time).
    pub fn new(opts: VenueOptions, book: Book, first_us: Option<i64>) -> Arc<Self> {
        let capacity = opts.queue_capacity.max(2);
        let (events, _) = broadcast::channel(capacity);
        let (offset_ms, clock_shift_ms) = match (opts.time_base, first_us) {
            (TimeBase::Rebased, Some(t0)) => whole_second_offset(wall_ms(), t0.div_euclid(1000)),
            _ => (0, 0),
        };
        let stats = Stats::default();
        if let Some(t0) = first_us {
            stats
                .event_time_ms
                .store(t0.div_euclid(1000) + offset_ms, Ordering::Relaxed);
        }
        let trading = Trading::new(opts.spec.clone(), opts.trading, opts.seed);
        Arc::new(Venue {
            trading,
            book: Mutex::new(TrackedBook::new(book, opts.history)),
            events,
            stats,
            symbol_lower: opts.spec.lower(),
            spec: opts.spec,
            time_base: opts.time_base,
            offset_ms: AtomicI64::new(offset_ms),
            clock_shift_ms,
            client_seen: watch::channel(false).0,
            faults: opts.faults,
            fault_counts: FaultCounts::default(),
            seed: opts.seed,
            connections: AtomicU64::new(0),
            queue_capacity: capacity,
            keepalive: opts.keepalive,
            control: watch::channel(Control::default()).0,
            closing: watch::channel(false).0,
            refuse_until: Mutex::new(None),
            snapshot_rng: Mutex::new(StdRng::seed_from_u64(opts.seed)),
        })
    }

    fn tracked(&self) -> MutexGuard<'_, TrackedBook> {
        // A panic while holding the lock cannot leave the book half-updated in a way that matters
        // more than stopping the venue would; keep serving.
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the current authoritative book.
    pub fn book(&self) -> Book {
        self.tracked().book().clone()
    }

    /// The current update id.
    pub fn update_id(&self) -> u64 {
        self.tracked().book().update_id
    }

    /// The `/api/v3/depth` body for the top `limit` levels, read atomically with its update id.
    pub fn depth_json(&self, limit: usize) -> String {
        crate::wire::depth_snapshot(self.tracked().book(), limit)
    }

    /// The book at `update_id`, if it existed and is still remembered.
    pub fn book_at(&self, update_id: u64) -> Option<Book> {
        self.tracked().book_at(update_id)
    }

    /// The checksum ([`Book::checksum`]) of the book at `update_id`, if remembered.
    pub fn checksum_at(&self, update_id: u64) -> Option<u64> {
        self.tracked().checksum_at(update_id)
    }

    /// Applies an update ending at id `last` to the authoritative book.
    pub(crate) fn apply(&self, diff: &Diff, last: u64) {
        self.tracked().apply(diff, last);
    }

    /// Queues a frame for every connection.
    pub(crate) fn publish(&self, frame: Frame) {
        // No receiver is not an error: nobody is listening yet.
        let _ = self.events.send(Arc::new(frame));
    }

    /// A new connection's read position in the ring.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Frame>> {
        self.events.subscribe()
    }

    /// Frames not yet read by the slowest connection.
    pub fn queued(&self) -> usize {
        self.events.len()
    }

    /// Asks every connection to close with a close frame: the market-data ones after the frames
    /// published before ([`Frame::End`]), the user data streams at once ([`Venue::closed`]).
    pub fn close_all(&self) {
        self.publish(Frame::End);
        self.closing.send_replace(true);
    }

    /// Resolves once [`Venue::close_all`] has been called.
    pub async fn closed(&self) {
        // The sender lives as long as the venue: an error cannot happen while it is borrowed.
        let _ = self.closing.subscribe().wait_for(|c| *c).await;
    }

    /// Open WebSocket connections, market data and user data streams.
    pub fn open_connections(&self) -> u64 {
        self.stats.clients.load(Ordering::Relaxed)
            + self.stats.user_stream_clients.load(Ordering::Relaxed)
    }

    /// Makes every open connection hang up (a fault), then refuses reconnects for
    /// [`Faults::refuse_reconnects`] if set.
    pub fn kick_all(&self) {
        self.control.send_modify(|c| c.kicks += 1);
        if let Some(d) = self.faults.refuse_reconnects {
            self.refuse_for(d);
        }
    }

    /// Every connection stops sending for `d`.
    pub fn stall_all(&self, d: std::time::Duration) {
        let until = tokio::time::Instant::now() + d;
        self.control.send_modify(|c| c.stalled_until = Some(until));
    }

    /// Every connection open now is sent `serverShutdown` and closed `grace` later.
    pub fn announce_shutdown(&self, grace: std::time::Duration) {
        self.control.send_modify(|c| {
            c.shutdowns += 1;
            c.shutdown_grace = grace;
        });
    }

    /// New connections are refused for `d` from now.
    pub fn refuse_for(&self, d: std::time::Duration) {
        let until = tokio::time::Instant::now() + d;
        let mut r = self.refuse_until.lock().unwrap_or_else(|e| e.into_inner());
        *r = Some(r.map_or(until, |old| old.max(until)));
        tracing::info!(secs = d.as_secs_f64(), "fault: refusing new connections");
    }

    /// True while new connections are refused; counts the refusal.
    pub fn refuses_connection(&self) -> bool {
        let r = self.refuse_until.lock().unwrap_or_else(|e| e.into_inner());
        let refused = r.is_some_and(|until| tokio::time::Instant::now() < until);
        if refused {
            self.fault_counts.refused.fetch_add(1, Ordering::Relaxed);
        }
        refused
    }

    /// The `/api/v3/depth` body for a client: with the stale-snapshot fault, a drawn fraction of
    /// answers is served [`Faults::stale_snapshot_updates`] updates in the past (or as far back as
    /// remembered).
    pub fn client_depth_json(&self, limit: usize) -> String {
        let p = self.faults.stale_snapshot;
        let stale = p > 0.0
            && self
                .snapshot_rng
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .gen::<f64>()
                < p;
        let tracked = self.tracked();
        if stale {
            let ids: Vec<u64> = tracked.ids().collect();
            let back = self.faults.stale_snapshot_updates as usize;
            if ids.len() > 1 {
                let id = ids[ids.len().saturating_sub(1 + back)];
                if let Some(book) = tracked.book_at(id) {
                    self.fault_counts
                        .stale_snapshots
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        update_id = id,
                        now = tracked.book().update_id,
                        "fault: stale snapshot"
                    );
                    return crate::wire::depth_snapshot(&book, limit);
                }
            }
        }
        crate::wire::depth_snapshot(tracked.book(), limit)
    }

    /// The replay clock: the event time (ms, emitted) the replay has reached.
    pub fn event_time_ms(&self) -> i64 {
        self.stats.event_time_ms.load(Ordering::Relaxed)
    }

    /// Emitted time (ms) of recorded event time `ts_us`.
    pub fn emitted_ms(&self, ts_us: i64) -> i64 {
        ts_us.div_euclid(1000) + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Rebases so that recorded time `t0_us` is emitted as the venue's clock says now, in whole
    /// seconds, and returns by how much the first event's stamp leads that clock, ms (0 for original
    /// times). At wall speed (`wall_speed`) the stamps follow the venue's clock: the offset is the
    /// nearest (lead -499 to 500), and the replay sends each event when the clock reaches its stamp.
    /// At another speed they do not: the offset is rounded up (lead 0 to 999), so that no stamp
    /// starts behind the clock (a client would read it as lag). The venue's clock itself is left as
    /// it is: a client that learnt it (its signing offset, its rate windows) stays right.
    pub(crate) fn rebase_now(&self, t0_us: i64, wall_speed: bool) -> i64 {
        if self.time_base == TimeBase::Original {
            return 0;
        }
        let exact = self.rate_clock_ms() - t0_us.div_euclid(1000);
        let (offset, lead) = if wall_speed {
            whole_second_offset(exact, 0)
        } else {
            let up = (exact + 999).div_euclid(1000) * 1000;
            (up, up - exact)
        };
        self.offset_ms.store(offset, Ordering::Relaxed);
        lead
    }

    /// `serverTime`: with rebased times the venue's clock (the wall clock shifted by less than half a
    /// second, see `clock_shift_ms`), the replay's event time with original ones.
    pub fn server_time_ms(&self) -> i64 {
        match self.time_base {
            TimeBase::Rebased => self.rate_clock_ms(),
            TimeBase::Original => self.event_time_ms(),
        }
    }

    /// The clock the rate-limit windows turn over on, ms. Binance counts them on its own clock, the
    /// one `serverTime` reads and clients learn their offset from; with rebased times that is the
    /// venue's clock, so a client that aligns its windows to `serverTime` meets the venue's. With
    /// original times (the replay's event time, not running at wall speed) it is the wall clock.
    pub fn rate_clock_ms(&self) -> i64 {
        wall_ms() + self.clock_shift_ms
    }

    /// The `/sim/stats` body.
    pub fn stats_json(&self) -> String {
        let st = &self.stats;
        let c = &self.fault_counts;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        serde_json::json!({
            "trades_sent": load(&st.trades_sent),
            "depth_updates_sent": load(&st.depth_updates_sent),
            "depth_1s_updates_sent": load(&st.depth_1s_updates_sent),
            "clients": load(&st.clients),
            "user_stream_clients": load(&st.user_stream_clients),
            "clients_dropped": load(&st.clients_dropped),
            "pong_timeouts": load(&st.pong_timeouts),
            "replay_started": st.replay_started.load(Ordering::Relaxed),
            "replay_done": st.replay_done.load(Ordering::Relaxed),
            "event_time_ms": st.event_time_ms.load(Ordering::Relaxed),
            "time_offset_ms": self.offset_ms.load(Ordering::Relaxed),
            "last_update_id": self.update_id(),
            "order_requests": load(&self.trading.order_requests),
            "faults": {
                "dropped": load(&c.dropped),
                "duplicated": load(&c.duplicated),
                "malformed": load(&c.malformed),
                "bad_prices": load(&c.bad_prices),
                "reordered": load(&c.reordered),
                "disconnects": load(&c.disconnects),
                "refused": load(&c.refused),
                "stalls": load(&c.stalls),
                "server_shutdowns": load(&c.server_shutdowns),
                "stale_snapshots": load(&c.stale_snapshots),
                "order_timeouts": load(&self.trading.fault_counts.timeouts),
                "order_rejects": load(&self.trading.fault_counts.rejects),
                "user_events_dropped": load(&self.trading.fault_counts.user_events_dropped),
            },
        })
        .to_string()
    }
}

/// The offset (ms) that stamps recorded time `t0_ms` nearest to `now_ms` in whole seconds, and how
/// far ahead of `now_ms` that stamps it (-499 to 500 ms). Whole seconds keep each
/// event in its recorded second: a client's 1-second candles are then the backtest's, whatever the
/// millisecond the replay starts at.
pub fn whole_second_offset(now_ms: i64, t0_ms: i64) -> (i64, i64) {
    let exact = now_ms - t0_ms;
    let offset = (exact + 500).div_euclid(1000) * 1000;
    (offset, offset - exact)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::SCALE;

    fn venue(time_base: TimeBase) -> Arc<Venue> {
        venue_from(time_base, 1_760_130_000_000_000)
    }

    /// A venue whose first recorded event is at `first_us`.
    fn venue_from(time_base: TimeBase, first_us: i64) -> Arc<Venue> {
        let spec = SymbolSpec::new_checked("POLUSDT", 10_000, SCALE / 10, 5 * SCALE).unwrap();
        let opts = VenueOptions {
            time_base,
            ..VenueOptions::new(spec)
        };
        Venue::new(opts, Book::empty(INITIAL_UPDATE_ID), Some(first_us))
    }

    #[test]
    fn time_bases() {
        let v = venue(TimeBase::Original);
        assert_eq!(v.emitted_ms(1_760_130_000_123_456), 1_760_130_000_123);
        assert_eq!(v.server_time_ms(), 1_760_130_000_000);
        assert_eq!(v.rebase_now(1_760_130_000_000_000, true), 0);
        let v = venue(TimeBase::Rebased);
        let clock_before = v.server_time_ms() - wall_ms();
        let t0 = 1_760_130_000_000_000 + 3_600_123_000;
        let lead = v.rebase_now(t0, true);
        let now = v.server_time_ms();
        assert!((-499..=500).contains(&lead), "{lead}");
        // The first event is stamped `lead` ms past the venue's clock now.
        assert!((v.emitted_ms(t0) - lead - now).abs() < 50);
        // Off wall speed, never behind it.
        let ahead = v.rebase_now(t0, false);
        assert!((0..1000).contains(&ahead), "{ahead}");
        // The same lead, or a second more, give or take the milliseconds between the two calls.
        let d = (ahead - lead).rem_euclid(1000);
        assert!(d <= 20 || d >= 980, "{lead} {ahead}");
        assert!((v.emitted_ms(t0) - ahead - v.server_time_ms()).abs() < 50);
        assert!((v.server_time_ms() - wall_ms()).abs() <= 500);
        // The rebase moved the emitted times, not the venue's clock.
        assert_eq!(v.server_time_ms() - wall_ms(), clock_before);
        // Each recorded second is emitted as a whole second: the millisecond within it is kept.
        assert_eq!(v.emitted_ms(t0 + 456_000).rem_euclid(1000), 123 + 456);
    }

    #[test]
    fn rate_windows_turn_over_on_the_venues_clock() {
        // The first recorded event 7.4 s before now: rebased to the whole second nearest, the
        // venue's clock (`serverTime`) runs 400 ms behind the wall clock, and so do the windows.
        let made = wall_ms();
        let v = venue_from(TimeBase::Rebased, (made - 7_400) * 1000);
        let late = wall_ms() - made; // how long making the venue took: its "now" is that much later
        let shift = v.clock_shift_ms;
        assert!((-400 - late..=-400).contains(&shift), "{shift} ({late} ms)");
        let before = wall_ms();
        let rate = v.rate_clock_ms();
        let server = v.server_time_ms();
        let after = wall_ms();
        assert!(before + shift <= rate && rate <= server && server <= after + shift);
        // Original times: the replay's event time is no clock to count on; the wall clock is.
        let v = venue(TimeBase::Original);
        let before = wall_ms();
        let rate = v.rate_clock_ms();
        assert!(before <= rate && rate <= wall_ms());
    }

    #[test]
    fn the_offset_is_whole_seconds_nearest_the_wall_clock() {
        for (wall, t0, offset, shift) in [
            (10_400, 1_000, 9_000, -400),
            (10_500, 1_000, 10_000, 500),
            (10_499, 1_000, 9_000, -499),
            (10_000, 1_000, 9_000, 0),
            (1_760_000_000_750, 1_700_000_000_000, 60_000_001_000, 250),
        ] {
            assert_eq!(
                whole_second_offset(wall, t0),
                (offset, shift),
                "{wall} {t0}"
            );
            assert_eq!((t0 + offset) - wall, shift);
        }
    }

    /// `--stale-snapshot` serves `/api/v3/depth` answers exactly `--stale-snapshot-updates`
    /// updates in the past (older than the stream), as far back as remembered, and counts and logs
    /// them;
    /// without the fault the answer is the current book.
    #[test]
    fn stale_snapshots_are_the_given_number_of_updates_old() {
        let spec = SymbolSpec::new_checked("POLUSDT", 10_000, SCALE / 10, 5 * SCALE).unwrap();
        let with = |stale_snapshot: f64| {
            let opts = VenueOptions {
                faults: Faults {
                    stale_snapshot,
                    stale_snapshot_updates: 3,
                    ..Faults::default()
                },
                history: 5,
                ..VenueOptions::new(spec.clone())
            };
            let v = Venue::new(opts, Book::empty(100), None);
            for k in 1..=10u64 {
                let d = Diff {
                    bids: vec![(15_000_000 + k, k * SCALE)],
                    asks: vec![],
                };
                // Update k ends at id 100 + 2k (each event covers two ids).
                v.apply(&d, 100 + 2 * k);
            }
            v
        };
        let id_of = |body: String| -> u64 {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            v["lastUpdateId"].as_u64().unwrap()
        };
        let v = with(1.0);
        let logs = crate::log_capture::LogBuf::default();
        let body =
            tracing::subscriber::with_default(logs.subscriber(), || v.client_depth_json(100));
        let logged = logs.lines_with("fault: stale snapshot");
        assert_eq!(logged.len(), 1);
        assert!(logged[0].contains("update_id=114"), "{}", logged[0]);
        assert_eq!(id_of(body.clone()), 114, "three updates before 120");
        assert_eq!(
            body,
            crate::wire::depth_snapshot(&v.book_at(114).unwrap(), 100)
        );
        assert_eq!(v.fault_counts.stale_snapshots.load(Ordering::Relaxed), 1);
        assert_eq!(
            id_of(v.depth_json(100)),
            120,
            "the venue's own book is current"
        );
        let v = with(0.0);
        assert_eq!(id_of(v.client_depth_json(100)), 120);
        assert_eq!(v.fault_counts.stale_snapshots.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn snapshot_and_history_follow_updates() {
        let v = venue(TimeBase::Original);
        let d = Diff {
            bids: vec![(15_830_000, SCALE)],
            asks: vec![(15_840_000, SCALE)],
        };
        v.apply(&d, INITIAL_UPDATE_ID + 2);
        let body: serde_json::Value = serde_json::from_str(&v.depth_json(10)).unwrap();
        assert_eq!(body["lastUpdateId"], INITIAL_UPDATE_ID + 2);
        assert_eq!(body["bids"][0][0], "0.15830000");
        assert_eq!(
            v.book_at(INITIAL_UPDATE_ID),
            Some(Book::empty(INITIAL_UPDATE_ID))
        );
        assert_eq!(
            v.checksum_at(INITIAL_UPDATE_ID + 2),
            Some(v.book().checksum())
        );
        let stats: serde_json::Value = serde_json::from_str(&v.stats_json()).unwrap();
        assert_eq!(stats["last_update_id"], INITIAL_UPDATE_ID + 2);
        assert_eq!(stats["replay_done"], false);
    }
}
