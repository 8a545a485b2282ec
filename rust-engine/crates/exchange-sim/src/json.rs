//! Binance's JSON shapes (binance-spot-api-docs `web-socket-streams.md`, `rest-api.md`): prices and
//! quantities as strings with 8 decimals, ids and times as integers.

use serde_json::{json, Value};

use crate::book::{Book, LevelChange, SCALE};
use crate::data::TradeRow;

/// Units as Binance writes them: `"0.15830000"`.
pub fn fmt_units(u: u64) -> String {
    format!("{}.{:08}", u / SCALE, u % SCALE)
}

fn pairs(levels: &[LevelChange]) -> Value {
    Value::Array(
        levels
            .iter()
            .map(|&(p, q)| json!([fmt_units(p), fmt_units(q)]))
            .collect(),
    )
}

/// A `depthUpdate` event.
pub fn depth_update(
    symbol: &str,
    event_ms: i64,
    first: u64,
    last: u64,
    bids: &[LevelChange],
    asks: &[LevelChange],
) -> String {
    json!({"e": "depthUpdate", "E": event_ms, "s": symbol, "U": first, "u": last, "b": pairs(bids), "a": pairs(asks)}).to_string()
}

/// An `aggTrade` event (one trade per aggregate here).
pub fn agg_trade(symbol: &str, event_ms: i64, agg_id: u64, t: &TradeRow, trade_ms: i64) -> String {
    json!({"e": "aggTrade", "E": event_ms, "s": symbol, "a": agg_id, "p": fmt_units(t.price), "q": fmt_units(t.qty),
           "f": t.id, "l": t.id, "T": trade_ms, "m": t.taker_sell, "M": true})
    .to_string()
}

/// A `trade` event.
pub fn trade(symbol: &str, event_ms: i64, t: &TradeRow, trade_ms: i64) -> String {
    json!({"e": "trade", "E": event_ms, "s": symbol, "t": t.id, "p": fmt_units(t.price), "q": fmt_units(t.qty),
           "T": trade_ms, "m": t.taker_sell, "M": true})
    .to_string()
}

/// `GET /api/v3/depth` answer.
pub fn depth_snapshot(book: &Book, limit: usize) -> String {
    let (bids, asks) = book.top(limit);
    json!({"lastUpdateId": book.update_id, "bids": pairs(&bids), "asks": pairs(&asks)}).to_string()
}

/// What `exchangeInfo` says about the symbol.
#[derive(Debug, Clone)]
pub struct SymbolSpec {
    /// Symbol, upper case.
    pub symbol: String,
    /// Base asset.
    pub base: String,
    /// Quote asset.
    pub quote: String,
    /// Tick size, units.
    pub tick: u64,
    /// Step size, units.
    pub step: u64,
    /// Minimum notional, units.
    pub min_notional: u64,
}

impl SymbolSpec {
    /// Splits a symbol into base and quote by a known quote suffix.
    pub fn new(symbol: &str, tick: u64, step: u64, min_notional: u64) -> Self {
        let quote = ["USDT", "USDC", "FDUSD", "BUSD", "BTC", "ETH", "BNB"]
            .into_iter()
            .find(|q| symbol.len() > q.len() && symbol.ends_with(q))
            .unwrap_or("USDT");
        SymbolSpec {
            symbol: symbol.to_owned(),
            base: symbol[..symbol.len() - quote.len()].to_owned(),
            quote: quote.to_owned(),
            tick,
            step,
            min_notional,
        }
    }
}

/// `GET /api/v3/exchangeInfo` answer.
pub fn exchange_info(s: &SymbolSpec, server_ms: i64) -> String {
    json!({
        "timezone": "UTC",
        "serverTime": server_ms,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 160000}
        ],
        "exchangeFilters": [],
        "symbols": [{
            "symbol": s.symbol, "status": "TRADING", "baseAsset": s.base, "baseAssetPrecision": 8,
            "quoteAsset": s.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
            "icebergAllowed": false, "ocoAllowed": false, "isSpotTradingAllowed": true, "isMarginTradingAllowed": false,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": fmt_units(s.tick), "maxPrice": "1000000.00000000", "tickSize": fmt_units(s.tick)},
                {"filterType": "LOT_SIZE", "minQty": fmt_units(s.step), "maxQty": "9000000.00000000", "stepSize": fmt_units(s.step)},
                {"filterType": "NOTIONAL", "minNotional": fmt_units(s.min_notional), "applyMinToMarket": true,
                 "maxNotional": "9000000.00000000", "applyMaxToMarket": false, "avgPriceMins": 5}
            ],
            "permissions": ["SPOT"]
        }]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn keys(v: &Value) -> BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    }

    fn fixture(name: &str) -> Value {
        let p = format!(
            "{}/../../../tests/fixtures/binance/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    }

    #[test]
    fn shapes_match_binance_fixtures() {
        let t = TradeRow {
            ts_us: 1,
            id: 5,
            price: 15_830_000,
            qty: 100 * SCALE,
            taker_sell: true,
        };
        let ours: Value = serde_json::from_str(&agg_trade("POLUSDT", 1, 5, &t, 1)).unwrap();
        assert_eq!(keys(&ours), keys(&fixture("spot_ws_aggtrade.json")));
        assert_eq!(ours["p"], "0.15830000");
        let ours: Value = serde_json::from_str(&trade("POLUSDT", 1, &t, 1)).unwrap();
        assert_eq!(keys(&ours), keys(&fixture("spot_ws_trade.json")));
        let ours: Value =
            serde_json::from_str(&depth_update("POLUSDT", 1, 2, 3, &[(1, 0)], &[])).unwrap();
        assert_eq!(keys(&ours), keys(&fixture("spot_ws_depth_update.json")));
        let ours: Value = serde_json::from_str(&depth_snapshot(&Book::default(), 10)).unwrap();
        assert_eq!(keys(&ours), keys(&fixture("spot_rest_depth_snapshot.json")));
    }

    #[test]
    fn symbol_split() {
        let s = SymbolSpec::new("POLUSDT", 1, 1, 1);
        assert_eq!((s.base.as_str(), s.quote.as_str()), ("POL", "USDT"));
    }
}
