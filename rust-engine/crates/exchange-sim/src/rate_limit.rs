//! Binance's REST rate limits as the venue enforces them (binance-spot-api-docs `rest-api.md`
//! "LIMITS"): request weight per minute and new orders per 10 seconds and per day, each counted in
//! a fixed window of the wall clock, reported on every answer in `X-MBX-USED-WEIGHT-1M`,
//! `X-MBX-ORDER-COUNT-10S` and `X-MBX-ORDER-COUNT-1D`, and listed in `exchangeInfo`'s
//! `rateLimits`. Over a limit the answer is HTTP 429 with `Retry-After` (seconds to the end of the
//! window) and -1003 (weight) or -1015 (orders).
//!
//! "Repeatedly violating rate limits and/or failing to back off after receiving 429s will result in
//! an automated IP ban (HTTP status 418)", and bans "scale in duration for repeat offenders, from 2
//! minutes to 3 days" (the same page). The venue counts the weighted requests that arrive while a
//! weight 429's `Retry-After` still runs: the `ban_after`th is answered 418 and bans the IP for
//! `ban_secs`, each later ban twice as long as the one before, at most 3 days. Every weighted
//! request of a banned IP is answered 418 with `Retry-After` (seconds to the ban's end) and -1003
//! `Way too much request weight used; IP banned until <ms>. ...` (`fixtures/errors.json`
//! `ip_banned`). A ban ends with a fresh minute of weight. A 429 of the order count (-1015) is the
//! account's, not the IP's, and leads to no ban.

use std::sync::Mutex;

/// The limits, as `exchangeInfo` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// `REQUEST_WEIGHT` per 1 MINUTE.
    pub weight_per_minute: u64,
    /// `ORDERS` per 10 SECOND.
    pub orders_per_10s: u64,
    /// `ORDERS` per 1 DAY.
    pub orders_per_day: u64,
    /// Weighted requests during a weight 429's `Retry-After` that bring a 418 ban (0: never).
    pub ban_after: u64,
    /// Length of the first ban, seconds (each later one twice the one before, at most 3 days).
    pub ban_secs: u64,
}

impl Default for RateLimits {
    /// Binance spot's current limits: 6000 weight a minute, 50 orders per 10 s, 160000 a day; a
    /// ban of 2 minutes (Binance's shortest) at the third request that ignores a 429.
    fn default() -> Self {
        RateLimits {
            weight_per_minute: 6000,
            orders_per_10s: 50,
            orders_per_day: 160_000,
            ban_after: 3,
            ban_secs: 120,
        }
    }
}

/// The longest ban, seconds: 3 days.
pub const MAX_BAN_SECS: u64 = 3 * 86_400;
const MINUTE_MS: i64 = 60_000;
const TEN_S_MS: i64 = 10_000;
const DAY_MS: i64 = 86_400_000;

/// One fixed window's counter.
#[derive(Debug, Default, Clone, Copy)]
struct Window {
    start: i64,
    count: u64,
}

impl Window {
    fn roll(&mut self, now_ms: i64, len: i64) {
        let start = now_ms.div_euclid(len) * len;
        if start != self.start {
            *self = Window { start, count: 0 };
        }
    }

    /// Seconds until the window ends, at least 1.
    fn retry_after(&self, now_ms: i64, len: i64) -> u64 {
        secs_until(self.start + len, now_ms)
    }
}

/// Whole seconds from `now_ms` to `end_ms`, rounded up, at least 1 (a `Retry-After`).
fn secs_until(end_ms: i64, now_ms: i64) -> u64 {
    let left = (end_ms - now_ms).max(1);
    u64::try_from((left + 999) / 1000).unwrap_or(1)
}

#[derive(Debug, Default)]
struct Counters {
    weight: Window,
    orders_10s: Window,
    orders_day: Window,
    /// End of the `Retry-After` of the last weight 429 (ms).
    paused_until: i64,
    /// Weighted requests that arrived before `paused_until`.
    ignored: u64,
    /// End of the IP's ban (ms; in the past when not banned).
    banned_until: i64,
    /// Bans so far.
    bans: u32,
}

impl Counters {
    /// The ban the `ignored`th request ignoring a 429 brings at `now_ms`, when it does.
    fn ban(&mut self, limits: &RateLimits, now_ms: i64) -> Option<Exceeded> {
        if limits.ban_after == 0 || now_ms >= self.paused_until {
            return None;
        }
        self.ignored += 1;
        if self.ignored < limits.ban_after {
            return None;
        }
        let secs = limits
            .ban_secs
            .saturating_mul(1 << self.bans.min(20))
            .min(MAX_BAN_SECS);
        self.bans += 1;
        self.banned_until = now_ms.saturating_add(i64::try_from(secs * 1000).unwrap_or(i64::MAX));
        self.paused_until = 0;
        self.ignored = 0;
        // Nothing counts while banned: the ban ends with a fresh minute.
        self.weight.count = 0;
        Some(self.banned(now_ms))
    }

    /// The 418 answered while banned.
    fn banned(&self, now_ms: i64) -> Exceeded {
        Exceeded {
            status: 418,
            code: -1003,
            msg: format!(
                "Way too much request weight used; IP banned until {}. Please use WebSocket Streams for live updates to avoid bans.",
                self.banned_until
            ),
            retry_after: secs_until(self.banned_until, now_ms),
        }
    }
}

/// A limit was hit, or the IP is banned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    /// The HTTP status: 429, or 418 for a ban.
    pub status: u16,
    /// -1003 or -1015.
    pub code: i64,
    /// Binance's message.
    pub msg: String,
    /// Seconds to wait.
    pub retry_after: u64,
}

/// Used weight and order counts, for the headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Weight used this minute.
    pub weight: u64,
    /// Orders these 10 seconds.
    pub orders_10s: u64,
    /// Orders today.
    pub orders_day: u64,
}

/// The venue's counters (one account, one IP: Binance counts weight by IP, orders by account).
#[derive(Debug, Default)]
pub struct RateLimiter {
    /// The limits.
    pub limits: RateLimits,
    counters: Mutex<Counters>,
}

impl RateLimiter {
    /// Counters for `limits`.
    pub fn new(limits: RateLimits) -> Self {
        RateLimiter {
            limits,
            counters: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `weight` at `now_ms`.
    ///
    /// # Errors
    /// [`Exceeded`] (-1003): 429 when the minute's weight is over the limit, 418 while the IP is
    /// banned or when this request brings a ban (see the module documentation).
    pub fn add_weight(&self, weight: u64, now_ms: i64) -> Result<(), Exceeded> {
        if weight == 0 {
            return Ok(());
        }
        let mut c = self.lock();
        if now_ms < c.banned_until {
            return Err(c.banned(now_ms));
        }
        if let Some(ban) = c.ban(&self.limits, now_ms) {
            return Err(ban);
        }
        c.weight.roll(now_ms, MINUTE_MS);
        c.weight.count += weight;
        if c.weight.count > self.limits.weight_per_minute {
            if now_ms >= c.paused_until {
                c.ignored = 0;
            }
            c.paused_until = c.weight.start + MINUTE_MS;
            return Err(Exceeded {
                status: 429,
                code: -1003,
                msg: format!(
                    "Too much request weight used; current limit is {} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
                    self.limits.weight_per_minute
                ),
                retry_after: c.weight.retry_after(now_ms, MINUTE_MS),
            });
        }
        Ok(())
    }

    /// Counts one new order at `now_ms`, unless that would pass a limit.
    ///
    /// # Errors
    /// [`Exceeded`] (-1015) and nothing counted.
    pub fn add_order(&self, now_ms: i64) -> Result<(), Exceeded> {
        let mut c = self.lock();
        c.orders_10s.roll(now_ms, TEN_S_MS);
        c.orders_day.roll(now_ms, DAY_MS);
        let l = self.limits;
        let over = if c.orders_10s.count >= l.orders_per_10s {
            Some((
                l.orders_per_10s,
                "10 SECOND",
                c.orders_10s.retry_after(now_ms, TEN_S_MS),
            ))
        } else if c.orders_day.count >= l.orders_per_day {
            Some((
                l.orders_per_day,
                "1 DAY",
                c.orders_day.retry_after(now_ms, DAY_MS),
            ))
        } else {
            None
        };
        if let Some((limit, per, retry_after)) = over {
            return Err(Exceeded {
                status: 429,
                code: -1015,
                msg: format!("Too many new orders; current limit is {limit} orders per {per}."),
                retry_after,
            });
        }
        c.orders_10s.count += 1;
        c.orders_day.count += 1;
        Ok(())
    }

    /// Current usage at `now_ms`.
    pub fn usage(&self, now_ms: i64) -> Usage {
        let mut c = self.lock();
        c.weight.roll(now_ms, MINUTE_MS);
        c.orders_10s.roll(now_ms, TEN_S_MS);
        c.orders_day.roll(now_ms, DAY_MS);
        Usage {
            weight: c.weight.count,
            orders_10s: c.orders_10s.count,
            orders_day: c.orders_day.count,
        }
    }
}

/// The weight of a REST request (binance-spot-api-docs `rest-api.md`), 0 for WebSocket upgrades
/// and the simulator's own endpoints.
pub fn weight(method: &str, path: &str, query: &str) -> u64 {
    let has = |k: &str| query.split('&').any(|s| s.split('=').next() == Some(k));
    match (method, path) {
        (_, p) if p.starts_with("/ws") || p.starts_with("/stream") || p.starts_with("/sim/") => 0,
        ("GET", "/api/v3/depth") => {
            let limit = query
                .split('&')
                .find_map(|s| s.strip_prefix("limit="))
                .and_then(|l| l.parse::<u64>().ok())
                .unwrap_or(100);
            match limit {
                0..=100 => 5,
                101..=500 => 25,
                501..=1000 => 50,
                _ => 250,
            }
        }
        ("GET", "/api/v3/exchangeInfo") => 20,
        ("GET", "/api/v3/order") => 4,
        ("GET", "/api/v3/openOrders") => {
            if has("symbol") {
                6
            } else {
                80
            }
        }
        ("GET", "/api/v3/account") => 20,
        ("GET", "/api/v3/myTrades") => {
            if has("orderId") {
                5
            } else {
                20
            }
        }
        (_, "/api/v3/userDataStream") => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights() {
        assert_eq!(weight("GET", "/api/v3/depth", "symbol=X"), 5);
        assert_eq!(weight("GET", "/api/v3/depth", "symbol=X&limit=5000"), 250);
        assert_eq!(weight("GET", "/api/v3/openOrders", "timestamp=1"), 80);
        assert_eq!(
            weight("GET", "/api/v3/openOrders", "symbol=X&timestamp=1"),
            6
        );
        assert_eq!(weight("POST", "/api/v3/order", ""), 1);
        assert_eq!(weight("GET", "/ws/x", ""), 0);
    }

    #[test]
    fn windows_limit_and_reset() {
        let r = RateLimiter::new(RateLimits {
            weight_per_minute: 10,
            orders_per_10s: 2,
            orders_per_day: 3,
            ..RateLimits::default()
        });
        let t = 1_700_000_040_000; // a whole minute
        assert!(r.add_weight(10, t).is_ok());
        assert!(
            r.add_weight(0, t).is_ok(),
            "weightless requests always pass"
        );
        let e = r.add_weight(1, t + 30_000).unwrap_err();
        assert_eq!((e.code, e.retry_after), (-1003, 30));
        assert!(r.add_weight(10, t + 60_000).is_ok());
        assert!(r.add_order(t).is_ok() && r.add_order(t + 1).is_ok());
        let e = r.add_order(t + 2).unwrap_err();
        assert_eq!(e.code, -1015);
        assert!(e.msg.contains("2 orders per 10 SECOND"), "{}", e.msg);
        assert_eq!(r.usage(t + 3).orders_10s, 2);
        assert!(r.add_order(t + 10_000).is_ok());
        let e = r.add_order(t + 20_000).unwrap_err();
        assert!(e.msg.contains("per 1 DAY"), "{}", e.msg);
        assert_eq!(
            r.usage(t + 20_000),
            Usage {
                weight: 0,
                orders_10s: 0,
                orders_day: 3
            }
        );
    }

    /// A client that goes on sending while its 429's `Retry-After` runs is banned at the
    /// `ban_after`th such request: 418 with the ban's end in the message, `Retry-After` to it; every
    /// weighted request is refused until then (weightless ones pass), and the ban ends with a fresh
    /// minute. Waiting out `Retry-After` is no offence; a repeat offender's ban is twice as long.
    #[test]
    fn ignoring_a_429_brings_a_ban_twice_as_long_each_time() {
        let r = RateLimiter::new(RateLimits {
            weight_per_minute: 10,
            ban_after: 2,
            ban_secs: 5,
            ..RateLimits::default()
        });
        let t = 1_700_000_040_000; // a whole minute
        assert!(r.add_weight(10, t).is_ok());
        let e = r.add_weight(1, t + 50_000).unwrap_err();
        assert_eq!((e.status, e.code, e.retry_after), (429, -1003, 10));
        // The first request inside the pause is one more 429; the second is banned.
        let e = r.add_weight(1, t + 51_000).unwrap_err();
        assert_eq!(e.status, 429);
        let e = r.add_weight(1, t + 52_000).unwrap_err();
        let until = t + 57_000;
        assert_eq!((e.status, e.code, e.retry_after), (418, -1003, 5));
        assert_eq!(
            e.msg,
            format!("Way too much request weight used; IP banned until {until}. Please use WebSocket Streams for live updates to avoid bans.")
        );
        let e = r.add_weight(1, t + 56_100).unwrap_err();
        assert_eq!((e.status, e.retry_after), (418, 1));
        assert!(
            r.add_weight(0, t + 56_100).is_ok(),
            "weightless requests pass"
        );
        // Over: the same minute, its weight fresh.
        assert!(r.add_weight(10, until).is_ok());
        assert_eq!(r.usage(until).weight, 10);
        // Waiting out each Retry-After is no offence.
        let e = r.add_weight(1, until + 1).unwrap_err();
        assert_eq!((e.status, e.retry_after), (429, 3));
        assert!(r.add_weight(1, t + 60_000).is_ok());
        // A second offence: 10 s.
        assert!(r.add_weight(9, t + 60_000).is_ok());
        assert_eq!(r.add_weight(1, t + 61_000).unwrap_err().status, 429);
        assert_eq!(r.add_weight(1, t + 61_500).unwrap_err().status, 429);
        let e = r.add_weight(1, t + 62_000).unwrap_err();
        assert_eq!((e.status, e.retry_after), (418, 10));
        assert!(r.add_weight(1, t + 72_000).is_ok());
    }

    /// `ban_after` 0: a client ignoring 429s meets 429s only. The order count's 429 (-1015) is the
    /// account's and leads to no ban.
    #[test]
    fn no_ban_when_off_or_for_the_order_count() {
        let r = RateLimiter::new(RateLimits {
            weight_per_minute: 10,
            ban_after: 0,
            ..RateLimits::default()
        });
        let t = 1_700_000_040_000;
        assert!(r.add_weight(10, t).is_ok());
        for k in 1..50 {
            assert_eq!(r.add_weight(1, t + k).unwrap_err().status, 429);
        }
        let r = RateLimiter::new(RateLimits {
            orders_per_10s: 1,
            ban_after: 1,
            ..RateLimits::default()
        });
        assert!(r.add_order(t).is_ok());
        for k in 1..10 {
            let e = r.add_order(t + k).unwrap_err();
            assert_eq!((e.status, e.code), (429, -1015));
            assert!(r.add_weight(1, t + k).is_ok());
        }
    }

    /// The longest ban is 3 days, however often the IP offends.
    #[test]
    fn bans_stop_growing_at_three_days() {
        let r = RateLimiter::new(RateLimits {
            weight_per_minute: 1,
            ban_after: 1,
            ban_secs: 86_400,
            ..RateLimits::default()
        });
        let mut t = 1_700_000_040_000;
        let mut lengths = Vec::new();
        for _ in 0..4 {
            assert!(r.add_weight(1, t).is_ok());
            assert_eq!(r.add_weight(1, t + 1).unwrap_err().status, 429);
            let e = r.add_weight(1, t + 2).unwrap_err();
            assert_eq!(e.status, 418);
            lengths.push(e.retry_after);
            t += i64::try_from(e.retry_after).unwrap() * 1000 + 60_000;
        }
        assert_eq!(lengths, [86_400, 172_800, MAX_BAN_SECS, MAX_BAN_SECS]);
    }
}
