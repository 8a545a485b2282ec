//! Test fixtures shared by this crate's tests, the execution engine's and the engine's (feature
//! `test-fixtures`).

use common::Dec;

use crate::filters::{MarketNotional, SymbolFilters};

/// POLUSDT's filters as Binance lists them: tick 0.0001, step 0.1, min notional 5 USDT.
pub fn polusdt_filters() -> SymbolFilters {
    let d = |s: &str| s.parse::<Dec>().expect("a decimal literal");
    SymbolFilters {
        symbol: "POLUSDT".into(),
        base_asset: "POL".into(),
        quote_asset: "USDT".into(),
        tick_size: d("0.0001"),
        min_price: d("0.0001"),
        step_size: d("0.1"),
        min_qty: d("0.1"),
        max_qty: d("9000000"),
        min_notional: d("5"),
        max_price: Dec::ZERO,
        max_notional: Dec::ZERO,
        market_notional: MarketNotional::BOTH,
        market_lot: None,
    }
}
