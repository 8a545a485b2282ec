//! The venue's REST rate limits over real HTTP, with the client written from the protocol notes:
//! the limits `exchangeInfo` lists, the usage headers on every answer, 429s of the weight (-1003) and
//! of the order count (-1015) with `Retry-After`, the order count's window on the venue's clock, and
//! the 418 ban of an IP that goes on sending while a 429's `Retry-After` runs.

mod client;

use std::time::Duration;

use client::{fixture, now_ms, Api};
use exchange_sim::clock::Speed;
use exchange_sim::rate_limit::RateLimits;
use exchange_sim::{RunningVenue, SimConfig};

/// The config of a venue over `[from, to)` of the crash, waiting for its first market client.
fn config(from: &str, to: &str) -> SimConfig {
    client::config(from, to, Speed::Max)
}

async fn start(cfg: SimConfig) -> RunningVenue {
    client::start(&cfg).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_headers_and_429s() {
    let mut cfg = config("2025-10-10T21:10:00Z", "2025-10-10T21:10:10Z");
    cfg.trading.rate_limits = RateLimits {
        weight_per_minute: 400,
        orders_per_10s: 5,
        orders_per_day: 1000,
        ..RateLimits::default()
    };
    let venue = start(cfg).await;
    let api = Api::new(&venue);
    let (_, info) = client::get(&venue, "/api/v3/exchangeInfo").await;
    let limits: Vec<u64> = info["rateLimits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["limit"].as_u64().unwrap())
        .collect();
    assert_eq!(limits, [400, 5, 1000]);
    let fx = fixture("response_headers_order_example.json");
    // Order count: every answer carries it; the limit gives 429 / -1015 with Retry-After (a
    // 10-second window may roll over during the loop: allow two windows).
    let mut last_count = 0;
    let mut refused = None;
    for k in 0..12 {
        let a = api
            .order(&format!("side=BUY&type=LIMIT&timeInForce=GTC&quantity=100&price=0.1000&newClientOrderId=rl-{k}"))
            .await;
        for name in fx
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !k.starts_with('_'))
        {
            assert!(a.header(name).is_some(), "{name} missing");
        }
        if a.status == 429 {
            refused = Some(a);
            break;
        }
        assert_eq!(a.status, 200, "{}", a.body);
        last_count = a.header("x-mbx-order-count-10s").unwrap();
        assert!(a.header("x-mbx-order-count-1d").unwrap() >= last_count);
    }
    let a = refused.expect("a 429");
    assert_eq!(last_count, 5);
    assert_eq!(a.code(), -1015);
    assert_eq!(
        a.body["msg"],
        "Too many new orders; current limit is 5 orders per 10 SECOND."
    );
    let retry: u64 = a.header("retry-after").unwrap();
    assert!((1..=10).contains(&retry), "{retry}");
    // Weight: account costs 20 a call; 400 a minute.
    let mut weights = Vec::new();
    let mut refused = None;
    for _ in 0..30 {
        let a = api
            .signed(reqwest::Method::GET, "/api/v3/account", "")
            .await;
        weights.push(a.header("x-mbx-used-weight-1m").unwrap());
        if a.status == 429 {
            refused = Some(a);
            break;
        }
    }
    let a = refused.expect("a 429");
    assert_eq!(a.code(), -1003);
    assert!(a.body["msg"]
        .as_str()
        .unwrap()
        .contains("400 request weight per 1 MINUTE"));
    assert!((1..=60).contains(&a.header("retry-after").unwrap()));
    assert!(
        weights
            .windows(2)
            .filter(|w| w[1] > w[0])
            .all(|w| w[1] - w[0] == 20),
        "{weights:?}"
    );
    venue.shutdown(Duration::from_millis(100)).await;
}

/// The 10-second order count turns over on the venue's clock, the one `serverTime` reads and a
/// client aligns its windows to, not on the wall clock (up to half a second off it). An order
/// 100 ms before the venue's boundary is still refused; one 100 ms after it is the window's first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_count_turns_over_on_the_venues_clock() {
    let mut cfg = config("2025-10-10T21:10:00Z", "2025-10-10T21:10:10Z");
    cfg.trading.rate_limits.orders_per_10s = 3;
    let venue = start(cfg).await;
    let api = Api::new(&venue);
    let learnt = tokio::time::Instant::now();
    let server_ms = api.server_time().await;
    let at = |venue_ms: u64| learnt + Duration::from_millis(venue_ms - server_ms);
    let mut boundary = (server_ms / 10_000 + 1) * 10_000;
    if boundary - server_ms < 1_500 {
        boundary += 10_000;
    }
    let order = |k: &str| {
        format!(
            "side=BUY&type=LIMIT&timeInForce=GTC&quantity=100&price=0.1000&newClientOrderId=w-{k}"
        )
    };
    tokio::time::sleep_until(at(boundary - 1_000)).await;
    let mut filled = false;
    for k in 0..5 {
        let a = api.order(&order(&k.to_string())).await;
        if a.status == 429 {
            filled = true;
            break;
        }
        assert_eq!(a.status, 200, "{}", a.body);
    }
    assert!(filled, "three orders fill the window");
    tokio::time::sleep_until(at(boundary - 100)).await;
    let a = api.order(&order("before")).await;
    // Asserted only when the answer surely came before the boundary (a slow host may delay it).
    if api.server_time().await < boundary {
        assert_eq!((a.status, a.code()), (429, -1015), "{}", a.body);
    }
    tokio::time::sleep_until(at(boundary + 100)).await;
    let a = api.order(&order("after")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.header("x-mbx-order-count-10s"), Some(1));
    venue.shutdown(Duration::from_millis(100)).await;
}

/// An IP that goes on sending while a weight 429's `Retry-After` runs is banned: at the
/// `ban_after`th such request the answer is HTTP 418 with `Retry-After` (seconds to the ban's end)
/// and the body of `fixtures/errors.json` `ip_banned` (-1003, the ban's end in ms of the venue's
/// clock), for every weighted request until the ban is over. Once over, the IP starts a fresh
/// minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ip_ignoring_429s_is_banned_with_418_until_the_ban_is_over() {
    let mut cfg = config("2025-10-10T21:10:00Z", "2025-10-10T21:10:10Z");
    cfg.trading.rate_limits = RateLimits {
        weight_per_minute: 100,
        ban_after: 2,
        ban_secs: 2,
        ..RateLimits::default()
    };
    let venue = start(cfg).await;
    let api = Api::new(&venue);
    // The venue's clock against the wall clock (read now: `/api/v3/time` is a request too).
    let shift = api.server_time().await as i64 - now_ms() as i64;
    let venue_now = || now_ms() as i64 + shift;
    let depth = || {
        api.raw(
            reqwest::Method::GET,
            "/api/v3/depth",
            "symbol=POLUSDT&limit=500",
            "",
            None,
        )
    };
    // 1 for the time, 25 a request: the fourth is over 100.
    let mut statuses = Vec::new();
    let banned = loop {
        let a = depth().await.unwrap();
        statuses.push(a.status);
        if a.status == 418 {
            break a;
        }
        assert!(statuses.len() < 10, "{statuses:?}");
    };
    // A 429 can come a request later when the venue's minute turns over during the loop.
    let first_429 = statuses.iter().position(|s| *s == 429).unwrap();
    assert!((3..=7).contains(&first_429), "{statuses:?}");
    assert_eq!(statuses[first_429..], [429, 429, 418], "{statuses:?}");
    let fx = fixture("errors.json")["ip_banned"].clone();
    assert_eq!(banned.code(), fx["body"]["code"].as_i64().unwrap());
    let msg = banned.body["msg"].as_str().unwrap();
    let until: i64 = msg
        .strip_prefix("Way too much request weight used; IP banned until ")
        .and_then(|m| {
            m.strip_suffix(". Please use WebSocket Streams for live updates to avoid bans.")
        })
        .unwrap_or_else(|| panic!("{msg}"))
        .parse()
        .unwrap();
    let left = until - venue_now();
    assert!((0..=2_100).contains(&left), "{until} {left}");
    let retry: u64 = banned.header("retry-after").unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    // Every weighted request meets the ban.
    let a = api
        .raw(reqwest::Method::GET, "/api/v3/exchangeInfo", "", "", None)
        .await
        .unwrap();
    assert_eq!((a.status, a.code()), (418, -1003), "{}", a.body);
    // Over: a fresh minute.
    let left = u64::try_from(until - venue_now()).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(left + 100)).await;
    let a = depth().await.unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.header("x-mbx-used-weight-1m"), Some(25));
    venue.shutdown(Duration::from_millis(100)).await;
}
