//! The core with the real executor against a venue on loopback: what waits in the worker's queue
//! counts in the position limits, a halt refuses the buys queued before it even after a quick
//! `Resume`, a halt of the feed still flattens, and a flatten sells the fills the cancels revealed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::message::{QueryOrder, Resume};
use execution_engine::rate_limit::RateLimiter;
use execution_engine::real::{
    Credentials, ExecutorConfig, RealExecutor, RestClient, RestConfig, UserStream, UserStreamConfig,
};
use execution_engine::signing::ApiSecret;

use super::*;
use crate::executor::Real;
use crate::position_file::PositionFile;

/// The value of `key` in the query string `q` (empty when absent).
fn query_param(q: &str, key: &str) -> String {
    q.split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")).map(str::to_owned))
        .unwrap_or_default()
}

/// A venue on loopback: it places every order (NEW), answers a query 1 s late (as a venue under
/// load: the worker is busy meanwhile) that the order does not exist, and cancels nothing; it
/// counts and names the orders it got (`<clientOrderId> <side> <quantity>`). With
/// `fill_on_cancel`, a cancel of every open order finds the first order placed filled 200 (trade
/// 900 at 0.15, fee in USDT) before its cancel landed.
async fn venue(fill_on_cancel: bool) -> (String, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>) {
    use axum::http::{Method, Uri};
    use axum::response::IntoResponse;
    let posts = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(Mutex::new(Vec::new()));
    let (p, s) = (Arc::clone(&posts), Arc::clone(&sent));
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri| {
        let (p, s) = (Arc::clone(&p), Arc::clone(&s));
        async move {
            let q = uri.query().unwrap_or("").to_owned();
            let param = |k: &str| query_param(&q, k);
            let ok = |body: String| (axum::http::StatusCode::OK, body).into_response();
            match (method.as_str(), uri.path()) {
                ("GET", "/api/v3/time") => ok(format!(
                    "{{\"serverTime\":{}}}",
                    now_ns() / 1_000_000
                )),
                ("POST", "/api/v3/order") => {
                    let n = p.fetch_add(1, Ordering::SeqCst) + 1;
                    s.lock().unwrap().push(format!(
                        "{} {} {}",
                        param("newClientOrderId"),
                        param("side"),
                        param("quantity")
                    ));
                    ok(serde_json::json!({
                        "symbol": "POLUSDT", "orderId": n, "orderListId": -1,
                        "clientOrderId": param("newClientOrderId"), "transactTime": 1,
                        "price": if param("price").is_empty() { "0".to_owned() } else { param("price") },
                        "origQty": param("quantity"), "executedQty": "0",
                        "cummulativeQuoteQty": "0", "status": "NEW",
                        "timeInForce": "GTC", "type": param("type"), "side": param("side"),
                        "fills": []
                    })
                    .to_string())
                }
                ("GET", "/api/v3/order") => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    (
                        axum::http::StatusCode::BAD_REQUEST,
                        "{\"code\":-2013,\"msg\":\"Order does not exist.\"}",
                    )
                        .into_response()
                }
                ("DELETE", "/api/v3/openOrders") if fill_on_cancel => {
                    let first = s.lock().unwrap().first().cloned().unwrap_or_default();
                    let coid = first.split(' ').next().unwrap_or_default();
                    ok(serde_json::json!([{
                        "symbol": "POLUSDT", "origClientOrderId": coid, "orderId": 1,
                        "orderListId": -1, "clientOrderId": "cancelall", "transactTime": 2,
                        "price": "0.15000000", "origQty": "500.00000000",
                        "executedQty": "200.00000000", "cummulativeQuoteQty": "30.00000000",
                        "status": "CANCELED", "timeInForce": "GTC", "type": "LIMIT", "side": "BUY",
                        "selfTradePreventionMode": "NONE"
                    }])
                    .to_string())
                }
                ("DELETE", "/api/v3/openOrders") => ok("[]".into()),
                ("GET", "/api/v3/myTrades") if fill_on_cancel => ok(serde_json::json!([{
                    "symbol": "POLUSDT", "id": 900, "orderId": 1, "orderListId": -1,
                    "price": "0.15000000", "qty": "200.00000000", "quoteQty": "30.00000000",
                    "commission": "0.03000000", "commissionAsset": "USDT", "time": 2,
                    "isBuyer": true, "isMaker": true, "isBestMatch": true
                }])
                .to_string()),
                _ => (axum::http::StatusCode::NOT_FOUND, "{\"code\":-1,\"msg\":\"x\"}")
                    .into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), posts, sent)
}

/// The paper rig with its executor replaced by the real one on `url`.
fn real_rig(name: &str, url: &str) -> Rig {
    let mut r = rig(name);
    let client = RestClient::new(
        RestConfig::new(url),
        Credentials::new("key", ApiSecret::new("secret")),
        RateLimiter::new(&[], 0),
    )
    .unwrap();
    let (limits, _, _) = executor_settings(&r.core.reload.loaded.config);
    let ex = Arc::new(
        RealExecutor::new(
            Arc::new(client),
            ExecutorConfig::new(execution_engine::fixtures::polusdt_filters(), limits),
        )
        .with_book(r.core.feed.book.clone()),
    );
    let (tx, rx) = mpsc::unbounded_channel();
    let stream = UserStream::spawn(Arc::clone(&ex), UserStreamConfig::new(url), tx.clone());
    let (banned_tx, banned_rx) = watch::channel(None);
    r.core.executor = Executor::Real(Real::start(
        ex,
        stream,
        tx,
        banned_tx,
        Duration::from_secs(60),
        Duration::ZERO,
    ));
    r.core.results = rx;
    r.core.banned = banned_rx;
    r
}

fn query(id: &str) -> Command {
    Command::QueryOrder(QueryOrder {
        command_id: format!("cmd-{id}"),
        ts_ns: now_ns(),
        symbol: "POLUSDT".into(),
        client_order_id: id.into(),
    })
}

fn bid(coid: &str) -> Command {
    Command::PlaceOrder(PlaceOrder {
        command_id: format!("cmd-{coid}"),
        ts_ns: now_ns(),
        client_order_id: coid.into(),
        symbol: "POLUSDT".into(),
        side: Side::Buy,
        order_type: OrderType::Limit,
        time_in_force: Some(TimeInForce::Gtc),
        quantity: "500".parse().unwrap(),
        price: Some("0.1500".parse().unwrap()),
    })
}

/// Every response the core was given or the worker sent so far.
fn answered(r: &mut Rig) -> Vec<Response> {
    let mut out = Vec::new();
    while let Ok(x) = r.responses.try_recv() {
        out.push(x);
    }
    while let Ok(x) = r.core.results.try_recv() {
        out.push(x);
    }
    out
}

/// `[risk] max_positions = 1`: while the worker waits on a slow query, a second buy is checked
/// against the first one still queued (it counts as open), and refused; only one reaches the venue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buy_still_queued_counts_in_the_position_limits() {
    let (url, posts, _) = venue(false).await;
    let mut r = real_rig("queued-limits", &url);
    r.core.position_limits.max_positions = 1;
    r.core.on_command(query("someorder")).await;
    tokio::time::sleep(Duration::from_millis(100)).await; // the worker is on the query
    r.core.on_command(bid("b1")).await;
    r.core.on_command(bid("b2")).await;
    let refused = answered(&mut r);
    assert!(
        matches!(refused.as_slice(), [Response::Error(e)] if e.command_id.as_deref() == Some("cmd-b2") && e.field.as_deref() == Some("side")),
        "{refused:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(posts.load(Ordering::SeqCst), 1);
    assert_eq!(r.core.executor.open_quantities().buy_orders, 1);
}

/// A buy queued for the venue when an `EmergencyHalt` arrives is refused `HALTED` unsent, even
/// when the `Resume` comes before the worker reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buy_queued_before_a_halt_stays_refused_after_a_quick_resume() {
    let (url, posts, _) = venue(false).await;
    let mut r = real_rig("quick-resume", &url);
    r.core.on_command(query("someorder")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    r.core.on_command(bid("h1")).await;
    for cmd in [
        Command::EmergencyHalt(EmergencyHalt {
            command_id: "halt".into(),
            ts_ns: now_ns(),
            reason: "test".into(),
            flatten: false,
        }),
        Command::Resume(Resume {
            command_id: "resume".into(),
            ts_ns: now_ns(),
            reason: "test".into(),
        }),
    ] {
        r.core.on_command(cmd).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let out = answered(&mut r);
    assert!(
        out.iter().any(|x| matches!(x, Response::Error(e) if e.command_id.as_deref() == Some("cmd-h1") && e.code == ErrorCode::Halted)),
        "{out:?}"
    );
    assert_eq!(posts.load(Ordering::SeqCst), 0);
    // A buy sent after the Resume goes.
    r.core.on_command(bid("h2")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(posts.load(Ordering::SeqCst), 1);
}

/// `flatten_on_halt`: the feed down past its reconnects (its book no longer in sync) halts the
/// engine, and the net long is still sold at market, valued at the last book's bid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_halt_flattens_on_the_last_book() {
    let (url, _, sent) = venue(false).await;
    let mut r = real_rig("feed-halt-flatten", &url);
    r.core.flatten_on_halt = true;
    r.core.held.position = "500".parse().unwrap();
    book_at(&r.core, "0.2000", "0.2001");
    r.core.feed.book.write().synced = false;
    r.core.on_feed_state(FeedState::Halted).await;
    flatten_once_answered(&mut r).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let out = answered(&mut r);
    assert!(
        !out.iter().any(|x| matches!(x, Response::Error(_))),
        "{out:?}"
    );
    let sent = sent.lock().unwrap().clone();
    assert!(
        matches!(sent.as_slice(), [id] if id.starts_with("flatten-") && id.ends_with(" SELL 500.0")),
        "{sent:?}"
    );
}

/// An `EmergencyHalt` with `flatten`, then a `Resume` and a sell while the venue has not answered
/// the cancels yet (a slow query ahead of them): the sell is refused `HALTED`, so the flatten, sized
/// once the cancels are answered, is the only sell (500 held, 500 sold, not 1,000).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_wait_for_a_flatten_that_waits_for_the_cancels() {
    let (url, _, sent) = venue(false).await;
    let mut r = real_rig("flatten-resume", &url);
    r.core.held.position = "500".parse().unwrap();
    book_at(&r.core, "0.2000", "0.2001");
    r.core.on_command(query("someorder")).await;
    tokio::time::sleep(Duration::from_millis(100)).await; // the worker is on the query
    for cmd in [
        Command::EmergencyHalt(EmergencyHalt {
            command_id: "halt".into(),
            ts_ns: now_ns(),
            reason: "test".into(),
            flatten: true,
        }),
        Command::Resume(Resume {
            command_id: "resume".into(),
            ts_ns: now_ns(),
            reason: "test".into(),
        }),
    ] {
        r.core.on_command(cmd).await;
    }
    let mut sell = bid("tp1");
    if let Command::PlaceOrder(p) = &mut sell {
        p.side = Side::Sell;
        p.price = Some("0.2100".parse().unwrap());
    }
    r.core.on_command(sell).await;
    let refused = answered(&mut r);
    assert!(
        refused.iter().any(|x| matches!(x, Response::Error(e) if e.command_id.as_deref() == Some("cmd-tp1") && e.code == ErrorCode::Halted)),
        "{refused:?}"
    );
    flatten_once_answered(&mut r).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent = sent.lock().unwrap().clone();
    assert!(
        matches!(sent.as_slice(), [f] if f.starts_with("flatten-") && f.ends_with(" SELL 500.0")),
        "{sent:?}"
    );
}

/// Waits (bounded) for the cancels a halt queued to be answered, then runs the flatten waiting
/// for them, as the core loop does.
async fn flatten_once_answered(r: &mut Rig) {
    let pending = r.core.pending_flatten.as_mut().expect("a flatten waits");
    let answered = pending.answered.as_mut().expect("it waits for the cancels");
    tokio::time::timeout(Duration::from_secs(10), answered)
        .await
        .expect("the cancels were never answered")
        .unwrap();
    r.core.flatten_after_cancels().await;
}

/// An `EmergencyHalt` with `flatten` while a bid rests: its cancel finds 200 bought before it
/// landed. The flatten sells what is held once the cancels are answered, those 200 included (it
/// sold what was held when the halt began: nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flatten_sells_the_fills_its_cancels_revealed() {
    let (url, _, sent) = venue(true).await;
    let mut r = real_rig("flatten-revealed", &url);
    book_at(&r.core, "0.2000", "0.2001");
    r.core.on_command(bid("b1")).await;
    let placed = tokio::time::timeout(Duration::from_secs(10), r.core.results.recv())
        .await
        .unwrap();
    assert!(
        matches!(placed, Some(Response::OrderPlaced(_))),
        "{placed:?}"
    );
    r.core
        .on_command(Command::EmergencyHalt(EmergencyHalt {
            command_id: "halt".into(),
            ts_ns: now_ns(),
            reason: "test".into(),
            flatten: true,
        }))
        .await;
    flatten_once_answered(&mut r).await;
    assert_eq!(r.core.held.position, "200".parse::<Decimal>().unwrap());
    tokio::time::sleep(Duration::from_secs(1)).await; // the worker sends the sell
    let sent = sent.lock().unwrap().clone();
    assert!(
        matches!(sent.as_slice(), [_, sell] if sell.starts_with("flatten-") && sell.ends_with(" SELL 200.0")),
        "{sent:?}"
    );
}

/// A venue on loopback where a flatten's sell fills whole and its answer never comes back: the
/// `POST` of an order is recorded and filled (99.9 in two trades, 60 and 39.9 at 0.2, fees in USDT)
/// and then hangs; a query of it by `origClientOrderId` finds it `FILLED`, `myTrades` lists its two
/// trades; it has no open orders. Counts the `POST`s.
async fn lost_answer_venue() -> (String, Arc<AtomicUsize>) {
    use axum::http::{Method, Uri};
    use axum::response::IntoResponse;
    let posts = Arc::new(AtomicUsize::new(0));
    let filled: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let (p, f) = (Arc::clone(&posts), Arc::clone(&filled));
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri| {
        let (p, f) = (Arc::clone(&p), Arc::clone(&f));
        async move {
            let q = uri.query().unwrap_or("").to_owned();
            let param = |k: &str| query_param(&q, k);
            let ok = |body: String| (axum::http::StatusCode::OK, body).into_response();
            match (method.as_str(), uri.path()) {
                ("GET", "/api/v3/time") => {
                    ok(format!("{{\"serverTime\":{}}}", now_ns() / 1_000_000))
                }
                ("POST", "/api/v3/order") => {
                    p.fetch_add(1, Ordering::SeqCst);
                    *f.lock().unwrap() = Some(param("newClientOrderId"));
                    tokio::time::sleep(Duration::from_secs(3600)).await; // the answer is lost
                    ok(String::new())
                }
                ("GET", "/api/v3/order") => {
                    let coid = param("origClientOrderId");
                    if f.lock().unwrap().as_deref() != Some(coid.as_str()) {
                        return (
                            axum::http::StatusCode::BAD_REQUEST,
                            "{\"code\":-2013,\"msg\":\"Order does not exist.\"}",
                        )
                            .into_response();
                    }
                    ok(serde_json::json!({
                        "symbol": "POLUSDT", "orderId": 77, "orderListId": -1,
                        "clientOrderId": coid, "price": "0.00000000",
                        "origQty": "99.90000000", "executedQty": "99.90000000",
                        "cummulativeQuoteQty": "19.98000000", "status": "FILLED",
                        "timeInForce": "GTC", "type": "MARKET", "side": "SELL",
                        "stopPrice": "0.00000000", "icebergQty": "0.00000000",
                        "time": 1, "updateTime": 2, "isWorking": true, "workingTime": 1,
                        "origQuoteOrderQty": "0.00000000", "selfTradePreventionMode": "NONE"
                    })
                    .to_string())
                }
                ("GET", "/api/v3/myTrades") => ok(serde_json::json!([
                    {
                        "symbol": "POLUSDT", "id": 501, "orderId": 77, "orderListId": -1,
                        "price": "0.20000000", "qty": "60.00000000", "quoteQty": "12.00000000",
                        "commission": "0.01200000", "commissionAsset": "USDT", "time": 2,
                        "isBuyer": false, "isMaker": false, "isBestMatch": true
                    },
                    {
                        "symbol": "POLUSDT", "id": 502, "orderId": 77, "orderListId": -1,
                        "price": "0.20000000", "qty": "39.90000000", "quoteQty": "7.98000000",
                        "commission": "0.00798000", "commissionAsset": "USDT", "time": 2,
                        "isBuyer": false, "isMaker": false, "isBestMatch": true
                    }
                ])
                .to_string()),
                ("GET", "/api/v3/openOrders") | ("DELETE", "/api/v3/openOrders") => ok("[]".into()),
                _ => (
                    axum::http::StatusCode::NOT_FOUND,
                    "{\"code\":-1,\"msg\":\"x\"}",
                )
                    .into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), posts)
}

/// Real mode, `flatten_on_halt`: an `EmergencyHalt` flattens 99.9 held; the venue fills the sell but
/// its answer is lost, and the engine is killed. The sell was written to the position file before
/// it was sent, so the engine started again from that file (halted, 99.9 held as far as the file
/// knows) looks it up at the venue: it counts its two fills (the net position is 0, in the file
/// too, and the sell no longer in it), tells them as `OrderExecution`s of `flatten-…` (a
/// listening strategy closes its lots), and its own restart flatten sells nothing: one sell in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flatten_whose_answer_was_lost_is_counted_after_a_restart() {
    let dir = std::env::temp_dir().join(format!(
        "flashcrash-core-lost-flatten-{}",
        std::process::id()
    ));
    let (url, posts) = lost_answer_venue().await;
    let file = PositionFile::new(&dir, "POLUSDT", &url);
    let d = |s: &str| s.parse::<Decimal>().unwrap();

    let mut first = real_rig("lost-flatten", &url);
    first.core.position_file = Some(PositionStore::Now(file.clone()));
    first.core.held.position = d("99.9");
    book_at(&first.core, "0.2000", "0.2001");
    first
        .core
        .on_command(Command::EmergencyHalt(EmergencyHalt {
            command_id: "halt".into(),
            ts_ns: now_ns(),
            reason: "test".into(),
            flatten: true,
        }))
        .await;
    flatten_once_answered(&mut first).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while posts.load(Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sell never came"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Killed while the sell's answer is out: the file holds 99.9, the halt and the sell.
    drop(first);
    let saved = file.load().unwrap().expect("a position file");
    assert_eq!(saved.held.position, d("99.9"));
    assert_eq!(saved.halt.as_deref(), Some("test"));
    let [sell] = saved.held.flattens.as_slice() else {
        panic!("{:?}", saved.held.flattens)
    };
    assert!(sell.client_order_id.starts_with("flatten-"), "{sell:?}");
    assert_eq!(sell.quantity.0, d("99.9"));

    let mut restarted = real_rig("lost-flatten-restart", &url);
    restarted.core.position_file = Some(PositionStore::Now(file.clone()));
    restarted.core.held = saved.held.clone();
    restarted.core.halts.emergency = saved.halt.clone();
    restarted.core.flatten_on_halt = true;
    book_at(&restarted.core, "0.2000", "0.2001");
    let mut responses = std::mem::replace(&mut restarted.responses, mpsc::channel(1).1);
    let (stop, signal) = watch::channel(false);
    let run = tokio::spawn(restarted.core.run(signal));
    let mut fills = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while fills.len() < 2 {
        match tokio::time::timeout_at(deadline, responses.recv()).await {
            Ok(Some(Response::OrderExecution(e))) => fills.push(e),
            Ok(Some(_)) => {}
            other => panic!("the flatten's fills were never told: {other:?} after {fills:?}"),
        }
    }
    assert!(
        fills
            .iter()
            .all(|e| e.client_order_id == sell.client_order_id
                && e.side == Side::Sell
                && e.command_id.as_deref() == Some(sell.command_id.as_str())),
        "{fills:?}"
    );
    let trades: Vec<u64> = fills.iter().map(|e| e.trade_id).collect();
    assert_eq!(trades, [501, 502]);
    assert_eq!(fills[1].status, OrderStatus::Filled);
    // The restart's own flatten (what is held once the cancels are answered) has nothing to sell.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let now = file.load().unwrap().unwrap();
        if now.held.flattens.is_empty() && now.held.position.is_zero() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the file still holds {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(40), run)
        .await
        .unwrap()
        .unwrap();
    let after = file.load().unwrap().unwrap();
    assert_eq!(after.held.position, Decimal::ZERO);
    assert!(after.held.flattens.is_empty(), "{:?}", after.held.flattens);
    assert!(after.held.counted(501) && after.held.counted(502));
    assert_eq!(posts.load(Ordering::SeqCst), 1, "a second sell was sent");
    std::fs::remove_dir_all(&dir).unwrap();
}
