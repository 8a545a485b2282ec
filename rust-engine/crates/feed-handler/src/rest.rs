//! Plain REST GETs to the venue, and the answers that tell the client to back off: Binance's 429
//! (a rate limit hit) and 418 (the IP is banned for having ignored 429s), each with a
//! `Retry-After` header giving the seconds to wait. The limits count per IP: an [`IpPause`] shared
//! by the feed and the order executor makes a wait one of them was told to take hold for both.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Back-off after a `429` without `Retry-After`, s. The docs give no default; this is one
/// 1-minute `REQUEST_WEIGHT` window. (The order executor's rate limiter takes it from here.)
pub const DEFAULT_429_BACKOFF_SECS: u64 = 60;
/// Ban assumed after a `418` without `Retry-After`, s: the documented shortest ban (2 minutes; they
/// run to 3 days).
pub const DEFAULT_418_BAN_SECS: u64 = 120;
/// Longest wait taken from a `Retry-After` header: the longest ban Binance documents (3 days), so
/// that a ban is waited out whole (a request during one lengthens it) and a larger figure is taken
/// for a wrong one.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3 * 86_400);

/// A failed REST request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestError {
    /// HTTP 429 or 418: no further request before `retry_after` has passed.
    #[error("GET {url}: HTTP {status}: rate limited, retry after {} s", retry_after.as_secs())]
    RateLimited {
        /// The request's URL.
        url: String,
        /// 429 or 418.
        status: u16,
        /// The wait the venue asked for (or the default), capped at [`MAX_RETRY_AFTER`].
        retry_after: Duration,
    },
    /// Any other non-2xx answer.
    #[error("GET {url}: HTTP {status}: {body}")]
    Status {
        /// The request's URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The answer's body.
        body: String,
    },
    /// No answer, an unreadable one, or a 2xx answer whose body does not parse.
    #[error("GET {url}: {reason}")]
    Failed {
        /// The request's URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

impl RestError {
    /// The wait a 429 or 418 asked for; `None` for any other failure.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RestError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// Reads a `Retry-After` value (whole seconds).
pub fn parse_retry_after(value: &str) -> Option<u64> {
    value.trim().parse().ok()
}

/// The wait a 429 or 418 answer with this `Retry-After` header asks for: the header's whole
/// seconds, or the status's default when it is missing or unreadable, capped at
/// [`MAX_RETRY_AFTER`]. `None` for any other status.
pub fn retry_after(status: u16, header: Option<&str>) -> Option<Duration> {
    let default = match status {
        429 => DEFAULT_429_BACKOFF_SECS,
        418 => DEFAULT_418_BAN_SECS,
        _ => return None,
    };
    let secs = header.and_then(parse_retry_after).unwrap_or(default);
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// The wait the venue asked this IP for (a `429` of the weight limits, a `418` ban), shared by every
/// REST user of the process (the feed's snapshots, the order executor): no request goes to the venue
/// before it is over, whichever of them was answered. Its clock is monotonic ([`Self::now_ms`], ms
/// since the pause was made: a step of the wall clock neither lengthens nor ends a pause);
/// lock-free.
#[derive(Debug)]
pub struct IpPause {
    origin: Instant,
    /// The end of the pause (ms of its clock; 0: none yet) and the status that asked for it, in one
    /// word, `end << 2 | code` (1: 429, 2: 418), so that one `fetch_max` keeps the latest end with
    /// its own status (of two ending together, the ban).
    end: AtomicU64,
}

impl Default for IpPause {
    fn default() -> Self {
        IpPause {
            origin: Instant::now(),
            end: AtomicU64::new(0),
        }
    }
}

/// Whether REST requests to `a` and to `b` may count against the same venue's per-IP limits: false
/// only when both name hosts of different registered domains (`api.binance.com` and
/// `testnet.binance.vision`; `api.binance.com` and `api1.binance.com` are one). An address, a
/// single-label host (`localhost`, a local exchange-sim) or anything unreadable shares: a pause
/// shared needlessly costs a wait (for a ban, a halt until resumed), one not shared can turn a 429
/// into a ban.
pub fn same_limits(a: &str, b: &str) -> bool {
    match (registered_domain(a), registered_domain(b)) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    }
}

/// The last two labels of `url`'s host, when it is a name of at least two labels (not an address).
fn registered_domain(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.starts_with('[') {
        return None; // an IPv6 address
    }
    let host = host_port.split(':').next().unwrap_or(host_port);
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    let named = host.chars().any(|c| c.is_ascii_alphabetic()) && labels.len() >= 2;
    named.then(|| labels[labels.len() - 2..].join("."))
}

impl IpPause {
    /// The pause's clock: ms since it was made.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A pause of `wait` from `now_ms` after an answer of `status`; an earlier end than the one
    /// standing changes nothing.
    pub fn pause(&self, status: u16, wait: Duration, now_ms: u64) {
        let until = now_ms
            .saturating_add(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX))
            .min(u64::MAX >> 2);
        let code = if status == 418 { 2 } else { 1 };
        self.end.fetch_max(until << 2 | code, Ordering::SeqCst);
    }

    /// What is left of the pause at `now_ms`, with the status that asked for it; `None` when
    /// there is none.
    pub fn remaining(&self, now_ms: u64) -> Option<(Duration, u16)> {
        let end = self.end.load(Ordering::SeqCst);
        let (until, status) = (end >> 2, if end & 3 == 2 { 418 } else { 429 });
        (until > now_ms).then(|| (Duration::from_millis(until - now_ms), status))
    }

    /// The end of the pause, ms of its clock ([`Self::now_ms`]; 0: none yet).
    pub fn until_ms(&self) -> u64 {
        self.end.load(Ordering::SeqCst) >> 2
    }
}

/// GETs `url`: the body of a 2xx answer, else the failure, a 429 or 418 as
/// [`RestError::RateLimited`].
pub async fn get(http: &reqwest::Client, url: &str) -> Result<String, RestError> {
    let failed = |e: reqwest::Error| RestError::Failed {
        url: url.to_owned(),
        reason: e.to_string(),
    };
    let resp = http.get(url).send().await.map_err(failed)?;
    let status = resp.status().as_u16();
    let header = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(retry_after) = retry_after(status, header.as_deref()) {
        return Err(RestError::RateLimited {
            url: url.to_owned(),
            status,
            retry_after,
        });
    }
    let body = resp.text().await.map_err(failed)?;
    if !(200..300).contains(&status) {
        return Err(RestError::Status {
            url: url.to_owned(),
            status,
            body,
        });
    }
    Ok(body)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A local HTTP server that answers every request with `answer` (a whole HTTP/1.1 response);
    /// its address and the count of requests it has answered.
    pub(crate) async fn serve(
        answer: &'static str,
    ) -> (
        std::net::SocketAddr,
        std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.shutdown().await;
            }
        });
        (addr, hits)
    }

    /// A pause only ever lengthens, keeps the status of its latest end, and runs out.
    #[test]
    fn an_ip_pause_lengthens_and_runs_out() {
        let p = IpPause::default();
        assert_eq!(p.remaining(1_000), None);
        p.pause(429, Duration::from_secs(60), 1_000);
        assert_eq!(p.remaining(1_000), Some((Duration::from_secs(60), 429)));
        p.pause(418, Duration::from_secs(10), 2_000); // ends earlier: no change
        assert_eq!(p.remaining(31_000), Some((Duration::from_secs(30), 429)));
        p.pause(418, Duration::from_secs(120), 31_000);
        assert_eq!(p.remaining(31_000), Some((Duration::from_secs(120), 418)));
        assert_eq!(p.until_ms(), 151_000);
        assert_eq!(p.remaining(151_000), None);
        // Of two ending together, the ban, whichever came first.
        p.pause(418, Duration::from_secs(10), 200_000);
        p.pause(429, Duration::from_secs(10), 200_000);
        assert_eq!(p.remaining(200_000), Some((Duration::from_secs(10), 418)));
    }

    /// The venues whose limits a feed and an executor share: all but two names of different
    /// registered domains.
    #[test]
    fn same_limits_compares_the_venue_of_two_urls() {
        for (a, b, same) in [
            ("https://api.binance.com", "https://api.binance.com/", true),
            (
                "https://api.binance.com",
                "https://api1.binance.com:443",
                true,
            ),
            ("https://API.binance.com.", "https://api.binance.com", true),
            (
                "https://api.binance.com",
                "https://testnet.binance.vision",
                false,
            ),
            (
                "https://user@api.binance.com",
                "testnet.binance.vision",
                false,
            ),
            // Addresses and single-label hosts: shared (a local venue).
            ("http://127.0.0.1:8765", "http://127.0.0.1:8765/api", true),
            ("http://127.0.0.1:8765", "http://localhost:8765", true),
            ("http://127.0.0.1", "http://127.0.0.1:80", true),
            ("http://[::1]:8765", "http://[0:0:0:0:0:0:0:1]:8765", true),
            ("http://localhost.:8765", "http://localhost:8765", true),
            ("http://exchange-sim:9443", "https://api.binance.com", true),
            ("", "https://api.binance.com", true),
        ] {
            assert_eq!(same_limits(a, b), same, "{a} {b}");
        }
    }

    /// 429 and 418 wait the header's seconds, or their default when it is missing or not whole
    /// seconds, never more than the cap; other statuses ask for no wait.
    #[test]
    fn retry_after_reads_the_header_with_defaults_and_a_cap() {
        assert_eq!(retry_after(429, Some("7")), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after(418, Some(" 300 ")),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            retry_after(429, None),
            Some(Duration::from_secs(DEFAULT_429_BACKOFF_SECS))
        );
        assert_eq!(
            retry_after(429, Some("soon")),
            Some(Duration::from_secs(DEFAULT_429_BACKOFF_SECS))
        );
        assert_eq!(
            retry_after(418, Some("-1")),
            Some(Duration::from_secs(DEFAULT_418_BAN_SECS))
        );
        assert_eq!(
            retry_after(418, None),
            Some(Duration::from_secs(DEFAULT_418_BAN_SECS))
        );
        assert_eq!(
            retry_after(418, Some("259200")),
            Some(Duration::from_secs(259_200))
        );
        assert_eq!(retry_after(418, Some("999999999")), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after(500, Some("7")), None);
        assert_eq!(retry_after(200, None), None);
    }

    /// A 429 answer is a typed `RateLimited` carrying the status and the header's wait; a 500 is a
    /// plain status error with its body.
    #[tokio::test]
    async fn a_429_answer_is_rate_limited_with_its_wait() {
        let http = reqwest::Client::new();
        let (addr, _) =
            serve("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n")
                .await;
        let url = format!("http://{addr}/api/v3/depth");
        assert_eq!(
            get(&http, &url).await,
            Err(RestError::RateLimited {
                url: url.clone(),
                status: 429,
                retry_after: Duration::from_secs(7)
            })
        );
        let (addr, _) =
            serve("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops").await;
        let url = format!("http://{addr}/x");
        assert_eq!(
            get(&http, &url).await,
            Err(RestError::Status {
                url,
                status: 500,
                body: "oops".into()
            })
        );
    }
}
