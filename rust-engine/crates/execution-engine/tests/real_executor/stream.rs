//! The user data stream and reconciliation after a reconnect or a restart.

use crate::support::*;
use execution_engine::real::{parse_stream_event, StreamEvent};

/// The user data stream of `ex` on the stub, subscribed and past its first reconcile; its
/// responses come out of the receiver.
pub(crate) async fn subscribed(
    stub: &Stub,
    ex: &Arc<RealExecutor>,
) -> (UserStream, tokio::sync::mpsc::UnboundedReceiver<Response>) {
    let mut cfg = UserStreamConfig::new(stub.ws_url());
    cfg.subscribe_timeout = Duration::from_secs(2);
    subscribed_with(stub, ex, cfg).await
}

/// The stub's stream settings, reconnecting quickly (20 ms, at most 100 ms).
pub(crate) fn reconnecting(stub: &Stub) -> UserStreamConfig {
    let mut cfg = UserStreamConfig::new(stub.ws_url());
    cfg.reconnect_initial = Duration::from_millis(20);
    cfg.reconnect_max = Duration::from_millis(100);
    cfg.subscribe_timeout = Duration::from_secs(2);
    cfg
}

/// As [`subscribed`], with `cfg`.
pub(crate) async fn subscribed_with(
    stub: &Stub,
    ex: &Arc<RealExecutor>,
    cfg: UserStreamConfig,
) -> (UserStream, tokio::sync::mpsc::UnboundedReceiver<Response>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let stream = UserStream::spawn(Arc::clone(ex), cfg, tx);
    wait_until("subscription", WAIT, || stream.subscriptions() == 1).await;
    wait_until("reconcile", WAIT, || stub.count("GET", OPEN) == 1).await;
    (stream, rx)
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

/// A venue with no open order, where the bid `client_id` (order 42) is accepted and reads `NEW`
/// to a query, and an executor that placed it.
async fn placed_bid(client_id: &str) -> (Stub, Arc<RealExecutor>) {
    let stub = Stub::start().await;
    stub.fallback("GET", OPEN, Canned::ok("[]"));
    stub.fallback(
        "GET",
        ORDER,
        Canned::ok(query_body(
            client_id, 42, "BUY", "0.1500", "100.0", "0.0", "NEW",
        )),
    );
    let cmd = bid(client_id);
    accepts(&stub, &cmd, 42);
    let ex = executor(&stub);
    assert_eq!(ex.place(&cmd).await.len(), 1);
    (stub, ex)
}

#[tokio::test]
async fn user_data_stream_events_are_mapped_and_reconnects_reconcile() {
    let (stub, ex) = placed_bid("s1").await;

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stream = UserStream::spawn(Arc::clone(&ex), reconnecting(&stub), tx);
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

    // The fill at a negative price first: dropped and counted, its trade id not taken.
    let bad = report_json(
        "s1",
        42,
        "TRADE",
        "PARTIALLY_FILLED",
        ("-0.15", "40"),
        "40",
        501,
    );
    stub.ws_send(&bad);
    wait_until("bad frame counted", WAIT, || {
        stream.stats().unreadable.load(Ordering::SeqCst) == 1
    })
    .await;
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

/// A stream fill no order can have is refused whole, dropped and counted as an unreadable frame
/// is, never applied nor reported: two fills of 5e28 (the second's quantity added to the first's
/// would pass the largest decimal, a panic that aborts the release engine), a fill (`l`) above the
/// order's quantity of 100, a cumulative quantity (`z`) above it. The order is as before them, the
/// next good fill is the first response, and a refused trade id is not taken.
#[tokio::test]
async fn stream_fills_above_the_order_or_too_large_to_add_up_are_refused_and_counted() {
    let (stub, ex) = placed_bid("h1").await;
    let (stream, mut rx) = subscribed(&stub, &ex).await;
    let huge = "50000000000000000000000000000";
    let refused = [
        ((huge, huge), 1),
        ((huge, huge), 2),
        (("100.00000001", "40"), 3),
        (("40", "100.00000001"), 4),
    ];
    for (n, ((last, cumulative), trade)) in (1..).zip(refused) {
        let report = report_json(
            "h1",
            42,
            "TRADE",
            "PARTIALLY_FILLED",
            ("0.15", last),
            cumulative,
            trade,
        );
        stub.ws_send(&report);
        wait_until("refused event counted", WAIT, || {
            stream.stats().unreadable.load(Ordering::SeqCst) == n
        })
        .await;
        // Called directly, the executor refuses it too.
        assert!(ex.on_execution_report(&event(&report)).is_err(), "{trade}");
    }
    let order = ex.order("h1").unwrap();
    assert_eq!(
        (order.info.filled_quantity, order.info.status),
        (d("0"), OrderStatus::New)
    );
    stub.ws_send(&report_json(
        "h1",
        42,
        "TRADE",
        "PARTIALLY_FILLED",
        ("0.15", "40"),
        "40",
        3,
    ));
    match recv(&mut rx).await {
        Response::OrderExecution(e) => assert_eq!(
            (e.trade_id, e.last_quantity, e.cumulative_quantity),
            (3, d("40"), d("40"))
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(stream.stats().execution_reports.load(Ordering::SeqCst), 1);
    assert_eq!(stream.stats().unreadable.load(Ordering::SeqCst), 4);
    stream.shutdown().await;
    assert!(rx.try_recv().is_err());

    // An event held while the order's outcome is unknown is checked as it comes: refused, it is
    // not held.
    let mut seeded = Order::new(&bid("h2"), String::new(), 1);
    seeded.info.status = OrderStatus::New;
    ex.track_unresolved(seeded);
    let over = report_json(
        "h2",
        43,
        "TRADE",
        "PARTIALLY_FILLED",
        ("0.15", "150"),
        "150",
        9,
    );
    assert!(ex.on_execution_report(&event(&over)).is_err());
}

#[tokio::test]
async fn reconcile_after_restart_reports_what_happened() {
    let stub = Stub::start().await;
    // Before the restart the executor knew r-old (NEW, nothing filled) and r-gone.
    let ex = executor(&stub);
    let mut old = Order::new(&bid("r-old"), "600".into(), 1);
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
async fn a_cancel_reported_by_the_stream_while_the_cancel_request_is_out_is_answered_once() {
    let stub = Stub::start().await;
    stub.fallback("GET", OPEN, Canned::ok("[]"));
    let cmd = bid("c1");
    accepts(&stub, &cmd, 77);
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
    let (stream, mut rx) = subscribed(&stub, &ex).await;
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
    // The stream's report was read and applied (the REST answer alone also cancels the order),
    // without a second OrderCanceled.
    wait_until("stream event read", WAIT, || {
        stream.stats().execution_reports.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(stream.stats().unreadable.load(Ordering::SeqCst), 0);
    assert!(ex
        .order("c1")
        .is_some_and(|o| o.info.status == OrderStatus::Canceled));
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream.shutdown().await;
    let late: Vec<Response> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert!(
        !late.iter().any(|r| matches!(r, Response::OrderCanceled(_))),
        "{late:?}"
    );
}

/// A fill reported by the user data stream while the new order's answer is still out is held
/// and applied once the answer arrives: `place` answers `OrderPlaced` then that fill's
/// `OrderExecution` (reported once), and the order's fills include it.
#[tokio::test]
async fn a_fill_streamed_before_the_new_order_answer_follows_it() {
    let stub = Stub::start().await;
    stub.fallback("GET", OPEN, Canned::ok("[]"));
    let cmd = bid("h1");
    // The venue's answer is slow; the fill's executionReport overtakes it.
    stub.push(
        "POST",
        ORDER,
        Canned::ok(full_body(&cmd, 88, "NEW", "0", "0", &[])).delayed(Duration::from_millis(500)),
    );
    let ex = executor(&stub);
    let (stream, mut rx) = subscribed(&stub, &ex).await;
    let answer = tokio::spawn({
        let ex = Arc::clone(&ex);
        let cmd = cmd.clone();
        async move { ex.place(&cmd).await }
    });
    wait_until("new order at the venue", WAIT, || {
        stub.count("POST", ORDER) == 1
    })
    .await;
    stub.ws_send(&report_json(
        "h1",
        88,
        "TRADE",
        "PARTIALLY_FILLED",
        ("0.15000000", "40.00000000"),
        "40.00000000",
        5,
    ));
    let out = answer.await.unwrap();
    match out.as_slice() {
        [Response::OrderPlaced(p), Response::OrderExecution(e)] => {
            assert_eq!(p.command_id.as_deref(), Some("cmd-h1"));
            assert_eq!((e.trade_id, e.last_quantity), (5, d("40")));
            assert_eq!(e.status, OrderStatus::PartiallyFilled);
        }
        other => panic!("{other:?}"),
    }
    let o = ex.order("h1").unwrap();
    assert_eq!(o.info.filled_quantity, d("40"));
    assert_eq!(o.info.status, OrderStatus::PartiallyFilled);
    stream.shutdown().await;
    let late: Vec<Response> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert!(
        !late
            .iter()
            .any(|r| matches!(r, Response::OrderExecution(_))),
        "the fill was reported twice: {late:?}"
    );
}

/// After a restart, the strategy queries an order this executor never saw, which filled while no
/// engine ran: its fills come first, from `myTrades` with their real fees (commission in POL, as
/// Binance takes a buy's), then its status; the order is tracked from then on, so a second query
/// reports no fill twice.
#[tokio::test]
async fn a_query_of_an_order_filled_before_the_restart_reports_its_fills() {
    let stub = Stub::start().await;
    let ex = executor(&stub);
    let filled = query_body("q-old", 700, "BUY", "0.1500", "100.0", "100.0", "FILLED");
    stub.push("GET", ORDER, Canned::ok(filled.clone()));
    let mut v: Value = serde_json::from_str(&trades_body(
        700,
        &[
            (901, "0.1500", "40.0", "0.04", true),
            (902, "0.1500", "60.0", "0.06", true),
        ],
    ))
    .unwrap();
    for t in v.as_array_mut().unwrap() {
        t["commissionAsset"] = json!("POL");
    }
    stub.push("GET", TRADES, Canned::ok(v.to_string()));
    let q = QueryOrder {
        command_id: "q".into(),
        ts_ns: 0,
        symbol: "POLUSDT".into(),
        client_order_id: "q-old".into(),
    };
    let out = ex.query(&q).await;
    let fills: Vec<_> = out
        .iter()
        .filter_map(|r| match r {
            Response::OrderExecution(e) => {
                Some((e.trade_id, e.last_quantity, e.fee, e.fee_asset.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        fills,
        vec![
            (901, d("40.0"), d("0.04"), "POL".to_owned()),
            (902, d("60.0"), d("0.06"), "POL".to_owned())
        ],
        "{out:?}"
    );
    assert!(
        matches!(out.last(), Some(Response::OrderStatus(s)) if s.order.status == OrderStatus::Filled && s.command_id.as_deref() == Some("q")),
        "{out:?}"
    );
    stub.push("GET", ORDER, Canned::ok(filled));
    let again = ex.query(&q).await;
    assert!(
        matches!(again.as_slice(), [Response::OrderStatus(_)]),
        "{again:?}"
    );
    assert_eq!(stub.count("GET", TRADES), 1);
}

/// The user data stream is per account: an order on another symbol (a manual BTCUSDT order) is
/// neither tracked nor reported, and counted; nor does an order of another symbol seeded with
/// `track` count as open or in the open quantities.
#[tokio::test]
async fn orders_of_another_symbol_are_ignored() {
    let stub = Stub::start().await;
    stub.fallback("GET", OPEN, Canned::ok("[]"));
    let ex = executor(&stub);
    let (stream, mut rx) = subscribed(&stub, &ex).await;
    let mut other: Value = serde_json::from_str(&report_json(
        "manual-btc",
        77,
        "TRADE",
        "FILLED",
        ("90000", "2"),
        "2",
        700,
    ))
    .unwrap();
    other["event"]["s"] = json!("BTCUSDT");
    stub.ws_send(&other.to_string());
    stub.ws_send(&report_json("pol-1", 78, "NEW", "NEW", ("0", "0"), "0", -1));
    // The first response is the POLUSDT order's: nothing came of the BTCUSDT fill.
    match recv(&mut rx).await {
        Response::OrderStatus(s) => assert_eq!(s.order.client_order_id, "pol-1"),
        other => panic!("{other:?}"),
    }
    assert_eq!(stream.stats().other_symbol.load(Ordering::SeqCst), 1);
    assert_eq!(stream.stats().execution_reports.load(Ordering::SeqCst), 1);
    assert!(ex.order("manual-btc").is_none());
    // Called directly, the executor ignores it too.
    let parsed = match parse_stream_event(&other.to_string()).unwrap() {
        StreamEvent::Execution(r) => r,
        e => panic!("{e:?}"),
    };
    assert!(ex.on_execution_report(&parsed).unwrap().is_empty());
    assert!(ex.order("manual-btc").is_none());
    stream.shutdown().await;
    assert!(rx.try_recv().is_err());

    let mut btc = Order::new(&bid("seeded-btc"), "79".into(), 1);
    btc.info.symbol = "BTCUSDT".into();
    btc.info.status = OrderStatus::New;
    ex.track(btc);
    assert_eq!(ex.open_count(), 1, "pol-1 only");
    let q = ex.open_quantities();
    assert_eq!((q.buy, q.buy_orders), (d("100").0, 1));
}

/// A stream on the stub with keepalive pings every `keepalive`, reconnecting quickly.
async fn kept_alive(
    stub: &Stub,
    ex: &Arc<RealExecutor>,
    keepalive: Duration,
) -> (UserStream, tokio::sync::mpsc::UnboundedReceiver<Response>) {
    let mut cfg = reconnecting(stub);
    cfg.keepalive = keepalive;
    subscribed_with(stub, ex, cfg).await
}

/// A quiet stream whose peer answers the keepalive pings (the stub's WebSocket layer pongs while
/// it reads) stays on its connection: ten intervals pass without a reconnect.
#[tokio::test]
async fn a_quiet_stream_that_answers_pings_keeps_its_connection() {
    let stub = Stub::start().await;
    stub.fallback("GET", OPEN, Canned::ok("[]"));
    let ex = executor(&stub);
    let (stream, mut rx) = kept_alive(&stub, &ex, Duration::from_millis(50)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stream.subscriptions(), 1);
    assert_eq!(stub.count("GET", OPEN), 1);
    assert_eq!(stream.stats().unreadable.load(Ordering::SeqCst), 0);
    stream.shutdown().await;
    assert!(rx.try_recv().is_err());
}

/// A connection whose peer stops answering without closing it (a dropped route, a frozen venue)
/// is dropped after two keepalive intervals without a frame: the stream subscribes again on a new
/// connection and reconciles, and events reach it there.
#[tokio::test]
async fn a_connection_that_went_silent_is_dropped_and_the_stream_resubscribes() {
    let stub = Stub::start().await;
    stub.fallback("GET", OPEN, Canned::ok("[]"));
    let ex = executor(&stub);
    let (stream, mut rx) = kept_alive(&stub, &ex, Duration::from_millis(100)).await;
    stub.ws_freeze();
    wait_until("a new subscription", WAIT, || stream.subscriptions() == 2).await;
    wait_until("its reconcile", WAIT, || stub.count("GET", OPEN) == 2).await;
    stub.ws_send(&report_json("k-1", 90, "NEW", "NEW", ("0", "0"), "0", -1));
    match recv(&mut rx).await {
        Response::OrderStatus(s) => assert_eq!(s.order.client_order_id, "k-1"),
        other => panic!("{other:?}"),
    }
    stream.shutdown().await;
}

fn event(text: &str) -> execution_engine::real::ExecutionReport {
    match parse_stream_event(text).unwrap() {
        StreamEvent::Execution(r) => *r,
        other => panic!("{other:?}"),
    }
}

/// The quantity of the `OrderExecution`s among `rs`, and their trade ids.
fn executed(rs: &[Response]) -> (Dec, Vec<u64>) {
    let fills: Vec<_> = rs
        .iter()
        .filter_map(|r| match r {
            Response::OrderExecution(e) => Some((e.last_quantity.0, e.trade_id)),
            _ => None,
        })
        .collect();
    (
        Dec(fills.iter().map(|f| f.0).sum()),
        fills.iter().map(|f| f.1).collect(),
    )
}

/// A fill whose stream event was lost (unreadable, or sent while the stream reconnected), with the
/// order's later events received: the venue says 100 filled, 60 were reported, so the reconcile
/// asks `myTrades` and reports the lost trade, once (not again at the next reconcile).
#[tokio::test]
async fn a_fill_whose_stream_event_was_lost_is_reported_by_the_reconcile() {
    let stub = Stub::start().await;
    let cmd = bid("a1");
    accepts(&stub, &cmd, 42);
    let trades = [
        (501, "0.15", "40.0", "0.001", true),
        (502, "0.15", "30.0", "0.001", true),
        (503, "0.15", "30.0", "0.001", true),
    ];
    stub.fallback("GET", TRADES, Canned::ok(trades_body(42, &trades)));
    stub.fallback(
        "GET",
        ORDER,
        Canned::ok(query_body(
            "a1", 42, "BUY", "0.1500", "100.0", "100.0", "FILLED",
        )),
    );
    stub.fallback("GET", OPEN, Canned::ok("[]"));
    let ex = executor(&stub);
    let mut all = ex.place(&cmd).await;
    for (trade, status, cumulative) in [(502, "PARTIALLY_FILLED", "70"), (503, "FILLED", "100")] {
        all.extend(
            ex.on_execution_report(&event(&report_json(
                "a1",
                42,
                "TRADE",
                status,
                ("0.15", "30"),
                cumulative,
                trade,
            )))
            .unwrap(),
        );
    }
    assert_eq!(executed(&all).0, d("60"));
    all.extend(ex.reconcile().await);
    all.extend(ex.reconcile().await);
    assert_eq!(executed(&all), (d("100"), vec![502, 503, 501]));
    assert_eq!(stub.count("GET", TRADES), 1);
}

/// The fills the venue reports in a query's answer (the stream was down) or that `myTrades`
/// could not give at a reconcile are reported later, never lost: by the query itself, or by the
/// next reconcile, which looks again at a filled order while its fills are short.
#[tokio::test]
async fn fills_known_from_a_query_or_missed_by_my_trades_are_reported_later() {
    let stub = Stub::start().await;
    let cmd = bid("a2");
    accepts(&stub, &cmd, 43);
    stub.fallback(
        "GET",
        ORDER,
        Canned::ok(query_body(
            "a2", 43, "BUY", "0.1500", "100.0", "100.0", "FILLED",
        )),
    );
    stub.fallback("GET", OPEN, Canned::ok("[]"));
    stub.push(
        "GET",
        TRADES,
        Canned::err(503, -1000, "Service unavailable"),
    );
    stub.fallback(
        "GET",
        TRADES,
        Canned::ok(trades_body(
            43,
            &[
                (601, "0.15", "40.0", "0.001", true),
                (602, "0.15", "60.0", "0.001", true),
            ],
        )),
    );
    let ex = executor(&stub);
    let mut all = ex.place(&cmd).await;
    // The stream was down while it filled; the reconcile's myTrades fails.
    all.extend(ex.reconcile().await);
    assert_eq!(executed(&all).0, d("0"));
    assert_eq!(ex.order("a2").unwrap().info.status, OrderStatus::Filled);
    // The strategy's query reports them.
    all.extend(
        ex.query(&QueryOrder {
            command_id: "q".into(),
            ts_ns: 0,
            symbol: "POLUSDT".into(),
            client_order_id: "a2".into(),
        })
        .await,
    );
    assert_eq!(executed(&all), (d("100"), vec![601, 602]));
    all.extend(ex.reconcile().await);
    assert_eq!(executed(&all).0, d("100"));
}

/// A stream event filling an order this executor does not track (placed before a restart) is
/// reported as a fill, with the order's cumulative quantity and status from the event (`z`, `X`:
/// 100 filled, `FILLED`, though its own fill is 40), and the fills before it at the next
/// reconcile, from `myTrades`.
#[tokio::test]
async fn a_streamed_fill_of_an_untracked_order_is_reported() {
    let stub = Stub::start().await;
    stub.fallback(
        "GET",
        ORDER,
        Canned::ok(query_body(
            "old1", 700, "BUY", "0.1500", "100.0", "100.0", "FILLED",
        )),
    );
    stub.fallback(
        "GET",
        TRADES,
        Canned::ok(trades_body(
            700,
            &[
                (949, "0.15", "60.0", "0.001", false),
                (950, "0.15", "40.0", "0.001", false),
            ],
        )),
    );
    stub.fallback("GET", OPEN, Canned::ok("[]"));
    let ex = executor(&stub);
    let mut all = ex
        .on_execution_report(&event(&report_json(
            "old1",
            700,
            "TRADE",
            "FILLED",
            ("0.15", "40"),
            "100",
            950,
        )))
        .unwrap();
    assert_eq!(executed(&all), (d("40"), vec![950]));
    match all.first() {
        Some(Response::OrderExecution(e)) => assert_eq!(
            (e.cumulative_quantity, e.status),
            (d("100"), OrderStatus::Filled)
        ),
        other => panic!("{other:?}"),
    }
    all.extend(ex.reconcile().await);
    assert_eq!(executed(&all), (d("100"), vec![950, 949]));
}

/// A reconcile that waits on the venue (its openOrders answered 3 s late) does not stop the
/// stream: an event that comes meanwhile is answered at once, and the connection keeps answering
/// the venue's pings.
#[tokio::test]
async fn the_stream_is_read_while_its_reconcile_waits_on_the_venue() {
    let stub = Stub::start().await;
    stub.fallback(
        "GET",
        OPEN,
        Canned::ok("[]").delayed(Duration::from_secs(3)),
    );
    let cmd = bid("r1");
    accepts(&stub, &cmd, 91);
    let ex = executor(&stub);
    ex.place(&cmd).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut cfg = UserStreamConfig::new(stub.ws_url());
    cfg.subscribe_timeout = Duration::from_secs(2);
    let stream = UserStream::spawn(Arc::clone(&ex), cfg, tx);
    wait_until("reconcile asked", WAIT, || stub.count("GET", OPEN) == 1).await;
    let asked = Instant::now();
    stub.ws_send(&report_json(
        "r1",
        91,
        "TRADE",
        "PARTIALLY_FILLED",
        ("0.15000000", "40.00000000"),
        "40.00000000",
        7,
    ));
    let first = recv(&mut rx).await;
    assert!(
        matches!(&first, Response::OrderExecution(e) if e.trade_id == 7),
        "{first:?}"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
    stream.shutdown().await;
}

/// An open order this executor did not track (left open before a restart) is adopted by the
/// reconcile or by a query, which ask `myTrades` for its fills; a fill the stream reports while
/// that answer is out starts tracking the order, and the adoption then reports only the trades
/// the stream did not: each trade once, the position not overstated.
#[tokio::test]
async fn a_fill_streamed_while_an_order_is_adopted_is_reported_once() {
    for adopted_by in ["reconcile", "query"] {
        let stub = Stub::start().await;
        let listed = query_body(
            "u1",
            301,
            "BUY",
            "0.1500",
            "100.0",
            "40.0",
            "PARTIALLY_FILLED",
        );
        stub.fallback("GET", OPEN, Canned::ok(format!("[{listed}]")));
        stub.fallback("GET", ORDER, Canned::ok(listed));
        let trades = [
            (11, "0.15", "40.0", "0.001", true),
            (12, "0.15", "30.0", "0.001", true),
        ];
        stub.fallback(
            "GET",
            TRADES,
            Canned::ok(trades_body(301, &trades)).delayed(Duration::from_millis(500)),
        );
        let ex = executor(&stub);
        let adoption = tokio::spawn({
            let ex = Arc::clone(&ex);
            async move {
                match adopted_by {
                    "reconcile" => ex.reconcile().await,
                    _ => {
                        ex.query(&QueryOrder {
                            command_id: "q".into(),
                            ts_ns: 0,
                            symbol: "POLUSDT".into(),
                            client_order_id: "u1".into(),
                        })
                        .await
                    }
                }
            }
        });
        wait_until("myTrades asked", WAIT, || stub.count("GET", TRADES) == 1).await;
        let mut all = ex
            .on_execution_report(&event(&report_json(
                "u1",
                301,
                "TRADE",
                "PARTIALLY_FILLED",
                ("0.15", "30"),
                "70",
                12,
            )))
            .unwrap();
        all.extend(adoption.await.unwrap());
        let (quantity, mut ids) = executed(&all);
        ids.sort_unstable();
        assert_eq!(
            (quantity, ids),
            (d("70"), vec![11, 12]),
            "{adopted_by}: {all:?}"
        );
    }
}

/// A reconcile outlives the connection it was started on: the fills it has found (and recorded as
/// reported) are reported though the connection closed while it waited on the venue for another
/// order, and the reconcile after the new subscription follows it.
#[tokio::test]
async fn fills_a_reconcile_found_are_reported_though_its_connection_ended() {
    let stub = Stub::start().await;
    stub.fallback("GET", OPEN, Canned::ok("[]"));
    let ex = executor(&stub);
    for (coid, order_id) in [("a1", "42"), ("b1", "43")] {
        let mut o = Order::new(&bid(coid), order_id.into(), 1);
        o.info.status = OrderStatus::New;
        ex.track(o);
    }
    // Queried in client order id order: a1 filled meanwhile, b1's answer is slow.
    stub.push(
        "GET",
        ORDER,
        Canned::ok(query_body(
            "a1", 42, "BUY", "0.1500", "100.0", "100.0", "FILLED",
        )),
    );
    let b1 = query_body("b1", 43, "BUY", "0.1500", "100.0", "0.0", "NEW");
    stub.push(
        "GET",
        ORDER,
        Canned::ok(b1.clone()).delayed(Duration::from_millis(1500)),
    );
    stub.fallback("GET", ORDER, Canned::ok(b1));
    stub.push(
        "GET",
        TRADES,
        Canned::ok(trades_body(42, &[(501, "0.15", "100.0", "0.001", true)])),
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stream = UserStream::spawn(Arc::clone(&ex), reconnecting(&stub), tx);
    wait_until("b1 queried", WAIT, || stub.count("GET", ORDER) == 2).await;
    stub.ws_close();
    wait_until("a new subscription", WAIT, || stream.subscriptions() == 2).await;
    wait_until("its reconcile", WAIT, || stub.count("GET", OPEN) == 2).await;
    loop {
        if let Response::OrderExecution(e) = recv(&mut rx).await {
            assert_eq!((e.client_order_id.as_str(), e.trade_id), ("a1", 501));
            break;
        }
    }
    stream.shutdown().await;
    let late: Vec<Response> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert_eq!(executed(&late).1, Vec::<u64>::new(), "{late:?}");
}

/// At shutdown a reconcile under way is given [`UserStreamConfig::shutdown_grace`]: one that
/// finishes within it has its reports delivered, one that does not is stopped at its end.
#[tokio::test]
async fn shutdown_lets_a_reconcile_under_way_finish_within_its_grace() {
    for (answer_after, grace, delivered) in [
        (Duration::from_millis(300), Duration::from_secs(3), true),
        (Duration::from_secs(4), Duration::from_millis(200), false),
    ] {
        let stub = Stub::start().await;
        let unknown = query_body("z1", 500, "BUY", "0.1500", "100.0", "0.0", "NEW");
        stub.fallback(
            "GET",
            OPEN,
            Canned::ok(format!("[{unknown}]")).delayed(answer_after),
        );
        let ex = executor(&stub);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut cfg = reconnecting(&stub);
        cfg.shutdown_grace = grace;
        let stream = UserStream::spawn(Arc::clone(&ex), cfg, tx);
        wait_until("reconcile asked", WAIT, || stub.count("GET", OPEN) == 1).await;
        let started = Instant::now();
        stream.shutdown().await;
        assert!(started.elapsed() < grace + Duration::from_secs(1));
        let out: Vec<Response> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        let reported =
            matches!(out.as_slice(), [Response::OrderStatus(s)] if s.order.client_order_id == "z1");
        assert_eq!(reported, delivered, "{answer_after:?}: {out:?}");
    }
}

/// `eventStreamTerminated` (notes §4.3: "sent when the subscription ends", fixture
/// `uds_event_stream_terminated_wrapped.json`) ends the session: the stream subscribes again on a
/// new connection and reconciles.
#[tokio::test]
async fn an_ended_subscription_is_subscribed_again_and_reconciled() {
    let stub = Stub::start().await;
    stub.fallback("GET", OPEN, Canned::ok("[]"));
    let ex = executor(&stub);
    let (stream, _rx) = subscribed_with(&stub, &ex, reconnecting(&stub)).await;
    stub.ws_send(&fixture("uds_event_stream_terminated_wrapped.json"));
    wait_until("a new subscription", WAIT, || stream.subscriptions() == 2).await;
    wait_until("its reconcile", WAIT, || stub.count("GET", OPEN) == 2).await;
    assert_eq!(stream.stats().unreadable.load(Ordering::SeqCst), 0);
    stream.shutdown().await;
}

/// A `CANCELED` event that comes while the cancel request is out is left to the request's answer;
/// when that answer does not report the cancel (a `5XX`/`-1007` whose queries then fail — notes
/// §3.1: "the execution status is UNKNOWN and could have been a success" — or `-2011`), the
/// strategy's cancel is answered `OrderCanceled` all the same, once, as the executor holds it.
#[tokio::test]
async fn a_cancel_the_stream_reported_is_answered_though_the_request_failed() {
    let unknown = (
        Canned::err(
            500,
            -1007,
            "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
        ),
        Canned::err(503, -1000, "Service unavailable"),
    );
    let unknown_order = (
        Canned::err(400, -2011, "Unknown order sent."),
        Canned::err(400, -2013, "Order does not exist."),
    );
    for (answer, queries) in [unknown, unknown_order] {
        let stub = Stub::start().await;
        stub.fallback("GET", OPEN, Canned::ok("[]"));
        let cmd = bid("c1");
        accepts(&stub, &cmd, 77);
        let ex = executor(&stub);
        assert_eq!(ex.place(&cmd).await.len(), 1);
        let code = answer.body.clone();
        stub.push("DELETE", ORDER, answer.delayed(Duration::from_millis(300)));
        stub.fallback("GET", ORDER, queries);
        let cancel = tokio::spawn({
            let ex = Arc::clone(&ex);
            async move {
                ex.cancel(&CancelOrder {
                    command_id: "cx".into(),
                    ts_ns: 0,
                    symbol: "POLUSDT".into(),
                    client_order_id: "c1".into(),
                })
                .await
            }
        });
        wait_until("cancel request at the venue", WAIT, || {
            stub.count("DELETE", ORDER) == 1
        })
        .await;
        let streamed = ex
            .on_execution_report(&event(&report_json(
                "c1",
                77,
                "CANCELED",
                "CANCELED",
                ("0", "0"),
                "0",
                -1,
            )))
            .unwrap();
        assert_eq!(streamed, Vec::<Response>::new(), "{code}");
        let out = cancel.await.unwrap();
        match out.as_slice() {
            [Response::OrderCanceled(c)] => {
                assert_eq!(
                    (c.command_id.as_deref(), c.client_order_id.as_str()),
                    (Some("cx"), "c1"),
                    "{code}"
                );
                assert_eq!(c.filled_quantity, d("0"));
            }
            other => panic!("{code}: {other:?}"),
        }
        assert_eq!(ex.reconcile().await, Vec::<Response>::new(), "{code}");
    }
}

/// Notes §4.4 document `REJECTED` reports for a cancel-replace whose new order is refused, not
/// for a new order refused `-2010`: a `REJECTED` report of an order this executor does not track
/// (another client's, or a placement it saw refused) is not reported, and does not take the
/// client order id, which the venue frees ("A unique id among open orders", §3.2).
#[tokio::test]
async fn a_rejected_report_of_an_untracked_order_is_ignored() {
    let stub = Stub::start().await;
    let cmd = bid("rj1");
    stub.push(
        "POST",
        ORDER,
        Canned::err(
            400,
            -2010,
            "Account has insufficient balance for requested action.",
        ),
    );
    accepts(&stub, &cmd, 78);
    let ex = executor(&stub);
    assert_eq!(error_of(&ex.place(&cmd).await).code, ErrorCode::Venue);
    let mut rejected: Value = serde_json::from_str(&report_json(
        "rj1",
        7,
        "REJECTED",
        "REJECTED",
        ("0", "0"),
        "0",
        -1,
    ))
    .unwrap();
    rejected["event"]["r"] = json!("INSUFFICIENT_BALANCES");
    let out = ex
        .on_execution_report(&event(&rejected.to_string()))
        .unwrap();
    assert_eq!(out, Vec::<Response>::new());
    assert!(ex.order("rj1").is_none());
    match ex.place(&cmd).await.as_slice() {
        [Response::OrderPlaced(p)] => assert_eq!(p.command_id.as_deref(), Some("cmd-rj1")),
        other => panic!("{other:?}"),
    }
}

/// A venue whose new-order answer comes late as `-1007` (status unknown) and whose order lookup
/// answers `-2013` to every query.
async fn unknown_outcome_venue() -> Stub {
    let stub = Stub::start().await;
    stub.push(
        "POST",
        ORDER,
        Canned::err(503, -1007, "Send status unknown").delayed(Duration::from_millis(400)),
    );
    stub.fallback(
        "GET",
        ORDER,
        Canned::err(400, -2013, "Order does not exist."),
    );
    stub
}

/// Places bid `coid` on `stub` and, while its answer is out, has the user data stream report it
/// FILLED with a last fill of `last` (trade `trade_id`, order `order_id`, 100 filled in all): the
/// event must be held. Returns the executor and the place's answer.
async fn placed_with_a_held_fill(
    stub: &Stub,
    coid: &str,
    order_id: u64,
    last: &str,
    trade_id: i64,
) -> (Arc<RealExecutor>, Vec<Response>) {
    let ex = executor(stub);
    let placing = {
        let ex = Arc::clone(&ex);
        let cmd = bid(coid);
        tokio::spawn(async move { ex.place(&cmd).await })
    };
    wait_until("new order at the venue", WAIT, || {
        stub.count("POST", ORDER) == 1
    })
    .await;
    let held = ex
        .on_execution_report(&event(&report_json(
            coid,
            order_id,
            "TRADE",
            "FILLED",
            ("0.15", last),
            "100",
            trade_id,
        )))
        .unwrap();
    assert!(held.is_empty(), "held while the answer is out: {held:?}");
    (ex, placing.await.unwrap())
}

/// A new order's answer is out (its `POST` ends `-1007`, status unknown) and the user data stream
/// reports it FILLED meanwhile: the event is held, proof the venue has the order. Every query of
/// the window answers `-2013` (the venue's order lookup lagging): the order is still answered
/// placed, `OrderPlaced` then the held fill's `OrderExecution` — not "not placed" with the fill
/// dropped, after which no reconcile could find it (filled: not in openOrders, and untracked). It
/// stays tracked, its fill reported once: a reconcile reports nothing more.
#[tokio::test]
async fn a_held_fill_proves_the_order_placed_though_every_query_says_absent() {
    let stub = unknown_outcome_venue().await;
    stub.fallback("GET", OPEN, Canned::ok("[]"));
    let (ex, out) = placed_with_a_held_fill(&stub, "h1", 91, "100", 5001).await;
    assert!(stub.count("GET", ORDER) >= 2, "the window's queries");
    match out.as_slice() {
        [Response::OrderPlaced(p), Response::OrderExecution(e)] => {
            assert_eq!(p.command_id.as_deref(), Some("cmd-h1"));
            assert_eq!(p.exchange_order_id, "91");
            assert_eq!((e.trade_id, e.last_quantity), (5001, d("100")));
            assert_eq!(e.status, OrderStatus::Filled);
        }
        other => panic!("{other:?}"),
    }
    let o = ex.order("h1").expect("still tracked");
    assert_eq!(
        (o.info.status, o.info.filled_quantity),
        (OrderStatus::Filled, d("100"))
    );
    // myTrades was not needed: the event carried the whole fill.
    assert_eq!(stub.count("GET", TRADES), 0);
    let rec = ex.reconcile().await;
    assert!(rec.is_empty(), "{rec:?}");
}

/// As above, with a held event whose order has filled more than its own fill (`z` 100, `l` 40:
/// the event of an earlier fill was lost): the fills it did not carry come from `myTrades`, asked
/// by the event's order id (the queries by client order id found nothing), each reported once.
#[tokio::test]
async fn fills_a_held_event_did_not_carry_come_from_my_trades_by_its_order_id() {
    let stub = unknown_outcome_venue().await;
    stub.fallback(
        "GET",
        TRADES,
        Canned::ok(trades_body(
            92,
            &[
                (6001, "0.15", "60", "0.009", true),
                (6002, "0.15", "40", "0.006", true),
            ],
        )),
    );
    let (ex, out) = placed_with_a_held_fill(&stub, "h2", 92, "40", 6002).await;
    assert!(
        matches!(out.first(), Some(Response::OrderPlaced(p)) if p.exchange_order_id == "92"),
        "{out:?}"
    );
    assert_eq!(executed(&out), (d("100"), vec![6002, 6001]));
    let asked = stub.seen("GET", TRADES);
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].param("orderId").as_deref(), Some("92"));
    let o = ex.order("h2").expect("still tracked");
    assert_eq!(
        (o.info.status, o.info.filled_quantity),
        (OrderStatus::Filled, d("100"))
    );
    // Every fill reported: a reconcile has nothing to add, and asks myTrades no more.
    stub.fallback("GET", OPEN, Canned::ok("[]"));
    let rec = ex.reconcile().await;
    assert!(rec.is_empty(), "{rec:?}");
    assert_eq!(stub.count("GET", TRADES), 1);
}
