//! Start-up questions to the venue's REST API: the symbol's filters and the rate limits from
//! `exchangeInfo`.

use std::time::Duration;

use common::config::SymbolConfig;
use common::Dec;
use execution_engine::rate_limit::{parse_rate_limits, RateLimit};
use execution_engine::SymbolFilters;
use feed_handler::backoff::Backoff;
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

/// Checks the config's quantity and price grids against the venue's filters: each must be the
/// venue's step (tick) or a multiple of it.
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
    Ok(())
}

/// Fetches `exchangeInfo` for `symbol`, retrying with backoff until it works or `shutdown` turns
/// true.
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
        let result = async {
            let resp = http.get(&url).send().await.map_err(|e| e.to_string())?;
            let status = resp.status();
            let body = resp.text().await.map_err(|e| e.to_string())?;
            if !status.is_success() {
                return Err(format!("HTTP {status}: {body}"));
            }
            Ok(VenueInfo {
                filters: SymbolFilters::from_exchange_info(&body, symbol)
                    .map_err(|e| e.to_string())?,
                rate_limits: parse_rate_limits(&body).map_err(|e| e.to_string())?,
            })
        }
        .await;
        match result {
            Ok(f) => return Some(f),
            Err(e) => warn!(%url, error = %e, "exchangeInfo failed, retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff.next_delay()) => {}
            _ = shutdown.changed() => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        }
    }

    fn symbol(step: &str) -> SymbolConfig {
        SymbolConfig {
            name: "POLUSDT".into(),
            order_quantity: d("500"),
            quantity_step: d(step),
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
    }
}
