//! Symbol filters from `GET /api/v3/exchangeInfo` (binance-spot-api-docs `filters.md`):
//! `PRICE_FILTER` (tick size, min and max price), `LOT_SIZE` (step size, min and max quantity),
//! `MARKET_LOT_SIZE` (the same for MARKET orders, when listed), and `NOTIONAL` (min and max
//! notional, each applied to MARKET orders or not) or the older `MIN_NOTIONAL` (a minimum, applied
//! to MARKET orders or not). A step, tick or maximum of 0 disables that check.

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
    /// Largest price (0 = none).
    pub max_price: Dec,
    /// Largest notional (0 = none; only `NOTIONAL` has one).
    pub max_notional: Dec,
    /// Whether MARKET orders are held to `min_notional` and to `max_notional`.
    pub market_notional: MarketNotional,
    /// `MARKET_LOT_SIZE`: the quantity rule of MARKET orders besides `LOT_SIZE`, if listed.
    pub market_lot: Option<MarketLot>,
}

/// Which notional bounds a MARKET order is held to (`applyMinToMarket` and `applyMaxToMarket` of
/// `NOTIONAL`, `applyToMarket` of `MIN_NOTIONAL`; a MARKET order's notional is valued at the touch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketNotional {
    /// Held to the minimum.
    pub min: bool,
    /// Held to the maximum.
    pub max: bool,
}

impl MarketNotional {
    /// Held to both bounds (what a filter set without the flags gets).
    pub const BOTH: MarketNotional = MarketNotional {
        min: true,
        max: true,
    };
}

/// `MARKET_LOT_SIZE`: a MARKET order's quantity is at least `min_qty`, at most `max_qty` and a
/// multiple of `step_size` (a maximum or step of 0 disables its check: Binance lists BTCUSDT's
/// step as 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketLot {
    /// Smallest quantity.
    pub min_qty: Dec,
    /// Largest quantity (0 = none).
    pub max_qty: Dec,
    /// Quantity increment (0 = none).
    pub step_size: Dec,
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

fn filter<'a>(filters: &'a [serde_json::Value], kinds: &[&str]) -> Option<&'a serde_json::Value> {
    filters
        .iter()
        .find(|f| kinds.contains(&f["filterType"].as_str().unwrap_or("")))
}

fn field(filters: &[serde_json::Value], kinds: &[&str], key: &str) -> Option<Dec> {
    filter(filters, kinds)
        .and_then(|f| f[key].as_str())
        .and_then(|s| s.parse::<Dec>().ok())
        .filter(|d| !d.0.is_sign_negative())
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
        let market_lot = match filter(&s.filters, &["MARKET_LOT_SIZE"]) {
            None => None,
            Some(_) => Some(MarketLot {
                min_qty: need(&["MARKET_LOT_SIZE"], "minQty", "MARKET_LOT_SIZE")?,
                max_qty: need(&["MARKET_LOT_SIZE"], "maxQty", "MARKET_LOT_SIZE")?,
                step_size: need(&["MARKET_LOT_SIZE"], "stepSize", "MARKET_LOT_SIZE")?,
            }),
        };
        // NOTIONAL names its flags applyMinToMarket / applyMaxToMarket, MIN_NOTIONAL applyToMarket;
        // a flag left out holds MARKET orders to the bound, the stricter reading.
        // NOTIONAL replaced MIN_NOTIONAL: a symbol listing both is held to NOTIONAL.
        let notional =
            filter(&s.filters, &["NOTIONAL"]).or_else(|| filter(&s.filters, &["MIN_NOTIONAL"]));
        let flag = |key: &str| notional.and_then(|f| f[key].as_bool()).unwrap_or(true);
        let market_notional = match notional.and_then(|f| f["filterType"].as_str()) {
            Some("MIN_NOTIONAL") => MarketNotional {
                min: flag("applyToMarket"),
                max: true,
            },
            _ => MarketNotional {
                min: flag("applyMinToMarket"),
                max: flag("applyMaxToMarket"),
            },
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
            min_notional: notional
                .and_then(|f| f["minNotional"].as_str())
                .and_then(|v| v.parse::<Dec>().ok())
                .filter(|d| !d.0.is_sign_negative())
                .map_or(Dec(Decimal::ZERO), |d| Dec(d.0.normalize())),
            max_price: need(&["PRICE_FILTER"], "maxPrice", "PRICE_FILTER")?,
            max_notional: field(&s.filters, &["NOTIONAL"], "maxNotional")
                .unwrap_or(Dec(Decimal::ZERO)),
            market_notional,
            market_lot,
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
        assert_eq!(f.max_price.to_string(), "1000000");
        // MIN_NOTIONAL has no maximum; its applyToMarket holds MARKET orders to the minimum.
        assert_eq!(f.max_notional, Dec::ZERO);
        assert_eq!(f.market_notional, MarketNotional::BOTH);
        let lot = f.market_lot.expect("MARKET_LOT_SIZE is listed");
        assert_eq!(
            (
                lot.min_qty.to_string(),
                lot.max_qty.to_string(),
                lot.step_size.to_string()
            ),
            ("0".into(), "112.2110882".into(), "0".into())
        );
    }

    fn info(filters: &str) -> String {
        format!(
            r#"{{"symbols":[{{"symbol":"X","baseAsset":"A","quoteAsset":"B","filters":[
            {{"filterType":"PRICE_FILTER","minPrice":"0.1","maxPrice":"0","tickSize":"0.1"}},
            {{"filterType":"LOT_SIZE","minQty":"1","maxQty":"0","stepSize":"1"}}{filters}]}}]}}"#
        )
    }

    /// NOTIONAL's own flags and maximum are read as listed (the docs' example applies neither bound
    /// to MARKET orders); a symbol without MARKET_LOT_SIZE has no market lot.
    #[test]
    fn reads_notional_flags_and_maximum() {
        let f = SymbolFilters::from_exchange_info(
            &info(
                r#",{"filterType":"NOTIONAL","minNotional":"10.00000000","applyMinToMarket":false,
                "maxNotional":"10000.00000000","applyMaxToMarket":false,"avgPriceMins":5}"#,
            ),
            "X",
        )
        .unwrap();
        assert_eq!(
            (f.min_notional.to_string(), f.max_notional.to_string()),
            ("10".into(), "10000".into())
        );
        assert_eq!(
            f.market_notional,
            MarketNotional {
                min: false,
                max: false
            }
        );
        assert_eq!(f.market_lot, None);
        assert_eq!(f.max_price, Dec::ZERO);
    }

    /// A symbol listing both NOTIONAL and the older MIN_NOTIONAL is held to NOTIONAL, whichever
    /// comes first.
    #[test]
    fn notional_wins_over_min_notional() {
        let f = SymbolFilters::from_exchange_info(
            &info(
                r#",{"filterType":"MIN_NOTIONAL","minNotional":"1","applyToMarket":true,"avgPriceMins":5},
                {"filterType":"NOTIONAL","minNotional":"5","applyMinToMarket":false,
                "maxNotional":"100","applyMaxToMarket":true,"avgPriceMins":5}"#,
            ),
            "X",
        )
        .unwrap();
        assert_eq!(
            (f.min_notional.to_string(), f.max_notional.to_string()),
            ("5".into(), "100".into())
        );
        assert_eq!(
            f.market_notional,
            MarketNotional {
                min: false,
                max: true
            }
        );
    }

    /// A MARKET_LOT_SIZE listed without one of its numbers, or with a negative one, is refused
    /// naming it rather than read as no rule.
    #[test]
    fn a_broken_market_lot_size_is_named() {
        for bad in [
            r#",{"filterType":"MARKET_LOT_SIZE","minQty":"0","stepSize":"0"}"#,
            r#",{"filterType":"MARKET_LOT_SIZE","minQty":"0","maxQty":"-1","stepSize":"0"}"#,
        ] {
            assert_eq!(
                SymbolFilters::from_exchange_info(&info(bad), "X"),
                Err(FiltersError::Filter {
                    symbol: "X".into(),
                    filter: "MARKET_LOT_SIZE"
                }),
                "{bad}"
            );
        }
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
