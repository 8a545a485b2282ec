//! The venue's limits and failures: rate limits (429, 418), the circuit breaker, the server clock.

use crate::support::*;

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
    let first = ex.query(&q).await.pop().unwrap();
    assert!(
        matches!(&first, Response::Error(e) if e.code == ErrorCode::Venue && e.message.contains("429")),
        "{first:?}"
    );
    let second = ex.query(&q).await.pop().unwrap();
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
    let out = ex.place(&bid("b1")).await;
    assert_eq!(error_of(&out).code, ErrorCode::Halted);
    assert!(ex.client().trading_stopped().is_some());
    let out = ex.place(&bid("b2")).await;
    assert_eq!(error_of(&out).code, ErrorCode::Halted);
    assert_eq!(stub.count("POST", ORDER), 1);
    // Still stopped once the ban is over, until resumed.
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    let out = ex.place(&bid("b3")).await;
    assert!(
        error_of(&out).message.contains("trading stopped"),
        "{out:?}"
    );
    assert_eq!(stub.count("POST", ORDER), 1);
    assert!(ex.client().resume_trading());
}

/// Refused credentials (`-2015` "Invalid API-key, IP, or permissions for action.", `-1022` a bad
/// signature) would refuse every order the same way: the answer is `HALTED` and trading stops as
/// after a `418` (`trading_stopped`, which the engine halts on, naming the cause), so the next
/// order is refused unsent; a cancel still goes (it reduces risk). A resume lets orders go again,
/// and the next refusal stops them again.
#[tokio::test]
async fn refused_credentials_stop_trading_as_a_ban_does() {
    use execution_engine::rate_limit::StopCause;
    let stub = Stub::start().await;
    stub.push(
        "POST",
        ORDER,
        Canned::err(
            401,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        ),
    );
    let ex = executor(&stub);
    assert!(ex.client().trading_stopped().is_none());
    let out = ex.place(&bid("c1")).await;
    assert_eq!(error_of(&out).code, ErrorCode::Halted);
    let stop = ex.client().trading_stopped().expect("trading stopped");
    assert_eq!(stop.cause, StopCause::Credentials { code: -2015 });
    assert!(stop.to_string().contains("code -2015"), "{stop}");
    let out = ex.place(&bid("c2")).await;
    let e = error_of(&out);
    assert_eq!(e.code, ErrorCode::Halted);
    assert!(e.message.contains("trading stopped"), "{}", e.message);
    assert_eq!(stub.count("POST", ORDER), 1);
    stub.push(
        "DELETE",
        ORDER,
        Canned::err(400, -2011, "Unknown order sent."),
    );
    let cancel = CancelOrder {
        command_id: "x".into(),
        ts_ns: 0,
        symbol: "POLUSDT".into(),
        client_order_id: "c0".into(),
    };
    assert_eq!(
        error_of(&ex.cancel(&cancel).await).code,
        ErrorCode::UnknownOrder
    );
    assert_eq!(stub.count("DELETE", ORDER), 1);
    assert!(ex.client().resume_trading());
    assert!(ex.client().trading_stopped().is_none());
    stub.push(
        "POST",
        ORDER,
        Canned::err(400, -1022, "Signature for this request is not valid."),
    );
    assert_eq!(
        error_of(&ex.place(&bid("c3")).await).code,
        ErrorCode::Halted
    );
    assert_eq!(stub.count("POST", ORDER), 2);
    assert_eq!(
        ex.client().trading_stopped().map(|s| s.cause),
        Some(StopCause::Credentials { code: -1022 })
    );
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
    let ex = tripping(rest_config(&stub), 3, 60_000);
    for i in 0..3 {
        let out = ex.place(&bid(&format!("f{i}"))).await;
        assert_eq!(error_of(&out).code, ErrorCode::Venue);
    }
    assert!(matches!(
        ex.client().breaker_state(),
        BreakerState::Open { .. }
    ));
    let out = ex.place(&bid("f9")).await;
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

/// The half-open breaker's probe answered with a refusal (a balance too low, then a -1021 of our
/// clock, re-sent once): the venue answered, so the breaker closes and the next order goes, instead
/// of every order being refused "waiting for the probe's outcome" for ever.
#[tokio::test]
async fn a_probe_the_venue_refuses_closes_the_breaker() {
    for refusal in [
        (
            -2010,
            "Account has insufficient balance for requested action.",
        ),
        (
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        ),
    ] {
        let stub = Stub::start().await;
        stub.push("POST", ORDER, Canned::err(502, -1000, "Bad gateway"));
        stub.push("POST", ORDER, Canned::err(502, -1000, "Bad gateway"));
        stub.push("POST", ORDER, Canned::err(400, refusal.0, refusal.1));
        let later = place("later", OrderType::Limit, Side::Sell, "100", Some("0.20"));
        stub.fallback(
            "POST",
            ORDER,
            Canned::ok(full_body(&later, 9, "NEW", "0", "0", &[])),
        );
        stub.fallback(
            "GET",
            ORDER,
            Canned::err(400, -2013, "Order does not exist."),
        );
        let ex = tripping(rest_config(&stub), 2, 200);
        for i in 0..2 {
            ex.place(&bid(&format!("p{i}"))).await;
        }
        assert!(matches!(
            ex.client().breaker_state(),
            BreakerState::Open { .. }
        ));
        tokio::time::sleep(Duration::from_millis(300)).await;
        ex.place(&bid("probe")).await;
        assert_eq!(
            ex.client().breaker_state(),
            BreakerState::Closed,
            "{refusal:?}"
        );
        let out = ex.place(&later).await;
        assert!(
            matches!(out.as_slice(), [Response::OrderPlaced(_)]),
            "{refusal:?}: {out:?}"
        );
    }
}

#[tokio::test]
async fn server_clock_offset_is_applied_and_minus_1021_resyncs() {
    let stub = Stub::start().await;
    stub.set_time_offset(30_000);
    let cmd = bid("k1");
    stub.push(
        "POST",
        ORDER,
        Canned::err(
            400,
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        ),
    );
    accepts(&stub, &cmd, 8);
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
        let local = crate::stub_venue::now_ms();
        assert!(
            ts > local + 28_000 && ts < local + 31_000,
            "timestamp {ts} vs local {local}"
        );
    }
}

/// The venue counts new orders in windows of its clock. Its clock is learnt from a time sample
/// that assumes it was read mid-round-trip; this venue reads it at the end of a 200-ms round trip,
/// so the estimate runs ~100 ms ahead. A second order, held back by a limit of one per 10 s, goes
/// only once the earliest the venue's clock may read has passed the window's start: it arrives
/// in the venue's next window (sent on the estimate alone it arrived ~100 ms early, and met a 429).
#[tokio::test]
async fn an_order_window_is_begun_only_when_the_venues_clock_surely_has() {
    use execution_engine::rate_limit::{IntervalUnit, RateLimit, RateLimitType};
    let stub = Stub::start().await;
    stub.state().time_read_delay = Duration::from_millis(200);
    let one_per_10s = RateLimit {
        kind: RateLimitType::Orders,
        interval: IntervalUnit::Second,
        interval_num: 10,
        limit: 1,
    };
    let mut rc = rest_config(&stub);
    rc.max_rate_wait = Duration::from_secs(11);
    let limiter = RateLimiter::new(&[one_per_10s], local_now_ms());
    let client = RestClient::new(
        rc,
        Credentials::new(API_KEY, ApiSecret::new(SECRET)),
        limiter,
    );
    let ex = executor_with(Arc::new(client.unwrap()), exec_config());
    let (first, second) = (bid("w1"), bid("w2"));
    accepts(&stub, &first, 1);
    accepts(&stub, &second, 2);
    for cmd in [&first, &second] {
        let out = ex.place(cmd).await;
        assert!(
            matches!(out.as_slice(), [Response::OrderPlaced(_)]),
            "{out:?}"
        );
    }
    let arrived: Vec<u64> = stub
        .seen("POST", ORDER)
        .iter()
        .map(|s| s.venue_ms)
        .collect();
    let boundary = (arrived[0] / 10_000 + 1) * 10_000;
    // Up to 2 ms early: the clocks' millisecond rounding, and the legs of a loopback round trip.
    assert!(
        arrived[1] + 2 >= boundary,
        "{arrived:?}: {} ms early",
        boundary - arrived[1]
    );
}

/// Transport failures (the new order's request timed out: outcome unknown) are venue faults that
/// feed the circuit breaker like `5XX` answers: after the trip count it opens and the next order
/// is refused (`HALTED`) without being sent.
#[tokio::test]
async fn breaker_opens_after_repeated_timeouts() {
    let stub = Stub::start().await;
    stub.fallback(
        "POST",
        ORDER,
        Canned::ok("{}").delayed(Duration::from_secs(5)),
    );
    stub.fallback(
        "GET",
        ORDER,
        Canned::err(400, -2013, "Order does not exist."),
    );
    let mut rc = rest_config(&stub);
    rc.request_timeout = Duration::from_millis(200);
    let ex = tripping(rc, 2, 60_000);
    for i in 0..2 {
        let out = ex.place(&bid(&format!("to{i}"))).await;
        let e = error_of(&out);
        assert!(e.message.contains("unknown outcome"), "{}", e.message);
    }
    assert!(
        matches!(ex.client().breaker_state(), BreakerState::Open { .. }),
        "{:?}",
        ex.client().breaker_state()
    );
    let out = ex.place(&bid("to9")).await;
    let e = error_of(&out);
    assert_eq!(e.code, ErrorCode::Halted);
    assert!(e.message.contains("circuit open"), "{}", e.message);
    assert_eq!(stub.count("POST", ORDER), 2);
}

/// A `-1021` (timestamp rejected: never executed) is re-sent once after a clock resync, and
/// only once: when the venue rejects the timestamp again, the order is answered with an error.
#[tokio::test]
async fn minus_1021_is_resent_only_once() {
    let stub = Stub::start().await;
    stub.fallback(
        "POST",
        ORDER,
        Canned::err(
            400,
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        ),
    );
    let ex = executor(&stub);
    let out = ex.place(&bid("k2")).await;
    let e = error_of(&out);
    assert!(e.message.contains("-1021"), "{}", e.message);
    assert_eq!(stub.count("POST", ORDER), 2);
    assert_eq!(ex.open_count(), 0);
}

/// The venue's weight limits count per IP: a client sharing the feed's [`IpPause`] sends nothing
/// while a 418 answered to the feed lasts (and stops trading, as its own 418 would), and a 429 or 418 answered to the client pauses the feed;
/// a 429 of the order count (`-1015`) is the account's alone and pauses nothing shared.
#[tokio::test]
async fn a_pause_the_venue_asked_of_the_ip_is_shared_with_the_feed() {
    use feed_handler::rest::IpPause;
    let stub = Stub::start().await;
    let shared_client = |pause: &Arc<IpPause>| {
        let mut rc = rest_config(&stub);
        rc.max_rate_wait = Duration::from_millis(100);
        executor_with(Arc::new(sharing(rc, pause)), exec_config())
    };
    let q = QueryOrder {
        command_id: "q".into(),
        ts_ns: 0,
        symbol: "POLUSDT".into(),
        client_order_id: "q1".into(),
    };
    // The feed was answered 418 for two minutes: the client waits it out without a request.
    let pause = Arc::new(IpPause::default());
    let ex = shared_client(&pause);
    pause.pause(418, Duration::from_secs(120), pause.now_ms());
    let out = ex.query(&q).await;
    assert!(
        error_of(&out).message.contains("IP banned (HTTP 418)"),
        "{out:?}"
    );
    assert_eq!(stub.count("GET", ORDER), 0);
    // ... and stops trading as a ban answered to the client does: the engine halts on it, and no
    // order goes before the ban is over and trading resumed.
    let ban = ex.client().trading_stopped().expect("trading stopped");
    assert!(ban.until_ms >= ban.since_ms + 119_000, "{ban:?}");
    assert!(!ex.client().resume_trading());

    // A 429 answered to the client pauses the feed for its Retry-After.
    let pause = Arc::new(IpPause::default());
    let ex = shared_client(&pause);
    stub.push(
        "GET",
        ORDER,
        Canned::err(429, -1003, "Too much request weight used").header("retry-after", "30"),
    );
    ex.query(&q).await;
    let (wait, status) = pause.remaining(pause.now_ms()).expect("paused");
    assert_eq!(status, 429);
    assert!(
        wait > Duration::from_secs(28) && wait <= Duration::from_secs(30),
        "{wait:?}"
    );

    // Too many new orders (-1015) backs off this account's orders only.
    let pause = Arc::new(IpPause::default());
    let ex = shared_client(&pause);
    stub.push(
        "POST",
        ORDER,
        Canned::err(429, -1015, "Too many new orders.").header("retry-after", "30"),
    );
    ex.place(&bid("b1")).await;
    assert_eq!(stub.count("POST", ORDER), 1);
    assert_eq!(pause.remaining(pause.now_ms()), None);
}

/// A client on `config` with the venue's rate limits, sharing `pause` with the feed.
fn sharing(config: RestConfig, pause: &Arc<feed_handler::rest::IpPause>) -> RestClient {
    RestClient::new(
        config,
        Credentials::new(API_KEY, ApiSecret::new(SECRET)),
        RateLimiter::from_exchange_info(
            &fixture("exchange_info_btcusdt_nautilus_2021.json"),
            local_now_ms(),
        )
        .unwrap(),
    )
    .unwrap()
    .with_ip_pause(Arc::clone(pause))
}

/// An entry with a deadline is not sent once the wait for the venue would pass it: with the IP
/// paused for 2 s (a 429 the feed met), a buy whose deadline is 100 ms away is refused as
/// `VALIDATION` of `ts_ns` without a request, not even the clock sync due before it (without a
/// deadline, it waits the pause out and is sent);
/// a buy without one still waits and goes.
#[tokio::test]
async fn an_entry_is_not_sent_past_its_deadline() {
    use feed_handler::rest::IpPause;
    use std::time::Instant;
    let stub = Stub::start().await;
    let pause = Arc::new(IpPause::default());
    let client = sharing(rest_config(&stub), &pause);
    let ex = executor_with(Arc::new(client), exec_config());
    pause.pause(429, Duration::from_secs(2), pause.now_ms());
    let out = ex
        .place_by(
            &bid("late"),
            Some(Instant::now() + Duration::from_millis(100)),
        )
        .await;
    let e = error_of(&out);
    assert_eq!(
        (e.code, e.field.as_deref()),
        (ErrorCode::Validation, Some("ts_ns")),
        "{e:?}"
    );
    assert!(e.message.contains("max_entry_delay_ms"), "{}", e.message);
    assert_eq!(stub.count("POST", ORDER), 0);
    // Nor did the clock sync due before it (the client never synced) wait the pause out.
    assert_eq!(stub.count("GET", TIME), 0);
    assert_eq!(ex.open_count(), 0);
    // Not kept: the same client order id can go once the pause is over.
    stub.push(
        "POST",
        ORDER,
        Canned::ok(full_body(&bid("late"), 7, "NEW", "0", "0", &[])),
    );
    let out = ex.place(&bid("late")).await;
    assert!(matches!(out[0], Response::OrderPlaced(_)), "{out:?}");
    assert_eq!(stub.count("POST", ORDER), 1);
}

/// A ban the feed met stops trading without any request of the client (the engine's worker looks
/// every second), is recorded again when a longer one follows an expired one, and `Resume` is
/// refused while the shared pause is a ban.
#[tokio::test]
async fn a_ban_the_feed_met_stops_trading_until_it_is_over() {
    use feed_handler::rest::IpPause;
    let stub = Stub::start().await;
    let pause = Arc::new(IpPause::default());
    let client = sharing(rest_config(&stub), &pause);
    client.note_shared_ban();
    assert_eq!(client.trading_stopped(), None); // no pause, no ban
    pause.pause(418, Duration::from_secs(1), pause.now_ms());
    client.note_shared_ban();
    let first = client.trading_stopped().expect("stopped without a request");
    assert_eq!(stub.count("GET", TIME) + stub.count("POST", ORDER), 0);
    assert!(!client.resume_trading(), "resumed during the ban");
    // The first ban runs out; before anyone resumed, the feed meets a longer one.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    pause.pause(418, Duration::from_secs(120), pause.now_ms());
    client.note_shared_ban();
    let second = client.trading_stopped().expect("still stopped");
    assert!(
        second.until_ms >= first.until_ms + 100_000,
        "{first:?} {second:?}"
    );
    assert!(!client.resume_trading(), "resumed during the second ban");
}

/// An executor on `rc` whose breaker opens after `failures` venue faults in a row for
/// `cool_down_ms`; an unknown outcome is looked for 30 ms only.
fn tripping(mut rc: RestConfig, failures: u32, cool_down_ms: u64) -> Arc<RealExecutor> {
    rc.breaker = BreakerConfig {
        trip: Trip::Consecutive(failures),
        cool_down_ms,
    };
    let mut ec = exec_config();
    ec.unknown_outcome_window = Duration::from_millis(30);
    executor_with(client_with(rc, SECRET), ec)
}
