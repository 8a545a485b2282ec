//! New orders, unknown outcomes, cancels and queries against the stub venue.

use crate::support::*;

#[tokio::test]
async fn signed_requests_verify_with_the_documented_hmac_rules() {
    let stub = Stub::start().await;
    let cmd = bid("c1");
    accepts(&stub, &cmd, 7);
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
    let out = bad.place(&bid("c2")).await;
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
    let expected = paper.place(&cmd, &*shared.read(), 5);
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
                ("0.15840000", "100.00000000", "0.10000000", 1),
                ("0.15850000", "50.00000000", "0.05000000", 2),
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
    let cmd = bid("g1");
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

/// The venue answers neither the order nor any query of it for the whole window: the answer is
/// `UNKNOWN_OUTCOME` (the order may be live), not a venue refusal; a reconcile that finds it at
/// the venue publishes it as placed.
#[tokio::test]
async fn an_order_no_query_could_find_is_of_unknown_outcome_until_reconcile_finds_it() {
    let stub = Stub::start().await;
    let cmd = bid("q1");
    stub.push(
        "POST",
        ORDER,
        Canned::err(503, -1007, "Send status unknown"),
    );
    stub.fallback("GET", ORDER, Canned::err(502, -1000, "Bad gateway"));
    let ex = executor(&stub);
    let e = error_of(&ex.place(&cmd).await).clone();
    assert_eq!(e.code, ErrorCode::UnknownOutcome, "{}", e.message);
    assert_eq!(e.command_id.as_deref(), Some("cmd-q1"));
    assert!(e.message.contains("stays unresolved"), "{}", e.message);
    assert_eq!(stub.count("POST", ORDER), 1);
    stub.fallback(
        "GET",
        OPEN,
        Canned::ok(format!(
            "[{}]",
            query_body("q1", 78, "BUY", "0.1500", "100.0", "0.0", "NEW")
        )),
    );
    let out = ex.reconcile().await;
    assert!(
        out.iter()
            .any(|r| matches!(r, Response::OrderPlaced(p) if p.client_order_id == "q1")),
        "{out:?}"
    );
    assert_eq!(stub.count("POST", ORDER), 1);
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
        .await
        .pop()
        .unwrap();
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

/// A rejection by the venue (`-2010` insufficient balance: not placed) is answered with the
/// venue's `Error` and leaves nothing open: the order does not count against `max_open_orders`.
#[tokio::test]
async fn a_rejected_order_is_not_left_open() {
    let stub = Stub::start().await;
    stub.fallback(
        "POST",
        ORDER,
        Canned::err(
            400,
            -2010,
            "Account has insufficient balance for requested action.",
        ),
    );
    let ex = executor(&stub);
    for i in 0..4 {
        let out = ex.place(&bid(&format!("r{i}"))).await;
        let e = error_of(&out);
        assert_eq!(e.code, ErrorCode::Venue, "{e:?}");
        assert!(e.message.contains("-2010"), "{}", e.message);
        assert_eq!(ex.open_count(), 0);
    }
    // Every one reached the venue: none was refused for a full book of open orders.
    assert_eq!(stub.count("POST", ORDER), 4);
}

/// `max_open_orders` counts the orders resting at the venue: with 3 allowed, three `NEW` orders
/// go and the fourth is refused (`VALIDATION`, field `client_order_id`) without being sent.
#[tokio::test]
async fn max_open_orders_counts_the_orders_resting_at_the_venue() {
    let stub = Stub::start().await;
    let ex = executor(&stub);
    for i in 0..3u64 {
        let cmd = bid(&format!("o{i}"));
        stub.push(
            "POST",
            ORDER,
            Canned::ok(full_body(&cmd, 100 + i, "NEW", "0", "0", &[])),
        );
        let out = ex.place(&cmd).await;
        assert!(
            matches!(out.as_slice(), [Response::OrderPlaced(p)] if p.status == OrderStatus::New),
            "{out:?}"
        );
    }
    assert_eq!(ex.open_count(), 3);
    let out = ex.place(&bid("o3")).await;
    let e = error_of(&out);
    assert_eq!(
        (e.code, e.field.as_deref()),
        (ErrorCode::Validation, Some("client_order_id")),
        "{e:?}"
    );
    assert_eq!(stub.count("POST", ORDER), 3);
}

/// A halt's cancel of every open order that the venue fails (503) is asked again, not given up
/// with the bid still resting; its answer saying 200 of the bid filled (the stream never told)
/// reports that fill from `myTrades`, before the `OrderCanceled`.
#[tokio::test]
async fn a_failed_cancel_of_every_order_is_asked_again_and_reports_the_fills_it_reveals() {
    let stub = Stub::start().await;
    let cmd = place("b1", OrderType::Limit, Side::Buy, "500", Some("0.15"));
    accepts(&stub, &cmd, 61);
    stub.push(
        "DELETE",
        OPEN,
        Canned::err(
            503,
            -1001,
            "Internal error; unable to process your request.",
        ),
    );
    let mut canceled: Value = serde_json::from_str(&fixture("order_cancel_response.json")).unwrap();
    canceled["symbol"] = json!("POLUSDT");
    canceled["origClientOrderId"] = json!("b1");
    canceled["orderId"] = json!(61);
    canceled["origQty"] = json!("500.00000000");
    canceled["executedQty"] = json!("200.00000000");
    canceled["cummulativeQuoteQty"] = json!("30.00000000");
    stub.push("DELETE", OPEN, Canned::ok(format!("[{canceled}]")));
    stub.fallback(
        "GET",
        TRADES,
        Canned::ok(trades_body(61, &[(801, "0.15", "200.0", "0.2", true)])),
    );
    let ex = executor(&stub);
    ex.place(&cmd).await;
    let out = ex.cancel_all().await;
    assert_eq!(stub.count("DELETE", OPEN), 2);
    match out.as_slice() {
        [Response::OrderExecution(e), Response::OrderCanceled(c)] => {
            assert_eq!((e.trade_id, e.last_quantity), (801, d("200")));
            assert_eq!(
                (c.client_order_id.as_str(), c.filled_quantity),
                ("b1", d("200"))
            );
        }
        other => panic!("{other:?}"),
    }
}

/// Binance forwards an order to the matching engine while `serverTime - timestamp <= recvWindow`
/// (notes §2.1): an order whose answer failed may still be placed up to `recvWindow` after it was
/// sent, so the window it is looked for in before "not placed" is at least `recvWindow` plus the
/// request timeout plus a margin: 70 s for the largest `recvWindow` (60 s) and a 5 s timeout,
/// where the default was 15 s; the defaults keep 15 s; a longer window is kept.
#[test]
fn the_unknown_outcome_window_outlasts_the_recv_window() {
    use execution_engine::signing::RecvWindow;
    let stub_config = || {
        let mut c = RestConfig::new("http://127.0.0.1:9");
        c.request_timeout = Duration::from_secs(5);
        c
    };
    let window = |rest: RestConfig, config: ExecutorConfig| {
        let client = client_with(rest, SECRET);
        RealExecutor::new(client, config)
            .config()
            .unknown_outcome_window
    };
    let mut longest = stub_config();
    longest.recv_window = RecvWindow::new(60_000).unwrap();
    let defaults = || ExecutorConfig::new(filters(), limits());
    assert_eq!(window(longest.clone(), defaults()), Duration::from_secs(70));
    assert_eq!(window(stub_config(), defaults()), Duration::from_secs(15));
    let mut long = defaults();
    long.unknown_outcome_window = Duration::from_secs(90);
    assert_eq!(window(longest.clone(), long), Duration::from_secs(90));
    // Only a test against a stub venue (which never places an order late) opts out.
    assert_eq!(window(longest, exec_config()), Duration::from_millis(300));
}
