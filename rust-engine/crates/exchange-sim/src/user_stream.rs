//! The user data stream, both documented ways (binance-spot-api-docs `user-data-stream.md`,
//! `web-socket-api.md`):
//!
//! * the WebSocket API at `/ws-api/v3`, two ways to subscribe:
//!   * `session.logon` (params `apiKey`, `timestamp`, `signature`, optional `recvWindow`; the
//!     Ed25519 key only: base64 Ed25519 signature over the sorted params) authenticates the
//!     connection, then `userDataStream.subscribe` (no params) subscribes it;
//!     `userDataStream.subscribe` on a connection not logged on is refused (401 / -2015);
//!   * `userDataStream.subscribe.signature` (same params; the HMAC key with a hex HMAC-SHA256
//!     signature, or the Ed25519 key with a base64 one) needs no logon;
//!
//!   both answer `{"id":..,"status":200,"result":{"subscriptionId":N}}`, then every event comes
//!   wrapped as `{"subscriptionId":N,"event":{...}}`; also `userDataStream.unsubscribe`
//!   (answered, then `eventStreamTerminated` for each subscription it ended),
//!   `session.subscriptions`, `ping` and `time`. Errors: -1102 missing param, 401 / -2014 malformed
//!   API key, 401 / -2015 unknown key (and, the venue's choice, an HMAC key given to
//!   `session.logon`), -1022 bad signature, -1021 timestamp outside `recvWindow`;
//! * the legacy listen key: `/ws/<listenKey>` (key from `POST /api/v3/userDataStream`) carries the
//!   events unwrapped, `/stream?streams=<listenKey>` wrapped as `{"stream":<listenKey>,"data":..}`;
//!   when the key expires a `listenKeyExpired` event is sent and the stream closes; when it is
//!   deleted the stream closes.
//!
//! Both kinds of connection are kept alive as market-data ones are ([`crate::connection::Pings`]:
//! a ping every [`Keepalive::ping_every`], closed without a pong within
//! [`Keepalive::pong_within`]; notes §1.1), and closed as they are when the venue closes
//! ([`Venue::close_all`]: close code 1000 "replay finished"); they are counted in
//! `user_stream_clients`, which shutdown waits for.
//!
//! Events: `executionReport` for every order state change and `outboundAccountPosition` after
//! every balance change ([`crate::trading::event_json`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{close_code, Message, WebSocket};
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{timeout, Instant};
use tracing::info;

#[cfg(doc)]
use crate::connection::Keepalive;
use crate::connection::{
    close, close_for_no_pong, close_for_venue_end, KeepaliveDue, Pings, SEND_TIMEOUT,
};
use crate::signing::{check_timestamp, recv_window_ms, timestamp_ms, ws_payload};
use crate::trading::KeyKind;
use crate::venue::Venue;
use crate::wire;

/// How often a listen-key stream checks that its key is still valid.
pub const KEY_CHECK: Duration = Duration::from_millis(200);
async fn send(socket: &mut WebSocket, msg: Message) -> bool {
    matches!(timeout(SEND_TIMEOUT, socket.send(msg)).await, Ok(Ok(())))
}

async fn send_text(socket: &mut WebSocket, text: String) -> bool {
    send(socket, Message::Text(text)).await
}

/// Does what the keepalive asks: sends the ping due, or closes a connection whose ping went
/// unanswered. False when the connection is over.
async fn keep_alive(socket: &mut WebSocket, venue: &Venue, due: KeepaliveDue) -> bool {
    match due {
        KeepaliveDue::Ping(ping) => send(socket, ping).await,
        KeepaliveDue::NoPong => {
            close_for_no_pong(socket, venue).await;
            false
        }
    }
}

/// A user data stream connection, counted in `user_stream_clients` while it is served.
struct Counted<'a>(&'a AtomicU64);

impl<'a> Counted<'a> {
    fn new(count: &'a AtomicU64) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Counted(count)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves a legacy user data stream on `key` (events read from `rx`) until the key ends, the
/// client leaves or stops answering pings, or the venue closes; each event wrapped as
/// `{"stream":<key>,"data":..}` when `combined` (notes §4.2: "User Data Streams are accessed at
/// `/ws/<listenKey>` or `/stream?streams=<listenKey>`"; §1.1 for the wrapping).
pub async fn serve_listen_key(
    mut socket: WebSocket,
    venue: Arc<Venue>,
    key: String,
    mut rx: broadcast::Receiver<Arc<String>>,
    combined: bool,
) {
    let framed = |event: &str| {
        if combined {
            wire::combined(&key, event)
        } else {
            event.to_owned()
        }
    };
    let _counted = Counted::new(&venue.stats.user_stream_clients);
    let mut check = tokio::time::interval(KEY_CHECK);
    let mut pings = Pings::new(venue.keepalive);
    info!(combined, "user data stream connected (listen key)");
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(text) => {
                    if !send_text(&mut socket, framed(&text)).await {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => {
                    close(&mut socket, close_code::POLICY, "too slow").await;
                    return;
                }
            },
            _ = check.tick() => match venue.trading.listen_key_expiry(&key) {
                Some(e) if e > Instant::now() => {}
                Some(_) => {
                    let ev = json!({
                        "e": "listenKeyExpired",
                        "E": venue.server_time_ms(),
                        "listenKey": key,
                    });
                    let _ = send_text(&mut socket, framed(&ev.to_string())).await;
                    close(&mut socket, close_code::NORMAL, "listenKey expired").await;
                    return;
                }
                None => {
                    close(&mut socket, close_code::NORMAL, "listenKey deleted").await;
                    return;
                }
            },
            due = pings.due(false) => {
                if !keep_alive(&mut socket, &venue, due).await {
                    return;
                }
            }
            () = venue.closed() => {
                close_for_venue_end(&mut socket).await;
                return;
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(Message::Pong(p))) => pings.on_pong(&p),
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Serves one WebSocket API connection until the client leaves or stops answering pings, or the
/// venue closes.
pub async fn serve_ws_api(mut socket: WebSocket, venue: Arc<Venue>) {
    let _counted = Counted::new(&venue.stats.user_stream_clients);
    let mut rx = venue.trading.subscribe();
    let mut session = Session::new(venue.server_time_ms());
    let mut pings = Pings::new(venue.keepalive);
    info!("WebSocket API client connected");
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(text) => {
                    for id in &session.subs {
                        if !send_text(&mut socket, subscription_event(*id, &text)).await {
                            return;
                        }
                    }
                }
                Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => {
                    close(&mut socket, close_code::POLICY, "too slow").await;
                    return;
                }
            },
            due = pings.due(false) => {
                if !keep_alive(&mut socket, &venue, due).await {
                    return;
                }
            }
            () = venue.closed() => {
                close_for_venue_end(&mut socket).await;
                return;
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(t))) => {
                    let had = session.subs.is_empty();
                    let frames = session.handle(&venue, &t);
                    if had && !session.subs.is_empty() {
                        // Only events after the subscription.
                        rx = rx.resubscribe();
                    }
                    for frame in frames {
                        if !send_text(&mut socket, frame).await {
                            return;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(Message::Pong(p))) => pings.on_pong(&p),
                Some(Ok(_)) => {}
            },
        }
    }
}

/// An event of subscription `id` as the WebSocket API frames it (notes §4.3: "Events are
/// delivered as `{"subscriptionId": 0, "event": { ... }}`").
fn subscription_event(id: u64, event: &str) -> String {
    format!("{{\"subscriptionId\":{id},\"event\":{event}}}")
}

/// The event that tells the end of subscription `id` at `time_ms` (notes §4.3:
/// "`eventStreamTerminated` is sent when the subscription ends
/// (`{"subscriptionId":0,"event":{"e":"eventStreamTerminated","E":1728973001334}}`)", fixture
/// `uds_event_stream_terminated_wrapped.json`).
fn stream_terminated(id: u64, time_ms: i64) -> String {
    subscription_event(
        id,
        &json!({"e": "eventStreamTerminated", "E": time_ms}).to_string(),
    )
}

/// One WebSocket API connection: its logon and subscriptions.
#[derive(Debug, Default)]
pub struct Session {
    /// Active subscription ids.
    pub subs: Vec<u64>,
    next: u64,
    /// The API key logged on with `session.logon` and when, server ms.
    pub logged_on: Option<(String, i64)>,
    connected_ms: i64,
}

/// An error answer: HTTP-like status, Binance code, message.
type Refusal = (u16, i64, String);

fn unauthorized() -> Refusal {
    (
        401,
        -2015,
        "Invalid API-key, IP, or permissions for action.".to_owned(),
    )
}

fn ok(id: &Value, result: Value) -> String {
    json!({"id": id, "status": 200, "result": result}).to_string()
}

fn err(id: &Value, status: u16, code: i64, msg: &str) -> String {
    json!({"id": id, "status": status, "error": {"code": code, "msg": msg}}).to_string()
}

/// A parameter's value as signed text: strings as they are, numbers and booleans as written.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Session {
    /// A connection opened at `connected_ms` (server time).
    pub fn new(connected_ms: i64) -> Self {
        Session {
            connected_ms,
            ..Session::default()
        }
    }

    fn add_subscription(&mut self) -> u64 {
        let sub = self.next;
        self.next += 1;
        self.subs.push(sub);
        sub
    }

    /// Answers one request: the frames to send, the answer first, then an
    /// `eventStreamTerminated` for each subscription the request ended.
    pub fn handle(&mut self, venue: &Venue, text: &str) -> Vec<String> {
        let before = self.subs.clone();
        let answer = self.answer(venue, text);
        let now = venue.server_time_ms();
        let ended = before.into_iter().filter(|s| !self.subs.contains(s));
        std::iter::once(answer)
            .chain(ended.map(|s| stream_terminated(s, now)))
            .collect()
    }

    fn answer(&mut self, venue: &Venue, text: &str) -> String {
        let Ok(req) = serde_json::from_str::<Value>(text) else {
            return err(&Value::Null, 400, -1100, "Invalid JSON request.");
        };
        let id = req.get("id").cloned().unwrap_or(Value::Null);
        let params = req.get("params").cloned().unwrap_or_else(|| json!({}));
        match req.get("method").and_then(Value::as_str) {
            Some("userDataStream.subscribe.signature") => match verify(venue, &params, None) {
                Ok((kind, _)) => {
                    venue
                        .trading
                        .ws_api
                        .signature_subscriptions
                        .fetch_add(1, Ordering::Relaxed);
                    info!(?kind, "userDataStream.subscribe.signature accepted");
                    ok(&id, json!({"subscriptionId": self.add_subscription()}))
                }
                Err((status, code, msg)) => err(&id, status, code, &msg),
            },
            // The venue's choice (the notes only say "Ed25519 only"): an HMAC key is refused as
            // an invalid key (401 / -2015) before its signature is looked at.
            Some("session.logon") => match verify(venue, &params, Some(KeyKind::Ed25519)) {
                Ok((_, key)) => {
                    let now = venue.server_time_ms();
                    self.logged_on = Some((key.clone(), now));
                    venue.trading.ws_api.logons.fetch_add(1, Ordering::Relaxed);
                    info!("session.logon accepted (Ed25519)");
                    ok(
                        &id,
                        json!({
                            "apiKey": key,
                            "authorizedSince": now,
                            "connectedSince": self.connected_ms,
                            "returnRateLimits": false,
                            "serverTime": now,
                            "userDataStream": !self.subs.is_empty(),
                        }),
                    )
                }
                Err((status, code, msg)) => err(&id, status, code, &msg),
            },
            Some("userDataStream.subscribe") => {
                if self.logged_on.is_none() {
                    let (status, code, msg) = unauthorized();
                    return err(&id, status, code, &msg);
                }
                venue
                    .trading
                    .ws_api
                    .session_subscriptions
                    .fetch_add(1, Ordering::Relaxed);
                ok(&id, json!({"subscriptionId": self.add_subscription()}))
            }
            Some("userDataStream.unsubscribe") => {
                match params.get("subscriptionId").and_then(Value::as_u64) {
                    Some(s) if self.subs.contains(&s) => self.subs.retain(|x| *x != s),
                    Some(_) => {
                        return err(&id, 400, -2035, "User Data Stream subscription not active.")
                    }
                    None => self.subs.clear(),
                }
                ok(&id, json!({}))
            }
            Some("session.subscriptions") => ok(
                &id,
                Value::Array(
                    self.subs
                        .iter()
                        .map(|s| json!({"subscriptionId": s}))
                        .collect(),
                ),
            ),
            Some("ping") => ok(&id, json!({})),
            Some("time") => ok(&id, json!({"serverTime": venue.server_time_ms()})),
            _ => err(&id, 400, -1020, "This operation is not supported."),
        }
    }
}

/// Checks the params of `userDataStream.subscribe.signature` and `session.logon`: the key, then
/// the signature with that key, then the timestamp; a key not of kind `only` (when given) is
/// refused as unknown. The key's kind and the key when valid.
fn verify(
    venue: &Venue,
    params: &Value,
    only: Option<KeyKind>,
) -> Result<(KeyKind, String), Refusal> {
    let mandatory = |n: &str| {
        (
            400,
            -1102,
            format!("Mandatory parameter '{n}' was not sent, was empty/null, or malformed."),
        )
    };
    let obj = params.as_object().ok_or_else(|| mandatory("apiKey"))?;
    let key = obj
        .get("apiKey")
        .and_then(Value::as_str)
        .ok_or_else(|| mandatory("apiKey"))?;
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err((401, -2014, "API-key format invalid.".to_owned()));
    }
    let kind = venue
        .trading
        .key_kind(key)
        .filter(|k| only.is_none_or(|o| o == *k))
        .ok_or_else(unauthorized)?;
    let ts = obj
        .get("timestamp")
        .map(text_of)
        .and_then(|t| timestamp_ms(&t))
        .ok_or_else(|| mandatory("timestamp"))?;
    let window = recv_window_ms(obj.get("recvWindow").map(text_of).as_deref())
        .map_err(|_| mandatory("recvWindow"))?;
    let sig = obj
        .get("signature")
        .and_then(Value::as_str)
        .ok_or_else(|| mandatory("signature"))?;
    let payload = ws_payload(obj.iter().map(|(k, v)| (k.as_str(), text_of(v))));
    if !venue
        .trading
        .verify_signature(kind, payload.as_bytes(), sig)
    {
        return Err((
            400,
            -1022,
            "Signature for this request is not valid.".to_owned(),
        ));
    }
    check_timestamp(ts, window, venue.server_time_ms())
        .map_err(|e| (400, -1021, e.msg().to_owned()))?;
    Ok((kind, key.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::Book;
    use crate::exchange_info::SymbolSpec;
    use crate::signing::{hmac_hex, DEFAULT_API_KEY, DEFAULT_API_SECRET};
    use crate::units::SCALE;
    use crate::venue::{VenueOptions, INITIAL_UPDATE_ID};

    fn venue() -> Arc<Venue> {
        let spec = SymbolSpec::new_checked("POLUSDT", 10_000, SCALE / 10, 5 * SCALE).unwrap();
        Venue::new(
            VenueOptions::new(spec),
            Book::empty(INITIAL_UPDATE_ID),
            None,
        )
    }

    fn subscribe(ts: i64, secret: &str, extra: &str) -> String {
        let payload = format!("apiKey={DEFAULT_API_KEY}{extra}&timestamp={ts}");
        let sig = hmac_hex(secret, payload.as_bytes());
        let mut params = json!({"apiKey": DEFAULT_API_KEY, "timestamp": ts, "signature": sig});
        if !extra.is_empty() {
            params["recvWindow"] = json!(10000);
        }
        json!({"id": "s", "method": "userDataStream.subscribe.signature", "params": params})
            .to_string()
    }

    /// The RFC 8032 TEST 1 private key (the notes' derived vectors), which the venue's default
    /// Ed25519 public key belongs to.
    fn test1_key() -> ed25519_dalek::SigningKey {
        let fx = crate::test_fixtures::fixture("signature_vectors.json");
        let seed: [u8; 32] = hex::decode(fx["ed25519"]["private_key_seed_hex"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        ed25519_dalek::SigningKey::from_bytes(&seed)
    }

    /// A `method` request signed with `key` over apiKey, recvWindow and timestamp.
    fn ed25519_request(
        method: &str,
        api_key: &str,
        key: &ed25519_dalek::SigningKey,
        ts: i64,
    ) -> String {
        use base64::Engine as _;
        use ed25519_dalek::Signer as _;
        let payload = format!("apiKey={api_key}&recvWindow=6000&timestamp={ts}");
        let sig = base64::engine::general_purpose::STANDARD
            .encode(key.sign(payload.as_bytes()).to_bytes());
        json!({"id": "l", "method": method, "params": {
            "apiKey": api_key, "recvWindow": 6000, "timestamp": ts, "signature": sig}})
        .to_string()
    }

    #[test]
    fn ed25519_logon_then_subscribe() {
        use crate::signing::DEFAULT_ED25519_API_KEY as ED_KEY;
        let v = venue();
        let key = test1_key();
        let now = v.server_time_ms();
        let mut s = Session::new(now - 10);
        let subscribe = r#"{"id":"u","method":"userDataStream.subscribe"}"#;
        // Not logged on yet.
        let r = reply(&mut s, &v, subscribe);
        assert_eq!(
            (r["status"].as_u64(), r["error"]["code"].as_i64()),
            (Some(401), Some(-2015))
        );
        assert!(s.subs.is_empty());
        // Refused logons: bad signature, stale timestamp, unknown key, malformed key, HMAC key.
        let other = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let cases = [
            (
                ed25519_request("session.logon", ED_KEY, &other, now),
                400,
                -1022,
            ),
            (
                ed25519_request("session.logon", ED_KEY, &key, now - 60_000),
                400,
                -1021,
            ),
            (
                ed25519_request("session.logon", ED_KEY, &key, now + 5_000),
                400,
                -1021,
            ),
            (
                ed25519_request("session.logon", "unknown", &key, now),
                401,
                -2015,
            ),
            (
                ed25519_request("session.logon", "bad key", &key, now),
                401,
                -2014,
            ),
            (
                ed25519_request("session.logon", DEFAULT_API_KEY, &key, now),
                401,
                -2015,
            ),
        ];
        for (req, status, code) in cases {
            let r = reply(&mut s, &v, &req);
            assert_eq!(
                (r["status"].as_u64(), r["error"]["code"].as_i64()),
                (Some(status), Some(code)),
                "{req}"
            );
            assert!(s.logged_on.is_none());
        }
        let r = reply(
            &mut s,
            &v,
            r#"{"id":"m","method":"session.logon","params":{"timestamp":1}}"#,
        );
        assert_eq!(r["error"]["code"], -1102);
        // Logon, then subscribe without params.
        let r = reply(
            &mut s,
            &v,
            &ed25519_request("session.logon", ED_KEY, &key, now),
        );
        assert_eq!(r["status"], 200, "{r}");
        assert_eq!(r["id"], "l");
        assert_eq!(r["result"]["apiKey"], ED_KEY);
        assert_eq!(r["result"]["connectedSince"], now - 10);
        assert_eq!(r["result"]["userDataStream"], false);
        assert_eq!(s.logged_on.as_ref().map(|(k, _)| k.as_str()), Some(ED_KEY));
        let r = reply(&mut s, &v, subscribe);
        let documented =
            crate::test_fixtures::fixture("wsapi_user_data_stream_subscribe_response.json");
        assert_eq!(r["status"], documented["status"]);
        assert_eq!(r["result"], documented["result"]);
        assert_eq!(s.subs, vec![0]);
        // The signature method also takes the Ed25519 key, with no logon needed.
        let mut fresh = Session::new(now);
        let r = reply(
            &mut fresh,
            &v,
            &ed25519_request("userDataStream.subscribe.signature", ED_KEY, &key, now),
        );
        assert_eq!(r["result"]["subscriptionId"], 0, "{r}");
        assert!(fresh.logged_on.is_none());
    }

    fn reply(s: &mut Session, v: &Venue, text: &str) -> Value {
        replies(s, v, text).remove(0)
    }

    /// Every frame a request is answered with.
    fn replies(s: &mut Session, v: &Venue, text: &str) -> Vec<Value> {
        s.handle(v, text)
            .iter()
            .map(|f| serde_json::from_str(f).unwrap())
            .collect()
    }

    #[test]
    fn subscribe_unsubscribe_and_errors() {
        let v = venue();
        let mut s = Session::default();
        let now = v.server_time_ms();
        let r = reply(&mut s, &v, &subscribe(now, DEFAULT_API_SECRET, ""));
        assert_eq!(
            r,
            json!({"id": "s", "status": 200, "result": {"subscriptionId": 0}})
        );
        let r = reply(
            &mut s,
            &v,
            &subscribe(now, DEFAULT_API_SECRET, "&recvWindow=10000"),
        );
        assert_eq!(r["result"]["subscriptionId"], 1);
        let r = reply(&mut s, &v, &subscribe(now, "wrong", ""));
        assert_eq!(r["error"]["code"], -1022);
        let r = reply(&mut s, &v, &subscribe(now - 60_000, DEFAULT_API_SECRET, ""));
        assert_eq!(r["error"]["code"], -1021);
        let r = reply(&mut s, &v, r#"{"id":1,"method":"session.subscriptions"}"#);
        assert_eq!(
            r["result"],
            json!([{"subscriptionId": 0}, {"subscriptionId": 1}])
        );
        // Each subscription ended is told, after the answer, as the notes' fixture shows it.
        let documented = crate::test_fixtures::fixture("uds_event_stream_terminated_wrapped.json");
        let terminated = |frame: &Value, sub: u64| {
            assert_eq!(frame["subscriptionId"], sub, "{frame}");
            assert_eq!(frame["event"]["e"], documented["event"]["e"], "{frame}");
            assert!(
                frame["event"]["E"].as_i64().is_some_and(|t| t >= now),
                "{frame}"
            );
            let keys = crate::test_fixtures::keys;
            assert_eq!(keys(frame), keys(&documented));
            assert_eq!(keys(&frame["event"]), keys(&documented["event"]));
        };
        let r = replies(
            &mut s,
            &v,
            r#"{"id":2,"method":"userDataStream.unsubscribe","params":{"subscriptionId":0}}"#,
        );
        assert_eq!((r.len(), &r[0]["status"]), (2, &json!(200)), "{r:?}");
        terminated(&r[1], 0);
        assert_eq!(s.subs, vec![1]);
        let r = replies(
            &mut s,
            &v,
            r#"{"id":3,"method":"userDataStream.unsubscribe","params":{"subscriptionId":0}}"#,
        );
        assert_eq!((r.len(), &r[0]["error"]["code"]), (1, &json!(-2035)));
        let r = replies(
            &mut s,
            &v,
            r#"{"id":4,"method":"userDataStream.unsubscribe"}"#,
        );
        assert_eq!((r.len(), &r[0]["status"]), (2, &json!(200)), "{r:?}");
        terminated(&r[1], 1);
        assert!(s.subs.is_empty());
        let bad_key = json!({"id": 5, "method": "userDataStream.subscribe.signature",
            "params": {"apiKey": "x", "timestamp": now, "signature": "00"}});
        let r = reply(&mut s, &v, &bad_key.to_string());
        assert_eq!(
            (r["status"].as_u64(), r["error"]["code"].as_i64()),
            (Some(401), Some(-2015))
        );
        assert_eq!(reply(&mut s, &v, "{nope")["status"], 400);
        assert_eq!(
            reply(&mut s, &v, r#"{"id":6,"method":"order.place"}"#)["error"]["code"],
            -1020
        );
        assert_eq!(
            reply(&mut s, &v, r#"{"id":7,"method":"ping"}"#)["result"],
            json!({})
        );
    }
}
