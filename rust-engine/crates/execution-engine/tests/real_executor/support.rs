//! What every test of the real executor uses: the stub venue's client and executor, symbol
//! filters, commands and the venue's JSON answers.

pub use std::sync::atomic::Ordering;
pub use std::sync::Arc;
pub use std::time::{Duration, Instant};

pub use crate::stub_venue::{wait_until, Canned, Stub, API_KEY, SECRET};
pub use common::message::{
    CancelOrder, ErrorCode, Liquidity, OrderStatus, OrderType, PlaceOrder, QueryOpenOrders,
    QueryOrder, Response, Side, TimeInForce,
};
pub use common::Dec;
pub use execution_engine::breaker::{BreakerConfig, BreakerState, Trip};
pub use execution_engine::order::Order;
pub use execution_engine::paper::{Fees, FillRule};
pub use execution_engine::rate_limit::RateLimiter;
pub use execution_engine::real::{
    Credentials, ExecutorConfig, RealExecutor, RestClient, RestConfig, UserStream, UserStreamConfig,
};
pub use execution_engine::signing::{local_now_ms, ApiSecret};
pub use execution_engine::{Limits, PaperExecutor};
pub use feed_handler::book::Level;
pub use feed_handler::fixed::parse_units;
pub use feed_handler::shared::SharedBook;
pub use serde_json::{json, Value};

pub const ORDER: &str = "/api/v3/order";
pub const OPEN: &str = "/api/v3/openOrders";
pub const TRADES: &str = "/api/v3/myTrades";
pub const TIME: &str = "/api/v3/time";
pub const WAIT: Duration = Duration::from_secs(5);

pub fn d(s: &str) -> Dec {
    s.parse().unwrap()
}

pub fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../../../tests/fixtures/binance/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap()
}

pub use execution_engine::fixtures::polusdt_filters as filters;

pub fn limits() -> Limits {
    Limits {
        max_order_notional: d("1000"),
        max_open_orders: 3,
    }
}

pub fn rest_config(stub: &Stub) -> RestConfig {
    let mut c = RestConfig::new(stub.url());
    c.request_timeout = Duration::from_secs(2);
    c.max_rate_wait = Duration::from_secs(3);
    c.breaker = BreakerConfig {
        trip: Trip::Consecutive(5),
        cool_down_ms: 60_000,
    };
    c
}

pub fn client_with(config: RestConfig, secret: &str) -> Arc<RestClient> {
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

pub fn exec_config() -> ExecutorConfig {
    let mut c = ExecutorConfig::new(filters(), limits());
    // The stub never executes an order after answering: no need to wait out `recvWindow`.
    c.window_floor = false;
    c.unknown_outcome_window = Duration::from_millis(300);
    c.query_backoff_initial = Duration::from_millis(20);
    c.query_backoff_max = Duration::from_millis(80);
    c
}

pub fn executor_with(client: Arc<RestClient>, config: ExecutorConfig) -> Arc<RealExecutor> {
    Arc::new(RealExecutor::new(client, config).with_book(book()))
}

pub fn executor(stub: &Stub) -> Arc<RealExecutor> {
    executor_with(client_with(rest_config(stub), SECRET), exec_config())
}

pub fn lv(p: &str, q: &str) -> Level {
    Level {
        price: parse_units(p).unwrap(),
        qty: parse_units(q).unwrap(),
    }
}

pub fn book() -> SharedBook {
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

pub fn place(coid: &str, t: OrderType, side: Side, qty: &str, price: Option<&str>) -> PlaceOrder {
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

/// The resting bid most tests place: a GTC limit buy of 100 at 0.15.
pub fn bid(coid: &str) -> PlaceOrder {
    place(coid, OrderType::Limit, Side::Buy, "100", Some("0.15"))
}

/// The stub venue's next `POST` order answer: `cmd` taken as a NEW order `order_id`, unfilled.
pub fn accepts(stub: &Stub, cmd: &PlaceOrder, order_id: u64) {
    stub.push(
        "POST",
        ORDER,
        Canned::ok(full_body(cmd, order_id, "NEW", "0", "0", &[])),
    );
}

/// A FULL new-order answer shaped as the fixture, for `cmd` (fills as (price, qty, commission,
/// trade id)).
#[allow(clippy::too_many_arguments)]
pub fn full_body(
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
    // Binance spot takes a buy's commission from the coins bought, a sell's in the quote asset.
    let asset = match cmd.side {
        Side::Buy => cmd.symbol.trim_end_matches("USDT"),
        Side::Sell => "USDT",
    };
    v["fills"] = fills
        .iter()
        .map(|(p, q, c, id)| {
            json!({"price": p, "qty": q, "commission": c, "commissionAsset": asset, "tradeId": id})
        })
        .collect();
    v.to_string()
}

/// A query answer shaped as the fixture.
pub fn query_body(
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

pub fn trades_body(order_id: u64, trades: &[(u64, &str, &str, &str, bool)]) -> String {
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

pub fn normalized(mut rs: Vec<Response>) -> Vec<Response> {
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

pub fn error_of(rs: &[Response]) -> &common::message::ErrorResponse {
    match rs {
        [Response::Error(e)] => e,
        other => panic!("expected one Error, got {other:?}"),
    }
}
