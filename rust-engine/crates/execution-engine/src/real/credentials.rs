//! The executor's credentials: the HMAC API key and secret every REST request is signed with, and
//! the optional Ed25519 key of the user data stream, read from the environment. No key, secret or
//! private key is ever printed: `Debug` redacts them and every error names the variable, never its
//! value.

use std::fmt;

use crate::signing::{ApiSecret, Ed25519Key, Ed25519Signer, KeyError, RecvWindow, Signer};

/// Environment variable holding the API key.
pub const API_KEY_VAR: &str = "BINANCE_API_KEY";
/// Environment variable holding the API secret.
pub const API_SECRET_VAR: &str = "BINANCE_API_SECRET";
/// Environment variable holding the API key Binance registered for the Ed25519 public key
/// (optional, with [`ED25519_KEY_PATH_VAR`]).
pub const ED25519_API_KEY_VAR: &str = "BINANCE_ED25519_API_KEY";
/// Environment variable holding the path of the Ed25519 private key, PKCS#8 PEM (optional,
/// with [`ED25519_API_KEY_VAR`]).
pub const ED25519_KEY_PATH_VAR: &str = "BINANCE_ED25519_PRIVATE_KEY_PATH";

/// The HMAC API key and secret (REST requests, and the user data stream when there is no
/// Ed25519 key), and optionally an Ed25519 API key and its private key (the user data stream's
/// `session.logon`). No key, secret or private key is printed by `Debug`.
#[derive(Clone)]
pub struct Credentials {
    api_key: String,
    secret: ApiSecret,
    ed25519: Option<(String, Ed25519Key)>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("api_key", &"<redacted>")
            .field("secret", &self.secret)
            .field(
                "ed25519",
                &self.ed25519.as_ref().map(|(_, key)| ("<redacted>", key)),
            )
            .finish()
    }
}

/// Credentials that cannot be read. Messages name the variable, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// The variable is unset or empty.
    #[error("environment variable {0} is not set (or empty)")]
    Missing(&'static str),
    /// One of the two Ed25519 variables is set, the other is not.
    #[error("environment variable {set} is set but {missing} is not: an Ed25519 key needs both")]
    Ed25519Incomplete {
        /// The variable set.
        set: &'static str,
        /// The variable missing or empty.
        missing: &'static str,
    },
    /// The private key named by the variable cannot be used.
    #[error("environment variable {var}: {source}")]
    Ed25519Key {
        /// The variable naming the key file.
        var: &'static str,
        /// What is wrong with the file.
        source: KeyError,
    },
}

impl Credentials {
    /// Credentials from values (no Ed25519 key).
    pub fn new(api_key: impl Into<String>, secret: ApiSecret) -> Self {
        Credentials {
            api_key: api_key.into(),
            secret,
            ed25519: None,
        }
    }

    /// Adds an Ed25519 key: `api_key` is the key Binance registered for `key`'s public key.
    #[must_use]
    pub fn with_ed25519(mut self, api_key: impl Into<String>, key: Ed25519Key) -> Self {
        self.ed25519 = Some((api_key.into(), key));
        self
    }

    /// True when an Ed25519 key is configured.
    pub fn has_ed25519(&self) -> bool {
        self.ed25519.is_some()
    }

    /// The HMAC signer of every REST request, and the Ed25519 signer of the user data stream's
    /// `session.logon` when a key is configured.
    pub(crate) fn into_signers(self, recv_window: RecvWindow) -> (Signer, Option<Ed25519Signer>) {
        let ed25519 = self
            .ed25519
            .map(|(api_key, key)| Ed25519Signer::new(api_key, key, recv_window));
        (Signer::new(self.api_key, self.secret, recv_window), ed25519)
    }

    /// Reads [`API_KEY_VAR`] and [`API_SECRET_VAR`] from the environment, and the optional
    /// Ed25519 key ([`ED25519_API_KEY_VAR`] and the PEM file at [`ED25519_KEY_PATH_VAR`]).
    ///
    /// # Errors
    /// [`CredentialsError`] naming the variable at fault.
    pub fn from_env() -> Result<Self, CredentialsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup` (the environment in [`Self::from_env`]). The two
    /// Ed25519 variables are optional but go together; the key file is read here.
    ///
    /// # Errors
    /// [`CredentialsError::Missing`] naming the first required variable missing or empty,
    /// [`CredentialsError::Ed25519Incomplete`] when only one Ed25519 variable is set,
    /// [`CredentialsError::Ed25519Key`] when the key file cannot be read or parsed.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, CredentialsError> {
        let get = |name: &'static str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let api_key = get(API_KEY_VAR).ok_or(CredentialsError::Missing(API_KEY_VAR))?;
        let secret =
            ApiSecret::new(get(API_SECRET_VAR).ok_or(CredentialsError::Missing(API_SECRET_VAR))?);
        let ed25519 = match (get(ED25519_API_KEY_VAR), get(ED25519_KEY_PATH_VAR)) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(CredentialsError::Ed25519Incomplete {
                    set: ED25519_API_KEY_VAR,
                    missing: ED25519_KEY_PATH_VAR,
                })
            }
            (None, Some(_)) => {
                return Err(CredentialsError::Ed25519Incomplete {
                    set: ED25519_KEY_PATH_VAR,
                    missing: ED25519_API_KEY_VAR,
                })
            }
            (Some(key), Some(path)) => {
                let private =
                    Ed25519Key::from_pem_file(std::path::Path::new(&path)).map_err(|source| {
                        CredentialsError::Ed25519Key {
                            var: ED25519_KEY_PATH_VAR,
                            source,
                        }
                    })?;
                Some((key, private))
            }
        };
        Ok(Credentials {
            api_key,
            secret,
            ed25519,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate_limit::RateLimiter;
    use crate::real::client::{RestClient, RestConfig};
    use crate::signing::local_now_ms;

    #[test]
    fn credentials_name_the_missing_variable_and_stay_secret() {
        let none = Credentials::from_lookup(|_| None).unwrap_err();
        assert_eq!(none, CredentialsError::Missing(API_KEY_VAR));
        assert!(none.to_string().contains("BINANCE_API_KEY"));
        let no_secret = Credentials::from_lookup(|n| (n == API_KEY_VAR).then(|| "k".to_owned()));
        assert_eq!(
            no_secret.unwrap_err(),
            CredentialsError::Missing(API_SECRET_VAR)
        );
        let empty =
            Credentials::from_lookup(|n| Some(if n == API_KEY_VAR { "k" } else { " " }.to_owned()));
        assert_eq!(
            empty.unwrap_err(),
            CredentialsError::Missing(API_SECRET_VAR)
        );
        let ok = Credentials::from_lookup(|n| match n {
            API_KEY_VAR => Some("KEY123".to_owned()),
            API_SECRET_VAR => Some("SECRET456".to_owned()),
            _ => None,
        })
        .unwrap();
        assert!(!ok.has_ed25519());
        let shown = format!("{ok:?}");
        assert!(
            !shown.contains("SECRET456") && !shown.contains("KEY123"),
            "{shown}"
        );
        let client = RestClient::new(
            RestConfig::new("http://127.0.0.1:1/"),
            ok,
            RateLimiter::new(&[], 0),
        )
        .unwrap();
        assert!(!format!("{client:?}").contains("SECRET456"));
        assert_eq!(client.config().base_url, "http://127.0.0.1:1");
    }

    /// The RFC 8032 TEST 1 key as PKCS#8 PEM (PROTOCOL_NOTES fixture `signature_vectors.json`).
    const TEST1_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n";

    fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!(
            "flashcrash-{}-{}-{name}",
            std::process::id(),
            local_now_ms()
        ));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |n| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn ed25519_key_from_the_environment() {
        let pem = temp_file("test1.pem", TEST1_PEM);
        let path = pem.to_str().unwrap();
        let base = [(API_KEY_VAR, "HMACKEY"), (API_SECRET_VAR, "HMACSECRET")];
        let full: Vec<(&str, &str)> = base
            .iter()
            .copied()
            .chain([
                (ED25519_API_KEY_VAR, "EDKEY789"),
                (ED25519_KEY_PATH_VAR, path),
            ])
            .collect();
        let creds = Credentials::from_lookup(lookup(&full)).unwrap();
        assert!(creds.has_ed25519());
        let shown = format!("{creds:?} {creds:#?}");
        for secret in ["HMACKEY", "HMACSECRET", "EDKEY789", "MC4CAQAw", "9d61b19d"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        let client = RestClient::new(
            RestConfig::new("http://127.0.0.1:1"),
            creds,
            RateLimiter::new(&[], 0),
        )
        .unwrap();
        let ed = client.ed25519_signer().unwrap();
        assert_eq!(ed.api_key(), "EDKEY789");
        assert_eq!(ed.recv_window(), client.config().recv_window);
        assert_eq!(
            hex::encode(
                crate::signing::Ed25519Key::from_pkcs8_pem(TEST1_PEM)
                    .unwrap()
                    .public_key()
            ),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        let shown = format!("{client:?}");
        for secret in ["HMACSECRET", "EDKEY789", "MC4CAQAw"] {
            assert!(!shown.contains(secret), "{shown}");
        }

        // Only one of the two variables: an error naming both, no value.
        let only_key: Vec<(&str, &str)> = base
            .iter()
            .copied()
            .chain([(ED25519_API_KEY_VAR, "EDKEY789")])
            .collect();
        let e = Credentials::from_lookup(lookup(&only_key)).unwrap_err();
        assert_eq!(
            e,
            CredentialsError::Ed25519Incomplete {
                set: ED25519_API_KEY_VAR,
                missing: ED25519_KEY_PATH_VAR
            }
        );
        assert!(!e.to_string().contains("EDKEY789"));
        let only_path: Vec<(&str, &str)> = base
            .iter()
            .copied()
            .chain([(ED25519_KEY_PATH_VAR, path), (ED25519_API_KEY_VAR, " ")])
            .collect();
        assert_eq!(
            Credentials::from_lookup(lookup(&only_path)).unwrap_err(),
            CredentialsError::Ed25519Incomplete {
                set: ED25519_KEY_PATH_VAR,
                missing: ED25519_API_KEY_VAR
            }
        );

        // A missing file and a file that is not a key: the variable is named, not its value.
        let not_a_key = temp_file("not-a-key.pem", "HMACSECRET is not a PEM key");
        for (bad, read) in [
            ("/nonexistent/flashcrash/ed25519.pem", true),
            (not_a_key.to_str().unwrap(), false),
        ] {
            let vars: Vec<(&str, &str)> = base
                .iter()
                .copied()
                .chain([
                    (ED25519_API_KEY_VAR, "EDKEY789"),
                    (ED25519_KEY_PATH_VAR, bad),
                ])
                .collect();
            let e = Credentials::from_lookup(lookup(&vars)).unwrap_err();
            match &e {
                CredentialsError::Ed25519Key { var, source } => {
                    assert_eq!(*var, ED25519_KEY_PATH_VAR);
                    assert_eq!(matches!(source, KeyError::Read(_)), read, "{e}");
                }
                other => panic!("{other:?}"),
            }
            let text = e.to_string();
            assert!(text.contains(ED25519_KEY_PATH_VAR), "{text}");
            assert!(
                !text.contains(bad) && !text.contains("HMACSECRET"),
                "{text}"
            );
        }
        let _ = std::fs::remove_file(pem);
        let _ = std::fs::remove_file(not_a_key);
    }
}
