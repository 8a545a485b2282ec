//! Start-up questions to the venue's REST API: the symbol's filters and the rate limits from
//! `exchangeInfo`.

use std::time::Duration;

use common::config::SymbolConfig;
use common::Dec;
use execution_engine::rate_limit::{parse_rate_limits, RateLimit};
use execution_engine::SymbolFilters;
use feed_handler::backoff::Backoff;
use feed_handler::rest::{self, RestError};
use tokio::sync::watch;
use tracing::warn;

/// What the engine needs from `exchangeInfo`.
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

/// Fetches `exchangeInfo` for `symbol`, retrying with backoff until it works or `shutdown` turns
/// true; after a 429 or 418 the next try waits the `Retry-After` the venue asked for.
pub async fn fetch_info(
    rest_url: &str,
    symbol: &str,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<VenueInfo> {
    let url = format!(
        "{}/api/v3/exchangeInfo?symbol={symbol}",
        rest_url.trim_end_matches('/')
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .ok()?;
    let mut backoff = Backoff::new(200, 10_000);
    loop {
        let delay = match fetch_once(&http, &url, symbol).await {
            Ok(f) => return Some(f),
            Err(e) => {
                let delay = retry_delay(&e, &mut backoff);
                warn!(error = %e, delay_ms = delay.as_millis() as u64, "exchangeInfo failed, retrying");
                delay
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return None,
        }
    }
}

/// One `exchangeInfo` request.
async fn fetch_once(
    http: &reqwest::Client,
    url: &str,
    symbol: &str,
) -> Result<VenueInfo, RestError> {
    let body = rest::get(http, url).await?;
    let failed = |reason: String| RestError::Failed {
        url: url.to_owned(),
        reason,
    };
    Ok(VenueInfo {
        filters: SymbolFilters::from_exchange_info(&body, symbol)
            .map_err(|e| failed(e.to_string()))?,
        rate_limits: parse_rate_limits(&body).map_err(|e| failed(e.to_string()))?,
    })
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

    /// A local server's address; it answers every request with `answer`.
    async fn serve(answer: &'static str) -> std::net::SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.shutdown().await;
            }
        });
        addr
    }

    /// `exchangeInfo` answered 418 with `Retry-After: 300` is a typed rate-limit error, and the
    /// next try waits those 300 s rather than the backoff's fraction of a second; a 500 waits the
    /// backoff.
    #[tokio::test]
    async fn a_418_answer_waits_retry_after() {
        let addr =
            serve("HTTP/1.1 418 I'm a teapot\r\nRetry-After: 300\r\nContent-Length: 0\r\n\r\n")
                .await;
        let url = format!("http://{addr}/api/v3/exchangeInfo?symbol=POLUSDT");
        let e = fetch_once(&reqwest::Client::new(), &url, "POLUSDT")
            .await
            .err()
            .expect("refused");
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
