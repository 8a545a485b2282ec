//! Feed-path latency: from a frame leaving the venue's WebSocket to the engine's ZeroMQ publish of
//! the book (or trade) it carries, at fixed message rates.
//!
//! The venue here is a minimal Binance-compatible server (`/stream` WebSocket, `/api/v3/depth`)
//! that sends the real POLUSDT crash hour, depth updates and aggregate trades as `exchange-sim`
//! builds them from the bundled data, at exactly `rate` messages a second, evenly spaced (frame `i`
//! leaves at `i / rate`; `FEED_PATH_PACING=tick` restores the earlier pacing, a 200 µs tokio
//! interval that the 1 ms timer turned into bursts of `rate / 1000` frames); it stamps each frame
//! just before writing it to the socket. The engine side is the engine's own code, in process:
//! `FeedTask` (Binance sync rules, validation, health) and the data publisher (conflation set to
//! 100,000 books/s so that every update can go out), publishing on loopback TCP.
//!
//! Two measures, both from the frame's send stamp, each book by its `update_id` and each trade by
//! its aggregate id:
//! * **venue → publish**: the time at which the publisher's `PubSocket::send` of the encoded book
//!   (or trade) returned, stamped by a [`PublishProbe`] the bench installs on the engine thread (the
//!   engine binary runs the publisher without one). `send` writes the message to the subscriber's
//!   TCP socket before it returns, so this is the message handed to the kernel: the issue's "ZeroMQ
//!   publish of the updated book".
//! * **venue → subscriber receipt**: a ZeroMQ SUB on another thread stamps each message as its
//!   `recv` returns; this adds the loopback hop and the subscriber thread's wake-up. The subscriber
//!   only stamps and keeps each message while the run lasts and decodes them afterwards, so decoding
//!   one never delays the next one's stamp.
//!
//! Both are split at the engine's receive stamp (`OrderBookSnapshot.local_ts_ns`, wall clock). The
//! first second of each run is warm-up and not counted.
//!
//! `cargo bench -p engine --bench feed_path [-- RATE...]` prints two lines per measure and rate
//! (`to=publish`, `to=subscriber`, each with its book split) and writes `target/feed_path.json`.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use common::config::FeedConfig;
use common::message::{decode, DataMessage};
use data_bridge::publisher::{self, BookFeed, PublishProbe};
use exchange_sim::book::{Book, Diff};
use exchange_sim::source::{SourceEvent, UpdateIds};
use exchange_sim::trades_csv::TradeRow;
use exchange_sim::{wire, SimConfig};
use feed_handler::{FeedOutputs, FeedState, FeedTask, SharedBook};
use tokio::sync::{mpsc, watch};
use zeromq::{Socket, SocketRecv, SubSocket};

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../data/binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"
);
const SYMBOL: &str = "POLUSDT";
const WARM_UP: Duration = Duration::from_secs(1);
/// Waits longer than this are left to tokio's (1 ms) timer; shorter ones are slept on the thread.
const PACE_COARSE: Duration = Duration::from_millis(2);

/// One frame of the tape, numbered as the venue numbers it.
enum Frame {
    Depth { first: u64, last: u64, diff: Diff },
    AggTrade { agg_id: u64, row: TradeRow },
}

/// The crash hour as frames, with the book before the first one.
struct Tape {
    initial: Book,
    frames: Vec<Frame>,
}

fn load_tape() -> Tape {
    let cfg = SimConfig::new(DATA);
    let mut source = exchange_sim::launch::load_source(&cfg).expect("bundled data loads");
    let initial = source.initial_book();
    let mut last = initial.update_id;
    let mut agg_id = 0;
    let mut frames = Vec::new();
    while let Some(ev) = source.next_event() {
        match ev {
            SourceEvent::Depth(d) if !d.diff.is_empty() => {
                let (first, l) = match d.ids {
                    UpdateIds::Assign => (last + 1, last + d.diff.len() as u64),
                    UpdateIds::Recorded { first, last } => (first, last),
                };
                last = l;
                frames.push(Frame::Depth {
                    first,
                    last: l,
                    diff: d.diff,
                });
            }
            SourceEvent::Depth(_) => {}
            SourceEvent::Trade(row) => {
                agg_id += 1;
                frames.push(Frame::AggTrade { agg_id, row });
            }
        }
    }
    Tape { initial, frames }
}

/// Send stamps (ns since `epoch`, 0 = not sent) by frame index, and the index of each id.
struct Stamps {
    epoch: Instant,
    sent: Vec<AtomicU64>,
    /// Wall-clock send stamps (ns since the Unix epoch), to split the path at the engine's receive
    /// time (`OrderBookSnapshot.local_ts_ns`).
    sent_wall: Vec<AtomicU64>,
    by_update_id: HashMap<u64, usize>,
    by_agg_id: HashMap<u64, usize>,
}

impl Stamps {
    fn new(tape: &Tape) -> Self {
        let mut by_update_id = HashMap::new();
        let mut by_agg_id = HashMap::new();
        for (i, f) in tape.frames.iter().enumerate() {
            match f {
                Frame::Depth { last, .. } => by_update_id.insert(*last, i),
                Frame::AggTrade { agg_id, .. } => by_agg_id.insert(*agg_id, i),
            };
        }
        Stamps {
            epoch: Instant::now(),
            sent: (0..tape.frames.len()).map(|_| AtomicU64::new(0)).collect(),
            sent_wall: (0..tape.frames.len()).map(|_| AtomicU64::new(0)).collect(),
            by_update_id,
            by_agg_id,
        }
    }

    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

/// One message the publisher's send took, and when that send returned.
#[derive(Clone, Copy)]
struct Published {
    /// `update_id` of a book, aggregate id of a trade.
    id: u64,
    /// A book's engine receive stamp (`local_ts_ns`, wall-clock ns); `None` for a trade.
    received_wall: Option<u64>,
    /// When the send returned, wall-clock ns (the clock of the venue's `sent_wall`).
    at_wall: u64,
}

/// Records each book and trade as the publisher's send returns, on the engine thread: one clock
/// read and a push into a vector reserved for the whole run; matched to the frames after the run.
struct StampPublished(Vec<Published>);

impl PublishProbe for StampPublished {
    fn published(&mut self, msg: &DataMessage) {
        let at_wall = common::time::now_ns();
        let (id, received_wall) = match msg {
            DataMessage::OrderBookSnapshot(b) => (b.update_id, Some(b.local_ts_ns)),
            DataMessage::Trade(t) => (t.trade_id, None),
            _ => return,
        };
        self.0.push(Published {
            id,
            received_wall,
            at_wall,
        });
    }
}

struct Venue {
    tape: Arc<Tape>,
    stamps: Arc<Stamps>,
    book: Mutex<Book>,
    rate: f64,
    limit: usize,
    done: watch::Sender<bool>,
}

async fn depth(State(v): State<Arc<Venue>>) -> impl IntoResponse {
    let body = wire::depth_snapshot(&v.book.lock().unwrap(), 5000);
    ([("content-type", "application/json")], body)
}

async fn stream(ws: WebSocketUpgrade, State(v): State<Arc<Venue>>) -> impl IntoResponse {
    ws.on_upgrade(move |socket| send_tape(socket, v))
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Sends `limit` frames at `rate` a second; one connection only (the engine's).
///
/// Frame `i` is due at `start + i / rate`. tokio's timers have a 1 ms resolution (a 200 µs
/// `interval` ticks once a millisecond and sent bursts of `rate / 1000` frames), so the last stretch
/// before a frame is due is slept on the OS thread: the frames leave evenly spaced, one at a time
/// (two when the sleep overshoots), at the nominal rate.
async fn send_tape(mut socket: WebSocket, v: Arc<Venue>) {
    let start = Instant::now();
    let mut sent = 0usize;
    let total = v.tape.frames.len().min(v.limit);
    // FEED_PATH_PACING=tick: the earlier pacing, a 200 µs tokio interval (bursts each millisecond).
    let mut tick = (std::env::var("FEED_PATH_PACING").as_deref() == Ok("tick")).then(|| {
        let mut t = tokio::time::interval(Duration::from_micros(200));
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        t
    });
    while sent < total {
        let due_at = start + Duration::from_secs_f64(sent as f64 / v.rate);
        let now = Instant::now();
        if let Some(t) = tick.as_mut() {
            t.tick().await;
        } else if due_at > now {
            let wait = due_at - now;
            if wait > PACE_COARSE {
                tokio::time::sleep(wait - PACE_COARSE).await;
                continue;
            }
            // This runtime serves only this connection (and the snapshot before it): blocking it
            // for at most `PACE_COARSE` delays nothing else; the yield lets the snapshot through.
            std::thread::sleep(wait);
        }
        if tick.is_none() {
            tokio::task::yield_now().await;
        }
        let due = ((start.elapsed().as_secs_f64() * v.rate) as usize + 1).min(total);
        while sent < due {
            let now_ms = wall_ms();
            let text = match &v.tape.frames[sent] {
                Frame::Depth { first, last, diff } => {
                    v.book.lock().unwrap().apply(diff, *last);
                    let payload =
                        wire::depth_update(SYMBOL, now_ms, *first, *last, &diff.bids, &diff.asks);
                    wire::combined("polusdt@depth@100ms", &payload)
                }
                Frame::AggTrade { agg_id, row } => wire::combined(
                    "polusdt@aggTrade",
                    &wire::agg_trade(SYMBOL, now_ms, *agg_id, row, now_ms),
                ),
            };
            v.stamps.sent_wall[sent].store(common::time::now_ns(), Ordering::Release);
            v.stamps.sent[sent].store(v.stamps.now_ns(), Ordering::Release);
            if socket.send(Message::Text(text)).await.is_err() {
                return;
            }
            sent += 1;
        }
    }
    // Let the last frames through before the run ends.
    tokio::time::sleep(Duration::from_millis(300)).await;
    v.done.send_replace(true);
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.recv()).await;
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Run {
    rate: f64,
    /// Venue → subscriber receipt.
    samples: Samples,
    /// Venue → publish (the send returned).
    published: Samples,
    frames_sent: usize,
}

/// Latencies of one measure, ns: books (with the split at the engine's receive stamp) and trades.
#[derive(Default)]
struct Samples {
    books: Vec<u64>,
    to_engine: Vec<u64>,
    in_engine: Vec<u64>,
    trades: Vec<u64>,
}

/// Venue → publish, from the probe's records, for the frames sent after the warm-up.
fn published_samples(stamps: &Stamps, records: &[Published]) -> Samples {
    let warm_up_ns = WARM_UP.as_nanos() as u64;
    let mut out = Samples::default();
    for r in records {
        let index = match r.received_wall {
            Some(_) => stamps.by_update_id.get(&r.id),
            None => stamps.by_agg_id.get(&r.id),
        };
        let Some(&i) = index else { continue };
        let sent = stamps.sent[i].load(Ordering::Acquire);
        let sent_wall = stamps.sent_wall[i].load(Ordering::Acquire);
        if sent <= warm_up_ns || r.at_wall < sent_wall {
            continue;
        }
        match r.received_wall {
            Some(received) => {
                out.books.push(r.at_wall - sent_wall);
                out.to_engine.push(received.saturating_sub(sent_wall));
                out.in_engine.push(r.at_wall.saturating_sub(received));
            }
            None => out.trades.push(r.at_wall - sent_wall),
        }
    }
    out
}

/// Runs `f` on its own single-threaded runtime in its own OS thread, as a separate process would.
fn on_own_thread<T: Send + 'static>(
    name: &str,
    f: impl std::future::Future<Output = T> + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let thread = std::thread::Builder::new().name(name.to_owned());
    thread
        .spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(f)
        })
        .expect("a thread")
}

/// The engine's feed task and data publisher, from the venue at `addr` to the PUB socket at
/// `endpoint`, until `done`.
async fn run_engine(
    addr: SocketAddr,
    endpoint: String,
    mut done: watch::Receiver<bool>,
    bound: std::sync::mpsc::Sender<()>,
    mut probe: StampPublished,
) -> Vec<Published> {
    // Each subscriber's send buffer as the engine sets it from the shipped config.
    let shipped =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../config/config.toml");
    let kib = common::config::load(&shipped)
        .expect("the shipped config")
        .zmq
        .data_send_buffer_kib;
    let socket = publisher::bind(&endpoint, usize::try_from(kib * 1024).unwrap())
        .await
        .expect("bind the data PUB");
    let _ = bound.send(());
    let book = SharedBook::default();
    let (data_tx, data_rx) = mpsc::channel(65_536);
    let (trades_tx, mut trades_rx) = mpsc::channel(65_536);
    tokio::spawn(async move { while trades_rx.recv().await.is_some() {} });
    let (state_tx, _state_rx) = watch::channel(FeedState::Stopped);
    let cfg = FeedConfig {
        ws_url: format!("ws://{addr}"),
        backup_ws_url: String::new(),
        rest_url: format!("http://{addr}"),
        snapshot_limit: 5000,
        snapshot_refresh_secs: 0,
        publish_levels: 20,
        max_publish_hz: 100_000,
        heartbeat_timeout_ms: 5000,
        latency_alert_ms: 500,
        latency_alert_secs: 5,
        reconnect_initial_ms: 100,
        reconnect_max_ms: 1000,
        rotate_after_secs: 0,
    };
    let out = FeedOutputs {
        data: data_tx,
        trades: trades_tx,
        book: book.clone(),
        state: state_tx,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let feed = tokio::spawn(FeedTask::new(cfg, SYMBOL, Duration::from_secs(1), out).run(stop_rx));
    let feed_of_book = BookFeed {
        book,
        symbol: SYMBOL.to_owned(),
        levels: 20,
        max_hz: 100_000,
    };
    let publisher = tokio::spawn(async move {
        publisher::run_probed(socket, data_rx, feed_of_book, &mut probe).await;
        probe.0
    });
    let _ = done.wait_for(|d| *d).await;
    stop_tx.send_replace(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), feed).await;
    match tokio::time::timeout(Duration::from_secs(5), publisher).await {
        Ok(Ok(records)) => records,
        _ => panic!("the publisher did not stop"),
    }
}

/// Waits for a task of another runtime from a plain thread.
fn futures_block_on<T>(handle: tokio::task::JoinHandle<T>) -> Result<T, tokio::task::JoinError> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(handle)
}

/// One run at `rate`: the venue and the subscriber each on their own thread; the engine's feed and
/// publisher on `engine` (a multi-threaded runtime, as in the engine binary) or, when `None`, on a
/// single-threaded runtime of its own.
fn run_at(engine: Option<&tokio::runtime::Runtime>, tape: Arc<Tape>, rate: f64, secs: f64) -> Run {
    let stamps = Arc::new(Stamps::new(&tape));
    let limit = (rate * secs) as usize;
    let (done_tx, done_rx) = watch::channel(false);
    let venue = Arc::new(Venue {
        book: Mutex::new(tape.initial.clone()),
        tape: Arc::clone(&tape),
        stamps: Arc::clone(&stamps),
        rate,
        limit,
        done: done_tx,
    });
    let std_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr: SocketAddr = std_listener.local_addr().unwrap();
    let mut venue_done = done_rx.clone();
    let venue_thread = on_own_thread("venue", async move {
        let app = Router::new()
            .route("/stream", get(stream))
            .route("/api/v3/depth", get(depth))
            .with_state(venue);
        let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
        let serve = axum::serve(listener, app).tcp_nodelay(true);
        tokio::select! {
            _ = serve => {}
            _ = venue_done.wait_for(|d| *d) => {}
        }
    });

    let endpoint = format!("tcp://127.0.0.1:{}", free_port());
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let probe = StampPublished(Vec::with_capacity(tape.frames.len() + 1024));
    let engine_side = run_engine(addr, endpoint.clone(), done_rx.clone(), bound_tx, probe);
    let engine_thread = match engine {
        Some(rt) => {
            let handle = rt.spawn(engine_side);
            std::thread::spawn(move || futures_block_on(handle).expect("engine"))
        }
        None => on_own_thread("engine", engine_side),
    };
    bound_rx.recv().expect("engine started");

    let sub_stamps = Arc::clone(&stamps);
    let mut sub_done = done_rx;
    let subscriber = on_own_thread("subscriber", async move {
        let stamps = sub_stamps;
        let mut sub = SubSocket::new();
        sub.connect(&endpoint).await.unwrap();
        sub.subscribe("book.").await.unwrap();
        sub.subscribe("trade.").await.unwrap();
        // Receive stamps and payloads only while the run lasts: decoding a message before taking
        // the next one would delay the next one's stamp (the subscriber's cost, not the engine's).
        let mut received = Vec::with_capacity(1 << 16);
        loop {
            tokio::select! {
                msg = sub.recv() => {
                    let at = stamps.now_ns();
                    let wall = common::time::now_ns();
                    let Ok(msg) = msg else { break };
                    let Some(payload) = msg.get(1) else { continue };
                    received.push((at, wall, payload.clone()));
                }
                _ = sub_done.wait_for(|d| *d) => break,
            }
        }
        let warm_up_ns = WARM_UP.as_nanos() as u64;
        let mut out = Samples::default();
        for (at, wall, payload) in received {
            let (index, local_ns) = match decode::<DataMessage>(&payload) {
                Ok(DataMessage::OrderBookSnapshot(b)) => {
                    (stamps.by_update_id.get(&b.update_id), Some(b.local_ts_ns))
                }
                Ok(DataMessage::Trade(t)) => (stamps.by_agg_id.get(&t.trade_id), None),
                _ => continue,
            };
            let Some(&i) = index else { continue };
            let sent = stamps.sent[i].load(Ordering::Acquire);
            if sent <= warm_up_ns || at < sent {
                continue;
            }
            match local_ns {
                Some(local) => {
                    out.books.push(at - sent);
                    let sent_wall = stamps.sent_wall[i].load(Ordering::Acquire);
                    out.to_engine.push(local.saturating_sub(sent_wall));
                    out.in_engine.push(wall.saturating_sub(local));
                }
                None => out.trades.push(at - sent),
            }
        }
        out
    });

    let samples = subscriber.join().expect("subscriber");
    venue_thread.join().expect("venue");
    let records = engine_thread.join().expect("engine");
    Run {
        rate,
        samples,
        published: published_samples(&stamps, &records),
        frames_sent: limit.min(tape.frames.len()),
    }
}

fn percentiles(v: &mut [u64]) -> (f64, f64, f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
    }
    v.sort_unstable();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
    let mean = v.iter().sum::<u64>() as f64 / v.len() as f64 / 1000.0;
    (mean, at(0.5), at(0.99), *v.last().unwrap() as f64 / 1000.0)
}

/// Prints one measure of a run (two lines) and returns it as JSON.
fn report(head: &str, to: &str, end: &str, s: &mut Samples) -> serde_json::Value {
    let (bm, b50, b99, bmax) = percentiles(&mut s.books);
    let (tm, t50, t99, tmax) = percentiles(&mut s.trades);
    let (_, e50, e99, _) = percentiles(&mut s.to_engine);
    let (_, i50, i99, imax) = percentiles(&mut s.in_engine);
    println!(
        "feed_path {head}  to={to:<10}  book: n={:>6} mean={bm:.1}us p50={b50:.1}us p99={b99:.1}us max={bmax:.1}us  trade: n={:>6} mean={tm:.1}us p50={t50:.1}us p99={t99:.1}us max={tmax:.1}us",
        s.books.len(),
        s.trades.len(),
    );
    println!(
        "    book split ({to}): venue -> engine receive p50={e50:.1}us p99={e99:.1}us; engine receive -> {end} p50={i50:.1}us p99={i99:.1}us max={imax:.1}us"
    );
    serde_json::json!({
        "book": {"samples": s.books.len(), "mean_us": bm, "p50_us": b50, "p99_us": b99, "max_us": bmax,
                 "to_engine_p50_us": e50, "to_engine_p99_us": e99,
                 "in_engine_p50_us": i50, "in_engine_p99_us": i99, "in_engine_max_us": imax},
        "trade": {"samples": s.trades.len(), "mean_us": tm, "p50_us": t50, "p99_us": t99, "max_us": tmax},
    })
}

fn main() {
    let rates: Vec<f64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let rates = if rates.is_empty() {
        vec![1_000.0, 5_000.0, 20_000.0]
    } else {
        rates
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tape = Arc::new(load_tape());
    // FEED_PATH_RUNTIME=multi runs the engine side on a 2-worker runtime instead of one thread.
    let runtime = std::env::var("FEED_PATH_RUNTIME").unwrap_or_else(|_| "current".into());
    let (depth_frames, levels) = tape
        .frames
        .iter()
        .fold((0usize, 0usize), |(n, l), f| match f {
            Frame::Depth { diff, .. } => (n + 1, l + diff.len()),
            Frame::AggTrade { .. } => (n, l),
        });
    println!(
        "feed path: {} frames of the real POLUSDT crash hour ({depth_frames} depth updates, {:.1} levels each on average; the rest aggTrades)",
        tape.frames.len(),
        levels as f64 / depth_frames.max(1) as f64,
    );
    let mut json = Vec::new();
    for rate in rates {
        // Enough frames for at least 10 s (1k/s), bounded by the tape.
        let secs = (tape.frames.len() as f64 / rate).min(15.0);
        let mut run = run_at(
            (runtime == "multi").then_some(&rt),
            Arc::clone(&tape),
            rate,
            secs,
        );
        let head = format!("rate={:>6} msg/s  frames={:>6}", run.rate, run.frames_sent);
        let publish = report(&head, "publish", "send returned", &mut run.published);
        let subscriber = report(&head, "subscriber", "subscriber", &mut run.samples);
        json.push(serde_json::json!({
            "rate_msgs_per_sec": run.rate,
            "frames_sent": run.frames_sent,
            "publish": publish,
            "subscriber": subscriber,
        }));
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/feed_path.json");
    std::fs::write(path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
}
