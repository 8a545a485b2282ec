//! Start-up questions to the venue's REST API: the symbol's filters from `exchangeInfo`.

use std::time::Duration;

use execution_engine::SymbolFilters;
use feed_handler::backoff::Backoff;
use tokio::sync::watch;
use tracing::warn;

/// Fetches the symbol's filters, retrying with backoff until it works or `shutdown` turns true.
pub async fn fetch_filters(
    rest_url: &str,
    symbol: &str,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<SymbolFilters> {
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
            SymbolFilters::from_exchange_info(&body, symbol).map_err(|e| e.to_string())
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
