//! The feed task: connects to the venue's combined stream, keeps the shared book in sync by
//! Binance's rules, publishes trades, health and state changes, reconnects with backoff when the
//! connection fails or goes silent for longer than the heartbeat timeout, and rotates it before the
//! venue's 24-hour limit. Its frames are handled in `frames`, its REST snapshots in `snapshots`,
//! the rotation in `rotation`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use common::config::FeedConfig;
use common::message::{DataMessage, StateChange, Trade};
use common::time::now_ns;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tracing::{info, warn};

use crate::backoff::Backoff;
use crate::binance::{EventClock, ParseError, Snapshot};
use crate::health::{self, Counters, Interval, LatencyAlarm};
use crate::metrics::FeedMetrics;
use crate::rest::{IpPause, RestError};
use crate::shared::SharedBook;
use crate::sync::BookSync;
use crate::trade_ids::TradeIds;
use crate::venue_time::ClockOffset;
use crate::verify::PendingCheck;

mod frames;
mod rotation;
mod snapshots;
mod state;
mod venue_clock;

use rotation::{Handover, Held, Standby};

pub use venue_clock::CLOCK_CHECK_PERIOD;

pub use state::FeedState;

/// Failed connection attempts in a row after which the feed reports `halted`.
pub const HALT_AFTER_ATTEMPTS: u32 = 10;
/// How long a connection must carry a live book before its end counts as a new outage (the backoff
/// starts over) rather than one more failed attempt: a venue that accepts connections and drops them
/// within seconds is redialled ever more slowly, not every `reconnect_initial_ms` (Binance counts
/// connections per IP, and may ban an IP that keeps reconnecting).
pub const STABLE_CONNECTION: Duration = Duration::from_secs(10);
/// How long a book must stay live after it synced before its next resync counts as a new incident
/// (its snapshot is fetched again after the shortest delay) rather than one more failed attempt of
/// the same one (the delay doubles, up to 10 s): a book that keeps going corrupt or meeting a gap
/// right after each sync asks for one snapshot (weight 50 at 1,000 levels, 250 at 5,000) ever more
/// slowly, not one per depth event, which would spend the IP's 6,000 a minute in seconds (the 429
/// then pauses the order executor's requests too).
pub const STABLE_BOOK: Duration = STABLE_CONNECTION;

/// Health intervals in `secs` seconds (at least one).
fn alarm_intervals(secs: u64, interval: Duration) -> u32 {
    let ms = interval.as_millis().max(1) as u64;
    (secs * 1_000).div_ceil(ms).max(1) as u32
}

/// Where the feed sends what it produces.
#[derive(Debug, Clone)]
pub struct FeedOutputs {
    /// Trades, health and state changes, to the data publisher.
    pub data: mpsc::Sender<DataMessage>,
    /// Trades, to the paper executor.
    pub trades: mpsc::Sender<Trade>,
    /// The book, shared with the publisher and the executor.
    pub book: SharedBook,
    /// The feed's state, for the engine's own halt.
    pub state: watch::Sender<FeedState>,
}

type SnapshotTask = JoinHandle<Result<Snapshot, RestError>>;

/// The feed of one symbol.
pub struct FeedTask {
    cfg: FeedConfig,
    symbol: String,
    health_interval: Duration,
    out: FeedOutputs,
    http: reqwest::Client,
    sync: BookSync,
    state: FeedState,
    counters: Counters,
    interval: Interval,
    trade_ids: TradeIds,
    /// Refuses event times far ahead of the local clock.
    clock: EventClock,
    /// The host clock's offset from the venue's (`GET /api/v3/time`), taken out of the latency.
    venue_clock: ClockOffset,
    snapshot_at: Option<Instant>,
    /// Delays before every snapshot fetched after the connection's first (after a resync for a
    /// gap, a corrupt book or implausible ids, a buffer overflow, a snapshot older than the stream,
    /// or a failed fetch): doubling from 100 ms to 10 s, so a venue whose snapshots keep lagging its
    /// stream (a crash), or whose book keeps failing right after each sync, is not asked for one
    /// (weight 50 at 1,000 levels) every 100 ms or at every event. Started over by a new connection
    /// (connections have their own backoff) and by a book that stayed live [`STABLE_BOOK`], not by
    /// each sync.
    snapshot_retry: Backoff,
    /// When the book last synced, while it is live.
    live_since: Option<Instant>,
    check: PendingCheck,
    alarm: LatencyAlarm,
    updates: Option<watch::Receiver<FeedConfig>>,
    /// When this task was made (`HealthMetrics.started_ts_ns`).
    started_ns: u64,
    /// No REST request while it lasts: the venue answered 429 or 418 to this feed or, when shared
    /// ([`Self::with_ip_pause`]), to the order executor (its limits are per IP).
    ip_pause: Arc<IpPause>,
}

/// Why a connection ended.
#[derive(Debug)]
enum Ended {
    Shutdown,
    Dropped(String),
    /// A new connection took over (rotation).
    Rotated(Box<Handover>),
}

impl FeedTask {
    /// A feed for `symbol` (upper case) with the `[feed]` settings.
    pub fn new(cfg: FeedConfig, symbol: &str, health_interval: Duration, out: FeedOutputs) -> Self {
        let alarm = LatencyAlarm::new(
            cfg.latency_alert_ms as f64 * 1_000.0,
            alarm_intervals(cfg.latency_alert_secs, health_interval),
        );
        let check = PendingCheck::new(usize::try_from(cfg.snapshot_limit).unwrap_or(usize::MAX));
        FeedTask {
            cfg,
            symbol: symbol.to_owned(),
            health_interval,
            out,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            sync: BookSync::new(),
            state: FeedState::Stopped,
            counters: Counters::default(),
            interval: Interval::new(now_ns()),
            trade_ids: TradeIds::default(),
            clock: EventClock::default(),
            venue_clock: ClockOffset::default(),
            snapshot_at: None,
            snapshot_retry: Backoff::new(100, 10_000),
            live_since: None,
            check,
            alarm,
            started_ns: now_ns(),
            updates: None,
            ip_pause: Arc::default(),
        }
    }

    /// Takes new `[feed]` settings from `updates` (a config reload; the URLs and levels must not
    /// change): the heartbeat, the latency alarm and the rotation's age apply at the next health
    /// interval (or connection), the snapshot check period at the next connection.
    pub fn with_updates(mut self, updates: watch::Receiver<FeedConfig>) -> Self {
        self.updates = Some(updates);
        self
    }

    /// Shares the pause of REST requests after a 429 or 418 with the other REST users of the
    /// process (the order executor): a wait the venue asked of either holds for both.
    pub fn with_ip_pause(mut self, pause: Arc<IpPause>) -> Self {
        self.ip_pause = pause;
        self
    }

    /// Applies new settings, if any; true when it did.
    fn apply_updates(&mut self) -> bool {
        let Some(rx) = self.updates.as_mut() else {
            return false;
        };
        // Not `has_changed()`: it answers an error once the sender is gone, a last value unread.
        let latest = rx.borrow_and_update();
        if !latest.has_changed() {
            return false;
        }
        self.cfg = latest.clone();
        drop(latest);
        self.alarm = LatencyAlarm::new(
            self.cfg.latency_alert_ms as f64 * 1_000.0,
            alarm_intervals(self.cfg.latency_alert_secs, self.health_interval),
        );
        info!(
            heartbeat_timeout_ms = self.cfg.heartbeat_timeout_ms,
            latency_alert_ms = self.cfg.latency_alert_ms,
            latency_alert_secs = self.cfg.latency_alert_secs,
            "feed settings reloaded"
        );
        true
    }

    /// The combined-stream URL on a base URL.
    pub fn stream_url(&self, base: &str) -> String {
        let s = self.symbol.to_lowercase();
        format!(
            "{}/stream?streams={s}@depth@100ms/{s}@aggTrade",
            base.trim_end_matches('/')
        )
    }

    /// The primary base URL, then the backup when one is configured.
    fn base_urls(&self) -> Vec<String> {
        let mut urls = vec![self.cfg.ws_url.clone()];
        if !self.cfg.backup_ws_url.is_empty() {
            urls.push(self.cfg.backup_ws_url.clone());
        }
        urls
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Backoff::new(self.cfg.reconnect_initial_ms, self.cfg.reconnect_max_ms);
        let mut first = true;
        let urls: Vec<String> = self
            .base_urls()
            .iter()
            .map(|b| self.stream_url(b))
            .collect();
        let mut which = 0usize;
        // A connection made after an earlier one was is a reconnection (dial attempts that fail
        // are not: the backoff counts those).
        let mut connected_before = false;
        let mut carried: Option<Box<Handover>> = None;
        while !*shutdown.borrow() {
            let url = urls[which].clone();
            let (ws, held) = match carried.take() {
                Some(h) => (Ok(h.ws), Some(h.held)),
                None => {
                    let state = if first {
                        FeedState::Connecting
                    } else {
                        FeedState::Reconnecting
                    };
                    if backoff.attempts() < HALT_AFTER_ATTEMPTS || self.state != FeedState::Halted {
                        self.set_state(state, &format!("connecting to {url}")).await;
                    }
                    first = false;
                    (rotation::dial(&url).await, None)
                }
            };
            let ended = match ws {
                Ok(ws) => {
                    if held.is_none() {
                        info!(%url, "feed connected");
                        if connected_before {
                            self.counters.reconnects += 1;
                        }
                    }
                    connected_before = true;
                    let (opened, lives) = (Instant::now(), self.counters.resyncs);
                    let ended = self.run_connection(ws, &url, held, &mut shutdown).await;
                    // A book live for a while (through rotations too) makes the next drop a new outage.
                    let stable = |t: Instant| t.elapsed() >= STABLE_CONNECTION;
                    if (self.counters.resyncs > lives && stable(opened))
                        || self.live_since.is_some_and(stable)
                    {
                        backoff.reset();
                    }
                    ended
                }
                Err(reason) => Ended::Dropped(reason),
            };
            let reason = match ended {
                Ended::Shutdown => break,
                Ended::Rotated(h) => {
                    carried = Some(h);
                    continue;
                }
                Ended::Dropped(reason) => reason,
            };
            self.out.book.write().synced = false;
            // Fail over: the next attempt goes to the other URL, when there is one.
            which = (which + 1) % urls.len();
            let delay = if which == 0 || urls.len() == 1 {
                backoff.next_delay()
            } else {
                Duration::ZERO
            };
            warn!(%reason, attempt = backoff.attempts(), next = %urls[which], delay_ms = delay.as_millis() as u64, "feed down, reconnecting");
            if backoff.attempts() >= HALT_AFTER_ATTEMPTS {
                self.set_state(
                    FeedState::Halted,
                    &format!(
                        "{} failed connection attempts: {reason}",
                        backoff.attempts()
                    ),
                )
                .await;
            } else {
                let why = format!("{reason}; next attempt: {}", urls[which]);
                self.set_state(FeedState::Reconnecting, &why).await;
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => break,
            }
        }
        self.out.book.write().synced = false;
        self.set_state(FeedState::Stopped, "shutdown").await;
    }

    /// Serves one connection to `url` until it ends. `held`: the frames a connection that takes
    /// over by rotation received before the switch; a live book is handed over to it (no resync).
    async fn run_connection<S>(
        &mut self,
        mut ws: S,
        url: &str,
        held: Option<VecDeque<Held>>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Ended
    where
        S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
            + futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error>
            + Unpin,
    {
        self.apply_updates();
        // After a rotation the new connection's trades the old one delivered are dropped, whether
        // or not the book was live to be handed over.
        let delivered = held.as_ref().and(self.trade_ids.last());
        if !(held.is_some() && self.sync.hand_over()) {
            self.out.book.write().synced = false;
            self.sync.restart();
            self.check.clear();
            self.trade_ids.reconnected();
            // The connection's first snapshot is fetched at once (the redials have their backoff).
            self.snapshot_retry.reset();
            self.live_since = None;
            self.set_state(FeedState::Syncing, "connected, waiting for snapshot")
                .await;
        }
        if let Some(last) = delivered {
            self.trade_ids.handed_over(last);
        }
        let refresh_on = self.cfg.snapshot_refresh_secs > 0;
        let period = Duration::from_secs(self.cfg.snapshot_refresh_secs.max(1));
        let mut refresh = tokio::time::interval_at(Instant::now() + period, period);
        let mut verify_task: Option<SnapshotTask> = None;
        let mut heartbeat = Duration::from_millis(self.cfg.heartbeat_timeout_ms);
        let mut snapshot_task: Option<SnapshotTask> = None;
        // The venue's clock, checked beside the first snapshot and every `CLOCK_CHECK_PERIOD`.
        let mut time_task = Some(self.fetch_time(Duration::ZERO));
        let mut time_tick =
            tokio::time::interval_at(Instant::now() + CLOCK_CHECK_PERIOD, CLOCK_CHECK_PERIOD);
        let mut health_tick = tokio::time::interval(self.health_interval);
        let mut last_msg = Instant::now();
        // The heartbeat deadline is checked lazily: a message only stamps `last_msg`, and the timer,
        // registered once, is moved on when it fires before the deadline it has fallen behind (no
        // timer registered and dropped per message).
        let silence = tokio::time::sleep_until(last_msg + heartbeat);
        tokio::pin!(silence);
        // The rotation to a new connection before the venue's 24-hour limit (`rotation`).
        let opened = Instant::now();
        let mut rotate_after = Duration::from_secs(self.cfg.rotate_after_secs);
        let rotate = tokio::time::sleep_until(opened + rotate_after);
        tokio::pin!(rotate);
        let mut standby: Option<Standby> = None;
        // Frames a rotation's new connection held: handled first; a `serverShutdown` among them
        // ends it at the loop's first turn.
        let mut early = None;
        for frame in held.into_iter().flatten() {
            early = self
                .on_text(&frame.text, frame.local_ns, &mut snapshot_task)
                .await;
            if early.is_some() {
                break;
            }
        }
        let ended = loop {
            if let Some(ended) = early.take() {
                break ended;
            }
            tokio::select! {
                biased;
                _ = shutdown.changed() => break Ended::Shutdown,
                res = async { snapshot_task.as_mut().expect("guarded").await }, if snapshot_task.is_some() => {
                    snapshot_task = None;
                    let res = res.unwrap_or_else(|e| Err(self.task_failed(&e)));
                    self.on_snapshot(res, &mut snapshot_task).await;
                }
                res = async { time_task.as_mut().expect("guarded").await }, if time_task.is_some() => {
                    time_task = None;
                    let check = res.unwrap_or_else(|e| self.time_task_failed(&e));
                    self.on_time(check);
                }
                msg = ws.next() => {
                    let msg = match msg {
                        None => break Ended::Dropped("stream closed".into()),
                        Some(Err(e)) => break Ended::Dropped(format!("websocket error: {e}")),
                        Some(Ok(m)) => m,
                    };
                    last_msg = Instant::now();
                    match msg {
                        Message::Text(text) => {
                            if let Some(ended) = self.on_text(&text, now_ns(), &mut snapshot_task).await {
                                break ended;
                            }
                            if let Some(ended) = self.try_switch(&mut standby, &mut ws, rotate.as_mut()).await {
                                break ended;
                            }
                        }
                        // tungstenite queues the pong; flushing sends it now.
                        Message::Ping(_) => {
                            if let Err(e) = ws.flush().await {
                                break Ended::Dropped(format!("pong failed: {e}"));
                            }
                        }
                        Message::Close(frame) => break Ended::Dropped(format!("closed by venue: {frame:?}")),
                        Message::Binary(_) => self.count_parse_error(&ParseError::Malformed("binary frame".into())),
                        Message::Pong(_) | Message::Frame(_) => {}
                    }
                }
                frame = async { standby.as_mut().expect("guarded").next().await }, if standby.is_some() => {
                    match frame {
                        Some(frame) => {
                            let sb = standby.as_mut().expect("guarded");
                            sb.hold(frame, &self.symbol);
                            if sb.held() > rotation::MAX_HELD {
                                rotation::give_up(&mut standby, "it never caught up", rotate.as_mut());
                            } else if let Some(ended) = self.try_switch(&mut standby, &mut ws, rotate.as_mut()).await {
                                break ended;
                            }
                        }
                        None => {
                            let why = standby.take().expect("guarded").failure().await;
                            rotation::give_up(&mut standby, &why, rotate.as_mut());
                        }
                    }
                }
                () = &mut rotate, if !rotate_after.is_zero() => {
                    if standby.is_some() {
                        rotation::give_up(&mut standby, "it did not catch up in time", rotate.as_mut());
                    } else if self.sync.is_live() {
                        info!(%url, after_secs = rotate_after.as_secs(), "rotation: opening a new connection beside this one");
                        let sb = Standby::open(url);
                        rotate.as_mut().reset(sb.deadline);
                        standby = Some(sb);
                    } else {
                        rotate.as_mut().reset(Instant::now() + rotation::RETRY_AFTER);
                    }
                }
                () = &mut silence => {
                    let deadline = last_msg + heartbeat;
                    if Instant::now() >= deadline {
                        break Ended::Dropped(format!("no message for {} ms", heartbeat.as_millis()));
                    }
                    silence.as_mut().reset(deadline);
                }
                _ = health_tick.tick() => {
                    if self.apply_updates() {
                        heartbeat = Duration::from_millis(self.cfg.heartbeat_timeout_ms);
                        silence.as_mut().reset(last_msg + heartbeat);
                        let after = Duration::from_secs(self.cfg.rotate_after_secs);
                        if after != rotate_after && standby.is_none() {
                            rotate_after = after;
                            rotate.as_mut().reset((opened + after).max(Instant::now()));
                        }
                    }
                    if self.publish_health().await {
                        let why = format!(
                            "mean feed latency above {} ms for {} s",
                            self.cfg.latency_alert_ms, self.cfg.latency_alert_secs
                        );
                        self.set_state(FeedState::Lagging, &why).await;
                        break Ended::Dropped(why);
                    }
                }
                _ = time_tick.tick() => {
                    if time_task.is_none() && self.time_check_due(self.ip_pause.now_ms()) {
                        time_task = Some(self.fetch_time(Duration::ZERO));
                    }
                }
                _ = refresh.tick(), if refresh_on => {
                    if verify_task.is_none() && self.verify_due(self.ip_pause.now_ms()) {
                        verify_task = Some(self.fetch_snapshot(Duration::ZERO));
                    }
                }
                res = async { verify_task.as_mut().expect("guarded").await }, if verify_task.is_some() => {
                    verify_task = None;
                    match res.unwrap_or_else(|e| Err(self.task_failed(&e))) {
                        Ok(snap) if self.state == FeedState::Live => {
                            self.snapshot_at = Some(Instant::now());
                            let verdict = self.check_snapshot(snap);
                            self.on_verdict(verdict, &mut snapshot_task).await;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            self.note_rest_error(&e, self.ip_pause.now_ms());
                            warn!(error = %e, "verification snapshot failed");
                        }
                    }
                }
            }
        };
        for t in [snapshot_task, verify_task].into_iter().flatten() {
            t.abort();
        }
        if let Some(t) = time_task {
            t.abort();
        }
        ended
    }

    /// Publishes the interval's figures; true when the latency alarm is raised.
    async fn publish_health(&mut self) -> bool {
        let now = now_ns();
        let samples = self.interval.has_samples();
        FeedMetrics::global().observe_messages(self.interval.messages(), self.interval.samples());
        let (rate, lat) = self.interval.roll(now);
        let lagging = self.state == FeedState::Live && self.alarm.observe(&lat, samples);
        let levels = self.out.book.read().book.depth();
        let age = self
            .snapshot_at
            .map_or(0, |t| t.elapsed().as_millis() as u64);
        FeedMetrics::global().observe_interval(rate, &self.counters, levels, age);
        let m = health::metrics(
            now,
            &self.symbol,
            self.state.as_str(),
            rate,
            lat,
            &self.counters,
            levels,
            age,
            self.started_ns,
        );
        let _ = self.out.data.try_send(DataMessage::HealthMetrics(m));
        lagging
    }

    async fn set_state(&mut self, next: FeedState, reason: &str) {
        if next == self.state {
            return;
        }
        info!(from = self.state.as_str(), to = next.as_str(), %reason, "feed state");
        let msg = StateChange {
            ts_ns: now_ns(),
            component: "feed".into(),
            previous: self.state.as_str().into(),
            current: next.as_str().into(),
            reason: reason.into(),
        };
        self.state = next;
        FeedMetrics::global().set_state(next);
        self.out.state.send_replace(next);
        let _ = self.out.data.send(DataMessage::StateChange(msg)).await;
    }

    /// Counters since start.
    pub fn counters(&self) -> Counters {
        self.counters
    }
}

#[cfg(test)]
#[path = "feed_tests.rs"]
mod tests;
