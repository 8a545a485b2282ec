use super::*;
use proptest::prelude::*;

use IntervalUnit::{Day, Minute, Second};
use RateLimitType::{Orders, RawRequests, RequestWeight};

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../../../tests/fixtures/binance/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap()
}

fn lim(kind: RateLimitType, interval_num: u32, interval: IntervalUnit, limit: u64) -> RateLimit {
    RateLimit {
        kind,
        interval,
        interval_num,
        limit,
    }
}

/// The 2021 BTCUSDT capture's limits.
fn limiter() -> RateLimiter {
    RateLimiter::from_exchange_info(&fixture("exchange_info_btcusdt_nautilus_2021.json"), 0)
        .unwrap()
}

/// New limits from exchangeInfo give full buckets of the new sizes, but a `429` back-off, a
/// `418` ban and the stop of trading it caused stay as they were.
#[test]
fn replaced_limits_keep_a_back_off_a_ban_and_the_stop() {
    let mut r = limiter();
    r.on_status(429, None, Some(30), 0);
    r.replace_limits(&[lim(RequestWeight, 1, Minute, 6000)], 1_000);
    assert_eq!(
        r.try_acquire(1, false, 1_000).unwrap_err(),
        Denied::BackingOff {
            until_ms: 30_000,
            wait_ms: 29_000
        }
    );
    r.try_acquire(1, false, 30_000).unwrap();
    assert_eq!(r.available(RequestWeight, 1, Minute, 30_000), Some(5999));

    let mut r = limiter();
    r.on_status(418, None, Some(120), 0);
    r.replace_limits(&[lim(RequestWeight, 1, Minute, 6000)], 1_000);
    assert_eq!(r.banned(1_000).map(|b| b.until_ms), Some(120_000));
    assert!(!r.resume_trading(60_000));
    assert!(r.resume_trading(120_000));
    r.try_acquire(1, true, 120_000).unwrap();
}

#[test]
fn parses_exchange_info_limits() {
    let l = parse_rate_limits(&fixture("exchange_info_btcusdt_nautilus_2021.json")).unwrap();
    assert_eq!(
        l,
        vec![
            lim(RequestWeight, 1, Minute, 1200),
            lim(Orders, 10, Second, 50),
            lim(Orders, 1, Day, 160_000),
            lim(RawRequests, 5, Minute, 6100),
        ]
    );
    assert_eq!(l[0].suffix(), "1m");
    assert_eq!(l[1].suffix(), "10s");
    assert_eq!(l[2].window_ms(), 86_400_000);
    assert_eq!(l[3].window_ms(), 300_000);
}

#[test]
fn usage_counts_the_current_window_and_refills() {
    let mut l = RateLimiter::new(
        &[
            lim(RequestWeight, 1, Minute, 1200),
            lim(Orders, 10, Second, 50),
        ],
        0,
    );
    l.try_acquire(5, true, 1_000).unwrap();
    l.try_acquire(2, false, 2_000).unwrap();
    let used: Vec<u64> = l.usage(3_000).into_iter().map(|(_, u)| u).collect();
    assert_eq!(used, vec![7, 1]);
    // A new 10 s window empties the ORDERS bucket, not the minute's weight.
    let used: Vec<u64> = l.usage(10_000).into_iter().map(|(_, u)| u).collect();
    assert_eq!(used, vec![7, 0]);
    // A request refused after its charge (by the breaker) is given back.
    l.try_acquire(3, true, 11_000).unwrap();
    l.refund(3, true);
    let used: Vec<u64> = l.usage(11_000).into_iter().map(|(_, u)| u).collect();
    assert_eq!(used, vec![7, 0]);
}

#[test]
fn parses_the_docs_enum_examples() {
    let l = parse_rate_limits(&fixture("rate_limits_enum_examples_docs.json")).unwrap();
    assert_eq!(
        l,
        vec![
            lim(RequestWeight, 1, Minute, 6000),
            lim(Orders, 1, Second, 10),
            lim(RawRequests, 5, Minute, 61_000),
        ]
    );
}

#[test]
fn parse_errors_and_unknown_types() {
    assert!(matches!(
        parse_rate_limits("nope"),
        Err(RateLimitError::Malformed(_))
    ));
    let bad = r#"[{"rateLimitType":"ORDERS","interval":"WEEK","intervalNum":1,"limit":5}]"#;
    assert_eq!(
        parse_rate_limits(bad),
        Err(RateLimitError::Interval {
            kind: "ORDERS",
            interval: "WEEK".into()
        })
    );
    let zero = r#"[{"rateLimitType":"ORDERS","interval":"DAY","intervalNum":1,"limit":0}]"#;
    assert!(matches!(
        parse_rate_limits(zero),
        Err(RateLimitError::Empty { .. })
    ));
    let unknown = r#"[{"rateLimitType":"CONNECTIONS","interval":"MINUTE","intervalNum":5,"limit":300},
            {"rateLimitType":"ORDERS","interval":"DAY","intervalNum":1,"limit":9,"count":3}]"#;
    assert_eq!(
        parse_rate_limits(unknown).unwrap(),
        vec![lim(Orders, 1, Day, 9)]
    );
}

#[test]
fn weight_bucket_empties_and_refills() {
    let mut r = limiter();
    // 1200 weight per minute: 24 requests of weight 50 empty it.
    for _ in 0..24 {
        r.try_acquire(50, false, 0).unwrap();
    }
    assert_eq!(r.available(RequestWeight, 1, Minute, 0), Some(0));
    // The venue's minute runs to 60_000: anything more waits for it, however light.
    let denied = r.try_acquire(1, false, 0).unwrap_err();
    assert_eq!(
        denied,
        Denied::Throttled {
            kind: RequestWeight,
            limit: 1200,
            window_ms: 60_000,
            wait_ms: 60_000
        }
    );
    assert_eq!(
        r.try_acquire(4, false, 20_000).unwrap_err().wait_ms(),
        Some(40_000)
    );
    assert_eq!(
        r.try_acquire(1, false, 59_999).unwrap_err().wait_ms(),
        Some(1)
    );
    r.try_acquire(1, false, 60_000).unwrap();
    assert_eq!(r.available(RequestWeight, 1, Minute, 60_050), Some(1199));
    assert_eq!(r.available(RequestWeight, 1, Minute, 120_000), Some(1200));
}

#[test]
fn order_buckets_per_10_seconds_and_per_day() {
    let mut r = limiter();
    for _ in 0..50 {
        r.try_acquire(1, true, 1_000).unwrap();
    }
    // 50 per 10 s → the next order waits for the venue's next 10 s window (at 10_000);
    // non-order requests still go.
    assert_eq!(
        r.try_acquire(1, true, 1_000).unwrap_err().wait_ms(),
        Some(9_000)
    );
    r.try_acquire(1, false, 1_000).unwrap();
    // The refused order took nothing from the other buckets.
    assert_eq!(
        r.available(RequestWeight, 1, Minute, 1_000),
        Some(1200 - 51)
    );
    assert_eq!(r.available(RawRequests, 5, Minute, 1_000), Some(6100 - 51));
    assert_eq!(r.available(Orders, 1, Day, 1_000), Some(160_000 - 50));
    assert!(r.try_acquire(1, true, 9_999).is_err());
    r.try_acquire(1, true, 10_000).unwrap();
    assert_eq!(r.available(Orders, 10, Second, 10_000), Some(49));
    assert_eq!(r.available(Orders, 1, Day, 10_000), Some(160_000 - 51));

    let mut day = RateLimiter::new(&[lim(Orders, 1, Day, 2)], 0);
    day.try_acquire(1, true, 0).unwrap();
    day.try_acquire(1, true, 0).unwrap();
    // 2 per day → the next order waits for the next UTC day.
    assert_eq!(
        day.try_acquire(1, true, 0).unwrap_err().wait_ms(),
        Some(86_400_000)
    );
}

#[test]
fn raw_requests_count_one_each() {
    let mut r = RateLimiter::new(&[lim(RawRequests, 5, Minute, 3)], 0);
    for _ in 0..3 {
        r.try_acquire(20, false, 0).unwrap();
    }
    assert_eq!(
        r.try_acquire(1, false, 0).unwrap_err().wait_ms(),
        Some(300_000)
    );
}

#[test]
fn heavier_than_the_bucket_never_goes() {
    let mut r = limiter();
    assert_eq!(
        r.try_acquire(1201, false, 0),
        Err(Denied::TooHeavy {
            kind: RequestWeight,
            weight: 1201,
            limit: 1200
        })
    );
    assert_eq!(r.try_acquire(1201, false, 0).unwrap_err().wait_ms(), None);
}

#[test]
fn headers_fixture_corrects_the_buckets() {
    let json: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&fixture("response_headers_order_example.json")).unwrap();
    let headers: Vec<(String, String)> = json
        .iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let mut r = limiter();
    let n = r.observe_headers(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())), 5, 10);
    // x-mbx-used-weight-1m, x-mbx-order-count-10s, x-mbx-order-count-1d; not the
    // suffix-less x-mbx-used-weight.
    assert_eq!(n, 3);
    assert_eq!(r.available(RequestWeight, 1, Minute, 10), Some(1200 - 11));
    assert_eq!(r.available(Orders, 10, Second, 10), Some(50 - 1));
    assert_eq!(r.available(Orders, 1, Day, 10), Some(160_000 - 2));
    assert_eq!(r.available(RawRequests, 5, Minute, 10), Some(6100));
}

#[test]
fn headers_are_case_insensitive_and_only_lower_the_bucket() {
    let mut r = limiter();
    for _ in 0..20 {
        r.try_acquire(1, false, 0).unwrap();
    }
    // The venue counted 11 of our 20: requests in flight; keep our 1180.
    assert_eq!(r.observe_headers([("X-MBX-USED-WEIGHT-1M", "11")], 0, 0), 1);
    assert_eq!(r.available(RequestWeight, 1, Minute, 0), Some(1180));
    // The venue counted more (other processes on the IP): follow it.
    assert_eq!(
        r.observe_headers([("X-Mbx-Used-Weight-1m", " 1195 ")], 0, 0),
        1
    );
    assert_eq!(r.available(RequestWeight, 1, Minute, 0), Some(5));
    assert_eq!(
        r.observe_headers([("x-mbx-used-weight-1m", "5000")], 0, 0),
        1
    );
    assert_eq!(r.available(RequestWeight, 1, Minute, 0), Some(0));
    // No bucket for 1h, bad value, other header.
    assert_eq!(
        r.observe_headers(
            [
                ("x-mbx-used-weight-1h", "1"),
                ("x-mbx-used-weight-1m", "x"),
                ("content-type", "json")
            ],
            0,
            0
        ),
        0
    );
}

#[test]
fn parses_usage_headers() {
    assert_eq!(
        parse_usage_header("x-mbx-order-count-10s", "1"),
        Some(HeaderUsage {
            kind: Orders,
            interval_num: 10,
            interval: Second,
            used: 1
        })
    );
    assert_eq!(parse_usage_header("x-mbx-used-weight", "11"), None);
    assert_eq!(parse_usage_header("x-mbx-used-weight-m", "11"), None);
    assert_eq!(parse_usage_header("x-mbx-used-weight-1x", "11"), None);
    assert_eq!(parse_usage_header("x-mbx-used-weight-1m", "-1"), None);
    assert_eq!(parse_retry_after(" 7 "), Some(7));
    assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
}

#[test]
fn status_429_backs_off_for_retry_after() {
    let mut r = limiter();
    assert_eq!(
        r.on_status(429, None, Some(7), 1_000),
        Some(StatusEvent::BackOff { until_ms: 8_000 })
    );
    assert_eq!(
        r.try_acquire(1, false, 1_000),
        Err(Denied::BackingOff {
            until_ms: 8_000,
            wait_ms: 7_000
        })
    );
    r.try_acquire(1, true, 8_000).unwrap();
    // Without Retry-After: 60 s.
    assert_eq!(
        r.on_status(429, None, None, 10_000),
        Some(StatusEvent::BackOff { until_ms: 70_000 })
    );
    assert_eq!(
        r.try_acquire(1, false, 10_000).unwrap_err().wait_ms(),
        Some(60_000)
    );
    assert_eq!(r.on_status(200, None, None, 10_000), None);
    assert_eq!(r.on_status(500, None, Some(1), 10_000), None);
    assert_eq!(r.trading_stopped(), None);
}

/// A `429` with code `-1015` (too many new orders, possibly a 1-day count) backs off new orders
/// only: cancels and queries still go. A `429` with another code still backs off everything.
#[test]
fn status_429_too_many_orders_backs_off_orders_only() {
    let mut r = limiter();
    assert_eq!(
        r.on_status(429, Some(-1015), Some(3_600), 1_000),
        Some(StatusEvent::OrdersBackOff {
            until_ms: 3_601_000
        })
    );
    assert_eq!(
        r.try_acquire(1, true, 2_000),
        Err(Denied::OrdersBackingOff {
            until_ms: 3_601_000,
            wait_ms: 3_599_000
        })
    );
    r.try_acquire(1, false, 2_000).unwrap();
    r.try_acquire(1, true, 3_601_000).unwrap();
    // Without Retry-After: 60 s, orders only.
    assert_eq!(
        r.on_status(429, Some(-1015), None, 3_700_000),
        Some(StatusEvent::OrdersBackOff {
            until_ms: 3_760_000
        })
    );
    assert_eq!(
        r.try_acquire(1, true, 3_700_000).unwrap_err().wait_ms(),
        Some(60_000)
    );
    r.try_acquire(1, false, 3_700_000).unwrap();
    // -1003 (too much weight) still stops every request.
    assert_eq!(
        r.on_status(429, Some(-1003), Some(5), 3_800_000),
        Some(StatusEvent::BackOff {
            until_ms: 3_805_000
        })
    );
    assert!(matches!(
        r.try_acquire(1, false, 3_800_000),
        Err(Denied::BackingOff { .. })
    ));
    assert_eq!(r.trading_stopped(), None);
}

#[test]
fn status_418_bans_and_stops_trading_until_resumed() {
    let mut r = limiter();
    let ban = Ban {
        since_ms: 5_000,
        until_ms: 125_000,
        cause: StopCause::IpBan,
    };
    assert_eq!(
        r.on_status(418, None, Some(120), 5_000),
        Some(StatusEvent::Banned(ban))
    );
    assert_eq!(r.banned(5_000), Some(ban));
    assert_eq!(r.trading_stopped(), Some(ban));
    assert_eq!(
        r.try_acquire(1, false, 65_000),
        Err(Denied::Banned {
            until_ms: 125_000,
            wait_ms: 60_000
        })
    );
    assert!(!r.resume_trading(124_999));
    // Ban over: queries go, orders stay stopped until resumed.
    assert_eq!(r.banned(125_000), None);
    r.try_acquire(4, false, 125_000).unwrap();
    assert_eq!(
        r.try_acquire(1, true, 125_000),
        Err(Denied::TradingStopped {
            since_ms: 5_000,
            cause: StopCause::IpBan
        })
    );
    assert_eq!(r.try_acquire(1, true, 125_000).unwrap_err().wait_ms(), None);
    assert!(r.resume_trading(125_000));
    assert_eq!(r.trading_stopped(), None);
    r.try_acquire(1, true, 125_000).unwrap();
    // Without Retry-After: the documented shortest ban, 2 minutes.
    assert_eq!(
        r.on_status(418, None, None, 200_000),
        Some(StatusEvent::Banned(Ban {
            since_ms: 200_000,
            until_ms: 320_000,
            cause: StopCause::IpBan,
        }))
    );
    assert_eq!(
        ban.to_string(),
        "the venue banned this IP (HTTP 418) until 125000 ms"
    );
}

/// Refused credentials stop new orders as a ban does, without holding back the other requests
/// (cancels, queries); a stop in force is kept; a resume lifts it at once (no ban to wait for),
/// and the next refusal stops them again.
#[test]
fn refused_credentials_stop_orders_until_resumed() {
    let mut r = limiter();
    let stop = r.stop_for_credentials(-2015, 7_000).unwrap();
    assert_eq!(
        stop,
        Ban {
            since_ms: 7_000,
            until_ms: 7_000,
            cause: StopCause::Credentials { code: -2015 },
        }
    );
    assert!(
        stop.to_string()
            .contains("refused the API key, signature, IP or permissions (code -2015)"),
        "{stop}"
    );
    assert_eq!(r.trading_stopped(), Some(stop));
    assert_eq!(r.stop_for_credentials(-1022, 8_000), None);
    assert_eq!(r.trading_stopped(), Some(stop));
    r.try_acquire(4, false, 8_000).unwrap();
    let refused = r.try_acquire(1, true, 8_000).unwrap_err();
    assert_eq!(
        refused,
        Denied::TradingStopped {
            since_ms: 7_000,
            cause: StopCause::Credentials { code: -2015 }
        }
    );
    assert!(refused.to_string().contains("code -2015"), "{refused}");
    assert!(r.resume_trading(9_000));
    r.try_acquire(1, true, 9_000).unwrap();
    assert!(r.stop_for_credentials(-1022, 10_000).is_some());
}

proptest! {
    #[test]
    fn random_headers_never_panic(name in any::<String>(), value in any::<String>()) {
        let _ = parse_usage_header(&name, &value);
        let mut r = limiter();
        let _ = r.observe_headers([(name.as_str(), value.as_str())], 0, 0);
    }

    #[test]
    fn header_like_names_never_panic(
        prefix in "(?i)x-mbx-(used-weight|order-count)-",
        suffix in "[0-9a-zA-Z]{0,12}",
        value in "[0-9 ]{0,25}",
    ) {
        let name = format!("{prefix}{suffix}");
        let _ = parse_usage_header(&name, &value);
        let mut r = limiter();
        let _ = r.observe_headers([(name.as_str(), value.as_str())], u64::MAX, u64::MAX);
    }

    #[test]
    fn never_admits_more_than_the_limit(
        steps in proptest::collection::vec((0u32..100, any::<bool>(), 0u64..500), 1..200)
    ) {
        let mut r = RateLimiter::new(&[lim(RequestWeight, 1, Second, 100), lim(Orders, 1, Second, 5)], 0);
        let mut now = 0;
        let mut admitted: Vec<(u64, u32, bool)> = Vec::new();
        for (w, order, dt) in steps {
            now += dt;
            if r.try_acquire(w, order, now).is_ok() {
                admitted.push((now, w, order));
            }
        }
        // Inside each of the venue's 1 s windows, never more than the limit.
        for &(start, _, _) in &admitted {
            let window = start - start % 1_000;
            let inside = admitted.iter().filter(|(t, _, _)| *t >= window && *t < window + 1_000);
            let (weight, orders) = inside.fold((0u64, 0u64), |(w, o), (_, ww, oo)| (w + u64::from(*ww), o + u64::from(*oo)));
            prop_assert!(weight <= 100);
            prop_assert!(orders <= 5);
        }
        // Hence over any 1 s span at most twice the limit.
        for &(start, _, _) in &admitted {
            let inside = admitted.iter().filter(|(t, _, _)| *t >= start && *t < start + 1_000);
            let (weight, orders) = inside.fold((0u64, 0u64), |(w, o), (_, ww, oo)| (w + u64::from(*ww), o + u64::from(*oo)));
            prop_assert!(weight <= 200);
            prop_assert!(orders <= 10);
        }
    }

    #[test]
    fn extreme_times_never_panic(t1 in any::<u64>(), t2 in any::<u64>(), secs in any::<Option<u64>>(), status in any::<u16>()) {
        let mut r = limiter();
        let _ = r.try_acquire(u32::MAX, true, t1);
        let _ = r.on_status(status, None, secs, t1);
        let _ = r.try_acquire(1, true, t2);
        let _ = r.resume_trading(t2);
    }
}

/// The usage header of an answer sent in one venue window and read just after the next one began
/// counts the window that is over: it is left out, and the new window starts empty (were it
/// applied, the new minute would start nearly full and every request wait ~a minute, though the
/// venue's count is 0). The same for the 10 s `ORDERS` bucket. A header of a request sent in the
/// current window still corrects it.
#[test]
fn a_header_of_a_request_sent_in_the_window_before_is_left_out() {
    let mut r = RateLimiter::new(
        &[
            lim(RequestWeight, 1, Minute, 6000),
            lim(Orders, 10, Second, 50),
        ],
        0,
    );
    // Sent at 59.950 s (venue minute 0, orders window 50-60 s), read at 60.050 s.
    r.try_acquire(1, true, 59_950).unwrap();
    let stale = [
        ("x-mbx-used-weight-1m", "5990"),
        ("x-mbx-order-count-10s", "50"),
    ];
    assert_eq!(r.observe_headers(stale, 59_950, 60_050), 0);
    assert_eq!(r.try_acquire(20, true, 60_060), Ok(()));
    assert_eq!(
        r.available(RequestWeight, 1, Minute, 60_060),
        Some(6000 - 20)
    );
    assert_eq!(r.available(Orders, 10, Second, 60_060), Some(50 - 1));
    // Sent in the current window: applied.
    let fresh = [
        ("x-mbx-used-weight-1m", "5990"),
        ("x-mbx-order-count-10s", "50"),
    ];
    assert_eq!(r.observe_headers(fresh, 60_070, 60_080), 2);
    assert!(matches!(
        r.try_acquire(20, false, 60_090),
        Err(Denied::Throttled { wait_ms, .. }) if wait_ms > 59_000
    ));
}
