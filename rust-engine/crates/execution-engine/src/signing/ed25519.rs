//! Ed25519 signing (binance-spot-api-docs `rest-api.md` "Ed25519 Keys", `web-socket-api.md`
//! "SIGNED Request Example (Ed25519)"; PROTOCOL_NOTES §2.4):
//!
//! 1. sign the payload (REST: query string ++ body as sent; WebSocket API: the sorted params of
//!    [`super::ws_api_payload`]) with the private key (RFC 8032, pure Ed25519);
//! 2. encode the 64-byte signature as standard base64 (88 characters, `=` padded);
//! 3. percent-encode that base64 text where it goes into a query string or form body
//!    (`+` → `%2B`, `/` → `%2F`, `=` → `%3D`); in a WebSocket API JSON request it is sent as is.
//!
//! The private key is read from a PKCS#8 PEM file (`-----BEGIN PRIVATE KEY-----`), the format
//! Binance's key generator and `openssl genpkey -algorithm ed25519` write. The key never appears
//! in `Debug` output and no error message quotes it.

use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signer as _, SigningKey};

use super::{percent_encode, RecvWindow};

/// An Ed25519 private key that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key file cannot be read.
    #[error("cannot read the Ed25519 private key file: {0}")]
    Read(String),
    /// The text is not an Ed25519 private key in PKCS#8 PEM.
    #[error("not an Ed25519 private key in PKCS#8 PEM (-----BEGIN PRIVATE KEY-----): {0}")]
    Pem(String),
}

/// An Ed25519 private key. Its value never appears in `Debug` output; it is wiped on drop.
#[derive(Clone)]
pub struct Ed25519Key(SigningKey);

impl Ed25519Key {
    /// The key of a 32-byte seed (the RFC 8032 "secret key").
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Ed25519Key(SigningKey::from_bytes(seed))
    }

    /// Parses a PKCS#8 PEM private key.
    ///
    /// # Errors
    /// [`KeyError::Pem`] when `pem` is not an Ed25519 PKCS#8 private key.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        SigningKey::from_pkcs8_pem(pem.trim())
            .map(Ed25519Key)
            .map_err(|e| KeyError::Pem(e.to_string()))
    }

    /// Reads a PKCS#8 PEM private key file. The error does not repeat the path: callers name
    /// where it came from.
    ///
    /// # Errors
    /// [`KeyError::Read`] or [`KeyError::Pem`].
    pub fn from_pem_file(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::Read(e.to_string()))?;
        Self::from_pkcs8_pem(&text)
    }

    /// The public key (32 bytes), the one registered with the venue.
    pub fn public_key(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// The base64 Ed25519 signature of `payload` (88 characters).
    pub fn sign_base64(&self, payload: &str) -> String {
        STANDARD.encode(self.0.sign(payload.as_bytes()).to_bytes())
    }
}

impl fmt::Debug for Ed25519Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ed25519Key(<redacted>)")
    }
}

/// Signs requests for one Ed25519 API key (the key Binance registered for the public key).
#[derive(Clone)]
pub struct Ed25519Signer {
    api_key: String,
    key: Ed25519Key,
    recv_window: RecvWindow,
}

impl fmt::Debug for Ed25519Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.api_key.chars().take(4).collect();
        f.debug_struct("Ed25519Signer")
            .field("api_key", &format_args!("{shown}..."))
            .field("key", &self.key)
            .field("recv_window", &self.recv_window)
            .finish()
    }
}

impl Ed25519Signer {
    /// A signer for `api_key` and `key` sending `recvWindow = recv_window`.
    pub fn new(api_key: impl Into<String>, key: Ed25519Key, recv_window: RecvWindow) -> Self {
        Ed25519Signer {
            api_key: api_key.into(),
            key,
            recv_window,
        }
    }

    /// The API key.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The `recvWindow` sent.
    pub fn recv_window(&self) -> RecvWindow {
        self.recv_window
    }

    /// The base64 signature of `payload` (as sent in a WebSocket API request).
    pub fn sign(&self, payload: &str) -> String {
        self.key.sign_base64(payload)
    }

    /// The percent-encoded base64 signature of `payload` (as sent in a query string or body).
    pub fn sign_percent_encoded(&self, payload: &str) -> String {
        percent_encode(&self.sign(payload))
    }

    /// The params of a WebSocket API `session.logon` at `timestamp_ms`: `apiKey`, `recvWindow`,
    /// `timestamp` and `signature` (base64) over the other three sorted by name.
    pub fn logon_params(&self, timestamp_ms: u64) -> serde_json::Value {
        let ts = timestamp_ms.to_string();
        let window = self.recv_window.ms().to_string();
        let payload = super::ws_api_payload(&[
            ("apiKey", self.api_key.as_str()),
            ("recvWindow", window.as_str()),
            ("timestamp", ts.as_str()),
        ]);
        serde_json::json!({
            "apiKey": self.api_key,
            "recvWindow": self.recv_window.ms(),
            "timestamp": timestamp_ms,
            "signature": self.sign(&payload),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::ws_api_payload;
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    use serde_json::Value;

    fn ed25519_fixture() -> Value {
        let path = format!(
            "{}/../../../tests/fixtures/binance/signature_vectors.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        all["ed25519"].clone()
    }

    fn s<'a>(v: &'a Value, key: &str) -> &'a str {
        v[key].as_str().unwrap_or_else(|| panic!("{key} missing"))
    }

    fn seed(fx: &Value) -> [u8; 32] {
        hex::decode(s(fx, "private_key_seed_hex"))
            .unwrap()
            .try_into()
            .unwrap()
    }

    /// The notes' DERIVED vectors (RFC 8032 TEST 1 key), from the PEM and from the seed.
    #[test]
    fn reproduces_the_derived_ed25519_vectors() {
        let fx = ed25519_fixture();
        let from_pem = Ed25519Key::from_pkcs8_pem(s(&fx, "private_key_pem_pkcs8")).unwrap();
        let from_seed = Ed25519Key::from_seed(&seed(&fx));
        assert_eq!(hex::encode(from_pem.public_key()), s(&fx, "public_key_hex"));
        assert_eq!(from_pem.public_key(), from_seed.public_key());
        let vectors = fx["vectors"].as_array().unwrap();
        assert_eq!(vectors.len(), 2);
        for v in vectors {
            let name = s(v, "name");
            let payload = s(v, "payload");
            let signer = Ed25519Signer::new("k", from_pem.clone(), RecvWindow::default());
            let b64 = signer.sign(payload);
            assert_eq!(b64, s(v, "signature_base64"), "{name}");
            assert_eq!(b64.len(), 88, "{name}");
            assert_eq!(from_seed.sign_base64(payload), b64, "{name}");
            assert_eq!(
                signer.sign_percent_encoded(payload),
                s(v, "signature_percent_encoded"),
                "{name}"
            );
        }
    }

    /// The WebSocket API vector is the sorted-params payload of its request.
    #[test]
    fn ws_api_vector_is_the_sorted_payload() {
        let fx = ed25519_fixture();
        let v = &fx["vectors"][1];
        let params = [
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "0.01000000"),
            ("price", "52000.00"),
            ("recvWindow", "100"),
            ("timestamp", "1645423376532"),
            (
                "apiKey",
                "4yNzx3yWC5bS6YTwEkSRaC0nRmSQIIStAUOh1b6kqaBrTLIhjCpI5lJH8q8R8WNO",
            ),
        ];
        assert_eq!(ws_api_payload(&params), s(v, "payload"));
    }

    #[test]
    fn logon_params_are_signed_over_the_sorted_params() {
        let fx = ed25519_fixture();
        let key = Ed25519Key::from_seed(&seed(&fx));
        let signer = Ed25519Signer::new("APIKEY", key.clone(), RecvWindow::new(6_000).unwrap());
        let p = signer.logon_params(1_649_729_878_532);
        assert_eq!(p["apiKey"], "APIKEY");
        assert_eq!(p["timestamp"], 1_649_729_878_532_u64);
        assert_eq!(p["recvWindow"], 6_000);
        let payload = "apiKey=APIKEY&recvWindow=6000&timestamp=1649729878532";
        let sig = s(&p, "signature");
        assert_eq!(sig, key.sign_base64(payload));
        let raw: [u8; 64] = STANDARD.decode(sig).unwrap().try_into().unwrap();
        let public = VerifyingKey::from_bytes(&key.public_key()).unwrap();
        assert!(public
            .verify(payload.as_bytes(), &Signature::from_bytes(&raw))
            .is_ok());
    }

    #[test]
    fn bad_keys_are_refused_without_quoting_them() {
        let fx = ed25519_fixture();
        let pem = s(&fx, "private_key_pem_pkcs8");
        // An RSA PKCS#8 key is not an Ed25519 key.
        let all: Value = serde_json::from_str(
            &std::fs::read_to_string(format!(
                "{}/../../../tests/fixtures/binance/signature_vectors.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
        )
        .unwrap();
        let rsa = s(&all["rsa_pkcs1v15_sha256"], "private_key_pem");
        for bad in [
            rsa,
            "",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
        ] {
            let e = Ed25519Key::from_pkcs8_pem(bad).unwrap_err();
            assert!(matches!(e, KeyError::Pem(_)), "{e}");
            assert!(!e.to_string().contains("MC4CAQAw"), "{e}");
        }
        let missing = Ed25519Key::from_pem_file(Path::new("/nonexistent/ed25519.pem"));
        assert!(matches!(missing, Err(KeyError::Read(_))));
        assert!(Ed25519Key::from_pkcs8_pem(&format!("\n{pem}\n\n")).is_ok());
    }

    #[test]
    fn key_never_printed() {
        let fx = ed25519_fixture();
        let key = Ed25519Key::from_seed(&seed(&fx));
        let api_key = "4yNzx3yWC5bS6YTwEkSRaC0nRmSQIIStAUOh1b6kqaBrTLIhjCpI5lJH8q8R8WNO";
        let signer = Ed25519Signer::new(api_key, key.clone(), RecvWindow::default());
        let seed_b64 = STANDARD.encode(seed(&fx));
        for text in [
            format!("{key:?}"),
            format!("{signer:?}"),
            format!("{signer:#?}"),
        ] {
            assert!(!text.contains(s(&fx, "private_key_seed_hex")), "{text}");
            assert!(!text.contains("9d61b19d"), "{text}");
            assert!(!text.contains(&seed_b64), "{text}");
            assert!(!text.contains(api_key), "{text}");
            assert!(!text.contains("157, 97"), "{text}"); // the seed as a byte list
        }
        assert_eq!(signer.api_key(), api_key);
    }
}
