//! The one symbol the venue lists, and `GET /api/v3/exchangeInfo` (binance-spot-api-docs
//! `rest-api.md` "Exchange information", `filters.md`): rate limits as Binance lists them today,
//! `PRICE_FILTER` from the tick size, `LOT_SIZE` from the step size and `NOTIONAL` from the minimum
//! notional.

use serde_json::json;

use crate::avg_price::AVG_PRICE_MINS;
use crate::error::ConfigError;
use crate::matching::{
    APPLY_MAX_TO_MARKET, APPLY_MIN_TO_MARKET, MAX_MARKET_QTY, MAX_NOTIONAL, MAX_PRICE, MAX_QTY,
};
use crate::rate_limit::RateLimits;
use crate::units::format_units;

/// Quote assets recognised at the end of a symbol, longest first where one ends another.
pub const QUOTE_ASSETS: [&str; 6] = ["FDUSD", "USDT", "USDC", "BUSD", "BTC", "ETH"];

/// The symbol as `exchangeInfo` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolSpec {
    /// Symbol, upper case (`POLUSDT`).
    pub symbol: String,
    /// Base asset (`POL`).
    pub base: String,
    /// Quote asset (`USDT`).
    pub quote: String,
    /// Tick size, units.
    pub tick: u64,
    /// Step size, units.
    pub step: u64,
    /// Minimum notional, units.
    pub min_notional: u64,
}

impl SymbolSpec {
    /// Splits `symbol` into base and quote by a known quote suffix.
    ///
    /// # Errors
    /// [`ConfigError`] when the symbol is not upper-case alphanumeric or ends in no known quote asset.
    pub fn new_checked(
        symbol: &str,
        tick: u64,
        step: u64,
        min_notional: u64,
    ) -> Result<Self, ConfigError> {
        if symbol.is_empty()
            || !symbol
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(ConfigError::invalid(
                "symbol",
                symbol,
                "expected upper-case letters and digits",
            ));
        }
        let quote = QUOTE_ASSETS
            .into_iter()
            .find(|q| symbol.len() > q.len() && symbol.ends_with(q))
            .ok_or_else(|| {
                ConfigError::invalid(
                    "symbol",
                    symbol,
                    "expected a quote asset suffix: USDT, USDC, FDUSD, BUSD, BTC or ETH",
                )
            })?;
        Ok(SymbolSpec {
            symbol: symbol.to_owned(),
            base: symbol[..symbol.len() - quote.len()].to_owned(),
            quote: quote.to_owned(),
            tick,
            step,
            min_notional,
        })
    }

    /// The symbol in lower case, as stream names spell it.
    pub fn lower(&self) -> String {
        self.symbol.to_ascii_lowercase()
    }
}

/// The `GET /api/v3/exchangeInfo` answer at server time `server_ms`, listing the venue's `limits`.
pub fn exchange_info(s: &SymbolSpec, server_ms: i64, limits: &RateLimits) -> String {
    json!({
        "timezone": "UTC",
        "serverTime": server_ms,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": limits.weight_per_minute},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": limits.orders_per_10s},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": limits.orders_per_day}
        ],
        "exchangeFilters": [],
        "symbols": [{
            "symbol": s.symbol,
            "status": "TRADING",
            "baseAsset": s.base,
            "baseAssetPrecision": 8,
            "quoteAsset": s.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            // The types it takes (stop orders are refused -1100).
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
            "icebergAllowed": false,
            "ocoAllowed": false,
            "quoteOrderQtyMarketAllowed": true,
            "isSpotTradingAllowed": true,
            "isMarginTradingAllowed": false,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": format_units(s.tick),
                 "maxPrice": format_units(MAX_PRICE), "tickSize": format_units(s.tick)},
                {"filterType": "LOT_SIZE", "minQty": format_units(s.step),
                 "maxQty": format_units(MAX_QTY), "stepSize": format_units(s.step)},
                {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000",
                 "maxQty": format_units(MAX_MARKET_QTY), "stepSize": "0.00000000"},
                {"filterType": "NOTIONAL", "minNotional": format_units(s.min_notional),
                 "applyMinToMarket": APPLY_MIN_TO_MARKET, "maxNotional": format_units(MAX_NOTIONAL),
                 "applyMaxToMarket": APPLY_MAX_TO_MARKET, "avgPriceMins": AVG_PRICE_MINS}
            ],
            "permissions": ["SPOT"]
        }]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::{fixture, keys};
    use crate::units::SCALE;
    use serde_json::Value;

    #[test]
    fn splits_symbols() {
        for (sym, base, quote) in [
            ("POLUSDT", "POL", "USDT"),
            ("BTCFDUSD", "BTC", "FDUSD"),
            ("ETHBTC", "ETH", "BTC"),
            ("LINKETH", "LINK", "ETH"),
            ("SOLUSDC", "SOL", "USDC"),
            ("BNBBUSD", "BNB", "BUSD"),
        ] {
            let s = SymbolSpec::new_checked(sym, 1, 1, 1).unwrap();
            assert_eq!((s.base.as_str(), s.quote.as_str()), (base, quote), "{sym}");
        }
        for bad in ["USDT", "POLEUR", "polusdt", "", "POL-USDT"] {
            assert!(SymbolSpec::new_checked(bad, 1, 1, 1).is_err(), "{bad}");
        }
    }

    #[test]
    fn shape_matches_the_binance_fixture() {
        let spec = SymbolSpec::new_checked("POLUSDT", 10_000, SCALE / 10, 5 * SCALE).unwrap();
        let ours: Value =
            serde_json::from_str(&exchange_info(&spec, 42, &RateLimits::default())).unwrap();
        let theirs = fixture("exchange_info_btcusdt_nautilus_2021.json");
        assert_eq!(keys(&ours), keys(&theirs));
        assert!(keys(&ours["symbols"][0]).is_superset(&keys(&theirs["symbols"][0])));
        assert_eq!(ours["serverTime"], 42);
        let limits: Vec<(String, String, u64, u64)> = ours["rateLimits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["rateLimitType"].as_str().unwrap().to_owned(),
                    l["interval"].as_str().unwrap().to_owned(),
                    l["intervalNum"].as_u64().unwrap(),
                    l["limit"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            limits,
            vec![
                ("REQUEST_WEIGHT".into(), "MINUTE".into(), 1, 6000),
                ("ORDERS".into(), "SECOND".into(), 10, 50),
                ("ORDERS".into(), "DAY".into(), 1, 160_000),
            ]
        );
        let sym = &ours["symbols"][0];
        assert_eq!(sym["status"], "TRADING");
        assert_eq!(
            (sym["baseAsset"].as_str(), sym["quoteAsset"].as_str()),
            (Some("POL"), Some("USDT"))
        );
        let filters = sym["filters"].as_array().unwrap();
        let by_type = |t: &str| {
            filters
                .iter()
                .find(|f| f["filterType"] == t)
                .unwrap()
                .clone()
        };
        assert_eq!(by_type("PRICE_FILTER")["tickSize"], "0.00010000");
        assert_eq!(by_type("LOT_SIZE")["stepSize"], "0.10000000");
        assert_eq!(by_type("NOTIONAL")["minNotional"], "5.00000000");
        assert_eq!(by_type("NOTIONAL")["maxNotional"], "9000000.00000000");
        assert_eq!(by_type("MARKET_LOT_SIZE")["maxQty"], "900000.00000000");
        assert_eq!(by_type("MARKET_LOT_SIZE")["stepSize"], "0.00000000");
        // Every filter of ours has the keys the docs give for its type (MARKET_LOT_SIZE, which the
        // docs' examples lack, those of the real BTCUSDT capture).
        let docs = fixture("exchange_info_filter_examples_docs.json");
        let capture = fixture("exchange_info_btcusdt_nautilus_2021.json");
        let examples = docs
            .as_array()
            .unwrap()
            .iter()
            .chain(capture["symbols"][0]["filters"].as_array().unwrap());
        for f in filters {
            let doc = examples
                .clone()
                .find(|d| d["filterType"] == f["filterType"])
                .unwrap();
            assert_eq!(keys(f), keys(doc), "{}", f["filterType"]);
        }
    }
}
