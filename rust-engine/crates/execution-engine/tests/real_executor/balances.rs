//! `QueryBalances` in real mode: answered from the balances the user data stream keeps
//! (`outboundAccountPosition`), seeded by `GET /api/v3/account` once per subscription.

use crate::stream::{reconnecting, subscribed, subscribed_with};
use crate::support::*;
use common::message::{AssetBalance, QueryBalances};

const ACCOUNT: &str = "/api/v3/account";

/// A `GET /api/v3/account` answer holding `balances` (asset, free, locked).
fn account_body(balances: &[(&str, &str, &str)]) -> String {
    let rows: Vec<Value> = balances
        .iter()
        .map(|(a, f, l)| json!({"asset": a, "free": f, "locked": l}))
        .collect();
    json!({"makerCommission": 10, "canTrade": true, "accountType": "SPOT", "balances": rows})
        .to_string()
}

/// A wrapped `outboundAccountPosition` (the fixture's shape) of the account update at `u`.
fn position(u: u64, balances: &[(&str, &str, &str)]) -> String {
    let mut e: Value =
        serde_json::from_str(&fixture("uds_outbound_account_position_raw.json")).unwrap();
    e["E"] = json!(u + 3);
    e["u"] = json!(u);
    e["B"] = balances
        .iter()
        .map(|(a, f, l)| json!({"a": a, "f": f, "l": l}))
        .collect();
    json!({"subscriptionId": 0, "event": e}).to_string()
}

/// The venue answers `balances` to every `GET /api/v3/account` (and `[]` to the reconciles).
async fn venue(balances: &[(&str, &str, &str)]) -> Stub {
    let stub = Stub::start().await;
    stub.fallback("GET", OPEN, Canned::ok("[]"));
    stub.fallback("GET", ACCOUNT, Canned::ok(account_body(balances)));
    stub
}

async fn query(ex: &RealExecutor, n: u32) -> Vec<AssetBalance> {
    let id = format!("bal-{n}");
    let r = ex
        .balances(&QueryBalances {
            command_id: id.clone(),
            ts_ns: 0,
        })
        .await;
    match r {
        Response::Balances(b) => {
            assert_eq!(b.command_id.as_deref(), Some(id.as_str()));
            b.balances
        }
        other => panic!("{other:?}"),
    }
}

fn bal(asset: &str, free: &str, locked: &str) -> AssetBalance {
    AssetBalance {
        asset: asset.into(),
        free: d(free),
        locked: d(locked),
    }
}

/// Queries (no request sent once seeded) until `cond` holds of the answer.
async fn query_until(
    ex: &RealExecutor,
    what: &str,
    cond: impl Fn(&[AssetBalance]) -> bool,
) -> Vec<AssetBalance> {
    let deadline = Instant::now() + WAIT;
    let mut n = 100;
    loop {
        let b = query(ex, n).await;
        if cond(&b) {
            return b;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {b:?}"
        );
        n += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The first query asks the venue; the next ones send nothing and answer what the stream's
/// `outboundAccountPosition` wrote (the assets it carries, absolute free and locked), in the same
/// order as a venue answer: base, quote, then every other non-zero asset by name.
#[tokio::test]
async fn queries_after_the_seed_send_nothing_and_follow_the_stream() {
    let stub = venue(&[
        ("BTC", "0.5", "0"),
        ("USDT", "100.00000000", "0.00000000"),
        ("BNB", "0", "0"),
    ])
    .await;
    let ex = executor(&stub);
    let (stream, _rx) = subscribed(&stub, &ex).await;
    assert_eq!(
        query(&ex, 1).await,
        [
            bal("POL", "0", "0"),
            bal("USDT", "100", "0"),
            bal("BTC", "0.5", "0")
        ]
    );
    assert_eq!(stub.count("GET", ACCOUNT), 1);
    stub.ws_send(&position(
        local_now_ms(),
        &[
            ("USDT", "84.17", "15.83000000"),
            ("POL", "100.00000000", "0"),
        ],
    ));
    let b = query_until(&ex, "the streamed balances", |b| b[0].free == d("100")).await;
    assert_eq!(
        b,
        [
            bal("POL", "100", "0"),
            bal("USDT", "84.17", "15.83"),
            bal("BTC", "0.5", "0")
        ]
    );
    stub.ws_send(&position(
        local_now_ms(),
        &[("BTC", "0", "0"), ("ETH", "2", "1")],
    ));
    let b = query_until(&ex, "the second event", |b| {
        b.len() == 3 && b[2].asset == "ETH"
    })
    .await;
    assert_eq!(
        b,
        [
            bal("POL", "100", "0"),
            bal("USDT", "84.17", "15.83"),
            bal("ETH", "2", "1")
        ]
    );
    assert_eq!(
        stub.count("GET", ACCOUNT),
        1,
        "only the seed asked the venue"
    );
    assert_eq!(stream.stats().unreadable.load(Ordering::SeqCst), 0);
    stream.shutdown().await;
}

/// An event whose `u` is before the venue-clock time the seeding request was sent at is already
/// in its answer: it is ignored (it would take the balance back); the events after it apply.
#[tokio::test]
async fn an_account_update_before_the_seed_request_is_ignored() {
    let stub = venue(&[("POL", "10", "0"), ("USDT", "100", "0")]).await;
    let ex = executor(&stub);
    let (stream, _rx) = subscribed(&stub, &ex).await;
    query(&ex, 1).await;
    let sent_ms = stub.seen("GET", ACCOUNT)[0].venue_ms;
    stub.ws_send(&position(sent_ms - 2_000, &[("USDT", "1", "0")]));
    stub.ws_send(&position(sent_ms + 1_000, &[("POL", "11", "0")]));
    let b = query_until(&ex, "the later event", |b| b[0].free == d("11")).await;
    assert_eq!(b, [bal("POL", "11", "0"), bal("USDT", "100", "0")]);
    assert_eq!(stub.count("GET", ACCOUNT), 1);
    stream.shutdown().await;
}

/// An event that comes while the seeding request is out, after it was sent, may be missing from
/// its answer: it is applied over it.
#[tokio::test]
async fn an_account_update_while_the_seed_request_is_out_is_applied_over_its_answer() {
    let stub = venue(&[("POL", "10", "0"), ("USDT", "100", "0")]).await;
    stub.push(
        "GET",
        ACCOUNT,
        Canned::ok(account_body(&[("POL", "10", "0"), ("USDT", "100", "0")]))
            .delayed(Duration::from_millis(500)),
    );
    let ex = executor(&stub);
    let (stream, _rx) = subscribed(&stub, &ex).await;
    let seeding = tokio::spawn({
        let ex = Arc::clone(&ex);
        async move { query(&ex, 1).await }
    });
    wait_until("the seed request", WAIT, || stub.count("GET", ACCOUNT) == 1).await;
    let sent_ms = stub.seen("GET", ACCOUNT)[0].venue_ms;
    stub.ws_send(&position(sent_ms + 1, &[("USDT", "50", "50")]));
    assert_eq!(
        seeding.await.unwrap(),
        [bal("POL", "10", "0"), bal("USDT", "50", "50")]
    );
    assert_eq!(
        query(&ex, 2).await,
        [bal("POL", "10", "0"), bal("USDT", "50", "50")]
    );
    assert_eq!(stub.count("GET", ACCOUNT), 1);
    stream.shutdown().await;
}

/// Events may have been missed while the stream was down: after a reconnect (a broken
/// connection, `eventStreamTerminated`), the next query asks the venue again, and seeds anew.
/// Without a subscribed stream every query asks the venue.
#[tokio::test]
async fn after_a_reconnect_the_next_query_asks_the_venue_again() {
    let stub = venue(&[("POL", "10", "0"), ("USDT", "100", "0")]).await;
    let ex = executor(&stub);
    query(&ex, 1).await;
    query(&ex, 2).await;
    assert_eq!(stub.count("GET", ACCOUNT), 2, "no stream: each query asks");

    let (stream, _rx) = subscribed_with(&stub, &ex, reconnecting(&stub)).await;
    query(&ex, 3).await;
    query(&ex, 4).await;
    assert_eq!(stub.count("GET", ACCOUNT), 3);

    stub.fallback(
        "GET",
        ACCOUNT,
        Canned::ok(account_body(&[("POL", "12", "0"), ("USDT", "90", "0")])),
    );
    stub.ws_close();
    wait_until("a new subscription", WAIT, || stream.subscriptions() == 2).await;
    assert_eq!(
        query(&ex, 5).await,
        [bal("POL", "12", "0"), bal("USDT", "90", "0")]
    );
    query(&ex, 6).await;
    assert_eq!(stub.count("GET", ACCOUNT), 4, "seeded again once");

    stub.ws_send(&fixture("uds_event_stream_terminated_wrapped.json"));
    wait_until("a third subscription", WAIT, || stream.subscriptions() == 3).await;
    query(&ex, 7).await;
    query(&ex, 8).await;
    assert_eq!(stub.count("GET", ACCOUNT), 5, "seeded again once");

    stream.shutdown().await;
    query(&ex, 9).await;
    assert_eq!(
        stub.count("GET", ACCOUNT),
        6,
        "stream stopped: the query asks"
    );
}

/// An `outboundAccountPosition` with a bad amount (NaN, an exponent, a number, a negative free or
/// locked) or a field missing is refused whole and counted as an unreadable frame; the balances
/// kept are dropped (it was a balance change the executor could not read), so the next query asks
/// the venue.
#[tokio::test]
async fn a_malformed_account_update_is_refused_counted_and_drops_the_balances() {
    let stub = venue(&[("POL", "10", "0"), ("USDT", "100", "0")]).await;
    let ex = executor(&stub);
    let (stream, _rx) = subscribed(&stub, &ex).await;
    let seeded = query(&ex, 1).await;
    let u = local_now_ms();
    let good: Value =
        serde_json::from_str(&position(u, &[("POL", "1", "0"), ("USDT", "7", "0")])).unwrap();
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        edit(&mut v["event"]);
        v.to_string()
    };
    let bad = [
        with(&|e| e["B"][1]["f"] = json!("NaN")),
        with(&|e| e["B"][1]["f"] = json!("1e3")),
        with(&|e| e["B"][1]["l"] = json!(0.5)),
        with(&|e| e["B"][1]["f"] = json!("-7")),
        with(&|e| e["B"][1]["l"] = json!("-0.1")),
        with(&|e| {
            e.as_object_mut().unwrap().remove("u");
        }),
    ];
    for (n, frame) in bad.iter().enumerate() {
        stub.ws_send(frame);
        wait_until("the frame counted", WAIT, || {
            stream.stats().unreadable.load(Ordering::SeqCst) == n as u64 + 1
        })
        .await;
        // The balances kept are dropped (the frame may have been a balance change): the next
        // query asks the venue, whose account is unchanged.
        assert_eq!(query(&ex, 2).await, seeded, "after {frame}");
        assert_eq!(stub.count("GET", ACCOUNT), n + 2, "after {frame}");
    }
    stream.shutdown().await;
}
