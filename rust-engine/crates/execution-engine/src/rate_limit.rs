//! Client-side rate limiting from the venue's `rateLimits` (exchangeInfo; binance-spot-api-docs
//! `rest-api.md` "LIMITS", `enums.md` "Rate limiters").
//!
//! * One token bucket per limit: `REQUEST_WEIGHT` (charged the request's weight), `ORDERS`
//!   (charged 1 per new order, e.g. 50 per 10 SECOND and 160000 per 1 DAY) and `RAW_REQUESTS`
//!   (charged 1 per request). A bucket holds `limit` tokens and is refilled in full when the
//!   venue's window of `intervalNum × interval` turns over: Binance counts each limit in fixed
//!   windows of its clock (a minute's weight resets on the minute), so a bucket refilled
//!   continuously would let through up to twice the limit inside one venue window and earn a
//!   `429`. Pass the venue's clock (local time plus the server offset) as `now_ms`.
//! * Every answer carries `X-MBX-USED-WEIGHT-<n><unit>` and successful orders
//!   `X-MBX-ORDER-COUNT-<n><unit>` (names arrive lower-case); the venue's count corrects the
//!   bucket when it is higher than ours (never lower: requests still in flight are not in it),
//!   unless the request was sent in an earlier window of the bucket than the current one (its
//!   count is of a window that is over).
//! * `429` → back off for `Retry-After` seconds; `418` → the IP is banned for `Retry-After`
//!   seconds ("from 2 minutes to 3 days"): every request waits, and new orders stay stopped
//!   until [`RateLimiter::resume_trading`] after the ban, so the executor can raise an alert.
//!   Refused credentials (`-1022`, `-2014`, `-2015`) stop new orders the same way
//!   ([`RateLimiter::stop_for_credentials`]).
//!   A `429` with code `-1015` (too many new orders: the `ORDERS` count, up to a 1-day window)
//!   backs off new orders only: cancels and queries count against the weight limits, not it, and
//!   still go.
//!
//! Time is passed in (ms), never read here.

use serde::Deserialize;

/// The defaults of a `429` or `418` without `Retry-After`, and its reading, shared with the feed's
/// REST requests (the limits count per IP).
pub use feed_handler::rest::{parse_retry_after, DEFAULT_418_BAN_SECS, DEFAULT_429_BACKOFF_SECS};
/// Venue error code of a `429` for too many new orders (the `ORDERS` limits).
pub const TOO_MANY_ORDERS_CODE: i64 = -1015;

/// `rateLimitType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateLimitType {
    /// `REQUEST_WEIGHT`: sum of the requests' weights.
    RequestWeight,
    /// `ORDERS`: new orders.
    Orders,
    /// `RAW_REQUESTS`: requests, whatever their weight.
    RawRequests,
}

impl RateLimitType {
    /// Binance spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RateLimitType::RequestWeight => "REQUEST_WEIGHT",
            RateLimitType::Orders => "ORDERS",
            RateLimitType::RawRequests => "RAW_REQUESTS",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "REQUEST_WEIGHT" => Some(RateLimitType::RequestWeight),
            "ORDERS" => Some(RateLimitType::Orders),
            "RAW_REQUESTS" => Some(RateLimitType::RawRequests),
            _ => None,
        }
    }
}

/// `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntervalUnit {
    /// `SECOND` (header letter `S`).
    Second,
    /// `MINUTE` (`M`).
    Minute,
    /// `HOUR` (`H`).
    Hour,
    /// `DAY` (`D`).
    Day,
}

impl IntervalUnit {
    /// Length, ms.
    pub fn ms(self) -> u64 {
        match self {
            IntervalUnit::Second => 1_000,
            IntervalUnit::Minute => 60_000,
            IntervalUnit::Hour => 3_600_000,
            IntervalUnit::Day => 86_400_000,
        }
    }

    /// Header letter, lower case as the headers arrive.
    pub fn letter(self) -> char {
        match self {
            IntervalUnit::Second => 's',
            IntervalUnit::Minute => 'm',
            IntervalUnit::Hour => 'h',
            IntervalUnit::Day => 'd',
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "SECOND" => Some(IntervalUnit::Second),
            "MINUTE" => Some(IntervalUnit::Minute),
            "HOUR" => Some(IntervalUnit::Hour),
            "DAY" => Some(IntervalUnit::Day),
            _ => None,
        }
    }

    fn from_letter(c: char) -> Option<Self> {
        match c.to_ascii_lowercase() {
            's' => Some(IntervalUnit::Second),
            'm' => Some(IntervalUnit::Minute),
            'h' => Some(IntervalUnit::Hour),
            'd' => Some(IntervalUnit::Day),
            _ => None,
        }
    }
}

/// One entry of `rateLimits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    /// `rateLimitType`.
    pub kind: RateLimitType,
    /// `interval`.
    pub interval: IntervalUnit,
    /// `intervalNum`.
    pub interval_num: u32,
    /// `limit`.
    pub limit: u64,
}

impl RateLimit {
    /// The window, ms (`intervalNum × interval`).
    pub fn window_ms(&self) -> u64 {
        u64::from(self.interval_num).saturating_mul(self.interval.ms())
    }

    /// `<n><unit>` as in the headers, e.g. `1m`, `10s`.
    pub fn suffix(&self) -> String {
        format!("{}{}", self.interval_num, self.interval.letter())
    }
}

/// `rateLimits` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitError {
    /// Not the expected JSON.
    #[error("rateLimits are not valid: {0}")]
    Malformed(String),
    /// An `interval` this code does not know.
    #[error("{kind} limit has unknown interval {interval:?}")]
    Interval {
        /// `rateLimitType`.
        kind: &'static str,
        /// `interval`.
        interval: String,
    },
    /// `limit` or `intervalNum` of 0.
    #[error("{kind} limit {limit} per {interval_num} {interval:?} cannot admit anything")]
    Empty {
        /// `rateLimitType`.
        kind: &'static str,
        /// `limit`.
        limit: u64,
        /// `intervalNum`.
        interval_num: u32,
        /// `interval`.
        interval: IntervalUnit,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLimit {
    rate_limit_type: String,
    interval: String,
    interval_num: u32,
    limit: u64,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawLimits {
    Info {
        #[serde(rename = "rateLimits")]
        rate_limits: Vec<RawLimit>,
    },
    List(Vec<RawLimit>),
}

/// Reads `rateLimits` from an exchangeInfo body or from a bare array of limits. Limit types this
/// code does not know are skipped with a warning.
///
/// # Errors
/// [`RateLimitError`] when the JSON, an interval or a limit is unusable.
pub fn parse_rate_limits(body: &str) -> Result<Vec<RateLimit>, RateLimitError> {
    let raw = match serde_json::from_str::<RawLimits>(body)
        .map_err(|e| RateLimitError::Malformed(e.to_string()))?
    {
        RawLimits::Info { rate_limits } => rate_limits,
        RawLimits::List(list) => list,
    };
    let mut out = Vec::with_capacity(raw.len());
    for r in raw {
        let Some(kind) = RateLimitType::parse(&r.rate_limit_type) else {
            tracing::warn!(rate_limit_type = %r.rate_limit_type, "unknown rate limit type skipped");
            continue;
        };
        let interval =
            IntervalUnit::parse(&r.interval).ok_or_else(|| RateLimitError::Interval {
                kind: kind.as_str(),
                interval: r.interval.clone(),
            })?;
        if r.limit == 0 || r.interval_num == 0 {
            return Err(RateLimitError::Empty {
                kind: kind.as_str(),
                limit: r.limit,
                interval_num: r.interval_num,
                interval,
            });
        }
        out.push(RateLimit {
            kind,
            interval,
            interval_num: r.interval_num,
            limit: r.limit,
        });
    }
    Ok(out)
}

/// A usage count read from one response header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderUsage {
    /// `REQUEST_WEIGHT` for `X-MBX-USED-WEIGHT-*`, `ORDERS` for `X-MBX-ORDER-COUNT-*`.
    pub kind: RateLimitType,
    /// `<n>` of the suffix.
    pub interval_num: u32,
    /// `<unit>` of the suffix.
    pub interval: IntervalUnit,
    /// The venue's count for the interval.
    pub used: u64,
}

/// Reads `X-MBX-USED-WEIGHT-<n><unit>` or `X-MBX-ORDER-COUNT-<n><unit>` (any case); `None` for
/// other headers, the suffix-less `X-MBX-USED-WEIGHT`, and unreadable values.
pub fn parse_usage_header(name: &str, value: &str) -> Option<HeaderUsage> {
    const WEIGHT: &str = "x-mbx-used-weight-";
    const ORDERS: &str = "x-mbx-order-count-";
    let lower = name.trim().to_ascii_lowercase();
    let (kind, suffix) = if let Some(s) = lower.strip_prefix(WEIGHT) {
        (RateLimitType::RequestWeight, s)
    } else if let Some(s) = lower.strip_prefix(ORDERS) {
        (RateLimitType::Orders, s)
    } else {
        return None;
    };
    let mut chars = suffix.chars();
    let interval = IntervalUnit::from_letter(chars.next_back()?)?;
    let num = chars.as_str();
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(HeaderUsage {
        kind,
        interval_num: num.parse().ok()?,
        interval,
        used: value.trim().parse().ok()?,
    })
}

/// Why new orders stopped until [`RateLimiter::resume_trading`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// `418`: the IP is banned until the ban's end.
    IpBan,
    /// The venue refused the credentials (`code` `-1022` signature, `-2014` API key format,
    /// `-2015` API key, IP or permissions): every order would be refused the same way until
    /// someone fixes them.
    Credentials {
        /// The venue's error code.
        code: i64,
    },
}

impl std::fmt::Display for StopCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopCause::IpBan => f.write_str("IP banned, HTTP 418"),
            StopCause::Credentials { code } => {
                write!(
                    f,
                    "API key, signature, IP or permissions refused, code {code}"
                )
            }
        }
    }
}

/// A ban (`418`), or a stop of trading for refused credentials (then `until_ms` is `since_ms`:
/// nothing but a fix ends it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ban {
    /// When the `418` (or the refusal) arrived, ms.
    pub since_ms: u64,
    /// When the ban ends, ms.
    pub until_ms: u64,
    /// What stopped trading.
    pub cause: StopCause,
}

/// What the engine reports when it halts on it.
impl std::fmt::Display for Ban {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.cause {
            StopCause::IpBan => write!(
                f,
                "the venue banned this IP (HTTP 418) until {} ms",
                self.until_ms
            ),
            StopCause::Credentials { code } => write!(
                f,
                "the venue refused the API key, signature, IP or permissions (code {code}) at {} ms: \
                 orders stopped until they are fixed and trading is resumed",
                self.since_ms
            ),
        }
    }
}

/// Why a request may not go now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// A bucket is short of tokens.
    #[error("{} {limit}/{window_ms} ms exhausted; wait {wait_ms} ms", kind.as_str())]
    Throttled {
        /// The limiting bucket's type.
        kind: RateLimitType,
        /// Its limit.
        limit: u64,
        /// Its window, ms.
        window_ms: u64,
        /// Wait until every bucket can admit the request, ms.
        wait_ms: u64,
    },
    /// Backing off after a `429`.
    #[error("backing off after HTTP 429 until {until_ms}; wait {wait_ms} ms")]
    BackingOff {
        /// End of the back-off, ms.
        until_ms: u64,
        /// Wait, ms.
        wait_ms: u64,
    },
    /// A new order while backing off after a `429` with code `-1015` (too many new orders).
    #[error("new orders backing off after HTTP 429 code -1015 (too many orders) until {until_ms}; wait {wait_ms} ms")]
    OrdersBackingOff {
        /// End of the back-off, ms.
        until_ms: u64,
        /// Wait, ms.
        wait_ms: u64,
    },
    /// The IP is banned (`418`).
    #[error("IP banned (HTTP 418) until {until_ms}; wait {wait_ms} ms")]
    Banned {
        /// End of the ban, ms.
        until_ms: u64,
        /// Wait, ms.
        wait_ms: u64,
    },
    /// A new order after a ban or refused credentials, before [`RateLimiter::resume_trading`].
    #[error("trading stopped ({cause} at {since_ms}) until resumed")]
    TradingStopped {
        /// When the `418` (or the refusal) arrived, ms.
        since_ms: u64,
        /// What stopped it.
        cause: StopCause,
    },
    /// The request costs more than a bucket holds: it can never go.
    #[error("weight {weight} exceeds the {} limit {limit}", kind.as_str())]
    TooHeavy {
        /// The bucket's type.
        kind: RateLimitType,
        /// The request's cost in it.
        weight: u64,
        /// Its limit.
        limit: u64,
    },
}

impl Denied {
    /// How long to wait before trying again, ms; `None` when waiting alone will not help.
    pub fn wait_ms(&self) -> Option<u64> {
        match *self {
            Denied::Throttled { wait_ms, .. }
            | Denied::BackingOff { wait_ms, .. }
            | Denied::OrdersBackingOff { wait_ms, .. }
            | Denied::Banned { wait_ms, .. } => Some(wait_ms),
            Denied::TradingStopped { .. } | Denied::TooHeavy { .. } => None,
        }
    }
}

/// What an HTTP status changed, for logging and alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusEvent {
    /// `429`: every request waits until `until_ms`.
    BackOff {
        /// End of the back-off, ms.
        until_ms: u64,
    },
    /// `429` with code `-1015`: new orders wait until `until_ms`.
    OrdersBackOff {
        /// End of the back-off, ms.
        until_ms: u64,
    },
    /// `418`: banned; trading stopped.
    Banned(Ban),
}

/// One token bucket of `limit` tokens, refilled in full at the start of each venue window
/// (windows aligned to multiples of `intervalNum × interval` since the epoch).
#[derive(Debug, Clone)]
struct Bucket {
    limit: RateLimit,
    window_ms: u64,
    /// Start of the window `used` counts, ms.
    window_start: u64,
    used: u64,
}

impl Bucket {
    fn new(limit: RateLimit, now_ms: u64) -> Self {
        let window_ms = limit.window_ms().max(1);
        Bucket {
            limit,
            window_ms,
            window_start: now_ms - now_ms % window_ms,
            used: 0,
        }
    }

    /// Refills the bucket when a new window has begun.
    fn refill(&mut self, now_ms: u64) {
        let start = now_ms - now_ms % self.window_ms;
        if start > self.window_start {
            self.window_start = start;
            self.used = 0;
        }
    }

    /// Wait before `charge` fits, ms (0 = now): the rest of the window when it does not.
    fn wait_ms(&self, charge: u64, now_ms: u64) -> u64 {
        if self.used.saturating_add(charge) <= self.limit.limit {
            0
        } else {
            self.window_start
                .saturating_add(self.window_ms)
                .saturating_sub(now_ms)
                .max(1)
        }
    }

    fn available(&self) -> u64 {
        self.limit.limit.saturating_sub(self.used)
    }
}

/// The venue's limits as token buckets, plus the `429` back-offs and the `418` ban.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    buckets: Vec<Bucket>,
    backoff_until_ms: Option<u64>,
    /// The back-off of new orders only, after a `429` with code `-1015`.
    order_backoff_until_ms: Option<u64>,
    ban: Option<Ban>,
    trading_stopped: Option<Ban>,
}

impl RateLimiter {
    /// Full buckets for `limits` at `now_ms`.
    pub fn new(limits: &[RateLimit], now_ms: u64) -> Self {
        RateLimiter {
            buckets: limits
                .iter()
                .filter(|l| l.limit > 0 && l.interval_num > 0)
                .map(|l| Bucket::new(*l, now_ms))
                .collect(),
            backoff_until_ms: None,
            order_backoff_until_ms: None,
            ban: None,
            trading_stopped: None,
        }
    }

    /// Full buckets for new `limits` at `now_ms`, keeping the back-off, the ban and the stop of
    /// trading in force (the venue's limits changed; what it told us about ourselves did not).
    pub fn replace_limits(&mut self, limits: &[RateLimit], now_ms: u64) {
        self.buckets = RateLimiter::new(limits, now_ms).buckets;
    }

    /// Buckets for the `rateLimits` of an exchangeInfo body.
    ///
    /// # Errors
    /// See [`parse_rate_limits`].
    pub fn from_exchange_info(body: &str, now_ms: u64) -> Result<Self, RateLimitError> {
        Ok(Self::new(&parse_rate_limits(body)?, now_ms))
    }

    /// The limits enforced.
    pub fn limits(&self) -> Vec<RateLimit> {
        self.buckets.iter().map(|b| b.limit).collect()
    }

    /// Whole tokens left at `now_ms` in the bucket for `kind` per `interval_num × interval`.
    pub fn available(
        &mut self,
        kind: RateLimitType,
        interval_num: u32,
        interval: IntervalUnit,
        now_ms: u64,
    ) -> Option<u64> {
        let b = self.buckets.iter_mut().find(|b| {
            b.limit.kind == kind
                && b.limit.interval_num == interval_num
                && b.limit.interval == interval
        })?;
        b.refill(now_ms);
        Some(b.available())
    }

    /// Each limit with the tokens used in its current window at `now_ms`.
    pub fn usage(&mut self, now_ms: u64) -> Vec<(RateLimit, u64)> {
        self.buckets
            .iter_mut()
            .map(|b| {
                b.refill(now_ms);
                (b.limit, b.used)
            })
            .collect()
    }

    fn charge(kind: RateLimitType, weight: u32, is_order: bool) -> u64 {
        match kind {
            RateLimitType::RequestWeight => u64::from(weight),
            RateLimitType::Orders => u64::from(is_order),
            RateLimitType::RawRequests => 1,
        }
    }

    /// Takes the tokens for one request of `weight` (and one order if `is_order`) from every
    /// bucket, or none of them.
    ///
    /// # Errors
    /// [`Denied`] with the wait needed when a bucket is short, during a back-off (of orders only
    /// after a `-1015`) or a ban;
    /// [`Denied::TradingStopped`] for orders after a ban until [`Self::resume_trading`].
    pub fn try_acquire(&mut self, weight: u32, is_order: bool, now_ms: u64) -> Result<(), Denied> {
        if let Some(ban) = self.ban {
            if now_ms < ban.until_ms {
                return Err(Denied::Banned {
                    until_ms: ban.until_ms,
                    wait_ms: ban.until_ms - now_ms,
                });
            }
            self.ban = None;
        }
        if let (true, Some(stopped)) = (is_order, self.trading_stopped) {
            return Err(Denied::TradingStopped {
                since_ms: stopped.since_ms,
                cause: stopped.cause,
            });
        }
        if let Some(until_ms) = self.backoff_until_ms {
            if now_ms < until_ms {
                return Err(Denied::BackingOff {
                    until_ms,
                    wait_ms: until_ms - now_ms,
                });
            }
            self.backoff_until_ms = None;
        }
        if let (true, Some(until_ms)) = (is_order, self.order_backoff_until_ms) {
            if now_ms < until_ms {
                return Err(Denied::OrdersBackingOff {
                    until_ms,
                    wait_ms: until_ms - now_ms,
                });
            }
            self.order_backoff_until_ms = None;
        }
        let mut worst: Option<Denied> = None;
        for b in &mut self.buckets {
            b.refill(now_ms);
            let charge = Self::charge(b.limit.kind, weight, is_order);
            if charge > b.limit.limit {
                return Err(Denied::TooHeavy {
                    kind: b.limit.kind,
                    weight: charge,
                    limit: b.limit.limit,
                });
            }
            let wait_ms = b.wait_ms(charge, now_ms);
            if wait_ms > worst.and_then(|d| d.wait_ms()).unwrap_or(0) {
                worst = Some(Denied::Throttled {
                    kind: b.limit.kind,
                    limit: b.limit.limit,
                    window_ms: b.limit.window_ms(),
                    wait_ms,
                });
            }
        }
        if let Some(denied) = worst {
            return Err(denied);
        }
        for b in &mut self.buckets {
            b.used = b
                .used
                .saturating_add(Self::charge(b.limit.kind, weight, is_order));
        }
        Ok(())
    }

    /// Gives back what [`Self::try_acquire`] just charged for a request that is not sent after all
    /// (the circuit breaker refused it): the venue never counts it.
    pub fn refund(&mut self, weight: u32, is_order: bool) {
        for b in &mut self.buckets {
            b.used = b
                .used
                .saturating_sub(Self::charge(b.limit.kind, weight, is_order));
        }
    }

    /// Corrects the buckets from the usage headers of an answer to a request sent at `sent_ms`
    /// and read at `now_ms` (venue clock): a bucket whose venue count is higher than its own is
    /// lowered to it. A header of a request sent before the bucket's current window began is left
    /// out: its count is of a window that is over (an answer sent at 59.95 s and read at 60.05 s
    /// would otherwise start the new minute nearly full, though the venue's count is back to 0).
    /// Returns how many headers matched a bucket and were applied.
    pub fn observe_headers<'a>(
        &mut self,
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
        sent_ms: u64,
        now_ms: u64,
    ) -> usize {
        let mut matched = 0;
        for (name, value) in headers {
            let Some(usage) = parse_usage_header(name, value) else {
                continue;
            };
            let Some(b) = self.buckets.iter_mut().find(|b| {
                b.limit.kind == usage.kind
                    && b.limit.interval_num == usage.interval_num
                    && b.limit.interval == usage.interval
            }) else {
                continue;
            };
            b.refill(now_ms);
            if sent_ms < b.window_start {
                continue;
            }
            b.used = b.used.max(usage.used);
            matched += 1;
        }
        matched
    }

    /// Reacts to an HTTP status and the venue's error `code` in its body: `429` starts a back-off
    /// of `retry_after_secs` (default [`DEFAULT_429_BACKOFF_SECS`]), of new orders only when the
    /// code is [`TOO_MANY_ORDERS_CODE`]; `418` bans every request for `retry_after_secs` (default
    /// [`DEFAULT_418_BAN_SECS`]) and stops trading. Other statuses change nothing.
    pub fn on_status(
        &mut self,
        status: u16,
        code: Option<i64>,
        retry_after_secs: Option<u64>,
        now_ms: u64,
    ) -> Option<StatusEvent> {
        let until = |default: u64| {
            now_ms.saturating_add(retry_after_secs.unwrap_or(default).saturating_mul(1_000))
        };
        match status {
            429 if code == Some(TOO_MANY_ORDERS_CODE) => {
                let until_ms =
                    until(DEFAULT_429_BACKOFF_SECS).max(self.order_backoff_until_ms.unwrap_or(0));
                self.order_backoff_until_ms = Some(until_ms);
                Some(StatusEvent::OrdersBackOff { until_ms })
            }
            429 => {
                let until_ms =
                    until(DEFAULT_429_BACKOFF_SECS).max(self.backoff_until_ms.unwrap_or(0));
                self.backoff_until_ms = Some(until_ms);
                Some(StatusEvent::BackOff { until_ms })
            }
            418 => {
                let ban = Ban {
                    since_ms: now_ms,
                    until_ms: until(DEFAULT_418_BAN_SECS),
                    cause: StopCause::IpBan,
                };
                self.ban = Some(ban);
                self.trading_stopped = Some(ban);
                Some(StatusEvent::Banned(ban))
            }
            _ => None,
        }
    }

    /// Stops new orders at `now_ms` until [`Self::resume_trading`], as a `418` does, for the
    /// venue's refusal of the credentials (`code`: `-1022`, `-2014`, `-2015`): every order would
    /// be refused the same way. Requests other than orders still go (cancels reduce risk). A stop
    /// in force is kept; returns the new one, if any.
    pub fn stop_for_credentials(&mut self, code: i64, now_ms: u64) -> Option<Ban> {
        if self.trading_stopped.is_some() {
            return None;
        }
        let stop = Ban {
            since_ms: now_ms,
            until_ms: now_ms,
            cause: StopCause::Credentials { code },
        };
        self.trading_stopped = Some(stop);
        Some(stop)
    }

    /// The ban in force at `now_ms`, if any.
    pub fn banned(&self, now_ms: u64) -> Option<Ban> {
        self.ban.filter(|b| now_ms < b.until_ms)
    }

    /// The ban (or the refusal of the credentials) that stopped trading, until
    /// [`Self::resume_trading`]: the executor raises it as an alert.
    pub fn trading_stopped(&self) -> Option<Ban> {
        self.trading_stopped
    }

    /// Lets orders go again once the ban is over (a stop for refused credentials at once: the next
    /// refusal stops them again); false (and still stopped) before.
    pub fn resume_trading(&mut self, now_ms: u64) -> bool {
        if self.banned(now_ms).is_some() {
            return false;
        }
        self.trading_stopped = None;
        true
    }
}

#[cfg(test)]
#[path = "rate_limit_tests.rs"]
mod tests;
