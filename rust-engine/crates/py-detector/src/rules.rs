//! `flashcrash_native.OrderRules`: the engine's order rules (crate `order-rules`) as the backtest's
//! simulated venue (`flashcrash.backtest.venue.SimVenue`) applies them, so a backtest refuses what
//! paper and live trading refuse, with the same field and message: first the engine's position
//! limits (`[risk] max_positions`, `max_position_notional`), then the executor's validation (the
//! symbol's filters, `max_order_notional`, `max_open_orders`).

use common::message::{codec, Command, Side};
use common::Dec;
use order_rules::exposure::{OpenQuantities, PositionLimits};
use order_rules::{validate, Limits, SymbolFilters};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rust_decimal::Decimal;

/// A decimal argument, or a `ValueError` naming it.
fn decimal(name: &str, text: &str) -> PyResult<Decimal> {
    text.parse::<Dec>()
        .map(|d| d.0)
        .map_err(|e| PyValueError::new_err(format!("{name}: {e}")))
}

fn side(name: &str) -> PyResult<Side> {
    match name {
        "BUY" => Ok(Side::Buy),
        "SELL" => Ok(Side::Sell),
        _ => Err(PyValueError::new_err(format!(
            "side: {name:?} is neither BUY nor SELL"
        ))),
    }
}

/// The symbol's filters and the `[risk]` limits of one backtest.
#[pyclass(module = "flashcrash_native", name = "OrderRules", frozen)]
pub struct PyOrderRules {
    filters: SymbolFilters,
    limits: Limits,
    positions: PositionLimits,
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

    /// Why the engine would refuse `order` (a `PlaceOrder` as the wire encodes it), as the
    /// (field, message) of its `VALIDATION` error; `None` when it would take it. `reference_price`
    /// is the touch the order would take from (`None`: an empty side), `position` the net position
    /// (base units), `open_orders` the (side, quantity left) of each open order.
    fn refusal(
        &self,
        order: &[u8],
        reference_price: Option<&str>,
        position: &str,
        open_orders: Vec<(String, String)>,
    ) -> PyResult<Option<(&'static str, String)>> {
        let cmd = match codec::decode::<Command>(order) {
            Ok(Command::PlaceOrder(p)) => p,
            Ok(other) => {
                return Err(PyValueError::new_err(format!(
                    "order: a PlaceOrder, not {other:?}"
                )))
            }
            Err(e) => return Err(PyValueError::new_err(format!("order: {e}"))),
        };
        let reference = reference_price
            .map(|p| decimal("reference_price", p).map(Dec))
            .transpose()?;
        let position = decimal("position", position)?;
        let mut open = OpenQuantities::default();
        for (s, left) in &open_orders {
            open.add(side(s)?, decimal("open_orders", left)?);
        }
        // The engine's core first (its Error message is the rejection as displayed), then the
        // executor's validation (its message alone).
        let price = cmd.price.or(reference).map(|p| p.0);
        if let Err(r) = self
            .positions
            .check(cmd.side, cmd.quantity.0, price, position, open)
        {
            let message = r.to_string();
            return Ok(Some((r.field, message)));
        }
        Ok(validate::check(
            &cmd,
            &self.filters,
            &self.limits,
            open_orders.len(),
            reference,
        )
        .err()
        .map(|r| (r.field, r.message)))
    }
}
