//! Set-up shared by the integration tests: a simulator replaying a window of the real POLUSDT crash
//! on a free loopback port, a feed configuration pointing at it, and the engine's feed task run
//! against it.

#![allow(dead_code)] // each test uses a part

use std::net::SocketAddr;
use std::time::Duration;

use common::config::FeedConfig;
use common::message::{DataMessage, HealthMetrics};
use exchange_sim::clock::Speed;
use exchange_sim::faults::{Faults, Scheduled};
use exchange_sim::{launch, time, RunningVenue, SimConfig, Start};
use feed_handler::{FeedOutputs, FeedState, FeedTask, SharedBook};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The bundled real data: Binance spot POLUSDT trades, 2025-10-10 20:45 to 21:45 UTC.
pub const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../data/binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"
);

/// Starts a simulator replaying `[from, to)` (UTC) of the bundled data at `speed` with `faults`,
/// on a free loopback port; the replay starts when the first client connects.
pub async fn start_sim(from: &str, to: &str, speed: f64, faults: Faults) -> RunningVenue {
    start_sim_scheduled(from, to, speed, faults, Vec::new()).await
}

/// [`start_sim`] with faults at given times after the replay starts.
pub async fn start_sim_scheduled(
    from: &str,
    to: &str,
    speed: f64,
    faults: Faults,
    schedule: Vec<Scheduled>,
) -> RunningVenue {
    launch_sim(SimConfig {
        faults,
        schedule,
        ..sim_config(from, to, speed)
    })
    .await
}

/// The tests' simulator configuration (no faults) for a test to adjust before [`launch_sim`].
pub fn sim_config(from: &str, to: &str, speed: f64) -> SimConfig {
    SimConfig {
        from_us: Some(time::parse_utc_us(from).unwrap()),
        to_us: Some(time::parse_utc_us(to).unwrap()),
        speed: Speed::Factor(speed),
        start: Start::OnFirstClient,
        book_levels: 50,
        seed: 11,
        ..SimConfig::new(DATA)
    }
}

/// Starts a simulator with `cfg` on a free loopback port.
pub async fn launch_sim(mut cfg: SimConfig) -> RunningVenue {
    // The engine's test feed refreshes 5000-level snapshots every second (weight 250 each), more
    // than Binance's 6000 a minute: give it room.
    cfg.trading.rate_limits.weight_per_minute = 10_000_000;
    launch(&cfg).await.unwrap()
}

/// A feed configuration on `ws` with the simulator's REST API at `sim`, quick to reconnect.
pub fn feed_config(ws: String, backup: String, sim: SocketAddr) -> FeedConfig {
    FeedConfig {
        ws_url: ws,
        backup_ws_url: backup,
        rest_url: format!("http://{sim}"),
        snapshot_limit: 5000,
        snapshot_refresh_secs: 1,
        publish_levels: 20,
        max_publish_hz: 100,
        heartbeat_timeout_ms: 1000,
        latency_alert_ms: 500,
        latency_alert_secs: 5,
        reconnect_initial_ms: 20,
        reconnect_max_ms: 200,
        rotate_after_secs: 0,
    }
}

/// The simulator's authoritative book, parsed as a snapshot.
pub async fn venue_book(sim: SocketAddr) -> feed_handler::binance::Snapshot {
    let body = reqwest::get(format!("http://{sim}/sim/book?limit=5000"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    feed_handler::binance::snapshot::parse(&body).unwrap()
}

/// The simulator's book at `update_id` (top `limit` levels), `None` once it is forgotten.
pub async fn venue_book_at(
    sim: SocketAddr,
    update_id: u64,
    limit: usize,
) -> Option<feed_handler::binance::Snapshot> {
    let resp = reqwest::get(format!(
        "http://{sim}/sim/book?limit={limit}&update_id={update_id}"
    ))
    .await
    .unwrap();
    if resp.status() == reqwest::StatusCode::NOT_FOUND {
        return None;
    }
    let snap = feed_handler::binance::snapshot::parse(&resp.text().await.unwrap()).unwrap();
    assert_eq!(snap.last_update_id, update_id);
    Some(snap)
}

/// A bounded wait used by the tests.
pub const WAIT: Duration = Duration::from_secs(20);

/// The engine's feed task for POLUSDT, running: its shared book and its data channel (the trades
/// are drained).
pub struct RunningFeed {
    /// The book the task keeps.
    pub book: SharedBook,
    /// Everything the task publishes but trades: books, health, state changes.
    pub data: mpsc::Receiver<DataMessage>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Starts the feed task with `cfg`, publishing health every `health_every`.
pub fn spawn_feed(cfg: FeedConfig, health_every: Duration) -> RunningFeed {
    spawn_feed_with_updates(cfg, health_every, None)
}

/// [`spawn_feed`], taking new settings from `updates` (a config reload), when given.
pub fn spawn_feed_with_updates(
    cfg: FeedConfig,
    health_every: Duration,
    updates: Option<watch::Receiver<FeedConfig>>,
) -> RunningFeed {
    let book = SharedBook::default();
    let (data_tx, data) = mpsc::channel(65_536);
    let (trades_tx, mut trades_rx) = mpsc::channel(65_536);
    tokio::spawn(async move { while trades_rx.recv().await.is_some() {} });
    let (state_tx, _) = watch::channel(FeedState::Stopped);
    let out = FeedOutputs {
        data: data_tx,
        trades: trades_tx,
        book: book.clone(),
        state: state_tx,
    };
    let (stop, stop_rx) = watch::channel(false);
    let mut feed = FeedTask::new(cfg, "POLUSDT", health_every, out);
    if let Some(updates) = updates {
        feed = feed.with_updates(updates);
    }
    let task = tokio::spawn(feed.run(stop_rx));
    RunningFeed {
        book,
        data,
        stop,
        task,
    }
}

/// What a feed published until it stopped (see [`RunningFeed::last_health`]).
pub struct Published {
    /// The newest `HealthMetrics`.
    pub health: Option<HealthMetrics>,
    /// Every `StateChange`, as (new state, reason), in order.
    pub states: Vec<(String, String)>,
}

impl RunningFeed {
    /// Keeps the newest `HealthMetrics` and every state change published until the task stops, in
    /// a task of its own; returns what stops the feed, and that task. Every `HealthMetrics` carries
    /// the task's start (`started_ts_ns`), the same through every reconnect, resync and stall (the
    /// task panics otherwise).
    pub fn last_health(self) -> (StopHandle, JoinHandle<Published>) {
        let RunningFeed {
            mut data,
            stop,
            task,
            ..
        } = self;
        let health = tokio::spawn(async move {
            let mut last: Option<HealthMetrics> = None;
            let mut states = Vec::new();
            while let Some(msg) = data.recv().await {
                match msg {
                    DataMessage::HealthMetrics(h) => {
                        let started = last.as_ref().map_or(h.started_ts_ns, |l| l.started_ts_ns);
                        assert!(
                            h.started_ts_ns > 0 && h.started_ts_ns == started,
                            "the feed's start moved: {started} then {h:?}"
                        );
                        last = Some(h);
                    }
                    DataMessage::StateChange(s) => states.push((s.current, s.reason)),
                    _ => {}
                }
            }
            Published {
                health: last,
                states,
            }
        });
        (StopHandle { stop, task }, health)
    }

    /// Stops the task and waits (bounded) for it to end.
    pub async fn stop(self) {
        StopHandle {
            stop: self.stop,
            task: self.task,
        }
        .stop()
        .await;
    }
}

/// Stops a feed task whose data channel was handed elsewhere.
pub struct StopHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl StopHandle {
    /// Stops the task and waits (bounded) for it to end.
    pub async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("feed task stopped")
            .unwrap();
    }
}
