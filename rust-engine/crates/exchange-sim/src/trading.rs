//! The venue's trading side: the one account ([`crate::matching::Exchange`]) behind a lock, its
//! API key and secret, the user data stream's fan-out and listen keys, the rate limiter and the
//! order faults. The replay calls [`Trading::on_trade`] for every replayed trade (before
//! publishing it), the order endpoints call [`Trading::place`] and friends; each publishes its
//! user-stream events, in order, while it holds the account's lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::distributions::Alphanumeric;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::book::Book;
use crate::exchange_info::SymbolSpec;
use crate::faults::OrderFaults;
use crate::matching::{AccountSettings, Exchange};
use crate::orders::{Event, Fill, NewOrder, Order, OrderError, Report};
use crate::rate_limit::{RateLimiter, RateLimits};
use crate::signing::{
    default_ed25519_key, verify_ed25519, verify_hmac, DEFAULT_API_KEY, DEFAULT_API_SECRET,
    DEFAULT_ED25519_API_KEY,
};
use crate::units::Units;
use ed25519_dalek::VerifyingKey;

/// A listen key is valid this long after its creation or last keep-alive (Binance: 60 minutes).
pub const LISTEN_KEY_VALIDITY: Duration = Duration::from_secs(3600);
/// User-stream events queued per connection before it is disconnected.
pub const USER_QUEUE: usize = 4096;

/// How the trading side is set up.
#[derive(Debug, Clone, PartialEq)]
pub struct TradingOptions {
    /// The API key.
    pub api_key: String,
    /// The API secret.
    pub api_secret: String,
    /// The API key of the account's Ed25519 key pair.
    pub ed25519_api_key: String,
    /// The public key of that pair.
    pub ed25519_public_key: VerifyingKey,
    /// Balances and commission rates.
    pub account: AccountSettings,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// Order faults.
    pub faults: OrderFaults,
}

impl Default for TradingOptions {
    /// The documented test keys (HMAC, and Ed25519 with the RFC 8032 TEST 1 public key), 10000 USDT, 0.1 % fees, Binance's limits, no faults.
    fn default() -> Self {
        TradingOptions {
            api_key: DEFAULT_API_KEY.to_owned(),
            api_secret: DEFAULT_API_SECRET.to_owned(),
            ed25519_api_key: DEFAULT_ED25519_API_KEY.to_owned(),
            ed25519_public_key: default_ed25519_key(),
            account: AccountSettings::default(),
            rate_limits: RateLimits::default(),
            faults: OrderFaults::default(),
        }
    }
}

/// Order faults injected so far.
#[derive(Debug, Default)]
pub struct OrderFaultCounts {
    /// Orders placed whose answer was never sent.
    pub timeouts: AtomicU64,
    /// Orders placed but answered with 500 / -1007.
    pub rejects: AtomicU64,
    /// User data stream events never sent.
    pub user_events_dropped: AtomicU64,
}

/// WebSocket API authentications and subscriptions accepted so far (for tests and logs).
#[derive(Debug, Default)]
pub struct WsApiCounts {
    /// `session.logon` accepted.
    pub logons: AtomicU64,
    /// `userDataStream.subscribe` accepted on a logged-on session.
    pub session_subscriptions: AtomicU64,
    /// `userDataStream.subscribe.signature` accepted.
    pub signature_subscriptions: AtomicU64,
}

/// What the order-fault draw decided for one order request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderFault {
    /// Answer normally.
    None,
    /// Never answer.
    Timeout,
    /// Answer HTTP 500 / -1007 (the order placed).
    Reject,
}

#[derive(Debug)]
struct ListenKey {
    key: String,
    expires: Instant,
}

/// The kind of an API key of the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// HMAC-SHA256: hex signatures, any case.
    Hmac,
    /// Ed25519: base64 signatures, case-sensitive.
    Ed25519,
}

/// The trading side of the venue.
#[derive(Debug)]
pub struct Trading {
    /// The HMAC API key.
    pub api_key: String,
    /// The HMAC API secret.
    pub api_secret: String,
    /// The Ed25519 API key.
    pub ed25519_api_key: String,
    /// The Ed25519 public key.
    pub ed25519_public_key: VerifyingKey,
    exchange: Mutex<Exchange>,
    events: broadcast::Sender<Arc<String>>,
    listen_key: Mutex<Option<ListenKey>>,
    /// Rate limits and counters.
    pub rate: RateLimiter,
    /// Order faults.
    pub faults: OrderFaults,
    /// Order faults injected.
    pub fault_counts: OrderFaultCounts,
    /// New orders that reached matching, whatever became of them: a client that re-sends an order
    /// shows here (`/sim/stats` `order_requests`).
    pub order_requests: AtomicU64,
    /// WebSocket API logons and subscriptions.
    pub ws_api: WsApiCounts,
    rng: Mutex<StdRng>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Trading {
    /// The trading side for `spec`; `seed` seeds the fault draws and generated ids.
    pub fn new(spec: SymbolSpec, opts: TradingOptions, seed: u64) -> Self {
        Trading {
            api_key: opts.api_key,
            api_secret: opts.api_secret,
            ed25519_api_key: opts.ed25519_api_key,
            ed25519_public_key: opts.ed25519_public_key,
            exchange: Mutex::new(Exchange::new(spec, &opts.account)),
            events: broadcast::channel(USER_QUEUE).0,
            listen_key: Mutex::new(None),
            rate: RateLimiter::new(opts.rate_limits),
            faults: opts.faults,
            fault_counts: OrderFaultCounts::default(),
            order_requests: AtomicU64::new(0),
            ws_api: WsApiCounts::default(),
            rng: Mutex::new(StdRng::seed_from_u64(seed ^ ORDER_SEED_MIX)),
        }
    }

    /// The kind of `api_key`, `None` when it is not one of the account's keys.
    pub fn key_kind(&self, api_key: &str) -> Option<KeyKind> {
        if api_key == self.api_key {
            Some(KeyKind::Hmac)
        } else if api_key == self.ed25519_api_key {
            Some(KeyKind::Ed25519)
        } else {
            None
        }
    }

    /// True when `signature` (percent-decoded) signs `payload` under the key of `kind`.
    pub fn verify_signature(&self, kind: KeyKind, payload: &[u8], signature: &str) -> bool {
        match kind {
            KeyKind::Hmac => verify_hmac(&self.api_secret, payload, signature),
            KeyKind::Ed25519 => verify_ed25519(&self.ed25519_public_key, payload, signature),
        }
    }

    /// The account, locked.
    pub fn exchange(&self) -> MutexGuard<'_, Exchange> {
        lock(&self.exchange)
    }

    /// A new subscriber to the user data stream (inner event JSON).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<String>> {
        self.events.subscribe()
    }

    fn publish(&self, spec: &SymbolSpec, events: &[Event], server_ms: i64) {
        for e in events {
            let drop = self.faults.drop_user_events;
            if drop > 0.0 && lock(&self.rng).gen::<f64>() < drop {
                self.fault_counts
                    .user_events_dropped
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let _ = self.events.send(Arc::new(event_json(spec, e, server_ms)));
        }
    }

    /// A fresh alphanumeric id of `len` characters.
    pub fn random_id(&self, len: usize) -> String {
        let mut rng = lock(&self.rng);
        (0..len)
            .map(|_| char::from(rng.sample(Alphanumeric)))
            .collect()
    }

    /// Draws the order fault of one order request.
    pub fn draw_fault(&self) -> OrderFault {
        let f = self.faults;
        if f.timeout <= 0.0 && f.reject <= 0.0 {
            return OrderFault::None;
        }
        let u: f64 = lock(&self.rng).gen();
        if u < f.timeout {
            self.fault_counts.timeouts.fetch_add(1, Ordering::Relaxed);
            OrderFault::Timeout
        } else if u < f.timeout + f.reject {
            self.fault_counts.rejects.fetch_add(1, Ordering::Relaxed);
            OrderFault::Reject
        } else {
            OrderFault::None
        }
    }

    /// Places an order against `book` at `now_ms` (server time; `replay_ms` on the replay clock)
    /// and publishes its events.
    ///
    /// # Errors
    /// [`OrderError`] when refused.
    pub fn place(
        &self,
        req: &NewOrder,
        book: &Book,
        now_ms: i64,
        replay_ms: i64,
    ) -> Result<(Order, Vec<Fill>), OrderError> {
        self.order_requests.fetch_add(1, Ordering::Relaxed);
        let mut x = self.exchange();
        let (res, events) = x.place(req, book, now_ms, replay_ms);
        self.publish(x.spec(), &events, now_ms);
        res
    }

    /// Cancels an order and publishes its events.
    ///
    /// # Errors
    /// [`OrderError::UnknownOrder`].
    pub fn cancel(
        &self,
        order_id: Option<u64>,
        client_id: Option<&str>,
        cancel_client_id: String,
        now_ms: i64,
    ) -> Result<Order, OrderError> {
        let mut x = self.exchange();
        let (order, events) = x.cancel(order_id, client_id, cancel_client_id, now_ms)?;
        self.publish(x.spec(), &events, now_ms);
        Ok(order)
    }

    /// Cancels every open order; returns them as canceled.
    pub fn cancel_all(&self, now_ms: i64) -> Vec<(Order, String)> {
        let mut x = self.exchange();
        let mut out = Vec::new();
        for o in x.open_orders() {
            let cid = self.random_id(22);
            if let Ok((order, events)) = x.cancel(Some(o.id), None, cid.clone(), now_ms) {
                self.publish(x.spec(), &events, now_ms);
                out.push((order, cid));
            }
        }
        out
    }

    /// A replayed trade (emitted at `ms`, the server's clock reading `server_ms`): fills the
    /// resting orders it trades through ([`Exchange::on_trade_at`]).
    pub fn on_trade(&self, price: u64, qty: u64, ms: i64, server_ms: i64) {
        let mut x = self.exchange();
        let events = x.on_trade_at(price, qty, ms, server_ms);
        if !events.is_empty() {
            self.publish(x.spec(), &events, ms);
        }
    }

    /// The account's active listen key, created (or its validity extended) now.
    pub fn start_listen_key(&self) -> String {
        let mut lk = lock(&self.listen_key);
        let now = Instant::now();
        match lk.as_mut() {
            Some(k) if k.expires > now => {
                k.expires = now + LISTEN_KEY_VALIDITY;
                k.key.clone()
            }
            _ => {
                let key = self.random_id(60);
                *lk = Some(ListenKey {
                    key: key.clone(),
                    expires: now + LISTEN_KEY_VALIDITY,
                });
                key
            }
        }
    }

    /// Extends `key`'s validity; false when it is not the active key.
    pub fn keep_alive(&self, key: &str) -> bool {
        let mut lk = lock(&self.listen_key);
        let now = Instant::now();
        match lk.as_mut() {
            Some(k) if k.key == key && k.expires > now => {
                k.expires = now + LISTEN_KEY_VALIDITY;
                true
            }
            _ => false,
        }
    }

    /// Invalidates `key`; false when it is not the active key.
    pub fn close_listen_key(&self, key: &str) -> bool {
        let mut lk = lock(&self.listen_key);
        if lk.as_ref().is_some_and(|k| k.key == key) {
            *lk = None;
            true
        } else {
            false
        }
    }

    /// When `key` expires, if it is the active key.
    pub fn listen_key_expiry(&self, key: &str) -> Option<Instant> {
        lock(&self.listen_key)
            .as_ref()
            .filter(|k| k.key == key)
            .map(|k| k.expires)
    }

    /// True when `key` is the active, unexpired key.
    pub fn listen_key_valid(&self, key: &str) -> bool {
        self.listen_key_expiry(key)
            .is_some_and(|e| e > Instant::now())
    }
}

/// Mixed into the seed so that order draws differ from the connections' draws.
const ORDER_SEED_MIX: u64 = 0x5eed_0de5_0000_0001;

/// An `executionReport` ([UDS] "Order Update"), Binance's field order; `v` (STP only) is left
/// out, `W` only once the order is working.
#[derive(Serialize)]
struct ExecutionReport<'a> {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: i64,
    s: &'a str,
    c: &'a str,
    #[serde(rename = "S")]
    side: &'static str,
    o: &'static str,
    f: &'static str,
    q: Units,
    p: Units,
    #[serde(rename = "P")]
    stop_price: Units,
    #[serde(rename = "F")]
    iceberg_qty: Units,
    g: i64,
    #[serde(rename = "C")]
    orig_client_id: &'a str,
    x: &'static str,
    #[serde(rename = "X")]
    status: &'static str,
    r: &'static str,
    i: u64,
    l: Units,
    z: Units,
    #[serde(rename = "L")]
    last_price: Units,
    n: String,
    #[serde(rename = "N")]
    commission_asset: Option<&'a str>,
    #[serde(rename = "T")]
    transaction_time: i64,
    t: i64,
    #[serde(rename = "I")]
    exec_id: u64,
    w: bool,
    m: bool,
    #[serde(rename = "M")]
    ignore: bool,
    #[serde(rename = "O")]
    created: i64,
    #[serde(rename = "Z")]
    cum_quote: Units,
    #[serde(rename = "Y")]
    last_quote: Units,
    #[serde(rename = "Q")]
    quote_qty: Units,
    #[serde(rename = "W", skip_serializing_if = "Option::is_none")]
    working_time: Option<i64>,
    #[serde(rename = "V")]
    stp: &'static str,
}

#[derive(Serialize)]
struct AssetBalance<'a> {
    a: &'a str,
    f: Units,
    l: Units,
}

#[derive(Serialize)]
struct AccountPosition<'a> {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: i64,
    u: i64,
    #[serde(rename = "B")]
    balances: Vec<AssetBalance<'a>>,
}

fn report_json(spec: &SymbolSpec, r: &Report, event_ms: i64) -> String {
    let o = &r.order;
    let (c, orig) = match &r.cancel_client_id {
        Some(cid) => (cid.as_str(), o.client_id.as_str()),
        None => (o.client_id.as_str(), ""),
    };
    let fill = r.fill.as_ref();
    let v = ExecutionReport {
        e: "executionReport",
        event_time: event_ms,
        s: &spec.symbol,
        c,
        side: o.side.as_str(),
        o: o.kind.as_str(),
        f: o.tif.as_str(),
        q: Units(o.orig_qty),
        p: Units(o.price),
        stop_price: Units(0),
        iceberg_qty: Units(0),
        g: -1,
        orig_client_id: orig,
        x: r.exec.as_str(),
        status: o.status.as_str(),
        // An order the venue refuses gets no report (see `Exchange::place`): none is rejected.
        r: "NONE",
        i: o.id,
        l: Units(fill.map_or(0, |f| f.qty)),
        z: Units(o.executed),
        last_price: Units(fill.map_or(0, |f| f.price)),
        n: fill.map_or_else(|| "0".to_owned(), |f| Units(f.commission).to_string()),
        commission_asset: fill.map(|f| f.commission_asset.as_str()),
        transaction_time: r.time,
        t: fill.map_or(-1, |f| i64::try_from(f.trade_id).unwrap_or(-1)),
        exec_id: r.exec_id,
        w: o.status.is_open() && o.working_time.is_some(),
        m: r.maker,
        ignore: false,
        created: o.time,
        cum_quote: Units(o.cum_quote),
        last_quote: Units(fill.map_or(0, |f| crate::matching::mul_floor(f.price, f.qty))),
        quote_qty: Units(o.orig_quote_qty),
        working_time: o.working_time,
        stp: "NONE",
    };
    serde_json::to_string(&v).unwrap_or_default()
}

/// The JSON of one user-stream event (unwrapped), sent at `event_ms`.
pub fn event_json(spec: &SymbolSpec, e: &Event, event_ms: i64) -> String {
    match e {
        Event::Report(r) => report_json(spec, r, event_ms),
        Event::Position { time, balances } => serde_json::to_string(&AccountPosition {
            e: "outboundAccountPosition",
            event_time: event_ms,
            u: *time,
            balances: balances
                .iter()
                .map(|(a, b)| AssetBalance {
                    a,
                    f: Units(b.free),
                    l: Units(b.locked),
                })
                .collect(),
        })
        .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::{OrderKind, OrderSide, Tif};
    use crate::test_fixtures::{fixture, keys};
    use crate::units::SCALE;
    use serde_json::Value;

    fn trading() -> Trading {
        let spec = SymbolSpec::new_checked("POLUSDT", 10_000, SCALE / 10, 5 * SCALE).unwrap();
        Trading::new(spec, TradingOptions::default(), 7)
    }

    #[test]
    fn events_have_the_fixture_fields() {
        let t = trading();
        let mut rx = t.subscribe();
        let mut book = Book::empty(1);
        book.asks.insert(20_000_000, 1000 * SCALE);
        let req = NewOrder {
            side: OrderSide::Buy,
            kind: OrderKind::Limit,
            tif: Some(Tif::Gtc),
            qty: Some(100 * SCALE),
            quote_qty: None,
            price: Some(19_000_000),
            client_id: "abc".into(),
        };
        t.place(&req, &book, 5, 5).unwrap();
        let new: Value = serde_json::from_str(&rx.try_recv().unwrap()).unwrap();
        let fx = fixture("uds_execution_report_raw.json");
        let mut want = keys(&fx);
        want.remove("v");
        assert_eq!(keys(&new), want);
        for k in want {
            let kind = |v: &Value| std::mem::discriminant(v);
            if k != "N" {
                assert_eq!(kind(&new[&k]), kind(&fx[&k]), "type of {k}");
            }
        }
        assert_eq!(
            (new["x"].as_str(), new["X"].as_str()),
            (Some("NEW"), Some("NEW"))
        );
        assert_eq!(new["n"], "0");
        assert_eq!(new["N"], Value::Null);
        assert_eq!(new["p"], "0.19000000");
        let pos: Value = serde_json::from_str(&rx.try_recv().unwrap()).unwrap();
        let fx = fixture("uds_outbound_account_position_raw.json");
        assert_eq!(keys(&pos), keys(&fx));
        assert_eq!(keys(&pos["B"][0]), keys(&fx["B"][0]));
        assert_eq!(pos["B"][1]["l"], "19.00000000");
        // Replayed at 9 while the server's clock reads 5000 (a replay away from speed 1): the fill
        // carries the trade's time, the account update the server's.
        t.on_trade(18_990_000, 30 * SCALE, 9, 5_000);
        let tr: Value = serde_json::from_str(&rx.try_recv().unwrap()).unwrap();
        assert_eq!(
            (tr["x"].as_str(), tr["X"].as_str()),
            (Some("TRADE"), Some("PARTIALLY_FILLED"))
        );
        assert_eq!(tr["T"], 9);
        assert_eq!(
            (tr["l"].as_str(), tr["L"].as_str()),
            (Some("30.00000000"), Some("0.19000000"))
        );
        assert_eq!(
            (tr["n"].as_str(), tr["N"].as_str()),
            (Some("0.03000000"), Some("POL"))
        );
        assert_eq!(
            (tr["m"].as_bool(), tr["Y"].as_str()),
            (Some(true), Some("5.70000000"))
        );
        let filled: Value = serde_json::from_str(&rx.try_recv().unwrap()).unwrap();
        assert_eq!(
            (filled["e"].as_str(), filled["u"].as_i64()),
            (Some("outboundAccountPosition"), Some(5_000))
        );
        let c = t.cancel(None, Some("abc"), "cx".into(), 10).unwrap();
        assert_eq!(c.status, crate::orders::Status::Canceled);
        let can: Value = serde_json::from_str(&rx.try_recv().unwrap()).unwrap();
        assert_eq!(
            (can["c"].as_str(), can["C"].as_str()),
            (Some("cx"), Some("abc"))
        );
        assert_eq!(can["X"], "CANCELED");
    }

    #[test]
    fn listen_keys() {
        let t = trading();
        let k = t.start_listen_key();
        assert_eq!(k.len(), 60);
        assert_eq!(t.start_listen_key(), k);
        assert!(t.keep_alive(&k) && t.listen_key_valid(&k));
        assert!(!t.keep_alive("other"));
        assert!(t.close_listen_key(&k));
        assert!(!t.listen_key_valid(&k));
        assert_ne!(t.start_listen_key(), k);
    }
}
