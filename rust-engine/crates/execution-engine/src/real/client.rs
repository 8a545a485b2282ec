//! The REST client of the real executor (its typed Binance endpoints are in `endpoints.rs`).
//!
//! Every request goes through the same gate:
//! 1. new orders are refused while the [`CircuitBreaker`] is open (cancels and queries still go:
//!    they reduce risk and reconcile unknown outcomes);
//! 2. the [`RateLimiter`] admits it, or says how long to wait: the client waits when that is at
//!    most [`RestConfig::max_rate_wait`], and refuses otherwise (a ban, trading stopped after a
//!    `418` or refused credentials, a request heavier than a bucket); its windows are counted on
//!    the venue's clock, and one is taken as begun only once the earliest that clock may read (the
//!    estimate less half the last sample's round trip) has passed its start;
//! 3. `SIGNED` requests carry `recvWindow`, `timestamp` (local time plus the [`ServerClock`]
//!    offset, re-learnt from `GET /api/v3/time` every [`RestConfig::clock_resync_interval`] and
//!    after a `-1021`, which is then re-sent once: it never reached the matching engine) and the
//!    HMAC `signature`, and the `X-MBX-APIKEY` header (an optional Ed25519 key, see
//!    [`Credentials`], is only used by the user data stream's `session.logon`);
//! 4. the answer's usage headers (those of a request sent in the current window of their limit)
//!    and status (`429`, `418` with `Retry-After`) go back to the limiter, venue faults (unknown
//!    outcomes, rate limits) to the breaker, and errors are classified by
//!    [`crate::venue_error::classify`]; refused credentials (`-1022`, `-2014`, `-2015`) stop
//!    new orders as a `418` does, until [`RestClient::resume_trading`].
//!
//! The client never re-sends a request whose outcome is unknown: that is the executor's call
//! (it queries instead). The secret is never logged.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde::Deserialize;

use crate::breaker::{BreakerConfig, BreakerError, BreakerState, CircuitBreaker, Refused, Trip};
use crate::rate_limit::{
    parse_retry_after, Ban, Denied, RateLimit, RateLimiter, TOO_MANY_ORDERS_CODE,
};
use crate::real::credentials::{Credentials, CredentialsError};
use crate::signing::{encode_params, local_now_ms, Ed25519Signer, RecvWindow, ServerClock, Signer};
use crate::venue_error::{
    classify, transport_failure, RejectReason, RetryReason, StopReason, VenueAction, VenueError,
};
use feed_handler::rest::{self, IpPause};

/// Path of the server time.
pub const TIME_PATH: &str = "/api/v3/time";
/// Path of the account's trades.
pub const MY_TRADES_PATH: &str = "/api/v3/myTrades";
/// Path of exchangeInfo.
pub const EXCHANGE_INFO_PATH: &str = "/api/v3/exchangeInfo";
/// Path of the account (balances).
pub const ACCOUNT_PATH: &str = "/api/v3/account";

/// Request weights (`rest-api.md`).
pub mod weight {
    /// `POST /api/v3/order`.
    pub const NEW_ORDER: u32 = 1;
    /// `DELETE /api/v3/order` and `DELETE /api/v3/openOrders`.
    pub const CANCEL: u32 = 1;
    /// `GET /api/v3/order`.
    pub const QUERY_ORDER: u32 = 4;
    /// `GET /api/v3/openOrders` for one symbol.
    pub const OPEN_ORDERS_SYMBOL: u32 = 6;
    /// `GET /api/v3/openOrders` for every symbol.
    pub const OPEN_ORDERS_ALL: u32 = 80;
    /// `GET /api/v3/myTrades`.
    pub const MY_TRADES: u32 = 20;
    /// `GET /api/v3/time`.
    pub const TIME: u32 = 1;
    /// `GET /api/v3/exchangeInfo`.
    pub const EXCHANGE_INFO: u32 = 20;
    /// `GET /api/v3/account`.
    pub const ACCOUNT: u32 = 20;
}

/// Settings of the REST client.
#[derive(Debug, Clone)]
pub struct RestConfig {
    /// Base URL, e.g. `https://api.binance.com` (no trailing slash needed).
    pub base_url: String,
    /// Timeout of one request; past it the outcome is unknown.
    pub request_timeout: Duration,
    /// `recvWindow` sent with signed requests.
    pub recv_window: RecvWindow,
    /// Re-learn the server clock offset when the last sample is older than this.
    pub clock_resync_interval: Duration,
    /// Longest the client waits for the rate limiter before refusing a request.
    pub max_rate_wait: Duration,
    /// When the circuit breaker opens and for how long.
    pub breaker: BreakerConfig,
}

impl RestConfig {
    /// Defaults for `base_url`: 5 s timeout, 5 s `recvWindow`, clock resync every 10 minutes,
    /// at most 10 s of rate-limit wait, breaker open for 30 s after 5 venue faults in a row.
    pub fn new(base_url: impl Into<String>) -> Self {
        RestConfig {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            request_timeout: Duration::from_secs(5),
            recv_window: RecvWindow::default(),
            clock_resync_interval: Duration::from_secs(600),
            max_rate_wait: Duration::from_secs(10),
            breaker: BreakerConfig {
                trip: Trip::Consecutive(5),
                cool_down_ms: 30_000,
            },
        }
    }
}

/// A client that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientInitError {
    /// Missing credentials.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// Bad breaker settings.
    #[error("circuit breaker: {0}")]
    Breaker(#[from] BreakerError),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(String),
}

/// A request that failed or was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RestError {
    /// The venue answered an error, or no answer arrived (`http_status` 0, unknown outcome).
    #[error("{0}")]
    Venue(VenueError),
    /// The rate limiter refused it; it was not sent.
    #[error("not sent: {0}")]
    Throttled(Denied),
    /// The circuit breaker refused a new order; it was not sent.
    #[error("not sent: {0}")]
    CircuitOpen(Refused),
    /// A success answer that cannot be read (the request may have executed).
    #[error("unreadable answer from {path}: {detail}")]
    Decode {
        /// Path requested.
        path: String,
        /// What was wrong.
        detail: String,
    },
    /// The request could not be written (not sent).
    #[error("request not built: {0}")]
    Build(String),
    /// Its deadline ([`RestRequest::deadline`]) came, or would come, while it waited to be sent.
    #[error("not sent: its deadline ([risk] max_entry_delay_ms for a buy) passed while it waited for the rate limits, a pause the venue asked for or the clock sync")]
    Expired,
}

impl RestError {
    /// True when the request may have executed: no answer, `5XX`, `-1007`, or an unreadable
    /// success.
    pub fn is_unknown_outcome(&self) -> bool {
        match self {
            RestError::Venue(e) => e.action == VenueAction::UnknownOutcome,
            RestError::Decode { .. } => true,
            _ => false,
        }
    }

    /// True for "no such order" (`-2013`, `-2011` unknown order, `-2026` archived).
    pub fn is_unknown_order(&self) -> bool {
        matches!(self, RestError::Venue(e) if e.action == VenueAction::Reject(RejectReason::UnknownOrder))
    }

    /// The classified venue error, if the venue answered one.
    pub fn venue(&self) -> Option<&VenueError> {
        match self {
            RestError::Venue(e) => Some(e),
            _ => None,
        }
    }
}

/// One REST request before signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestRequest {
    /// HTTP method.
    pub method: Method,
    /// Path, e.g. `/api/v3/order`.
    pub path: String,
    /// Parameters in the order sent (all in the query string).
    pub params: Vec<(String, String)>,
    /// `SIGNED` endpoint: adds `recvWindow`, `timestamp`, `signature` and the API-key header.
    pub signed: bool,
    /// Request weight.
    pub weight: u32,
    /// A new order (counts in the `ORDERS` buckets; refused while the breaker is open).
    pub is_order: bool,
    /// Not sent after this instant ([`RestError::Expired`]): a buy decided on a market that is
    /// gone by then, held back by the rate limits, a pause or the clock sync.
    pub deadline: Option<Instant>,
}

impl RestRequest {
    /// A request of `weight` with `params`.
    pub fn new(
        method: Method,
        path: &str,
        params: &[(&str, &str)],
        signed: bool,
        weight: u32,
    ) -> Self {
        RestRequest {
            method,
            path: path.to_owned(),
            params: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            signed,
            weight,
            is_order: false,
            deadline: None,
        }
    }
}

/// A success answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestAnswer {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: String,
}

#[derive(Debug)]
struct ClientState {
    limiter: RateLimiter,
    breaker: CircuitBreaker,
    clock: ServerClock,
    last_sync: Option<Instant>,
}

/// The REST client: rate limits, circuit breaker, server clock, signing.
#[derive(Debug)]
pub struct RestClient {
    http: reqwest::Client,
    config: RestConfig,
    signer: Signer,
    ed25519: Option<Ed25519Signer>,
    state: Mutex<ClientState>,
    /// The wait the venue asked of this IP (429, 418), shared with the feed's REST requests when
    /// [`Self::with_ip_pause`] says so.
    ip_pause: Arc<IpPause>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerTime {
    server_time: u64,
}

impl RestClient {
    /// A client for `credentials` enforcing `limiter` (build it from exchangeInfo's `rateLimits`
    /// with [`RateLimiter::from_exchange_info`], or start with [`RateLimiter::new`] and call
    /// [`Self::set_rate_limits`] once exchangeInfo is loaded). No request is made here; call
    /// [`Self::sync_clock`] before the first signed request (it is also done lazily).
    ///
    /// # Errors
    /// [`ClientInitError`] for bad breaker settings or an HTTP client that cannot be built.
    pub fn new(
        config: RestConfig,
        credentials: Credentials,
        limiter: RateLimiter,
    ) -> Result<Self, ClientInitError> {
        let breaker = CircuitBreaker::new(config.breaker)?;
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| ClientInitError::Http(e.to_string()))?;
        let (signer, ed25519) = credentials.into_signers(config.recv_window);
        Ok(RestClient {
            http,
            config,
            signer,
            ed25519,
            state: Mutex::new(ClientState {
                limiter,
                breaker,
                clock: ServerClock::new(),
                last_sync: None,
            }),
            ip_pause: Arc::default(),
        })
    }

    /// Shares the pause of REST requests after a 429 or 418 with the other REST users of the
    /// process (the feed's snapshots): the limits count per IP, so a wait the venue asked of
    /// either holds for both. (A 429 of the order count limits, `-1015`, is this account's alone.)
    pub fn with_ip_pause(mut self, pause: Arc<IpPause>) -> Self {
        self.ip_pause = pause;
        self
    }

    /// [`Self::new`] with the credentials of [`Credentials::from_env`].
    ///
    /// # Errors
    /// [`ClientInitError::Credentials`] naming the missing variable, or see [`Self::new`].
    pub fn from_env(config: RestConfig, limiter: RateLimiter) -> Result<Self, ClientInitError> {
        Self::new(config, Credentials::from_env()?, limiter)
    }

    fn state(&self) -> MutexGuard<'_, ClientState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The settings.
    pub fn config(&self) -> &RestConfig {
        &self.config
    }

    /// The HMAC signer (REST requests; the user data stream's `userDataStream.subscribe.signature`
    /// when there is no Ed25519 key).
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// The Ed25519 signer, when an Ed25519 key is configured (the user data stream logs on
    /// with it).
    pub fn ed25519_signer(&self) -> Option<&Ed25519Signer> {
        self.ed25519.as_ref()
    }

    /// Server time now, ms (local time plus the learnt offset).
    pub fn server_now_ms(&self) -> u64 {
        self.state().clock.now_ms()
    }

    /// The earliest the server's clock may read now, ms: [`Self::server_now_ms`] less half the
    /// last time sample's round trip ([`ServerClock::earliest_server_time_at`]).
    pub fn earliest_server_now_ms(&self) -> u64 {
        self.state().clock.earliest_server_time_at(local_now_ms())
    }

    /// Server minus local time, ms.
    pub fn clock_offset_ms(&self) -> i64 {
        self.state().clock.offset_ms()
    }

    /// Each rate limit with the tokens used in its current window (venue clock).
    pub fn rate_limit_usage(&self) -> Vec<(RateLimit, u64)> {
        let mut st = self.state();
        let now = st.clock.now_ms();
        st.limiter.usage(now)
    }

    /// The breaker's state.
    pub fn breaker_state(&self) -> BreakerState {
        self.state().breaker.state()
    }

    /// The ban (`418`) or the refusal of the credentials (`-1022`, `-2014`, `-2015`) that stopped
    /// trading, until [`Self::resume_trading`]: the engine halts on it (its `Display` says which).
    pub fn trading_stopped(&self) -> Option<Ban> {
        self.state().limiter.trading_stopped()
    }

    /// Records a ban the venue answered to another REST user of this IP (the feed, through the
    /// shared pause) as one answered here: trading stops until resumed (the engine halts). Only a
    /// ban ending later than the one recorded is recorded, so once, not at each request refused.
    fn record_shared_ban(&self, st: &mut ClientState, now_ms: u64) {
        let Some((wait, 418)) = self.ip_pause.remaining(self.ip_pause.now_ms()) else {
            return;
        };
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        let until_ms = now_ms.saturating_add(wait_ms);
        if st
            .limiter
            .banned(now_ms)
            .is_some_and(|b| b.until_ms >= until_ms)
        {
            return;
        }
        let secs = wait_ms.div_ceil(1_000);
        if let Some(event) = st.limiter.on_status(418, None, Some(secs), now_ms) {
            tracing::warn!(
                ?event,
                "IP ban met by another REST user (the feed): trading stopped"
            );
        }
    }

    /// Looks at the pause shared with the feed for a ban it met, and records it as one answered here:
    /// called every second by the engine's executor worker, so that the ban stops trading even
    /// while no request of this client meets it.
    pub fn note_shared_ban(&self) {
        let now = self.server_now_ms();
        let mut st = self.state();
        self.record_shared_ban(&mut st, now);
    }

    /// Lets orders go again after a ban is over; false while still banned (by the venue's answer
    /// to this client, or to the feed through the shared pause).
    pub fn resume_trading(&self) -> bool {
        if matches!(
            self.ip_pause.remaining(self.ip_pause.now_ms()),
            Some((_, 418))
        ) {
            return false;
        }
        let mut st = self.state();
        let now = st.clock.now_ms();
        st.limiter.resume_trading(now)
    }

    /// Replaces the rate limits (full buckets), keeping a back-off or ban in force.
    pub fn set_rate_limits(&self, limits: &[RateLimit]) {
        let mut st = self.state();
        let now = st.clock.now_ms();
        st.limiter.replace_limits(limits, now);
    }

    /// Learns the server clock offset from `GET /api/v3/time` and returns it, ms.
    ///
    /// # Errors
    /// [`RestError`] when the request fails or the answer is unreadable.
    pub async fn sync_clock(&self) -> Result<i64, RestError> {
        self.sync_clock_by(None).await
    }

    /// [`Self::sync_clock`], not sent after `deadline` (that of the request it syncs for).
    async fn sync_clock_by(&self, deadline: Option<Instant>) -> Result<i64, RestError> {
        let mut req = RestRequest::new(Method::GET, TIME_PATH, &[], false, weight::TIME);
        req.deadline = deadline;
        self.admit(&req).await?;
        let sent = local_now_ms();
        let answer = self.send_once(&req).await?;
        let received = local_now_ms();
        let time: ServerTime =
            serde_json::from_str(&answer.body).map_err(|e| RestError::Decode {
                path: TIME_PATH.into(),
                detail: e.to_string(),
            })?;
        let mut st = self.state();
        let offset = st
            .clock
            .record(time.server_time, sent, received)
            .map_err(|e| RestError::Decode {
                path: TIME_PATH.into(),
                detail: e.to_string(),
            })?;
        st.last_sync = Some(Instant::now());
        tracing::debug!(offset_ms = offset, "server clock synced");
        Ok(offset)
    }

    async fn resync_if_stale(&self, deadline: Option<Instant>) {
        let stale = self
            .state()
            .last_sync
            .is_none_or(|t| t.elapsed() >= self.config.clock_resync_interval);
        if stale {
            if let Err(e) = self.sync_clock_by(deadline).await {
                tracing::warn!(error = %e, "server clock sync failed; keeping the last offset");
            }
        }
    }

    /// Waits for the rate limiter (at most `max_rate_wait`, never past the request's deadline) and
    /// asks the breaker for orders.
    async fn admit(&self, req: &RestRequest) -> Result<(), RestError> {
        let start = Instant::now();
        loop {
            if req.deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(RestError::Expired);
            }
            let wait_ms = {
                let mut st = self.state();
                let local = local_now_ms();
                let now = st.clock.server_time_at(local);
                // The venue counts each window on its clock: a window is used as begun only once
                // the earliest its clock may read has passed the start (no 429 at the turnover).
                let window_now = st.clock.earliest_server_time_at(local);
                if req.is_order {
                    if let BreakerState::Open { until_ms, .. } = st.breaker.state() {
                        if now < until_ms {
                            return Err(RestError::CircuitOpen(Refused::Open {
                                retry_in_ms: until_ms - now,
                            }));
                        }
                    }
                }
                // A wait the venue asked of this IP, through the feed or this client, first.
                let shared =
                    self.ip_pause
                        .remaining(self.ip_pause.now_ms())
                        .map(|(wait, status)| {
                            let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                            let until_ms = now.saturating_add(wait_ms);
                            if status == 418 {
                                Denied::Banned { until_ms, wait_ms }
                            } else {
                                Denied::BackingOff { until_ms, wait_ms }
                            }
                        });
                if matches!(shared, Some(Denied::Banned { .. })) {
                    self.record_shared_ban(&mut st, now);
                }
                let admitted = match shared {
                    Some(denied) => Err(denied),
                    None => st.limiter.try_acquire(req.weight, req.is_order, window_now),
                };
                match admitted {
                    Ok(()) => {
                        if req.is_order {
                            match st.breaker.allow(now) {
                                Ok(Some(t)) => tracing::info!(
                                    from = t.from.name(),
                                    to = t.to.name(),
                                    "circuit breaker"
                                ),
                                Ok(None) => {}
                                Err(refused) => {
                                    // Not sent: the venue never counts it.
                                    st.limiter.refund(req.weight, true);
                                    return Err(RestError::CircuitOpen(refused));
                                }
                            }
                        }
                        return Ok(());
                    }
                    Err(denied) => {
                        let waited = start.elapsed();
                        match denied.wait_ms() {
                            Some(w)
                                if waited + Duration::from_millis(w)
                                    <= self.config.max_rate_wait =>
                            {
                                w
                            }
                            _ => return Err(RestError::Throttled(denied)),
                        }
                    }
                }
            };
            let wait = Duration::from_millis(wait_ms.max(1));
            if req.deadline.is_some_and(|d| Instant::now() + wait > d) {
                return Err(RestError::Expired);
            }
            tracing::debug!(wait_ms, path = %req.path, "rate limiter: waiting");
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends `req` once it is admitted. A `-1021` answer (clock skew: never executed) resyncs
    /// the server clock and is sent once more; nothing else is ever re-sent.
    ///
    /// # Errors
    /// [`RestError`]: refused before sending, or the venue's classified error.
    pub async fn send(&self, req: &RestRequest) -> Result<RestAnswer, RestError> {
        if req.signed {
            self.resync_if_stale(req.deadline).await;
        }
        let mut resynced = false;
        loop {
            self.admit(req).await?;
            match self.send_once(req).await {
                Err(RestError::Venue(e))
                    if req.signed
                        && !resynced
                        && e.action == VenueAction::RetryLater(RetryReason::ClockSkew) =>
                {
                    tracing::warn!(msg = %e.msg, "timestamp rejected (-1021); resyncing the clock");
                    resynced = true;
                    if let Err(e) = self.sync_clock_by(req.deadline).await {
                        tracing::warn!(error = %e, "server clock sync failed");
                    }
                }
                other => return other,
            }
        }
    }

    async fn send_once(&self, req: &RestRequest) -> Result<RestAnswer, RestError> {
        // Venue clock: the signed timestamp, and the window the answer's usage headers count in.
        let sent_ms = self.server_now_ms();
        let query = if req.signed {
            self.signer.sign_query(&req.params, sent_ms).query
        } else {
            encode_params(&req.params)
        };
        let mut url = format!("{}{}", self.config.base_url, req.path);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query);
        }
        let mut builder = self
            .http
            .request(req.method.clone(), &url)
            .timeout(self.config.request_timeout);
        if req.signed {
            let (name, key) = self.signer.api_key_header();
            builder = builder.header(name, key);
        }
        let outcome = match builder.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers: Vec<(String, String)> = resp
                    .headers()
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                    .collect();
                match resp.text().await {
                    Ok(body) => Ok((status, headers, body)),
                    Err(e) => Err(transport_failure(&format!("reading the answer: {e}"))),
                }
            }
            Err(e) => Err(transport_failure(&format!(
                "{} {}: {}",
                req.method,
                req.path,
                if e.is_timeout() {
                    "timed out".to_owned()
                } else {
                    e.without_url().to_string()
                }
            ))),
        };
        let mut st = self.state();
        let now = st.clock.now_ms();
        match outcome {
            Err(e) => {
                if let Some(t) = st.breaker.on_failure(now) {
                    tracing::warn!(from = t.from.name(), to = t.to.name(), "circuit breaker");
                }
                Err(RestError::Venue(e))
            }
            Ok((status, headers, body)) => {
                st.limiter.observe_headers(
                    headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    sent_ms,
                    now,
                );
                let header = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
                    .map(|(_, v)| v.as_str());
                let retry_after = header.and_then(parse_retry_after);
                let failure = (!(200..300).contains(&status)).then(|| classify(status, &body));
                let code = failure.as_ref().and_then(|e| e.code);
                if let Some(event) = st.limiter.on_status(status, code, retry_after, now) {
                    tracing::warn!(?event, status, ?code, "rate limit answer");
                }
                if code != Some(TOO_MANY_ORDERS_CODE) {
                    if let Some(wait) = rest::retry_after(status, header) {
                        self.ip_pause.pause(status, wait, self.ip_pause.now_ms());
                    }
                }
                if let Some(VenueError {
                    action: VenueAction::StopTrading(StopReason::Credentials),
                    code,
                    msg,
                    ..
                }) = &failure
                {
                    // Every order would be refused the same way: stop them, as a 418 does (the
                    // engine halts on `trading_stopped`).
                    if let Some(stop) = st
                        .limiter
                        .stop_for_credentials(code.unwrap_or_default(), now)
                    {
                        tracing::error!(%stop, status, %msg, path = %req.path, "credentials refused: trading stopped");
                    }
                }
                if let Some(e) = failure {
                    // A venue fault counts against the venue; any other answer to an order (a
                    // refusal: balance, filter, a -1021 of our clock) shows it up and deciding, so
                    // it settles a half-open breaker's probe as a success would.
                    let t = if e.is_venue_fault() {
                        st.breaker.on_failure(now)
                    } else if req.is_order {
                        st.breaker.on_success(now)
                    } else {
                        None
                    };
                    if let Some(t) = t {
                        tracing::warn!(from = t.from.name(), to = t.to.name(), "circuit breaker");
                    }
                    Err(RestError::Venue(e))
                } else {
                    if req.is_order || st.breaker.state() == BreakerState::Closed {
                        if let Some(t) = st.breaker.on_success(now) {
                            tracing::info!(
                                from = t.from.name(),
                                to = t.to.name(),
                                "circuit breaker"
                            );
                        }
                    }
                    Ok(RestAnswer { status, body })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kinds() {
        assert!(RestError::Venue(transport_failure("x")).is_unknown_outcome());
        assert!(
            RestError::Venue(classify(500, r#"{"code":-1007,"msg":"Timeout"}"#))
                .is_unknown_outcome()
        );
        let gone = RestError::Venue(classify(
            400,
            r#"{"code":-2013,"msg":"Order does not exist."}"#,
        ));
        assert!(gone.is_unknown_order() && !gone.is_unknown_outcome());
        assert!(!RestError::Build("x".into()).is_unknown_outcome());
    }
}
