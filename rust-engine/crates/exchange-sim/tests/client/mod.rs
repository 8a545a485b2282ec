//! A minimal Binance spot client written from the protocol notes, independent of the engine's
//! feed handler and of the simulator's own book and signing code: it keeps a local order book by
//! the procedure of binance-spot-api-docs `web-socket-streams.md` "How to manage a local order
//! book correctly" (current text), signs with the documented HMAC key, reads the notes' fixtures,
//! and launches simulators on free loopback ports for the tests.

#![allow(dead_code)] // each test uses a part

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use exchange_sim::book::Book;
use exchange_sim::clock::Speed;
use exchange_sim::{launch, time, RunningVenue, SimConfig, Start};
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The bundled real data: Binance spot POLUSDT trades, 2025-10-10 20:45 to 21:45 UTC.
pub const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../data/binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"
);

/// The documented HMAC API key (notes §2.2), the venue's default.
pub const KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
/// Its secret.
pub const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

/// The hex HMAC-SHA256 of `payload` with [`SECRET`].
pub fn sign(payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(payload.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Wall-clock milliseconds, for `timestamp`.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A `userDataStream.subscribe.signature` request (notes §4.3) with request id `id`, signed over
/// its params sorted by name.
pub fn subscribe_signature(id: &str) -> Value {
    let ts = now_ms();
    let payload = format!("apiKey={KEY}&timestamp={ts}");
    serde_json::json!({"id": id, "method": "userDataStream.subscribe.signature",
        "params": {"apiKey": KEY, "timestamp": ts, "signature": sign(&payload)}})
}

/// A fixture of the notes (the repository's copy, `tests/fixtures/binance/`), parsed.
pub fn fixture(name: &str) -> Value {
    let p = format!(
        "{}/../../../tests/fixtures/binance/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The keys of a JSON object.
pub fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

/// An answer: status, headers, JSON body.
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body, as JSON (a JSON string when it is not JSON).
    pub body: Value,
}

impl Answer {
    /// Binance's error code, 0 without one.
    pub fn code(&self) -> i64 {
        self.body["code"].as_i64().unwrap_or(0)
    }

    /// A numeric header.
    pub fn header(&self, name: &str) -> Option<u64> {
        self.headers.get(name)?.to_str().ok()?.parse().ok()
    }
}

/// The venue's REST API, signing with [`KEY`] / [`SECRET`].
pub struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    /// The API of `venue`, giving up on an answer after 10 s.
    pub fn new(venue: &RunningVenue) -> Self {
        Self::with_timeout(venue, Duration::from_secs(10))
    }

    /// The API of `venue`, giving up on an answer after `timeout`.
    pub fn with_timeout(venue: &RunningVenue, timeout: Duration) -> Self {
        Api {
            base: format!("http://{}", venue.addr),
            http: reqwest::Client::builder().timeout(timeout).build().unwrap(),
        }
    }

    /// Sends `query` and `body` as they are (the caller signs), with `key` in `X-MBX-APIKEY`.
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &str,
        body: &str,
        key: Option<&str>,
    ) -> reqwest::Result<Answer> {
        let url = if query.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}?{query}", self.base)
        };
        let mut rb = self.http.request(method, url);
        if let Some(k) = key {
            rb = rb.header("X-MBX-APIKEY", k);
        }
        if !body.is_empty() {
            rb = rb
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body.to_owned());
        }
        let resp = rb.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// A SIGNED request: `params` + `timestamp` (the wall clock) in the query string, signed.
    pub async fn signed(&self, method: reqwest::Method, path: &str, params: &str) -> Answer {
        self.signed_at(method, path, params, now_ms()).await
    }

    /// [`Api::signed`] stamped `timestamp` (ms).
    pub async fn signed_at(
        &self,
        method: reqwest::Method,
        path: &str,
        params: &str,
        timestamp: u64,
    ) -> Answer {
        let sep = if params.is_empty() { "" } else { "&" };
        let q = format!("{params}{sep}timestamp={timestamp}");
        let q = format!("{q}&signature={}", sign(&q));
        self.raw(method, path, &q, "", Some(KEY)).await.unwrap()
    }

    /// The venue's clock (`GET /api/v3/time`), which a client stamps its requests with where the
    /// margin is thin: with rebased times it is within half a second of the wall clock, not on it.
    pub async fn server_time(&self) -> u64 {
        let answer = self
            .raw(reqwest::Method::GET, "/api/v3/time", "", "", None)
            .await
            .unwrap();
        answer.body["serverTime"].as_u64().expect("serverTime")
    }

    /// `POST /api/v3/userDataStream` with [`KEY`]: the venue's answer.
    pub async fn new_listen_key(&self) -> Answer {
        self.raw(
            reqwest::Method::POST,
            "/api/v3/userDataStream",
            "",
            "",
            Some(KEY),
        )
        .await
        .unwrap()
    }

    /// A new listen key of [`KEY`]'s account.
    pub async fn listen_key(&self) -> String {
        let answer = self.new_listen_key().await;
        answer.body["listenKey"]
            .as_str()
            .expect("a listen key")
            .to_owned()
    }

    /// `POST /api/v3/order` of POLUSDT with `params`, signed.
    pub async fn order(&self, params: &str) -> Answer {
        self.signed(
            reqwest::Method::POST,
            "/api/v3/order",
            &format!("symbol=POLUSDT&{params}"),
        )
        .await
    }

    /// Free and locked units per asset (`GET /api/v3/account`).
    pub async fn balances(&self) -> std::collections::HashMap<String, (u64, u64)> {
        let a = self
            .signed(reqwest::Method::GET, "/api/v3/account", "")
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.body["balances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["asset"].as_str().unwrap().to_owned(),
                    (
                        units(b["free"].as_str().unwrap()),
                        units(b["locked"].as_str().unwrap()),
                    ),
                )
            })
            .collect()
    }
}

/// Bounded wait for one network step.
pub const STEP: Duration = Duration::from_secs(10);

/// A WebSocket client connection.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A configuration replaying `[from, to)` of the bundled data at `speed` once a client connects.
pub fn config(from: &str, to: &str, speed: Speed) -> SimConfig {
    SimConfig {
        from_us: Some(time::parse_utc_us(from).unwrap()),
        to_us: Some(time::parse_utc_us(to).unwrap()),
        speed,
        start: Start::OnFirstClient,
        history: 100_000,
        ..SimConfig::new(DATA)
    }
}

/// Starts a simulator.
pub async fn start(cfg: &SimConfig) -> RunningVenue {
    timeout(Duration::from_secs(30), launch(cfg))
        .await
        .expect("launch in time")
        .expect("launch")
}

/// Connects a WebSocket client to `path` (e.g. `/stream?streams=...`).
pub async fn connect(venue: &RunningVenue, path: &str) -> Ws {
    let url = format!("ws://{}{path}", venue.addr);
    timeout(STEP, tokio_tungstenite::connect_async(url))
        .await
        .expect("connect in time")
        .expect("connect")
        .0
}

/// The next text frame as JSON, `None` on close or end of stream.
pub async fn next_json(ws: &mut Ws) -> Option<Value> {
    loop {
        let msg = timeout(STEP, ws.next()).await.expect("a frame in time")?;
        match msg.expect("a frame") {
            Message::Text(t) => return Some(serde_json::from_str(&t).expect("JSON")),
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

/// Like [`next_json`] but gives up quietly after `wait`: `Err(())` when nothing arrived in time.
pub async fn next_json_within(ws: &mut Ws, wait: Duration) -> Result<Option<Value>, ()> {
    match timeout(wait, next_json(ws)).await {
        Ok(v) => Ok(v),
        Err(_) => Err(()),
    }
}

/// True once the replay is over.
pub fn replay_done(venue: &RunningVenue) -> bool {
    venue
        .venue
        .stats
        .replay_done
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// Trades the venue has emitted.
pub fn trades_sent(venue: &RunningVenue) -> u64 {
    venue
        .venue
        .stats
        .trades_sent
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// GET `path` on the venue: status and JSON body.
pub async fn get(venue: &RunningVenue, path: &str) -> (u16, Value) {
    let resp = timeout(STEP, reqwest::get(format!("http://{}{path}", venue.addr)))
        .await
        .expect("answer in time")
        .expect("HTTP");
    let status = resp.status().as_u16();
    let body = timeout(STEP, resp.text()).await.unwrap().unwrap();
    (status, serde_json::from_str(&body).expect("JSON body"))
}

/// A decimal string in 10⁻⁸ units (the client's own parser, not the simulator's).
pub fn units(s: &str) -> u64 {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    assert!(frac.len() <= 8, "{s}");
    let frac: u64 = format!("{frac:0<8}").parse().unwrap();
    int.parse::<u64>().unwrap() * 100_000_000 + frac
}

/// `[["price","qty"], ...]` in units.
pub fn levels(v: &Value) -> Vec<(u64, u64)> {
    v.as_array()
        .expect("levels array")
        .iter()
        .map(|l| (units(l[0].as_str().unwrap()), units(l[1].as_str().unwrap())))
        .collect()
}

/// A `depthUpdate`.
#[derive(Debug, Clone)]
pub struct DepthEvent {
    /// `U`.
    pub first: u64,
    /// `u`.
    pub last: u64,
    /// `E`.
    pub event_ms: i64,
    /// `b`.
    pub bids: Vec<(u64, u64)>,
    /// `a`.
    pub asks: Vec<(u64, u64)>,
}

impl DepthEvent {
    /// Reads a `depthUpdate` payload.
    pub fn parse(v: &Value) -> Self {
        assert_eq!(v["e"], "depthUpdate");
        DepthEvent {
            first: v["U"].as_u64().unwrap(),
            last: v["u"].as_u64().unwrap(),
            event_ms: v["E"].as_i64().unwrap(),
            bids: levels(&v["b"]),
            asks: levels(&v["a"]),
        }
    }
}

/// A REST depth snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// `lastUpdateId`.
    pub last_update_id: u64,
    /// Bids, best first.
    pub bids: Vec<(u64, u64)>,
    /// Asks, best first.
    pub asks: Vec<(u64, u64)>,
}

impl Snapshot {
    /// Reads a `/api/v3/depth` body.
    pub fn parse(v: &Value) -> Self {
        Snapshot {
            last_update_id: v["lastUpdateId"].as_u64().unwrap(),
            bids: levels(&v["bids"]),
            asks: levels(&v["asks"]),
        }
    }
}

/// The client's local order book.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalBook {
    /// Price → quantity.
    pub bids: BTreeMap<u64, u64>,
    /// Price → quantity.
    pub asks: BTreeMap<u64, u64>,
    /// The book's update id.
    pub id: u64,
}

impl LocalBook {
    /// As a snapshot: bids best first, asks best first.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            last_update_id: self.id,
            bids: self.bids.iter().rev().map(|(&p, &q)| (p, q)).collect(),
            asks: self.asks.iter().map(|(&p, &q)| (p, q)).collect(),
        }
    }

    /// The same book in the simulator's type, to compare checksums with its history.
    pub fn as_venue_book(&self) -> Book {
        Book {
            bids: self.bids.clone(),
            asks: self.asks.clone(),
            update_id: self.id,
        }
    }

    fn set(side: &mut BTreeMap<u64, u64>, levels: &[(u64, u64)]) {
        for &(p, q) in levels {
            // "If the quantity is zero, remove the price level"; removing an absent level is normal.
            if q == 0 {
                side.remove(&p);
            } else {
                side.insert(p, q);
            }
        }
    }
}

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Still buffering (no snapshot yet).
    Buffered,
    /// Ignored: `u` below the book's id.
    Ignored,
    /// Applied; the book's id is now `u`.
    Applied(u64),
}

/// The documented procedure.
#[derive(Debug, Default)]
pub struct BookSync {
    buffer: Vec<DepthEvent>,
    book: Option<LocalBook>,
}

impl BookSync {
    /// Step 2: buffer until a snapshot is set; then the update procedure.
    ///
    /// # Errors
    /// A gap (`U` > book id + 1): the procedure says to start over; here that is a test failure.
    pub fn on_event(&mut self, ev: DepthEvent) -> Result<Outcome, String> {
        let Some(book) = self.book.as_mut() else {
            self.buffer.push(ev);
            return Ok(Outcome::Buffered);
        };
        if ev.last < book.id {
            return Ok(Outcome::Ignored);
        }
        if ev.first > book.id + 1 {
            return Err(format!("gap: U {} > book id {} + 1", ev.first, book.id));
        }
        LocalBook::set(&mut book.bids, &ev.bids);
        LocalBook::set(&mut book.asks, &ev.asks);
        book.id = ev.last;
        Ok(Outcome::Applied(ev.last))
    }

    /// True while a snapshot is wanted (an event has been buffered and no book is set).
    pub fn wants_snapshot(&self) -> bool {
        self.book.is_none() && !self.buffer.is_empty()
    }

    /// Steps 4–7. `Ok(false)`: the snapshot is older than the first buffered event; fetch again.
    ///
    /// # Errors
    /// The first event left does not straddle the snapshot, or a buffered event leaves a gap.
    pub fn on_snapshot(&mut self, snap: &Snapshot) -> Result<bool, String> {
        let first_u = self
            .buffer
            .first()
            .map(|e| e.first)
            .ok_or("nothing buffered")?;
        if snap.last_update_id < first_u {
            return Ok(false);
        }
        let buffered: Vec<DepthEvent> = std::mem::take(&mut self.buffer)
            .into_iter()
            .filter(|e| e.last > snap.last_update_id)
            .collect();
        if let Some(e) = buffered.first() {
            if !(e.first <= snap.last_update_id + 1 && snap.last_update_id < e.last) {
                return Err(format!(
                    "first event [{}, {}] does not hold lastUpdateId {} + 1",
                    e.first, e.last, snap.last_update_id
                ));
            }
        }
        self.book = Some(LocalBook {
            bids: snap.bids.iter().copied().collect(),
            asks: snap.asks.iter().copied().collect(),
            id: snap.last_update_id,
        });
        for e in buffered {
            self.on_event(e)?;
        }
        Ok(true)
    }

    /// The local book, once synchronised.
    pub fn book(&self) -> Option<&LocalBook> {
        self.book.as_ref()
    }
}
