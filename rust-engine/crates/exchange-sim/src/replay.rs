//! The replay: walks the recorded trades on a clock that runs `speed` times faster than the wall
//! clock (or as fast as the clients keep up), updates the synthetic book every 100 ms of event time,
//! and broadcasts every event to the connected clients.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tracing::info;

use crate::book::{Book, Model, ModelParams};
use crate::data::TradeRow;
use crate::faults::{FaultCounts, Faults};
use crate::json::{self, SymbolSpec};

/// Queued frames per client before a slow client is disconnected (at a real-time speed) or the
/// replay waits for it (at `max` speed).
pub const CHANNEL_CAPACITY: usize = 65_536;
/// First update id of the book, a realistic Binance magnitude.
pub const INITIAL_UPDATE_ID: u64 = 5_000_000_000;
/// Book refresh period, µs of event time (Binance's `@depth@100ms`).
pub const TICK_US: i64 = 100_000;

/// How fast event time runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// Event time runs this many times faster than the wall clock.
    Factor(f64),
    /// As fast as the slowest client reads.
    Max,
}

impl std::str::FromStr for Speed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "max" {
            return Ok(Speed::Max);
        }
        match s.parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Factor(f)),
            _ => Err(format!(
                "--speed {s:?}: expected a positive number or 'max'"
            )),
        }
    }
}

/// An event on its way to the clients.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// A `depthUpdate` payload.
    Depth(String),
    /// An `aggTrade` payload.
    AggTrade(String),
    /// A `trade` payload.
    Trade(String),
    /// The replay is over: close the connection.
    End,
}

/// Counters served at `/sim/stats`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Trades replayed.
    pub trades_sent: AtomicU64,
    /// Depth updates emitted.
    pub depth_updates_sent: AtomicU64,
    /// Connected WebSocket clients.
    pub clients: AtomicU64,
    /// Slow clients disconnected.
    pub clients_dropped: AtomicU64,
    /// Replay over.
    pub replay_done: AtomicBool,
    /// Current event time (as emitted), ms.
    pub event_time_ms: AtomicI64,
}

/// What the replay shares with the endpoints.
#[derive(Debug)]
pub struct Shared {
    /// The authoritative book.
    book: Mutex<Book>,
    /// Event fan-out.
    pub events: broadcast::Sender<Arc<Frame>>,
    /// Counters.
    pub stats: Stats,
    /// The symbol as exchangeInfo describes it.
    pub spec: SymbolSpec,
    /// Added to recorded times (ms) to get emitted times.
    pub offset_ms: AtomicI64,
    /// Turns true when the first market-data client connects.
    pub client_seen: watch::Sender<bool>,
    /// Faults injected into every connection.
    pub faults: RwLock<Faults>,
    /// Faults injected so far.
    pub fault_counts: FaultCounts,
    /// Seed of the fault draws.
    pub seed: u64,
    /// Connections accepted so far (numbers them for the fault draws).
    pub connections: AtomicU64,
}

impl Shared {
    /// New shared state around an initial book.
    pub fn new(spec: SymbolSpec, book: Book, seed: u64) -> Arc<Self> {
        let (events, _) = broadcast::channel(CHANNEL_CAPACITY);
        Arc::new(Shared {
            book: Mutex::new(book),
            events,
            stats: Stats::default(),
            spec,
            offset_ms: AtomicI64::new(0),
            client_seen: watch::channel(false).0,
            faults: RwLock::new(Faults::default()),
            fault_counts: FaultCounts::default(),
            seed,
            connections: AtomicU64::new(0),
        })
    }

    /// The authoritative book.
    pub fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Wall clock, ms since the epoch.
pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The replay of one trade file.
pub struct Replay {
    /// Shared state.
    pub shared: Arc<Shared>,
    /// Trades in time order.
    pub trades: Vec<TradeRow>,
    /// Book model.
    pub model: Model,
    /// Clock speed.
    pub speed: Speed,
    /// Shift times so the replay starts now.
    pub rebase: bool,
}

impl Replay {
    /// Builds the model and the initial book from the first trade.
    pub fn new(
        spec: SymbolSpec,
        trades: Vec<TradeRow>,
        params: ModelParams,
        speed: Speed,
        rebase: bool,
    ) -> Self {
        let mut model = Model::new(params);
        let mut book = Book {
            update_id: INITIAL_UPDATE_ID,
            ..Book::default()
        };
        if let Some(first) = trades.first() {
            model.on_trade(first.ts_us, first.price, first.taker_sell);
            book.move_to(&model.target(first.ts_us));
        }
        Replay {
            shared: Shared::new(spec, book, params.seed),
            trades,
            model,
            speed,
            rebase,
        }
    }

    /// Runs the replay; returns `(trades, depth updates, last update id)`.
    pub async fn run(mut self, wait_for_client: bool) -> (u64, u64, u64) {
        if wait_for_client {
            let mut seen = self.shared.client_seen.subscribe();
            let _ = seen.wait_for(|s| *s).await;
        }
        let Some(t0) = self.trades.first().map(|t| t.ts_us) else {
            return (0, 0, self.shared.book().update_id);
        };
        if self.rebase {
            self.shared
                .offset_ms
                .store(wall_ms() - t0 / 1000, Ordering::Relaxed);
        }
        info!(trades = self.trades.len(), speed = ?self.speed, "replay started");
        let start = Instant::now();
        let mut next_tick = (t0 / TICK_US + 1) * TICK_US;
        let trades = std::mem::take(&mut self.trades);
        for (i, t) in trades.iter().enumerate() {
            while next_tick <= t.ts_us {
                self.pace(start, t0, next_tick, i).await;
                self.emit_book(next_tick);
                next_tick += TICK_US;
            }
            self.pace(start, t0, t.ts_us, i).await;
            self.model.on_trade(t.ts_us, t.price, t.taker_sell);
            self.emit_trade(t);
        }
        let end = trades.last().map_or(t0, |t| t.ts_us);
        self.emit_book((end / TICK_US + 1) * TICK_US);
        self.shared.stats.replay_done.store(true, Ordering::Relaxed);
        let s = &self.shared.stats;
        (
            s.trades_sent.load(Ordering::Relaxed),
            s.depth_updates_sent.load(Ordering::Relaxed),
            self.shared.book().update_id,
        )
    }

    async fn pace(&self, start: Instant, t0: i64, event_us: i64, i: usize) {
        match self.speed {
            Speed::Factor(f) => {
                let due = start + Duration::from_secs_f64((event_us - t0) as f64 / 1e6 / f);
                tokio::time::sleep_until(due).await;
            }
            Speed::Max => {
                while self.shared.events.len() > CHANNEL_CAPACITY / 2 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                if i.is_multiple_of(64) {
                    tokio::task::yield_now().await;
                }
            }
        }
    }

    fn emitted_ms(&self, event_us: i64) -> i64 {
        event_us / 1000 + self.shared.offset_ms.load(Ordering::Relaxed)
    }

    fn emit_book(&mut self, now_us: i64) {
        let target = self.model.target(now_us);
        let e = self.emitted_ms(now_us);
        let frame = {
            let mut book = self.shared.book();
            let (diff, first, last) = book.move_to(&target);
            if diff.is_empty() {
                return;
            }
            json::depth_update(
                &self.shared.spec.symbol,
                e,
                first,
                last,
                &diff.bids,
                &diff.asks,
            )
        };
        self.shared
            .stats
            .depth_updates_sent
            .fetch_add(1, Ordering::Relaxed);
        self.shared.stats.event_time_ms.store(e, Ordering::Relaxed);
        let _ = self.shared.events.send(Arc::new(Frame::Depth(frame)));
    }

    fn emit_trade(&self, t: &TradeRow) {
        let e = self.emitted_ms(t.ts_us);
        let sym = &self.shared.spec.symbol;
        let _ = self
            .shared
            .events
            .send(Arc::new(Frame::AggTrade(json::agg_trade(
                sym, e, t.id, t, e,
            ))));
        let _ = self
            .shared
            .events
            .send(Arc::new(Frame::Trade(json::trade(sym, e, t, e))));
        self.shared
            .stats
            .trades_sent
            .fetch_add(1, Ordering::Relaxed);
        self.shared.stats.event_time_ms.store(e, Ordering::Relaxed);
    }
}
