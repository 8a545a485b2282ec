//! Binance's REST rate limits as the venue enforces them (binance-spot-api-docs `rest-api.md`
//! "LIMITS"): request weight per minute and new orders per 10 seconds and per day, each counted in
//! a fixed window of the wall clock, reported on every answer in `X-MBX-USED-WEIGHT-1M`,
//! `X-MBX-ORDER-COUNT-10S` and `X-MBX-ORDER-COUNT-1D`, and listed in `exchangeInfo`'s
//! `rateLimits`. Over a limit the answer is HTTP 429 with `Retry-After` (seconds to the end of the
//! window) and -1003 (weight) or -1015 (orders).

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
}

impl Default for RateLimits {
    /// Binance spot's current limits: 6000 weight a minute, 50 orders per 10 s, 160000 a day.
    fn default() -> Self {
        RateLimits {
            weight_per_minute: 6000,
            orders_per_10s: 50,
            orders_per_day: 160_000,
        }
    }
}

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
        let left = (self.start + len - now_ms).max(1);
        u64::try_from((left + 999) / 1000).unwrap_or(1)
    }
}

#[derive(Debug, Default)]
struct Counters {
    weight: Window,
    orders_10s: Window,
    orders_day: Window,
}

/// A limit was hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
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
    /// [`Exceeded`] (-1003) when the minute's weight is over the limit.
    pub fn add_weight(&self, weight: u64, now_ms: i64) -> Result<(), Exceeded> {
        if weight == 0 {
            return Ok(());
        }
        let mut c = self.lock();
        c.weight.roll(now_ms, MINUTE_MS);
        c.weight.count += weight;
        if c.weight.count > self.limits.weight_per_minute {
            return Err(Exceeded {
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
}
