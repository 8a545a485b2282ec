//! The user data stream as Binance serves it today, end to end over loopback: the real
//! execution-engine `UserStream` logs on to the real venue's WebSocket API with an Ed25519 key
//! (`session.logon`, the RFC 8032 TEST 1 key written as a PKCS#8 PEM file), subscribes with
//! `userDataStream.subscribe`, and the `executionReport`s of an order placed through the real
//! REST client and executor come back as `OrderExecution` responses. Without an Ed25519 key the
//! same stream falls back to `userDataStream.subscribe.signature` (HMAC).

mod client;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::message::{OrderStatus, OrderType, PlaceOrder, Response, Side, TimeInForce};
use common::Dec;
use exchange_sim::clock::Speed;
use exchange_sim::connection::Keepalive;
use exchange_sim::signing::{DEFAULT_API_KEY, DEFAULT_API_SECRET, DEFAULT_ED25519_API_KEY};
use exchange_sim::{RunningVenue, SimConfig};
use execution_engine::rate_limit::RateLimiter;
use execution_engine::real::{
    Credentials, ExecutorConfig, RealExecutor, RestClient, RestConfig, UserStream,
    UserStreamConfig, API_KEY_VAR, API_SECRET_VAR, ED25519_API_KEY_VAR, ED25519_KEY_PATH_VAR,
};
use execution_engine::signing::{local_now_ms, Ed25519Key, Ed25519Signer, RecvWindow};
use execution_engine::{Limits, SymbolFilters};
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_tungstenite::tungstenite::Message;

/// Bounded wait for one step.
const WAIT: Duration = Duration::from_secs(30);

/// The notes' Ed25519 key (RFC 8032 §7.1 TEST 1) as a PKCS#8 PEM file.
struct PemFile(PathBuf);

/// Numbers the PEM files of this process: the tests run in parallel threads of one process, and a
/// name made of the pid and the millisecond let two of them write, read and delete the same file.
static PEM_FILES: AtomicUsize = AtomicUsize::new(0);

impl PemFile {
    fn test1() -> Self {
        let fx = client::fixture("signature_vectors.json");
        let pem = fx["ed25519"]["private_key_pem_pkcs8"].as_str().unwrap();
        let path = std::env::temp_dir().join(format!(
            "flashcrash-ed25519-test1-{}-{}.pem",
            std::process::id(),
            PEM_FILES.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, format!("{pem}\n")).unwrap();
        PemFile(path)
    }
}

impl Drop for PemFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn credentials(pem: Option<&PemFile>) -> Credentials {
    let path = pem.map(|p| p.0.to_str().unwrap().to_owned());
    Credentials::from_lookup(|name| match name {
        API_KEY_VAR => Some(DEFAULT_API_KEY.to_owned()),
        API_SECRET_VAR => Some(DEFAULT_API_SECRET.to_owned()),
        ED25519_API_KEY_VAR => path.as_ref().map(|_| DEFAULT_ED25519_API_KEY.to_owned()),
        ED25519_KEY_PATH_VAR => path.clone(),
        _ => None,
    })
    .unwrap()
}

async fn executor(venue: &RunningVenue, creds: Credentials) -> Arc<RealExecutor> {
    let client = RestClient::new(
        RestConfig::new(format!("http://{}", venue.addr)),
        creds,
        RateLimiter::new(&[], 0),
    )
    .unwrap();
    client.sync_clock().await.unwrap();
    let info = client.exchange_info("POLUSDT").await.unwrap();
    let filters = SymbolFilters::from_exchange_info(&info, "POLUSDT").unwrap();
    let limits = Limits {
        max_order_notional: "1000".parse().unwrap(),
        max_open_orders: 5,
    };
    Arc::new(RealExecutor::new(
        Arc::new(client),
        ExecutorConfig::new(filters, limits),
    ))
}

fn stream_config(venue: &RunningVenue) -> UserStreamConfig {
    let mut cfg = UserStreamConfig::new(format!("ws://{}", venue.addr));
    cfg.reconnect_initial = Duration::from_millis(20);
    cfg.reconnect_max = Duration::from_millis(200);
    cfg.subscribe_timeout = Duration::from_secs(10);
    cfg
}

/// Polls `cond` until it holds, at most [`WAIT`].
async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn next_response(rx: &mut UnboundedReceiver<Response>) -> Response {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a response in time")
        .expect("stream running")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ed25519_logon_stream_reports_the_fills_of_an_order_placed_over_rest() {
    // 21:16 to 21:18: POL falls from 0.197 to 0.155; a buy at 0.19 rests, then fills.
    let venue = client::start(&client::config(
        "2025-10-10T21:16:00Z",
        "2025-10-10T21:18:00Z",
        Speed::Max,
    ))
    .await;
    let pem = PemFile::test1();
    let creds = credentials(Some(&pem));
    assert!(creds.has_ed25519());
    let ex = executor(&venue, creds).await;
    assert!(ex.client().ed25519_signer().is_some());

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stream = UserStream::spawn(Arc::clone(&ex), stream_config(&venue), tx);
    wait_until("the subscription", || stream.subscriptions() == 1).await;
    let counts = &venue.venue.trading.ws_api;
    assert_eq!(counts.logons.load(Ordering::SeqCst), 1);
    assert_eq!(counts.session_subscriptions.load(Ordering::SeqCst), 1);
    assert_eq!(counts.signature_subscriptions.load(Ordering::SeqCst), 0);

    let cmd = PlaceOrder {
        command_id: "cmd-ed1".into(),
        ts_ns: 0,
        client_order_id: "ed-rest-1".into(),
        symbol: "POLUSDT".into(),
        side: Side::Buy,
        order_type: OrderType::Limit,
        time_in_force: Some(TimeInForce::Gtc),
        quantity: "100".parse().unwrap(),
        price: Some("0.19".parse().unwrap()),
    };
    let placed = ex.place(&cmd).await;
    assert!(
        matches!(placed.as_slice(), [Response::OrderPlaced(a)] if a.client_order_id == "ed-rest-1"),
        "{placed:?}"
    );

    // Start the replay: the crash trades through 0.19 and fills the order.
    let _md = client::connect(&venue, "/ws/polusdt@trade").await;
    let mut filled = Dec::ZERO;
    loop {
        match next_response(&mut rx).await {
            Response::OrderExecution(e) => {
                assert_eq!(e.client_order_id, "ed-rest-1");
                assert_eq!(e.command_id.as_deref(), Some("cmd-ed1"));
                assert_eq!(e.last_price, "0.19".parse::<Dec>().unwrap());
                filled = Dec(filled.0 + e.last_quantity.0);
                assert_eq!(e.cumulative_quantity, filled);
                if e.status == OrderStatus::Filled {
                    break;
                }
                assert_eq!(e.status, OrderStatus::PartiallyFilled);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(filled, cmd.quantity);
    assert!(stream.stats().execution_reports.load(Ordering::SeqCst) >= 2);
    assert_eq!(
        ex.order("ed-rest-1").unwrap().info.status,
        OrderStatus::Filled
    );
    stream.shutdown().await;
    venue.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_ed25519_key_the_stream_subscribes_with_hmac() {
    let venue = client::start(&client::config(
        "2025-10-10T21:16:00Z",
        "2025-10-10T21:17:00Z",
        Speed::Max,
    ))
    .await;
    let ex = executor(&venue, credentials(None)).await;
    assert!(ex.client().ed25519_signer().is_none());
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let stream = UserStream::spawn(Arc::clone(&ex), stream_config(&venue), tx);
    wait_until("the subscription", || stream.subscriptions() == 1).await;
    let counts = &venue.venue.trading.ws_api;
    assert_eq!(counts.signature_subscriptions.load(Ordering::SeqCst), 1);
    assert_eq!(counts.logons.load(Ordering::SeqCst), 0);
    stream.shutdown().await;
    venue.shutdown(Duration::from_secs(2)).await;
}

/// The venue pings user data connections as it pings market data ones (every 100 ms here, each to
/// be answered within 400 ms): the engine's stream answers them and keeps its one subscription.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_answers_the_venues_pings_and_keeps_its_subscription() {
    let venue = client::start(&SimConfig {
        keepalive: Keepalive {
            ping_every: Duration::from_millis(100),
            pong_within: Duration::from_millis(400),
        },
        ..client::config("2025-10-10T21:16:00Z", "2025-10-10T21:17:00Z", Speed::Max)
    })
    .await;
    let ex = executor(&venue, credentials(None)).await;
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let stream = UserStream::spawn(Arc::clone(&ex), stream_config(&venue), tx);
    wait_until("the subscription", || stream.subscriptions() == 1).await;
    // Fifteen pings' worth, each unanswered one closing the connection within 400 ms.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(stream.subscriptions(), 1);
    assert_eq!(venue.venue.stats.pong_timeouts.load(Ordering::SeqCst), 0);
    stream.shutdown().await;
    venue.shutdown(Duration::from_secs(2)).await;
}

async fn ask(ws: &mut client::Ws, req: Value) -> Value {
    ws.send(Message::Text(req.to_string())).await.unwrap();
    client::next_json(ws).await.expect("an answer")
}

/// The client's logon request, sent by hand: the venue's answers step by step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_venue_answers_logon_and_subscribe_as_documented() {
    let venue = client::start(&client::config(
        "2025-10-10T21:16:00Z",
        "2025-10-10T21:17:00Z",
        Speed::Max,
    ))
    .await;
    let pem = PemFile::test1();
    let key = Ed25519Key::from_pem_file(&pem.0).unwrap();
    let signer = Ed25519Signer::new(DEFAULT_ED25519_API_KEY, key, RecvWindow::default());
    let mut ws = client::connect(&venue, "/ws-api/v3").await;
    let r = ask(
        &mut ws,
        json!({"id": "s0", "method": "userDataStream.subscribe"}),
    )
    .await;
    assert_eq!(
        (r["status"].as_u64(), r["error"]["code"].as_i64()),
        (Some(401), Some(-2015)),
        "{r}"
    );
    let stale = signer.logon_params(local_now_ms() - 60_000);
    let r = ask(
        &mut ws,
        json!({"id": "l0", "method": "session.logon", "params": stale}),
    )
    .await;
    assert_eq!(r["error"]["code"], -1021, "{r}");
    let mut forged = signer.logon_params(local_now_ms());
    forged["timestamp"] = json!(local_now_ms() + 1);
    let r = ask(
        &mut ws,
        json!({"id": "l1", "method": "session.logon", "params": forged}),
    )
    .await;
    assert_eq!(r["error"]["code"], -1022, "{r}");
    let params = signer.logon_params(local_now_ms());
    let r = ask(
        &mut ws,
        json!({"id": "l2", "method": "session.logon", "params": params}),
    )
    .await;
    assert_eq!(
        (r["id"].as_str(), r["status"].as_u64()),
        (Some("l2"), Some(200)),
        "{r}"
    );
    assert_eq!(r["result"]["apiKey"], DEFAULT_ED25519_API_KEY);
    let r = ask(
        &mut ws,
        json!({"id": "s1", "method": "userDataStream.subscribe"}),
    )
    .await;
    assert_eq!(
        r,
        json!({"id": "s1", "status": 200, "result": {"subscriptionId": 0}})
    );
    drop(ws);
    venue.shutdown(Duration::from_secs(2)).await;
}
