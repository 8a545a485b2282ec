//! Start-up questions to the venue's REST API: the symbol's filters and the rate limits from
//! `exchangeInfo`. A venue that does not list the config's symbol, or whose filters the config's
//! grid is not on, is a config error: the engine refuses to start (exit code 2).

use std::time::Duration;

use common::config::SymbolConfig;
use common::Dec;
use execution_engine::filters::FiltersError;
use execution_engine::rate_limit::{parse_rate_limits, RateLimit};
use execution_engine::venue_error::{self, RejectReason, VenueAction};
use execution_engine::SymbolFilters;
use feed_handler::backoff::Backoff;
use feed_handler::rest::{self, RestError};
use tokio::sync::watch;
use tracing::warn;

/// What the engine needs from `exchangeInfo`.
#[derive(Debug)]
pub struct VenueInfo {
    /// The symbol's filters.
    pub filters: SymbolFilters,
    /// The venue's request-weight and order-count limits.
    pub rate_limits: Vec<RateLimit>,
}

/// A grid of the config the venue's filters do not accept: the engine refuses to start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GridError {
    /// `[symbol] quantity_step` is not on the venue's `LOT_SIZE` step.
    #[error("config error: [symbol] quantity_step = {configured} is not a multiple of {symbol}'s LOT_SIZE stepSize {venue} at the venue: quantities rounded to it would be refused")]
    QuantityStep {
        /// The symbol.
        symbol: String,
        /// The config's step.
        configured: Dec,
        /// The venue's step.
        venue: Dec,
    },
    /// `[symbol] min_notional` is under the venue's `NOTIONAL` minimum.
    #[error("config error: [symbol] min_notional = {configured} is under {symbol}'s NOTIONAL minNotional {venue} at the venue: the strategy would keep positions it cannot sell")]
    MinNotional {
        /// The symbol.
        symbol: String,
        /// The config's minimum.
        configured: Dec,
        /// The venue's minimum.
        venue: Dec,
    },
    /// `[strategy] price_tick` is not on the venue's `PRICE_FILTER` tick.
    #[error("config error: [strategy] price_tick = {configured} is not a multiple of {symbol}'s PRICE_FILTER tickSize {venue} at the venue: prices rounded to it would be refused")]
    PriceTick {
        /// The symbol.
        symbol: String,
        /// The config's tick.
        configured: Dec,
        /// The venue's tick.
        venue: Dec,
    },
}

impl GridError {
    /// The config key at fault, as `section.key`.
    pub fn key(&self) -> &'static str {
        match self {
            GridError::QuantityStep { .. } => "symbol.quantity_step",
            GridError::MinNotional { .. } => "symbol.min_notional",
            GridError::PriceTick { .. } => "strategy.price_tick",
        }
    }
}

/// `[symbol] name` is not a symbol of the venue: `exchangeInfo` answered `-1121` "Invalid symbol."
/// or does not list it. Asking again cannot help: the engine refuses to start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config error: [symbol] name = \"{symbol}\": the venue at {venue} does not list this symbol ({answer})")]
pub struct UnknownSymbol {
    /// The config's symbol.
    pub symbol: String,
    /// The venue's REST base URL.
    pub venue: String,
    /// What the venue answered, on one line.
    pub answer: String,
}

/// Whether `e` is the venue refusing the config ([`GridError`], [`UnknownSymbol`]): a config
/// error, as one the schema refuses (exit code 2).
pub fn refuses_config(e: &anyhow::Error) -> bool {
    e.is::<GridError>() || e.is::<UnknownSymbol>()
}

/// Checks the config's quantity and price grids against the venue's filters (each must be the
/// venue's step (tick) or a multiple of it), and its minimum notional (the venue's or more).
pub fn check_grid(
    symbol: &SymbolConfig,
    price_tick: Dec,
    filters: &SymbolFilters,
) -> Result<(), GridError> {
    if !symbol.quantity_step.is_multiple_of(filters.step_size) {
        return Err(GridError::QuantityStep {
            symbol: symbol.name.clone(),
            configured: symbol.quantity_step,
            venue: filters.step_size,
        });
    }
    if !price_tick.is_multiple_of(filters.tick_size) {
        return Err(GridError::PriceTick {
            symbol: symbol.name.clone(),
            configured: price_tick,
            venue: filters.tick_size,
        });
    }
    if symbol.min_notional.0 < filters.min_notional.0 {
        return Err(GridError::MinNotional {
            symbol: symbol.name.clone(),
            configured: symbol.min_notional,
            venue: filters.min_notional,
        });
    }
    Ok(())
}

/// The client the engine reads the venue's public REST API with (`exchangeInfo`, and the
/// watchdog's clock in paper mode): 5 s a request.
///
/// # Errors
/// When it cannot be built (its TLS backend cannot be set up).
pub fn rest_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
}

/// Fetches `exchangeInfo` for `symbol` with `http`, retrying with backoff until it works or
/// `shutdown` turns true (`Ok(None)`); after a 429 or 418 the next try waits the `Retry-After` the
/// venue asked for. No answer, a 5xx or a body that does not parse is tried again.
///
/// # Errors
/// [`UnknownSymbol`], at once, when the venue answers that it does not know `symbol` (`-1121`) or
/// its `exchangeInfo` does not list it.
pub async fn fetch_info(
    http: &reqwest::Client,
    rest_url: &str,
    symbol: &str,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Option<VenueInfo>, UnknownSymbol> {
    let venue = rest_url.trim_end_matches('/');
    let url = format!("{venue}/api/v3/exchangeInfo?symbol={symbol}");
    let mut backoff = Backoff::new(200, 10_000);
    loop {
        let delay = match fetch_once(http, &url, symbol).await {
            Ok(f) => return Ok(Some(f)),
            Err(Failure::NotListed(answer)) => {
                return Err(UnknownSymbol {
                    symbol: symbol.to_owned(),
                    venue: venue.to_owned(),
                    answer,
                })
            }
            Err(Failure::Temporary(e)) => {
                let delay = retry_delay(&e, &mut backoff);
                warn!(error = %e, delay_ms = delay.as_millis() as u64, "exchangeInfo failed, retrying");
                delay
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return Ok(None),
        }
    }
}

/// Why one `exchangeInfo` request gave no filters.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// Worth another try.
    Temporary(RestError),
    /// The venue does not list the symbol; what it answered, on one line.
    NotListed(String),
}

/// One `exchangeInfo` request.
async fn fetch_once(http: &reqwest::Client, url: &str, symbol: &str) -> Result<VenueInfo, Failure> {
    let body = rest::get(http, url)
        .await
        .map_err(|e| match not_known(&e) {
            Some(answer) => Failure::NotListed(answer),
            None => Failure::Temporary(e),
        })?;
    let failed = |reason: String| {
        Failure::Temporary(RestError::Failed {
            url: url.to_owned(),
            reason,
        })
    };
    let filters = match SymbolFilters::from_exchange_info(&body, symbol) {
        Ok(f) => f,
        Err(FiltersError::UnknownSymbol(_)) => return Err(Failure::NotListed(listed(&body))),
        Err(e) => return Err(failed(e.to_string())),
    };
    Ok(VenueInfo {
        filters,
        rate_limits: parse_rate_limits(&body).map_err(|e| failed(e.to_string()))?,
    })
}

/// The venue's answer when it is its refusal of the symbol (`-1121` "Invalid symbol.", a 4xx:
/// a 5xx is the venue's fault and tried again, whatever its body), on one line.
fn not_known(e: &RestError) -> Option<String> {
    let RestError::Status { status, body, .. } = e else {
        return None;
    };
    let answer = venue_error::classify(*status, body);
    (answer.action == VenueAction::Reject(RejectReason::BadSymbol)).then(|| {
        format!(
            "exchangeInfo answered HTTP {status}, code {} {:?}",
            answer.code.unwrap_or_default(),
            answer.msg
        )
    })
}

/// Most symbols of an `exchangeInfo` answer named in [`UnknownSymbol`].
const MAX_NAMED: usize = 5;

/// The symbols an `exchangeInfo` body lists, as said in [`UnknownSymbol`].
fn listed(body: &str) -> String {
    let info: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let names: Vec<&str> = info["symbols"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["symbol"].as_str()).collect())
        .unwrap_or_default();
    match names.len() {
        0 => "its exchangeInfo lists no symbol".to_owned(),
        n if n <= MAX_NAMED => format!("its exchangeInfo lists only {}", names.join(", ")),
        n => format!("its exchangeInfo lists {n} other symbols"),
    }
}

/// The wait before the next try after `e`: the venue's `Retry-After` after a 429 or 418, else the
/// next backoff delay.
fn retry_delay(e: &RestError, backoff: &mut Backoff) -> Duration {
    e.retry_after().unwrap_or_else(|| backoff.next_delay())
}

#[cfg(test)]
mod tests {
    use super::*;
    use execution_engine::filters::MarketNotional;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn d(s: &str) -> Dec {
        s.parse().unwrap()
    }

    fn filters() -> SymbolFilters {
        SymbolFilters {
            symbol: "POLUSDT".into(),
            base_asset: "POL".into(),
            quote_asset: "USDT".into(),
            tick_size: d("0.0001"),
            min_price: d("0"),
            step_size: d("0.1"),
            min_qty: d("0.1"),
            max_qty: d("0"),
            min_notional: d("5"),
            max_price: Dec::ZERO,
            max_notional: Dec::ZERO,
            market_notional: MarketNotional::BOTH,
            market_lot: None,
        }
    }

    fn symbol(step: &str) -> SymbolConfig {
        SymbolConfig {
            name: "POLUSDT".into(),
            order_quantity: d("500"),
            quantity_step: d(step),
            min_notional: d("5"),
        }
    }

    /// The venue's grid or a coarser multiple of it is accepted; a finer or offset one is refused,
    /// naming the key, its value and the venue's.
    #[test]
    fn the_config_grid_must_be_on_the_venues() {
        let f = filters();
        assert_eq!(check_grid(&symbol("0.1"), d("0.0001"), &f), Ok(()));
        assert_eq!(check_grid(&symbol("1"), d("0.001"), &f), Ok(()));
        let e = check_grid(&symbol("0.05"), d("0.0001"), &f).unwrap_err();
        assert_eq!(
            e.to_string(),
            "config error: [symbol] quantity_step = 0.05 is not a multiple of POLUSDT's LOT_SIZE \
             stepSize 0.1 at the venue: quantities rounded to it would be refused"
        );
        let e = check_grid(&symbol("0.1"), d("0.00015"), &f).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "config error: [strategy] price_tick = 0.00015 is not a multiple of POLUSDT's \
                 PRICE_FILTER tickSize 0.0001"
            ),
            "{e}"
        );
        // A higher minimum notional than the venue's is fine; a lower one is refused.
        let higher = SymbolConfig {
            min_notional: d("10"),
            ..symbol("0.1")
        };
        assert_eq!(check_grid(&higher, d("0.0001"), &f), Ok(()));
        let lower = SymbolConfig {
            min_notional: d("4.99"),
            ..symbol("0.1")
        };
        assert_eq!(
            check_grid(&lower, d("0.0001"), &f).unwrap_err().to_string(),
            "config error: [symbol] min_notional = 4.99 is under POLUSDT's NOTIONAL minNotional 5 \
             at the venue: the strategy would keep positions it cannot sell"
        );
    }

    /// A local server's address and the count of requests it has answered; it answers every
    /// request with `answer` (a whole HTTP/1.1 response).
    async fn serve(answer: String) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&hits);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                count.fetch_add(1, Ordering::SeqCst);
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.shutdown().await;
            }
        });
        (addr, hits)
    }

    /// A whole HTTP/1.1 answer of `status` with a JSON `body`.
    fn http(status: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    /// A file of `tests/fixtures/binance/` (copies of `/work/shared/binance/fixtures/`).
    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/../../../tests/fixtures/binance/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path).unwrap()
    }

    /// The body of `errors.json`'s entry `name`, with its HTTP status.
    fn error_fixture(name: &str) -> (u16, String) {
        let all: serde_json::Value = serde_json::from_str(&fixture("errors.json")).unwrap();
        let e = &all[name];
        (
            e["http_status"].as_u64().unwrap() as u16,
            e["body"].to_string(),
        )
    }

    /// `fetch_info` against `answer` for at most `ms` ms: its result (`None`: still retrying
    /// then) and the count of requests made.
    async fn fetch_for(
        answer: String,
        symbol: &str,
        ms: u64,
    ) -> (Option<Result<Option<VenueInfo>, UnknownSymbol>>, usize) {
        let (addr, hits) = serve(answer).await;
        let (_stop, mut shutdown) = watch::channel(false);
        let got = tokio::time::timeout(
            Duration::from_millis(ms),
            fetch_info(
                &rest_client().unwrap(),
                &format!("http://{addr}/"),
                symbol,
                &mut shutdown,
            ),
        )
        .await
        .ok();
        (got, hits.load(Ordering::SeqCst))
    }

    /// Binance's `-1121` "Invalid symbol." (HTTP 400, the body of `errors.json`) refuses
    /// `[symbol] name` at once, after one request, naming the key, its value and the venue.
    #[tokio::test]
    async fn an_invalid_symbol_answer_refuses_the_config_at_once() {
        let (status, body) = error_fixture("generic_example");
        assert_eq!(
            (status, body.as_str()),
            (400, r#"{"code":-1121,"msg":"Invalid symbol."}"#)
        );
        let (got, hits) = fetch_for(http("400 Bad Request", &body), "BTCUSDT", 5_000).await;
        let e = got.expect("still retrying").expect_err("refused");
        assert_eq!(hits, 1);
        let addr = e.venue.clone();
        assert!(
            addr.starts_with("http://127.0.0.1:") && !addr.ends_with('/'),
            "{addr}"
        );
        assert_eq!(
            e.to_string(),
            format!(
                "config error: [symbol] name = \"BTCUSDT\": the venue at {addr} does not list \
                 this symbol (exchangeInfo answered HTTP 400, code -1121 \"Invalid symbol.\")"
            )
        );
        assert!(refuses_config(&anyhow::Error::new(e)));
    }

    /// An `exchangeInfo` answer that does not list the symbol (the BTCUSDT fixture asked for
    /// POLUSDT) refuses it at once too, saying what the venue lists.
    #[tokio::test]
    async fn an_exchange_info_without_the_symbol_refuses_the_config_at_once() {
        let body = fixture("exchange_info_btcusdt_nautilus_2021.json");
        let (got, hits) = fetch_for(http("200 OK", &body), "POLUSDT", 5_000).await;
        let e = got.expect("still retrying").expect_err("refused");
        assert_eq!(hits, 1);
        assert!(
            e.to_string()
                .starts_with("config error: [symbol] name = \"POLUSDT\": the venue at "),
            "{e}"
        );
        assert!(
            e.to_string()
                .ends_with("does not list this symbol (its exchangeInfo lists only BTCUSDT)"),
            "{e}"
        );
        // The same answer for the symbol it lists is the filters.
        let (got, _) = fetch_for(http("200 OK", &body), "BTCUSDT", 5_000).await;
        let info = got.unwrap().unwrap().unwrap();
        assert_eq!(info.filters.symbol, "BTCUSDT");
        assert!(!info.rate_limits.is_empty());
    }

    /// What an `exchangeInfo` answer without the symbol is said to list.
    #[test]
    fn the_symbols_listed_are_named_up_to_five() {
        let body = |n: usize| {
            let symbols: Vec<String> = (0..n).map(|i| format!(r#"{{"symbol":"S{i}"}}"#)).collect();
            format!(r#"{{"symbols":[{}]}}"#, symbols.join(","))
        };
        assert_eq!(listed(&body(0)), "its exchangeInfo lists no symbol");
        assert_eq!(listed(&body(2)), "its exchangeInfo lists only S0, S1");
        assert_eq!(
            listed(&body(5)),
            "its exchangeInfo lists only S0, S1, S2, S3, S4"
        );
        assert_eq!(listed(&body(6)), "its exchangeInfo lists 6 other symbols");
    }

    /// A 5xx (even with `-1121` in its body), another 4xx, a body that does not parse and no
    /// answer at all are the venue's or the network's trouble: tried again, never a refusal.
    #[tokio::test]
    async fn other_failures_are_retried() {
        let invalid = r#"{"code":-1121,"msg":"Invalid symbol."}"#;
        for answer in [
            http("503 Service Unavailable", invalid),
            http("500 Internal Server Error", "oops"),
            http(
                "400 Bad Request",
                r#"{"code":-1100,"msg":"Illegal characters found in parameter 'symbol'."}"#,
            ),
            http("200 OK", "{not json"),
        ] {
            let (got, hits) = fetch_for(answer.clone(), "POLUSDT", 800).await;
            assert!(got.is_none(), "{answer}: {got:?}");
            assert!(hits >= 2, "{answer}: {hits}");
        }
        // Nothing listens: retried until shut down.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let (stop, mut shutdown) = watch::channel(false);
        let url = format!("http://127.0.0.1:{port}");
        let http = rest_client().unwrap();
        let fetch = fetch_info(&http, &url, "POLUSDT", &mut shutdown);
        tokio::pin!(fetch);
        assert!(tokio::time::timeout(Duration::from_millis(800), &mut fetch)
            .await
            .is_err());
        stop.send(true).unwrap();
        assert!(matches!(fetch.await, Ok(None)));
    }

    /// Only the venue's refusals are config errors (exit code 2).
    #[test]
    fn refuses_config_is_the_venues_refusals() {
        let grid = check_grid(&symbol("0.05"), d("0.0001"), &filters()).unwrap_err();
        assert!(refuses_config(&anyhow::Error::new(grid)));
        assert!(!refuses_config(&anyhow::anyhow!("cannot bind")));
        let unknown = UnknownSymbol {
            symbol: "BTCUSDT".into(),
            venue: "http://v".into(),
            answer: "a".into(),
        };
        assert!(refuses_config(&anyhow::Error::new(unknown)));
    }

    /// `exchangeInfo` answered 418 with `Retry-After: 300` is a typed rate-limit error, and the
    /// next try waits those 300 s rather than the backoff's fraction of a second; a 500 waits the
    /// backoff.
    #[tokio::test]
    async fn a_418_answer_waits_retry_after() {
        let (addr, _) = serve(
            "HTTP/1.1 418 I'm a teapot\r\nRetry-After: 300\r\nContent-Length: 0\r\n\r\n".into(),
        )
        .await;
        let url = format!("http://{addr}/api/v3/exchangeInfo?symbol=POLUSDT");
        let Err(Failure::Temporary(e)) = fetch_once(&reqwest::Client::new(), &url, "POLUSDT").await
        else {
            panic!("not a temporary failure");
        };
        assert_eq!(
            e,
            RestError::RateLimited {
                url,
                status: 418,
                retry_after: Duration::from_secs(300)
            }
        );
        let mut backoff = Backoff::new(200, 10_000);
        assert_eq!(retry_delay(&e, &mut backoff), Duration::from_secs(300));
        assert_eq!(backoff.attempts(), 0);
        let other = RestError::Status {
            url: "u".into(),
            status: 500,
            body: String::new(),
        };
        assert!(retry_delay(&other, &mut backoff) <= Duration::from_millis(200));
        assert_eq!(backoff.attempts(), 1);
    }
}
