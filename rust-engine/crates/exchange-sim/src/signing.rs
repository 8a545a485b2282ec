//! Checking `SIGNED` requests as Binance does (binance-spot-api-docs `rest-api.md` "Request
//! Security", "Timing security", "SIGNED Endpoint Examples"; `web-socket-api.md` "Signed request
//! security"), independently of any client's signing code:
//!
//! * REST: the signature payload is the query string concatenated **without separator** to the
//!   body, both exactly as sent (percent-encoding kept), minus the `signature` parameter; the
//!   signature is the hex HMAC-SHA256 of that payload keyed with the secret, compared without
//!   regard to case;
//! * WebSocket API: every parameter but `signature`, sorted by name, `name=value` joined by `&`,
//!   values as UTF-8 text (no percent-encoding);
//! * `timestamp` (ms, or µs when it has 16 digits) must be less than 1000 ms ahead of the server's
//!   time and at most `recvWindow` (default 5000, at most 60000, up to three decimals) behind it.
//! * Ed25519 keys (`rest-api.md` "Ed25519 Keys", PROTOCOL_NOTES §2.4): the same payloads, the
//!   signature is the base64 of the 64-byte Ed25519 signature (case-sensitive), percent-encoded
//!   in a query string or body, verified with the account's public key.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::pkcs8::DecodePublicKey;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `recvWindow` when none is sent, ms.
pub const DEFAULT_RECV_WINDOW_MS: f64 = 5_000.0;
/// Largest `recvWindow` accepted, ms.
pub const MAX_RECV_WINDOW_MS: f64 = 60_000.0;
/// A `timestamp` this far ahead of the server's time (ms) or more is refused.
pub const MAX_AHEAD_MS: f64 = 1_000.0;
/// The documented test key used when neither `--api-key` nor `SIM_API_KEY` is given: the HMAC
/// example key of binance-spot-api-docs `rest-api.md` ("SIGNED Endpoint Examples", HMAC Keys).
pub const DEFAULT_API_KEY: &str =
    "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
/// The documented test secret matching [`DEFAULT_API_KEY`].
pub const DEFAULT_API_SECRET: &str =
    "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

/// The API key of the Ed25519 key pair used when neither `--ed25519-api-key` nor
/// `SIM_ED25519_API_KEY` is given: the API key of binance-spot-api-docs `web-socket-api.md`
/// "SIGNED Request Example (Ed25519)" (the fixture's `wsapi_order_place_ascii_docs_apikey`
/// vector), so the notes' derived Ed25519 vectors verify as they are.
pub const DEFAULT_ED25519_API_KEY: &str =
    "4yNzx3yWC5bS6YTwEkSRaC0nRmSQIIStAUOh1b6kqaBrTLIhjCpI5lJH8q8R8WNO";
/// The public key used when neither `--ed25519-public-key` nor `SIM_ED25519_PUBLIC_KEY` is
/// given: RFC 8032 §7.1 TEST 1 (`d75a9801...07511a`), whose private key signed the notes' derived
/// vectors. A published test key: never a real credential.
pub const DEFAULT_ED25519_PUBLIC_KEY: [u8; 32] = [
    0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
    0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
];

/// [`DEFAULT_ED25519_PUBLIC_KEY`] as a key.
pub fn default_ed25519_key() -> VerifyingKey {
    // A valid curve point (RFC 8032 TEST 1; checked by the tests).
    VerifyingKey::from_bytes(&DEFAULT_ED25519_PUBLIC_KEY)
        .expect("the RFC 8032 TEST 1 public key is a valid point")
}

/// An Ed25519 public key from PEM (`-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo, as
/// `openssl pkey -pubout` writes it and Binance asks for it).
///
/// # Errors
/// What is wrong, without quoting the text.
pub fn ed25519_public_key_from_pem(pem: &str) -> Result<VerifyingKey, String> {
    VerifyingKey::from_public_key_pem(pem.trim()).map_err(|e| e.to_string())
}

/// True when `signature` (base64, already percent-decoded) is `key`'s Ed25519 signature of
/// `payload`.
pub fn verify_ed25519(key: &VerifyingKey, payload: &[u8], signature: &str) -> bool {
    let Ok(raw) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    let Ok(raw) = <[u8; 64]>::try_from(raw.as_slice()) else {
        return false;
    };
    key.verify(payload, &Signature::from_bytes(&raw)).is_ok()
}

type HmacSha256 = Hmac<Sha256>;

/// Lower-case hex HMAC-SHA256 of `payload` keyed with `secret`.
pub fn hmac_hex(secret: &str, payload: &[u8]) -> String {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(payload);
    hex::encode(mac.finalize().into_bytes())
}

/// True when `signature` (hex, any case) is the HMAC of `payload` under `secret`, compared in
/// constant time.
pub fn verify_hmac(secret: &str, payload: &[u8], signature: &str) -> bool {
    let Ok(sig) = hex::decode(signature.trim()) else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(payload);
    mac.verify_slice(&sig).is_ok()
}

/// Splits a form-encoded part (query string or body) into the text without its `signature`
/// parameter(s), exactly as sent otherwise, and the last signature's (decoded) value.
pub fn strip_signature(part: &str) -> (String, Option<String>) {
    let mut sig = None;
    let kept: Vec<&str> = part
        .split('&')
        .filter(|seg| match seg.strip_prefix("signature=") {
            Some(v) => {
                sig = Some(percent_decode(v));
                false
            }
            None => true,
        })
        .collect();
    (kept.join("&"), sig)
}

/// The REST signature payload and the signature sent: query string ++ body, each without its
/// `signature` parameter.
pub fn rest_payload(query: &str, body: &str) -> (String, Option<String>) {
    let (q, qs) = strip_signature(query);
    let (b, bs) = if body.is_empty() {
        (String::new(), None)
    } else {
        strip_signature(body)
    };
    (q + &b, qs.or(bs))
}

/// The WebSocket API signature payload of `params` (name, value as text): sorted by name,
/// `signature` left out.
pub fn ws_payload<'a>(params: impl IntoIterator<Item = (&'a str, String)>) -> String {
    let mut p: Vec<(&str, String)> = params
        .into_iter()
        .filter(|(k, _)| *k != "signature")
        .collect();
    p.sort_by(|a, b| a.0.cmp(b.0));
    p.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Decodes `application/x-www-form-urlencoded` text into pairs (`+` is a space, `%XX` a byte).
pub fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|s| !s.is_empty())
        .map(|seg| {
            let (k, v) = seg.split_once('=').unwrap_or((seg, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Percent-decodes `text` (`+` as a space); invalid escapes are kept as written.
pub fn percent_decode(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a timestamp was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampError {
    /// `timestamp` is 1000 ms or more ahead of the server.
    Ahead,
    /// `timestamp` is more than `recvWindow` behind the server.
    Outside,
}

impl TimestampError {
    /// Binance's message (code -1021).
    pub fn msg(self) -> &'static str {
        match self {
            TimestampError::Ahead => {
                "Timestamp for this request was 1000ms ahead of the server's time."
            }
            TimestampError::Outside => "Timestamp for this request is outside of the recvWindow.",
        }
    }
}

/// A `timestamp` parameter in ms (µs when it has 16 digits or more).
pub fn timestamp_ms(text: &str) -> Option<f64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.len() > 19 {
        return None;
    }
    let v: u64 = text.parse().ok()?;
    Some(if v >= 1_000_000_000_000_000 {
        v as f64 / 1000.0
    } else {
        v as f64
    })
}

/// A `recvWindow` parameter in ms: a decimal with at most three decimals, above 0, at most
/// [`MAX_RECV_WINDOW_MS`]. `Err(true)` when it is too large, `Err(false)` when malformed.
pub fn recv_window_ms(text: Option<&str>) -> Result<f64, bool> {
    let Some(text) = text else {
        return Ok(DEFAULT_RECV_WINDOW_MS);
    };
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let ok = !int.is_empty()
        && int.len() <= 20
        && frac.len() <= 3
        && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit());
    let v: f64 = if ok {
        text.parse().map_err(|_| false)?
    } else {
        return Err(false);
    };
    if v > MAX_RECV_WINDOW_MS {
        return Err(true);
    }
    if v <= 0.0 {
        return Err(false);
    }
    Ok(v)
}

/// Binance's timing check at server time `server_ms`.
pub fn check_timestamp(
    ts_ms: f64,
    recv_window_ms: f64,
    server_ms: i64,
) -> Result<(), TimestampError> {
    let server = server_ms as f64;
    if ts_ms >= server + MAX_AHEAD_MS {
        return Err(TimestampError::Ahead);
    }
    if server - ts_ms > recv_window_ms {
        return Err(TimestampError::Outside);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::fixture;

    #[test]
    fn every_documented_hmac_vector_verifies() {
        let fx = fixture("signature_vectors.json");
        let h = &fx["hmac_sha256"];
        let secret = h["secretKey"].as_str().unwrap();
        assert_eq!(secret, DEFAULT_API_SECRET);
        assert_eq!(h["apiKey"].as_str().unwrap(), DEFAULT_API_KEY);
        let mut n = 0;
        for v in h["vectors"].as_array().unwrap() {
            let payload = v["payload"].as_str().unwrap();
            let sig = v["signature"].as_str().unwrap();
            assert_eq!(hmac_hex(secret, payload.as_bytes()), sig, "{}", v["name"]);
            assert!(verify_hmac(secret, payload.as_bytes(), &sig.to_uppercase()));
            assert!(!verify_hmac(secret, payload.as_bytes(), &sig[..62]));
            if let (Some(q), Some(b)) = (v["query_string"].as_str(), v["body"].as_str()) {
                let sent_body = v["sent_body"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{b}&signature={sig}"));
                let (p, s) = rest_payload(q, &sent_body);
                assert_eq!((p.as_str(), s.as_deref()), (payload, Some(sig)));
            }
            n += 1;
        }
        assert!(n >= 5);
    }

    /// The notes' DERIVED Ed25519 vectors verify under the default key, in REST form
    /// (percent-encoded in the query string) and as sent in a WebSocket API request.
    #[test]
    fn every_derived_ed25519_vector_verifies() {
        let fx = fixture("signature_vectors.json");
        let e = &fx["ed25519"];
        assert_eq!(
            hex::encode(DEFAULT_ED25519_PUBLIC_KEY),
            e["public_key_hex"].as_str().unwrap()
        );
        let key = default_ed25519_key();
        let mut n = 0;
        for v in e["vectors"].as_array().unwrap() {
            let payload = v["payload"].as_str().unwrap();
            let b64 = v["signature_base64"].as_str().unwrap();
            assert!(
                verify_ed25519(&key, payload.as_bytes(), b64),
                "{}",
                v["name"]
            );
            let query = format!(
                "{payload}&signature={}",
                v["signature_percent_encoded"].as_str().unwrap()
            );
            let (p, s) = rest_payload(&query, "");
            assert_eq!(p, payload);
            assert!(verify_ed25519(&key, p.as_bytes(), &s.unwrap()));
            // Case-sensitive, and bound to the payload.
            assert!(!verify_ed25519(
                &key,
                payload.as_bytes(),
                &b64.to_lowercase()
            ));
            assert!(!verify_ed25519(&key, b"x", b64));
            assert!(!verify_ed25519(&key, payload.as_bytes(), "AAAA"));
            assert!(!verify_ed25519(&key, payload.as_bytes(), "not base64!"));
            n += 1;
        }
        assert_eq!(n, 2);
        // The docs' Ed25519 API key is the default's, so the WS API vector is its request.
        assert!(e["vectors"][1]["payload"]
            .as_str()
            .unwrap()
            .starts_with(&format!("apiKey={DEFAULT_ED25519_API_KEY}&")));
    }

    #[test]
    fn ed25519_public_keys_from_pem() {
        use ed25519_dalek::pkcs8::EncodePublicKey;
        let pem = default_ed25519_key()
            .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .unwrap();
        assert_eq!(ed25519_public_key_from_pem(&pem), Ok(default_ed25519_key()));
        let fx = fixture("signature_vectors.json");
        // A private key is not a public key; nor is an RSA key or garbage.
        for bad in [
            fx["ed25519"]["private_key_pem_pkcs8"].as_str().unwrap(),
            fx["rsa_pkcs1v15_sha256"]["private_key_pem"]
                .as_str()
                .unwrap(),
            "",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
        ] {
            let e = ed25519_public_key_from_pem(bad).unwrap_err();
            assert!(!e.contains("MC4CAQAw"), "{e}");
        }
    }

    #[test]
    fn the_signature_is_left_out_of_the_payload_wherever_it_is() {
        let (p, s) = rest_payload("a=1&signature=AB&b=2", "");
        assert_eq!((p.as_str(), s.as_deref()), ("a=1&b=2", Some("AB")));
        let (p, s) = rest_payload("a=1", "b=2&signature=cd");
        assert_eq!((p.as_str(), s.as_deref()), ("a=1b=2", Some("cd")));
        let (p, s) = rest_payload("a=1", "");
        assert_eq!((p.as_str(), s), ("a=1", None));
    }

    #[test]
    fn ws_payload_sorts_and_skips_the_signature() {
        let p = ws_payload([
            ("timestamp", "2".to_owned()),
            ("signature", "x".to_owned()),
            ("apiKey", "k".to_owned()),
        ]);
        assert_eq!(p, "apiKey=k&timestamp=2");
        // The WS API documented vector.
        let fx = fixture("signature_vectors.json");
        let v = fx["hmac_sha256"]["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "wsapi_order_place_ascii")
            .unwrap()
            .clone();
        let pairs = parse_form(v["payload"].as_str().unwrap());
        let again = ws_payload(pairs.iter().map(|(k, v)| (k.as_str(), v.clone())));
        assert_eq!(again, v["payload"].as_str().unwrap());
    }

    #[test]
    fn forms_decode() {
        assert_eq!(
            parse_form("symbol=%EF%BC%91&x=a+b&y=&z"),
            vec![
                ("symbol".to_owned(), "１".to_owned()),
                ("x".to_owned(), "a b".to_owned()),
                ("y".to_owned(), String::new()),
                ("z".to_owned(), String::new()),
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
    }

    #[test]
    fn timing_rules() {
        assert_eq!(timestamp_ms("1499827319559"), Some(1_499_827_319_559.0));
        assert_eq!(
            timestamp_ms("1499827319559123"),
            Some(1_499_827_319_559.123)
        );
        assert_eq!(timestamp_ms("-1"), None);
        assert_eq!(timestamp_ms("1e3"), None);
        assert_eq!(recv_window_ms(None), Ok(5000.0));
        assert_eq!(recv_window_ms(Some("6000.346")), Ok(6000.346));
        assert_eq!(recv_window_ms(Some("60001")), Err(true));
        assert_eq!(recv_window_ms(Some("1.2345")), Err(false));
        assert_eq!(recv_window_ms(Some("x")), Err(false));
        assert_eq!(check_timestamp(10_000.0, 5000.0, 10_000), Ok(()));
        assert_eq!(check_timestamp(10_999.0, 5000.0, 10_000), Ok(()));
        assert_eq!(
            check_timestamp(11_000.0, 5000.0, 10_000),
            Err(TimestampError::Ahead)
        );
        assert_eq!(check_timestamp(5_000.0, 5000.0, 10_000), Ok(()));
        assert_eq!(
            check_timestamp(4_999.0, 5000.0, 10_000),
            Err(TimestampError::Outside)
        );
    }
}
