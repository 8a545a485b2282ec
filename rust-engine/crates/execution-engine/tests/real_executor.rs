//! The real executor against a stub venue on loopback.

mod stub_venue;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::message::{
    CancelOrder, ErrorCode, Liquidity, OrderStatus, OrderType, PlaceOrder, QueryOpenOrders,
    QueryOrder, Response, Side, TimeInForce,
};
use common::Dec;
use execution_engine::breaker::{BreakerConfig, BreakerState, Trip};
use execution_engine::order::Order;
use execution_engine::paper::{Fees, FillRule};
use execution_engine::rate_limit::RateLimiter;
use execution_engine::real::{
    Credentials, ExecutorConfig, RealExecutor, RestClient, RestConfig, UserStream, UserStreamConfig,
};
use execution_engine::signing::{local_now_ms, ApiSecret};
use execution_engine::{Limits, PaperExecutor, SymbolFilters};
use feed_handler::book::Level;
use feed_handler::fixed::parse_units;
use feed_handler::shared::SharedBook;
use serde_json::{json, Value};
use stub_venue::{wait_until, Canned, Stub, API_KEY, SECRET};

const ORDER: &str = "/api/v3/order";
const OPEN: &str = "/api/v3/openOrders";
const TRADES: &str = "/api/v3/myTrades";
const TIME: &str = "/api/v3/time";
const WAIT: Duration = Duration::from_secs(5);

fn d(s: &str) -> Dec {
    s.parse().unwrap()
}

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../../../tests/fixtures/binance/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap()
}

fn filters() -> SymbolFilters {
    SymbolFilters {
        symbol: "POLUSDT".into(),
        base_asset: "POL".into(),
        quote_asset: "USDT".into(),
        tick_size: d("0.0001"),
        min_price: d("0.0001"),
        step_size: d("0.1"),
        min_qty: d("0.1"),
        max_qty: d("9000000"),
        min_notional: d("5"),
    }
}

fn limits() -> Limits {
    Limits {
        max_order_notional: d("1000"),
        max_open_orders: 3,
    }
}

fn rest_config(stub: &Stub) -> RestConfig {
    let mut c = RestConfig::new(stub.url());
    c.request_timeout = Duration::from_secs(2);
    c.max_rate_wait = Duration::from_secs(3);
    c.breaker = BreakerConfig {
        trip: Trip::Consecutive(5),
        cool_down_ms: 60_000,
    };
    c
}

fn client_with(config: RestConfig, secret: &str) -> Arc<RestClient> {
    let limiter = RateLimiter::from_exchange_info(
        &fixture("exchange_info_btcusdt_nautilus_2021.json"),
        local_now_ms(),
    )
    .unwrap();
    Arc::new(
        RestClient::new(
            config,
            Credentials::new(API_KEY, ApiSecret::new(secret)),
            limiter,
        )
        .unwrap(),
    )
}

fn exec_config() -> ExecutorConfig {
    let mut c = ExecutorConfig::new(filters(), limits());
    c.unknown_outcome_window = Duration::from_millis(300);
    c.query_backoff_initial = Duration::from_millis(20);
    c.query_backoff_max = Duration::from_millis(80);
    c
}

fn executor_with(client: Arc<RestClient>, config: ExecutorConfig) -> Arc<RealExecutor> {
    Arc::new(RealExecutor::new(client, config).with_book(book()))
}

fn executor(stub: &Stub) -> Arc<RealExecutor> {
    executor_with(client_with(rest_config(stub), SECRET), exec_config())
}

fn lv(p: &str, q: &str) -> Level {
    Level {
        price: parse_units(p).unwrap(),
        qty: parse_units(q).unwrap(),
    }
}

fn book() -> SharedBook {
    let book = SharedBook::default();
    {
        let mut st = book.write();
        st.synced = true;
        st.book.reset(
            1,
            &[lv("0.1583", "100"), lv("0.1582", "300")],
            &[lv("0.1584", "100"), lv("0.1585", "200")],
        );
    }
    book
}

fn place(coid: &str, t: OrderType, side: Side, qty: &str, price: Option<&str>) -> PlaceOrder {
    PlaceOrder {
        command_id: format!("cmd-{coid}"),
        ts_ns: 0,
        client_order_id: coid.into(),
        symbol: "POLUSDT".into(),
        side,
        order_type: t,
        time_in_force: (t == OrderType::Limit).then_some(TimeInForce::Gtc),
        quantity: d(qty),
        price: price.map(d),
    }
}

/// A FULL new-order answer shaped as the fixture, for `cmd`.
#[allow(clippy::too_many_arguments)]
fn full_body(
    cmd: &PlaceOrder,
    order_id: u64,
    status: &str,
    executed: &str,
    cum_quote: &str,
    fills: &[(&str, &str, &str, u64)],
) -> String {
    let mut v: Value = serde_json::from_str(&fixture("order_new_response_full.json")).unwrap();
    v["symbol"] = json!(cmd.symbol);
    v["orderId"] = json!(order_id);
    v["clientOrderId"] = json!(cmd.client_order_id);
    v["price"] = json!(cmd.price.map_or("0.00000000".to_owned(), |p| p.to_string()));
    v["origQty"] = json!(cmd.quantity.to_string());
    v["executedQty"] = json!(executed);
    v["cummulativeQuoteQty"] = json!(cum_quote);
    v["status"] = json!(status);
    v["type"] = json!(match cmd.order_type {
        OrderType::Limit => "LIMIT",
        OrderType::Market => "MARKET",
        OrderType::LimitMaker => "LIMIT_MAKER",
    });
    v["side"] = json!(cmd.side.as_str());
    v["fills"] = fills
        .iter()
        .map(|(p, q, c, id)| {
            json!({"price": p, "qty": q, "commission": c, "commissionAsset": "USDT", "tradeId": id})
        })
        .collect();
    v.to_string()
}

/// A query answer shaped as the fixture.
fn query_body(
    coid: &str,
    order_id: u64,
    side: &str,
    price: &str,
    orig: &str,
    executed: &str,
    status: &str,
) -> String {
    let mut v: Value = serde_json::from_str(&fixture("order_query_response.json")).unwrap();
    v["symbol"] = json!("POLUSDT");
    v["orderId"] = json!(order_id);
    v["clientOrderId"] = json!(coid);
    v["side"] = json!(side);
    v["price"] = json!(price);
    v["origQty"] = json!(orig);
    v["executedQty"] = json!(executed);
    v["status"] = json!(status);
    v.to_string()
}

fn trades_body(order_id: u64, trades: &[(u64, &str, &str, &str, bool)]) -> String {
    let rows: Vec<Value> = trades
        .iter()
        .map(|(id, p, q, c, maker)| {
            json!({"symbol": "POLUSDT", "id": id, "orderId": order_id, "orderListId": -1,
                   "price": p, "qty": q, "quoteQty": "0", "commission": c,
                   "commissionAsset": "USDT", "time": 1, "isBuyer": true,
                   "isMaker": maker, "isBestMatch": true})
        })
        .collect();
    Value::Array(rows).to_string()
}

fn normalized(mut rs: Vec<Response>) -> Vec<Response> {
    for r in &mut rs {
        match r {
            Response::OrderPlaced(p) => {
                p.ts_ns = 0;
                p.exchange_order_id = "X".into();
            }
            Response::OrderExecution(e) => {
                e.ts_ns = 0;
                e.exchange_order_id = "X".into();
            }
            Response::OrderCanceled(c) => {
                c.ts_ns = 0;
                c.exchange_order_id = "X".into();
            }
            Response::Error(e) => e.ts_ns = 0,
            _ => {}
        }
    }
    rs
}

fn error_of(rs: &[Response]) -> &common::message::ErrorResponse {
    match rs {
        [Response::Error(e)] => e,
        other => panic!("expected one Error, got {other:?}"),
    }
}

#[tokio::test]
async fn signed_requests_verify_with_the_documented_hmac_rules() {
    let stub = Stub::start().await;
    let cmd = place("c1", OrderType::Limit, Side::Buy, "100", Some("0.15"));
    stub.push(
        "POST",
        ORDER,
        Canned::ok(full_body(&cmd, 7, "NEW", "0", "0", &[])),
    );
    let ex = executor(&stub);
    let out = ex.place(&cmd).await;
    assert!(
        matches!(out.as_slice(), [Response::OrderPlaced(p)] if p.status == OrderStatus::New && p.exchange_order_id == "7"),
        "{out:?}"
    );
    let post = &stub.seen("POST", ORDER)[0];
    assert_eq!(post.signature_ok, Some(true));
    assert_eq!(post.api_key.as_deref(), Some(API_KEY));
    let (unsigned, _) = post.query.split_once("&signature=").unwrap();
    let (params, _) = unsigned.split_once("&timestamp=").unwrap();
    assert_eq!(
        params,
        "symbol=POLUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=100.0&price=0.1500&newClientOrderId=c1&newOrderRespType=FULL&recvWindow=5000"
    );
    // The clock was synced (unsigned, no key) before the first signed request.
    let time = &stub.seen("GET", TIME)[0];
    assert_eq!(time.signature_ok, None);

    // A wrong secret: the stub refuses the signature (-1022): credentials → trading stops.
    let bad = executor_with(
        client_with(rest_config(&stub), "wrong-secret"),
        exec_config(),
    );
    let out = bad
        .place(&place(
            "c2",
            OrderType::Limit,
            Side::Buy,
            "100",
            Some("0.15"),
        ))
        .await;
    let e = error_of(&out);
    assert_eq!(e.code, ErrorCode::Halted);
    assert!(e.message.contains("-1022"), "{}", e.message);
    assert_eq!(stub.seen("POST", ORDER)[1].signature_ok, Some(false));
}

#[tokio::test]
async fn full_answer_gives_the_paper_executors_responses() {
    let stub = Stub::start().await;
    let cmd = place("m1", OrderType::Market, Side::Buy, "150", None);
    let mut paper = PaperExecutor::new(
        filters(),
        limits(),
        Fees {
            maker: d("0.001"),
            taker: d("0.001"),
        },
        FillRule::TradeThrough,
    );
    let shared = book();
    let expected = paper.place(&cmd, &shared.read(), 5);
    assert_eq!(expected.len(), 3);
    stub.push(
        "POST",
        ORDER,
        Canned::ok(full_body(
            &cmd,
            901,
            "FILLED",
            "150.0",
            "23.765",
            &[
                ("0.15840000", "100.00000000", "0.01584000", 1),
                ("0.15850000", "50.00000000", "0.00792500", 2),
            ],
        )),
    );
    let ex = executor(&stub);
    let out = ex.place(&cmd).await;
    assert_eq!(normalized(out), normalized(expected));
    let o = ex.order("m1").unwrap();
    assert_eq!(o.info.status, OrderStatus::Filled);
    assert_eq!(o.info.exchange_order_id, "901");
    assert_eq!(ex.open_count(), 0);
}

#[tokio::test]
async fn timeout_on_post_is_never_resent_and_answered_from_the_query() {
    let stub = Stub::start().await;
    let cmd = place("t1", OrderType::Limit, Side::Buy, "100", Some("0.16"));
    stub.push(
        "POST",
        ORDER,
        Canned::ok(full_body(&cmd, 55, "NEW", "0", "0", &[])).delayed(Duration::from_secs(2)),
    );
    stub.push(
        "GET",
        ORDER,
        Canned::ok(query_body(
            "t1", 55, "BUY", "0.1600", "100.0", "100.0", "FILLED",
        )),
    );
    stub.push(
        "GET",
        TRADES,
        Canned::ok(trades_body(
            55,
            &[
                (11, "0.1584", "60.0", "0.0095", false),
                (12, "0.1585", "40.0", "0.0063", false),
            ],
        )),
    );
    let mut rc = rest_config(&stub);
    rc.request_timeout = Duration::from_millis(200);
    let ex = executor_with(client_with(rc, SECRET), exec_config());
    let out = ex.place(&cmd).await;
    assert_eq!(stub.count("POST", ORDER), 1, "the order was re-sent");
    assert_eq!(stub.count("GET", ORDER), 1);
    match out.as_slice() {
        [Response::OrderPlaced(p), Response::OrderExecution(a), Response::OrderExecution(b)] => {
            assert_eq!(p.status, OrderStatus::Filled);
            assert_eq!(p.exchange_order_id, "55");
            assert_eq!(p.command_id.as_deref(), Some("cmd-t1"));
            assert_eq!((a.trade_id, a.cumulative_quantity), (11, d("60")));
            assert_eq!(a.status, OrderStatus::PartiallyFilled);
            assert_eq!((b.trade_id, b.cumulative_quantity), (12, d("100")));
            assert_eq!(b.status, OrderStatus::Filled);
            assert_eq!(b.liquidity, Liquidity::Taker);
            assert_eq!(b.fee, d("0.0063"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn minus_1007_is_queried_until_the_order_shows_up() {
    let stub = Stub::start().await;
    let cmd = place("u1", OrderType::Limit, Side::Sell, "100", Some("0.17"));
    stub.push(
        "POST",
        ORDER,
        Canned::err(
            500,
            -1007,
            "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
        ),
    );
    stub.push(
        "GET",
        ORDER,
        Canned::err(400, -2013, "Order does not exist."),
    );
    stub.push(
        "GET",
        ORDER,
        Canned::ok(query_body(
            "u1", 77, "SELL", "0.1700", "100.0", "0.0", "NEW",
        )),
    );
    let ex = executor(&stub);
    let out = ex.place(&cmd).await;
    assert_eq!(stub.count("POST", ORDER), 1);
    assert_eq!(stub.count("GET", ORDER), 2);
    assert_eq!(stub.count("GET", TRADES), 0);
    assert!(
        matches!(out.as_slice(), [Response::OrderPlaced(p)] if p.status == OrderStatus::New && p.exchange_order_id == "77"),
        "{out:?}"
    );
    assert_eq!(ex.open_count(), 1);
}

#[tokio::test]
async fn minus_2013_after_the_window_is_an_error_naming_the_unknown_outcome() {
    let stub = Stub::start().await;
    let cmd = place("g1", OrderType::Limit, Side::Buy, "100", Some("0.15"));
    stub.push(
        "POST",
        ORDER,
        Canned::err(503, -1007, "Send status unknown"),
    );
    stub.fallback(
        "GET",
        ORDER,
        Canned::err(400, -2013, "Order does not exist."),
    );
    let ex = executor(&stub);
    let started = Instant::now();
    let out = ex.place(&cmd).await;
    let took = started.elapsed();
    let e = error_of(&out);
    assert_eq!(e.code, ErrorCode::Venue);
    assert_eq!(e.command_id.as_deref(), Some("cmd-g1"));
    assert!(e.message.contains("unknown outcome"), "{}", e.message);
    assert!(e.message.contains("not placed"), "{}", e.message);
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(stub.count("GET", ORDER) >= 2);
    assert_eq!(stub.count("POST", ORDER), 1);
    assert_eq!(ex.open_count(), 0);
    // The same command again is refused without a second venue order.
    let again = ex.place(&cmd).await;
    assert_eq!(error_of(&again).code, ErrorCode::DuplicateOrder);
    assert_eq!(stub.count("POST", ORDER), 1);
}

#[tokio::test]
async fn status_429_makes_the_next_request_wait_for_retry_after() {
    let stub = Stub::start().await;
    stub.push(
        "GET",
        ORDER,
        Canned::err(429, -1003, "Too much request weight used").header("retry-after", "1"),
    );
    stub.push(
        "GET",
        ORDER,
        Canned::ok(query_body("q1", 3, "BUY", "0.1500", "100.0", "0.0", "NEW")),
    );
    let ex = executor(&stub);
    let q = QueryOrder {
        command_id: "q".into(),
        ts_ns: 0,
        symbol: "POLUSDT".into(),
        client_order_id: "q1".into(),
    };
    let first = ex.query(&q).await;
    assert!(
        matches!(&first, Response::Error(e) if e.code == ErrorCode::Venue && e.message.contains("429")),
        "{first:?}"
    );
    let second = ex.query(&q).await;
    assert!(
        matches!(&second, Response::OrderStatus(s) if s.order.status == OrderStatus::New),
        "{second:?}"
    );
    let seen = stub.seen("GET", ORDER);
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_millis(950), "waited only {gap:?}");
    assert!(gap < Duration::from_secs(3), "{gap:?}");
}

#[tokio::test]
async fn status_418_stops_trading() {
    let stub = Stub::start().await;
    stub.push(
        "POST",
        ORDER,
        Canned::err(
            418,
            -1003,
            "Way too much request weight used; IP banned until 1659146400000.",
        )
        .header("retry-after", "1"),
    );
    let mut rc = rest_config(&stub);
    rc.max_rate_wait = Duration::from_millis(100);
    let ex = executor_with(client_with(rc, SECRET), exec_config());
    let out = ex
        .place(&place(
            "b1",
            OrderType::Limit,
            Side::Buy,
            "100",
            Some("0.15"),
        ))
        .await;
    assert_eq!(error_of(&out).code, ErrorCode::Halted);
    assert!(ex.client().trading_stopped().is_some());
    let out = ex
        .place(&place(
            "b2",
            OrderType::Limit,
            Side::Buy,
            "100",
            Some("0.15"),
        ))
        .await;
    assert_eq!(error_of(&out).code, ErrorCode::Halted);
    assert_eq!(stub.count("POST", ORDER), 1);
    // Still stopped once the ban is over, until resumed.
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    let out = ex
        .place(&place(
            "b3",
            OrderType::Limit,
            Side::Buy,
            "100",
            Some("0.15"),
        ))
        .await;
    assert!(
        error_of(&out).message.contains("trading stopped"),
        "{out:?}"
    );
    assert_eq!(stub.count("POST", ORDER), 1);
    assert!(ex.client().resume_trading());
}

#[tokio::test]
async fn breaker_opens_after_repeated_5xx_and_refuses_orders() {
    let stub = Stub::start().await;
    stub.fallback("POST", ORDER, Canned::err(502, -1000, "Bad gateway"));
    stub.fallback(
        "GET",
        ORDER,
        Canned::err(400, -2013, "Order does not exist."),
    );
    stub.fallback(
        "DELETE",
        ORDER,
        Canned::err(400, -2011, "Unknown order sent."),
    );
    let mut rc = rest_config(&stub);
    rc.breaker = BreakerConfig {
        trip: Trip::Consecutive(3),
        cool_down_ms: 60_000,
    };
    let mut ec = exec_config();
    ec.unknown_outcome_window = Duration::from_millis(30);
    let ex = executor_with(client_with(rc, SECRET), ec);
    for i in 0..3 {
        let out = ex
            .place(&place(
                &format!("f{i}"),
                OrderType::Limit,
                Side::Buy,
                "100",
                Some("0.15"),
            ))
            .await;
        assert_eq!(error_of(&out).code, ErrorCode::Venue);
    }
    assert!(matches!(
        ex.client().breaker_state(),
        BreakerState::Open { .. }
    ));
    let out = ex
        .place(&place(
            "f9",
            OrderType::Limit,
            Side::Buy,
            "100",
            Some("0.15"),
        ))
        .await;
    let e = error_of(&out);
    assert_eq!(e.code, ErrorCode::Halted);
    assert!(e.message.contains("circuit open"), "{}", e.message);
    assert_eq!(stub.count("POST", ORDER), 3);
    // Cancels still go while it is open.
    let out = ex
        .cancel(&CancelOrder {
            command_id: "x".into(),
            ts_ns: 0,
            symbol: "POLUSDT".into(),
            client_order_id: "zz".into(),
        })
        .await;
    assert_eq!(error_of(&out).code, ErrorCode::UnknownOrder);
    assert_eq!(stub.count("DELETE", ORDER), 1);
}

#[tokio::test]
async fn server_clock_offset_is_applied_and_minus_1021_resyncs() {
    let stub = Stub::start().await;
    stub.set_time_offset(30_000);
    let cmd = place("k1", OrderType::Limit, Side::Buy, "100", Some("0.15"));
    stub.push(
        "POST",
        ORDER,
        Canned::err(
            400,
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        ),
    );
    stub.push(
        "POST",
        ORDER,
        Canned::ok(full_body(&cmd, 8, "NEW", "0", "0", &[])),
    );
    let ex = executor(&stub);
    let offset = ex.client().sync_clock().await.unwrap();
    assert!((29_000..=31_000).contains(&offset), "{offset}");
    let out = ex.place(&cmd).await;
    assert!(
        matches!(out.as_slice(), [Response::OrderPlaced(_)]),
        "{out:?}"
    );
    // -1021 never reached the matching engine: re-sent once, after a second clock sync.
    assert_eq!(stub.count("GET", TIME), 2);
    let posts = stub.seen("POST", ORDER);
    assert_eq!(posts.len(), 2);
    for p in &posts {
        let ts: u64 = p.param("timestamp").unwrap().parse().unwrap();
        let local = stub_venue::now_ms();
        assert!(
            ts > local + 28_000 && ts < local + 31_000,
            "timestamp {ts} vs local {local}"
        );
    }
}

fn report_json(
    coid: &str,
    order_id: u64,
    x: &str,
    status: &str,
    last: (&str, &str),
    cum: &str,
    trade: i64,
) -> String {
    let mut v: Value = serde_json::from_str(&fixture("uds_execution_report_wrapped.json")).unwrap();
    let e = &mut v["event"];
    e["s"] = json!("POLUSDT");
    e["c"] = json!(coid);
    e["S"] = json!("BUY");
    e["q"] = json!("100.00000000");
    e["p"] = json!("0.15000000");
    e["x"] = json!(x);
    e["X"] = json!(status);
    e["i"] = json!(order_id);
    e["l"] = json!(last.1);
    e["L"] = json!(last.0);
    e["z"] = json!(cum);
    e["t"] = json!(trade);
    e["n"] = json!("0.001");
    e["N"] = json!("USDT");
    e["m"] = json!(true);
    v.to_string()
}

async fn recv(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Response>) -> Response {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("no response in time")
        .expect("channel closed")
}

#[tokio::test]
async fn user_data_stream_events_are_mapped_and_reconnects_reconcile() {
    let stub = Stub::start().await;
    stub.fallback("GET", OPEN, Canned::ok("[]"));
    stub.fallback(
        "GET",
        ORDER,
        Canned::ok(query_body("s1", 42, "BUY", "0.1500", "100.0", "0.0", "NEW")),
    );
    let cmd = place("s1", OrderType::Limit, Side::Buy, "100", Some("0.15"));
    stub.push(
        "POST",
        ORDER,
        Canned::ok(full_body(&cmd, 42, "NEW", "0", "0", &[])),
    );
    let ex = executor(&stub);
    assert_eq!(ex.place(&cmd).await.len(), 1);

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut cfg = UserStreamConfig::new(stub.ws_url());
    cfg.reconnect_initial = Duration::from_millis(20);
    cfg.reconnect_max = Duration::from_millis(100);
    cfg.subscribe_timeout = Duration::from_secs(2);
    let stream = UserStream::spawn(Arc::clone(&ex), cfg, tx);
    wait_until("first subscription", WAIT, || stream.subscriptions() == 1).await;
    {
        let st = stub.state();
        assert_eq!(st.ws_subscribes.len(), 1);
        assert!(
            st.ws_subscribes[0].1,
            "subscription signature did not verify"
        );
    }
    wait_until("reconcile", WAIT, || stub.count("GET", OPEN) == 1).await;

    let fill = report_json(
        "s1",
        42,
        "TRADE",
        "PARTIALLY_FILLED",
        ("0.15", "40"),
        "40",
        501,
    );
    stub.ws_send(&fill);
    match recv(&mut rx).await {
        Response::OrderExecution(e) => {
            assert_eq!(e.command_id.as_deref(), Some("cmd-s1"));
            assert_eq!(e.exchange_order_id, "42");
            assert_eq!(
                (e.trade_id, e.last_quantity, e.cumulative_quantity),
                (501, d("40"), d("40"))
            );
            assert_eq!(e.status, OrderStatus::PartiallyFilled);
            assert_eq!(e.liquidity, Liquidity::Maker);
            assert_eq!((e.fee, e.fee_asset.as_str()), (d("0.001"), "USDT"));
        }
        other => panic!("{other:?}"),
    }
    // The same trade again (e.g. re-delivered) is not reported twice; the cancel is.
    stub.ws_send(&fill);
    stub.ws_send(&report_json(
        "s1",
        42,
        "CANCELED",
        "CANCELED",
        ("0", "0"),
        "40",
        -1,
    ));
    match recv(&mut rx).await {
        Response::OrderCanceled(c) => {
            assert_eq!(c.client_order_id, "s1");
            assert_eq!(c.filled_quantity, d("40"));
            assert_eq!(c.command_id, None);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ex.order("s1").unwrap().info.status, OrderStatus::Canceled);

    // A dropped connection: reconnect, subscribe again, reconcile again.
    stub.ws_close();
    wait_until("second subscription", WAIT, || stream.subscriptions() == 2).await;
    wait_until("second reconcile", WAIT, || stub.count("GET", OPEN) == 2).await;
    stream.shutdown().await;
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn reconcile_after_restart_reports_what_happened() {
    let stub = Stub::start().await;
    // Before the restart the executor knew r-old (NEW, nothing filled) and r-gone.
    let ex = executor(&stub);
    let mut old = Order::new(
        &place("r-old", OrderType::Limit, Side::Buy, "100", Some("0.15")),
        "600".into(),
        1,
    );
    old.info.status = OrderStatus::New;
    ex.track(old);
    let gone = Order::new(
        &place("r-cxl", OrderType::Limit, Side::Buy, "50", Some("0.14")),
        "601".into(),
        1,
    );
    ex.track(gone);
    // The venue: r-new open (unknown to the executor); r-old filled meanwhile; r-cxl canceled.
    stub.push(
        "GET",
        OPEN,
        Canned::ok(format!(
            "[{}]",
            query_body("r-new", 602, "SELL", "0.1700", "30.0", "0.0", "NEW")
        )),
    );
    stub.push(
        "GET",
        ORDER,
        Canned::ok(query_body(
            "r-cxl", 601, "BUY", "0.1400", "50.0", "0.0", "CANCELED",
        )),
    );
    stub.push(
        "GET",
        ORDER,
        Canned::ok(query_body(
            "r-old", 600, "BUY", "0.1500", "100.0", "100.0", "FILLED",
        )),
    );
    stub.push(
        "GET",
        TRADES,
        Canned::ok(trades_body(600, &[(900, "0.1500", "100.0", "0.01", true)])),
    );
    let out = ex.reconcile().await;
    assert_eq!(stub.count("GET", ORDER), 2);
    let mut status = 0;
    let mut cancels = 0;
    let mut execs = 0;
    for r in &out {
        match r {
            Response::OrderStatus(s) => {
                status += 1;
                assert_eq!(s.order.client_order_id, "r-new");
                assert_eq!(s.order.status, OrderStatus::New);
                assert_eq!(s.command_id, None);
            }
            Response::OrderCanceled(c) => {
                cancels += 1;
                assert_eq!(c.client_order_id, "r-cxl");
            }
            Response::OrderExecution(e) => {
                execs += 1;
                assert_eq!(e.client_order_id, "r-old");
                assert_eq!(e.command_id.as_deref(), Some("cmd-r-old"));
                assert_eq!((e.trade_id, e.status), (900, OrderStatus::Filled));
                assert_eq!(e.liquidity, Liquidity::Maker);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((status, cancels, execs), (1, 1, 1), "{out:?}");
    assert_eq!(ex.open_count(), 1);
    // A second reconcile has nothing new to say.
    stub.push(
        "GET",
        OPEN,
        Canned::ok(format!(
            "[{}]",
            query_body("r-new", 602, "SELL", "0.1700", "30.0", "0.0", "NEW")
        )),
    );
    assert_eq!(ex.reconcile().await, Vec::<Response>::new());
}

#[tokio::test]
async fn cancel_query_and_open_orders_answers() {
    let stub = Stub::start().await;
    let ex = executor(&stub);
    let mut cancel: Value = serde_json::from_str(&fixture("order_cancel_response.json")).unwrap();
    cancel["symbol"] = json!("POLUSDT");
    cancel["origClientOrderId"] = json!("o1");
    cancel["executedQty"] = json!("10.00000000");
    stub.push("DELETE", ORDER, Canned::ok(cancel.to_string()));
    let out = ex
        .cancel(&CancelOrder {
            command_id: "c".into(),
            ts_ns: 0,
            symbol: "POLUSDT".into(),
            client_order_id: "o1".into(),
        })
        .await;
    match out.as_slice() {
        [Response::OrderCanceled(c)] => {
            assert_eq!(c.command_id.as_deref(), Some("c"));
            assert_eq!(c.client_order_id, "o1");
            assert_eq!(c.exchange_order_id, "4");
            assert_eq!(c.filled_quantity, d("10"));
        }
        other => panic!("{other:?}"),
    }
    stub.push(
        "GET",
        ORDER,
        Canned::err(400, -2013, "Order does not exist."),
    );
    let q = ex
        .query(&QueryOrder {
            command_id: "q".into(),
            ts_ns: 0,
            symbol: "POLUSDT".into(),
            client_order_id: "nope".into(),
        })
        .await;
    assert!(
        matches!(&q, Response::Error(e) if e.code == ErrorCode::UnknownOrder),
        "{q:?}"
    );
    stub.push(
        "GET",
        OPEN,
        Canned::ok(format!(
            "[{}]",
            query_body(
                "o2",
                5,
                "BUY",
                "0.1500",
                "100.0",
                "20.0",
                "PARTIALLY_FILLED"
            )
        )),
    );
    let open = ex
        .open_orders(&QueryOpenOrders {
            command_id: "o".into(),
            ts_ns: 0,
            symbol: Some("POLUSDT".into()),
        })
        .await;
    match open {
        Response::OpenOrders(o) => {
            assert_eq!(o.orders.len(), 1);
            assert_eq!(o.orders[0].filled_quantity, d("20"));
            assert_eq!(o.orders[0].status, OrderStatus::PartiallyFilled);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        stub.seen("GET", OPEN)[0].param("symbol").as_deref(),
        Some("POLUSDT")
    );
    // cancel_all: DELETE openOrders, answers without command id.
    let mut all = cancel.clone();
    all["origClientOrderId"] = json!("o2");
    stub.push("DELETE", OPEN, Canned::ok(format!("[{all}]")));
    let out = ex.cancel_all().await;
    assert!(
        matches!(out.as_slice(), [Response::OrderCanceled(c)] if c.command_id.is_none() && c.client_order_id == "o2"),
        "{out:?}"
    );
    // Validation runs before anything is sent.
    let out = ex
        .place(&place(
            "v1",
            OrderType::Limit,
            Side::Buy,
            "100.05",
            Some("0.15"),
        ))
        .await;
    assert_eq!(error_of(&out).code, ErrorCode::Validation);
    assert_eq!(stub.count("POST", ORDER), 0);
}

#[tokio::test]
async fn a_cancel_reported_by_the_stream_while_the_cancel_request_is_out_is_answered_once() {
    let stub = Stub::start().await;
    stub.fallback("GET", OPEN, Canned::ok("[]"));
    let cmd = place("c1", OrderType::Limit, Side::Buy, "100", Some("0.15"));
    stub.push(
        "POST",
        ORDER,
        Canned::ok(full_body(&cmd, 77, "NEW", "0", "0", &[])),
    );
    let ex = executor(&stub);
    assert_eq!(ex.place(&cmd).await.len(), 1);
    let mut cancel: Value = serde_json::from_str(&fixture("order_cancel_response.json")).unwrap();
    cancel["symbol"] = json!("POLUSDT");
    cancel["orderId"] = json!(77);
    cancel["origClientOrderId"] = json!("c1");
    cancel["executedQty"] = json!("0.00000000");
    // The venue's answer is slow; its executionReport overtakes it on the user data stream.
    stub.push(
        "DELETE",
        ORDER,
        Canned::ok(cancel.to_string()).delayed(Duration::from_millis(300)),
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut cfg = UserStreamConfig::new(stub.ws_url());
    cfg.subscribe_timeout = Duration::from_secs(2);
    let stream = UserStream::spawn(Arc::clone(&ex), cfg, tx);
    wait_until("subscription", WAIT, || stream.subscriptions() == 1).await;
    wait_until("reconcile", WAIT, || stub.count("GET", OPEN) == 1).await;
    let request = CancelOrder {
        command_id: "cx".into(),
        ts_ns: 0,
        symbol: "POLUSDT".into(),
        client_order_id: "c1".into(),
    };
    let answer = tokio::spawn({
        let ex = Arc::clone(&ex);
        async move { ex.cancel(&request).await }
    });
    wait_until("cancel request at the venue", WAIT, || {
        stub.count("DELETE", ORDER) == 1
    })
    .await;
    stub.ws_send(&report_json(
        "c1",
        77,
        "CANCELED",
        "CANCELED",
        ("0", "0"),
        "0",
        -1,
    ));
    let out = answer.await.unwrap();
    match out.as_slice() {
        [Response::OrderCanceled(c)] => assert_eq!(c.command_id.as_deref(), Some("cx")),
        other => panic!("{other:?}"),
    }
    // The stream's report changed the order's state without a second OrderCanceled.
    wait_until("stream event applied", WAIT, || {
        ex.order("c1")
            .is_some_and(|o| o.info.status == OrderStatus::Canceled)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream.shutdown().await;
    let late: Vec<Response> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert!(
        !late.iter().any(|r| matches!(r, Response::OrderCanceled(_))),
        "{late:?}"
    );
}
