//! Symbol filters from `GET /api/v3/exchangeInfo` (binance-spot-api-docs `filters.md`):
//! `PRICE_FILTER` (tick size), `LOT_SIZE` (step size, min and max quantity), and `NOTIONAL` or the
//! older `MIN_NOTIONAL` (minimum notional). A step or tick of 0 disables that check.

use rust_decimal::Decimal;
use serde::Deserialize;

use common::Dec;

/// The filters of one symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolFilters {
    /// Symbol.
    pub symbol: String,
    /// Base asset, e.g. `POL`.
    pub base_asset: String,
    /// Quote asset, e.g. `USDT` (a sell's fee is charged in it, a buy's in the base asset).
    pub quote_asset: String,
    /// Price increment.
    pub tick_size: Dec,
    /// Lowest price (0 = none).
    pub min_price: Dec,
    /// Quantity increment.
    pub step_size: Dec,
    /// Smallest quantity.
    pub min_qty: Dec,
    /// Largest quantity (0 = none).
    pub max_qty: Dec,
    /// Smallest notional.
    pub min_notional: Dec,
}

/// An exchangeInfo answer that lacks what an order needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FiltersError {
    /// Not the expected JSON.
    #[error("exchangeInfo is not valid: {0}")]
    Malformed(String),
    /// The symbol is not listed.
    #[error("symbol {0} is not in exchangeInfo")]
    UnknownSymbol(String),
    /// A filter is missing or has a bad number.
    #[error("symbol {symbol}: filter {filter} missing or invalid")]
    Filter {
        /// Symbol.
        symbol: String,
        /// Filter type.
        filter: &'static str,
    },
}

#[derive(Deserialize)]
struct Info {
    symbols: Vec<SymbolInfo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SymbolInfo {
    symbol: String,
    base_asset: String,
    quote_asset: String,
    filters: Vec<serde_json::Value>,
}

fn field(filters: &[serde_json::Value], kinds: &[&str], key: &str) -> Option<Dec> {
    filters
        .iter()
        .find(|f| kinds.contains(&f["filterType"].as_str().unwrap_or("")))
        .and_then(|f| f[key].as_str())
        .and_then(|s| s.parse::<Dec>().ok())
        .map(|d| Dec(d.0.normalize()))
}

impl SymbolFilters {
    /// Reads the filters of `symbol` from an exchangeInfo body.
    ///
    /// # Errors
    /// [`FiltersError`] when the body or the symbol's filters are unusable.
    pub fn from_exchange_info(body: &str, symbol: &str) -> Result<Self, FiltersError> {
        let info: Info =
            serde_json::from_str(body).map_err(|e| FiltersError::Malformed(e.to_string()))?;
        let s = info
            .symbols
            .into_iter()
            .find(|s| s.symbol == symbol)
            .ok_or_else(|| FiltersError::UnknownSymbol(symbol.to_owned()))?;
        let need = |kinds: &[&str], key: &str, filter: &'static str| {
            field(&s.filters, kinds, key).ok_or_else(|| FiltersError::Filter {
                symbol: symbol.to_owned(),
                filter,
            })
        };
        Ok(SymbolFilters {
            symbol: s.symbol.clone(),
            base_asset: s.base_asset.clone(),
            quote_asset: s.quote_asset.clone(),
            tick_size: need(&["PRICE_FILTER"], "tickSize", "PRICE_FILTER")?,
            min_price: need(&["PRICE_FILTER"], "minPrice", "PRICE_FILTER")?,
            step_size: need(&["LOT_SIZE"], "stepSize", "LOT_SIZE")?,
            min_qty: need(&["LOT_SIZE"], "minQty", "LOT_SIZE")?,
            max_qty: need(&["LOT_SIZE"], "maxQty", "LOT_SIZE")?,
            min_notional: field(&s.filters, &["NOTIONAL", "MIN_NOTIONAL"], "minNotional")
                .unwrap_or(Dec(Decimal::ZERO)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_real_btcusdt_capture() {
        let path = format!(
            "{}/../../../tests/fixtures/binance/exchange_info_btcusdt_nautilus_2021.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let f =
            SymbolFilters::from_exchange_info(&std::fs::read_to_string(path).unwrap(), "BTCUSDT")
                .unwrap();
        assert_eq!(f.tick_size.to_string(), "0.01");
        assert_eq!(f.step_size.to_string(), "0.00001");
        assert_eq!(f.min_notional.to_string(), "10");
        assert_eq!(f.quote_asset, "USDT");
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(matches!(
            SymbolFilters::from_exchange_info("{\"symbols\":[]}", "X"),
            Err(FiltersError::UnknownSymbol(_))
        ));
        assert!(matches!(
            SymbolFilters::from_exchange_info("nope", "X"),
            Err(FiltersError::Malformed(_))
        ));
        let no_lot = r#"{"symbols":[{"symbol":"X","baseAsset":"A","quoteAsset":"B","filters":[
            {"filterType":"PRICE_FILTER","minPrice":"0.1","maxPrice":"0","tickSize":"0.1"}]}]}"#;
        assert_eq!(
            SymbolFilters::from_exchange_info(no_lot, "X"),
            Err(FiltersError::Filter {
                symbol: "X".into(),
                filter: "LOT_SIZE"
            })
        );
    }
}
