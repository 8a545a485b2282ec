//! The signed order API and the user data stream over real HTTP and WebSockets, with a client
//! written here from the protocol notes (its own HMAC signing, not the venue's): signatures
//! (the documented vector), every error, market orders walking the book with FULL fills and fees,
//! resting limit orders filled by the replayed crash with executionReports in order on both user
//! data streams, cancel, queries, open orders, balances and the order faults (rate limits: `rate_limits.rs`).

mod client;

use std::time::Duration;

use client::{fixture, keys, now_ms, sign, Api, KEY};
use exchange_sim::clock::Speed;
use exchange_sim::faults::OrderFaults;
use exchange_sim::{RunningVenue, SimConfig, Start};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

const SCALE: u64 = 100_000_000;

/// The config of a venue over `[from, to)` of the crash, waiting for its first market client.
fn config(from: &str, to: &str) -> SimConfig {
    client::config(from, to, Speed::Max)
}

async fn start(cfg: SimConfig) -> RunningVenue {
    client::start(&cfg).await
}

fn u(v: &Value) -> u64 {
    client::units(
        v.as_str()
            .unwrap_or_else(|| panic!("a decimal string: {v}")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_keys_and_timestamps_are_checked_as_binance_does() {
    let venue = start(config("2025-10-10T21:10:00Z", "2025-10-10T21:10:10Z")).await;
    let api = Api::new(&venue);
    let post = reqwest::Method::POST;

    // The documented vectors (query, body, mixed): the signature is accepted, so the request fails
    // only on its 2017 timestamp (-1021), checked after the signature.
    let fx = fixture("signature_vectors.json");
    let vectors = fx["hmac_sha256"]["vectors"].as_array().unwrap();
    let v = |name: &str| vectors.iter().find(|v| v["name"] == name).unwrap().clone();
    let doc = v("rest_query_string_ltcbtc");
    let payload = doc["payload"].as_str().unwrap();
    let sig = doc["signature"].as_str().unwrap();
    assert_eq!(sign(payload), sig, "our client signs like the docs");
    let q = format!("{payload}&signature={sig}");
    let a = api
        .raw(post.clone(), "/api/v3/order", &q, "", Some(KEY))
        .await
        .unwrap();
    assert_eq!((a.status, a.code()), (400, -1021), "{}", a.body);
    assert_eq!(
        a.body,
        fixture("errors.json")["timestamp_outside_recv_window"]["body"]
    );
    let b = v("rest_request_body_ltcbtc");
    let a = api
        .raw(
            post.clone(),
            "/api/v3/order",
            "",
            b["sent_body"].as_str().unwrap(),
            Some(KEY),
        )
        .await
        .unwrap();
    assert_eq!(a.code(), -1021, "{}", a.body);
    let m = v("rest_mixed_query_and_body_ltcbtc");
    let body = format!(
        "{}&signature={}",
        m["body"].as_str().unwrap(),
        m["signature"].as_str().unwrap()
    );
    let a = api
        .raw(
            post.clone(),
            "/api/v3/order",
            m["query_string"].as_str().unwrap(),
            &body,
            Some(KEY),
        )
        .await
        .unwrap();
    assert_eq!(a.code(), -1021, "{}", a.body);
    // Upper-case hex is accepted too (HMAC signatures are not case-sensitive).
    let q = format!("{payload}&signature={}", sig.to_uppercase());
    let a = api
        .raw(post.clone(), "/api/v3/order", &q, "", Some(KEY))
        .await
        .unwrap();
    assert_eq!(a.code(), -1021);
    // A GET takes its parameters from the query string only (notes: "For `GET` endpoints,
    // parameters must be sent as a `query string`"): signed in a body, the openOrders request has
    // no timestamp; the same parameters in its query string are answered.
    let q = format!("timestamp={}", now_ms());
    let signed_body = format!("{q}&signature={}", sign(&q));
    let get = reqwest::Method::GET;
    let a = api
        .raw(
            get.clone(),
            "/api/v3/openOrders",
            "",
            &signed_body,
            Some(KEY),
        )
        .await
        .unwrap();
    assert_eq!((a.status, a.code()), (400, -1102), "{}", a.body);
    let a = api
        .raw(get, "/api/v3/openOrders", &signed_body, "", Some(KEY))
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    // One byte changed: -1022.
    let tampered = payload.replace("quantity=1", "quantity=2");
    let q = format!("{tampered}&signature={sig}");
    let a = api
        .raw(post.clone(), "/api/v3/order", &q, "", Some(KEY))
        .await
        .unwrap();
    assert_eq!(
        (a.status, &a.body),
        (400, &fixture("errors.json")["invalid_signature"]["body"])
    );

    // Keys.
    let ts = now_ms();
    let q = format!("symbol=POLUSDT&timestamp={ts}");
    let q = format!("{q}&signature={}", sign(&q));
    let a = api
        .raw(reqwest::Method::GET, "/api/v3/openOrders", &q, "", None)
        .await
        .unwrap();
    assert_eq!((a.status, a.code()), (401, -2014), "{}", a.body);
    let a = api
        .raw(
            reqwest::Method::GET,
            "/api/v3/openOrders",
            &q,
            "",
            Some("someoneElsesKey"),
        )
        .await
        .unwrap();
    assert_eq!(
        (a.status, &a.body),
        (401, &fixture("errors.json")["invalid_api_key"]["body"])
    );
    let a = api
        .raw(
            reqwest::Method::GET,
            "/api/v3/openOrders",
            &q,
            "",
            Some(KEY),
        )
        .await
        .unwrap();
    assert_eq!((a.status, a.body.clone()), (200, json!([])));

    // Missing signature and timestamp; timestamps out of the window either way; recvWindow.
    let a = api
        .raw(
            reqwest::Method::GET,
            "/api/v3/openOrders",
            &format!("timestamp={ts}"),
            "",
            Some(KEY),
        )
        .await
        .unwrap();
    assert_eq!(a.code(), -1102);
    assert!(a.body["msg"].as_str().unwrap().contains("'signature'"));
    let q = "symbol=POLUSDT".to_owned();
    let a = api
        .raw(
            reqwest::Method::GET,
            "/api/v3/openOrders",
            &format!("{q}&signature={}", sign(&q)),
            "",
            Some(KEY),
        )
        .await
        .unwrap();
    assert_eq!(a.code(), -1102);
    assert!(a.body["msg"].as_str().unwrap().contains("'timestamp'"));
    for (params, code, msg) in [
        (
            format!("timestamp={}", now_ms() - 6000),
            -1021,
            "outside of the recvWindow",
        ),
        (
            format!("timestamp={}&recvWindow=10000", now_ms() - 6000),
            0,
            "",
        ),
        (
            format!("timestamp={}", now_ms() + 5000),
            -1021,
            "1000ms ahead",
        ),
        (
            format!("timestamp={}&recvWindow=60001", now_ms()),
            -1131,
            "60000",
        ),
        (
            format!("timestamp={}&recvWindow=abc", now_ms()),
            -1100,
            "recvWindow",
        ),
    ] {
        let q = format!("{params}&signature={}", sign(&params));
        let a = api
            .raw(
                reqwest::Method::GET,
                "/api/v3/openOrders",
                &q,
                "",
                Some(KEY),
            )
            .await
            .unwrap();
        assert_eq!(a.code(), code, "{params}: {}", a.body);
        if code != 0 {
            assert!(a.body["msg"].as_str().unwrap().contains(msg), "{}", a.body);
            assert_eq!(a.status, 400);
        }
    }
    venue.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_errors_carry_binance_codes() {
    let mut cfg = config("2025-10-10T21:10:00Z", "2025-10-10T21:10:10Z");
    cfg.trading.account.balances = vec![("USDT".into(), 100 * SCALE), ("POL".into(), 10 * SCALE)];
    let venue = start(cfg).await;
    let api = Api::new(&venue);
    let errors = fixture("errors.json");
    let (_, depth) = client::get(&venue, "/api/v3/depth?symbol=POLUSDT&limit=5").await;
    let bid = depth["bids"][0][0].as_str().unwrap().to_owned();
    let ask = depth["asks"][0][0].as_str().unwrap().to_owned();
    let cases: Vec<(String, i64, Value)> = vec![
        (
            "side=BUY&type=LIMIT&timeInForce=GTC&quantity=50&price=0.1".into(),
            -1121,
            Value::Null,
        ),
        ("side=BUY&type=MARKET".into(), -1102, Value::Null),
        (
            "side=BUY&type=MARKET&quantity=100&price=0.2".into(),
            -1106,
            Value::Null,
        ),
        ("type=MARKET&quantity=50".into(), -1102, Value::Null),
        ("side=BUY&type=STOP&quantity=50".into(), -1100, Value::Null),
        (
            "side=BUY&type=LIMIT&quantity=50&price=0.1".into(),
            -1102,
            Value::Null,
        ),
        (
            "side=BUY&type=MARKET&quantity=1e2".into(),
            -1100,
            errors["illegal_quantity_format"]["body"].clone(),
        ),
        (
            "side=BUY&type=LIMIT&timeInForce=GTC&quantity=50&price=0.1&newClientOrderId=a.b".into(),
            -1100,
            errors["illegal_client_order_id"]["body"].clone(),
        ),
        (
            "side=BUY&type=LIMIT&timeInForce=GTC&quantity=50&price=0.10005".into(),
            -1013,
            errors["filter_price"]["body"].clone(),
        ),
        (
            "side=BUY&type=LIMIT&timeInForce=GTC&quantity=50.05&price=0.1".into(),
            -1013,
            errors["filter_lot_size"]["body"].clone(),
        ),
        (
            "side=BUY&type=LIMIT&timeInForce=GTC&quantity=10&price=0.1".into(),
            -1013,
            errors["filter_notional"]["body"].clone(),
        ),
        (
            "side=BUY&type=LIMIT&timeInForce=GTC&quantity=2000&price=0.1".into(),
            -2010,
            errors["insufficient_balance"]["body"].clone(),
        ),
        (
            "side=SELL&type=MARKET&quantity=100".into(),
            -2010,
            errors["insufficient_balance"]["body"].clone(),
        ),
        (
            format!("side=BUY&type=LIMIT_MAKER&quantity=100&price={ask}"),
            -2010,
            errors["limit_maker_would_take"]["body"].clone(),
        ),
    ];
    for (i, (params, code, body)) in cases.into_iter().enumerate() {
        let full = if i == 0 {
            format!("symbol=ETHUSDT&{params}")
        } else {
            format!("symbol=POLUSDT&{params}")
        };
        let a = api
            .signed(reqwest::Method::POST, "/api/v3/order", &full)
            .await;
        assert_eq!((a.status, a.code()), (400, code), "{params}: {}", a.body);
        if !body.is_null() {
            assert_eq!(a.body, body, "{params}");
        }
    }
    // A LIMIT_MAKER at the bid rests; the same client id again while it is open: duplicate.
    let p = format!("side=BUY&type=LIMIT_MAKER&quantity=100&price={bid}&newClientOrderId=maker-1");
    let a = api.order(&p).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        keys(&a.body),
        keys(&fixture("order_new_response_ack.json")),
        "LIMIT_MAKER defaults to ACK"
    );
    let a = api.order(&p).await;
    assert_eq!(a.body, errors["duplicate_client_order_id"]["body"]);
    // Unknown orders.
    let get = reqwest::Method::GET;
    let a = api
        .signed(
            get.clone(),
            "/api/v3/order",
            "symbol=POLUSDT&origClientOrderId=nope",
        )
        .await;
    assert_eq!(
        (a.status, &a.body),
        (400, &errors["query_unknown_order"]["body"])
    );
    let a = api
        .signed(get.clone(), "/api/v3/order", "symbol=POLUSDT")
        .await;
    assert_eq!(a.code(), -1102);
    let a = api
        .signed(
            reqwest::Method::DELETE,
            "/api/v3/order",
            "symbol=POLUSDT&orderId=999",
        )
        .await;
    assert_eq!(
        (a.status, &a.body),
        (400, &errors["cancel_unknown_order"]["body"])
    );
    let a = api
        .signed(get, "/api/v3/openOrders", "symbol=BTCUSDT")
        .await;
    assert_eq!(a.code(), -1121);
    // order/test validates without placing.
    let a = api
        .signed(
            reqwest::Method::POST,
            "/api/v3/order/test",
            "symbol=POLUSDT&side=BUY&type=MARKET&quantity=100",
        )
        .await;
    assert_eq!(
        (a.status, a.body.clone()),
        (200, fixture("order_test_response.json"))
    );
    let a = api
        .signed(
            reqwest::Method::POST,
            "/api/v3/order/test",
            "symbol=POLUSDT&side=BUY&type=MARKET&quantity=1",
        )
        .await;
    assert_eq!(a.code(), -1013);
    let open = api
        .signed(reqwest::Method::GET, "/api/v3/openOrders", "symbol=POLUSDT")
        .await;
    assert_eq!(open.body.as_array().unwrap().len(), 1);
    venue.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_market_order_walks_the_book_with_full_fills_and_fees() {
    let venue = start(config("2025-10-10T21:10:00Z", "2025-10-10T21:10:10Z")).await;
    let api = Api::new(&venue);
    let (_, depth) = client::get(&venue, "/api/v3/depth?symbol=POLUSDT&limit=20").await;
    let asks = client::levels(&depth["asks"]);
    let qty = asks[0].1 + asks[1].1 / 2;
    let qty = qty - qty % (SCALE / 10);
    let a = api
        .order(&format!(
            "side=BUY&type=MARKET&quantity={}&newClientOrderId=mkt-1",
            fmt(qty)
        ))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let o = &a.body;
    assert_eq!(
        keys(o),
        keys(&fixture("order_new_response_full.json")),
        "MARKET defaults to FULL"
    );
    assert_eq!(
        (o["status"].as_str(), o["type"].as_str(), o["side"].as_str()),
        (Some("FILLED"), Some("MARKET"), Some("BUY"))
    );
    assert_eq!(o["clientOrderId"], "mkt-1");
    let fills = o["fills"].as_array().unwrap();
    assert_eq!(fills.len(), 2);
    let mut cost = 0;
    for (f, (p, q)) in fills
        .iter()
        .zip([(asks[0].0, asks[0].1), (asks[1].0, qty - asks[0].1)])
    {
        assert_eq!(
            keys(f),
            keys(&fixture("order_new_response_full.json")["fills"][0])
        );
        assert_eq!((u(&f["price"]), u(&f["qty"])), (p, q));
        assert_eq!(
            u(&f["commission"]),
            q / 1000,
            "0.1 % taker fee in the base asset"
        );
        assert_eq!(f["commissionAsset"], "POL");
        cost += (p as u128 * q as u128 / SCALE as u128) as u64;
    }
    assert_eq!(u(&o["executedQty"]), qty);
    assert_eq!(u(&o["cummulativeQuoteQty"]), cost);
    let b = api.balances().await;
    assert_eq!(b["USDT"], (10_000 * SCALE - cost, 0));
    assert_eq!(b["POL"], (qty - qty / 1000, 0));
    // The book is not changed by the user's order.
    let (_, again) = client::get(&venue, "/api/v3/depth?symbol=POLUSDT&limit=20").await;
    assert_eq!(again["asks"], depth["asks"]);
    // RESULT: no fills; a sell pays its fee in the quote asset.
    let a = api
        .order("side=SELL&type=MARKET&quantity=50&newOrderRespType=RESULT")
        .await;
    assert_eq!(
        keys(&a.body),
        keys(&fixture("order_new_response_result.json"))
    );
    let q = api
        .signed(
            reqwest::Method::GET,
            "/api/v3/order",
            &format!("symbol=POLUSDT&orderId={}", a.body["orderId"]),
        )
        .await;
    assert_eq!(keys(&q.body), keys(&fixture("order_query_response.json")));
    assert_eq!(q.body["status"], "FILLED");
    let got = u(&q.body["cummulativeQuoteQty"]);
    let b2 = api.balances().await;
    assert_eq!(b2["USDT"].0, b["USDT"].0 + got - got / 1000);
    venue.shutdown(Duration::from_millis(100)).await;
}

fn fmt(units: u64) -> String {
    format!("{}.{:08}", units / SCALE, units % SCALE)
}

/// Notes §5 (`filters.md`): "MIN_NOTIONAL: ... MARKET orders use the reference price / volume
/// weighted average price over `avgPriceMins`"; NOTIONAL's `applyMinToMarket` (true as the venue
/// lists it, `avgPriceMins` 5). The minute 21:19 of the crash: its volume-weighted average price
/// (about 0.1389; every trade replayed lies within the last five minutes) is 14 % above the last
/// trade (0.119), where the book's touch now is. A MARKET order is valued at that average: the
/// smallest quantity whose notional at the average reaches `minNotional` is taken, by
/// `order/test` and by a real order, though at the touch it would be worth less; a step less is
/// refused "Filter failure: NOTIONAL".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_market_orders_notional_is_valued_at_the_average_price_not_the_touch() {
    let venue = start(config("2025-10-10T21:19:00Z", "2025-10-10T21:20:00Z")).await;
    let api = Api::new(&venue);
    let errors = fixture("errors.json");
    // The client's own average of every replayed trade, read from the aggTrade stream.
    let mut ws = client::connect(&venue, "/ws/polusdt@aggTrade").await;
    let (mut pq, mut q, mut seen) = (0u128, 0u128, 0u64);
    timeout(Duration::from_secs(60), async {
        while !(client::replay_done(&venue) && seen == client::trades_sent(&venue)) {
            if let Ok(Some(t)) = client::next_json_within(&mut ws, Duration::from_millis(100)).await
            {
                let (p, qty) = (u128::from(u(&t["p"])), u128::from(u(&t["q"])));
                pq += p * qty;
                q += qty;
                seen += 1;
            }
        }
    })
    .await
    .expect("the replay's trades in time");
    assert!(seen > 1000, "{seen} trades");
    let average = u64::try_from(pq / q).unwrap();
    let notional = |price: u64, qty: u64| {
        u64::try_from(u128::from(price) * u128::from(qty) / u128::from(SCALE)).unwrap()
    };
    let (min, step) = (5 * SCALE, SCALE / 10);
    let mut qty = step;
    while notional(average, qty) < min {
        qty += step;
    }
    let (_, depth) = client::get(&venue, "/api/v3/depth?symbol=POLUSDT&limit=1").await;
    let (bid, ask) = (u(&depth["bids"][0][0]), u(&depth["asks"][0][0]));
    assert!(
        notional(ask, qty) < min && notional(bid, qty) < min,
        "at the touch {bid}/{ask} the order is under minNotional (average {average})"
    );
    let post = reqwest::Method::POST;
    for side in ["BUY", "SELL"] {
        let market = |qty: u64| {
            format!(
                "symbol=POLUSDT&side={side}&type=MARKET&quantity={}",
                fmt(qty)
            )
        };
        let a = api
            .signed(post.clone(), "/api/v3/order/test", &market(qty))
            .await;
        assert_eq!(
            (a.status, &a.body),
            (200, &fixture("order_test_response.json")),
            "{side} {}",
            fmt(qty)
        );
        let a = api
            .signed(post.clone(), "/api/v3/order/test", &market(qty - step))
            .await;
        assert_eq!(
            (a.status, &a.body),
            (400, &errors["filter_notional"]["body"]),
            "{side} {}",
            fmt(qty - step)
        );
    }
    let a = api
        .order(&format!(
            "side=BUY&type=MARKET&quantity={}",
            fmt(qty - step)
        ))
        .await;
    assert_eq!(
        (a.status, &a.body),
        (400, &errors["filter_notional"]["body"])
    );
    let a = api
        .order(&format!("side=BUY&type=MARKET&quantity={}", fmt(qty)))
        .await;
    assert_eq!(
        (a.status, a.body["status"].as_str()),
        (200, Some("FILLED")),
        "{}",
        a.body
    );
    venue.shutdown(Duration::from_millis(100)).await;
}

/// Reads user-stream events until `done` says so; unwraps WS API frames of `sub`.
async fn collect(
    ws: &mut client::Ws,
    sub: Option<u64>,
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let v = timeout(Duration::from_secs(30), client::next_json(ws))
            .await
            .expect("user events in time")
            .expect("stream open");
        let ev = match sub {
            Some(s) => {
                assert_eq!(v["subscriptionId"], s, "{v}");
                v["event"].clone()
            }
            None => v,
        };
        let stop = done(&ev);
        out.push(ev);
        if stop {
            return out;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resting_limit_order_is_filled_by_the_replayed_crash_with_reports_in_order() {
    // 21:16 to 21:18: POL falls from 0.197 to 0.155.
    let venue = start(config("2025-10-10T21:16:00Z", "2025-10-10T21:18:00Z")).await;
    let api = Api::new(&venue);

    // WS API subscription (signed over the sorted params).
    let mut wsapi = client::connect(&venue, "/ws-api/v3").await;
    let req = client::subscribe_signature("sub-1");
    wsapi.send(Message::Text(req.to_string())).await.unwrap();
    let resp = client::next_json(&mut wsapi).await.unwrap();
    assert_eq!(
        keys(&resp),
        keys(&fixture("wsapi_user_data_stream_subscribe_response.json"))
    );
    assert_eq!(
        (resp["id"].as_str(), resp["status"].as_u64()),
        (Some("sub-1"), Some(200))
    );
    let sub = resp["result"]["subscriptionId"].as_u64().unwrap();
    // A bad signature is refused on the same connection.
    let mut bad = client::subscribe_signature("sub-2");
    bad["params"]["signature"] = json!(sign("x"));
    wsapi.send(Message::Text(bad.to_string())).await.unwrap();
    let resp = client::next_json(&mut wsapi).await.unwrap();
    assert_eq!(
        (resp["status"].as_u64(), resp["error"]["code"].as_i64()),
        (Some(400), Some(-1022))
    );

    // Legacy listen key stream.
    let lk = api.new_listen_key().await;
    assert_eq!(
        keys(&lk.body),
        keys(&fixture("listen_key_create_response.json"))
    );
    let key = lk.body["listenKey"].as_str().unwrap().to_owned();
    let mut legacy = client::connect(&venue, &format!("/ws/{key}")).await;

    // A resting buy 3.5 % under the touch, and one far under it that is canceled.
    let a = api
        .order("side=BUY&type=LIMIT&timeInForce=GTC&quantity=3000&price=0.1900&newClientOrderId=rest-1")
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        (
            a.body["status"].as_str(),
            a.body["fills"].as_array().map(Vec::len)
        ),
        (Some("NEW"), Some(0))
    );
    let b = api.balances().await;
    assert_eq!(b["USDT"], (10_000 * SCALE - 570 * SCALE, 570 * SCALE));
    let a = api
        .order(
            "side=BUY&type=LIMIT&timeInForce=GTC&quantity=100&price=0.1000&newClientOrderId=far-1",
        )
        .await;
    assert_eq!(a.status, 200);
    let c = api
        .signed(
            reqwest::Method::DELETE,
            "/api/v3/order",
            "symbol=POLUSDT&origClientOrderId=far-1&newClientOrderId=cxl-1",
        )
        .await;
    assert_eq!(keys(&c.body), keys(&fixture("order_cancel_response.json")));
    assert_eq!(
        (
            c.body["status"].as_str(),
            c.body["origClientOrderId"].as_str(),
            c.body["clientOrderId"].as_str()
        ),
        (Some("CANCELED"), Some("far-1"), Some("cxl-1"))
    );

    // Start the replay.
    let _md = client::connect(&venue, "/ws/polusdt@trade").await;
    let filled =
        |e: &Value| e["e"] == "executionReport" && e["c"] == "rest-1" && e["X"] == "FILLED";
    let from_api = collect(&mut wsapi, Some(sub), filled).await;
    let from_legacy = collect(&mut legacy, None, filled).await;
    assert_eq!(from_api, from_legacy, "both streams carry the same events");
    let fx = fixture("uds_execution_report_raw.json");
    let reports: Vec<&Value> = from_api
        .iter()
        .filter(|e| e["e"] == "executionReport")
        .collect();
    for r in &reports {
        let mut want = keys(&fx);
        want.remove("v");
        if r["X"] == "CANCELED" {
            want.remove("W");
        }
        assert!(keys(r).is_superset(&want), "{r}");
    }
    let seq: Vec<(String, String, String)> = reports
        .iter()
        .map(|r| {
            (
                r["c"].as_str().unwrap().into(),
                r["x"].as_str().unwrap().into(),
                r["X"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(seq[0], ("rest-1".into(), "NEW".into(), "NEW".into()));
    assert_eq!(seq[1], ("far-1".into(), "NEW".into(), "NEW".into()));
    assert_eq!(
        seq[2],
        ("cxl-1".into(), "CANCELED".into(), "CANCELED".into())
    );
    assert_eq!(reports[2]["C"], "far-1");
    let trades = &reports[3..];
    assert!(!trades.is_empty());
    let mut z = 0;
    for (k, t) in trades.iter().enumerate() {
        assert_eq!(
            (t["x"].as_str(), t["m"].as_bool()),
            (Some("TRADE"), Some(true)),
            "{t}"
        );
        assert_eq!(t["L"], "0.19000000");
        let l = u(&t["l"]);
        assert_eq!(u(&t["z"]), z + l);
        z += l;
        assert_eq!(u(&t["n"]), l / 1000);
        assert_eq!(t["N"], "POL");
        let last = k + 1 == trades.len();
        assert_eq!(t["X"], if last { "FILLED" } else { "PARTIALLY_FILLED" });
    }
    assert_eq!(z, 3000 * SCALE);
    // Every report is followed by the balances it changed.
    for w in from_api.windows(2) {
        if w[0]["e"] == "executionReport" && w[0]["x"] != "NEW" {
            assert_eq!(w[1]["e"], "outboundAccountPosition", "{}", w[1]);
        }
    }
    // The last report (FILLED, where `collect` stopped) is followed by its balances too.
    let next = collect(&mut wsapi, Some(sub), |e| {
        e["e"] == "outboundAccountPosition"
    })
    .await;
    assert_eq!(next.len(), 1);
    let bal: std::collections::HashMap<&str, (u64, u64)> = next[0]["B"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["a"].as_str().unwrap(), (u(&b["f"]), u(&b["l"]))))
        .collect();
    assert_eq!(bal["USDT"], (9430 * SCALE, 0));
    assert_eq!(bal["POL"], (2997 * SCALE, 0));

    // The account's trades: the three maker fills of the order.
    let id = reports[0]["i"].as_u64().unwrap();
    let t = api
        .signed(
            reqwest::Method::GET,
            "/api/v3/myTrades",
            &format!("symbol=POLUSDT&orderId={id}"),
        )
        .await;
    let t = t.body.as_array().unwrap();
    assert_eq!(t.len(), trades.len());
    for (mine, rep) in t.iter().zip(trades) {
        assert_eq!(
            (
                mine["id"].as_i64(),
                mine["isMaker"].as_bool(),
                mine["isBuyer"].as_bool()
            ),
            (rep["t"].as_i64(), Some(true), Some(true))
        );
        assert_eq!(
            (&mine["qty"], &mine["commission"], &mine["orderId"]),
            (&rep["l"], &rep["n"], &rep["i"])
        );
    }
    // Query by client id, open orders, account.
    let q = api
        .signed(
            reqwest::Method::GET,
            "/api/v3/order",
            "symbol=POLUSDT&origClientOrderId=rest-1",
        )
        .await;
    assert_eq!(
        (q.body["status"].as_str(), q.body["executedQty"].as_str()),
        (Some("FILLED"), Some("3000.00000000"))
    );
    assert_eq!(q.body["cummulativeQuoteQty"], "570.00000000");
    let open = api
        .signed(reqwest::Method::GET, "/api/v3/openOrders", "")
        .await;
    assert_eq!(open.body, json!([]));
    let b = api.balances().await;
    assert_eq!(
        (b["USDT"], b["POL"]),
        ((9430 * SCALE, 0), (2997 * SCALE, 0))
    );

    // Keep-alive, then delete: the legacy stream closes and the key is gone.
    let k = api
        .raw(
            reqwest::Method::PUT,
            "/api/v3/userDataStream",
            &format!("listenKey={key}"),
            "",
            Some(KEY),
        )
        .await
        .unwrap();
    assert_eq!(
        (k.status, k.body.clone()),
        (200, fixture("listen_key_keepalive_response.json"))
    );
    let d = api
        .raw(
            reqwest::Method::DELETE,
            "/api/v3/userDataStream",
            &format!("listenKey={key}"),
            "",
            Some(KEY),
        )
        .await
        .unwrap();
    assert_eq!(d.status, 200);
    let closed = timeout(Duration::from_secs(5), async {
        loop {
            match legacy.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                _ => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the listen-key stream closes");
    let k = api
        .raw(
            reqwest::Method::PUT,
            "/api/v3/userDataStream",
            &format!("listenKey={key}"),
            "",
            Some(KEY),
        )
        .await
        .unwrap();
    assert_eq!((k.status, k.code()), (400, -1125));
    let k = api
        .raw(
            reqwest::Method::POST,
            "/api/v3/userDataStream",
            "",
            "",
            Some("wrong"),
        )
        .await
        .unwrap();
    assert_eq!(k.code(), -2015);
    venue.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_query_open_orders_and_balances() {
    let venue = start(config("2025-10-10T21:10:00Z", "2025-10-10T21:10:10Z")).await;
    let api = Api::new(&venue);
    for (id, price) in [("a-1", "0.2000"), ("a-2", "0.1990"), ("a-3", "0.1980")] {
        let a = api
            .order(&format!("side=BUY&type=LIMIT&timeInForce=GTC&quantity=100&price={price}&newClientOrderId={id}&newOrderRespType=RESULT"))
            .await;
        assert_eq!(a.body["status"], "NEW", "{}", a.body);
    }
    let locked = 5_970_000_000; // 20 + 19.9 + 19.8
    assert_eq!(
        api.balances().await["USDT"],
        (10_000 * SCALE - locked, locked)
    );
    let open = api
        .signed(reqwest::Method::GET, "/api/v3/openOrders", "symbol=POLUSDT")
        .await;
    assert_eq!(
        keys(&open.body[0]),
        keys(&fixture("open_orders_response.json")[0])
    );
    let ids: Vec<&str> = open
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["clientOrderId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a-1", "a-2", "a-3"]);
    let q = api
        .signed(
            reqwest::Method::GET,
            "/api/v3/order",
            "symbol=POLUSDT&origClientOrderId=a-2",
        )
        .await;
    assert_eq!(
        (q.body["price"].as_str(), q.body["isWorking"].as_bool()),
        (Some("0.19900000"), Some(true))
    );
    let id = q.body["orderId"].as_u64().unwrap();
    // orderId and a client id that does not belong to it: not found.
    let q = api
        .signed(
            reqwest::Method::GET,
            "/api/v3/order",
            &format!("symbol=POLUSDT&orderId={id}&origClientOrderId=a-1"),
        )
        .await;
    assert_eq!(q.code(), -2013);
    let c = api
        .signed(
            reqwest::Method::DELETE,
            "/api/v3/order",
            &format!("symbol=POLUSDT&orderId={id}"),
        )
        .await;
    assert_eq!(c.body["status"], "CANCELED");
    let c = api
        .signed(
            reqwest::Method::DELETE,
            "/api/v3/order",
            &format!("symbol=POLUSDT&orderId={id}"),
        )
        .await;
    assert_eq!(c.code(), -2011);
    let all = api
        .signed(
            reqwest::Method::DELETE,
            "/api/v3/openOrders",
            "symbol=POLUSDT",
        )
        .await;
    let st: Vec<&str> = all
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(st, ["CANCELED", "CANCELED"]);
    assert_eq!(api.balances().await["USDT"], (10_000 * SCALE, 0));
    let q = api
        .signed(
            reqwest::Method::GET,
            "/api/v3/order",
            "symbol=POLUSDT&origClientOrderId=a-1",
        )
        .await;
    assert_eq!(q.body["status"], "CANCELED");
    let none = api
        .signed(
            reqwest::Method::DELETE,
            "/api/v3/openOrders",
            "symbol=POLUSDT",
        )
        .await;
    assert_eq!(none.code(), -2011);
    let acct = api
        .signed(reqwest::Method::GET, "/api/v3/account", "")
        .await;
    assert_eq!(acct.body["commissionRates"]["taker"], "0.00100000");
    assert_eq!(acct.body["takerCommission"], 10);
    venue.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_timeout_leaves_exactly_one_order_that_a_query_finds() {
    let mut cfg = config("2025-10-10T21:10:00Z", "2025-10-10T21:10:10Z");
    cfg.trading.faults = OrderFaults {
        timeout: 1.0,
        ..OrderFaults::default()
    };
    let venue = start(cfg).await;
    let api = Api::with_timeout(&venue, Duration::from_millis(800));
    let params = "symbol=POLUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=100&price=0.1500&newClientOrderId=lost-1";
    let q = format!("{params}&timestamp={}", now_ms());
    let q = format!("{q}&signature={}", sign(&q));
    let err = api
        .raw(reqwest::Method::POST, "/api/v3/order", &q, "", Some(KEY))
        .await;
    assert!(
        err.as_ref().is_err_and(|e| e.is_timeout()),
        "the client times out"
    );
    let q = api
        .signed(
            reqwest::Method::GET,
            "/api/v3/order",
            "symbol=POLUSDT&origClientOrderId=lost-1",
        )
        .await;
    assert_eq!(
        (q.status, q.body["status"].as_str()),
        (200, Some("NEW")),
        "{}",
        q.body
    );
    let open = api
        .signed(reqwest::Method::GET, "/api/v3/openOrders", "symbol=POLUSDT")
        .await;
    assert_eq!(open.body.as_array().unwrap().len(), 1);
    // Retrying with the same id while it is open: refused as a duplicate (an answer this venue's
    // fault withholds too), still one order.
    let q = format!("{params}&timestamp={}", now_ms());
    let q = format!("{q}&signature={}", sign(&q));
    let again = api
        .raw(reqwest::Method::POST, "/api/v3/order", &q, "", Some(KEY))
        .await;
    assert!(again.as_ref().is_err_and(|e| e.is_timeout()));
    let open = api
        .signed(reqwest::Method::GET, "/api/v3/openOrders", "symbol=POLUSDT")
        .await;
    assert_eq!(open.body.as_array().unwrap().len(), 1, "{}", open.body);
    let (_, stats) = client::get(&venue, "/sim/stats").await;
    assert_eq!(stats["faults"]["order_timeouts"], 2);
    assert_eq!(stats["order_requests"], 2);
    venue.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_reject_is_a_500_after_the_order_was_placed_and_latency_delays() {
    let mut cfg = config("2025-10-10T21:10:00Z", "2025-10-10T21:10:10Z");
    cfg.trading.faults = OrderFaults {
        reject: 1.0,
        latency: Duration::from_millis(300),
        ..OrderFaults::default()
    };
    let venue = start(cfg).await;
    let api = Api::new(&venue);
    let t0 = std::time::Instant::now();
    let a = api
        .order(
            "side=BUY&type=LIMIT&timeInForce=GTC&quantity=100&price=0.1500&newClientOrderId=unk-1",
        )
        .await;
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!((a.status, a.code()), (500, -1007));
    assert_eq!(
        a.body["msg"],
        fixture("errors.json")["backend_timeout_unknown_status"]["body"]["msg"]
    );
    let q = api
        .signed(
            reqwest::Method::GET,
            "/api/v3/order",
            "symbol=POLUSDT&origClientOrderId=unk-1",
        )
        .await;
    assert_eq!(q.body["status"], "NEW");
    let a = api
        .order(
            "side=BUY&type=LIMIT&timeInForce=GTC&quantity=100&price=0.1500&newClientOrderId=unk-1",
        )
        .await;
    assert_eq!(
        (a.status, a.code()),
        (500, -1007),
        "answered -1007 whatever happened"
    );
    let open = api
        .signed(reqwest::Method::GET, "/api/v3/openOrders", "symbol=POLUSDT")
        .await;
    assert_eq!(
        open.body.as_array().unwrap().len(),
        1,
        "the retry was a duplicate"
    );
    venue.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_does_not_wait_for_user_stream_clients() {
    // A user stream is not a market-data client: with --wait-for-client, nothing moves.
    let mut cfg = config("2025-10-10T21:10:00Z", "2025-10-10T21:10:10Z");
    cfg.start = Start::OnFirstClient;
    let venue = start(cfg).await;
    let _ws = client::connect(&venue, "/ws-api/v3").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(client::trades_sent(&venue), 0);
    venue.shutdown(Duration::from_millis(100)).await;
}

/// An order that waited out the venue's `--order-latency-ms` past its `recvWindow` is refused
/// `-1021` and never executed (Binance looks at the window again before the matching engine); a
/// parameter given twice is refused `-1101`, not taken at its last copy; `myTrades` without
/// `fromId` gives the most recent trades.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_orders_duplicate_parameters_and_the_latest_trades() {
    let mut cfg = config("2025-10-10T21:10:00Z", "2025-10-10T21:10:10Z");
    cfg.trading.faults = OrderFaults {
        latency: Duration::from_millis(600),
        ..OrderFaults::default()
    };
    let venue = start(cfg).await;
    let api = Api::new(&venue);
    // Stamped with the venue's clock: 600 ms late against a 300-ms window whatever the half second
    // the venue's clock is off the wall clock.
    let now = api.server_time().await;
    let late = api
        .signed_at(
            reqwest::Method::POST,
            "/api/v3/order",
            "symbol=POLUSDT&side=BUY&type=MARKET&quantity=30&recvWindow=300&newClientOrderId=late-1",
            now,
        )
        .await;
    assert_eq!((late.status, late.code()), (400, -1021), "{}", late.body);
    let twice = api
        .order("side=BUY&type=MARKET&quantity=30&quantity=3000&newClientOrderId=twice-1")
        .await;
    assert_eq!((twice.status, twice.code()), (400, -1101), "{}", twice.body);
    for i in 0..3 {
        let a = api
            .order(&format!(
                "side=BUY&type=MARKET&quantity=30&newClientOrderId=m-{i}"
            ))
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let trade_ids = |query: String| {
        let api = &api;
        async move {
            let a = api
                .signed(reqwest::Method::GET, "/api/v3/myTrades", &query)
                .await;
            a.body
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_u64().unwrap())
                .collect::<Vec<u64>>()
        }
    };
    let ids = trade_ids("symbol=POLUSDT".into()).await;
    assert!(
        ids.len() >= 3 && ids.windows(2).all(|w| w[0] < w[1]),
        "{ids:?}"
    );
    let latest = trade_ids("symbol=POLUSDT&limit=1".into()).await;
    assert_eq!(latest, [*ids.last().unwrap()]);
    let first = trade_ids(format!("symbol=POLUSDT&limit=1&fromId={}", ids[0])).await;
    assert_eq!(first, [ids[0]]);
    // Neither refused order reached the matching engine.
    for id in ["late-1", "twice-1"] {
        let q = api
            .signed(
                reqwest::Method::GET,
                "/api/v3/order",
                &format!("symbol=POLUSDT&origClientOrderId={id}"),
            )
            .await;
        assert_eq!(q.code(), -2013, "{id}: {}", q.body);
    }
    venue.shutdown(Duration::from_millis(100)).await;
}
