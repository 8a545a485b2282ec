//! Start-up questions to the venue's REST API: the symbol's filters and the rate limits from
//! `exchangeInfo`.

use std::time::Duration;

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
