//! HMAC-SHA256 signing of Binance `SIGNED` REST requests (binance-spot-api-docs `rest-api.md`,
//! "Request Security", "SIGNED Endpoint Examples for POST /api/v3/order").
//!
//! * The signature payload is the query string concatenated **without separator** to the body,
//!   exactly as sent; non-ASCII characters are percent-encoded before signing.
//! * `signature` is the lower-case hex HMAC-SHA256 of that payload keyed with the secret; it is
//!   appended last (to the body when there is one, else to the query string) and is not itself
//!   signed.
//! * `timestamp` (ms) is mandatory; it must not be 1000 ms or more ahead of the server's clock
//!   nor older than `recvWindow` (default 5000 ms, at most 60000 ms), so it is computed as local
//!   time plus a server-time offset kept by [`ServerClock`].
//! * The API key travels in the `X-MBX-APIKEY` header.
//!
//! Ed25519 keys (base64 signatures, the only kind the WebSocket API's `session.logon` accepts)
//! are in [`ed25519`].

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Name of the header carrying the API key.
pub const API_KEY_HEADER: &str = "X-MBX-APIKEY";
/// `recvWindow` the venue assumes when none is sent, ms.
pub const DEFAULT_RECV_WINDOW_MS: u64 = 5_000;
/// Largest `recvWindow` the venue accepts, ms.
pub const MAX_RECV_WINDOW_MS: u64 = 60_000;

pub mod ed25519;

pub use ed25519::{Ed25519Key, Ed25519Signer, KeyError};

type HmacSha256 = Hmac<Sha256>;

/// A signing input or clock sample that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    /// `recvWindow` outside `1..=60000` ms.
    #[error("recvWindow {0} ms is outside 1..={MAX_RECV_WINDOW_MS} ms")]
    RecvWindow(u64),
    /// A server-time sample whose answer arrived before its request left.
    #[error("server time sample received at {received_local_ms} ms before it was sent at {sent_local_ms} ms")]
    ClockSample {
        /// Local time the request was sent, ms.
        sent_local_ms: u64,
        /// Local time the answer arrived, ms.
        received_local_ms: u64,
    },
}

/// The API secret. Its value never appears in `Debug` or `Display` output.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiSecret(String);

impl ApiSecret {
    /// Wraps a secret key.
    pub fn new(secret: impl Into<String>) -> Self {
        ApiSecret(secret.into())
    }

    /// Lower-case hex HMAC-SHA256 of `payload` keyed with this secret.
    pub fn sign(&self, payload: &str) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = HmacSha256::new_from_slice(self.0.as_bytes())
            .expect("HMAC-SHA256 accepts keys of any length");
        mac.update(payload.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

impl fmt::Debug for ApiSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiSecret(<redacted>)")
    }
}

impl fmt::Display for ApiSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A validated `recvWindow`, ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecvWindow(u64);

impl RecvWindow {
    /// A window of `ms` milliseconds.
    ///
    /// # Errors
    /// [`SigningError::RecvWindow`] outside `1..=60000`.
    pub fn new(ms: u64) -> Result<Self, SigningError> {
        if (1..=MAX_RECV_WINDOW_MS).contains(&ms) {
            Ok(RecvWindow(ms))
        } else {
            Err(SigningError::RecvWindow(ms))
        }
    }

    /// The window, ms.
    pub fn ms(self) -> u64 {
        self.0
    }
}

impl Default for RecvWindow {
    fn default() -> Self {
        RecvWindow(DEFAULT_RECV_WINDOW_MS)
    }
}

/// Local time in ms since the Unix epoch.
pub fn local_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The offset between the venue's clock and the local one, learnt from `GET /api/v3/time`.
///
/// A sample `(server_ms, sent_local_ms, received_local_ms)` assumes the server read its clock at
/// the midpoint of the round trip, so `offset = server_ms - (sent + received) / 2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerClock {
    offset_ms: i64,
    round_trip_ms: Option<u64>,
}

impl ServerClock {
    /// A clock with no sample yet (offset 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a server-time sample and returns the new offset, ms.
    ///
    /// # Errors
    /// [`SigningError::ClockSample`] when `received_local_ms < sent_local_ms`.
    pub fn record(
        &mut self,
        server_ms: u64,
        sent_local_ms: u64,
        received_local_ms: u64,
    ) -> Result<i64, SigningError> {
        let round_trip =
            received_local_ms
                .checked_sub(sent_local_ms)
                .ok_or(SigningError::ClockSample {
                    sent_local_ms,
                    received_local_ms,
                })?;
        let midpoint = i128::from(sent_local_ms) + i128::from(round_trip / 2);
        let offset = i128::from(server_ms) - midpoint;
        self.offset_ms =
            i64::try_from(offset).unwrap_or(if offset < 0 { i64::MIN } else { i64::MAX });
        self.round_trip_ms = Some(round_trip);
        Ok(self.offset_ms)
    }

    /// Server time minus local time, ms.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms
    }

    /// Round trip of the last sample, ms (`None` before the first).
    pub fn round_trip_ms(&self) -> Option<u64> {
        self.round_trip_ms
    }

    /// The server's time when the local clock reads `local_ms`.
    pub fn server_time_at(&self, local_ms: u64) -> u64 {
        local_ms.saturating_add_signed(self.offset_ms)
    }

    /// The server's time now: the `timestamp` to send.
    pub fn now_ms(&self) -> u64 {
        self.server_time_at(local_now_ms())
    }

    /// The earliest the server's clock may read when the local clock reads `local_ms`: the
    /// estimate less half the last sample's round trip (the server read its clock somewhere in
    /// it). A window counted on the server's clock has surely begun once this passes its start.
    pub fn earliest_server_time_at(&self, local_ms: u64) -> u64 {
        let half_trip = self.round_trip_ms.unwrap_or(0).div_ceil(2);
        self.server_time_at(local_ms).saturating_sub(half_trip)
    }
}

/// Percent-encodes a query-string key or value: the RFC 3986 unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`) stay, every other byte of the UTF-8 form becomes `%XX` (upper case),
/// as in the docs' non-ASCII example (`１` → `%EF%BC%91`).
pub fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// `k1=v1&k2=v2...` in the given order, keys and values percent-encoded.
pub fn encode_params<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&percent_encode(k.as_ref()));
        out.push('=');
        out.push_str(&percent_encode(v.as_ref()));
    }
    out
}

/// The REST signature payload: the query string followed by the body, no separator.
pub fn signature_payload(query: &str, body: &str) -> String {
    let mut payload = String::with_capacity(query.len() + body.len());
    payload.push_str(query);
    payload.push_str(body);
    payload
}

/// The WebSocket API signature payload (`web-socket-api.md`): every param except `signature`,
/// sorted by name, `name=value` joined by `&`, values raw UTF-8 (not percent-encoded).
pub fn ws_api_payload<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .filter(|(k, _)| *k != "signature")
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    sorted
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A signed request's parameters, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedParams {
    /// The query string (without `?`).
    pub query: String,
    /// The `application/x-www-form-urlencoded` body (empty when everything is in the query).
    pub body: String,
    /// The signature, lower-case hex.
    pub signature: String,
}

/// Signs requests for one API key.
#[derive(Clone, PartialEq, Eq)]
pub struct Signer {
    api_key: String,
    secret: ApiSecret,
    recv_window: RecvWindow,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.api_key.chars().take(4).collect();
        f.debug_struct("Signer")
            .field("api_key", &format_args!("{shown}..."))
            .field("secret", &self.secret)
            .field("recv_window", &self.recv_window)
            .finish()
    }
}

impl Signer {
    /// A signer for `api_key`/`secret` sending `recvWindow = recv_window`.
    pub fn new(api_key: impl Into<String>, secret: ApiSecret, recv_window: RecvWindow) -> Self {
        Signer {
            api_key: api_key.into(),
            secret,
            recv_window,
        }
    }

    /// The `X-MBX-APIKEY` header, name and value.
    pub fn api_key_header(&self) -> (&'static str, &str) {
        (API_KEY_HEADER, &self.api_key)
    }

    /// The `recvWindow` sent.
    pub fn recv_window(&self) -> RecvWindow {
        self.recv_window
    }

    /// Signs a request whose `query` and `body` are already encoded, in the order sent.
    /// The returned [`SignedParams`] carries the signature appended last: to the body when
    /// there is one, else to the query string.
    pub fn sign_encoded(&self, query: &str, body: &str) -> SignedParams {
        let signature = self.secret.sign(&signature_payload(query, body));
        let append = |s: &str| {
            if s.is_empty() {
                format!("signature={signature}")
            } else {
                format!("{s}&signature={signature}")
            }
        };
        let (query, body) = if body.is_empty() {
            (append(query), String::new())
        } else {
            (query.to_owned(), append(body))
        };
        SignedParams {
            query,
            body,
            signature,
        }
    }

    /// Signs `params` sent entirely in the query string: they are encoded in the given order,
    /// then `recvWindow` and `timestamp` (ms, from [`ServerClock::now_ms`]) are added and the
    /// signature appended.
    pub fn sign_query<K: AsRef<str>, V: AsRef<str>>(
        &self,
        params: &[(K, V)],
        timestamp_ms: u64,
    ) -> SignedParams {
        let mut query = encode_params(params);
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&format!(
            "recvWindow={}&timestamp={timestamp_ms}",
            self.recv_window.ms()
        ));
        self.sign_encoded(&query, "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    const API_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
    const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    fn vectors() -> Value {
        let path = format!(
            "{}/../../../tests/fixtures/binance/signature_vectors.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn s<'a>(v: &'a Value, key: &str) -> &'a str {
        v[key].as_str().unwrap_or_else(|| panic!("{key} missing"))
    }

    fn signer() -> Signer {
        Signer::new(API_KEY, ApiSecret::new(SECRET), RecvWindow::default())
    }

    /// Every HMAC vector of the fixture, byte for byte. The fixture's `rsa_pkcs1v15_sha256`
    /// section is skipped (no RSA keys here); the `ed25519` one is checked in [`ed25519`].
    #[test]
    fn reproduces_every_hmac_vector() {
        let all = vectors();
        let hmac = &all["hmac_sha256"];
        assert_eq!(s(hmac, "apiKey"), API_KEY);
        assert_eq!(s(hmac, "secretKey"), SECRET);
        assert_eq!(s(hmac, "header"), API_KEY_HEADER);
        let secret = ApiSecret::new(s(hmac, "secretKey"));
        let vectors = hmac["vectors"].as_array().unwrap();
        assert_eq!(vectors.len(), 8);
        for v in vectors {
            let name = s(v, "name");
            let payload = s(v, "payload");
            if let (Some(q), Some(b)) = (v["query_string"].as_str(), v["body"].as_str()) {
                assert_eq!(signature_payload(q, b), payload, "{name}");
                let signed =
                    Signer::new(API_KEY, secret.clone(), RecvWindow::default()).sign_encoded(q, b);
                assert_eq!(signed.signature, s(v, "signature"), "{name}");
                if let Some(sent) = v["sent_body"].as_str() {
                    assert_eq!(signed.body, sent, "{name}");
                    assert_eq!(signed.query, "", "{name}");
                }
            }
            assert_eq!(secret.sign(payload), s(v, "signature"), "{name}");
        }
    }

    #[test]
    fn builds_the_documented_request_from_params() {
        let all = vectors();
        let v = &all["hmac_sha256"]["vectors"][0];
        let params = [
            ("symbol", "LTCBTC"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "1"),
            ("price", "0.1"),
        ];
        let signed = signer().sign_query(&params, 1_499_827_319_559);
        assert_eq!(
            format!("POST https://api.binance.com/api/v3/order?{}", signed.query),
            s(v, "request")
        );
        assert_eq!(
            signed.signature,
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
        assert!(signed.body.is_empty());
    }

    #[test]
    fn non_ascii_values_are_percent_encoded_before_signing() {
        let all = vectors();
        let v = &all["hmac_sha256"]["vectors"][3];
        let params = [
            ("symbol", "１２３４５６"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "1"),
            ("price", "0.1"),
        ];
        let signed = signer().sign_query(&params, 1_499_827_319_559);
        assert_eq!(
            signed.query,
            format!("{}&signature={}", s(v, "payload"), s(v, "signature"))
        );
    }

    #[test]
    fn ws_api_payload_sorts_and_keeps_utf8() {
        let all = vectors();
        let v = &all["hmac_sha256"]["vectors"][6];
        let params = [
            ("symbol", "１２３４５６"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "1.00000000"),
            ("price", "0.10000000"),
            ("recvWindow", "5000"),
            ("timestamp", "1645423376532"),
            ("apiKey", API_KEY),
            ("signature", "ignored"),
        ];
        assert_eq!(ws_api_payload(&params), s(v, "payload"));
    }

    #[test]
    fn mixed_query_and_body_signs_both_and_appends_to_the_body() {
        let signed = signer().sign_encoded(
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
            "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
        );
        assert_eq!(
            signed.query,
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
        );
        assert_eq!(
            signed.body,
            "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
        );
    }

    #[test]
    fn secret_never_printed() {
        let signer = signer();
        for text in [
            format!("{:?}", ApiSecret::new(SECRET)),
            format!("{}", ApiSecret::new(SECRET)),
            format!("{signer:?}"),
            format!("{signer:#?}"),
        ] {
            assert!(!text.contains(SECRET), "{text}");
            assert!(!text.contains("NhqP"), "{text}");
            assert!(!text.contains(API_KEY), "{text}");
        }
        assert_eq!(signer.api_key_header(), ("X-MBX-APIKEY", API_KEY));
    }

    #[test]
    fn recv_window_bounds() {
        assert_eq!(RecvWindow::default().ms(), 5_000);
        assert_eq!(RecvWindow::new(60_000).unwrap().ms(), 60_000);
        assert_eq!(
            RecvWindow::new(60_001),
            Err(SigningError::RecvWindow(60_001))
        );
        assert_eq!(RecvWindow::new(0), Err(SigningError::RecvWindow(0)));
        let s = Signer::new("k", ApiSecret::new("s"), RecvWindow::new(10_000).unwrap());
        assert!(s
            .sign_query(&[("a", "b")], 7)
            .query
            .starts_with("a=b&recvWindow=10000&timestamp=7&signature="));
    }

    #[test]
    fn server_clock_uses_the_round_trip_midpoint() {
        let mut clock = ServerClock::new();
        assert_eq!(clock.server_time_at(1_000), 1_000);
        // Sent at 1000, answered at 1100: the server read 2050 at local 1050 → offset +1000.
        assert_eq!(clock.record(2_050, 1_000, 1_100), Ok(1_000));
        assert_eq!(clock.round_trip_ms(), Some(100));
        assert_eq!(clock.server_time_at(5_000), 6_000);
        assert_eq!(clock.earliest_server_time_at(5_000), 5_950);
        // Server behind the local clock.
        assert_eq!(clock.record(1_000, 1_500, 1_520), Ok(-510));
        assert_eq!(clock.server_time_at(10_000), 9_490);
        assert_eq!(clock.earliest_server_time_at(10_000), 9_480);
        assert_eq!(clock.server_time_at(100), 0);
        assert_eq!(
            clock.record(1, 10, 9),
            Err(SigningError::ClockSample {
                sent_local_ms: 10,
                received_local_ms: 9
            })
        );
        assert_eq!(clock.offset_ms(), -510);
        let now = clock.now_ms();
        assert!(now.abs_diff(local_now_ms()) < 5_000);
    }

    proptest! {
        #[test]
        fn percent_encoding_is_url_safe(input in any::<String>()) {
            let out = percent_encode(&input);
            prop_assert!(out.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
        }

        #[test]
        fn signature_is_64_lower_hex(payload in any::<String>()) {
            let sig = ApiSecret::new(SECRET).sign(&payload);
            prop_assert_eq!(sig.len(), 64);
            prop_assert!(sig.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        }
    }
}
