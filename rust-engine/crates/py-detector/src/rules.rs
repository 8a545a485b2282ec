//! `flashcrash_native.OrderRules`: the engine's order rules (crate `order-rules`) of one backtest,
//! which its paper venue (`paper::PyPaperVenue`) applies as the engine does, so a backtest refuses
//! what paper and live trading refuse, with the same field and message: first the engine's position
//! limits (`[risk] max_positions`, `max_position_notional`), then the executor's validation (the
//! symbol's filters, `max_order_notional`, `max_open_orders`).

use common::Dec;
use order_rules::exposure::PositionLimits;
use order_rules::{Limits, MarketNotional, SymbolFilters};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rust_decimal::Decimal;

/// A decimal argument, or a `ValueError` naming it.
pub(crate) fn decimal(name: &str, text: &str) -> PyResult<Decimal> {
    text.parse::<Dec>()
        .map(|d| d.0)
        .map_err(|e| PyValueError::new_err(format!("{name}: {e}")))
}

/// The symbol's filters and the `[risk]` limits of one backtest.
#[pyclass(module = "flashcrash_native", name = "OrderRules", frozen)]
pub struct PyOrderRules {
    pub(crate) filters: SymbolFilters,
    pub(crate) limits: Limits,
    pub(crate) positions: PositionLimits,
}

#[pymethods]
impl PyOrderRules {
    /// The filters of `symbol` (decimal strings: `tick_size` is also the lowest price, `step_size`
    /// the smallest quantity, no largest quantity) and the limits of `[risk]`; `lot` is `[symbol]
    /// order_quantity`.
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        symbol: String,
        tick_size: &str,
        step_size: &str,
        min_notional: &str,
        max_order_notional: &str,
        max_open_orders: usize,
        max_position_notional: &str,
        max_positions: u64,
        lot: &str,
    ) -> PyResult<Self> {
        let tick = Dec(decimal("tick_size", tick_size)?);
        let step = Dec(decimal("step_size", step_size)?);
        let min_notional = decimal("min_notional", min_notional)?;
        Ok(Self {
            filters: SymbolFilters {
                symbol,
                base_asset: String::new(),
                quote_asset: String::new(),
                tick_size: tick,
                min_price: tick,
                step_size: step,
                min_qty: step,
                max_qty: Dec::ZERO,
                min_notional: Dec(min_notional),
                max_price: Dec::ZERO,
                max_notional: Dec::ZERO,
                market_notional: MarketNotional::BOTH,
                market_lot: None,
            },
            limits: Limits {
                max_order_notional: Dec(decimal("max_order_notional", max_order_notional)?),
                max_open_orders,
            },
            positions: PositionLimits {
                max_notional: decimal("max_position_notional", max_position_notional)?,
                max_positions,
                lot: decimal("lot", lot)?,
                min_notional,
            },
        })
    }
}
