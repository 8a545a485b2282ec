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
            let param = |k: &str| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix(&format!("{k}=")).map(str::to_owned))
                    .unwrap_or_default()
            };
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
    tokio::time::timeout(Duration::from_secs(10), &mut pending.answered)
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
